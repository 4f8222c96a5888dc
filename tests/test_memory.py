"""engine/memory.py: a CPU training process keeps freed memory for reuse instead of faulting in fresh pages."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from sslr_cli.engine import memory

ROOT = Path(__file__).resolve().parents[1]
# Where glibc puts a 20 MiB tensor, and whether its pages stay with the process once it is freed: from the heap
# (below the program break, kept after the free) when freed memory is kept, else from its own mapping.
CHILD = r"""
import ctypes, json, sys
import torch
libc = ctypes.CDLL("libc.so.6")
libc.sbrk.restype = ctypes.c_void_p
libc.sbrk.argtypes = [ctypes.c_long]
if sys.argv[1] == "keep":
    from sslr_cli.engine.memory import keep_freed_memory
    assert keep_freed_memory()
x = torch.empty(5 << 20)
end = x.data_ptr() + x.nbytes
in_heap = end <= libc.sbrk(0)
del x
print(json.dumps({"in_heap": in_heap, "kept": libc.sbrk(0) >= end}))
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_large_blocks_come_from_the_heap_and_stay():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["PYTHONPATH"] = str(ROOT)
    seen = {}
    for how in ("default", "keep"):
        out = subprocess.run([sys.executable, "-c", CHILD, how], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
        seen[how] = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["default"]["in_heap"] is False  # glibc's default maps a first 20 MiB block and unmaps it when freed
    assert seen["keep"] == {"in_heap": True, "kept": True}


def test_not_linux_changes_nothing(monkeypatch):
    monkeypatch.setattr(memory.platform, "system", lambda: "Darwin")
    assert memory.keep_freed_memory.__wrapped__() is False
