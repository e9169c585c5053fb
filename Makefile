# Steward: `make run` starts everything on this machine; `make test` runs every test.
# Both install what is missing first (Debian packages), idempotently.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/steward-target
CARGO ?= cargo
STEWARD := $(CARGO_TARGET_DIR)/release/steward

.PHONY: run test setup build release lint fmt bench clean

setup:
	@bash scripts/setup.sh

build: setup
	$(CARGO) build --workspace --bins

release: setup
	$(CARGO) build --release -p steward-server -p steward-agent

run: release
	STEWARD_STACKS_DIR=$(CURDIR)/stacks $(STEWARD) up --data-dir $(CURDIR)/data

# Lint first: a test run that passes on code that fails fmt or clippy is not green. nextest
# does not run doc tests, so `cargo test --doc` runs them.
test: setup lint
	$(CARGO) build --workspace --bins
	$(CARGO) nextest run --workspace --no-fail-fast
	$(CARGO) test --workspace --doc
	bash scripts/test-postgres.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench: release
	$(STEWARD) bench dispatch --agents 100 --jobs 40
	$(STEWARD) bench dispatch --idle-agents 1000
	$(STEWARD) bench knowledge
	$(STEWARD) eval retrieval
	$(STEWARD) bench telemetry --agents 100 --series 500

clean:
	rm -rf data
