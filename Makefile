# wharf's two commands:
#   make demo   build wharf, fetch CPython for WASI, build and run the seed's Python app
#   make test   every test (installs the Debian packages the guest builds need)

CARGO  ?= cargo
PYTHON ?= python3
WHARF  := target/release/wharf

.PHONY: all build demo test lint fmt clean python-runtime base-images test-deps

all: build

build:
	$(CARGO) build --release --locked

python-runtime:
	$(PYTHON) manifests/python-3.12/fetch.py

base-images: build python-runtime
	$(WHARF) build -t python:3.12 manifests/python-3.12

demo: base-images
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

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --locked --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
