#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/.. source-path=SCRIPTDIR/../../..
# ZooKeeper layout and daemon control for the bigdata stack; the zookeeper scripts source
# this file.
set -euo pipefail
source lib/bigdata.sh

ZK_USER=zookeeper
# shellcheck disable=SC2034 # used by install.sh
ZK_VERSION=$(cfg zookeeper_version 3.8.4)
ZK_HOME=$INSTALL_ROOT/zookeeper
ZK_CONF_DIR=$ZK_HOME/conf
ZK_LOG_DIR=$LOG_ROOT/zookeeper
ZK_PORT=$(cfg zookeeper_client_port 2181)
daemon_select zookeeper "$ZK_USER" zookeeper org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZK_PORT"

zk_require_installed() {
  [[ -x $ZK_HOME/bin/zkServer.sh ]] || die "ZooKeeper is not installed in $ZK_HOME (run install)"
}

zk_require_configured() {
  [[ -f $ZK_CONF_DIR/zoo.cfg ]] || die "$ZK_CONF_DIR/zoo.cfg is missing (run configure)"
}

# zk_data_dir: dataDir of the installed zoo.cfg.
zk_data_dir() {
  sed -n 's/^dataDir=//p' "$ZK_CONF_DIR/zoo.cfg" | awk 'NR == 1'
}

zk_start() {
  local data_dir
  zk_require_installed
  zk_require_configured
  require_java
  warn_if_drift zoo.cfg "$ZK_CONF_DIR/zoo.cfg"
  data_dir=$(zk_data_dir)
  if grep -q '^server\.' "$ZK_CONF_DIR/zoo.cfg" && ! grep -qE '^[0-9]+$' "$data_dir/myid" 2>/dev/null; then
    die "this server is an ensemble member but $data_dir/myid is missing or invalid (run configure)"
  fi
  daemon_start "$ZK_LOG_DIR/zookeeper.out" \
    JAVA_HOME="$JAVA_HOME" ZOOCFGDIR="$ZK_CONF_DIR" ZOO_LOG_DIR="$ZK_LOG_DIR" \
    ZK_SERVER_HEAP="$(cfg zookeeper_heap_mb 1024)" \
    "$ZK_HOME/bin/zkServer.sh" start-foreground
}

# zk_mode HOST: the Mode line of srvr ("leader", "follower", "standalone"), or the reason
# there is none.
zk_mode() {
  local srvr
  srvr=$(tcp_talk "$1" "$ZK_PORT" srvr 2>/dev/null) || {
    echo "unreachable"
    return 1
  }
  case $srvr in
    *"not currently serving"*)
      echo "not serving (no quorum)"
      return 1
      ;;
    *whitelist*)
      echo "srvr not whitelisted"
      return 1
      ;;
  esac
  sed -n 's/^Mode: //p' <<<"$srvr"
}

# zk_wait_serving TIMEOUT: wait until the local server reports a mode (it has a quorum).
zk_wait_serving() {
  local limit=$1 waited=0 mode
  until mode=$(zk_mode 127.0.0.1); do
    ((waited < limit)) || die "ZooKeeper listens but is not serving after ${limit}s (${mode}); a majority of the ensemble must be up"
    sleep 2
    waited=$((waited + 2))
  done
  log "ZooKeeper is serving (mode: $mode)"
}
