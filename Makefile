# The two commands of the README: `make demo` (the main job) and `make test` (the whole suite).
# Each sets itself up: a virtual environment in .venv with torch resolved through
# constraints.txt (the CPU build 2.13.0 here, no CUDA wheels).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
OUT ?= out

.PHONY: demo test lint typecheck unit bench mutation clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[dev,fast,nir,data,events,reference,notebooks]'
	$(PIP) install -q -c constraints.txt --no-deps 'norse==1.1.0'
	touch $@

demo: $(STAMP)
	$(PY) -m spikeforge demo --out $(OUT)

lint: $(STAMP)
	$(VENV)/bin/ruff check spikeforge tests benchmarks
	$(VENV)/bin/ruff format --check spikeforge tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest

test: lint typecheck unit

bench: $(STAMP)
	$(PIP) install -q -c constraints.txt -e '.[bench]'
	$(PY) benchmarks/lif_training.py

# plants one-line bugs one at a time and reports the kill rate (minutes; not part of `make test`)
mutation: $(STAMP)
	$(PY) tools/mutation_check.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache
