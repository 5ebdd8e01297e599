# One command for the demo, one for the tests; each creates or reuses .venv and installs what is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo up test lint unit integration install browser clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

# Debian's Chromium drives the console test; installed here so nothing is installed by hand.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: the browser test will be skipped"; \
	  else echo "chromium not installed (needs root + apt-get): the browser test will be skipped"; fi; }

demo: $(STAMP)
	$(BIN)/cityops demo

up: $(STAMP)
	$(BIN)/cityops up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy streams schemas detectors agents config
	$(BIN)/python ../shared/tools/layers.py .

unit: $(STAMP)
	$(BIN)/pytest -q -m "not integration" tests

integration: $(STAMP) browser
	$(BIN)/pytest -q -m integration tests

test: $(STAMP) browser lint
	$(BIN)/pytest -q -ra tests

clean:
	rm -rf $(VENV) .cityops .mypy_cache .ruff_cache .pytest_cache
