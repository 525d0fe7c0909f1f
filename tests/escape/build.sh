#!/bin/sh
# Builds escape.wasm, the hostile guest of the sandbox tests, with Debian's
# clang and wasi-libc.
set -eu
cd "$(dirname "$0")"
${CLANG:-clang} --target=wasm32-wasi -O2 -s -Wall -Wno-unused-result -o escape.wasm escape.c
