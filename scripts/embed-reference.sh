#!/usr/bin/env bash
# Side by side: `steward bench knowledge`'s local embedder against sentence-transformers on the
# same texts, in one run. Installs sentence-transformers (and PyTorch, several GB with its CUDA
# libraries) from PyPI into a throw-away virtualenv, $EMBED_REF_VENV (default
# ~/.cache/steward-embed-ref); not part of make test.
#   STEWARD   the steward binary (default: the release build in $CARGO_TARGET_DIR)
#   MODEL_DIR the model files (default: data/models/all-minilm-l6-v2)
#   CHUNKS    texts to embed (default 128)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${EMBED_REF_VENV:-$HOME/.cache/steward-embed-ref}
STEWARD=${STEWARD:-${CARGO_TARGET_DIR:-$HOME/.cache/steward-target}/release/steward}
MODEL_DIR=${MODEL_DIR:-data/models/all-minilm-l6-v2}
CHUNKS=${CHUNKS:-128}
if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import sentence_transformers' 2>/dev/null; then
  echo "[embed-reference] installing sentence-transformers into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check sentence-transformers
fi
texts=$(mktemp --suffix=.json)
trap 'rm -f "$texts"' EXIT
"$STEWARD" bench knowledge --sizes 0 --embed-chunks "$CHUNKS" --model-dir "$MODEL_DIR" --texts-out "$texts"
"$VENV/bin/python" scripts/embed-reference.py "$MODEL_DIR" "$texts"
