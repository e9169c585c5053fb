#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/.. source-path=SCRIPTDIR/../../..
# Service control for the essentials stack's Debian packages, with and without systemd;
# sourced by the stack's lib/<service>.sh. Brings lib/common.sh (shared by every stack).
set -euo pipefail
source lib/common.sh

# How long start/restart wait for a service, in seconds.
# shellcheck disable=SC2034 # used by the service libs and scripts
START_WAIT=$(cfg service_start_wait 60)

# svc_manager UNIT: prints "systemd", "sysv" or "none" for how UNIT can be controlled here.
svc_manager() {
  local unit=$1
  if has_systemd && systemctl cat "$unit.service" >/dev/null 2>&1; then
    echo systemd
  elif [[ -x /etc/init.d/$unit ]]; then
    echo sysv
  else
    echo none
  fi
}

# svc_ctl ACTION UNIT [FALLBACK...]: start|stop|restart|reload UNIT through systemd or its
# init script. On a host with neither, run the command FALLBACK (which drives the daemon
# directly) when there is one, and fail otherwise.
svc_ctl() {
  local action=$1 unit=$2
  shift 2
  case $(svc_manager "$unit") in
    systemd)
      log "systemctl $action $unit"
      systemctl "$action" "$unit"
      ;;
    sysv)
      log "no systemd on this host: running /etc/init.d/$unit $action"
      if command -v service >/dev/null 2>&1; then
        service "$unit" "$action"
      else
        "/etc/init.d/$unit" "$action"
      fi
      ;;
    *)
      (($#)) || die "$unit has neither a systemd unit nor /etc/init.d/$unit; is it installed?"
      "$@"
      ;;
  esac
}

# svc_running UNIT PGREP-ARGS...: true when UNIT is active (systemd) or, without systemd, a
# process matches PGREP-ARGS (-x NAME, -f PATTERN).
svc_running() {
  local unit=$1
  shift
  if [[ $(svc_manager "$unit") == systemd ]]; then
    systemctl is-active --quiet "$unit"
  else
    pgrep "$@" >/dev/null
  fi
}

# svc_stop UNIT NAME FALLBACK PGREP-ARGS...: stop UNIT as svc_ctl does (FALLBACK on a host
# without a service manager). When UNIT is not active and no process matches, says NAME is
# not running and ends the script successfully.
svc_stop() {
  local unit=$1 name=$2 fallback=$3
  shift 3
  if ! svc_running "$unit" "$@" && ! pgrep "$@" >/dev/null; then
    log "$name is not running; nothing to do"
    exit 0
  fi
  svc_ctl stop "$unit" "$fallback"
}

# svc_installed UNIT WHAT: log how UNIT is managed on this host, after an install.
svc_installed() {
  case $(svc_manager "$1") in
    systemd) log "managed by systemd (unit $1.service); Debian starts it on first install" ;;
    sysv) log "no systemd: managed through /etc/init.d/$1" ;;
    *) log "no service manager found: start/stop drive $2 directly" ;;
  esac
}
