#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Stop ZooKeeper and make sure the JVM is gone.
source lib/common.sh

require_root
if ! pgrep -f QuorumPeerMain >/dev/null; then
  log "ZooKeeper is not running; nothing to do"
  exit 0
fi
if [[ $(svc_manager zookeeper) == none ]]; then
  log "no init script: sending TERM to the ZooKeeper JVM"
  pkill -TERM -f QuorumPeerMain || true
else
  svc_ctl stop zookeeper
fi
if ! wait_for_no_process 45 -f QuorumPeerMain; then
  warn "ZooKeeper did not exit within 45s; sending KILL"
  pkill -KILL -f QuorumPeerMain || true
  wait_for_no_process 10 -f QuorumPeerMain || die "the ZooKeeper JVM survived KILL"
fi
log "ZooKeeper is stopped"
