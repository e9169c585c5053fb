#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Validate the nginx configuration and list the files it includes. Changes nothing.
source lib/nginx.sh

require_cmd nginx
log "$(nginx -v 2>&1)"
log "testing the configuration (nginx -t)"
nginx -t || die "the nginx configuration is invalid (see the file and line above)"
log "configuration files in use:"
nginx -T 2>/dev/null | sed -n 's/^# configuration file \(.*\):$/  \1/p'
