# Two commands for a fresh machine: `make demo` and `make test` (both install first).
PYTHON ?= python3
PIP := $(PYTHON) -m pip
DEMO := demo-out

.PHONY: install test demo bench clean

# Keeps a torch that is already installed (e.g. a CUDA build); otherwise takes the CPU build
# that pip finds on local disk, never a multi-GB CUDA download.
install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -e ".[dev]"

test: install
	$(PYTHON) -m pytest -n 2  # one worker per core of a 2-core machine (pytest-xdist)

# The paper's Table 1 and Fig. 2-6 at the demo scale (a few minutes on 2 CPU cores); resumable: run it again
# after an interruption and it continues. `sslr reproduce demo-out --scale demo --dry-run` shows every step.
demo: install
	$(PYTHON) -m sslr_cli reproduce $(DEMO) --scale demo
	@echo "demo: the report is $(DEMO)/report.html (and $(DEMO)/report.md, every number in $(DEMO)/results.json)"

bench: install
	$(PYTHON) benchmarks/bench.py

clean:
	rm -rf $(DEMO) bench-out .pytest_cache
