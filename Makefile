# Steward: `make run` starts everything on this machine; `make test` runs every test.
# Both install what is missing first (Debian packages, npm packages), idempotently.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/steward-target
CARGO ?= cargo
NPM ?= npm
STEWARD := $(CARGO_TARGET_DIR)/release/steward

.PHONY: run test setup setup-test web web-check build release lint fmt bench clean

setup:
	@bash scripts/setup.sh

setup-test:
	@bash scripts/setup.sh --test

# npm ci only when the lockfile changed since the last install (npm's cache is ~/.npm).
web/node_modules/.installed: web/package-lock.json web/package.json
	cd web && $(NPM) ci --no-audit --no-fund --prefer-offline
	touch $@

# The console's static assets (web/dist), which the steward binary serves and embeds.
web: web/node_modules/.installed
	cd web && $(NPM) run build

# Everything the console is checked with before it is built.
web-check: web/node_modules/.installed
	cd web && $(NPM) run lint && $(NPM) run typecheck && $(NPM) run check:api && $(NPM) test

build: setup web
	$(CARGO) build --workspace --bins

# Release binaries ship without their debug info, which goes to steward.debug and
# steward-agent.debug beside them (see scripts/split-debug.sh).
release: setup web
	$(CARGO) build --release -p steward-server -p steward-agent
	bash scripts/split-debug.sh $(STEWARD) $(CARGO_TARGET_DIR)/release/steward-agent

run: release
	STEWARD_STACKS_DIR=$(CURDIR)/stacks $(STEWARD) up --data-dir $(CURDIR)/data

# Lint first: a test run that passes on code that fails fmt or clippy is not green. nextest
# does not run doc tests, so `cargo test --doc` runs them.
test: setup-test lint web-check web
	$(CARGO) build --workspace --bins
	$(CARGO) nextest run --workspace --no-fail-fast
	$(CARGO) test --workspace --doc
	bash scripts/test-postgres.sh
	cd web && $(NPM) run e2e

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
	cd web && $(NPM) run bench

clean:
	rm -rf data web/dist
