"""Does a CPU run's thread count change its numbers? Three tiny SRN training steps (bf16, seed 0, the same
batches) with 1 and with 2 threads, each in a fresh process; prints how many tensors of the state differ.

    python studies/cpu-step/thread_bits.py > studies/cpu-step/results/thread-bits-tiny.txt
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import torch

CHILD = r"""
import io, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from sslr_cli.config import get_preset
from sslr_cli.engine.device import autocast, flush_denormals, seed_everything
from sslr_cli.engine.state import make_optimizer, optimizer_step
from sslr_cli.engine.tasks import get_task
cfg, task = get_preset("tiny"), get_task("reconstruct")
seed_everything(0)
model = task.build_model(cfg).train()
opt = make_optimizer(model, cfg)
gen, dev = torch.Generator().manual_seed(1), torch.device("cpu")
with flush_denormals(dev):
    for _ in range(3):
        batch = {"images": torch.randint(0, 256, (32, 64, 64, 3), dtype=torch.uint8, generator=gen)}
        with autocast(dev, "bf16"):
            loss = task.loss(model, batch, cfg, cfg.model.inner_steps)
        optimizer_step(loss, opt)
buf = io.BytesIO()
torch.save(model.state_dict(), buf)
sys.stdout.buffer.write(buf.getvalue())
"""


def main() -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    states = {}
    for n in (1, 2):
        out = subprocess.run([sys.executable, "-c", CHILD, str(n)], capture_output=True, env=env, cwd=root, check=True).stdout
        states[n] = torch.load(io.BytesIO(out))
    differ = [k for k in states[1] if not torch.equal(states[1][k], states[2][k])]
    print(f"3 tiny SRN steps, 1 vs 2 threads: {len(differ)} of {len(states[1])} state tensors differ")
    print("first differing:", ", ".join(differ[:6]))


if __name__ == "__main__":
    main()
