# Developer shortcuts. The Quick start in README.md needs none of these.
PY ?= .venv/bin/python

.PHONY: venv test test-unit test-live lint bench native

venv:
	python3 -m venv .venv && .venv/bin/pip install -q -e '.[test,lint]'

native:           ## rebuild the C core in place (editable installs)
	$(PY) setup.py -q build_ext --inplace

test:             ## exactly what CI runs
	bash scripts/test.sh

test-unit:
	$(PY) -m pytest -q tests/unit

test-live:
	$(PY) -m pytest -q tests/live tests/native tests/cli

lint:
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m mypy

bench:            ## every benchmark; `make bench B=ps` for one
	$(PY) benchmarks/run.py $(B)
