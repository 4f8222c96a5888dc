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
