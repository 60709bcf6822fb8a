# The two commands of the README:
#   make book   build the study book into _build/html (warnings are errors)
#   make test   the whole suite: library tests on TensorFlow and on JAX, the same tests on the
#               oldest versions pyproject.toml declares (test-floor), then the book (every
#               notebook in quick mode, the -W -n build, the headless-Chromium check)
# Both create .venv (python3 -m venv) when missing and install requirements.txt and this package
# into it; the install is skipped while requirements.txt and pyproject.toml are unchanged.
# test-floor does the same with .venv-floor and requirements-floor.txt.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-requirements
VENV_FLOOR := .venv-floor
PY_FLOOR := $(VENV_FLOOR)/bin/python
STAMP_FLOOR := $(VENV_FLOOR)/.installed-requirements
PYTEST := $(PY) -m pytest -p no:cacheprovider
JOBS ?= 2

# Jupyter kernels are started as "python": the venv must come first on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv book test test-lib test-floor test-book browser clean

help:
	@echo "make book   - build the book into _build/html (jupyter-book, -W -n)"
	@echo "make test   - library tests (TensorFlow, JAX; pinned and floor versions), notebooks in"
	@echo "              quick mode, book build, browser check"
	@echo "make test-floor - library tests on the oldest declared versions (requirements-floor.txt)"
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

test: test-lib test-floor browser test-book

test-lib: $(STAMP)
	KERAS_BACKEND=tensorflow $(PYTEST) -n $(JOBS) -m "not book" tests
	KERAS_BACKEND=jax $(PYTEST) -n $(JOBS) -m "not book and not slow" tests

# The library tests on the oldest versions pyproject.toml declares, in their own venv. The
# tests run with this venv's python (subprocesses use sys.executable); check_pins.py prints the
# installed versions and fails if one differs from requirements-floor.txt. To keep the job short,
# it leaves out the command-line and campaign tests: they drive train() (tested here through
# test_train.py) in subprocesses, and run on the pinned versions in test-lib.
FLOOR_TESTS := -m "not book and not slow" --ignore=tests/test_cli.py --ignore=tests/test_campaign.py tests
$(PY_FLOOR):
	$(PYTHON) -m venv $(VENV_FLOOR)

$(STAMP_FLOOR): requirements-floor.txt pyproject.toml | $(PY_FLOOR)
	$(PY_FLOOR) -m pip install -q -r requirements-floor.txt
	$(PY_FLOOR) -m pip install -q --no-deps -e .
	touch $@

test-floor: $(STAMP_FLOOR)
	$(PY_FLOOR) tools/check_pins.py requirements-floor.txt
	KERAS_BACKEND=jax $(PY_FLOOR) -m pytest -p no:cacheprovider -n $(JOBS) $(FLOOR_TESTS)
	KERAS_BACKEND=tensorflow $(PY_FLOOR) -m pytest -p no:cacheprovider -n $(JOBS) $(FLOOR_TESTS)

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
