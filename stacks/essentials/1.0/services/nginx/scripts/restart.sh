#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Restart nginx. The configuration is tested first so a broken config never takes down a
# running server.
source lib/common.sh

require_root
require_cmd nginx
port=$(cfg nginx_port 80)
limit=$(cfg service_start_wait 60)

log "testing the configuration (nginx -t)"
nginx -t || die "the nginx configuration is invalid (see above); not restarting, the running server is untouched"

if [[ $(svc_manager nginx) == none ]]; then
  if pgrep -x nginx >/dev/null; then
    log "stopping the nginx master"
    nginx -s quit || true
    wait_for_no_process 30 -x nginx || die "nginx did not stop within 30s"
  fi
  log "starting the nginx binary directly"
  nginx
else
  svc_ctl restart nginx
fi

wait_for_port 127.0.0.1 "$port" "$limit" ||
  die "nginx is not accepting connections on port $port after ${limit}s; see /var/log/nginx/error.log"
log "nginx restarted (pids $(pgrep -d, -x nginx || true))"
