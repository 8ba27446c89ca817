# Two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean system-deps

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Leaflet for the pages, ESLint for their code, and the third-party WHEP players (with esbuild)
# for the cross-origin video test, from the npm registry (never a CDN at run time).
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	  else echo "npm missing: install Node.js"; exit 1; fi; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP) node_modules/.installed

# Debian's Chromium for the browser tests (never a downloaded browser), Debian's
# PostgreSQL for the store's tests on it (they start a cluster of their own: no service),
# and Debian's coturn for the video tests through a TURN server (started by the tests).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install chromium'"; fi; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "postgresql missing: run 'sudo apt-get install postgresql'"; fi; }
	@command -v turnserver >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq coturn >/dev/null; \
	  else echo "coturn missing: run 'sudo apt-get install coturn'"; fi; }

demo: install
	$(BIN)/dfr serve

test: lint system-deps
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	npx --no-install eslint web/static
	$(BIN)/ruff format --check .
	$(BIN)/mypy dfr missions stations web sitl

bench: install
	$(BIN)/dfr bench recommend

clean:
	rm -rf $(VENV) node_modules
