#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Install nginx from the Debian archive. Existing configuration files are kept.
source lib/common.sh

require_root
apt_install nginx procps
require_cmd nginx
log "installed: $(nginx -v 2>&1)"
log "testing the configuration"
nginx -t
case $(svc_manager nginx) in
  systemd) log "managed by systemd (unit nginx.service); Debian starts it on first install" ;;
  sysv) log "no systemd: managed through /etc/init.d/nginx" ;;
  *) log "no service manager found: start/stop drive the nginx binary directly" ;;
esac
log "nginx is installed"
