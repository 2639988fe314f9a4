#!/usr/bin/env bash
# The comparison with Kafka Streams (`streams-app bench kafka-streams`) against Apache
# Kafka on this machine: builds the Kafka Streams program of bench/kafka-streams (Maven),
# starts a broker from the jars of scripts/install-kafka.sh (one KRaft node on free
# 127.0.0.1 ports), runs both systems on the same records, compares their outputs and
# prints both rates and peak RSS, then stops the broker. Arguments go to the command,
# e.g. `bash scripts/bench-kafka-streams.sh --events 1000000 --heap 1g`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --tests
bash scripts/install-kafka.sh
bash scripts/build-kafka-streams-bench.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/streams-app/target}"
cargo build --release --workspace --all-targets --locked
bin="$CARGO_TARGET_DIR/release"

coproc BROKER { "$bin/kafka-broker"; }
broker_in=${BROKER[1]}
read -r bootstrap <&"${BROKER[0]}"
echo "broker: Apache Kafka at $bootstrap" >&2
status=0
"$bin/streams-app" bench kafka-streams --bootstrap-servers "$bootstrap" "$@" || status=$?
exec {broker_in}>&-
wait "$BROKER_PID" 2>/dev/null || true
exit $status
