# Two commands for a fresh machine: `make demo` and `make test`. Both build a virtual environment
# (.venv, or VENV=path) with the exact versions of requirements.lock, then install sslr into it (editable).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
LOCK := requirements.lock
# The torch the suite passed with. A torch already in the environment (a CUDA build, say) is kept; the CPU
# build of this release is what pip takes otherwise (on these machines from local disk, not a CUDA download).
TORCH := torch==2.13.0
STAMP := $(VENV)/.sslr-installed
# make lock's own environment: a relative path, so the lock's header names no folder of one machine
LOCK_VENV := .venv-lock
DEMO := demo-out

.PHONY: install test demo bench lock clean gpu-check

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) $(LOCK) pyproject.toml
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q "$(TORCH)"
	@grep -v '^torch==' $(LOCK) > $(VENV)/lock-without-torch.txt
	$(PIP) install -q -r $(VENV)/lock-without-torch.txt
	$(PIP) install -q --no-deps -e .
	@touch $(STAMP)

test: install
	$(PY) -m pytest -n 2  # one worker per core of a 2-core machine (pytest-xdist)

# The paper's Table 1 and Fig. 2-6 at the demo scale (a few minutes on 2 CPU cores); resumable: run it again
# after an interruption and it continues. `sslr reproduce demo-out --scale demo --dry-run` shows every step.
demo: install
	$(PY) -m sslr_cli reproduce $(DEMO) --scale demo
	@echo "demo: the report is $(DEMO)/report.html (and $(DEMO)/report.md, every number in $(DEMO)/results.json)"

bench: install
	$(PY) benchmarks/bench.py

# Refresh requirements.lock from pyproject.toml (runtime and dev dependencies) with pip-tools, in a venv of
# its own so that pip-tools' own dependencies stay out of the project's environment.
lock:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -q pip-tools
	echo "$(TORCH)" > $(LOCK_VENV)/torch.txt
	$(LOCK_VENV)/bin/pip-compile -q --extra dev --strip-extras --no-emit-index-url --no-emit-find-links \
		--constraint $(LOCK_VENV)/torch.txt --output-file $(LOCK) pyproject.toml

clean:
	rm -rf $(DEMO) bench-out .pytest_cache

# The GPU check (about 8 minutes on one GPU): CUDA tests, CUDA graphs against eager, step times, a short curve
gpu-check: install
	$(PY) benchmarks/gpu_check.py --out gpu-check.json --budget-minutes 8
