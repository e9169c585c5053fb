#!/usr/bin/env bash
# Moves each release binary's debug info into BINARY.debug beside it, leaving a stripped
# binary that names its debug file (.gnu_debuglink): what `make run` starts and a package
# ships is small, and gdb or a crash report can still find lines in the .debug file.
# Idempotent: a binary without debug info is left as it is.
set -euo pipefail
for bin in "$@"; do
    [[ -f "$bin" ]] || { echo "split-debug: no such file: $bin" >&2; exit 1; }
    if ! objdump -h "$bin" | grep -q '\.debug_info'; then
        continue
    fi
    objcopy --only-keep-debug --compress-debug-sections=zlib "$bin" "$bin.debug"
    objcopy --strip-debug --add-gnu-debuglink="$bin.debug" "$bin" "$bin.stripped"
    mv "$bin.stripped" "$bin"
    printf 'split-debug: %s %s, debug info in %s (%s)\n' "$bin" "$(du -h "$bin" | cut -f1)" "$bin.debug" "$(du -h "$bin.debug" | cut -f1)"
done
