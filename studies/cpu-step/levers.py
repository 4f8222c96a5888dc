"""A speed lever against the plain path: training steps of both, in one process, taking turns.

Two copies of the same model (the preset as `sslr train` builds it, same seed, batch 32 of random images, Adam),
one stepped with the lever off, one with it on, alternately; one thread; CPU time of the process per step
(``time.process_time``). The figure is the median over rounds of (lever step / plain step) with a bootstrap 95 %
interval: both steps of a round ran back to back, under the same load.

Levers (installed on the lever's copy only):
- ``fold-deconv``: F's last transposed convolution (kernel = stride = 4) in bf16 on a CPU as a matmul and
  ``F.fold``, its backward the convolution's own (``models/decoder.patch_transpose_conv``). Kept.
- ``patch-deconv``: F's last transposed convolution (kernel = stride = 4) as one matmul and a permute of its
  output (bf16 autocast; ``patch_transpose_conv`` below). Rejected: no faster (studies/cpu-step/README.md).

    python studies/cpu-step/levers.py --lever fold-deconv --presets tiny,small --generators srn,mlp --rounds 21 \\
        --out studies/cpu-step/results/lever-fold-deconv.json
"""

from __future__ import annotations

import argparse
import types
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)

from sslr_cli.config import get_preset  # noqa: E402
from sslr_cli.engine.device import autocast, flush_denormals, seed_everything  # noqa: E402
from sslr_cli.engine.state import make_optimizer, optimizer_step  # noqa: E402
from sslr_cli.engine.tasks import get_task  # noqa: E402

DEV = torch.device("cpu")


def patch_transpose_conv(h: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``conv_transpose2d(h, weight, stride=k)`` for a k x k kernel without bias or padding, as one matmul: with
    the stride equal to the kernel the output patches do not overlap, out[m, :, y, :, x, :] = W^T (o k k, c) @
    h[m, :, y, x]. The forward gives the convolution's bf16 values (one c-term float32 sum, rounded once)."""
    m, c, hh, ww = h.shape
    _, o, k, _ = weight.shape
    y = torch.matmul(weight.reshape(c, o * k * k).t(), h.reshape(m, c, hh * ww))  # (m, o k k, H W)
    return y.view(m, o, k, k, hh, ww).permute(0, 1, 4, 2, 5, 3).reshape(m, o, hh * k, ww * k)


def decoder_forward_patch(self, elements: torch.Tensor) -> torch.Tensor:
    """ElementDecoder.forward with the last layer as ``patch_transpose_conv`` (bf16 autocast on a CPU)."""
    h = torch.relu(self.norm0(self.proj(elements)))
    h = self.up[:-1](h.view(-1, self.channels, self.start, self.start))
    return patch_transpose_conv(h, self.up[-1].weight)


LEVERS = ("fold-deconv", "patch-deconv")


def install(lever: str, plain, fast) -> None:
    """The plain copy gets the plain path, the other ``lever`` (instance attributes: the class is untouched)."""
    plain.decoder.patch_last_layer = False  # F's last layer as nn.ConvTranspose2d
    if lever == "patch-deconv":
        fast.decoder.forward = types.MethodType(decoder_forward_patch, fast.decoder)
    elif lever != "fold-deconv":  # fold-deconv: models/decoder.py's own path, on by default
        raise ValueError(f"unknown lever {lever!r}; choose one of {', '.join(LEVERS)}")


def build(preset: str, generator: str):
    cfg = get_preset(preset)
    cfg = replace(cfg, model=replace(cfg.model, generator=generator))
    seed_everything(0)
    model = get_task("reconstruct").build_model(cfg).train()
    return cfg, model, make_optimizer(model, cfg)


def step(cfg, model, opt, batch) -> tuple[float, float]:
    task = get_task("reconstruct")
    t = time.process_time()
    with autocast(DEV, cfg.train.precision):
        loss = task.loss(model, batch, cfg, cfg.model.inner_steps)
    optimizer_step(loss, opt)
    return time.process_time() - t, float(loss.detach())


def paired(ratio: np.ndarray, boot: int = 5000) -> dict:
    rng = np.random.default_rng(0)
    meds = np.median(rng.choice(ratio, (boot, ratio.size)), axis=1)
    lo, hi = np.percentile(meds, [2.5, 97.5])
    return {"median": float(np.median(ratio)), "ci95": [float(lo), float(hi)], "rounds": int(ratio.size)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lever", default="fold-deconv", choices=LEVERS)
    ap.add_argument("--presets", default="tiny,small")
    ap.add_argument("--generators", default="srn,mlp")
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    rows = []
    with flush_denormals(DEV):
        for preset in args.presets.split(","):
            for gen in args.generators.split(","):
                plain, fast = build(preset, gen), build(preset, gen)
                cfg = plain[0]
                batch = {"images": torch.randint(0, 256, (cfg.train.batch_size, cfg.model.image_size, cfg.model.image_size, 3),
                                                 dtype=torch.uint8, generator=torch.Generator().manual_seed(1))}
                install(args.lever, plain[1], fast[1])
                _, loss_plain = step(*plain, batch)  # warm-up; the first loss is the same forward in both
                _, loss_fast = step(*fast, batch)
                tp, tf = [], []
                for _ in range(args.rounds):
                    tp.append(step(*plain, batch)[0])
                    tf.append(step(*fast, batch)[0])
                q = paired(np.asarray(tf) / np.asarray(tp))
                rows.append({"preset": preset, "generator": gen, "precision": cfg.train.precision,
                             "plain_s": float(np.median(tp)), "lever_s": float(np.median(tf)), "ratio": q,
                             "first_loss": {"plain": loss_plain, "lever": loss_fast}})
                print(f"{preset} {gen}: plain {np.median(tp):.4f} s, {args.lever} {np.median(tf):.4f} s, "
                      f"ratio {q['median']:.3f} ({q['ci95'][0]:.3f}-{q['ci95'][1]:.3f}); first loss {loss_plain:.6g} / {loss_fast:.6g}",
                      flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"lever": args.lever, "threads": 1, "time": "time.process_time per step",
                                              "ratio": "median over rounds of lever step / plain step (back to back); "
                                                       "bootstrap 95 % interval", "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
