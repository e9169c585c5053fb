#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Restart the HDFS daemon of this component (stop, then start with the pre-start checks).
source lib/common.sh
source lib/hadoop.sh

require_root
hadoop_component "${STEWARD_COMPONENT:?STEWARD_COMPONENT is not set}"
hadoop_preflight
hadoop_stop
hadoop_start
