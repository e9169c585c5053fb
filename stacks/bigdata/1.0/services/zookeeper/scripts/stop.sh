#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Stop ZooKeeper: TERM, then KILL after stop_wait_seconds. Stopping a majority of an
# ensemble takes the whole service down.
source lib/zookeeper.sh

require_root
daemon_stop
