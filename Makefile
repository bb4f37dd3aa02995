# The two commands of the README: `make demo` (the main job) and `make test` (the whole suite).
# Each sets itself up: a virtual environment in .venv with torch resolved through
# constraints.txt (the CPU build 2.13.0 here, no CUDA wheels).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
OUT ?= out

.PHONY: demo test lint typecheck unit bench docs docs-check mutation clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[dev,fast,threads,nir,data,events,reference,notebooks,vendor,gpu,pynn,nest]'
	$(PIP) install -q -c constraints.txt --no-deps 'norse==1.1.0'
	$(PIP) install -q -c constraints.txt --no-deps 'neurobench==2.3.0'
	touch $@

demo: $(STAMP)
	$(PY) -m spikeforge demo --out $(OUT)

lint: $(STAMP)
	$(VENV)/bin/ruff check spikeforge tests benchmarks
	$(VENV)/bin/ruff format --check spikeforge tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# PyNN's own example scripts (examples/ of its source distribution; the wheel has none) for
# tests/test_pynn_examples.py, fetched from the package registry once; where that fails the tests
# skip with their reason
PYNN_SRC := $(VENV)/pynn-src

$(PYNN_SRC)/examples: $(STAMP)
	rm -rf $(PYNN_SRC) && mkdir -p $(PYNN_SRC)
	-$(PIP) download -q --no-deps --no-binary :all: -d $(PYNN_SRC) \
		"PyNN==$$($(PY) -c 'import importlib.metadata as m; print(m.version("PyNN"))')" \
		&& tar xzf $(PYNN_SRC)/[Pp]y[Nn][Nn]-*.tar.gz -C $(PYNN_SRC) --strip-components=1 && touch $(PYNN_SRC)/examples

unit: $(STAMP) $(PYNN_SRC)/examples
	SPIKEFORGE_PYNN_EXAMPLES=$(abspath $(PYNN_SRC))/examples $(PY) -m pytest

test: lint typecheck unit

bench: $(STAMP)
	$(PIP) install -q -c constraints.txt -e '.[bench]'
	$(PY) benchmarks/lif_training.py

# the documentation site: mkdocs build --strict into site/ (broken cross-references, missing pages
# and docstring warnings fail it); docs-check opens every page in headless Chromium (Debian's
# chromium package) and saves screenshots in $(OUT)/docs-screenshots
DOCS_STAMP := $(VENV)/.installed-docs

$(DOCS_STAMP): $(STAMP)
	$(PIP) install -q -c constraints.txt -e '.[docs]'
	touch $@

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

docs-check: $(DOCS_STAMP)
	$(PY) docs/_browser_check.py --site site --shots $(OUT)/docs-screenshots

# plants one-line bugs one at a time and reports the kill rate (minutes; not part of `make test`)
mutation: $(STAMP)
	$(PY) tools/mutation_check.py

clean:
	rm -rf $(VENV) $(OUT) site .cache .pytest_cache .mypy_cache .ruff_cache
