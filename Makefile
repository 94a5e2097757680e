# The two commands of the README. Both create .venv on first use and install into it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install install-test lint

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[lab]'

install-test: $(BIN)/python
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[lab,test,ray]'

run: install
	$(BIN)/descentlab compare

lint: install-test
	$(BIN)/ruff check src tests benchmarks examples

test: install-test lint
	$(BIN)/python -m pytest
