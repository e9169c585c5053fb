#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Is this component's HDFS daemon running and listening? Exit 0 when it is, 3 when it is
# stopped, 1 when the process runs without its port.
source lib/hadoop.sh

hadoop_cmd_status || exit
