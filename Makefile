# pyauditor developer tasks.  Every target creates .venv on first use and installs the project
# with its "dev" extra into it, so a fresh clone needs nothing but Python 3.11+ and network
# access to PyPI.
#
#   make demo     run the main job on the embedded AUDITOR-compatible server
#                 (AUDITOR_URL=http://host:8000 make demo DEMO_ARGS=--write-test-data: on a real
#                 server instead; it refuses without DEMO_ARGS, as AUDITOR cannot delete records)
#   make test     lint, type-check, regeneration check, API reference and the whole test suite
#   make docs     the API reference from the docstrings, into docs/api/ (offline)
#   make bench    side-by-side benchmark against python-auditor 0.11.2 (bench/, docs/benchmarks.md)

PYTHON ?= python3
VENV   ?= .venv
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# PYAUDITOR_PYTHON: an interpreter that already has the project and its dev extra installed.
# It is used as it is and nothing is installed: for tests that run `make` in a fresh clone of
# this repository without downloading everything again.
ifdef PYAUDITOR_PYTHON
PY        := $(PYAUDITOR_PYTHON)
INSTALLED :=
else
PY        := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
endif
# The reference client (python-auditor 0.11.2) is installed on its own into .reference/, because
# its import name is also `pyauditor`.  Tests and benchmarks that compare against it run it in a
# subprocess with PYTHONPATH pointing there.
REFERENCE_DIR := .reference
REFERENCE_PKG := python-auditor==0.11.2
DOCS_DIR      ?= docs/api

.PHONY: all install demo docs generate check-generated lint typecheck test reference bench bench-docs clean

all: test

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(INSTALLED)

demo: $(INSTALLED)
	$(PY) -m pyauditor demo $(DEMO_ARGS)

# -W error: a docstring pdoc cannot render, or a module it cannot import, fails the build.
docs: $(INSTALLED)
	rm -rf $(DOCS_DIR)
	$(PY) -W error -m pdoc --docformat google --template-directory docs/api-front \
		--output-directory $(DOCS_DIR) \
		pyauditor pyauditor.bulk pyauditor.jsonstream pyauditor.queuefile pyauditor.query_language \
		pyauditor.testing pyauditor.cli
	@echo "API reference: $(DOCS_DIR)/index.html"

$(REFERENCE_DIR)/.installed:
	$(PY) -m pip install --quiet --target $(REFERENCE_DIR) --no-deps '$(REFERENCE_PKG)'
	touch $@

reference: $(INSTALLED) $(REFERENCE_DIR)/.installed

generate: $(INSTALLED)
	$(PY) generator/generate.py

check-generated: $(INSTALLED)
	$(PY) generator/generate.py --check

lint: $(INSTALLED)
	$(PY) -m ruff check pyauditor _pyauditor_cli.py tests generator tools bench
	$(PY) -m ruff format --check pyauditor _pyauditor_cli.py tests generator tools bench

typecheck: $(INSTALLED)
	$(PY) -m mypy --strict pyauditor _pyauditor_cli.py

test: $(INSTALLED) $(REFERENCE_DIR)/.installed lint typecheck check-generated docs
	$(PY) -m pytest $(PYTEST_ARGS)

# Every workload on pyauditor and on the reference, alternately, each run in a fresh process
# (about 5 minutes on 2 cores).  Writes bench/results/ and regenerates docs/benchmarks.md from
# the results; BENCH_ARGS="--only get_async,query" runs a subset into bench/results/partial.*.
bench: $(INSTALLED) $(REFERENCE_DIR)/.installed
	BENCH_COMMAND="make bench $(BENCH_ARGS)" $(PY) -m bench.run --profile-missed --docs $(BENCH_ARGS)

# Regenerate docs/benchmarks.md from the stored bench/results/results.json.
bench-docs: $(INSTALLED)
	$(PY) -m bench.report

clean:
	rm -rf $(VENV) $(REFERENCE_DIR) $(DOCS_DIR) .pytest_cache .mypy_cache .hypothesis build dist
