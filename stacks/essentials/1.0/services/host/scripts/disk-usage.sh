#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../../../..
set -euo pipefail
# Show what uses the space under a directory (staying on its filesystem) and how full that
# filesystem is. Read-only.
source lib/common.sh

path=$(param path /var)
[[ $path == /* ]] || die "path must be absolute, got '$path'"
[[ -d $path ]] || die "$path does not exist or is not a directory"

log "filesystem holding $path:"
df -h "$path"
df -hi "$path" | awk 'NR > 1 { printf "inodes: %s used of %s (%s)\n", $3, $2, $5 }'

log "largest directories under $path (same filesystem only; may take a while):"
{ du -xh --max-depth=1 "$path" 2>/dev/null || true; } | sort -rh | awk 'NR <= 25'

log "largest files over 100 MiB under $path:"
found=$({ find "$path" -xdev -type f -size +100M -printf '%s\t%p\n' 2>/dev/null || true; } | sort -rn | awk 'NR <= 10')
if [[ -n $found ]]; then
  numfmt --field=1 --to=iec-i --suffix=B <<<"$found"
else
  log "none"
fi
