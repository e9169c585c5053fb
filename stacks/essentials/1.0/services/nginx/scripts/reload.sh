#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Reload the nginx configuration gracefully: new workers start with the new config, old
# workers finish their requests. Refuses when the configuration does not pass nginx -t.
source lib/common.sh

require_root
require_cmd nginx
log "testing the configuration (nginx -t)"
nginx -t || die "the nginx configuration is invalid (see above); not reloading"

svc_running nginx nginx || die "nginx is not running; use start instead"
if [[ $(svc_manager nginx) == none ]]; then
  log "signalling the nginx master (nginx -s reload)"
  nginx -s reload
else
  svc_ctl reload nginx
fi
log "configuration reloaded"
