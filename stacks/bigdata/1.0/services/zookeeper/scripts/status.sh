#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Is ZooKeeper running and answering? Exit 0 when it is serving, 3 when stopped, 1 when it
# runs but does not serve.
source lib/zookeeper.sh

zk_require_installed
daemon_status || exit
ruok=$(tcp_talk 127.0.0.1 "$ZK_PORT" ruok 2>/dev/null || true)
log "ruok -> ${ruok:-no answer}"
if mode=$(zk_mode 127.0.0.1); then
  log "ZooKeeper is serving as $mode"
else
  die "ZooKeeper runs but is not serving: $mode"
fi
