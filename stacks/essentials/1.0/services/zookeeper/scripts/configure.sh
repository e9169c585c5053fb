#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Install the rendered zoo.cfg and myid into /etc/zookeeper/conf_steward (a copy of Debian's
# conf_example) and select it with update-alternatives, so package upgrades never overwrite
# it. Creates the data directory. A running server needs a restart to pick changes up.
source lib/zookeeper.sh

require_root
[[ -d /etc/zookeeper/conf_example ]] || die "ZooKeeper is not installed (run install first)"
getent passwd zookeeper >/dev/null || die "user zookeeper is missing; reinstall the zookeeper package"
conf=/etc/zookeeper/conf_steward

if [[ ! -d $conf ]]; then
  log "creating $conf from /etc/zookeeper/conf_example"
  cp -a /etc/zookeeper/conf_example "$conf"
fi
changed=0
install_if_changed zoo.cfg "$conf/zoo.cfg" 0644 && changed=1
install_if_changed myid "$conf/myid" 0644 && changed=1

if [[ $(readlink -f /etc/zookeeper/conf) != "$conf" ]]; then
  log "selecting $conf as /etc/zookeeper/conf (update-alternatives)"
  update-alternatives --install /etc/zookeeper/conf zookeeper-conf "$conf" 50
  update-alternatives --set zookeeper-conf "$conf"
  changed=1
fi

data_dir=$(sed -n 's/^dataDir=//p' "$conf/zoo.cfg")
[[ $data_dir == /* ]] || die "zoo.cfg has no absolute dataDir"
install -d -o zookeeper -g zookeeper -m 0750 "$data_dir"
# ZooKeeper reads myid from dataDir; point it at the managed copy (Debian does the same).
if [[ -f $data_dir/myid && ! -L $data_dir/myid ]]; then
  log "replacing $data_dir/myid (was: $(cat "$data_dir/myid")) with a link to $conf/myid"
  mv "$data_dir/myid" "$data_dir/myid.steward-prev"
fi
ln -sfn /etc/zookeeper/conf/myid "$data_dir/myid"

servers=$(grep -c '^server\.' "$conf/zoo.cfg" || true)
if ((servers > 1)); then
  log "ensemble member $(cat "$conf/myid") of $servers; data in $data_dir"
else
  log "standalone server; data in $data_dir"
fi
if ((changed)) && pgrep -f QuorumPeerMain >/dev/null; then
  log "configuration changed while ZooKeeper is running: restart it to apply (one server at a time in an ensemble)"
fi
log "ZooKeeper is configured"
