#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/../../../../..
set -euo pipefail
# Delete regular files older than DAYS days under PATH (/tmp or /var/tmp), without leaving
# the filesystem and without following symlinks. Prints what matched and the space freed.
source lib/common.sh

require_root
days=$(param days 7)
path=$(param path /tmp)
require_int days "$days" 1 365
[[ $path != *..* ]] || die "path must not contain '..'"
[[ -d $path ]] || die "$path does not exist or is not a directory"
# Check where the path really leads, not how it is spelt: a symlink anywhere in it (not only
# the last component) could point out of /tmp. Everything below works on the resolved path,
# and find never follows links under it.
path=$(real_dir_under "$path" /tmp /var/tmp) || exit 1

# The candidate files: regular files, this filesystem only, older than DAYS days. X server
# lock files are kept even when old, as a running display would lose them.
candidates() {
  find "$path" -xdev -type f -mtime +"$days" ! -name '.X*-lock' "$@" 2>/dev/null
}
used_bytes() { df -P -B1 "$path" | awk 'NR == 2 { print $3 }'; }

log "filesystem before cleaning:"
df -h "$path"
used_before=$(used_bytes)

read -r count bytes < <({ candidates -printf '%s\n' || true; } | awk '{ n++; s += $1 } END { printf "%d %d\n", n, s }')
if ((count == 0)); then
  log "no regular files older than $days day(s) under $path; nothing to do"
  exit 0
fi
log "$count file(s) older than $days day(s) under $path, $(numfmt --to=iec-i --suffix=B "$bytes") in total; the largest:"
{ candidates -printf '%s\t%TY-%Tm-%Td\t%p\n' || true; } | sort -rn | awk 'NR <= 15' | numfmt --field=1 --to=iec-i --suffix=B

log "deleting"
if ! candidates -delete; then
  warn "some files could not be deleted (in use by a read-only mount, immutable, or vanished)"
fi

remaining=$({ candidates -printf '.' || true; } | wc -c)
used_after=$(used_bytes)
freed=$((used_before > used_after ? used_before - used_after : 0))
log "deleted $((count - remaining)) of $count file(s); filesystem usage dropped by $(numfmt --to=iec-i --suffix=B "$freed")"
if ((freed * 2 < bytes)); then
  warn "less space was freed than the files' size: deleted files still open by a process keep their space until it closes them (see: lsof +L1)"
fi
log "filesystem after cleaning:"
df -h "$path"
