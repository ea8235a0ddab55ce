# One command per job; each creates (once) and reuses the virtual environment in .venv/.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Test-suite parallelism: pytest-xdist workers (the CI machines have 2 cores).
WORKERS ?= 2
# The GPU check runs with the GPU machine's own python3 (it has torch; nothing is installed there
# but the carried wheels), or the venv's where one exists. See DEVELOPERS.md.
GPU_PYTHON ?= $(if $(wildcard $(PY)),$(PY),python3)

.PHONY: demo test venv clean-venv gpu-check gpu-wheels

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

gpu-check:
	$(GPU_PYTHON) -m benchmarks.gpu_check $(ARGS)

gpu-wheels:
	bash benchmarks/gpu/build_wheels.sh $(ARGS)
