#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Deep NodeManager health check: process and web port, the node's own health report
# (disk checker and health script), and the space left in its local and log directories.
source lib/hadoop.sh

hadoop_component nodemanager
hadoop_require_conf core-site.xml yarn-site.xml
daemon_status || die "the NodeManager is not running or not listening"
require_cmd curl

limit=$(xml_prop yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage "$HADOOP_CONF_DIR/yarn-site.xml")
while read -r dir; do
  used=$(df --output=pcent "$dir" | awk 'NR == 2 { gsub(/[ %]/, ""); print }')
  log "$dir: ${used}% used (NodeManager limit ${limit:-90}%)"
  ((used < ${limit:-90})) || warn "$dir is above the disk utilisation limit: the NodeManager marks it bad"
done < <(hadoop_data_dirs)

info=$(curl -fsS -m 10 "http://127.0.0.1:$D_PORT/ws/v1/node/info" 2>&1) || die "the NodeManager web API did not answer: $info"
healthy=$(grep -o '"nodeHealthy":[a-z]*' <<<"$info" | cut -d: -f2 || true)
report=$(sed -n 's/.*"healthReport":"\([^"]*\)".*/\1/p' <<<"$info")
log "node healthy: ${healthy:-unknown}${report:+ ($report)}"
[[ $healthy == true ]] || die "the NodeManager reports itself UNHEALTHY: ${report:-no report}"
log "NodeManager check passed"
