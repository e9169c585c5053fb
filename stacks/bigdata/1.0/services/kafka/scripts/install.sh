#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Install Apache Kafka from its release tarball: Java (if missing), the kafka user, download
# + checksum, unpack into install_root/kafka_<scala>-<version> and point install_root/kafka
# at it. Safe to re-run; run configure next.
source lib/common.sh
source lib/kafka.sh

require_root
ensure_base_tools
ensure_java
take_lock kafka
ensure_user "$KAFKA_USER" kafka "$DATA_ROOT/kafka"

name="kafka_$KAFKA_SCALA_VERSION-$KAFKA_VERSION"
fetch_artifact "kafka/$KAFKA_VERSION/$name.tgz"
unpack_artifact "$name.tgz" "$name" kafka
install -d -o "$KAFKA_USER" -g kafka -m 0750 "$KAFKA_LOG_DIR"

if pid=$(daemon_pid kafka "$KAFKA_USER" "$KAFKA_MARKER"); then
  warn "Kafka is running (pid $pid) from the previous files: run configure, then restart to use $KAFKA_VERSION"
fi
log "Kafka $KAFKA_VERSION (Scala $KAFKA_SCALA_VERSION) is installed in $KAFKA_HOME; run configure next"
