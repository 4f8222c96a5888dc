"""Where a CPU training step's time goes, by part of the model, forward and backward.

The step of `sslr train` (the preset's precision, batch 32, random images, Adam), taken apart at the boundaries
of the model's parts: the forward runs the parts one after the other as ``SetAutoencoder`` does (trunk, H_set,
H_embed, the refinement, the decoder, Eq. 7, the loss), each timed; the backward is one ``loss.backward()``
whose boundary tensors (Y_hat, the decoder's logits, S, z, the trunk's features) carry hooks that note the time
their gradient is complete, so the time between two hooks is the backward of the part between them; then
Adam's step. One thread, CPU time of the process (``time.process_time``: other work on the machine inflates it
little), median over ``--reps`` steps after two warm-ups. The sum of the parts is checked against a plain step
(``model(x)``) timed in the same rounds.

Optionally (``--ops``) torch.profiler's top operators of one step, self CPU time.

    python studies/cpu-step/profile_parts.py --presets tiny,small --generators srn,mlp --reps 15 \\
        --out studies/cpu-step/results/parts-tiny-small-bf16.json
    python studies/cpu-step/profile_parts.py --keep-freed-memory --out studies/cpu-step/results/parts-tiny-small-bf16-after.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

torch.set_num_threads(1)
if "--keep-freed-memory" in sys.argv:  # as `sslr train` does on a CPU since this study (engine/memory.py)
    from sslr_cli.engine.memory import keep_freed_memory

    keep_freed_memory()

from sslr_cli.config import get_preset  # noqa: E402
from sslr_cli.engine.device import autocast, flush_denormals, seed_everything  # noqa: E402
from sslr_cli.engine.state import make_optimizer, optimizer_step  # noqa: E402
from sslr_cli.engine.tasks import get_task, reconstruction_loss  # noqa: E402
from sslr_cli.models.decoder import compose  # noqa: E402

DEV = torch.device("cpu")
FORWARD = ["trunk", "H_set", "H_embed", "refinement", "decoder", "eq7", "loss"]
BACKWARD = ["loss", "eq7", "decoder", "refinement+H_set", "H_embed", "trunk"]


def build(preset: str, generator: str):
    cfg = get_preset(preset)
    from dataclasses import replace

    cfg = replace(cfg, model=replace(cfg.model, generator=generator))
    seed_everything(0)
    model = get_task("reconstruct").build_model(cfg).train()
    opt = make_optimizer(model, cfg)
    x = torch.rand(cfg.train.batch_size, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    return cfg, model, opt, x


def plain_step(cfg, model, opt, x) -> float:
    t = time.process_time()
    with autocast(DEV, cfg.train.precision):
        _, rec = model(x, cfg.model.inner_steps)
        loss = reconstruction_loss(rec.image, x, cfg.train.loss)
    optimizer_step(loss, opt)
    return time.process_time() - t


def parted_step(cfg, model, opt, x) -> dict[str, float]:
    """One training step, timed by part (seconds of CPU time)."""
    g, dec = model.encoder, model.decoder
    out: dict[str, float] = {}
    clock = time.process_time
    with autocast(DEV, cfg.train.precision):
        t = clock()
        features = g.trunk(x)
        t1 = clock(); out["fwd trunk"] = t1 - t
        s0 = g.set_head(features)
        t2 = clock(); out["fwd H_set"] = t2 - t1
        if g.refiner is not None:
            z = g.embed(features)
            t3 = clock(); out["fwd H_embed"] = t3 - t2
            start = s0.detach() if g.cfg.init_mode == "detached" else s0
            s = g.refiner(start, z, cfg.model.inner_steps).set
            t4 = clock(); out["fwd refinement"] = t4 - t3
        else:
            z, s, t4 = None, s0, clock()
            out["fwd H_embed"] = out["fwd refinement"] = 0.0
        b, n, d = s.shape
        logits = dec(s.reshape(b * n, d))
        t5 = clock(); out["fwd decoder"] = t5 - t4
        logits5 = logits.view(b, n, *logits.shape[1:])
        rec = compose(logits5)
        t6 = clock(); out["fwd eq7"] = t6 - t5
        loss = reconstruction_loss(rec.image, x, cfg.train.loss)
        t7 = clock(); out["fwd loss"] = t7 - t6
    marks: dict[str, float] = {}

    def mark(name):
        def hook(grad):
            marks.setdefault(name, clock())
        return hook

    rec.image.register_hook(mark("image"))
    logits.register_hook(mark("logits"))
    s.register_hook(mark("set"))
    if z is not None:
        z.register_hook(mark("z"))
    features.register_hook(mark("features"))
    opt.zero_grad(set_to_none=True)
    t8 = clock()
    loss.backward()
    t9 = clock()
    z_mark = marks.get("z", marks["set"])
    out["bwd loss"] = marks["image"] - t8
    out["bwd eq7"] = marks["logits"] - marks["image"]  # the clamp, the sum, softmax x sigmoid
    out["bwd decoder"] = marks["set"] - marks["logits"]
    out["bwd refinement+H_set"] = z_mark - marks["set"] if z is not None else marks["features"] - marks["set"]
    out["bwd H_embed"] = marks["features"] - z_mark if z is not None else 0.0
    out["bwd trunk"] = t9 - marks["features"]
    t10 = clock()
    opt.step()
    out["adam"] = clock() - t10
    out["other"] = (clock() - t) - sum(out.values())  # zero_grad, hooks, gaps between the clock reads
    return out


def profile_ops(cfg, model, opt, x, top: int = 25) -> str:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        plain_step(cfg, model, opt, x)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="tiny,small")
    ap.add_argument("--generators", default="srn,mlp")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--ops", default=None, help="also write torch.profiler's operator table of each config to FILE")
    ap.add_argument("--out", default=None)
    ap.add_argument("--keep-freed-memory", action="store_true", help="glibc malloc keeps freed memory (engine/memory.py)")
    args = ap.parse_args()
    configs = [(p, gname) for p in args.presets.split(",") for gname in args.generators.split(",")]
    built = {c: build(*c) for c in configs}
    parts = {c: [] for c in configs}
    plain = {c: [] for c in configs}
    ops_text = []
    with flush_denormals(DEV):
        for c in configs:
            for _ in range(2):
                plain_step(*built[c])
        for _ in range(args.reps):  # rounds: every config in turn, a plain step then a parted one
            for c in configs:
                plain[c].append(plain_step(*built[c]))
                parts[c].append(parted_step(*built[c]))
        if args.ops:
            for c in configs:
                ops_text.append(f"== {c[0]} {c[1]} ==\n" + profile_ops(*built[c]))
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    rows = []
    for c in configs:
        names = parts[c][0].keys()
        m = {k: med([p[k] for p in parts[c]]) for k in names}
        total = med([sum(p.values()) for p in parts[c]])
        cfg = built[c][0]
        rows.append({"preset": c[0], "generator": c[1], "precision": cfg.train.precision, "r": cfg.model.inner_steps,
                     "inner_grad": cfg.model.inner_grad, "batch": cfg.train.batch_size,
                     "plain_step_s": med(plain[c]), "parted_step_s": total, "parts_s": m})
        print(f"{c[0]} {c[1]}: plain {med(plain[c]):.3f} s, parted {total:.3f} s")
        for k, v in m.items():
            print(f"   {k:24s} {1000 * v:8.1f} ms  {100 * v / total:5.1f} %")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"threads": 1, "time": "median time.process_time over reps, by part",
                                              "reps": args.reps, "rows": rows}, indent=1) + "\n")
    if args.ops:
        Path(args.ops).write_text("\n".join(ops_text))


if __name__ == "__main__":
    main()
