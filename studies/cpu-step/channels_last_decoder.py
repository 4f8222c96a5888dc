"""A tried and rejected lever: F's hidden layers in channels_last. The decoder alone (512 elements, bf16 autocast,
one thread, kept freed memory), forward and backward ms (median of 7 after 2 warm-ups, plain and channels_last
in turn), and whether output and every parameter's gradient keep their bits.

    python studies/cpu-step/channels_last_decoder.py > studies/cpu-step/results/lever-channels-last-decoder.txt
"""

from __future__ import annotations

import time

import torch

torch.set_num_threads(1)

import sslr_cli.models.decoder as D  # noqa: E402
from sslr_cli.engine.memory import keep_freed_memory  # noqa: E402
from sslr_cli.models.decoder import ElementDecoder  # noqa: E402


def fwd_cl(self, elements):
    h = torch.relu(self.norm0(self.proj(elements)))
    h = h.view(-1, self.channels, self.start, self.start).contiguous(memory_format=torch.channels_last)
    h = self.up[:-1](h)
    return D.patch_transpose_conv(h.contiguous(), self.up[-1].weight)


def main() -> None:
    keep_freed_memory()
    for w in (32, 64):
        torch.manual_seed(0)
        dec = ElementDecoder(10, w, 64).train()
        x, g = torch.randn(512, 10), torch.randn(512, 3, 64, 64)
        res, outs = {}, {}
        for rep in range(9):
            for name in ("plain", "channels_last"):
                f = (lambda e: fwd_cl(dec, e)) if name == "channels_last" else dec
                dec.zero_grad(set_to_none=True)
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    t = time.process_time()
                    y = f(x)
                    t1 = time.process_time()
                y.backward(g.bfloat16())
                t2 = time.process_time()
                if rep >= 2:
                    res.setdefault(name, []).append((t1 - t, t2 - t1))
                outs[name] = (y.detach(), {n: p.grad.clone() for n, p in dec.named_parameters()})
        a, b = outs["plain"], outs["channels_last"]
        differ = [n for n in a[1] if not torch.equal(a[1][n], b[1][n])]
        times = {n: [round(1e3 * sorted(c)[len(c) // 2], 1) for c in zip(*v)] for n, v in res.items()}
        print(f"width {w}: forward/backward ms {times}; output equal {torch.equal(a[0], b[0])}; "
              f"{len(differ)} of {len(a[1])} gradients differ ({', '.join(differ[:4])})")


if __name__ == "__main__":
    main()
