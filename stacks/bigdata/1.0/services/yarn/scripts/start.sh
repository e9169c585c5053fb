#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Start the YARN daemon of this component (ResourceManager or NodeManager) as user yarn and
# wait for its port (ResourceManager: client RPC; NodeManager: web UI).
source lib/common.sh
source lib/hadoop.sh

require_root
hadoop_component "${STEWARD_COMPONENT:?STEWARD_COMPONENT is not set}"
hadoop_preflight
hadoop_start
