#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Install the rendered core-site.xml and hdfs-site.xml into the Hadoop conf dir and create
# this component's directories (NameNode metadata or DataNode block storage).
source lib/hadoop.sh

hadoop_cmd_configure core-site.xml hdfs-site.xml
while read -r dir; do
  if [[ -f $dir/current/VERSION ]]; then
    log "$dir holds $(sed -n 's/^clusterID=/clusterID /p' "$dir/current/VERSION")"
  elif [[ $H_SUBCOMMAND == namenode ]]; then
    log "$dir is not formatted yet: run the namenode format command once before the first start"
  fi
done < <(hadoop_data_dirs)
log "fs.defaultFS is $(xml_prop fs.defaultFS "$HADOOP_CONF_DIR/core-site.xml")"
hadoop_configured
