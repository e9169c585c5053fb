#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Install nginx from the Debian archive. Existing configuration files are kept.
source lib/nginx.sh

require_root
apt_install nginx procps
require_cmd nginx
log "installed: $(nginx -v 2>&1)"
log "testing the configuration"
nginx -t
svc_installed nginx "the nginx binary"
log "nginx is installed"
