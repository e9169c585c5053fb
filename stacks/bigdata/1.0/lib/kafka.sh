#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/.. source-path=SCRIPTDIR/../../..
# Kafka layout and daemon control for the bigdata stack; the kafka scripts source this file.
set -euo pipefail
source lib/bigdata.sh

KAFKA_USER=kafka
# shellcheck disable=SC2034 # used by install.sh
KAFKA_VERSION=$(cfg kafka_version 3.7.1)
# shellcheck disable=SC2034 # used by install.sh
KAFKA_SCALA_VERSION=$(cfg kafka_scala_version 2.13)
KAFKA_HOME=$INSTALL_ROOT/kafka
KAFKA_CONF=$KAFKA_HOME/config/server.properties
KAFKA_LOG_DIR=$LOG_ROOT/kafka
KAFKA_PORT=$(cfg kafka_port 9092)
daemon_select kafka "$KAFKA_USER" kafka kafka.Kafka "$KAFKA_PORT"

kafka_require_installed() {
  [[ -x $KAFKA_HOME/bin/kafka-server-start.sh ]] || die "Kafka is not installed in $KAFKA_HOME (run install)"
}

kafka_require_configured() {
  grep -q 'Rendered by Steward' "$KAFKA_CONF" 2>/dev/null ||
    die "$KAFKA_CONF is not the Steward configuration (run configure)"
}

# kafka_prop KEY [FILE]: a property of server.properties (default: the installed one).
kafka_prop() {
  sed -n "s/^${1//./\\.}=//p" "${2:-$KAFKA_CONF}" | awk 'NR == 1'
}

# kafka_check_broker_id FILE: fail when a log dir already belongs to another broker.id
# (Kafka would refuse to start with InconsistentBrokerIdException).
kafka_check_broker_id() {
  local file=$1 id dir old
  id=$(kafka_prop broker.id "$file")
  while read -r dir; do
    [[ -f $dir/meta.properties ]] || continue
    old=$(sed -n 's/^broker\.id=//p' "$dir/meta.properties")
    if [[ -n $old && $old != "$id" ]]; then
      die "$dir/meta.properties belongs to broker.id $old but this host is now broker.id $id (hosts were added or removed, so the sorted ordinals moved). Restore the previous host set, or move the data away and let the broker re-replicate."
    fi
  done < <(dir_list "$(kafka_prop log.dirs "$file")")
}

# kafka_tool SECONDS TOOL ARGS...: run a Kafka command-line tool (as root, small heap).
kafka_tool() {
  local seconds=$1 tool=$2
  shift 2
  timeout "$seconds" env JAVA_HOME="$JAVA_HOME" LOG_DIR="$PWD/.kafka-tool-logs" KAFKA_HEAP_OPTS="-Xmx256m" \
    "$KAFKA_HOME/bin/$tool" "$@"
}

# kafka_bootstrap: this broker's advertised address, as clients reach it.
kafka_bootstrap() {
  printf '%s:%s' "${STEWARD_HOSTNAME:-$(hostname -f)}" "$KAFKA_PORT"
}

kafka_start() {
  local heap dir
  kafka_require_installed
  kafka_require_configured
  require_java
  warn_if_drift server.properties "$KAFKA_CONF"
  kafka_check_broker_id "$KAFKA_CONF"
  while read -r dir; do
    runuser -u "$KAFKA_USER" -- test -w "$dir" || die "log dir $dir is missing or not writable by $KAFKA_USER (run configure)"
  done < <(dir_list "$(kafka_prop log.dirs)")
  heap=$(cfg kafka_heap_mb 1024)
  daemon_start "$KAFKA_LOG_DIR/kafka.out" \
    JAVA_HOME="$JAVA_HOME" LOG_DIR="$KAFKA_LOG_DIR" KAFKA_HEAP_OPTS="-Xms${heap}m -Xmx${heap}m" \
    "$KAFKA_HOME/bin/kafka-server-start.sh" "$KAFKA_CONF"
}

# kafka_partitions KIND: count partitions that are "under-replicated" or "unavailable".
kafka_partitions() {
  local out
  out=$(kafka_tool 90 kafka-topics.sh --bootstrap-server "$(kafka_bootstrap)" --describe "--$1-partitions" 2>&1) ||
    die "kafka-topics.sh failed: $out"
  grep -c 'Partition:' <<<"$out" || true
}
