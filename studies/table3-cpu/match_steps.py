"""Single-thread CPU time of one set-matching training step, per matcher and width.

    python studies/table3-cpu/match_steps.py --data bench-out/table3/iso-train.h5 \
        --out studies/table3-cpu/results/match-step-times.json

For each width (``w64`` = ``match-paper``'s, and narrower trunks) and each
matcher (naive CNN, SSLR-MLP, SSLR-SRN, SSLR-SRN with the reconstruction term), it takes ``--warmup`` steps,
then times ``--steps`` steps of ``MatchingTask.loss`` + backward + RMSprop with ``time.process_time()`` under
``torch.set_num_threads(1)``: CPU time, so the figure does not depend on what else the machine runs.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from sslr_cli.config import get_preset
from sslr_cli.data.loader import scene_tensors
from sslr_cli.data.store import open_scenes
from sslr_cli.engine.match_task import MatchingTask, configure_matching

WIDTHS = {  # (encoder_width, decoder_width, agg_hidden, embed_dim); w64 = match-paper
    "w64": dict(encoder_width=64, decoder_width=256, agg_hidden=512, embed_dim=100),
    "w32": dict(encoder_width=32, decoder_width=64, agg_hidden=256, embed_dim=100),
    "w16": dict(encoder_width=16, decoder_width=32, agg_hidden=128, embed_dim=64),  # match-small
    "w8": dict(encoder_width=8, decoder_width=16, agg_hidden=64, embed_dim=32),  # match-tiny
}
# generator, --recon-weight, extra: "srn-r" decodes all 32 images A per step, "srn-r8" / "srn-r4" the first 8 / 4
MATCHERS = {"cnn": ("cnn", None, []), "mlp": ("mlp", None, []), "srn": ("srn", None, []), "srn-r": ("srn", 1.0, []),
            "srn-r8": ("srn", 1.0, ["recon_images=8"]), "srn-r4": ("srn", 1.0, ["recon_images=4"])}


def config(width: str, matcher: str):
    base = get_preset("match-paper")
    generator, recon, extra = MATCHERS[matcher]
    cfg = replace(base, preset=width, model=replace(base.model, generator=generator, **WIDTHS[width]))
    return configure_matching(cfg, lr_given=False, weight_decay_given=False, recon_weight=recon, extra=extra)


def time_steps(cfg, batches, warmup: int, steps: int) -> float:
    torch.manual_seed(0)
    task = MatchingTask()
    model = task.build_model(cfg)
    model.train()
    opt = torch.optim.RMSprop(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    r = cfg.model.inner_steps
    t = 0.0
    for i in range(warmup + steps):
        batch = batches[i % len(batches)]
        t0 = time.process_time()
        loss = task.loss(model, batch, cfg, r)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= warmup:
            t += time.process_time() - t0
    return t / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", default=None)
    p.add_argument("--widths", default=",".join(WIDTHS))
    p.add_argument("--matchers", default=",".join(MATCHERS))
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(1)
    arrays = scene_tensors(open_scenes(a.data, ("isocircles",)).load(["images", "images_b", "target"], limit=a.batch_size * 4),
                           ("images", "images_b", "target"))
    batches = [{k: v[i : i + a.batch_size] for k, v in arrays.items()} for i in range(0, a.batch_size * 4, a.batch_size)]
    rows = []
    for width in a.widths.split(","):
        for matcher in a.matchers.split(","):
            cfg = config(width, matcher)
            s = time_steps(cfg, batches, a.warmup, a.steps)
            row = {"width": width, "matcher": matcher, "model": {k: getattr(cfg.model, k) for k in
                   ("encoder_width", "decoder_width", "agg_hidden", "embed_dim", "inner_steps")},
                   "batch_size": a.batch_size, "cpu_s_per_step": round(s, 4), "steps_per_cpu_minute": round(60 / s, 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps({"threads": 1, "timer": "time.process_time", "steps": a.steps,
                                           "warmup": a.warmup, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
