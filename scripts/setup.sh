#!/usr/bin/env bash
# Installs what the build and the tests need and is missing; safe to run again.
set -euo pipefail

need=()
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v cc >/dev/null 2>&1 || need+=(build-essential)
# llama.cpp (the local chat model, crate llm-local) is built with CMake, and bindgen needs libclang.
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v clang >/dev/null 2>&1 || need+=(clang)
dpkg-query -W -f='${Status}' libclang-dev 2>/dev/null | grep -q "install ok installed" || need+=(libclang-dev)
# `make test` runs the server's tests a second time on PostgreSQL (scripts/test-postgres.sh).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
# The web console is built with Node and npm (web/, Vite); Debian's own Node is too old for Vite,
# so only npm is added when it alone is missing.
command -v npm >/dev/null 2>&1 || need+=(npm)
# `make test` drives the console in Debian's Chromium (playwright-core never downloads a browser).
if [ "${1:-}" = "--test" ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi

if ((${#need[@]})); then
  echo "setup: installing ${need[*]} from Debian"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi

if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' 2>/dev/null; then
  echo "setup: the web console needs Node 20.19 or newer; found $(node --version 2>/dev/null || echo none)" >&2
  exit 1
fi

if ! command -v cargo-nextest >/dev/null 2>&1 && ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: installing cargo-nextest from crates.io"
  cargo install --locked cargo-nextest
fi

# The default local chat model; the llm-local tests load it.
bash "$(dirname "$0")/fetch-model.sh"

# The default local embedding model; the embed-local tests load it.
bash "$(dirname "$0")/fetch-embedder.sh"
