# Two commands do everything on a fresh machine with Python 3.11:
#   make lab   - set up if needed, then open the notebooks in JupyterLab
#   make test  - set up if needed, then run every test (unit, scenario, property, notebook, browser)
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lab test setup lint bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[lab,test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

setup: $(STAMP)

# JupyterLab refuses to run as root unless told to (containers, CI machines).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	$(BIN)/jupyter lab $(ROOT_FLAG) notebooks/

lint: $(STAMP)
	$(BIN)/ruff check raftlab tests benchmarks examples
	$(BIN)/ruff format --check raftlab tests benchmarks examples

test: lint
	$(BIN)/python -m pytest tests
	$(BIN)/python -m pytest --nbval notebooks -p no:randomly

bench: $(STAMP)
	$(BIN)/python -m raftlab bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
