#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Stop nginx gracefully (workers finish their requests), then make sure no process is left.
source lib/nginx.sh

require_root
quit_directly() {
  log "no systemd unit or init script: asking the nginx master to quit"
  nginx -s quit || pkill -TERM -x nginx || true
}

svc_stop nginx nginx quit_directly -x nginx
reap 30 TERM "nginx processes are still running after 30s; sending TERM" -x nginx ||
  die "nginx processes survived TERM: $(pgrep -a -x nginx | paste -sd ';' -)"
log "nginx is stopped"
