# 247trader: `make run` and `make test` set everything up on a fresh machine
# (Python 3.11+ and make are all they need).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint install bench bench-replay cost fuzz chaos clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## run: a short offline session on the synthetic market, then a summary
run: $(STAMP)
	$(BIN)/trader run --exchange simulated --mode PAPER --fast --cycles 288

## test: lint (ruff, import contract, dead code, sizes), cfn-lint, sam validate --lint, checkov,
## then every test (what CI runs)
test: $(STAMP) lint aws-lint dynalite
	$(BIN)/python -m pytest

## fuzz: the fuzz tests at full size (profile 'full': thousands of examples each, fresh seeds);
## `make test` runs them bounded and derandomized
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=full $(BIN)/python -m pytest -m fuzz --hypothesis-show-statistics

## lint: ruff, the import contract (lint-imports), dead code (vulture), function sizes
lint: $(STAMP)
	$(BIN)/ruff check lib functions tests bench infra
	$(BIN)/ruff format --check lib functions tests bench infra
	$(BIN)/lint-imports --no-cache
	$(BIN)/vulture lib functions infra/vulture_whitelist.py --min-confidence 80
	$(BIN)/python infra/check_shape.py

## bench: round trips and wall time of whole cycles, and of snapshots, against the fake Coinbase
bench: $(STAMP)
	$(BIN)/python bench/cycle_roundtrips.py
	$(BIN)/python bench/coinbase_roundtrips.py

## cost: the monthly AWS bill at one cycle per 5 minutes, from a measured run (fails over $2)
cost: $(STAMP)
	$(BIN)/python bench/cost_model.py

## bench-replay: cycles/s of `trader replay` (3 x 15m real, 10 x 5m synthetic) beside backtesting.py
bench-replay: $(STAMP)
	$(BIN)/python bench/replay_speed.py

## chaos: 1,000 scheduled cycles per backend (simulated exchange, fake Coinbase) through the
## Lambda handlers on moto, faults at seeded random points; SEED=N CYCLES=N repeat a run
CYCLES ?= 1000
chaos: $(STAMP)
	$(BIN)/python tests/support/chaos_run.py --cycles $(CYCLES) $(if $(SEED),--seed $(SEED))

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info lib/*.egg-info .aws-sam .cache

include infra/aws.mk
