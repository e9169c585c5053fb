#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Install the rendered core-site.xml, yarn-site.xml and mapred-site.xml into the Hadoop conf
# dir; on a NodeManager also create the container work and log directories.
source lib/hadoop.sh

hadoop_cmd_configure core-site.xml yarn-site.xml mapred-site.xml
log "ResourceManager: $(xml_prop yarn.resourcemanager.hostname "$HADOOP_CONF_DIR/yarn-site.xml"), default filesystem: $(xml_prop fs.defaultFS "$HADOOP_CONF_DIR/core-site.xml")"
hadoop_configured
