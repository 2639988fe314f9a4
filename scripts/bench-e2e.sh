#!/usr/bin/env bash
# The end-to-end benchmark (`streams-app bench e2e`) against Apache Kafka on this
# machine: starts a broker from the jars of scripts/install-kafka.sh (one KRaft node on
# free 127.0.0.1 ports), runs the benchmark, stops the broker. Arguments go to
# `bench e2e`, e.g. `bash scripts/bench-e2e.sh --events 2000000 --latency-rate 20000`.
# Against a broker of your own: `streams-app bench e2e --bootstrap-servers HOST:PORT`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --tests
bash scripts/install-kafka.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/streams-app/target}"
cargo build --release --workspace --all-targets --locked
bin="$CARGO_TARGET_DIR/release"

coproc BROKER { "$bin/kafka-broker"; }
broker_in=${BROKER[1]}
read -r bootstrap <&"${BROKER[0]}"
echo "broker: Apache Kafka at $bootstrap" >&2
status=0
"$bin/streams-app" bench e2e --bootstrap-servers "$bootstrap" "$@" || status=$?
exec {broker_in}>&-
wait "$BROKER_PID" 2>/dev/null || true
exit $status
