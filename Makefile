# wharf's two commands:
#   make demo   build wharf, fetch CPython for WASI, build and run the seed's Python app
#   make test   every test (installs the Debian packages the guest builds need)

CARGO  ?= cargo
PYTHON ?= python3
WHARF  := target/release/wharf

# The `wharf` command's Linux tunings (an allocator that prefaults module
# loads, huge-page hints for compiled modules, a fixed-address binary):
# opt-in features of wharf-cli, each a no-op elsewhere. `make build
# FEATURES=` builds without them.
FEATURES ?= wharf-cli/tuning

# The build with wasmtime-environ's packed artifact tables (vendor/README.md):
# the published crate patched from the command line, in a target directory
# of its own so that the default build is not rebuilt.
PACKED_TARGET := target/packed
PACKED_PATCH  := --config 'patch.crates-io.wasmtime-environ.path="vendor/wasmtime-environ"'

FUZZ_SECONDS ?= 10

# containerd-shim-wharf-v1 (Linux): containerd's runtime io.containerd.wharf.v1,
# which runs wharf images on a containerd or Kubernetes node (docs/kubernetes.md).
PREFIX ?= /usr/local

.PHONY: all build build-packed install install-built shim install-shim demo test lint fmt clean python-runtime python-base sci-base base-images test-deps fuzz fuzz-smoke bench

all: build

build:
	$(CARGO) build --release --locked -p wharf-cli --features "$(FEATURES)"

# target/packed/release/wharf: the default build plus packed artifact tables.
# The patch changes what Cargo.lock records for wasmtime-environ, so the
# lock is put back as it was afterwards (cargo has no other lock file to
# write to on stable).
build-packed:
	mkdir -p $(PACKED_TARGET)
	cp Cargo.lock $(PACKED_TARGET)/Cargo.lock.default
	$(CARGO) build --release $(PACKED_PATCH) --target-dir $(PACKED_TARGET) \
		-p wharf-cli -p wharf-bench-embed \
		--features "$(FEATURES) wharf-cli/packed-tables wharf-bench-embed/packed-tables wharf-bench-embed/no-pie"; \
		status=$$?; cp $(PACKED_TARGET)/Cargo.lock.default Cargo.lock; exit $$status

# `wharf` into $(PREFIX)/bin, with its man pages and its completions for
# bash, zsh and fish where those shells look for them. DESTDIR stages it.
# As root, `make build && sudo make install-built` keeps target/ yours.
install: build
	$(MAKE) install-built

# What `install` puts in place, from the binary already built ($(WHARF)).
install-built:
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(WHARF) $(DESTDIR)$(PREFIX)/bin/wharf
	$(WHARF) man-pages $(DESTDIR)$(PREFIX)/share/man/man1
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	$(WHARF) completions bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/wharf
	$(WHARF) completions zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_wharf
	$(WHARF) completions fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/wharf.fish

shim:
	$(CARGO) build --release --locked -p containerd-shim-wharf

# Installs the shim where containerd looks for it (its PATH).
install-shim: shim
	install -D -m 755 target/release/containerd-shim-wharf-v1 $(DESTDIR)$(PREFIX)/bin/containerd-shim-wharf-v1

python-runtime: build
	$(PYTHON) manifests/python-3.12/fetch.py --wharf $(WHARF)

python-base: python-runtime
	$(WHARF) build -t python:3.12 manifests/python-3.12

# CPython 3.15 with numpy, pandas, scipy…: its first compile takes about a
# minute and 2 GB of memory.
sci-base: build
	$(PYTHON) manifests/python-3.15-sci/fetch.py
	$(WHARF) build -t python:3.15-sci manifests/python-3.15-sci

# Both base images, into the store WHARF_HOME names.
base-images: python-base sci-base

demo: python-base
	@echo
	@echo '$$ wharf build -t my-first-image guest-examples/python-app'
	@$(WHARF) build -t my-first-image guest-examples/python-app
	@echo
	@echo '$$ wharf run my-first-image'
	@$(WHARF) run my-first-image
	@echo
	@echo '$$ wharf run -e APP_ENV=Staging my-first-image'
	@$(WHARF) run -e APP_ENV=Staging my-first-image

test-deps:
	sh tests/install-deps.sh

# Every test: the end-to-end tests that need outside tools included
# (wharf-cli/toolchain-tests). A bare `cargo test` runs the rest and lists
# those as ignored, each with what it needs.
test: test-deps
	$(CARGO) test --release --locked --workspace --features "$(FEATURES) wharf-cli/toolchain-tests"
	sh .ci/standalone
	$(MAKE) fuzz-smoke

# Each fuzz target for FUZZ_SECONDS seconds; `make fuzz` runs 5 minutes each.
fuzz-smoke:
	sh fuzz/run.sh $(FUZZ_SECONDS)

fuzz:
	sh fuzz/run.sh 300

# Start-up and memory against baselines measured in the same run; writes
# bench/RESULTS.md. The Docker comparison needs root (BENCH_DOCKER=0 skips it).
bench:
	$(PYTHON) bench/run.py

# Formatting, clippy's warnings, and rustdoc's on the library's docs.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --locked --workspace --all-targets --features "$(FEATURES) wharf-cli/toolchain-tests" -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --release --locked --no-deps -p wharf

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
