#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Install the rendered server.properties and create the broker's log directories. Refuses
# when a log directory already belongs to a different broker.id. Restart to apply changes.
source lib/kafka.sh

require_root
kafka_require_installed
getent passwd "$KAFKA_USER" >/dev/null || die "user $KAFKA_USER is missing (run install)"

broker_id=$(kafka_prop broker.id server.properties)
[[ $broker_id =~ ^[0-9]+$ ]] || die "the rendered server.properties has no numeric broker.id"
mapfile -t log_dirs < <(dir_list "$(kafka_prop log.dirs server.properties)")
((${#log_dirs[@]})) || die "the rendered server.properties has no log.dirs"

kafka_check_broker_id server.properties
for dir in "${log_dirs[@]}"; do
  install -d -o "$KAFKA_USER" -g kafka -m 0750 "$dir"
  log "log dir $dir ($(df -h --output=avail "$dir" | awk 'NR == 2 { print $1 }') free)"
done

changed=0
install_if_changed server.properties "$KAFKA_CONF" && changed=1
log "broker.id $broker_id, zookeeper.connect $(kafka_prop zookeeper.connect)"
if ((changed)) && daemon_pid >/dev/null; then
  log "the configuration changed while the broker runs: restart it to apply (one broker at a time)"
fi
log "Kafka is configured"
