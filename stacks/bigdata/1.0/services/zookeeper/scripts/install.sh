#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Install Apache ZooKeeper from its release tarball: Java (if missing), the zookeeper user,
# download + checksum, unpack into install_root/apache-zookeeper-<version>-bin and point
# install_root/zookeeper at it. Safe to re-run; run configure next.
source lib/zookeeper.sh

name="apache-zookeeper-$ZK_VERSION-bin"
daemon_install "zookeeper/zookeeper-$ZK_VERSION/$name.tar.gz" "$name" ZooKeeper "$ZK_VERSION"
log "ZooKeeper $ZK_VERSION is installed in $ZK_HOME; run configure next"
