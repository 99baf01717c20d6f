# Every target creates .venv when missing and installs the pinned set into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: install test lint verify clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy

## every test: lint, types, doctests, the numpy reference, TensorFlow as the oracle, the CLI
test: lint
	CONVLAB_REQUIRE_TF=1 $(BIN)/python -m pytest -n $(PYTEST_WORKERS) -q

## the verification table: d_x four ways and d_w three ways, every backend, one config
verify: $(STAMP)
	$(BIN)/convlab verify

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis src/*.egg-info
