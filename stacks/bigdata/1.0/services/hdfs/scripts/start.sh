#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Start the HDFS daemon of this component (NameNode or DataNode) as user hdfs and wait for
# its port. The NameNode must have been formatted once (the format command).
source lib/hadoop.sh

hadoop_cmd_start
if [[ $H_SUBCOMMAND == namenode ]]; then
  log "$(hadoop_as hdfs hdfs dfsadmin -safemode get 2>&1 || true) (it leaves safe mode once the DataNodes have reported enough blocks)"
fi
