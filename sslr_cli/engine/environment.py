"""What this installation runs on: versions, devices, CPU features, the FSPool kernel, the cache folder.

``sslr info`` prints it (what a user pastes into a bug report); the ``sslr reproduce`` report records it."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path

# The CPU features the project's code paths depend on: AVX2 / AVX-512 (the FSPool kernel's vector code,
# torch's CPU kernels) and bf16 instructions (bf16 autocast, the CPU presets' precision).
CPU_FEATURES = {"avx2": "avx2", "avx512f": "avx512f", "avx512_bf16": "avx512_bf16", "amx_bf16": "amx_bf16"}


def package_version(name: str) -> str | None:
    """An installed distribution's version without importing it (None when it is not installed)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def version_line() -> str:
    """`sslr --version`: one line, read from the installed packages' metadata (torch is not imported)."""
    from sslr_cli import __version__

    torch = package_version("torch") or "not installed"
    return f"sslr {__version__} (Python {platform.python_version()}, torch {torch})"


def cpu_description(cpuinfo: str | None = None) -> dict:
    """The CPU's model name and which of ``CPU_FEATURES`` it has (from /proc/cpuinfo where it exists)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    model, flags = "", set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and not model:
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return {"model": model or platform.processor() or "unknown", "cores": os.cpu_count(), "arch": platform.machine(),
            "features": {name: flag in flags for name, flag in CPU_FEATURES.items()} if flags else {}}


def describe(kernel: bool = True) -> dict:
    """Everything ``sslr info`` shows, as plain data. ``kernel``: also build or load the FSPool kernel to
    report its status (a second at most, the first time)."""
    import h5py
    import numpy as np
    import torch

    from sslr_cli import __version__

    cuda = torch.cuda.is_available()
    info = {
        "sslr": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "hdf5": h5py.version.hdf5_version,
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu": cpu_description(),
        "gpus": [{"name": torch.cuda.get_device_name(i),
                  "memory_gib": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1),
                  "capability": ".".join(map(str, torch.cuda.get_device_capability(i)))}
                 for i in range(torch.cuda.device_count())] if cuda else [],
    }
    from sslr_cli.models import native

    info["cache_dir"] = str(native.cache_dir())
    info["fspool_kernel"] = native.sort_pool_status() if kernel else "not checked"
    return info
