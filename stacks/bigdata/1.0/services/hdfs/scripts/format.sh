#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../..
set -euo pipefail
# Format the NameNode metadata directories: creates a NEW, empty HDFS namespace with a new
# clusterID. Refuses when a directory is already formatted unless force=yes, and always
# refuses while the NameNode runs. After a forced re-format every DataNode's data
# directories must be emptied (they keep the old clusterID).
source lib/hadoop.sh

require_root
hadoop_component namenode
hadoop_require_installed
hadoop_require_conf core-site.xml hdfs-site.xml
force=$(param force no)
[[ $force == yes || $force == no ]] || die "force must be 'yes' or 'no', got '$force'"
if pid=$(daemon_pid); then
  die "the NameNode is running (pid $pid); stop it before formatting"
fi

mapfile -t dirs < <(hadoop_data_dirs)
((${#dirs[@]})) || die "hdfs-site.xml names no dfs.namenode.name.dir"
formatted=0
for dir in "${dirs[@]}"; do
  if [[ -f $dir/current/VERSION ]]; then
    formatted=1
    log "$dir is already formatted: $(sed -n 's/^clusterID=/clusterID /p' "$dir/current/VERSION")"
  fi
done
if ((formatted)) && [[ $force != yes ]]; then
  die "the NameNode is already formatted; formatting again DESTROYS every file in HDFS. Nothing was changed. Re-run with force=yes only to wipe this cluster on purpose."
fi
if ((formatted)); then
  warn "force=yes: erasing the existing namespace in ${dirs[*]}"
fi

hadoop_make_dirs
args=(namenode -format -nonInteractive)
[[ $force == yes ]] && args+=(-force)
log "running hdfs ${args[*]} as hdfs"
HADOOP_CLIENT_LOGGER=INFO,console hadoop_as hdfs hdfs "${args[@]}" || die "formatting failed (see above)"
log "formatted: $(sed -n 's/^clusterID=/clusterID /p' "${dirs[0]}/current/VERSION")"
if ((formatted)); then
  warn "DataNodes that stored blocks for the old namespace will refuse to join (Incompatible clusterIDs) until their data directories are emptied"
fi
