#!/bin/sh
# Builds hello-rust.wasm with Debian's own rustc for wasm32-wasi
# (apt-get install rustc libstd-rust-dev-wasm32 lld). Debian's rustc is
# used on purpose: rustup toolchains here carry no wasm32 target.
set -eu
cd "$(dirname "$0")"
${DEBIAN_RUSTC:-/usr/bin/rustc} --edition 2021 --target wasm32-wasi -C opt-level=2 -C strip=symbols \
    -o hello-rust.wasm main.rs
