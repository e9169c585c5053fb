#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Restart redis-server and wait until it answers PING again.
source lib/common.sh

require_root
require_cmd redis-server redis-cli
port=$(cfg redis_port 6379)
limit=$(cfg service_start_wait 60)

if [[ $(svc_manager redis-server) == none ]]; then
  if pgrep -x redis-server >/dev/null; then
    log "sending SHUTDOWN"
    redis-cli -p "$port" shutdown || pkill -TERM -x redis-server || true
    wait_for_no_process 240 -x redis-server || die "redis-server did not stop within 240s"
  fi
  log "starting redis-server directly as user redis"
  install -d -o redis -g redis -m 2775 /run/redis
  runuser -u redis -- redis-server /etc/redis/redis.conf --daemonize yes --supervised no
else
  svc_ctl restart redis-server
fi

wait_for_redis_pong "$port" "$limit"
