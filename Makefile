# lexqa: `make run` runs the pipeline on the bundled sample, `make test` runs the tests.
# Both create .venv first when it is missing or when requirements.lock changed.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# torch is pinned through constraints.txt so pip never pulls a multi-GB CUDA build on a CPU machine.
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PATH := $(CURDIR)/$(BIN):$(PATH)
# Offline by default: no model hub, no telemetry, no DVC analytics.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export DVC_NO_ANALYTICS := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: venv run test lint format bench clean

venv: $(STAMP)

$(STAMP): requirements.lock constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: venv
	$(BIN)/dvc repro
	@awk '/^nDCG@10 by embedding dimension/{p=1} /^All metrics/{exit} p' reports/eval.md

test: venv
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# `make bench BENCH_FLAGS=--quick`: every script on tiny sizes (a smoke run for CI, figures meaningless).
bench: venv
	@for b in benchmarks/*.py; do echo "== $$b $(BENCH_FLAGS)"; $(BIN)/python $$b $(BENCH_FLAGS) || exit 1; done

clean:
	rm -rf data/processed/* metrics plots reports models .dvc/tmp
