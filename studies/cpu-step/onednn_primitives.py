"""oneDNN's own timing of the convolutions of a `tiny` training step's trunk and decoder, by primitive.

Runs the trunk (batch 32) and the decoder F (32 x 16 elements) forward and backward twice in bf16 autocast, one
thread, in a child process with ONEDNN_VERBOSE=1, and sums oneDNN's reported milliseconds of the second pass
by primitive kind and implementation, then lists the slowest single calls.

    python studies/cpu-step/onednn_primitives.py > studies/cpu-step/results/onednn-primitives-tiny-bf16.txt
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

CHILD = r"""
import torch
torch.set_num_threads(1)
from sslr_cli.config import get_preset
from sslr_cli.models.decoder import ElementDecoder
from sslr_cli.models.encoder import ConvTrunk
m = get_preset("tiny").model
dec, trunk = ElementDecoder(m.element_dim, m.decoder_width, 64).train(), ConvTrunk(m.encoder_width).train()
x, img = torch.randn(32 * m.set_size, m.element_dim), torch.rand(32, 3, 64, 64)
for i in range(2):
    print("PASS", i, flush=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        f, out = trunk(img), dec(x)
    (out.float().sum() + f.float().sum()).backward()
"""


def main() -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "ONEDNN_VERBOSE": "1", "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, cwd=root).stdout
    lines = out.split("PASS 1", 1)[1].splitlines()
    calls = [line.split(",") for line in lines if ",exec," in line]
    by_kind: dict[str, list[float]] = defaultdict(list)
    for f in calls:
        by_kind[",".join(f[5:8])].append(float(f[-1]))
    total = sum(sum(v) for v in by_kind.values())
    print(f"oneDNN primitives of one tiny trunk + decoder forward and backward (bf16, one thread): {total:.1f} ms")
    print(f"{'ms':>8} {'calls':>5}  primitive, implementation, direction")
    for kind, v in sorted(by_kind.items(), key=lambda kv: -sum(kv[1])):
        print(f"{sum(v):8.2f} {len(v):5d}  {kind}")
    print("\nslowest calls:")
    for f in sorted(calls, key=lambda f: -float(f[-1]))[:8]:
        shape = next((x for x in f if x.startswith("mb")), f[-2])
        print(f"{float(f[-1]):8.2f} ms  {f[5]} {f[7]} {shape}")


if __name__ == "__main__":
    main()
