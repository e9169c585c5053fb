#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Restart the YARN daemon of this component (stop, then start with the pre-start checks).
source lib/hadoop.sh

hadoop_cmd_restart
