# Each target bootstraps .venv on first use.
PY ?= python3
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
	$(VENV)/bin/python -m pytest

notebooks: $(STAMP)
	$(VENV)/bin/python notebooks/execute.py

bench: $(STAMP)
	$(VENV)/bin/sfnn bench configs/cartpole.yaml

clean:
	rm -rf $(VENV) runs wandb .pytest_cache
