"""`make bench`: speed figures for data generation, training steps, SRN's inner loop and the CLI, printed as
one table with the ratios the README and studies/speed quote.

Not a test: nothing here asserts a time. Every figure is measured in this run on this machine.

    python benchmarks/bench.py                 # everything (the paper preset takes a few minutes on 2 cores)
    python benchmarks/bench.py --skip-paper    # CPU presets only
    python benchmarks/bench.py --detail        # also every section's own table
    python benchmarks/bench.py --only data     # just data generation (a section alone prints its own table)
    python benchmarks/bench.py --only inner-step   # one graph-free SRN inner step: autograd / torch ops / kernel
    python benchmarks/bench.py --only threads      # the default thread count vs torch's, alone and beside a busy process
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

console = Console(width=170)  # wide tables stay readable when piped to a file
ROOT = Path(__file__).resolve().parent.parent
SUMMARY: list[tuple[str, str, str]] = []  # (figure, value, ratio): the one table `make bench` ends with
DETAIL = True  # print each section's own table (main() turns it off for the whole run without --detail)


def show(table: Table) -> None:
    if DETAIL:
        console.print(table)


def summarise(figure: str, value: str, ratio: str = "") -> None:
    SUMMARY.append((figure, value, ratio))


# ----------------------------------------------------------------------------- data generation
def reference_style_circles(n: int, seed: int = 0) -> np.ndarray:
    """The straightforward way (the paper's code): per-circle rejection with cv2.circle on float64 canvases."""
    import cv2

    rng = np.random.default_rng(seed)
    out = np.zeros((n, 64, 64, 3), np.uint8)
    for i in range(n):
        img = np.zeros((64, 64, 3), dtype=np.float64)
        k = int(rng.integers(0, 11))
        j = 0
        while j < k:
            r = int(rng.integers(1, 12))
            center = (int(rng.integers(r, 64 - r)), int(rng.integers(r, 64 - r)))
            c = [0.0, 0.0, 0.0]
            c[int(rng.integers(0, 2))] = 1.0
            test = cv2.circle(np.zeros((64, 64, 3), dtype=np.float64), center, r + 1, c, -1)
            if (img + test).max() > 1:
                continue
            img += cv2.circle(np.zeros((64, 64, 3), dtype=np.float64), center, r, c, -1)
            j += 1
        out[i] = (img * 255).astype(np.uint8)
    return out


def bench_data(n: int) -> None:
    import h5py

    from sslr_cli.data.circles import generate_circles
    from sslr_cli.data.store import write_scenes

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        imgs = reference_style_circles(n)
        t_gen = time.perf_counter() - t0
        with h5py.File(Path(tmp) / "ref.h5", "w") as f:
            f.create_dataset("images", data=imgs, chunks=(1, 64, 64, 3), compression="gzip", compression_opts=1)
        t_ref = time.perf_counter() - t0
        rows.append(("reference-style loop (cv2.circle, float64)", n, n / t_gen, n / t_ref))

        t0 = time.perf_counter()
        scenes = generate_circles(n, seed=0)
        t_gen = time.perf_counter() - t0
        write_scenes(Path(tmp) / "ours.h5", scenes)
        t_ours = time.perf_counter() - t0
        rows.append(("sslr gen-data circles", n, n / t_gen, n / t_ours))

        t0 = time.perf_counter()
        for name, count, seed in (("train", 64000, 0), ("test", 4000, 1)):
            write_scenes(Path(tmp) / f"{name}.h5", generate_circles(count, seed=seed))
        t_default = time.perf_counter() - t0
    table = Table(title=f"Circles data generation ({os.cpu_count()} CPU cores)")
    for col in ("method", "images", "generate images/s", "generate + HDF5 write images/s"):
        table.add_column(col)
    for name, count, g, w in rows:
        table.add_row(name, str(count), f"{g:,.0f}", f"{w:,.0f}")
    show(table)
    (_, _, ref_g, ref_w), (_, _, our_g, our_w) = rows
    summarise("circles: generate + HDF5 write, images/s (reference-style loop)", f"{our_w:,.0f} ({ref_w:,.0f})",
              f"x{our_w / ref_w:.1f}")
    summarise("circles: the default sets, 64000 + 4000 images", f"{t_default:.1f} s")


# ----------------------------------------------------------------------------- training steps
STEP_SCRIPT = r"""
import json, resource, sys, time
import torch
from dataclasses import replace
from torch.utils.flop_counter import FlopCounterMode
from sslr_cli.config import get_preset
from sslr_cli.data.loader import to_float_images
from sslr_cli.engine.device import autocast
from sslr_cli.engine.tasks import reconstruction_loss
from sslr_cli.engine.threads import configure_threads
from sslr_cli.models import SetAutoencoder

configure_threads(None)  # the thread count sslr's commands use by default (SSLR_THREADS chooses another)
from sslr_cli.engine.memory import keep_freed_memory
keep_freed_memory()  # as `sslr train` on a CPU
preset, generator, precision, r, batch, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.manual_seed(0)
cfg = replace(get_preset(preset).model, generator=generator, inner_steps=r)
model = SetAutoencoder(cfg).train()
opt = torch.optim.Adam(model.parameters(), 3e-4)
x = to_float_images(torch.randint(0, 256, (batch, cfg.image_size, cfg.image_size, 3), dtype=torch.uint8))
dev = torch.device("cpu")

def step():
    with autocast(dev, precision):
        _, rec = model(x)
    loss = reconstruction_loss(rec.image, x, "sse")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()

step()  # warm-up (allocations, oneDNN kernels)
with FlopCounterMode(display=False) as fc:
    step()
flops = fc.get_total_flops()
times = []
for _ in range(reps):
    t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
# the peak of the row's own precision: a bf16 matmul for bf16 rows (oneDNN's AMX/AVX-512 BF16 path), fp32 otherwise
dtype = torch.bfloat16 if precision == "bf16" else torch.float32
a = torch.randn(2048, 2048).to(dtype); b = torch.randn(2048, 2048).to(dtype)
a @ b
peak_times = []
for _ in range(7):  # the best of 7, as the step is the best of its reps: a moment of load on the machine does not count
    t = time.perf_counter(); a @ b; peak_times.append(time.perf_counter() - t)
peak = 2 * 2048 ** 3 / min(peak_times)
best = min(times)
print(json.dumps({"threads": torch.get_num_threads(), "step_s": best, "median_s": sorted(times)[len(times) // 2], "flops": flops, "matmul_peak": peak,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def bench_steps(configs: list[tuple[str, str, str, int]], batch: int, reps: int) -> None:
    table = Table(title=f"Training step, batch {batch} (best of {reps}; {os.cpu_count()} CPU cores, sslr's default threads)")
    for col in ("preset", "generator", "r", "precision", "s/step", "images/s", "GFLOP/step", "GFLOP/s", "% of matmul peak (own precision)", "peak RSS MB"):
        table.add_column(col, justify="right")
    measured = {}
    for preset, generator, precision, r in configs:
        proc = subprocess.run([sys.executable, "-c", STEP_SCRIPT, preset, generator, precision, str(r), str(batch), str(reps)],
                              capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            table.add_row(preset, generator, str(r), precision, "failed: " + proc.stderr.strip().splitlines()[-1][:60], *[""] * 5)
            continue
        m = json.loads(proc.stdout.strip().splitlines()[-1])
        measured[preset, generator, precision, r] = m["step_s"]
        gflops = m["flops"] / 1e9
        achieved = gflops / m["step_s"]
        table.add_row(preset, generator, str(r) if generator == "srn" else "-", precision, f"{m['step_s']:.3f}",
                      f"{batch / m['step_s']:.1f}", f"{gflops:.1f}", f"{achieved:.1f}",
                      f"{100 * achieved * 1e9 / m['matmul_peak']:.0f}%  (peak {m['matmul_peak'] / 1e9:.0f})", f"{m['rss_mb']:.0f}")
        console.print(f"  measured {preset}/{generator}/{precision}/r={r}: {m['step_s']:.3f} s/step, {m['threads']} thread(s)",
                      highlight=False)
    show(table)
    for preset in dict.fromkeys(c[0] for c in configs):
        srn, mlp = measured.get((preset, "srn", "bf16", 10)), measured.get((preset, "mlp", "bf16", 0))
        if srn and mlp:
            summarise(f"training step, {preset}, batch {batch}, bf16: SRN r=10 (MLP)", f"{srn:.3f} s ({mlp:.3f} s)",
                      f"SRN x{srn / mlp:.2f} MLP")
        fp32 = measured.get((preset, "srn", "fp32", 10))
        if srn and fp32:
            summarise(f"training step, {preset}, SRN r=10: fp32 / bf16", f"{fp32:.3f} s / {srn:.3f} s", f"x{fp32 / srn:.2f}")


# The SRN training step both --inner-grad timers run (one thread, the preset's precision, random images):
# srn_model(mode, r) builds SetAutoencoder for "MODE[+PRECISION][/autograd]" ("implicit+fp32": --inner-grad
# implicit --refine-precision fp32; "/autograd": graph-free steps through autograd, as before their fast path).
SRN_STEP_PRELUDE = r"""
import json, resource, sys, time
import torch
torch.set_num_threads(1)
from dataclasses import replace
from sslr_cli.config import get_preset
from sslr_cli.data.loader import to_float_images
from sslr_cli.engine.device import autocast
from sslr_cli.engine.tasks import reconstruction_loss
from sslr_cli.models import SetAutoencoder

dev = torch.device("cpu")

def srn_model(base, mode, r):
    torch.manual_seed(0)
    mode, _, variant = mode.partition("/")
    grad_mode, _, refine = mode.partition("+")
    cfg = replace(base.model, generator="srn", inner_steps=r, inner_grad=grad_mode,
                  refine_precision=refine or base.model.refine_precision)
    model = SetAutoencoder(cfg).train()
    agg = model.encoder.refiner.agg
    if variant == "autograd":
        agg.squared_error = None
    elif variant == "torch-ops":
        import functools
        agg.squared_error = functools.partial(type(agg).squared_error, agg, native=False)
    return model, cfg

def random_images(cfg, batch):
    return to_float_images(torch.randint(0, 256, (batch, cfg.image_size, cfg.image_size, 3), dtype=torch.uint8))

def train_step(base, model, opt, x):
    with autocast(dev, base.train.precision):
        _, rec = model(x)
    loss = reconstruction_loss(rec.image, x, "sse")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
"""


INNER_GRAD_SCRIPT = SRN_STEP_PRELUDE + r"""
preset, mode, r, batch, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
base = get_preset(preset)
model, cfg = srn_model(base, mode, r)
opt = torch.optim.Adam(model.parameters(), 1e-3)
x = random_images(cfg, batch)
step = lambda: train_step(base, model, opt, x)  # noqa: E731

opt.zero_grad(set_to_none=True)
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
step()  # warm-up; Adam's state is allocated here, so it counts in the peak of every mode alike
times = []
for _ in range(reps):
    t = time.process_time(); step(); times.append(time.process_time() - t)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
import weakref
saved = []
with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(weakref.ref(t)) or t, lambda t: t):
    with autocast(dev, base.train.precision):
        _, rec = model(x)
# what the graph still holds once the forward is done (the graph-free inner steps have freed theirs), less weights
params = {p.untyped_storage().data_ptr() for p in model.parameters()}
alive = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in (ref() for ref in saved) if t is not None}
graph_mb = sum(n for ptr, n in alive.items() if ptr not in params) / 2**20
del rec
print(json.dumps({"cpu_s": sorted(times)[len(times) // 2], "cpu_s_min": min(times), "peak_mb": (peak - baseline) / 1024, "graph_mb": graph_mb}))
"""


INTERLEAVED_SCRIPT = SRN_STEP_PRELUDE + r"""
preset, configs, batch, reps = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
base = get_preset(preset)
x = None
runs = []
for mode, r in configs:
    model, cfg = srn_model(base, mode, r)
    runs.append((model, torch.optim.Adam(model.parameters(), 1e-3)))
    if x is None:
        x = random_images(cfg, batch)

for model, opt in runs:
    train_step(base, model, opt, x)  # warm-up
times = [[] for _ in runs]
for _ in range(reps):  # one step of each configuration in turn: a change in the machine's load hits all alike
    for (model, opt), ts in zip(runs, times):
        t = time.process_time(); train_step(base, model, opt, x); ts.append(time.process_time() - t)
print(json.dumps(times))
"""


def interleaved_times(preset: str, configs: list[tuple[str, int]], batch: int, reps: int) -> dict | None:
    """One-thread CPU s/step of each (mode, r), all models in one process, stepped in turn: ``medians`` and the
    per-round ``times`` (``times[i][k]``: configuration i in round k)."""
    proc = subprocess.run([sys.executable, "-c", INTERLEAVED_SCRIPT, preset, json.dumps(configs), str(batch), str(reps)],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode != 0:
        console.print(f"  interleaved {preset}: failed: {proc.stderr.strip().splitlines()[-1][:80]}", highlight=False)
        return None
    times = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"medians": [sorted(ts)[len(ts) // 2] for ts in times], "times": times}


def paired_ratio(times: list[list[float]], i: int, ref: int, boot: int = 5000) -> dict:
    """Step time of configuration i over configuration ref, from the rounds of an interleaved run: the median of the
    per-round ratios (each round's two steps ran back to back, under the same load) and a bootstrap 95 % interval."""
    ratio = np.asarray(times[i]) / np.asarray(times[ref])
    rng = np.random.default_rng(0)
    meds = np.median(rng.choice(ratio, (boot, ratio.size)), axis=1)
    lo, hi = np.percentile(meds, [2.5, 97.5])
    return {"median": float(np.median(ratio)), "ci95": [float(lo), float(hi)], "rounds": int(ratio.size)}


def bench_inner_grad(presets: list[str], modes: list[str], rs: list[int], batch: int, reps: int, out: Path | None,
                     interleave: bool = False) -> None:
    """SRN's training step per way of differentiating the inner loop (--inner-grad), one fresh process each.

    Time: median one-thread CPU time (time.process_time) of ``reps`` steps after a warm-up, so other work on
    the machine inflates it little. Memory: the process's peak resident set (ru_maxrss) over the steps minus
    its value just before the first step (model, optimizer and batch already built): what a training step adds
    (allocator-dependent, a few % of noise). Graph: the bytes of the distinct storages that one forward pass saves
    for the backward pass (``saved_tensors_hooks``), which is exact and is where the modes differ.
    """
    table = Table(title=f"SRN training step by --inner-grad, batch {batch}, the preset's precision "
                        f"(median of {reps}; one-thread CPU time; peak RSS added by the step)")
    ref = ("unrolled", min(rs))
    for col in ("preset", "inner grad", "r", "CPU s/step", "CPU s/step interleaved",
                f"x {ref[0]} r={ref[1]} interleaved (95 % CI)", "peak RSS MB over baseline", "graph MB"):
        table.add_column(col, justify="right")
    rows = []
    for preset in presets:
        configs = [(mode, r) for mode in modes for r in rs]
        inter = interleaved_times(preset, configs, batch, max(reps, 5)) if interleave else None
        inter_of, ratio_of = {}, {}
        if inter is not None:
            console.print(f"  interleaved {preset}: " + ", ".join(f"{m}/r={r} {t:.3f} s" for (m, r), t in zip(configs, inter["medians"])), highlight=False)
            inter_of = dict(zip(configs, inter["medians"]))
            if ref in configs:
                ratio_of = {c: paired_ratio(inter["times"], i, configs.index(ref)) for i, c in enumerate(configs)}
        for mode in modes:
            for r in rs:
                proc = subprocess.run([sys.executable, "-c", INNER_GRAD_SCRIPT, preset, mode, str(r), str(batch), str(reps)],
                                      capture_output=True, text=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
                if proc.returncode != 0:
                    table.add_row(preset, mode, str(r), "failed: " + proc.stderr.strip().splitlines()[-1][:60], "", "", "", "")
                    continue
                m = json.loads(proc.stdout.strip().splitlines()[-1])
                if (mode, r) in inter_of:
                    m["cpu_s_interleaved"] = inter_of[mode, r]
                if (mode, r) in ratio_of:
                    m["ratio_interleaved"] = {"to": f"{ref[0]}/r={ref[1]}", **ratio_of[mode, r]}
                rows.append({"preset": preset, "inner_grad": mode, "r": r, "batch": batch, **m})
                q = m.get("ratio_interleaved")
                table.add_row(preset, mode, str(r), f"{m['cpu_s']:.3f}",
                              f"{m['cpu_s_interleaved']:.3f}" if "cpu_s_interleaved" in m else "-",
                              f"{q['median']:.3f} ({q['ci95'][0]:.3f}-{q['ci95'][1]:.3f})" if q else "-",
                              f"{m['peak_mb']:.0f}", f"{m['graph_mb']:.1f}")
                console.print(f"  measured {preset}/{mode}/r={r}: {m['cpu_s']:.3f} s, +{m['peak_mb']:.0f} MB, graph {m['graph_mb']:.1f} MB", highlight=False)
    show(table)
    for preset in presets:
        graph = {(row["inner_grad"], row["r"]): row["graph_mb"] for row in rows if row["preset"] == preset}
        lo, hi = min(rs), max(rs)
        if ("implicit", lo) in graph and ("implicit", hi) in graph and ("unrolled", hi) in graph:
            summarise(f"SRN graph, {preset}: implicit r={lo} / r={hi} (unrolled r={hi})",
                      f"{graph['implicit', lo]:.1f} / {graph['implicit', hi]:.1f} MB ({graph['unrolled', hi]:.1f} MB)")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"cpu_cores": os.cpu_count(), "threads": 1, "time": "median time.process_time per step",
                                   "memory": "ru_maxrss peak minus ru_maxrss before the first step (fresh process per row)",
                                   "graph": "MiB of distinct storages saved for backward by one forward (saved_tensors_hooks)",
                                   "time_interleaved": "median time.process_time per step, every (mode, r) of a preset in one "
                                                       "process, stepped in turn (reps = max(--reps, 5))",
                                   "ratio_interleaved": "median over the interleaved rounds of this row's step time / the "
                                                        "reference row's in the same round; bootstrap 95 % interval",
                                   "rows": rows}, indent=1) + "\n")


def bench_implicit_ratio(preset: str, reps: int, batch: int = 32) -> None:
    """The paired ratio the README quotes: an `implicit` step at r = 40 over an `unrolled` step at r = 10, both
    in one process, taking turns (studies/inner-grad has the full comparison)."""
    inter = interleaved_times(preset, [("unrolled", 10), ("implicit", 40)], batch, reps)
    if inter is None:
        return
    q = paired_ratio(inter["times"], 1, 0)
    summarise(f"SRN training step, {preset}: implicit r=40 / unrolled r=10 (paired, {q['rounds']} rounds)",
              f"{inter['medians'][1]:.3f} s / {inter['medians'][0]:.3f} s",
              f"x{q['median']:.3f} ({q['ci95'][0]:.3f}-{q['ci95'][1]:.3f})")


def bench_inner_step(reps: int) -> None:
    """benchmarks/inner_step.py (its own lines), then its tiny bf16 row in the summary."""
    console.print("[bold]One graph-free SRN inner step[/bold] (ms, batch 32, one thread; benchmarks/inner_step.py)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "inner_step.json"
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "inner_step.py"), "--reps", str(reps), "--out", str(out)],
                       cwd=ROOT, check=False)
        rows = json.loads(out.read_text())["rows"] if out.exists() else []
    for row in rows:
        if row["precision"] != "bf16":
            continue
        ways = [w for w in ("autograd", "fast_torch_ops", "fast_kernel") if f"ms_per_step_{w}" in row]
        ms = [row[f"ms_per_step_{w}"] for w in ways]
        summarise(f"one graph-free inner step, {row['preset']} bf16: " + " / ".join(w.replace("fast_", "") for w in ways),
                  " / ".join(f"{v:.2f}" for v in ms) + " ms", " / ".join(f"x{ms[0] / v:.2f}" for v in ms[1:]))


def bench_clevr_render(n: int = 200, size: int = 128) -> None:
    """The CLEVR-style renderer (benchmarks/bench_clevr.py's bench_render)."""
    from bench_clevr import bench_render  # this script's folder is on sys.path

    r = bench_render(n, size, 0)
    console.print(f"  CLEVR renderer: {r['images_per_s']:.1f} images/s at {size}x{size} ({n} images)", highlight=False)
    summarise(f"CLEVR-style renderer, {size}x{size}, images/s", f"{r['images_per_s']:.1f}")


def bench_threads(rounds: int) -> None:
    """A tiny SRN training step with the default thread policy and with torch's default, alone and beside a busy
    process (benchmarks/threads.py; rounds taken in turn, medians)."""
    from threads import measure  # this script's folder is on sys.path

    res = measure(["sslr-default", "torch"], ["idle", "busy"], rounds, seconds=2.0,
                  log=lambda line: console.print(line, highlight=False))
    for cond, what in (("idle", "as the machine is"), ("busy", "beside a busy loop")):
        ours, theirs = res["sslr-default"][cond], res["torch"][cond]
        others = sorted(ours["others_cores"] + theirs["others_cores"])[len(ours["others_cores"])]
        summarise(f"tiny SRN training, images/s {what} (others kept {others:.1f} cores busy): "
                  f"sslr's default {ours['threads']} thread(s) (torch's default {theirs['threads']})", f"{ours['images_per_s']:.1f} ({theirs['images_per_s']:.1f})",
                  f"x{ours['images_per_s'] / theirs['images_per_s']:.2f}")


def bench_help_start(reps: int = 5) -> None:
    """Wall time of `sslr --help` in a fresh process (the CLI imports no torch to print help), as
    benchmarks/cli_start.py measures it."""
    from cli_start import time_start  # this script's folder is on sys.path

    summarise(f"sslr --help start time (median of {reps} fresh processes)", f"{time_start(ROOT, ['--help'], reps):.2f} s")


def print_summary() -> None:
    table = Table(title=f"sslr bench: speed figures on this machine ({os.cpu_count()} CPU cores)")
    for col, justify in (("figure", "left"), ("value", "right"), ("ratio", "right")):
        table.add_column(col, justify=justify)
    for row in SUMMARY:
        table.add_row(*row)
    console.print(table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("cli-start", "data", "steps", "inner-grad", "inner-step", "threads", "clevr"), default=None)
    ap.add_argument("--skip-paper", action="store_true", help="leave out the paper preset (minutes per step set on 2 cores)")
    ap.add_argument("--n", type=int, default=4000, help="images for the generation comparison")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--presets", default="tiny,small,paper", help="comma-separated presets for the step table")
    ap.add_argument("--inner-grad-modes", default="unrolled,implicit,truncated:3",
                    help="--inner-grad values; MODE+fp32 / MODE+autocast also sets --refine-precision; "
                         "MODE/autograd runs the graph-free inner steps through autograd (without their fast path), "
                         "MODE/torch-ops runs them as torch ops (without the compiled FSPool kernel)")
    ap.add_argument("--inner-grad-r", default="10,20,40")
    ap.add_argument("--inner-grad-presets", default="tiny,small")
    ap.add_argument("--inner-grad-out", default=None, help="also write the --inner-grad rows to this JSON file")
    ap.add_argument("--inner-grad-interleave", action="store_true",
                    help="also time every (mode, r) of a preset in one process, stepped in turn (comparisons robust to load changes)")
    ap.add_argument("--detail", action="store_true", help="also print every section's own table (a section run with --only does)")
    args = ap.parse_args()
    global DETAIL
    DETAIL = args.detail or args.only is not None
    console.print(f"[bold]sslr bench[/bold] on {os.cpu_count()} CPU cores, python {sys.version.split()[0]}")
    if args.only in (None, "cli-start"):  # how fast `sslr --help` and friends answer (benchmarks/cli_start.py)
        if DETAIL:
            console.print("[bold]CLI start[/bold] (median of fresh processes)")
            subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cli_start.py")], cwd=ROOT, check=False)
        bench_help_start()
    if args.only in (None, "data"):
        bench_data(args.n)
    if args.only in (None, "steps"):
        configs = []
        presets = [p for p in args.presets.split(",") if not (args.skip_paper and p == "paper")]
        for preset in presets:
            for precision in ("fp32", "bf16"):
                configs.append((preset, "mlp", precision, 0))
                configs.append((preset, "srn", precision, 10))
            configs.append((preset, "srn", "fp32", 20))
        bench_steps(configs, batch=32, reps=args.reps)
    if args.only in (None, "inner-grad"):
        bench_inner_grad(args.inner_grad_presets.split(","), args.inner_grad_modes.split(","),
                         [int(r) for r in args.inner_grad_r.split(",")], batch=32, reps=args.reps,
                         out=Path(args.inner_grad_out) if args.inner_grad_out else None, interleave=args.inner_grad_interleave)
        bench_implicit_ratio("tiny", reps=max(args.reps, 11))
    if args.only in (None, "inner-step"):  # one graph-free inner step: autograd, torch ops, the FSPool kernel
        bench_inner_step(max(args.reps, 3))
    if args.only in (None, "threads"):  # the default thread count against torch's, alone and beside a busy process
        bench_threads(max(args.reps, 3))
    if args.only in (None, "clevr"):
        bench_clevr_render()
    if args.only in (None, "threads"):
        print_summary()


if __name__ == "__main__":
    main()
