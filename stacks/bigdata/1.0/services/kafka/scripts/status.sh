#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Is the broker running and listening? Exit 0 when it is, 3 when stopped, 1 when the
# process runs without its port.
source lib/kafka.sh

kafka_require_installed
rc=0
daemon_status || rc=$?
if [[ -f $KAFKA_CONF ]]; then
  log "broker.id $(kafka_prop broker.id), advertised $(kafka_prop advertised.listeners)"
fi
exit "$rc"
