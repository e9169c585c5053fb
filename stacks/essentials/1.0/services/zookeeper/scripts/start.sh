#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Start ZooKeeper through its init script/systemd and wait for the client port and imok.
source lib/zookeeper.sh

require_root
zk_require_conf
if grep -q '^dataDir=/tmp/' /etc/zookeeper/conf/zoo.cfg; then
  warn "the active zoo.cfg keeps data under /tmp (Debian's example); run configure"
fi
if (($(grep -c '^server\.' /etc/zookeeper/conf/zoo.cfg || true) > 1)) &&
  ! grep -qE '^[0-9]+$' /etc/zookeeper/conf/myid 2>/dev/null; then
  die "this is an ensemble member but /etc/zookeeper/conf/myid holds no server id; run configure"
fi

if svc_running zookeeper -f QuorumPeerMain; then
  log "ZooKeeper is already running"
else
  svc_ctl start zookeeper
fi

zk_wait_port
reply=$(tcp_talk 127.0.0.1 "$ZK_PORT" ruok || true)
if [[ $reply == imok ]]; then
  log "ZooKeeper answers imok"
else
  warn "ZooKeeper is listening but ruok answered '${reply:-nothing}' (4lw whitelist? run configure)"
fi
