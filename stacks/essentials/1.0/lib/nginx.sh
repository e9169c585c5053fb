#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/.. source-path=SCRIPTDIR/../../..
# nginx helpers for the essentials stack; the nginx scripts source this file.
set -euo pipefail
source lib/service.sh

NGINX_PORT=$(cfg nginx_port 80)

# nginx_test WHAT-NOW: run nginx -t; when the configuration is invalid, fail saying WHAT-NOW
# (what the command does not do because of it).
nginx_test() {
  log "testing the configuration (nginx -t)"
  nginx -t || die "the nginx configuration is invalid (see above); $1"
}

nginx_pids() {
  pgrep -d, -x nginx || true
}

# nginx_wait_port HINT: wait (service_start_wait) for nginx to accept connections on
# nginx_port; fail with HINT appended to the error.
nginx_wait_port() {
  wait_for_port 127.0.0.1 "$NGINX_PORT" "$START_WAIT" ||
    die "nginx is not accepting connections on port $NGINX_PORT after ${START_WAIT}s; see /var/log/nginx/error.log$1"
}
