#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Start nginx after validating its configuration, then wait for its port.
source lib/nginx.sh

start_directly() {
  log "no systemd unit or init script: starting the nginx binary directly"
  nginx
}

require_root
require_cmd nginx
nginx_test "fix it before starting"
if svc_running nginx -x nginx; then
  log "nginx is already running"
else
  svc_ctl start nginx start_directly
fi
nginx_wait_port " (is the port taken? ss -ltnp 'sport = :$NGINX_PORT')"
log "nginx is running (pids $(nginx_pids))"
