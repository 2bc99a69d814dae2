# seedrag: two commands on a fresh machine.
#   make run    set up .venv (packages + local model), ingest seeds/, serve API + chat page on 127.0.0.1:8000
#   make test   set up, lint, type-check and pass the tests
# Prerequisites: Python 3.11+ and, for the tests, Debian's chromium and postgresql (installed here when missing).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint browser postgres bench eval clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[local,dev,postgres]'
	$(BIN)/rag model install
	@touch $(STAMP)

run: install
	$(BIN)/rag ingest seeds/
	$(BIN)/rag serve

browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

# The shared-storage tests start a throwaway cluster from Debian's binaries (tests/postgres.py).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  echo "installing Debian's postgresql for the shared-storage tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql; }

lint: install
	$(BIN)/ruff check rag api tests bench
	$(BIN)/mypy rag api

test: install browser postgres lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/ingest.py

eval: install
	$(BIN)/rag eval ../shared/evaldata/cranfield --split dev --json bench/results/cranfield-dev.json

clean:
	rm -rf $(VENV) data
