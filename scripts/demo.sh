#!/usr/bin/env bash
# The one-command demo: installs what the build needs if missing (scripts/setup.sh),
# builds the release binary (once; ~30 minutes cold on 2 cores), then runs
# `streams-app demo`: an embedded broker, the producer, the reference topology to the
# end, the daily summary and a report. Extra arguments go to `streams-app demo`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/streams-app/target}"
mkdir -p "$CARGO_TARGET_DIR"
cargo build --release --locked -p streams-app
exec "$CARGO_TARGET_DIR/release/streams-app" demo "$@"
