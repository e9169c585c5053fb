#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Start the YARN daemon of this component (ResourceManager or NodeManager) as user yarn and
# wait for its port (ResourceManager: client RPC; NodeManager: web UI).
source lib/hadoop.sh

hadoop_cmd_start
