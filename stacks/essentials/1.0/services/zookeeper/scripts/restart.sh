#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Restart ZooKeeper and wait until it serves requests again. In an ensemble restart one
# server at a time and let it rejoin before the next.
source lib/common.sh

require_root
port=$(cfg zookeeper_client_port 2181)
limit=$(cfg service_start_wait 60)
[[ -r /etc/zookeeper/conf/zoo.cfg ]] || die "ZooKeeper is not installed (run install, then configure)"

svc_ctl restart zookeeper
wait_for_port 127.0.0.1 "$port" "$limit" || die "ZooKeeper is not listening on port $port after ${limit}s; see /var/log/zookeeper/"

for ((waited = 0; waited <= limit; waited += 2)); do
  mode=$(tcp_talk 127.0.0.1 "$port" srvr 2>/dev/null | sed -n 's/^Mode: //p' || true)
  if [[ -n $mode ]]; then
    log "ZooKeeper is serving again (mode: $mode)"
    exit 0
  fi
  sleep 2
done
die "ZooKeeper restarted but is not serving after ${limit}s: no quorum? (run status on the other servers)"
