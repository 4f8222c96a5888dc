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
	$(PYTHON) -m pytest

demo: install
	$(PYTHON) -m sslr_cli gen-data circles $(DEMO)/circles-train.h5 --n 4000 --seed 1 --force -q
	$(PYTHON) -m sslr_cli train $(DEMO)/circles-train.h5 --preset tiny --generator srn --out $(DEMO)/srn --max-minutes 1 --force
	$(PYTHON) -m sslr_cli train $(DEMO)/circles-train.h5 --preset tiny --generator mlp --out $(DEMO)/mlp --max-minutes 1 --force

bench: install
	$(PYTHON) benchmarks/bench.py

clean:
	rm -rf $(DEMO) bench-out .pytest_cache
