#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Deep NameNode health check: process and RPC port, then `hdfs dfsadmin -report` and the
# safe mode state. Fails on no live DataNodes or missing blocks; warns on safe mode, dead
# DataNodes, under-replicated blocks and a nearly full filesystem.
source lib/hadoop.sh

hadoop_component namenode
hadoop_require_conf core-site.xml hdfs-site.xml
daemon_status || die "the NameNode is not running or not listening"

report=$(hadoop_as hdfs hdfs dfsadmin -report 2>&1) || die "hdfs dfsadmin -report failed: $(tail -n 5 <<<"$report")"
value() { awk -F': *' -v k="$1" '{ sub(/^[ \t]+/, "") } $1 == k { print $2; exit }' <<<"$report"; }
log "capacity $(value 'Configured Capacity'), remaining $(value 'DFS Remaining'), used $(value 'DFS Used%')"
live=$(sed -n 's/^Live datanodes (\([0-9]*\)):.*/\1/p' <<<"$report")
dead=$(sed -n 's/^Dead datanodes (\([0-9]*\)):.*/\1/p' <<<"$report")
under=$(value 'Under replicated blocks')
missing_blocks=$(value 'Missing blocks')
log "DataNodes: ${live:-0} live, ${dead:-0} dead; blocks: ${under:-0} under-replicated, $(value 'Blocks with corrupt replicas') with corrupt replicas, ${missing_blocks:-0} missing"

safemode=$(hadoop_as hdfs hdfs dfsadmin -safemode get 2>&1 || true)
log "$safemode"
failed=0
if [[ ${live:-0} -eq 0 ]]; then
  printf '[%s] FAILURE: no live DataNodes: HDFS cannot store or serve blocks\n' "$(date '+%H:%M:%S')"
  failed=1
fi
if [[ ${missing_blocks:-0} -gt 0 ]]; then
  printf '[%s] FAILURE: %s block(s) have no replica left (hdfs fsck / -list-corruptfileblocks names the files)\n' "$(date '+%H:%M:%S')" "$missing_blocks"
  failed=1
fi
[[ $safemode == *ON* ]] && warn "the NameNode is in safe mode (read-only): it waits for DataNodes to report blocks; see the docs before leaving it by hand"
[[ ${dead:-0} -gt 0 ]] && warn "$dead DataNode(s) are dead"
[[ ${under:-0} -gt 0 ]] && warn "$under block(s) are under-replicated (HDFS re-replicates them in the background)"
used_pct=$(value 'DFS Used%')
used_pct=${used_pct%%.*}
[[ ${used_pct:-0} =~ ^[0-9]+$ && ${used_pct:-0} -ge 85 ]] && warn "HDFS is $(value 'DFS Used%') full"
((failed == 0)) || die "NameNode check FAILED"
log "NameNode check passed"
