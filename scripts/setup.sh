#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian/Ubuntu machine, only if
# missing: libclang (bindgen for RocksDB), a C++ compiler, OpenSSL headers (librdkafka's
# TLS and SASL/SCRAM), Java 17 and Maven (the Apache Kafka broker of the real-broker
# tests, see scripts/install-kafka.sh), Chromium (the status page's browser test) and
# cargo-nextest (the test runner) with --tests.
set -euo pipefail

need_apt=()
# libclang itself (libclang.so / libclang-NN.so), not libclang-cpp, which bindgen cannot use.
if ! compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null \
  && ! compgen -G '/usr/lib/*/libclang-[0-9]*.so*' >/dev/null; then
  need_apt+=(libclang-dev)
fi
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
[ -f /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
# The tests also need (`setup.sh --tests`): Java and Maven for the Apache Kafka broker.
tests=false
[ "${1:-}" = "--tests" ] && tests=true
if $tests; then
  command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
fi

if ((${#need_apt[@]})); then
  echo "setup: installing ${need_apt[*]}" >&2
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Headless Chromium loads the status page in tests/live_view.rs (its recommended
# packages are a desktop's; the browser and its fonts are all the test needs).
if $tests && ! command -v chromium >/dev/null 2>&1; then
  echo "setup: installing chromium (the status page's browser test)" >&2
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install Rust with rustup (https://rustup.rs) and retry" >&2
  exit 1
fi

if $tests && ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: installing cargo-nextest from crates.io (a few minutes, once)" >&2
  cargo install --locked cargo-nextest
fi

# The readers test reads the Parquet output with pandas, pyarrow and DuckDB, from a
# virtual environment of their own (pinned in tests/readers/requirements.txt).
if $tests; then
  venv="${STREAMS_VENV:-$HOME/.cache/streams-app/venv}"
  if ! "$venv/bin/python" -c 'import pandas, pyarrow, duckdb' >/dev/null 2>&1; then
    echo "setup: installing pandas, pyarrow and duckdb into $venv (once)" >&2
    command -v python3 >/dev/null 2>&1 || {
      SUDO=""; [ "$(id -u)" != "0" ] && SUDO="sudo"
      $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3 python3-venv >/dev/null
    }
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      # Debian's python3 keeps venv in a package of its own.
      SUDO=""; [ "$(id -u)" != "0" ] && SUDO="sudo"
      $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install -q --disable-pip-version-check \
      -r "$(dirname "$0")/../tests/readers/requirements.txt"
  fi
fi
