# graphkd developer commands. Each target sets up its own virtual environment first.
#   make quickstart            distil a Fashion-MNIST student with a graph method (the main job)
#   make test                  run the whole test suite (TEST_WORKERS processes, 2 by default;
#                              each test file stays in one process)
#   make test STACK=dgl-native the same on torch 2.2.1, the newest torch DGL 2.1.0 ships add-ons for
#   make torch [STACK=...]     only the stack's virtual environment with torch (CI installs the
#                              second stack's meanwhile)
#   make docs / make lint      build the Sphinx site (warnings are errors, MathJax from npm,
#                              checked to render offline) / run ruff
#   make bench-quick           smoke run of the distillation benchmark (tiny data, ce and kd)
PYTHON ?= python3
TEST_WORKERS ?= 2
STACK ?= current
VENV ?= .venv-$(STACK)
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --progress-bar off

ifeq ($(STACK),current)
TORCH := torch==2.14.1 torchvision==0.29.1
else ifeq ($(STACK),dgl-native)
TORCH := torch==2.2.1 torchvision==0.17.1 "numpy<2" "pandas<3" torchdata==0.7.1
else
$(error unknown STACK=$(STACK); use current or dgl-native)
endif

# MathJax ships with the docs (rendered formulas offline); npm installs it at build time
MATHJAX := mathjax@3.2.2

.PHONY: quickstart test docs docs-mathjax lint setup torch bench-quick

# torch first (the long download), then graphkd with its extras
$(VENV)/.torch: Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) $(TORCH)
	touch $@

$(VENV)/.installed: $(VENV)/.torch pyproject.toml
	$(PIP) -e ".[dev,docs,viz,log]" $(TORCH)
	touch $@

setup: $(VENV)/.installed

torch: $(VENV)/.torch

quickstart: $(VENV)/.installed
	$(VENV)/bin/graphkd quickstart

test: $(VENV)/.installed
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

docs-mathjax:
	npm install --no-save --no-package-lock --no-audit --no-fund --prefix docs/_build/npm $(MATHJAX)

docs: $(VENV)/.installed docs-mathjax
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html
	$(PY) docs/check_site.py docs/_build/html

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check graphkd tests benchmarks docs

bench-quick: $(VENV)/.installed
	$(PY) benchmarks/run.py --quick --output runs/protocol_quick
