#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Start the Kafka broker as user kafka and wait for its listener port. The broker needs its
# ZooKeeper ensemble; if it cannot register there it exits and the log tail is shown.
source lib/kafka.sh

require_root
kafka_start
