#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Stop the HDFS daemon of this component: TERM, then KILL after stop_wait_seconds. A
# stopped NameNode makes all of HDFS unavailable; a stopped DataNode's blocks are
# re-replicated elsewhere after about 10 minutes.
source lib/hadoop.sh

hadoop_cmd_stop
