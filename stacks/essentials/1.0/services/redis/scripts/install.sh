#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Install redis-server (and redis-cli) from the Debian archive. Existing config is kept.
source lib/redis.sh

require_root
apt_install redis-server redis-tools procps
require_cmd redis-server redis-cli
log "installed: $(redis-server --version)"
log "configuration: /etc/redis/redis.conf, log: /var/log/redis/redis-server.log, data: /var/lib/redis"
svc_installed redis-server redis-server
log "redis is installed"
