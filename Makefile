# The two commands of the README: `make run` and `make test`. Both install what they need
# into .venv first (and only again when pyproject.toml changes), and build the web panel
# (npm ci only again when package-lock.json changes; the build when a panel source does).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench install system-deps panel clean

# Debian packages the tests use: microsocks, a real SOCKS5 proxy for the proxy tests; chromium,
# the browser the panel tests drive (Playwright's own browser download does not work here).
SYSTEM_PACKAGES := microsocks chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tgfleet needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The web panel: TypeScript + Vite, built into frontend/dist, which the daemon serves at /.
FRONTEND      := frontend
NPM_STAMP     := $(FRONTEND)/node_modules/.installed
PANEL         := $(FRONTEND)/dist/index.html
PANEL_SOURCES := $(shell find $(FRONTEND)/src -type f 2>/dev/null) $(addprefix $(FRONTEND)/,index.html package.json tsconfig.json vite.config.ts)

$(NPM_STAMP): $(FRONTEND)/package-lock.json
	@command -v npm >/dev/null || { echo "the web panel needs Node.js >= 20.19 with npm (Debian: apt-get install nodejs npm)"; exit 1; }
	cd $(FRONTEND) && npm ci --no-audit --no-fund
	touch $(NPM_STAMP)

$(PANEL): $(NPM_STAMP) $(PANEL_SOURCES)
	cd $(FRONTEND) && npm run build

panel: $(PANEL)

run: $(STAMP) $(PANEL)
	$(BIN)/tgfleet serve --sandbox $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check backend tests bench
	$(BIN)/ruff format --check backend tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; \
	fi

# The browser tests run in a pytest process of their own: Playwright's sync API leaves an event
# loop running in the main thread, and every asyncio test collected after them would then fail
# with "Runner.run() cannot be called from a running event loop".
unit: $(STAMP) system-deps $(PANEL)
	$(BIN)/python -m pytest --ignore=tests/panel $(PYTEST_ARGS)
	$(BIN)/python -m pytest tests/panel $(PANEL_PYTEST_ARGS)

test: $(PANEL) lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/pool_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(FRONTEND)/node_modules $(FRONTEND)/dist
