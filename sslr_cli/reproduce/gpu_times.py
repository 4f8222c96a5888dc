"""Measured GPU step times, for the dry run's estimates of the GPU scale (``--scale paper``).

Seconds per optimizer step, by device name (as ``torch.cuda.get_device_name`` says it), preset, generator,
r and precision; each row measured, never extrapolated: a training whose preset or device has no row has
no estimate ("unknown"). To add a device: run ``python studies/speed/bench_gpu.py`` on it and add its rows;
``make gpu-check`` also times the Table 2 and Table 3 presets (its ``table_steps``, keyed "preset/model", e.g.
"match-paper/srn-ri"), the rows those tables' trainings need and do not have yet.
"""

from __future__ import annotations

# studies/speed/results/gpu-step-h200.json: `paper` preset, batch 64, median of 10 steps after 3 warm-up
# steps, eager (no CUDA graphs, no compile), torch 2.11.0+cu130
GPU_STEP_SECONDS: dict[str, dict[tuple[str, str, int | None, str], float]] = {
    "NVIDIA H200": {
        ("paper", "mlp", None, "fp32"): 0.01286, ("paper", "mlp", None, "bf16"): 0.00870,
        ("paper", "srn", 10, "fp32"): 0.03486, ("paper", "srn", 10, "bf16"): 0.03748,
        ("paper", "srn", 20, "fp32"): 0.07650, ("paper", "srn", 20, "bf16"): 0.07320,
    },
}
MEASURED_ON = "NVIDIA H200"  # the device a machine without a GPU estimates the GPU scale for


def gpu_step_seconds(device: str, preset: str, generator: str, r: int | None, precision: str) -> float | None:
    """One measured step time, or None. MLP rows have no r (it has no refinement)."""
    table = GPU_STEP_SECONDS.get(device, {})
    return table.get((preset, generator, None if generator == "mlp" else r, precision))


def gpu_train_seconds(device: str, preset: str, generator: str, steps: int, precision: str, r: int,
                      late_r: int | None = None, late_step: int | None = None) -> float | None:
    """Seconds for ``steps`` steps whose r is ``r`` before ``late_step`` and ``late_r`` from it (the
    paper's switch from 10 to 20 at epoch 20); None when a needed row is not measured."""
    switch = steps if late_step is None or late_r is None or late_step < 0 else min(steps, late_step)
    early = gpu_step_seconds(device, preset, generator, r, precision)
    late = early if switch == steps else gpu_step_seconds(device, preset, generator, late_r, precision)
    if early is None or late is None:
        return None
    return switch * early + (steps - switch) * late
