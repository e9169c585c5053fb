#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Install the rendered core-site.xml and hdfs-site.xml into the Hadoop conf dir and create
# this component's directories (NameNode metadata or DataNode block storage).
source lib/common.sh
source lib/hadoop.sh

require_root
hadoop_component "${STEWARD_COMPONENT:?STEWARD_COMPONENT is not set}"
hadoop_require_installed
getent passwd "$H_USER" >/dev/null || die "user $H_USER is missing (run install)"

changed=0
hadoop_configure core-site.xml hdfs-site.xml && changed=1
hadoop_make_dirs
while read -r dir; do
  if [[ -f $dir/current/VERSION ]]; then
    log "$dir holds $(sed -n 's/^clusterID=/clusterID /p' "$dir/current/VERSION")"
  elif [[ $H_SUBCOMMAND == namenode ]]; then
    log "$dir is not formatted yet: run the namenode format command once before the first start"
  fi
done < <(hadoop_data_dirs)
log "fs.defaultFS is $(xml_prop fs.defaultFS "$HADOOP_CONF_DIR/core-site.xml")"
if ((changed)) && hadoop_pid >/dev/null; then
  log "the configuration changed while $H_NAME runs: restart it to apply"
fi
log "$H_NAME is configured"
