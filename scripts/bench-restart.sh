#!/usr/bin/env bash
# Measures what a SIGKILL under load costs, against Apache Kafka on this machine:
# produces EVENTS synthetic events to an 8-partition topic, runs the reference topology
# with the default settings (5-minute Parquet roll, transactions), kills it with SIGKILL
# once it has consumed KILL_AT records, restarts it with `--until end`, and prints the
# restart's recovery time (start to "running"), its peak RSS at that moment and at the
# end. (The broker's raw consume rate next to the app's is printed by the broker test:
# cargo nextest run --release -p streams-app --test broker_e2e --no-capture.)
# Usage: scripts/bench-restart.sh   (EVENTS=2000000 KILL_AT=1200000 by default)
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS="${EVENTS:-2000000}"
KILL_AT="${KILL_AT:-1200000}"
export NO_COLOR=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/streams-app/target}"
bash scripts/install-kafka.sh >/dev/null
cargo build --release -q -p streams-app
BIN="$CARGO_TARGET_DIR/release/streams-app"

since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
work="$(mktemp -d)"
broker_pid=""
app_pid=""
cleanup() {
  [ -n "$app_pid" ] && kill -9 "$app_pid" 2>/dev/null || true
  [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

bash scripts/kafka/start-broker.sh "$work/kafka" >"$work/broker.out" 2>&1 &
broker_pid=$!
for _ in $(seq 1 600); do
  grep -q "Kafka Server started" "$work/kafka/logs/server.log" 2>/dev/null && break
  sleep 0.1
done
bs="127.0.0.1:$(sed -n 's|^listeners=PLAINTEXT://127.0.0.1:\([0-9]*\),.*|\1|p' "$work/kafka/server.properties")"
echo "broker: Apache Kafka on $bs"

common=(--bootstrap-servers "$bs" --topology topology/clickstream.toml)
"$BIN" topics create "${common[@]}" --partitions 8 >/dev/null
start="$(date -u -d '-2 hours' +%Y-%m-%dT%H:%M:%SZ)"
t0=$(date +%s.%N)
"$BIN" produce --bootstrap-servers "$bs" --count "$EVENTS" --unthrottled --rate 1000 \
  --start-time "$start" --dims-dir topology/dims >/dev/null
echo "produced $EVENTS events in $(since "$t0") s"

run=("$BIN" run --app-id bench "${common[@]}" --state-dir "$work/state" --output-dir "$work/data")
RUST_LOG=info "${run[@]}" 2>"$work/victim.log" &
app_pid=$!
t0=$(date +%s.%N)
while :; do
  consumed=$({ grep -o ' consumed=[0-9]*' "$work/victim.log" || true; } | tail -1 | cut -d= -f2)
  [ "${consumed:-0}" -ge "$KILL_AT" ] && break
  kill -0 "$app_pid" 2>/dev/null || { cat "$work/victim.log" >&2; exit 1; }
  sleep 0.2
done
rate=$(awk -v c="$consumed" -v s="$(since "$t0")" 'BEGIN { printf "%d", c / s }')
kill -9 "$app_pid"
wait "$app_pid" 2>/dev/null || true
app_pid=""
echo "killed with SIGKILL at consumed=$consumed (about $rate events/s end to end, start-up included)"

t0=$(date +%s.%N)
RUST_LOG=info "${run[@]}" --until end 2>"$work/restart.log" &
app_pid=$!
hwm_at_running=""
while kill -0 "$app_pid" 2>/dev/null; do
  hwm=$(sed -n 's/^VmHWM:\s*//p' "/proc/$app_pid/status" 2>/dev/null || true)
  [ -n "$hwm" ] && last_hwm="$hwm"
  if [ -z "$hwm_at_running" ] && grep -q " running " "$work/restart.log"; then
    recovery=$(since "$t0")
    hwm_at_running="$hwm"
  fi
  sleep 0.05
done
wait "$app_pid"
app_pid=""
total=$(since "$t0")
grep -E "re-delivering|committed to Kafka" "$work/restart.log" | sed 's/^/  restart log: /'
echo "restart: recovered and processing again after ${recovery} s (peak RSS then ${hwm_at_running}); finished the remaining $((EVENTS - consumed)) events in ${total} s (peak RSS ${last_hwm})"
grep "end of input reached" "$work/restart.log" | sed 's/^/  /'

