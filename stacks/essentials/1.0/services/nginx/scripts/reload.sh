#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Reload the nginx configuration gracefully: new workers start with the new config, old
# workers finish their requests. Refuses when the configuration does not pass nginx -t.
source lib/nginx.sh

signal_directly() {
  log "signalling the nginx master (nginx -s reload)"
  nginx -s reload
}

require_root
require_cmd nginx
nginx_test "not reloading"
svc_running nginx -x nginx || die "nginx is not running; use start instead"
svc_ctl reload nginx signal_directly
log "configuration reloaded"
