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


def autocast(device: torch.device, precision: str):
    """Autocast context for "bf16"/"fp16"; a no-op for "fp32"."""
    if precision == "fp32":
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
