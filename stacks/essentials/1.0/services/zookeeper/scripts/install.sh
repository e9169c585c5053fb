#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Install ZooKeeper from the Debian archive: zookeeperd brings the zookeeper package, a JRE
# and the init script. Run `configure` afterwards: Debian's example config keeps data in /tmp.
source lib/zookeeper.sh

require_root
if apt-cache show zookeeperd >/dev/null 2>&1; then
  apt_install zookeeperd procps
else
  warn "package zookeeperd is not available here; installing zookeeper (no init script)"
  apt_install zookeeper procps
fi
[[ -d /etc/zookeeper/conf_example ]] || die "the zookeeper package did not install /etc/zookeeper/conf_example"
log "installed: zookeeper $(dpkg-query -W -f='${Version}' zookeeper)"
case $(svc_manager zookeeper) in
  systemd) log "managed by systemd (generated from /etc/init.d/zookeeper)" ;;
  sysv) log "no systemd: managed through /etc/init.d/zookeeper" ;;
  *) warn "no init script found; start/stop need the zookeeperd package" ;;
esac
log "ZooKeeper is installed; run configure next"
