# Two commands do everything on a fresh machine with only python3:
#   make serve   build the bundled knowledge base and serve it at http://127.0.0.1:5000 (HOST=, PORT= to change)
#   make test    run the test suite
# Serving installs only the runtime dependencies; the test extras (browser driver, fuzzer, peers) come with `make test`.
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 5000
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install install-test build serve demo test screenshots bench clean

$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test: $(VENV)/.runtime
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.runtime

install-test: $(VENV)/.test

build: install
	$(BIN)/kb build

serve: build
	$(BIN)/kb serve --host $(HOST) --port $(PORT)

demo: build
	$(BIN)/kb search "印染废水回用"

# Two processes (pytest-xdist, whole files per process so module fixtures are built once each, and the fuzz
# file's request count runs after its operations in the same process).
test: install-test
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# Rewrite the README screenshots (needs Chromium and a Chinese font; see README, 测试).
screenshots: install-test
	KB_SCREENSHOTS_DIR=docs/screenshots KB_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q tests/test_browser.py tests/test_workbench_browser.py -k screenshot

bench: install-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance
