#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Deep health check: the local server must answer ruok with imok and serve (srvr mode);
# every ensemble member listed in zoo.cfg is asked for its mode, and exactly one leader is
# expected. Prints the key mntr metrics.
source lib/zookeeper.sh

zk_require_installed
zk_require_configured
warn_if_drift zoo.cfg "$ZK_CONF_DIR/zoo.cfg"
daemon_status || die "ZooKeeper is not running or not listening"

ruok=$(tcp_talk 127.0.0.1 "$ZK_PORT" ruok 2>/dev/null || true)
case $ruok in
  imok) log "ruok -> imok" ;;
  *whitelist*) die "four-letter words are disabled ($ruok): configure installs 4lw.commands.whitelist; restart after configure" ;;
  *) die "ruok answered '${ruok:-nothing}' instead of imok" ;;
esac
mode=$(zk_mode 127.0.0.1) || die "the local server is not serving: $mode"
log "local server: $mode"

mntr=$(tcp_talk 127.0.0.1 "$ZK_PORT" mntr 2>/dev/null || true)
awk '$1 ~ /^zk_(version|avg_latency|max_latency|outstanding_requests|znode_count|num_alive_connections|open_file_descriptor_count|max_file_descriptor_count|synced_followers|pending_syncs)$/ { print "  " $1 " " $2 }' <<<"$mntr"

mapfile -t peers < <(sed -n 's/^server\.[0-9]*=\([^:]*\):.*/\1/p' "$ZK_CONF_DIR/zoo.cfg")
if ((${#peers[@]} > 1)); then
  leaders=0
  down=0
  for peer in "${peers[@]}"; do
    if peer_mode=$(zk_mode "$peer"); then
      log "  $peer: $peer_mode"
      [[ $peer_mode == leader ]] && leaders=$((leaders + 1))
    else
      warn "  $peer: $peer_mode"
      down=$((down + 1))
    fi
  done
  ((leaders == 1)) || die "the ensemble has $leaders leader(s); expected exactly one"
  if ((down > 0)); then
    warn "$down of ${#peers[@]} ensemble member(s) are not serving; the quorum survives while a majority is up"
  fi
fi
log "ZooKeeper check passed"
