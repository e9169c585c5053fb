#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Stop the YARN daemon of this component: TERM, then KILL after stop_wait_seconds. Stopping
# the ResourceManager halts scheduling; stopping a NodeManager kills its running containers.
source lib/hadoop.sh

hadoop_cmd_stop
