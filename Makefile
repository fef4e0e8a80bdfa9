# pyauditor developer tasks.  Every target creates .venv on first use and installs the project
# with its "dev" extra into it, so a fresh clone needs nothing but Python 3.11+ and network
# access to PyPI.
#
#   make demo     run the main job on the embedded AUDITOR-compatible server
#   make test     lint, type-check, regeneration check and the whole test suite
#   make bench    side-by-side benchmark against python-auditor 0.11.2 (bench/, docs/benchmarks.md)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# The reference client (python-auditor 0.11.2) is installed on its own into .reference/, because
# its import name is also `pyauditor`.  Tests and benchmarks that compare against it run it in a
# subprocess with PYTHONPATH pointing there.
REFERENCE_DIR := .reference
REFERENCE_PKG := python-auditor==0.11.2

.PHONY: all install generate check-generated lint typecheck test reference bench bench-docs clean

all: test

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

$(REFERENCE_DIR)/.installed:
	$(PY) -m pip install --quiet --target $(REFERENCE_DIR) --no-deps '$(REFERENCE_PKG)'
	touch $@

reference: $(VENV)/.installed $(REFERENCE_DIR)/.installed

generate: $(VENV)/.installed
	$(PY) generator/generate.py

check-generated: $(VENV)/.installed
	$(PY) generator/generate.py --check

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check pyauditor tests generator tools bench
	$(VENV)/bin/ruff format --check pyauditor tests generator tools bench

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy --strict pyauditor

test: $(VENV)/.installed $(REFERENCE_DIR)/.installed lint typecheck check-generated
	$(PY) -m pytest $(PYTEST_ARGS)

# Every workload on pyauditor and on the reference, alternately, each run in a fresh process
# (about 5 minutes on 2 cores).  Writes bench/results/ and regenerates docs/benchmarks.md from
# the results; BENCH_ARGS="--only get_async,query" runs a subset into bench/results/partial.*.
bench: $(VENV)/.installed $(REFERENCE_DIR)/.installed
	BENCH_COMMAND="make bench $(BENCH_ARGS)" $(PY) -m bench.run --profile-missed --docs $(BENCH_ARGS)

# Regenerate docs/benchmarks.md from the stored bench/results/results.json.
bench-docs: $(VENV)/.installed
	$(PY) -m bench.report

clean:
	rm -rf $(VENV) $(REFERENCE_DIR) .pytest_cache .mypy_cache .hypothesis build dist
