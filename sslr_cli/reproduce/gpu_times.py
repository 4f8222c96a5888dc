"""Measured GPU step times, for the dry run's estimates of the GPU scale (``--scale paper``).

Seconds per optimizer step, by device name (as ``torch.cuda.get_device_name`` says it), preset, generator,
r, precision and path ("eager", or "graphs": ``sslr train --cuda-graphs``); each row measured, never
extrapolated: a training whose row is missing has no estimate ("unknown"). To add a device or fill a row:
run ``make gpu-check`` on it (``benchmarks/gpu_check.py``: its ``steps`` and ``table_steps``, keyed
"preset/model" as here) and add what it measured.
"""

from __future__ import annotations

# studies/gpu-check/results (2026-12-04): `make gpu-check` on one NVIDIA H200, torch 2.11.0+cu130, batch 64
# (the presets'), steady state of 290 steps (30 for the table presets); "fp32" is strict float32 (TF32 off),
# as sslr trains it. bf16's eager SRN rows are from studies/speed (2026-11, median of 10 steps, bf16 autocast:
# TF32 did not touch them).
GPU_STEP_SECONDS: dict[str, dict[tuple[str, str, int | None, str, str], float]] = {
    "NVIDIA H200": {
        ("paper", "mlp", None, "fp32", "eager"): 0.05781, ("paper", "mlp", None, "fp32", "graphs"): 0.05781,
        ("paper", "srn", 10, "fp32", "eager"): 0.07259, ("paper", "srn", 10, "fp32", "graphs"): 0.06234,
        ("paper", "srn", 20, "fp32", "eager"): 0.10730, ("paper", "srn", 20, "fp32", "graphs"): 0.06745,
        ("paper", "mlp", None, "bf16", "eager"): 0.00864, ("paper", "srn", 20, "bf16", "graphs"): 0.01510,
        ("paper", "srn", 10, "bf16", "eager"): 0.03748, ("paper", "srn", 20, "bf16", "eager"): 0.07320,
        ("match-paper", "cnn", None, "fp32", "eager"): 0.00453, ("match-paper", "mlp", None, "fp32", "eager"): 0.00623,
        ("match-paper", "srn", 5, "fp32", "eager"): 0.02883,
        ("clevr-paper", "mlp", None, "fp32", "eager"): 0.09033,
    },
}
MEASURED_ON = "NVIDIA H200"  # the device a machine without a GPU estimates the GPU scale for
NO_REFINEMENT = ("mlp", "cnn")  # generators without a refinement: their rows have no r


def gpu_step_seconds(device: str, preset: str, generator: str, r: int | None, precision: str,
                     path: str = "eager") -> float | None:
    """One measured step time, or None."""
    table = GPU_STEP_SECONDS.get(device, {})
    return table.get((preset, generator, None if generator in NO_REFINEMENT else r, precision, path))


def gpu_train_seconds(device: str, preset: str, generator: str, steps: int, precision: str, r: int,
                      late_r: int | None = None, late_step: int | None = None, path: str = "eager") -> float | None:
    """Seconds for ``steps`` steps whose r is ``r`` before ``late_step`` and ``late_r`` from it (the
    paper's switch from 10 to 20 at epoch 20); None when a needed row is not measured."""
    switch = steps if late_step is None or late_r is None or late_step < 0 else min(steps, late_step)
    early = gpu_step_seconds(device, preset, generator, r, precision, path)
    late = early if switch == steps else gpu_step_seconds(device, preset, generator, late_r, precision, path)
    if early is None or late is None:
        return None
    return switch * early + (steps - switch) * late
