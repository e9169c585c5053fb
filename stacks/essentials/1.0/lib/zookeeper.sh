#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/.. source-path=SCRIPTDIR/../../..
# ZooKeeper (Debian's zookeeper/zookeeperd packages) helpers for the essentials stack; the
# zookeeper scripts source this file.
set -euo pipefail
source lib/service.sh

ZK_PORT=$(cfg zookeeper_client_port 2181)

zk_require_conf() {
  [[ -r /etc/zookeeper/conf/zoo.cfg ]] || die "ZooKeeper is not installed (run install, then configure)"
}

# zk_wait_port: wait (service_start_wait) for the client port; fail after showing the log
# tail.
zk_wait_port() {
  if ! wait_for_port 127.0.0.1 "$ZK_PORT" "$START_WAIT"; then
    tail -n 20 /var/log/zookeeper/zookeeper.log 2>/dev/null || true
    die "ZooKeeper is not listening on port $ZK_PORT after ${START_WAIT}s; see /var/log/zookeeper/"
  fi
}
