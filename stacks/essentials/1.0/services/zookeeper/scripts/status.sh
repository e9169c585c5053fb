#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Ask the local server ruok and srvr. Exit 0 when it serves requests, 3 when it is not
# running, 1 when it runs but does not serve (no quorum, 4lw disabled, hung).
source lib/zookeeper.sh

if ! pgrep -f QuorumPeerMain >/dev/null; then
  log "ZooKeeper is NOT running"
  exit 3
fi
log "ZooKeeper JVM running (pid $(pgrep -d, -f QuorumPeerMain))"

port_open 127.0.0.1 "$ZK_PORT" || die "nothing listens on client port $ZK_PORT (zookeeper_client_port); see /var/log/zookeeper/"
ruok=$(tcp_talk 127.0.0.1 "$ZK_PORT" ruok 2>/dev/null || true)
case $ruok in
  imok) log "ruok -> imok" ;;
  *whitelist*) die "the server refuses four-letter words ($ruok); set 4lw.commands.whitelist (run configure) and restart" ;;
  *) die "ruok got '${ruok:-no answer}' instead of imok: the server is unhealthy" ;;
esac

srvr=$(tcp_talk 127.0.0.1 "$ZK_PORT" srvr 2>/dev/null || true)
if [[ $srvr == *"not currently serving"* ]]; then
  die "ZooKeeper runs but is not serving requests: the ensemble has no quorum (start a majority of servers)"
fi
printf '%s\n' "$srvr" | sed -n -e 's/^Zookeeper version: \([^,-]*\).*/version: \1/p' \
  -e '/^Mode:/p' -e '/^Latency/p' -e '/^Connections:/p' -e '/^Outstanding:/p' -e '/^Node count:/p'
mode=$(printf '%s\n' "$srvr" | sed -n 's/^Mode: //p')
[[ -n $mode ]] || die "srvr returned no Mode line: $srvr"
log "ZooKeeper is serving as $mode"
