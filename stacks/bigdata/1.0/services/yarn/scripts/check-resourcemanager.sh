#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Deep ResourceManager health check: process and port, the REST API reports STARTED, and
# `yarn node -list -all` shows at least one RUNNING NodeManager (unhealthy or lost ones
# are warnings).
source lib/hadoop.sh

hadoop_component resourcemanager
hadoop_require_conf core-site.xml yarn-site.xml
daemon_status || die "the ResourceManager is not running or not listening"

web_port=$(cfg yarn_resourcemanager_webapp_port 8088)
if info=$(curl -fsS -m 10 "http://127.0.0.1:$web_port/ws/v1/cluster/info" 2>&1); then
  state=$(grep -o '"state":"[A-Z]*"' <<<"$info" | cut -d'"' -f4 || true)
  log "ResourceManager state: ${state:-unknown}"
  [[ $state == STARTED ]] || die "the ResourceManager reports state '${state:-unknown}' instead of STARTED"
else
  warn "the ResourceManager web API on port $web_port did not answer: $info"
fi

nodes=$(hadoop_as yarn yarn node -list -all 2>&1) || die "yarn node -list failed: $(tail -n 3 <<<"$nodes")"
log "NodeManagers:"
awk 'NF >= 3 && $2 ~ /^[A-Z_]+$/ && $1 ~ /:/ { printf "  %-40s %s\n", $1, $2 }' <<<"$nodes"
count() { awk -v s="$1" '$1 ~ /:/ && $2 == s { n++ } END { print n + 0 }' <<<"$nodes"; }
running=$(count RUNNING)
unhealthy=$(count UNHEALTHY)
lost=$(count LOST)
log "$running running, $unhealthy unhealthy, $lost lost"
((unhealthy == 0)) || warn "$unhealthy NodeManager(s) are UNHEALTHY (usually disks above the utilisation limit); run check on them"
((lost == 0)) || warn "$lost NodeManager(s) are LOST (stopped heartbeating: down or partitioned)"
((running > 0)) || die "no NodeManager is RUNNING: YARN cannot run any container"
log "ResourceManager check passed"
