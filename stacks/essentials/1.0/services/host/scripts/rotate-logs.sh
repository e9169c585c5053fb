#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../../../..
set -euo pipefail
# Force a logrotate run over /etc/logrotate.conf (all of /etc/logrotate.d included).
source lib/common.sh

require_root
command -v logrotate >/dev/null 2>&1 || die "logrotate is not installed on this host (apt-get install logrotate); nothing rotated"
[[ -r /etc/logrotate.conf ]] || die "/etc/logrotate.conf is missing or unreadable"

log "/var/log before: $(du -sh /var/log 2>/dev/null | cut -f1)"
log "running logrotate -f /etc/logrotate.conf"
if ! logrotate -f /etc/logrotate.conf; then
  die "logrotate reported errors (above); check the named configuration in /etc/logrotate.d"
fi
log "/var/log after: $(du -sh /var/log 2>/dev/null | cut -f1)"
log "logs rotated"
