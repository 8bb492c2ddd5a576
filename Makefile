# netdhcp: build, run and test. Needs root on Debian 12 (scripts/setup.sh installs the rest).
#
#   make run    build the daemon and run it in the foreground (state in ./state)
#   make test   everything CI runs: cargo build and test, yanglint, end-to-end tests

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(HOME)/.cargo/bin:$(PATH)

CARGO ?= cargo
STATE_DIR ?= ./state
YANG_PATHS := -p yang/modules/ietf -p yang/modules/netdhcp
YANG_MODULES := $(wildcard yang/modules/*/*.yang)
SERVER_MODULE := $(wildcard yang/modules/netdhcp/netdhcp-server@*.yang)
EXAMPLES := $(wildcard examples/*.xml)
PYTEST_ARGS ?= -v

.PHONY: all setup setup-build build run test cargo-test yanglint e2e clean-state

all: build

setup:
	scripts/setup.sh

setup-build:
	scripts/setup.sh build

build: setup-build
	$(CARGO) build --release

# The daemon on its embedded default configuration, in the foreground; Ctrl-C stops it.
run: build
	mkdir -p $(STATE_DIR)
	target/release/netdhcpd run --state-dir $(STATE_DIR)

test: setup
	$(CARGO) build --release --workspace
	$(MAKE) --no-print-directory cargo-test yanglint e2e

cargo-test:
	$(CARGO) test --workspace

# Every module compiles on its own, and every example is a valid configuration.
yanglint:
	@for f in $(YANG_MODULES); do \
		echo "yanglint $$f"; \
		yanglint $(YANG_PATHS) "$$f"; \
	done
	@for f in $(EXAMPLES); do \
		echo "yanglint -t config $$f"; \
		yanglint -t config $(YANG_PATHS) $(SERVER_MODULE) "$$f"; \
	done

e2e:
	.venv/bin/pytest tests/e2e $(PYTEST_ARGS)

clean-state:
	rm -rf $(STATE_DIR)

# netdhcpd against Kea 2.2 in network namespaces (bench/README.md); not part of `make test`.
.PHONY: bench
bench:
	bench/run.sh
