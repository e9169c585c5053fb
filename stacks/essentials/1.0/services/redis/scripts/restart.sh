#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Restart redis-server and wait until it answers PING again.
source lib/redis.sh

restart_directly() {
  if pgrep -x redis-server >/dev/null; then
    log "sending SHUTDOWN"
    redis_shutdown
    wait_for_no_process 240 -x redis-server || die "redis-server did not stop within 240s"
  fi
  log "starting redis-server directly as user redis"
  redis_run
}

require_root
require_cmd redis-server redis-cli
svc_ctl restart redis-server restart_directly
redis_wait_pong
