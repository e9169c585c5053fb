#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Restart the broker, then wait (up to start_wait_seconds) for under-replicated partitions
# to drain so that a rolling restart never takes two replicas of a partition down at once.
source lib/kafka.sh

require_root
kafka_require_installed
kafka_require_configured
daemon_stop
kafka_start

limit=$(cfg start_wait_seconds 150)
log "waiting up to ${limit}s for the cluster to have no under-replicated partitions"
for ((waited = 0; ; waited += 10)); do
  urp=$(kafka_partitions under-replicated)
  if ((urp == 0)); then
    log "no under-replicated partitions: safe to restart the next broker"
    exit 0
  fi
  ((waited < limit)) || break
  log "$urp partition(s) still under-replicated"
  sleep 10
done
warn "$urp partition(s) are still under-replicated after ${limit}s; wait before restarting another broker"
