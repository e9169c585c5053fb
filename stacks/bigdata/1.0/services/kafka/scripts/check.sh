#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Deep health check: process and port, the broker answers API-version requests through its
# advertised address and appears in the cluster metadata, and the cluster has no offline
# partitions (under-replicated ones are reported as a warning).
source lib/kafka.sh

kafka_require_installed
kafka_require_configured
require_java
warn_if_drift server.properties "$KAFKA_CONF"
daemon_status || die "the broker is not running or not listening"

broker_id=$(kafka_prop broker.id)
bootstrap=$(kafka_bootstrap)
log "asking $bootstrap for the brokers' API versions"
out=$(kafka_tool 90 kafka-broker-api-versions.sh --bootstrap-server "$bootstrap" 2>&1) ||
  die "kafka-broker-api-versions.sh failed (advertised hostname not resolvable, or broker not serving): $(tail -n 5 <<<"$out")"
brokers=$(sed -n 's/^\([^ ]*\) (id: \([0-9]*\) rack: .*/  broker \2 at \1/p' <<<"$out")
log "brokers in the cluster metadata:"
printf '%s\n' "$brokers"
grep -q "^  broker $broker_id at " <<<"$brokers" ||
  die "this broker (id $broker_id) is missing from the cluster metadata: not registered in ZooKeeper?"

offline=$(kafka_partitions unavailable)
urp=$(kafka_partitions under-replicated)
((offline == 0)) || die "$offline partition(s) have no leader (offline): their brokers are down"
if ((urp > 0)); then
  warn "$urp partition(s) are under-replicated: a broker is down, slow, or catching up"
else
  log "no under-replicated partitions"
fi
log "Kafka check passed"
