# The two commands of the README:
#   make book   build the study book into _build/html (warnings are errors)
#   make test   the whole suite: library tests on TensorFlow and on JAX, then the book
#               (every notebook in quick mode, the -W -n build, the headless-Chromium check)
# Both create .venv (python3 -m venv) when missing and install requirements.txt and this package
# into it; the install is skipped while requirements.txt and pyproject.toml are unchanged.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-requirements
PYTEST := $(PY) -m pytest -p no:cacheprovider
JOBS ?= 2

# Jupyter kernels are started as "python": the venv must come first on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv book test test-lib test-book browser clean

help:
	@echo "make book   - build the book into _build/html (jupyter-book, -W -n)"
	@echo "make test   - library tests (TensorFlow, JAX), notebooks in quick mode, book build, browser check"
	@echo "make clean  - remove _build"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

venv: $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going --all
	@echo "book: _build/html/index.html"

test: test-lib browser test-book

test-lib: $(STAMP)
	KERAS_BACKEND=tensorflow $(PYTEST) -n $(JOBS) -m "not book" tests
	KERAS_BACKEND=jax $(PYTEST) -n $(JOBS) -m "not book and not slow" tests

# Debian's Chromium for the browser check (root on CI). If it cannot be installed the check
# is skipped with a message (tests/test_book.py), the rest of the suite still runs.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium for the browser check"; \
	  (export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q chromium) >/dev/null \
	  || echo "WARNING: could not install chromium; the browser check will be skipped"; }

test-book: $(STAMP)
	KERAS_BACKEND=tensorflow $(PYTEST) -n $(JOBS) --dist loadgroup -m book -rs tests

clean:
	rm -rf _build
