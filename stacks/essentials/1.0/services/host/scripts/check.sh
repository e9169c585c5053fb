#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../../../..
set -euo pipefail
# Host health summary: uptime, load, memory, swap, OOM kills, failed units and filesystems.
# Exits non-zero only when /proc is unreadable or a filesystem (blocks or inodes) is at
# least host_disk_fail_percent full; everything else is reported as a warning.
source lib/common.sh

disk_warn=$(cfg host_disk_warn_percent 90)
disk_fail=$(cfg host_disk_fail_percent 98)
load_warn=$(cfg host_load_warn_per_cpu 2)
mem_warn=$(cfg host_mem_available_warn_percent 10)
warnings=0
failures=0

for f in /proc/uptime /proc/loadavg /proc/meminfo; do
  [[ -r $f ]] || die "$f is not readable: /proc is not mounted or the host is badly broken"
done

os=$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release 2>/dev/null || true)
log "host ${STEWARD_HOSTNAME:-$(hostname)}: ${os:-unknown OS}, kernel $(uname -r)"

read -r up_seconds _ </proc/uptime
up=${up_seconds%.*}
log "up $((up / 86400))d $((up % 86400 / 3600))h $((up % 3600 / 60))m"

# --- load ---------------------------------------------------------------------------------
read -r load1 load5 load15 _ </proc/loadavg
cpus=$(nproc)
log "load average: $load1 (1m) $load5 (5m) $load15 (15m) on $cpus CPU(s)"
if awk -v l="$load5" -v c="$cpus" -v k="$load_warn" 'BEGIN { exit !(l > c * k) }'; then
  warn "5-minute load $load5 is above $load_warn per CPU; busiest processes:"
  ps -eo pid,user,pcpu,pmem,etime,comm --sort=-pcpu | awk 'NR <= 6'
  warnings=$((warnings + 1))
fi

# --- memory -------------------------------------------------------------------------------
meminfo() { awk -v k="$1:" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }' /proc/meminfo; }
mem_total=$(meminfo MemTotal)
mem_avail=$(meminfo MemAvailable)
swap_total=$(meminfo SwapTotal)
swap_free=$(meminfo SwapFree)
((mem_total > 0)) || die "/proc/meminfo reports no memory"
avail_pct=$((mem_avail * 100 / mem_total))
log "memory: $((mem_avail / 1024)) MiB available of $((mem_total / 1024)) MiB (${avail_pct}%)"
if ((avail_pct < mem_warn)); then
  warn "less than ${mem_warn}% of memory is available; largest processes:"
  ps -eo pid,user,rss,pmem,comm --sort=-rss | awk 'NR <= 6'
  warnings=$((warnings + 1))
fi
if ((swap_total > 0)); then
  swap_used_pct=$(((swap_total - swap_free) * 100 / swap_total))
  log "swap: ${swap_used_pct}% of $((swap_total / 1024)) MiB used"
  if ((swap_used_pct > 50)); then
    warn "more than half of swap is in use: the host is short of memory"
    warnings=$((warnings + 1))
  fi
else
  log "swap: none configured"
fi
oom_kills=$(awk '$1 == "oom_kill" { print $2 }' /proc/vmstat 2>/dev/null || true)
if [[ -n $oom_kills && $oom_kills -gt 0 ]]; then
  warn "the kernel OOM killer has killed $oom_kills process(es) since boot (see: journalctl -k | grep -i 'killed process')"
  warnings=$((warnings + 1))
fi

# --- services -----------------------------------------------------------------------------
if has_systemd; then
  failed_units=$(systemctl list-units --state=failed --no-legend --plain 2>/dev/null | awk '{ print $1 }' | paste -sd ' ' -)
  if [[ -n $failed_units ]]; then
    warn "failed systemd units: $failed_units"
    warnings=$((warnings + 1))
  else
    log "systemd: no failed units"
  fi
fi

# --- filesystems --------------------------------------------------------------------------
df_excludes=(-x tmpfs -x devtmpfs -x squashfs -x efivarfs -x ramfs -x nsfs)
log "filesystems:"
df -hT "${df_excludes[@]}" 2>/dev/null || warn "df reported errors (stale network mounts?)"

# check_usage KIND: read `df -P` style lines (filesystem, size, used, avail, pct, mount).
check_usage() {
  local kind=$1 fs pct mount
  while read -r fs _ _ _ pct mount; do
    pct=${pct%\%}
    [[ $pct =~ ^[0-9]+$ ]] || continue
    if ((pct >= disk_fail)); then
      printf '[%s] FAILURE: %s on %s (%s) is %s%% full\n' "$(date '+%H:%M:%S')" "$kind" "$mount" "$fs" "$pct"
      failures=$((failures + 1))
    elif ((pct >= disk_warn)); then
      warn "$kind on $mount ($fs) is $pct% full"
      warnings=$((warnings + 1))
    fi
  done
}
check_usage "disk space" < <(df -P "${df_excludes[@]}" 2>/dev/null | awk 'NR > 1')
check_usage "inodes" < <(df -Pi "${df_excludes[@]}" 2>/dev/null | awk 'NR > 1')

root_opts=$(awk '$2 == "/" { opts = $4 } END { print opts }' /proc/mounts)
if [[ ,$root_opts, == *,ro,* ]]; then
  warn "the root filesystem is mounted read-only (after I/O errors? see: dmesg | tail)"
  warnings=$((warnings + 1))
fi

if ((failures > 0)); then
  die "host check FAILED: $failures filesystem(s) at or above ${disk_fail}% ($warnings warning(s)); free space with 'disk-usage' and 'clean-tmp'"
fi
log "host check OK ($warnings warning(s))"
