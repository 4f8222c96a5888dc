"""Learning curves of the set matchers on a CPU: validation error every K steps, one thread.

    python studies/table3-cpu/match_curves.py --data bench-out/table3/iso-train.h5 \
        --runs mlp:5e-4,mlp:2e-3 --steps 1000 --every 250 --log studies/table3-cpu/results/curves-learning-rates.jsonl

Each run: the ``--preset`` (default match-tiny) with the generator and RMSprop rate given, seed 0, batches of
32 training pairs in file order (epoch after epoch), validated on the last ``--val`` pairs of the file (never
trained on here) with the Table 3 metrics (relative error %, mean squared error per pair). Steps are timed with
``time.process_time()`` under ``torch.set_num_threads(1)`` (CPU time). The training loss is the task's
(``MatchingTask.loss``), so the curve is the one ``sslr train`` follows.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np
import torch

from sslr_cli.config import get_preset
from sslr_cli.data.loader import scene_tensors, to_float_images
from sslr_cli.data.store import open_scenes
from sslr_cli.engine.match_task import MatchingTask, configure_matching
from sslr_cli.experiments.matching import match_metrics, predict_distances


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--preset", default="match-tiny")
    p.add_argument("--runs", required=True, help="GENERATOR:LR[:recon_weight],... e.g. mlp:5e-4,srn:2e-3")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--every", type=int, default=250)
    p.add_argument("--val", type=int, default=1000)
    p.add_argument("--log", default=None)
    p.add_argument("--init", default=None, help="start every run from this checkpoint's weights (names and shapes that fit)")
    p.add_argument("--head-scale", action="store_true",
                   help="with --init: divide the fresh matching head's weights by the std of the initial sets' values "
                        "(on the first training batch), so it starts at the scale of the set it reads")
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)  # as `sslr train` does on a CPU (engine.device.flush_denormals)
    f = open_scenes(a.data, ("isocircles",))
    names = ("images", "images_b", "target")
    everything = f.load(list(names))  # SceneArrays
    n_train = len(everything.arrays["target"]) - a.val
    if n_train < 32:
        raise SystemExit(f"{a.data}: {len(everything.arrays['target'])} pairs, need at least 32 + {a.val}")
    train = scene_tensors({k: v[:n_train] for k, v in everything.arrays.items()}, names)
    val = scene_tensors({k: v[n_train:] for k, v in everything.arrays.items()}, names)
    del everything
    log = open(a.log, "a") if a.log else None
    for spec in a.runs.split(","):
        gen, lr, *rw = spec.split(":")
        base = get_preset(a.preset)
        cfg = replace(base, model=replace(base.model, generator=gen), train=replace(base.train, lr=float(lr)))
        cfg = configure_matching(cfg, lr_given=True, weight_decay_given=False, recon_weight=float(rw[0]) if rw else None)
        torch.manual_seed(0)
        task = MatchingTask()
        model = task.build_model(cfg)
        if a.init:
            from sslr_cli.engine.checkpoint import read_checkpoint
            from sslr_cli.engine.train import load_matching_weights

            load_matching_weights(model, read_checkpoint(a.init)["model"])
            if a.head_scale:
                model.eval()
                with torch.no_grad():
                    std = float(model.encoder(to_float_images(train["images"][:32])).set.std())
                    model.head.loc.weight /= std
                    model.head.att.weight /= std
                print(f"head scaled by 1/{std:.3f}", flush=True)
        opt = torch.optim.RMSprop(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
        cpu = 0.0
        for step in range(1, a.steps + 1):
            model.train()
            i = ((step - 1) * 32) % (n_train - n_train % 32)  # epochs over the training pairs, in file order
            batch = {k: v[i : i + 32] for k, v in train.items()}
            t0 = time.process_time()
            loss = task.loss(model, batch, cfg, cfg.model.inner_steps)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            cpu += time.process_time() - t0
            if step % a.every == 0:
                pred = predict_distances(model, val["images"], val["images_b"], 32)
                ev = match_metrics(pred, val["target"].numpy(), 32)
                row = {"preset": a.preset, "generator": gen, "lr": float(lr), "recon_weight": float(rw[0]) if rw else 0.0,
                       "init": a.init, "head_scale": a.head_scale, "step": step, "cpu_s": round(cpu, 1), "train_loss": round(float(loss.detach()), 4),
                       "val_relative_error": round(ev.relative_error, 2), "val_mse": round(ev.mse, 5),
                       "val_pred_std": round(float(np.std(pred)), 4)}
                print(json.dumps(row), flush=True)
                if log:
                    log.write(json.dumps(row) + "\n")
                    log.flush()


if __name__ == "__main__":
    main()
