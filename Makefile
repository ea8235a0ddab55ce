# One command per job; each creates (once) and reuses the virtual environment in .venv/.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Test-suite parallelism: pytest-xdist workers (the CI machines have 2 cores).
WORKERS ?= 2

.PHONY: demo test venv clean-venv

venv: $(STAMP)

$(STAMP): requirements/cpu.txt requirements/common.txt requirements/spikingjelly.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/cpu.txt
	$(PY) -m pip install --quiet --no-deps -r requirements/spikingjelly.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m pipelines demo $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -n $(WORKERS) $(ARGS)

clean-venv:
	rm -rf $(VENV)
