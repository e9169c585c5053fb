#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Stop redis-server. On SIGTERM/SHUTDOWN redis writes its RDB snapshot (when save points
# are configured) before exiting, so a large dataset makes this take a while.
source lib/redis.sh

shutdown_directly() {
  log "no systemd unit or init script: sending SHUTDOWN"
  redis_shutdown
}

require_root
svc_stop redis-server redis-server shutdown_directly -x redis-server
if ! wait_for_no_process 240 -x redis-server; then
  die "redis-server is still running after 240s (still saving? see /var/log/redis/redis-server.log)"
fi
log "redis-server is stopped"
