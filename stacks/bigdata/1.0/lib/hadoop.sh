#!/usr/bin/env bash
# Hadoop (HDFS and YARN) layout and daemon control for the bigdata stack; sourced after
# lib/common.sh. HDFS and YARN share one Hadoop install per host.
set -euo pipefail

HADOOP_VERSION=$(cfg hadoop_version 3.3.6)
HADOOP_HOME=$INSTALL_ROOT/hadoop
HADOOP_CONF_DIR=$HADOOP_HOME/etc/hadoop
HADOOP_LOG_DIR=$LOG_ROOT/hadoop
HADOOP_GROUP=hadoop

# hadoop_component COMPONENT: select the daemon the hadoop_start/stop/status/pid functions
# act on: H_NAME (pid/log file name), H_USER, H_MARKER (JVM main class), H_PORT (the port
# that proves it is up) and H_COMMAND/H_SUBCOMMAND (how it is launched).
hadoop_component() {
  H_SUBCOMMAND=$1
  case $1 in
    namenode)
      H_NAME=hdfs-namenode H_USER=hdfs H_COMMAND=hdfs
      H_MARKER=org.apache.hadoop.hdfs.server.namenode.NameNode
      H_PORT=$(cfg hdfs_namenode_rpc_port 8020)
      ;;
    datanode)
      H_NAME=hdfs-datanode H_USER=hdfs H_COMMAND=hdfs
      H_MARKER=org.apache.hadoop.hdfs.server.datanode.DataNode
      H_PORT=$(cfg hdfs_datanode_port 9866)
      ;;
    resourcemanager)
      H_NAME=yarn-resourcemanager H_USER=yarn H_COMMAND=yarn
      H_MARKER=org.apache.hadoop.yarn.server.resourcemanager.ResourceManager
      H_PORT=$(cfg yarn_resourcemanager_port 8032)
      ;;
    nodemanager)
      H_NAME=yarn-nodemanager H_USER=yarn H_COMMAND=yarn
      H_MARKER=org.apache.hadoop.yarn.server.nodemanager.NodeManager
      H_PORT=$(cfg yarn_nodemanager_webapp_port 8042)
      ;;
    *) die "unknown Hadoop component '$1'" ;;
  esac
}

hadoop_require_installed() {
  [[ -x $HADOOP_HOME/bin/hdfs ]] || die "Hadoop is not installed in $HADOOP_HOME (run install)"
}

# hadoop_require_conf FILE...: the installed conf dir holds the Steward-rendered FILEs.
hadoop_require_conf() {
  local f
  hadoop_require_installed
  for f in "$@"; do
    grep -q 'Rendered by Steward' "$HADOOP_CONF_DIR/$f" 2>/dev/null ||
      die "$HADOOP_CONF_DIR/$f is not the Steward configuration (run configure)"
    warn_if_drift "$f" "$HADOOP_CONF_DIR/$f"
  done
}

# hadoop_install USER: install Java, users, and the Hadoop release (once per host; HDFS and
# YARN tasks on the same host take turns through a lock).
hadoop_install() {
  local user=$1 name="hadoop-$HADOOP_VERSION"
  require_root
  ensure_base_tools
  ensure_java
  take_lock hadoop
  ensure_user "$user" "$HADOOP_GROUP" "$DATA_ROOT/$user"
  fetch_artifact "hadoop/common/$name/$name.tar.gz"
  unpack_artifact "$name.tar.gz" "$name" hadoop
  install -d -o root -g "$HADOOP_GROUP" -m 0775 "$HADOOP_LOG_DIR"
  install -d -o root -g "$HADOOP_GROUP" -m 1777 "$DATA_ROOT/hadoop/tmp"
  log "Hadoop $HADOOP_VERSION is installed in $HADOOP_HOME; run configure next"
}

# hadoop_configure FILE...: install rendered config files into the Hadoop conf dir.
# Returns 0 when one of them changed.
hadoop_configure() {
  local f changed=1
  hadoop_require_installed
  for f in "$@"; do
    install_if_changed "$f" "$HADOOP_CONF_DIR/$f" 0644 && changed=0
  done
  return "$changed"
}

# hadoop_opts: extra JVM options; Java 16+ needs packages opened for Hadoop 3.3's reflection.
hadoop_opts() {
  local major
  major=$(java_major)
  if [[ $major =~ ^[0-9]+$ ]] && ((major >= 16)); then
    printf '%s' "-Djava.net.preferIPv4Stack=true --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED"
  else
    printf '%s' "-Djava.net.preferIPv4Stack=true"
  fi
}

# hadoop_start: run the selected daemon (e.g. `hdfs namenode`) in the foreground of a
# background session as its user; it logs to HADOOP_LOG_DIR/<name>.log (rolling).
hadoop_start() {
  hadoop_require_installed
  require_java
  daemon_start "$H_NAME" "$H_USER" "$H_MARKER" "$H_PORT" "$HADOOP_LOG_DIR/$H_NAME.out" \
    JAVA_HOME="$JAVA_HOME" HADOOP_HOME="$HADOOP_HOME" HADOOP_CONF_DIR="$HADOOP_CONF_DIR" \
    HADOOP_LOG_DIR="$HADOOP_LOG_DIR" HADOOP_LOGFILE="$H_NAME.log" HADOOP_ROOT_LOGGER=INFO,RFA \
    HADOOP_HEAPSIZE_MAX="$(cfg hadoop_heap_mb 1024)" HADOOP_OPTS="$(hadoop_opts)" \
    "$HADOOP_HOME/bin/$H_COMMAND" "$H_SUBCOMMAND"
}

hadoop_stop() {
  daemon_stop "$H_NAME" "$H_USER" "$H_MARKER"
}

# hadoop_status: 0 running with its port open, 3 stopped, 1 running without the port.
hadoop_status() {
  daemon_status "$H_NAME" "$H_USER" "$H_MARKER" "$H_PORT"
}

# hadoop_pid: print the selected daemon's pid; false when it is not running.
hadoop_pid() {
  daemon_pid "$H_NAME" "$H_USER" "$H_MARKER"
}

# hadoop_as USER COMMAND ARGS...: run a Hadoop client command (hdfs, yarn) as USER with the
# installed configuration; client logging at WARN on stderr.
hadoop_as() {
  local user=$1 command=$2
  shift 2
  hadoop_require_installed
  require_java
  (
    cd /
    setpriv --reuid="$user" --regid="$(id -gn "$user")" --init-groups -- \
      env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/ USER="$user" LANG=C.UTF-8 \
      JAVA_HOME="$JAVA_HOME" HADOOP_HOME="$HADOOP_HOME" HADOOP_CONF_DIR="$HADOOP_CONF_DIR" \
      HADOOP_LOG_DIR="$HADOOP_LOG_DIR" HADOOP_ROOT_LOGGER="${HADOOP_CLIENT_LOGGER:-WARN,console}" \
      HADOOP_OPTS="$(hadoop_opts)" "$HADOOP_HOME/bin/$command" "$@"
  )
}

# hadoop_dirs PROPERTY FILE: the directories listed in a *-site.xml property, one a line.
hadoop_dirs() {
  dir_list "$(xml_prop "$1" "$2")"
}

# hadoop_site: the installed *-site.xml that holds the selected component's directories.
hadoop_site() {
  case $H_SUBCOMMAND in
    namenode | datanode) printf '%s' "$HADOOP_CONF_DIR/hdfs-site.xml" ;;
    *) printf '%s' "$HADOOP_CONF_DIR/yarn-site.xml" ;;
  esac
}

# hadoop_data_dirs: the local directories the selected component writes, one a line.
hadoop_data_dirs() {
  case $H_SUBCOMMAND in
    namenode) hadoop_dirs dfs.namenode.name.dir "$(hadoop_site)" ;;
    datanode) hadoop_dirs dfs.datanode.data.dir "$(hadoop_site)" ;;
    nodemanager)
      hadoop_dirs yarn.nodemanager.local-dirs "$(hadoop_site)"
      hadoop_dirs yarn.nodemanager.log-dirs "$(hadoop_site)"
      ;;
  esac
}

# hadoop_make_dirs: create the selected component's directories, owned by its user.
hadoop_make_dirs() {
  local dir mode=0755
  [[ $H_SUBCOMMAND == namenode || $H_SUBCOMMAND == datanode ]] && mode=0700
  while read -r dir; do
    install -d -o "$H_USER" -g "$HADOOP_GROUP" -m "$mode" "$dir"
    log "directory $dir ($(df -h --output=avail "$dir" | awk 'NR == 2 { print $1 }') free)"
  done < <(hadoop_data_dirs)
}

# hadoop_preflight: what must hold before the selected daemon can start.
hadoop_preflight() {
  local dir
  case $H_SUBCOMMAND in
    namenode | datanode) hadoop_require_conf core-site.xml hdfs-site.xml ;;
    *) hadoop_require_conf core-site.xml yarn-site.xml mapred-site.xml ;;
  esac
  while read -r dir; do
    runuser -u "$H_USER" -- test -w "$dir" ||
      die "$dir is missing or not writable by $H_USER (run configure; check the disk is mounted)"
    if [[ $H_SUBCOMMAND == namenode && ! -f $dir/current/VERSION ]]; then
      die "the NameNode directory $dir is not formatted: run the namenode format command (new clusters only)"
    fi
  done < <(hadoop_data_dirs)
}
