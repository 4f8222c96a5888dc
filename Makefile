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
	$(PYTHON) -m sslr_cli gen-data circles $(DEMO)/circles-train.h5 --n 8000 --seed 1 --force -q
	for k in 1 2 3; do $(PYTHON) -m sslr_cli gen-data circles $(DEMO)/k$$k.h5 --n 200 --count $$k --seed $$((100 + k)) --force -q; done
	$(PYTHON) -m sslr_cli train $(DEMO)/circles-train.h5 --preset tiny --generator srn --out $(DEMO)/srn --max-minutes 1.5 --force
	$(PYTHON) -m sslr_cli train $(DEMO)/circles-train.h5 --preset tiny --generator mlp --out $(DEMO)/mlp --max-minutes 1.5 --force
	$(PYTHON) -m sslr_cli reconstruct $(DEMO)/srn $(DEMO)/mlp --data $(DEMO)/k1.h5 --data $(DEMO)/k2.h5 --data $(DEMO)/k3.h5 \
		--samples 4 --figure $(DEMO)/reconstruct.png --force
	@echo "demo: figures and runs are in $(DEMO)/ (a 1.5-minute run shows the pipeline, not the paper's numbers: see README)"

bench: install
	$(PYTHON) benchmarks/bench.py

clean:
	rm -rf $(DEMO) bench-out .pytest_cache
