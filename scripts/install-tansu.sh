#!/usr/bin/env bash
# Installs the Tansu broker (a Kafka-compatible broker used by the end-to-end tests) into
# ~/.cache/streams-app/tansu, once: later runs find it there. Building it takes about
# 15 minutes on 2 cores. Skipped when STREAMS_TEST_BOOTSTRAP names another broker.
set -euo pipefail

if [ -n "${STREAMS_TEST_BOOTSTRAP:-}" ]; then
  exit 0
fi
ROOT="${STREAMS_TANSU_ROOT:-$HOME/.cache/streams-app/tansu}"
if [ -x "$ROOT/bin/tansu" ]; then
  exit 0
fi
echo "install-tansu: building tansu 0.6.0 into $ROOT (about 15 minutes, once)" >&2
mkdir -p "$ROOT"
CARGO_TARGET_DIR="$HOME/.cache/streams-app/tansu-build" \
  cargo install tansu --version 0.6.0 --locked --features dynostore --root "$ROOT"
