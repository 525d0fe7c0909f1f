#!/bin/sh
# Builds hello.wasm with Debian's clang and wasi-libc
# (apt-get install clang lld wasi-libc libclang-rt-dev-wasm32).
set -eu
cd "$(dirname "$0")"
${CLANG:-clang} --target=wasm32-wasi -O2 -s -Wall -Werror -o hello.wasm hello.c
