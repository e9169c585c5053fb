#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/.. source-path=SCRIPTDIR/../../..
# Helpers for the bigdata stack: the install layout, users, Java, release artifacts and
# background daemons with pid files; sourced by the stack's lib/<service>.sh. Brings
# lib/common.sh (logging, config access and the rest shared by every stack).
set -euo pipefail
source lib/common.sh

# Layout shared by every service; the scripts sourcing this file use these.
INSTALL_ROOT=$(cfg install_root /opt/steward)
# shellcheck disable=SC2034
DATA_ROOT=$(cfg data_root /var/lib/steward)
# shellcheck disable=SC2034
LOG_ROOT=$(cfg log_root /var/log/steward)
RUN_DIR=/run/steward

# ensure_base_tools: the commands the stack's scripts rely on (minimal images lack some).
ensure_base_tools() {
  local missing=()
  command -v pgrep >/dev/null 2>&1 || missing+=(procps)
  command -v curl >/dev/null 2>&1 || missing+=(curl ca-certificates)
  command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
  if ((${#missing[@]})); then
    apt_install "${missing[@]}"
  fi
}

# take_lock NAME: serialise tasks that touch the same install (e.g. hdfs and yarn both
# unpack Hadoop) for up to 15 minutes. The lock is released when the script exits.
take_lock() {
  install -d -m 0755 /run/lock
  exec 9>"/run/lock/steward-$1.lock"
  log "waiting for the $1 install lock"
  flock -w 900 9 || die "another task has held the $1 install lock for 15 minutes"
}

# ensure_user USER GROUP HOME: create a system group and a login-less system user.
ensure_user() {
  local user=$1 group=$2 home=$3
  if ! getent group "$group" >/dev/null; then
    log "creating system group $group"
    groupadd --system "$group"
  fi
  if ! getent passwd "$user" >/dev/null; then
    log "creating system user $user (group $group, home $home)"
    useradd --system --gid "$group" --home-dir "$home" --no-create-home \
      --shell /usr/sbin/nologin --comment "Steward-managed $user" "$user"
  fi
  install -d -o "$user" -g "$group" -m 0750 "$home"
}

# --- Java ---------------------------------------------------------------------------------

# find_java_home: print the Java home to use: config java_home, $JAVA_HOME, the java on
# PATH, then the first /usr/lib/jvm/*. Fails when there is none.
find_java_home() {
  local home java
  home=$(cfg java_home)
  if [[ -n $home ]]; then
    [[ -x $home/bin/java ]] || return 1
    printf '%s' "$home"
    return 0
  fi
  if [[ -n ${JAVA_HOME:-} && -x ${JAVA_HOME:-}/bin/java ]]; then
    printf '%s' "$JAVA_HOME"
    return 0
  fi
  if java=$(command -v java 2>/dev/null); then
    java=$(readlink -f "$java")
    printf '%s' "${java%/bin/java}"
    return 0
  fi
  for java in /usr/lib/jvm/*/bin/java; do
    if [[ -x $java ]]; then
      printf '%s' "${java%/bin/java}"
      return 0
    fi
  done
  return 1
}

# require_java: export JAVA_HOME or fail with what to do about it.
require_java() {
  JAVA_HOME=$(find_java_home) ||
    die "no usable Java: set java_home to a JDK/JRE directory, or run install (it installs $(cfg java_package default-jre-headless))"
  export JAVA_HOME
}

# java_major: the feature version of $JAVA_HOME's java (8, 11, 17, ...).
java_major() {
  "$JAVA_HOME/bin/java" -version 2>&1 |
    awk -F'"' '/version/ { split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit }'
}

# ensure_java: install java_package when no Java is found, then export JAVA_HOME.
ensure_java() {
  local pkg
  if ! find_java_home >/dev/null; then
    pkg=$(cfg java_package default-jre-headless)
    [[ -n $pkg ]] || die "no Java found and java_package is empty: install a JRE or set java_home"
    log "no Java runtime found; installing $pkg"
    apt_install "$pkg"
  fi
  require_java
  log "Java: $JAVA_HOME ($("$JAVA_HOME/bin/java" -version 2>&1 | awk 'NR == 1'))"
}

# --- release artifacts --------------------------------------------------------------------

# sha512_from FILE: the hex digest in a .sha512 file, in any of the formats Apache projects
# publish (sha512sum, BSD "SHA512 (f) = x", GnuPG --print-md). Prints nothing if unparsable.
sha512_from() {
  local sums=$1 hex
  hex=$(awk 'NF { print $1; exit }' "$sums")
  if [[ ! $hex =~ ^[0-9a-fA-F]{128}$ ]]; then
    hex=$(sed -n 's/^SHA512 *(.*) *= *\([0-9a-fA-F]\{128\}\).*/\1/p' "$sums" | awk 'NR == 1')
  fi
  if [[ ! $hex =~ ^[0-9a-fA-F]{128}$ ]]; then
    hex=$(tr -d ' \t\r\n' <"$sums" | sed 's/^[^:]*://')
  fi
  if [[ $hex =~ ^[0-9a-fA-F]{128}$ ]]; then
    printf '%s' "${hex,,}"
  fi
}

# verify_sha512 FILE: check FILE against FILE.sha512 when there is one (warn when not).
verify_sha512() {
  local file=$1 expected actual
  if [[ ! -s $file.sha512 ]]; then
    warn "no checksum published next to $(basename "$file"): it is NOT verified"
    return 0
  fi
  expected=$(sha512_from "$file.sha512")
  if [[ -z $expected ]]; then
    warn "cannot read a SHA-512 digest from $file.sha512: $(basename "$file") is NOT verified"
    return 0
  fi
  actual=$(sha512sum "$file" | awk '{ print $1 }')
  if [[ $actual != "$expected" ]]; then
    rm -f "$file" "$file.sha512"
    die "SHA-512 mismatch for $(basename "$file"): expected $expected, got $actual (removed; run install again)"
  fi
  log "SHA-512 verified: $(basename "$file")"
}

# fetch_artifact REL_PATH: make sure download_dir holds the tarball at REL_PATH below
# artifact_base (URL: curl; directory: cp, also accepting the bare file name) and that it
# matches its published checksum. Prints nothing; the file is download_dir/<basename>.
fetch_artifact() {
  local rel=$1 base name dir dest src
  base=$(cfg artifact_base https://archive.apache.org/dist)
  base=${base%/}
  name=${rel##*/}
  dir=$(cfg download_dir /var/cache/steward/artifacts)
  dest=$dir/$name
  install -d -m 0755 "$dir"
  if [[ -s $dest ]]; then
    log "using the cached $dest"
  else
    rm -f "$dest.sha512" "$dest.part"
    case $base in
      http://* | https://*)
        log "downloading $base/$rel"
        curl -fL --retry 3 --retry-delay 5 --connect-timeout 30 -sS -o "$dest.part" "$base/$rel" ||
          die "download of $base/$rel failed (wrong version, or no network/proxy? set artifact_base to a mirror or a local directory)"
        if curl -fsSL --retry 2 --connect-timeout 30 -o "$dest.sha512" "$base/$rel.sha512" 2>/dev/null; then
          log "fetched $name.sha512"
        else
          rm -f "$dest.sha512"
        fi
        ;;
      file://* | /*)
        base=${base#file://}
        src=$base/$rel
        [[ -f $src ]] || src=$base/$name
        [[ -f $src ]] || die "$name is not in $base (looked for $base/$rel and $base/$name)"
        log "copying $src"
        cp "$src" "$dest.part"
        if [[ -f $src.sha512 ]]; then
          cp "$src.sha512" "$dest.sha512"
        fi
        ;;
      *)
        die "artifact_base must be an http(s):// URL or an absolute directory, got '$base'"
        ;;
    esac
    mv "$dest.part" "$dest"
  fi
  verify_sha512 "$dest"
}

# unpack_artifact NAME TOPDIR LINK: unpack download_dir/NAME into install_root (once) and
# point install_root/LINK at its top-level directory TOPDIR.
unpack_artifact() {
  local tarball topdir=$2 link=$3 tmp
  tarball=$(cfg download_dir /var/cache/steward/artifacts)/$1
  install -d -m 0755 "$INSTALL_ROOT"
  if [[ -d $INSTALL_ROOT/$topdir ]]; then
    log "$INSTALL_ROOT/$topdir already exists; not unpacking again"
  else
    log "unpacking $1 into $INSTALL_ROOT"
    tmp=$(mktemp -d "$INSTALL_ROOT/.unpack.XXXXXX")
    tar -xzf "$tarball" -C "$tmp" --no-same-owner
    if [[ ! -d $tmp/$topdir ]]; then
      rm -rf "$tmp"
      die "$1 does not contain $topdir/ (is it the right artifact?)"
    fi
    mv "$tmp/$topdir" "$INSTALL_ROOT/$topdir"
    rm -rf "$tmp"
  fi
  ln -sfn "$topdir" "$INSTALL_ROOT/$link"
  log "$INSTALL_ROOT/$link -> $topdir"
}


# release_install REL TOPDIR LINK USER GROUP: as root, install Java and the system user USER
# (group GROUP), then the release tarball at REL below artifact_base, unpacked as
# install_root/TOPDIR and linked from install_root/LINK. Tasks installing into the same LINK
# take turns through a lock.
release_install() {
  local rel=$1 topdir=$2 link=$3 user=$4 group=$5
  require_root
  ensure_base_tools
  ensure_java
  take_lock "$link"
  ensure_user "$user" "$group" "$DATA_ROOT/$user"
  fetch_artifact "$rel"
  unpack_artifact "${rel##*/}" "$topdir" "$link"
}

# xml_prop NAME FILE: the value of a Hadoop property written as one
# <property><name>NAME</name><value>VALUE</value></property> line.
xml_prop() {
  local name=${1//./\\.}
  sed -n "s|.*<name>$name</name>[[:space:]]*<value>\([^<]*\)</value>.*|\1|p" "$2" | awk 'NR == 1'
}

# --- daemons ------------------------------------------------------------------------------

# daemon_select NAME USER GROUP MARKER PORT: select the daemon the daemon_* functions act on.
# NAME names its pid file (/run/steward/NAME.pid) and log directory (log_root/NAME), it runs
# as USER (group GROUP), MARKER is a string in its command line (the JVM main class) so a
# stale pid file or a recycled pid is never mistaken for it, and PORT open proves it is up.
daemon_select() {
  D_NAME=$1 D_USER=$2 D_GROUP=$3 D_MARKER=$4 D_PORT=$5
}

alive() {
  [[ -d /proc/$1 ]] && [[ $(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) != Z ]]
}

# is_daemon PID: PID is alive and its command line contains the selected daemon's marker.
is_daemon() {
  local cmdline
  alive "$1" || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$D_MARKER"* ]]
}

# daemon_pid: print the selected daemon's pid; false when it is not running.
daemon_pid() {
  local pidfile=$RUN_DIR/$D_NAME.pid pid=""
  if [[ -r $pidfile ]]; then
    pid=$(<"$pidfile")
    if [[ $pid =~ ^[0-9]+$ ]] && is_daemon "$pid"; then
      printf '%s' "$pid"
      return 0
    fi
  fi
  pid=$(pgrep -u "$D_USER" -f -- "$D_MARKER" 2>/dev/null | awk 'NR == 1') || true
  [[ -n $pid ]] || return 1
  printf '%s' "$pid"
}

# daemon_install REL TOPDIR LABEL VERSION: install the selected daemon's release as
# release_install does (linked from install_root/NAME), create its log directory and warn
# when LABEL still runs from the previous files.
daemon_install() {
  local pid
  release_install "$1" "$2" "$D_NAME" "$D_USER" "$D_GROUP"
  install -d -o "$D_USER" -g "$D_GROUP" -m 0750 "$LOG_ROOT/$D_NAME"
  if pid=$(daemon_pid); then
    warn "$3 is running (pid $pid) from the previous files: run configure, then restart to use $4"
  fi
}

# daemon_start OUTFILE [VAR=VALUE...] COMMAND [ARGS...]: run COMMAND in the background as the
# selected daemon's user in its own session, with a clean environment plus the given
# variables, stdout/stderr appended to OUTFILE and the working directory OUTFILE's folder.
# Writes the pid file and waits (start_wait_seconds) for its port on this host. A daemon
# that is already running is not started twice; its port is still waited for.
daemon_start() {
  local out=$1
  shift
  local name=$D_NAME user=$D_USER port=$D_PORT pidfile=$RUN_DIR/$D_NAME.pid
  local outdir limit launcher pid group home waited=0
  outdir=$(dirname "$out")
  limit=$(cfg start_wait_seconds 150)
  install -d -m 0755 "$RUN_DIR"

  if launcher=$(daemon_pid); then
    log "$name is already running (pid $launcher)"
  else
    group=$(id -gn "$user")
    home=$(getent passwd "$user" | cut -d: -f6)
    # A log directory shared by several daemons (Hadoop's) keeps the owner install gave it.
    [[ -d $outdir ]] || install -d -o "$user" -g "$group" -m 0755 "$outdir"
    printf '==== %s started by Steward task %s\n' "$(date '+%F %T')" "${STEWARD_TASK_ID:-?}" >>"$out"
    log "starting $name as $user (console output: $out)"
    (
      cd "$outdir"
      exec setsid setpriv --reuid="$user" --regid="$group" --init-groups -- \
        env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$home" USER="$user" LOGNAME="$user" LANG=C.UTF-8 "$@"
    ) >>"$out" 2>&1 </dev/null &
    launcher=$!
  fi
  printf '%s\n' "$launcher" >"$pidfile"

  log "waiting up to ${limit}s for $name to listen on port $port"
  until port_open 127.0.0.1 "$port"; do
    if ! alive "$launcher" && ! daemon_pid >/dev/null; then
      rm -f "$pidfile"
      log "last lines of $out:"
      tail -n 30 "$out" || true
      die "$name exited during start-up; see $out and the logs in $outdir"
    fi
    ((waited < limit)) ||
      die "$name is running but port $port is still closed after ${limit}s; see $out (raise start_wait_seconds for slow starts)"
    sleep 2
    waited=$((waited + 2))
  done
  # The launcher scripts exec the JVM, so this is normally the same pid; make sure.
  pid=$(daemon_pid) || die "$name opened port $port but its process is gone"
  printf '%s\n' "$pid" >"$pidfile"
  log "$name is up (pid $pid, port $port open after ${waited}s)"
}

# daemon_stop: TERM the selected daemon, wait stop_wait_seconds, then KILL.
daemon_stop() {
  local name=$D_NAME pidfile=$RUN_DIR/$D_NAME.pid limit pid waited=0
  limit=$(cfg stop_wait_seconds 90)
  if ! pid=$(daemon_pid); then
    log "$name is not running; nothing to stop"
    rm -f "$pidfile"
    return 0
  fi
  log "stopping $name (pid $pid): TERM, KILL after ${limit}s"
  kill -TERM "$pid" 2>/dev/null || true
  while alive "$pid"; do
    if ((waited >= limit)); then
      warn "$name (pid $pid) is still running after ${limit}s; sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 3
      break
    fi
    sleep 1
    waited=$((waited + 1))
  done
  if alive "$pid"; then
    die "$name (pid $pid) survived KILL (stuck in uninterruptible I/O? see dmesg)"
  fi
  rm -f "$pidfile"
  log "$name is stopped"
}

# daemon_status: describe the selected daemon. Returns 0 when it runs and its port is open,
# 3 when it is not running, 1 when it runs without its port.
daemon_status() {
  local pid rss
  if ! pid=$(daemon_pid); then
    log "$D_NAME is NOT running"
    return 3
  fi
  rss=$(awk '/^VmRSS:/ { printf "%d MiB", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || true)
  log "$D_NAME is running: pid $pid, user $D_USER, up $(ps -o etime= -p "$pid" | tr -d ' '), resident memory ${rss:-?}"
  if port_open 127.0.0.1 "$D_PORT"; then
    log "port $D_PORT is accepting connections"
  else
    warn "port $D_PORT is NOT accepting connections"
    return 1
  fi
}
