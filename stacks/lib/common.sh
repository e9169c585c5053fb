#!/usr/bin/env bash
set -euo pipefail
# Helpers shared by every stack: logging, config and parameter access, checks, apt, files and
# the network. The server ships this file with every task as lib/common.sh; a stack's own
# lib/*.sh source it (scripts of a stack without one source it directly). Values come only
# from environment variables (STEWARD_CONFIG_<KEY>, STEWARD_PARAM_<NAME>); nothing here is
# templated.

export LC_ALL=C

log() { printf '[%s] %s\n' "$(date '+%H:%M:%S')" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "$(date '+%H:%M:%S')" "$*"; }
die() {
  printf '[%s] ERROR: %s\n' "$(date '+%H:%M:%S')" "$*" >&2
  exit 1
}

# cfg KEY [DEFAULT]: the cluster config value STEWARD_CONFIG_<KEY>, or DEFAULT when unset/empty.
cfg() {
  local var="STEWARD_CONFIG_${1^^}"
  printf '%s' "${!var:-${2:-}}"
}

# param NAME [DEFAULT]: the command parameter STEWARD_PARAM_<NAME>, or DEFAULT.
param() {
  local var="STEWARD_PARAM_${1^^}"
  var=${var//-/_}
  printf '%s' "${!var:-${2:-}}"
}

require_root() {
  [[ $(id -u) -eq 0 ]] || die "this command must run as root (running as $(id -un))"
}

require_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "required command '$c' is not installed"
  done
}

# require_int NAME VALUE MIN MAX: fail unless VALUE is an integer within MIN..MAX.
require_int() {
  local name=$1 value=$2 min=$3 max=$4
  [[ $value =~ ^[0-9]+$ ]] || die "$name must be an integer, got '$value'"
  ((value >= min && value <= max)) || die "$name must be within $min..$max, got $value"
}

# real_dir_under PATH ROOT...: prints the directory PATH with every symlink resolved, when
# that is one of the ROOTs (resolved too) or below one; dies otherwise. Scripts that delete
# or write work on the printed path: a symlink anywhere in PATH, not only its last
# component, must not lead them out of the directories they are allowed to touch.
real_dir_under() {
  local path=$1 real root rroot
  shift
  real=$(realpath -e -- "$path") || die "cannot resolve $path"
  [[ -d $real ]] || die "$path is not a directory"
  for root in "$@"; do
    rroot=$(realpath -e -- "$root" 2>/dev/null) || continue
    if [[ $real == "$rroot" || $real == "$rroot"/* ]]; then
      printf '%s' "$real"
      return 0
    fi
  done
  die "refusing $path: it resolves to $real, outside $*"
}

# apt_install PACKAGE...: non-interactive install that keeps existing config files and
# waits for a concurrent apt/dpkg (unattended-upgrades) instead of failing on the lock.
apt_install() {
  require_root
  export DEBIAN_FRONTEND=noninteractive
  log "apt-get update"
  apt-get -q -o DPkg::Lock::Timeout=300 update || warn "apt-get update failed; trying the cached package lists"
  log "apt-get install -y $*"
  apt-get -q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confold install "$@"
}

has_systemd() {
  [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1
}

# --- processes ----------------------------------------------------------------------------

# wait_for_no_process TIMEOUT PGREP-ARGS...: wait until pgrep finds nothing.
wait_for_no_process() {
  local limit=$1 waited=0
  shift
  while pgrep "$@" >/dev/null; do
    ((waited < limit)) || return 1
    sleep 1
    waited=$((waited + 1))
  done
}

# reap TIMEOUT SIGNAL WARNING PGREP-ARGS...: wait up to TIMEOUT seconds for the processes
# pgrep finds to exit; if some remain, warn WARNING, send them SIGNAL and wait 10 seconds
# more. False when they outlive that too.
reap() {
  local limit=$1 signal=$2 warning=$3
  shift 3
  wait_for_no_process "$limit" "$@" && return 0
  warn "$warning"
  pkill "-$signal" "$@" || true
  wait_for_no_process 10 "$@"
}

# --- files --------------------------------------------------------------------------------

# install_if_changed SRC DEST [MODE] [OWNER:GROUP]: install the rendered SRC at DEST,
# printing a diff and keeping the previous file as DEST.steward-prev. Returns 0 when DEST
# changed and 1 when it was already identical.
install_if_changed() {
  local src=$1 dest=$2 mode=${3:-0644} owner=${4:-root:root}
  [[ -f $src ]] || die "rendered file '$src' is missing from the task directory"
  if [[ -f $dest ]] && cmp -s "$src" "$dest"; then
    log "$dest is up to date"
    return 1
  fi
  # Callers test the result (`install_if_changed ... && changed=1`), which suspends set -e
  # in here: every step that can fail says so explicitly.
  if [[ -f $dest ]]; then
    log "updating $dest:"
    diff -u "$dest" "$src" || true
    cp -p "$dest" "$dest.steward-prev" || die "cannot back up $dest"
  else
    log "creating $dest"
  fi
  install -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$src" "$dest" || die "cannot write $dest"
}

# warn_if_drift RENDERED INSTALLED: warn when the installed file is not what the cluster's
# configuration renders to today (someone edited it, or configure was not run).
warn_if_drift() {
  if [[ -f $1 && -f $2 ]] && ! cmp -s "$1" "$2"; then
    warn "$2 differs from the cluster configuration; run configure to apply it"
  fi
}

# dir_list VALUE: split a comma-separated directory list (file:// URIs allowed), one a line.
dir_list() {
  local d
  local -a parts
  IFS=, read -ra parts <<<"$1"
  for d in "${parts[@]}"; do
    d=${d#file://}
    d=${d//[[:space:]]/}
    [[ -n $d ]] && printf '%s\n' "$d"
  done
  return 0
}

# --- network ------------------------------------------------------------------------------

# port_open HOST PORT: true when a TCP connection to HOST:PORT succeeds within 2 seconds.
port_open() {
  # shellcheck disable=SC2016 # $1/$2 belong to the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# wait_for_port HOST PORT TIMEOUT: wait until HOST:PORT accepts connections.
wait_for_port() {
  local host=$1 port=$2 limit=$3 waited=0
  log "waiting up to ${limit}s for $host:$port to accept connections"
  until port_open "$host" "$port"; do
    ((waited < limit)) || return 1
    sleep 2
    waited=$((waited + 2))
  done
  log "$host:$port is accepting connections (after ${waited}s)"
}

# tcp_talk HOST PORT WORD: send WORD over TCP and print the reply (the server closes the
# connection after answering, as ZooKeeper does for its four-letter words).
tcp_talk() {
  # shellcheck disable=SC2016 # $1..$3 belong to the inner bash
  timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "%s" "$3" >&3 && cat <&3' _ "$1" "$2" "$3"
}
