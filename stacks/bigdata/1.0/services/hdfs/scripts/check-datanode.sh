#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Deep DataNode health check: process and data port, free space of the data directories,
# and registration with the NameNode (this host among the live DataNodes).
source lib/hadoop.sh

hadoop_component datanode
hadoop_require_conf core-site.xml hdfs-site.xml
daemon_status || die "the DataNode is not running or not listening"

while read -r dir; do
  log "data dir $dir: $(df -h --output=pcent,avail "$dir" | awk 'NR == 2 { print $1 " used, " $2 " free" }')"
done < <(hadoop_data_dirs)

report=$(hadoop_as hdfs hdfs dfsadmin -report -live 2>&1) ||
  die "cannot ask the NameNode ($(xml_prop fs.defaultFS "$HADOOP_CONF_DIR/core-site.xml")) for its DataNodes: $(tail -n 3 <<<"$report")"
mapfile -t registered < <(sed -n 's/^Hostname: //p' <<<"$report")
for name in "${STEWARD_HOSTNAME:-}" "$(hostname)" "$(hostname -f 2>/dev/null || true)"; do
  [[ -n $name ]] || continue
  for r in "${registered[@]}"; do
    if [[ $r == "$name" || $r == "$name".* || $name == "$r".* ]]; then
      log "registered with the NameNode as $r"
      log "DataNode check passed"
      exit 0
    fi
  done
done
if grep -q 'Incompatible clusterIDs' "$HADOOP_LOG_DIR/hdfs-datanode.log" 2>/dev/null; then
  warn "the DataNode log reports 'Incompatible clusterIDs': its data dirs belong to another (older) namespace"
fi
die "this host is not among the NameNode's live DataNodes (${registered[*]:-none}); see $HADOOP_LOG_DIR/hdfs-datanode.log"
