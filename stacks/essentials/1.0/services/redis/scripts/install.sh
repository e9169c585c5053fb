#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Install redis-server (and redis-cli) from the Debian archive. Existing config is kept.
source lib/common.sh

require_root
apt_install redis-server redis-tools procps
require_cmd redis-server redis-cli
log "installed: $(redis-server --version)"
log "configuration: /etc/redis/redis.conf, log: /var/log/redis/redis-server.log, data: /var/lib/redis"
case $(svc_manager redis-server) in
  systemd) log "managed by systemd (unit redis-server.service); Debian starts it on first install" ;;
  sysv) log "no systemd: managed through /etc/init.d/redis-server" ;;
  *) log "no service manager found: start/stop drive redis-server directly" ;;
esac
log "redis is installed"
