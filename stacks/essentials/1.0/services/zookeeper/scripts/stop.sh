#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Stop ZooKeeper and make sure the JVM is gone.
source lib/zookeeper.sh

require_root
term_directly() {
  log "no init script: sending TERM to the ZooKeeper JVM"
  pkill -TERM -f QuorumPeerMain || true
}

svc_stop zookeeper ZooKeeper term_directly -f QuorumPeerMain
reap 45 KILL "ZooKeeper did not exit within 45s; sending KILL" -f QuorumPeerMain ||
  die "the ZooKeeper JVM survived KILL"
log "ZooKeeper is stopped"
