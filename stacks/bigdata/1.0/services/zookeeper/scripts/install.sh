#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Install Apache ZooKeeper from its release tarball: Java (if missing), the zookeeper user,
# download + checksum, unpack into install_root/apache-zookeeper-<version>-bin and point
# install_root/zookeeper at it. Safe to re-run; run configure next.
source lib/common.sh
source lib/zookeeper.sh

require_root
ensure_base_tools
ensure_java
take_lock zookeeper
ensure_user "$ZK_USER" zookeeper "$DATA_ROOT/zookeeper"

tarball="apache-zookeeper-$ZK_VERSION-bin.tar.gz"
fetch_artifact "zookeeper/zookeeper-$ZK_VERSION/$tarball"
unpack_artifact "$tarball" "apache-zookeeper-$ZK_VERSION-bin" zookeeper
install -d -o "$ZK_USER" -g zookeeper -m 0750 "$ZK_LOG_DIR"

if pid=$(daemon_pid zookeeper "$ZK_USER" "$ZK_MARKER"); then
  warn "ZooKeeper is running (pid $pid) from the previous files: run configure, then restart to use $ZK_VERSION"
fi
log "ZooKeeper $ZK_VERSION is installed in $ZK_HOME; run configure next"
