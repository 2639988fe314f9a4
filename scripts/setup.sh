#!/usr/bin/env bash
# Installs what the build needs on a fresh Debian/Ubuntu machine, only if missing:
# libclang (bindgen for RocksDB), a C++ compiler, and cargo-nextest (optional: the test
# script falls back to `cargo test`).
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

if ((${#need_apt[@]})); then
  echo "setup: installing ${need_apt[*]}" >&2
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install Rust with rustup (https://rustup.rs) and retry" >&2
  exit 1
fi
