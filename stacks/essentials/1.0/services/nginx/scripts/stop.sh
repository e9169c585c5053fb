#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Stop nginx gracefully (workers finish their requests), then make sure no process is left.
source lib/common.sh

require_root
if ! svc_running nginx nginx && ! pgrep -x nginx >/dev/null; then
  log "nginx is not running; nothing to do"
  exit 0
fi

if [[ $(svc_manager nginx) == none ]]; then
  log "no systemd unit or init script: asking the nginx master to quit"
  nginx -s quit || pkill -TERM -x nginx || true
else
  svc_ctl stop nginx
fi

if ! wait_for_no_process 30 -x nginx; then
  warn "nginx processes are still running after 30s; sending TERM"
  pkill -TERM -x nginx || true
  wait_for_no_process 10 -x nginx || die "nginx processes survived TERM: $(pgrep -a -x nginx | paste -sd ';' -)"
fi
log "nginx is stopped"
