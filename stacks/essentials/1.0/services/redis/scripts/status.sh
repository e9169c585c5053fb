#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# PING redis and summarise memory, persistence and clients. Exit 0 when it answers, 3 when
# it is not running, 1 when it runs but does not answer properly.
source lib/redis.sh

command -v redis-cli >/dev/null 2>&1 || die "redis-cli is not installed (run install)"

reply=$(redis-cli -p "$REDIS_PORT" ping 2>&1 || true)
case $reply in
  PONG) log "redis on port $REDIS_PORT answers PING with PONG" ;;
  NOAUTH*)
    log "redis on port $REDIS_PORT is up but requires a password (requirepass); details need AUTH"
    exit 0
    ;;
  LOADING*)
    warn "redis is up but still loading its dataset into memory: $reply"
    exit 1
    ;;
  *)
    if pgrep -x redis-server >/dev/null; then
      die "redis-server is running (pids $(pgrep -d, -x redis-server)) but PING on port $REDIS_PORT returned: $reply"
    fi
    log "redis is NOT running (PING on port $REDIS_PORT: $reply)"
    exit 3
    ;;
esac

info=$(redis-cli -p "$REDIS_PORT" info 2>/dev/null | tr -d '\r')
field() { awk -F: -v k="$1" '$1 == k { print $2 }' <<<"$info"; }
log "version $(field redis_version), role $(field role), up $(field uptime_in_days) day(s)"
log "clients: $(field connected_clients) connected, $(field blocked_clients) blocked, $(field rejected_connections) rejected since start"
maxmemory=$(field maxmemory_human)
log "memory: $(field used_memory_human) used, maxmemory ${maxmemory:-0} ($(field maxmemory_policy)), fragmentation $(field mem_fragmentation_ratio), $(field evicted_keys) keys evicted"
log "persistence: last RDB save $(field rdb_last_bgsave_status), $(field rdb_changes_since_last_save) change(s) since; AOF enabled=$(field aof_enabled) last write $(field aof_last_write_status)"
redis-cli -p "$REDIS_PORT" info keyspace 2>/dev/null | tr -d '\r' | awk -F: '/^db[0-9]+:/ { print "  " $1 ": " $2 }'

if [[ $(field rdb_last_bgsave_status) == err ]]; then
  warn "the last RDB snapshot FAILED: with stop-writes-on-bgsave-error (default) redis rejects writes with MISCONF; check disk space and permissions of $(redis-cli -p "$REDIS_PORT" config get dir 2>/dev/null | tr -d '\r' | awk 'NR == 2')"
fi
if [[ $(field aof_last_write_status) == err ]]; then
  warn "the last AOF write failed; check disk space"
fi
