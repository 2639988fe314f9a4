#!/usr/bin/env bash
# Runs every check and test: formatting, clippy (-D warnings) and the whole test suite,
# all with the release profile so RocksDB's C++ is compiled once for tests, benchmarks
# and end-to-end runs. The target directory lives outside the clone and is reused.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --tests
bash scripts/install-kafka.sh
# the Kafka Streams side of `bench kafka-streams` (its test compares both systems' outputs)
bash scripts/build-kafka-streams-bench.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/streams-app/target}"
mkdir -p "$CARGO_TARGET_DIR"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# The Python that has the readers (pandas, pyarrow, DuckDB) setup.sh installed.
export STREAMS_TEST_PYTHON="${STREAMS_TEST_PYTHON:-${STREAMS_VENV:-$HOME/.cache/streams-app/venv}/bin/python}"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --release --workspace --all-targets --locked -- -D warnings
echo "== tests"
# nextest does not run doctests; they go first so nextest's summary closes the output
cargo test --release --workspace --locked --doc
cargo nextest run --release --workspace --locked --no-fail-fast
