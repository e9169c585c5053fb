#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Install the rendered zoo.cfg and logback.xml into the ZooKeeper conf directory, create the
# data directory and write this server's myid there. Restart to apply changes.
source lib/zookeeper.sh

require_root
zk_require_installed
getent passwd "$ZK_USER" >/dev/null || die "user $ZK_USER is missing (run install)"

changed=0
install_if_changed zoo.cfg "$ZK_CONF_DIR/zoo.cfg" && changed=1
install_if_changed logback.xml "$ZK_CONF_DIR/logback.xml" && changed=1

data_dir=$(zk_data_dir)
[[ $data_dir == /* ]] || die "zoo.cfg has no absolute dataDir"
install -d -o "$ZK_USER" -g zookeeper -m 0750 "$data_dir"

new_id=$(tr -d '[:space:]' <myid)
[[ $new_id =~ ^[0-9]+$ ]] || die "the rendered myid '$new_id' is not a number"
if [[ -f $data_dir/myid ]]; then
  old_id=$(tr -d '[:space:]' <"$data_dir/myid")
  if [[ $old_id != "$new_id" && -d $data_dir/version-2 ]]; then
    warn "this server's id changes from $old_id to $new_id (hosts were added or removed, so the sorted ordinals moved)."
    warn "restart EVERY ensemble member after configuring them all; two servers must never run with the same id"
  fi
fi
install_if_changed myid "$data_dir/myid" 0644 "$ZK_USER:zookeeper" && changed=1

servers=$(grep -c '^server\.' "$ZK_CONF_DIR/zoo.cfg" || true)
if ((servers > 1)); then
  log "ensemble member $new_id of $servers; data in $data_dir"
else
  log "standalone server; data in $data_dir"
fi
if ((changed)) && daemon_pid >/dev/null; then
  log "the configuration changed while ZooKeeper runs: restart it to apply (one server at a time)"
fi
log "ZooKeeper is configured"
