"""A compiled kernel for SRN's graph-free inner steps: FSPool's sort, weighted sum and un-sort in one pass.

torch has no fused op for "sort each feature's n values, weight them, and send a gradient back through the
sort"; as separate ops (sort, gather, multiply, sum, scatter) they are about half of a graph-free inner
step at the ``tiny`` preset on a CPU, mostly per-op overhead on small tensors. ``torch.compile`` was tried
first (studies/inner-grad, docs/architecture.md): a minute of compiling, no faster, and not torch's bits. So this is
hand-written C (``sort_pool.c``): built with the system C compiler the first time it is needed, cached
under ``$SSLR_CACHE_DIR`` (default ``~/.cache/sslr``, keyed by the source's hash and the machine), and
loaded with ctypes. It gives exactly the bits of the torch ops it replaces (the tests compare them).

Where it cannot be built (no compiler, or one without ``target_clones``, e.g. not on x86-64) or would be
slow (a CPU without AVX2: without vector code the network sort is slower than torch's ops), or where
``SSLR_NATIVE=0`` is set, ``sort_pool_kernel()`` is None and callers use the torch ops;
``sort_pool_status()`` says why.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("sort_pool.c")
MAX_SET_SIZE = 16  # the network's slots; torch's sort keeps ties in element order up to here
_FLAGS = ["-O3", "-std=c99", "-ffp-contract=off", "-fPIC", "-shared", "-DSSLR_TARGET_CLONES"]


class SortPoolKernel:
    """FSPool's graph-free forward and backward for bfloat16 CPU tensors with |S| <= 16.

    ``pool(h, w)``: h (B, n, C), w (n, C) -> (out (B, C), order (B, n, C) uint8) with
    out = (h.sort(dim=1, descending=True).values * w).sum(dim=1) and order the sort's indices.
    ``unpool(g, w, order)``: g (B, C) -> grad (B, n, C) = empty_like(h).scatter_(1, order, g[:, None] * w).
    """

    def __init__(self, library: ctypes.CDLL) -> None:
        ptr, size = ctypes.c_void_p, ctypes.c_int64
        self._pool = library.sslr_sort_pool_bf16
        self._pool.argtypes = [ptr, ptr, size, size, size, ptr, ptr]
        self._pool.restype = None
        self._unpool = library.sslr_unpool_bf16
        self._unpool.argtypes = [ptr, ptr, ptr, size, size, size, ptr]
        self._unpool.restype = None

    @staticmethod
    def supports(device_type: str, dtype: torch.dtype, set_size: int) -> bool:
        return device_type == "cpu" and dtype == torch.bfloat16 and 1 <= set_size <= MAX_SET_SIZE

    @staticmethod
    def _check_weights(w: torch.Tensor, n: int, c: int) -> None:
        if w.shape != (n, c) or w.dtype != torch.bfloat16 or w.device.type != "cpu" or not w.is_contiguous():
            raise ValueError(f"sort-pool kernel: w must be a contiguous bfloat16 CPU tensor of shape ({n}, {c})")

    def pool(self, h: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if h.dim() != 3 or not self.supports(h.device.type, h.dtype, h.shape[1]) or not h.is_contiguous():
            raise ValueError(f"sort-pool kernel: h must be a contiguous bfloat16 CPU tensor (B, n <= {MAX_SET_SIZE}, C)")
        b, n, c = h.shape
        self._check_weights(w, n, c)
        out = h.new_empty(b, c)
        order = torch.empty(b, n, c, dtype=torch.uint8)
        self._pool(h.data_ptr(), w.data_ptr(), b, n, c, out.data_ptr(), order.data_ptr())
        return out, order

    def unpool(self, g: torch.Tensor, w: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
        b, n, c = order.shape
        if g.shape != (b, c) or g.dtype != torch.bfloat16 or g.device.type != "cpu" or not g.is_contiguous():
            raise ValueError(f"sort-pool kernel: g must be a contiguous bfloat16 CPU tensor of shape ({b}, {c})")
        if order.dtype != torch.uint8 or not order.is_contiguous():
            raise ValueError("sort-pool kernel: order must be pool()'s uint8 tensor")
        self._check_weights(w, n, c)
        grad = g.new_empty(b, n, c)
        self._unpool(g.data_ptr(), w.data_ptr(), order.data_ptr(), b, n, c, grad.data_ptr())
        return grad


def cache_dir() -> Path:
    """Where built kernels are kept: $SSLR_CACHE_DIR, else $XDG_CACHE_HOME/sslr or ~/.cache/sslr."""
    root = os.environ.get("SSLR_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "sslr")
    return Path(root)


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), (sysconfig.get_config_var("CC") or "").split(" ")[0], "cc", "gcc", "clang"):
        path = shutil.which(name) if name else None
        if path:
            return path
    return None


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _digest_file(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _unsafe_folder(folder: Path) -> str | None:
    """Why code in ``folder`` must not be loaded (another user owns it or may write into it), or None."""
    st = folder.stat()
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"{folder} belongs to another user"
    if st.st_mode & 0o022:
        return f"{folder} is writable by other users"
    return None


def _verified(target: Path) -> bool:
    """The cached library is the one this process's kind built: its digest matches the one recorded beside it."""
    record = _digest_file(target)
    try:
        return record.read_text().strip() == _digest(target)
    except OSError:
        return False


def _build(compiler: str, target: Path) -> None:
    """Compile to a temporary file next to ``target`` and rename it into place (parallel builds are safe);
    the library's digest is recorded beside it, and checked before every later load."""
    fd, tmp = tempfile.mkstemp(prefix=target.stem + ".", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        done = subprocess.run([compiler, *_FLAGS, str(SOURCE), "-o", tmp], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            raise RuntimeError(f"{Path(compiler).name} exited with {done.returncode}" + (f": {said[-1]}" if said else ""))
        record_tmp = Path(tmp + ".sha256")
        record_tmp.write_text(_digest(Path(tmp)) + "\n")
        os.replace(record_tmp, _digest_file(target))
        os.replace(tmp, target)
    finally:
        Path(tmp + ".sha256").unlink(missing_ok=True)
        if os.path.exists(tmp):
            os.unlink(tmp)


@functools.cache
def _load() -> tuple[SortPoolKernel | None, str]:
    if os.environ.get("SSLR_NATIVE", "1") == "0":
        return None, "disabled by SSLR_NATIVE=0"
    if platform.system() == "Windows":
        return None, "not built on Windows"
    key = hashlib.sha256(SOURCE.read_bytes() + " ".join(_FLAGS).encode()).hexdigest()[:16]
    target = cache_dir() / f"sort_pool-{key}-{platform.machine()}.so"
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        unsafe = _unsafe_folder(target.parent)
        if unsafe:
            return None, f"not loaded: {unsafe} (set SSLR_CACHE_DIR to a folder of your own)"
        cached = target.exists() and _verified(target)  # a file without its digest, or another one, is rebuilt
        if not cached:
            compiler = _compiler()
            if compiler is None:
                return None, "no C compiler found (set CC)"
            _build(compiler, target)
        library = ctypes.CDLL(str(target))
        library.sslr_sort_pool_init.restype = ctypes.c_int
        library.sslr_sort_pool_vectorised.restype = ctypes.c_int
        library.sslr_sort_pool_init()
        if not library.sslr_sort_pool_vectorised():
            return None, "not used: this CPU has no AVX2, where the kernel is slower than torch's ops"
        return SortPoolKernel(library), f"{'loaded from the cache' if cached else 'built'}: {target}"
    except (OSError, RuntimeError, AttributeError, subprocess.SubprocessError) as err:
        return None, f"could not be built or loaded: {err}"


def sort_pool_kernel() -> SortPoolKernel | None:
    """The compiled kernel, built on first call (a second or so), or None where it is not available."""
    return _load()[0]


def sort_pool_status() -> str:
    """One line: where the kernel was built, or why it is not used."""
    return _load()[1]
