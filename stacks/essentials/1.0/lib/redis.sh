#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/.. source-path=SCRIPTDIR/../../..
# Redis helpers for the essentials stack; the redis scripts source this file.
set -euo pipefail
source lib/service.sh

REDIS_PORT=$(cfg redis_port 6379)

# redis_run: start redis-server as user redis without a service manager.
redis_run() {
  install -d -o redis -g redis -m 2775 /run/redis
  runuser -u redis -- redis-server /etc/redis/redis.conf --daemonize yes --supervised no
}

# redis_shutdown: ask redis to save and exit (SHUTDOWN), else TERM it.
redis_shutdown() {
  redis-cli -p "$REDIS_PORT" shutdown || pkill -TERM -x redis-server || true
}

# redis_wait_pong: waits (service_start_wait) until redis answers PING (or asks for auth,
# which also proves it is up); dies with the last reply.
redis_wait_pong() {
  local waited reply=""
  log "waiting up to ${START_WAIT}s for PONG on port $REDIS_PORT"
  for ((waited = 0; waited <= START_WAIT; waited += 2)); do
    reply=$(redis-cli -p "$REDIS_PORT" ping 2>&1 || true)
    case $reply in
      PONG | NOAUTH*)
        log "redis answers on port $REDIS_PORT"
        return 0
        ;;
    esac
    sleep 2
  done
  die "redis did not answer PING on port $REDIS_PORT within ${START_WAIT}s (last reply: ${reply:-none}); see /var/log/redis/redis-server.log"
}
