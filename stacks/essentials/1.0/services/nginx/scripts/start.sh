#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Start nginx after validating its configuration, then wait for its port.
source lib/common.sh

require_root
require_cmd nginx
port=$(cfg nginx_port 80)
limit=$(cfg service_start_wait 60)

log "testing the configuration (nginx -t)"
nginx -t || die "the nginx configuration is invalid (see above); fix it before starting"

if svc_running nginx nginx; then
  log "nginx is already running"
elif [[ $(svc_manager nginx) == none ]]; then
  log "no systemd unit or init script: starting the nginx binary directly"
  nginx
else
  svc_ctl start nginx
fi

wait_for_port 127.0.0.1 "$port" "$limit" ||
  die "nginx is not accepting connections on port $port after ${limit}s; see /var/log/nginx/error.log (is the port taken? ss -ltnp 'sport = :$port')"
log "nginx is running (pids $(pgrep -d, -x nginx || true))"
