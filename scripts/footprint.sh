#!/usr/bin/env bash
# The agent's footprint next to Debian's prometheus-node-exporter, in the same run: both
# collect every 5 s (the agent by itself, the exporter when scraped every 5 s) for DURATION
# seconds (600 by default); prints average and peak RSS, average CPU % of one core, and the
# ratios. The agent reports to a throw-away `steward serve` (whose own cost is not counted).
#
#   AGENT=…/release/steward-agent STEWARD=…/steward DURATION=600 bash scripts/footprint.sh
set -euo pipefail

DURATION=${DURATION:-600}
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/steward-target}
AGENT=${AGENT:-$TARGET/release/steward-agent}
STEWARD=${STEWARD:-$TARGET/release/steward}
EXPORTER_PORT=${EXPORTER_PORT:-9199}
TOKEN=footprint-token-0123456789

for bin in "$AGENT" "$STEWARD"; do
  [[ -x $bin ]] || { echo "footprint: $bin is missing; build it first (AGENT=, STEWARD= to choose)" >&2; exit 1; }
done
if ! command -v prometheus-node-exporter >/dev/null 2>&1; then
  echo "footprint: installing prometheus-node-exporter from Debian"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq prometheus-node-exporter
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

STEWARD_AGENT_TOKEN=$TOKEN STEWARD_LLM_PROVIDER=none STEWARD_ADMIN_PASSWORD=footprint-password-0123 \
  RUST_LOG=warn "$STEWARD" serve --data-dir "$work/server" --http 127.0.0.1:0 --grpc 127.0.0.1:0 \
  >"$work/server.out" 2>"$work/server.err" &
pids+=($!)
for _ in $(seq 1 100); do
  grep -q "agents connect to" "$work/server.out" 2>/dev/null && break
  sleep 0.2
done
grpc=$(sed -n 's/.*agents connect to \([0-9.:]*\)).*/\1/p' "$work/server.out" | head -1)
[[ -n $grpc ]] || { echo "footprint: the server did not start:" >&2; cat "$work/server.err" >&2; exit 1; }

STEWARD_AGENT_TOKEN=$TOKEN RUST_LOG=warn "$AGENT" --server "http://$grpc" --hostname footprint \
  --data-dir "$work/agent" 2>"$work/agent.err" &
agent=$!
pids+=("$agent")
prometheus-node-exporter --web.listen-address="127.0.0.1:$EXPORTER_PORT" >"$work/exporter.log" 2>&1 &
exporter=$!
pids+=("$exporter")
sleep 2
(while sleep 5; do curl -s -o /dev/null "http://127.0.0.1:$EXPORTER_PORT/metrics" || true; done) &
pids+=($!)

ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)
a0=$(ticks "$agent")
e0=$(ticks "$exporter")
a_sum=0 e_sum=0 a_max=0 e_max=0 n=0
start=$(date +%s)
while (($(date +%s) - start < DURATION)); do
  sleep 10
  a=$(rss_kib "$agent") e=$(rss_kib "$exporter")
  a_sum=$((a_sum + a)) e_sum=$((e_sum + e)) n=$((n + 1))
  ((a > a_max)) && a_max=$a
  ((e > e_max)) && e_max=$e
done
elapsed=$(($(date +%s) - start))
a1=$(ticks "$agent")
e1=$(ticks "$exporter")

awk -v d="$elapsed" -v hz="$hz" -v a_cpu=$((a1 - a0)) -v e_cpu=$((e1 - e0)) \
  -v a_rss=$((a_sum / n)) -v e_rss=$((e_sum / n)) -v a_max="$a_max" -v e_max="$e_max" 'BEGIN {
  ac = 100 * a_cpu / hz / d; ec = 100 * e_cpu / hz / d
  printf "footprint over %d s, 5 s interval\n", d
  printf "%-28s %10s %10s %12s\n", "", "RSS avg", "RSS peak", "CPU % core"
  printf "%-28s %8.1f MiB %7.1f MiB %11.3f\n", "steward-agent", a_rss / 1024, a_max / 1024, ac
  printf "%-28s %8.1f MiB %7.1f MiB %11.3f\n", "prometheus-node-exporter", e_rss / 1024, e_max / 1024, ec
  printf "%-28s %10.2f %10.2f %12.2f\n", "ratio agent / exporter", a_rss / e_rss, a_max / e_max, (ec > 0 ? ac / ec : 0)
}'
