# qtx developer tasks. `make install && make demo` sets up and runs the main job on the
# embedded default (paper broker, SQLite, synthetic sample market); `make test` runs the tests.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
QTX := $(BIN)/qtx
DEMO_DIR ?= demo
DEMO_CONFIG := $(DEMO_DIR)/qtx.yaml

.PHONY: install test demo bench lint clean soak

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,mcp]'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

test:
	$(BIN)/python -m pytest -q

# The demo: a paper account on the synthetic sample market; a backtest over all of it, then the
# daily pipeline (collect, signal, execute) as of each of its last 20 trading days, the daily
# report with its chart, and the status.
demo:
	$(QTX) init $(DEMO_DIR) --demo --force
	$(QTX) --config $(DEMO_CONFIG) backtest --trades-out $(DEMO_DIR)/trades.csv \
		--equity-out $(DEMO_DIR)/equity.csv --chart $(DEMO_DIR)/backtest.png
	$(QTX) --config $(DEMO_CONFIG) replay --days 20
	$(QTX) --config $(DEMO_CONFIG) reconcile
	$(QTX) --config $(DEMO_CONFIG) report --chart $(DEMO_DIR)/equity.png
	$(QTX) --config $(DEMO_CONFIG) positions
	$(QTX) --config $(DEMO_CONFIG) status

# An unattended month, simulated (docs/operations.md): the launchd schedule over DAYS trading
# days with faults drawn from SEED; the summary goes to $(SOAK_DIR) (default: the temp folder).
DAYS ?= 30
SEED ?= 1
soak:
	SOAK_DIR="$(SOAK_DIR)" $(BIN)/python -m tests.soak --days $(DAYS) --seed $(SEED)

bench:
	$(BIN)/python -m benchmarks

lint:
	$(BIN)/ruff check .

clean:
	rm -rf $(DEMO_DIR) .pytest_cache build *.egg-info
