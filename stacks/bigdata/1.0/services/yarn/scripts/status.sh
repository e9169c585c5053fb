#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Is this component's YARN daemon running and listening? Exit 0 when it is, 3 when it is
# stopped, 1 when the process runs without its port.
source lib/common.sh
source lib/hadoop.sh

hadoop_component "${STEWARD_COMPONENT:?STEWARD_COMPONENT is not set}"
hadoop_require_installed
rc=0
hadoop_status || rc=$?
exit "$rc"
