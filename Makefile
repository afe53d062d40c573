# qtx developer tasks. `make install && make demo` sets up and runs the main job on the
# embedded default (paper broker, SQLite, synthetic sample market); `make test` runs the tests.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
QTX := $(BIN)/qtx
DEMO_DIR ?= demo
DEMO_CONFIG := $(DEMO_DIR)/qtx.yaml

.PHONY: install test demo bench lint clean

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

test:
	$(BIN)/python -m pytest -q

# Each step of the demo is one line; later steps (backtest, a daily pipeline run) go below.
demo:
	$(QTX) init $(DEMO_DIR) --demo --force
	$(QTX) --config $(DEMO_CONFIG) status

bench:
	$(BIN)/python -m benchmarks

lint:
	$(BIN)/ruff check .

clean:
	rm -rf $(DEMO_DIR) .pytest_cache build *.egg-info
