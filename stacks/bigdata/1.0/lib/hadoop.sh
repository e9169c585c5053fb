#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/.. source-path=SCRIPTDIR/../../..
# Hadoop (HDFS and YARN) layout, daemon control and commands for the bigdata stack; the hdfs
# and yarn scripts source this file. HDFS and YARN share one Hadoop install per host.
set -euo pipefail
source lib/bigdata.sh

HADOOP_VERSION=$(cfg hadoop_version 3.3.6)
HADOOP_HOME=$INSTALL_ROOT/hadoop
HADOOP_CONF_DIR=$HADOOP_HOME/etc/hadoop
HADOOP_LOG_DIR=$LOG_ROOT/hadoop
HADOOP_GROUP=hadoop

# hadoop_component COMPONENT: select COMPONENT's daemon (daemon_select): it runs as user hdfs
# or yarn, launched as `<user> COMPONENT` (H_SUBCOMMAND), and is named <user>-COMPONENT.
hadoop_component() {
  local pkg=org.apache.hadoop
  H_SUBCOMMAND=$1
  case $1 in
    namenode) hadoop_daemon hdfs "$pkg.hdfs.server.namenode.NameNode" "$(cfg hdfs_namenode_rpc_port 8020)" ;;
    datanode) hadoop_daemon hdfs "$pkg.hdfs.server.datanode.DataNode" "$(cfg hdfs_datanode_port 9866)" ;;
    resourcemanager) hadoop_daemon yarn "$pkg.yarn.server.resourcemanager.ResourceManager" "$(cfg yarn_resourcemanager_port 8032)" ;;
    nodemanager) hadoop_daemon yarn "$pkg.yarn.server.nodemanager.NodeManager" "$(cfg yarn_nodemanager_webapp_port 8042)" ;;
    *) die "unknown Hadoop component '$1'" ;;
  esac
}

# hadoop_daemon USER MARKER PORT: select the daemon of component H_SUBCOMMAND.
hadoop_daemon() {
  daemon_select "$1-$H_SUBCOMMAND" "$1" "$HADOOP_GROUP" "$2" "$3"
}

# hadoop_this: select the daemon of this task's component.
hadoop_this() {
  hadoop_component "${STEWARD_COMPONENT:?STEWARD_COMPONENT is not set}"
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
  local name="hadoop-$HADOOP_VERSION"
  release_install "hadoop/common/$name/$name.tar.gz" "$name" hadoop "$1" "$HADOOP_GROUP"
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
  daemon_start "$HADOOP_LOG_DIR/$D_NAME.out" \
    JAVA_HOME="$JAVA_HOME" HADOOP_HOME="$HADOOP_HOME" HADOOP_CONF_DIR="$HADOOP_CONF_DIR" \
    HADOOP_LOG_DIR="$HADOOP_LOG_DIR" HADOOP_LOGFILE="$D_NAME.log" HADOOP_ROOT_LOGGER=INFO,RFA \
    HADOOP_HEAPSIZE_MAX="$(cfg hadoop_heap_mb 1024)" HADOOP_OPTS="$(hadoop_opts)" \
    "$HADOOP_HOME/bin/$D_USER" "$H_SUBCOMMAND"
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
    install -d -o "$D_USER" -g "$HADOOP_GROUP" -m "$mode" "$dir"
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
    runuser -u "$D_USER" -- test -w "$dir" ||
      die "$dir is missing or not writable by $D_USER (run configure; check the disk is mounted)"
    if [[ $H_SUBCOMMAND == namenode && ! -f $dir/current/VERSION ]]; then
      die "the NameNode directory $dir is not formatted: run the namenode format command (new clusters only)"
    fi
  done < <(hadoop_data_dirs)
}

# --- commands: the start, stop, restart, status and configure scripts of HDFS and YARN act on
# the daemon of the task's component (STEWARD_COMPONENT) ----------------------------------

hadoop_cmd_start() {
  require_root
  hadoop_this
  hadoop_preflight
  hadoop_start
}

hadoop_cmd_stop() {
  require_root
  hadoop_this
  daemon_stop
}

# hadoop_cmd_restart: stop, then start, with the pre-start checks first so that a daemon that
# could not start again is left running.
hadoop_cmd_restart() {
  require_root
  hadoop_this
  hadoop_preflight
  daemon_stop
  hadoop_start
}

# hadoop_cmd_status: daemon_status of the component: 0 running with its port open, 3
# stopped, 1 running without the port.
hadoop_cmd_status() {
  hadoop_this
  hadoop_require_installed
  daemon_status
}

# hadoop_cmd_configure FILE...: install the rendered FILEs into the Hadoop conf dir and create
# the component's directories. CONF_CHANGED is 1 when a file changed (hadoop_configured
# reports it).
hadoop_cmd_configure() {
  require_root
  hadoop_this
  hadoop_require_installed
  getent passwd "$D_USER" >/dev/null || die "user $D_USER is missing (run install)"
  CONF_CHANGED=0
  hadoop_configure "$@" && CONF_CHANGED=1
  hadoop_make_dirs
}

# hadoop_configured: the last words of configure.
hadoop_configured() {
  if ((CONF_CHANGED)) && daemon_pid >/dev/null; then
    log "the configuration changed while $D_NAME runs: restart it to apply"
  fi
  log "$D_NAME is configured"
}
