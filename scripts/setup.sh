#!/usr/bin/env bash
# Installs what the build and the tests need and is missing; safe to run again.
set -euo pipefail

need=()
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v cc >/dev/null 2>&1 || need+=(build-essential)

if ((${#need[@]})); then
  echo "setup: installing ${need[*]} from Debian"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi

if ! command -v cargo-nextest >/dev/null 2>&1 && ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: installing cargo-nextest from crates.io"
  cargo install --locked cargo-nextest
fi
