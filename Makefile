# Two commands do everything on a fresh machine with only python3:
#   make serve   build the bundled knowledge base and serve it at http://127.0.0.1:5000
#   make test    run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install build serve demo test screenshots bench clean

$(BIN)/kb: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/kb

install: $(BIN)/kb

build: install
	$(BIN)/kb build

serve: build
	$(BIN)/kb serve --host 127.0.0.1 --port 5000

demo: build
	$(BIN)/kb search "印染废水回用"

test: install
	$(BIN)/python -m pytest -q

# Rewrite the README screenshots (needs Chromium and a Chinese font; see README, 测试).
screenshots: install
	KB_SCREENSHOTS_DIR=docs/screenshots KB_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q tests/test_browser.py -k screenshot

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance
