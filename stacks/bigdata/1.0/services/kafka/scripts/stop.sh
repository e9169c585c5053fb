#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Stop the Kafka broker: TERM starts a controlled shutdown (leadership moves to the other
# brokers), KILL follows after stop_wait_seconds.
source lib/kafka.sh

require_root
daemon_stop
