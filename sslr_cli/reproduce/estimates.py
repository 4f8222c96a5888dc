"""Measured costs behind the plan's time estimates (what ``--dry-run`` and the progress display show).

Training budgets are optimizer steps, so an estimate never changes what runs; it is shown beside it.
"""

from __future__ import annotations

# Single-thread CPU seconds per optimizer step, batch of the preset. tiny: `make demo`'s two trainings side by side
# on an idle 2-core machine (1500 steps in 3.0 / 2.7 minutes, studies/demo); the others: docs/presets.md and
# benchmarks/bench.py, measured before the CPU step's levers (studies/cpu-step: x0.94-0.97 for small since).
# Set matching (fp32, studies/table3-cpu/match_steps.py): "srn-ri" is r + init decoding 4 images A (match-small: 8).
STEP_SECONDS = {("tiny", "srn"): 0.12, ("tiny", "mlp"): 0.108, ("small", "srn"): 0.54, ("small", "mlp"): 0.47,
                ("clevr-tiny", "srn"): 0.58, ("clevr-tiny", "mlp"): 0.21,
                ("match-tiny", "cnn"): 0.034, ("match-tiny", "mlp"): 0.034, ("match-tiny", "srn"): 0.078,
                ("match-tiny", "srn-ri"): 0.126, ("match-small", "cnn"): 0.083, ("match-small", "mlp"): 0.085,
                ("match-small", "srn"): 0.167, ("match-small", "srn-ri"): 0.367}

# Single-thread CPU seconds per image of one learning-curve measurement (studies/speed/eval_cost.py,
# studies/speed/results/eval-cost-tiny.json; fp32 forward pass and the Table 1 / ARI statistics).
EVAL_IMAGE_SECONDS = {("tiny", "srn"): 0.0095, ("tiny", "mlp"): 0.0091}
