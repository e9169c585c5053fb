#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Install the rendered core-site.xml, yarn-site.xml and mapred-site.xml into the Hadoop conf
# dir; on a NodeManager also create the container work and log directories.
source lib/common.sh
source lib/hadoop.sh

require_root
hadoop_component "${STEWARD_COMPONENT:?STEWARD_COMPONENT is not set}"
hadoop_require_installed
getent passwd "$H_USER" >/dev/null || die "user $H_USER is missing (run install)"

changed=0
hadoop_configure core-site.xml yarn-site.xml mapred-site.xml && changed=1
hadoop_make_dirs
log "ResourceManager: $(xml_prop yarn.resourcemanager.hostname "$HADOOP_CONF_DIR/yarn-site.xml"), default filesystem: $(xml_prop fs.defaultFS "$HADOOP_CONF_DIR/core-site.xml")"
if ((changed)) && hadoop_pid >/dev/null; then
  log "the configuration changed while $H_NAME runs: restart it to apply"
fi
log "$H_NAME is configured"
