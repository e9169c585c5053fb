#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Stop redis-server. On SIGTERM/SHUTDOWN redis writes its RDB snapshot (when save points
# are configured) before exiting, so a large dataset makes this take a while.
source lib/common.sh

require_root
port=$(cfg redis_port 6379)
if ! svc_running redis-server redis-server && ! pgrep -x redis-server >/dev/null; then
  log "redis-server is not running; nothing to do"
  exit 0
fi

if [[ $(svc_manager redis-server) == none ]]; then
  log "no systemd unit or init script: sending SHUTDOWN"
  redis-cli -p "$port" shutdown || pkill -TERM -x redis-server || true
else
  svc_ctl stop redis-server
fi

if ! wait_for_no_process 240 -x redis-server; then
  die "redis-server is still running after 240s (still saving? see /var/log/redis/redis-server.log)"
fi
log "redis-server is stopped"
