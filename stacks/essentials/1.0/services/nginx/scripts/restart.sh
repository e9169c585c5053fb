#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Restart nginx. The configuration is tested first so a broken config never takes down a
# running server.
source lib/nginx.sh

restart_directly() {
  if pgrep -x nginx >/dev/null; then
    log "stopping the nginx master"
    nginx -s quit || true
    wait_for_no_process 30 -x nginx || die "nginx did not stop within 30s"
  fi
  log "starting the nginx binary directly"
  nginx
}

require_root
require_cmd nginx
nginx_test "not restarting, the running server is untouched"
svc_ctl restart nginx restart_directly
nginx_wait_port ""
log "nginx restarted (pids $(nginx_pids))"
