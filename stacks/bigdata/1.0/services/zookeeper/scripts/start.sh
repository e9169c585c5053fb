#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Start ZooKeeper as user zookeeper and wait for its client port. An ensemble member only
# serves once a majority is up, so the mode is reported but not required here.
source lib/zookeeper.sh

require_root
zk_start
mode=$(zk_mode 127.0.0.1) || true
log "ZooKeeper mode: ${mode:-unknown}"
