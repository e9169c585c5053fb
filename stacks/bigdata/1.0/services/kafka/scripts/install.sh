#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Install Apache Kafka from its release tarball: Java (if missing), the kafka user, download
# + checksum, unpack into install_root/kafka_<scala>-<version> and point install_root/kafka
# at it. Safe to re-run; run configure next.
source lib/kafka.sh

name="kafka_$KAFKA_SCALA_VERSION-$KAFKA_VERSION"
daemon_install "kafka/$KAFKA_VERSION/$name.tgz" "$name" Kafka "$KAFKA_VERSION"
log "Kafka $KAFKA_VERSION (Scala $KAFKA_SCALA_VERSION) is installed in $KAFKA_HOME; run configure next"
