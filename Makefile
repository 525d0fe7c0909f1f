# wharf's two commands:
#   make demo   build wharf, fetch CPython for WASI, build and run the seed's Python app
#   make test   every test (installs the Debian packages the guest builds need)

CARGO  ?= cargo
PYTHON ?= python3
WHARF  := target/release/wharf

FUZZ_SECONDS ?= 10

.PHONY: all build demo test lint fmt clean python-runtime python-base sci-base base-images test-deps fuzz fuzz-smoke bench

all: build

build:
	$(CARGO) build --release --locked

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

test: test-deps
	$(CARGO) test --release --locked --workspace
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

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --locked --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
