# Two commands do everything on a fresh machine: `make train` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
ARGS ?=
PYTEST_ARGS ?=
# Test processes side by side (pytest-xdist), one thread each: most tests start Python
# processes or wait on files, so two of them keep two cores busy where one thread cannot.
TEST_JOBS ?= 2

.DEFAULT_GOAL := help
.PHONY: help install train pretrain test test-wheel lint bench preview clean

help: ## show this help
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install the package (editable) with the pinned versions

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev,notebooks,sweep]"
	touch $(STAMP)

train: install ## generate the synthetic benchmark, train the default STGCN and evaluate it (ARGS="key=value ...")
	$(PY) -m stgcn_reid.train $(ARGS)

pretrain: install ## pretrain the study's backbone on a synthetic population of its own (resumable; ARGS="key=value ...")
	$(PY) -m stgcn_reid.train experiment=pretrain $(ARGS)

test: install ## run the test suite, TEST_JOBS processes side by side (PYTEST_ARGS="-k name ...")
	OMP_NUM_THREADS=1 $(PY) -m pytest -n $(TEST_JOBS) --dist loadfile $(PYTEST_ARGS)

test-wheel: install ## build the wheel, install it in a fresh venv, run its command (minutes)
	STGCN_WHEEL_TEST=1 $(PY) -m pytest tests/wheel $(PYTEST_ARGS)

lint: install ## ruff
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

bench: install ## run the benchmarks and rewrite docs/performance.md
	$(PY) -m benchmarks.run_all

preview: install ## write a PNG grid of synthetic tracklets (docs/img/synthetic_preview.png)
	$(PY) -m stgcn_reid.data.synthetic.preview

clean: ## remove run outputs (keeps .venv and data/)
	rm -rf logs outputs multirun .pytest_cache
