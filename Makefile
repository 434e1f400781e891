# Each target bootstraps .venv on first use.
PY ?= python3
# The suite is mostly single-threaded XLA compilation: one pytest worker per core nearly divides its
# time by the cores. Tests of one file share a worker (--dist loadfile), so a module's fixtures (a
# trained run that several tests read) are built once. `make test TEST_WORKERS=0` runs it serially.
TEST_WORKERS ?= auto
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: install train test bench notebooks clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(VENV)/bin/sfnn train configs/default.yaml

test: $(STAMP)
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile

notebooks: $(STAMP)
	$(VENV)/bin/python notebooks/execute.py

bench: $(STAMP)
	$(VENV)/bin/sfnn bench configs/cartpole.yaml

clean:
	rm -rf $(VENV) runs wandb .pytest_cache
