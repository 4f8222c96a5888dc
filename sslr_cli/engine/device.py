"""Device and precision selection, and seeding."""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch

from sslr_cli.errors import SSLRError


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" = CUDA when available, else CPU. Asking for CUDA without it is a usage error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SSLRError(f"--device {name}: CUDA is not available on this machine (use --device cpu or auto)")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise SSLRError(f"--device {name!r}: choose auto, cpu or cuda")


def configure_precision(device: torch.device, precision: str) -> dict:
    """What "fp32" and "tf32" mean on a GPU, set for the process; returns the settings (the run records them).

    PyTorch lets cuDNN run float32 convolutions in TF32 by default (and cuBLAS matmuls where allowed): "fp32"
    turns both off (strict float32, the paper's precision), "tf32" turns both on. ``cudnn.benchmark`` picks the
    fastest convolution algorithms once per shape (a run's shapes are fixed). Nothing changes on a CPU.
    """
    if device.type != "cuda":
        return {}
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    return {"allow_tf32": tf32, "cudnn_benchmark": True}


def autocast(device: torch.device, precision: str):
    """Autocast context for "bf16"/"fp16"; a no-op for "fp32" and "tf32" (float32 tensors)."""
    if precision in ("fp32", "tf32"):
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise SSLRError("--precision fp16: only on CUDA (use bf16 on a CPU)")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@contextlib.contextmanager
def flush_denormals(device: torch.device):
    """On a CPU, treat subnormal floats as zero (flush-to-zero and denormals-are-zero) while training.

    Why: arithmetic on subnormal floats takes a slow path on x86 CPUs. Measured on this project's
    2-core CPU: an "SSLR-SRN (r + init)" matching step whose weights and gradients had become tiny
    after its first, huge losses took 0.63 s of one thread instead of 0.11 s with flushing. Values
    below ~1.2e-38 in float32 change nothing a model can use. Restored to off afterwards (torch has no
    getter for the setting; off is its default). No effect on CUDA, where the kernels flush anyway.
    """
    if device.type != "cpu" or not torch.set_flush_denormal(True):
        yield
        return
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
