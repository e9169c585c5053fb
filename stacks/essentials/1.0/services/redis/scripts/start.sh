#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Start redis-server and wait until it answers PING (loading a large dataset takes a while).
source lib/common.sh

require_root
require_cmd redis-server redis-cli
port=$(cfg redis_port 6379)
limit=$(cfg service_start_wait 60)

if svc_running redis-server redis-server; then
  log "redis-server is already running"
elif [[ $(svc_manager redis-server) == none ]]; then
  log "no systemd unit or init script: starting redis-server directly as user redis"
  install -d -o redis -g redis -m 2775 /run/redis
  runuser -u redis -- redis-server /etc/redis/redis.conf --daemonize yes --supervised no
else
  svc_ctl start redis-server
fi

wait_for_redis_pong "$port" "$limit"
