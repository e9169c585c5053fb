#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Start redis-server and wait until it answers PING (loading a large dataset takes a while).
source lib/redis.sh

start_directly() {
  log "no systemd unit or init script: starting redis-server directly as user redis"
  redis_run
}

require_root
require_cmd redis-server redis-cli
if svc_running redis-server -x redis-server; then
  log "redis-server is already running"
else
  svc_ctl start redis-server start_directly
fi
redis_wait_pong
