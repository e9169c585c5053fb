#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Restart ZooKeeper and wait until it serves requests again. In an ensemble restart one
# server at a time and let it rejoin before the next.
source lib/zookeeper.sh

require_root
zk_require_conf
svc_ctl restart zookeeper
zk_wait_port

for ((waited = 0; waited <= START_WAIT; waited += 2)); do
  mode=$(tcp_talk 127.0.0.1 "$ZK_PORT" srvr 2>/dev/null | sed -n 's/^Mode: //p' || true)
  if [[ -n $mode ]]; then
    log "ZooKeeper is serving again (mode: $mode)"
    exit 0
  fi
  sleep 2
done
die "ZooKeeper restarted but is not serving after ${START_WAIT}s: no quorum? (run status on the other servers)"
