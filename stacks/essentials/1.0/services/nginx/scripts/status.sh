#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Report whether nginx is running, listening and answering HTTP. Exit 0 when running,
# 3 when stopped, 1 when it is not installed.
source lib/nginx.sh

command -v nginx >/dev/null 2>&1 || die "nginx is not installed (run install)"
log "$(nginx -v 2>&1)"

if ! svc_running nginx -x nginx; then
  log "nginx is NOT running"
  if [[ $(svc_manager nginx) == systemd ]]; then
    systemctl status --no-pager --lines=10 nginx || true
  elif [[ -r /var/log/nginx/error.log ]]; then
    log "last lines of /var/log/nginx/error.log:"
    tail -n 10 /var/log/nginx/error.log
  fi
  exit 3
fi

log "nginx is running (pids $(nginx_pids))"
if port_open 127.0.0.1 "$NGINX_PORT"; then
  log "port $NGINX_PORT is accepting connections"
  if command -v curl >/dev/null 2>&1; then
    code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$NGINX_PORT/" || true)
    log "GET http://127.0.0.1:$NGINX_PORT/ answered HTTP $code"
  fi
else
  warn "nothing accepts connections on 127.0.0.1:$NGINX_PORT (nginx_port); check the listen directives"
fi
if ! nginx -t >/dev/null 2>&1; then
  warn "the configuration on disk does not pass nginx -t: a reload or restart would fail (run test-config)"
fi
