#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Restart ZooKeeper and wait until it serves again (rejoined the quorum). For a rolling
# restart of an ensemble, restart one server at a time, followers before the leader.
source lib/zookeeper.sh

require_root
zk_require_installed
zk_require_configured
daemon_stop
zk_start
zk_wait_serving "$(cfg start_wait_seconds 150)"
