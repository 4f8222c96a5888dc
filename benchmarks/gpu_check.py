"""The GPU check: a few minutes on one GPU that say whether the paper scale's fast paths work and how fast they are.

    python benchmarks/gpu_check.py --out gpu-check.json --budget-minutes 8   # on a machine with CUDA (one H200)
    python benchmarks/gpu_check.py --device cpu --preset tiny --steps 30 --curve-steps 0 --table-presets none --out x.json
                                                                              # a dry run of the script itself

Everything goes through the `sslr` command line (or pytest), as a user would run it, so the check keeps working
whatever the code inside looks like. It writes one JSON file, rewritten whole after every section, most
important first, so that a lease that ends early still leaves the figures measured so far:

- ``steps``: seconds per training step at the preset's width and batch, steady state (from the first logged
  step, the 10th, to the last: start-up and capture are left out), for MLP, SRN r = 10 and SRN r = 20, eager
  and with ``--cuda-graphs``, strict fp32; SRN r = 20 with graphs and MLP eager in bf16 too;
  ``srn_r20_over_mlp``: SRN r = 20's step over MLP's eager fp32 step, for each path;
- ``graphs_equal_eager``: each model's losses, eager and with graphs from the same seed, every 10 steps side by
  side and their largest relative difference (two processes: cuDNN may time and pick other algorithms in each,
  so they agree to float rounding, not bit for bit; the CUDA tests compare in one process);
- ``tests``: the CUDA-only tests (graph replay and --compile against eager on a tiny model, bf16 graphs
  resuming eagerly) with the training and distributed test files;
- ``table_steps``: eager seconds per step of the Table 2 and Table 3 presets (``--table-presets``: CLEVR SRN and
  MLP; set matching's CNN, MLP, SRN and SRN r + init), keyed as ``sslr_cli/reproduce/gpu_times.py`` keys its rows;
- ``steps["srn-r20/compile"]``: SRN r = 20 with ``--compile`` (the inner loop stays eager: double backward);
- ``curve``: a short learning curve (Table 1 every ``--curve-steps / 2`` steps) of SRN and MLP at the preset,
  with CUDA graphs.

Nothing here asserts a time; a path that fails is recorded with its error and the check goes on.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class Deadline:
    """The check's time budget: each command gets what is left (a device lease is short; what ran is kept)."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


DEADLINE = Deadline(float("inf"))


def sslr(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    limit = min(timeout, DEADLINE.left())
    if limit < 5:
        return subprocess.CompletedProcess(args, 124, "", "skipped: the check's time budget is spent")
    try:
        return subprocess.run([sys.executable, "-m", "sslr_cli", *map(str, args)], capture_output=True, text=True,
                              env=env, cwd=ROOT, timeout=limit)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"timed out after {limit:.0f} s")


def step_lines(run: Path) -> list[dict]:
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [x for x in lines if x.get("kind") == "step"]


def seconds_per_step(run: Path) -> float | None:
    """Steady-state s/step: from the first logged step to the last (start-up, capture, compilation left out)."""
    steps = step_lines(run)
    if len(steps) < 2 or steps[-1]["step"] == steps[0]["step"]:
        return None
    return (steps[-1]["elapsed_s"] - steps[0]["elapsed_s"]) / (steps[-1]["step"] - steps[0]["step"])


def train(data: Path, out: Path, preset: str, device: str, steps: int, *extra: str, precision: str = "fp32",
          timeout: float = 600) -> dict:
    t0 = time.perf_counter()
    done = sslr("train", data, "--out", out, "--preset", preset, "--device", device, "--max-steps", steps,
                "--precision", precision, "--val-fraction", "0.05", "--set", "train.log_every=10", "--quiet", "--json",
                "--force", *extra, timeout=timeout)
    record = {"args": list(extra), "wall_s": round(time.perf_counter() - t0, 1)}
    if done.returncode != 0:
        record["error"] = (done.stderr.strip().splitlines() or ["exit code %d" % done.returncode])[-1]
        return record
    record["s_per_step"] = seconds_per_step(out)
    record["losses"] = [(x["step"], x["loss"]) for x in step_lines(out)]
    return record


def table_steps(work: Path, args, circles_srn: dict) -> dict:
    """Eager s/step of the CLEVR and set-matching presets, keyed "preset/model" (gpu_times.py's rows)."""
    rows: dict = {}
    presets = [p.strip() for p in args.table_presets.split(",") if p.strip()]
    for preset in presets:
        match = preset.startswith("match-")
        data = work / (f"iso-{preset}.h5" if match else f"clevr-{preset}.h5")
        if not data.exists():
            size = "64" if preset.endswith("tiny") else "128"
            made = (sslr("gen-data", "isocircles", data, "--n", "3200", "-q") if match else
                    sslr("gen-data", "clevr", data, "--n", "320", "--size", size, "-q"))
            if made.returncode != 0:
                rows[preset] = {"error": made.stderr.strip().splitlines()[-1:]}
                continue
        models = (("cnn", "cnn", ()), ("mlp", "mlp", ()), ("srn", "srn", ()),
                  ("srn-ri", "srn", ("--recon-weight", "1"))) if match else (("mlp", "mlp", ()), ("srn", "srn", ()))
        for name, gen, extra in models:
            if name == "srn-ri":  # r + init: the weights of the circles SRN timed above (same widths)
                init = work / "runs" / "srn-r10-eager" / "last.pt"
                if "error" in circles_srn or not init.exists():
                    rows[f"{preset}/{name}"] = {"skipped": "no circles SRN checkpoint to start from"}
                    continue
                extra = (*extra, "--init", str(init))
            flags = ("--task", "match") if match else ()
            rec = train(data, work / "runs" / f"{preset}-{name}", preset, args.device, args.table_steps,
                        "--generator", gen, *flags, *extra)
            rec.pop("losses", None)
            rows[f"{preset}/{name}"] = rec
            print(f"gpu_check: {preset}/{name}: {rec.get('s_per_step')} s/step", flush=True)
    return rows


def save(result: dict, out: Path) -> None:
    """Write what has run so far (a lease can end mid-check): the file is whole after every section."""
    tmp = out.with_suffix(".partial")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.replace(out)


def step_times(data: Path, runs: Path, args, cuda: bool, result: dict) -> dict:
    """Eager and CUDA-graph step times of MLP, SRN r = 10 and r = 20 (and SRN r = 20 in bf16 with graphs)."""
    steps: dict = result.setdefault("steps", {})
    for name, gen, r in (("mlp", "mlp", None), ("srn-r10", "srn", 10), ("srn-r20", "srn", 20)):
        for path, flags in (("eager", ()), ("graphs", ("--cuda-graphs",))):
            if path != "eager" and not cuda:
                steps[f"{name}/{path}"] = {"skipped": "no CUDA"}
                continue
            extra = ("--generator", gen, *flags) + (("--inner-steps", str(r), "--late-epoch", "-1") if r else ())
            steps[f"{name}/{path}"] = train(data, runs / f"{name}-{path}", args.preset, args.device, args.steps, *extra)
            print(f"gpu_check: {name}/{path}: {steps[f'{name}/{path}'].get('s_per_step')} s/step", flush=True)
            save(result, args.out)
    if cuda:
        steps["srn-r20/graphs-bf16"] = train(data, runs / "srn-r20-graphs-bf16", args.preset, args.device, args.steps,
                                             "--generator", "srn", "--cuda-graphs", "--inner-steps", "20",
                                             "--late-epoch", "-1", precision="bf16")
        steps["mlp/eager-bf16"] = train(data, runs / "mlp-eager-bf16", args.preset, args.device, args.steps,
                                        "--generator", "mlp", precision="bf16")
    return steps


def ratios(steps: dict) -> dict:
    mlp = steps.get("mlp/eager", {}).get("s_per_step")
    return {key.split("/", 1)[1]: (rec["s_per_step"] / mlp if mlp and rec.get("s_per_step") else None)
            for key, rec in steps.items() if key.startswith("srn-r20/")}


def equality(steps: dict) -> dict:
    """Eager and graph losses of the same seed side by side, and their largest relative difference."""
    out = {}
    for name in ("mlp", "srn-r10", "srn-r20"):
        eager, graphs = steps.get(f"{name}/eager", {}), steps.get(f"{name}/graphs", {})
        if "losses" in eager and "losses" in graphs:
            pairs = list(zip(eager["losses"], graphs["losses"]))
            worst = max((abs(a[1] - b[1]) / max(abs(a[1]), 1e-12) for a, b in pairs), default=None)
            first = next((a[0] for a, b in pairs if a[1] != b[1]), None)
            out[name] = {"steps": [a[0] for a, _ in pairs], "eager": [a[1] for a, _ in pairs],
                         "graphs": [b[1] for _, b in pairs], "max_relative_difference": worst,
                         "first_step_that_differs": first}
        else:
            out[name] = {"skipped": graphs.get("skipped") or graphs.get("error") or eager.get("error")}
    return out


def cuda_tests() -> dict:
    t0 = time.perf_counter()
    limit = min(420.0, DEADLINE.left())
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_cuda_graphs.py",
               "tests/test_training.py", "tests/test_distributed.py"]
    try:
        tests = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {limit:.0f} s"}
    lines = tests.stdout.strip().splitlines()
    return {"exit_code": tests.returncode, "summary": (lines or [""])[-1],
            "failures": [x for x in lines if x.startswith(("FAILED", "ERROR", "E "))][:20],
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="the JSON file to write (rewritten after every section)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--steps", type=int, default=300, help="steps of each timed run (losses logged every 10)")
    ap.add_argument("--curve-steps", type=int, default=2000, help="steps of the short learning curve (0: none)")
    ap.add_argument("--work", type=Path, default=None, help="folder for data and runs (default: a temporary one)")
    ap.add_argument("--table-presets", default="clevr-paper,match-paper",
                    help="the CLEVR and set-matching presets to time (comma-separated; 'none' to skip)")
    ap.add_argument("--table-steps", type=int, default=100, help="steps of each of those timed runs")
    ap.add_argument("--budget-minutes", type=float, default=0.0,
                    help="stop starting commands after this long (0: no limit); the sections run most important "
                         "first: step times and graphs against eager, the CUDA tests, the tables' presets, "
                         "--compile, the curve")
    ap.add_argument("--only", default="steps,tests,tables,compile,curve",
                    help="the sections to run, comma-separated (default: all, in this order)")
    args = ap.parse_args()
    only = set(args.only.split(","))
    global DEADLINE
    DEADLINE = Deadline(args.budget_minutes * 60 if args.budget_minutes > 0 else float("inf"))
    cuda = args.device.startswith("cuda")
    if cuda:
        import torch

        if not torch.cuda.is_available():
            sys.exit("gpu_check: no CUDA device here (torch sees none); run it on a machine with a GPU, or "
                     "--device cpu --preset tiny for a dry run of the script")
    work = args.work or Path(tempfile.mkdtemp(prefix="sslr-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    result: dict = {"device": args.device, "preset": args.preset, "timed_steps": args.steps}
    info = sslr("info", "--json")
    result["info"] = json.loads(info.stdout) if info.returncode == 0 else info.stderr.strip()

    data = work / "circles.h5"
    if not data.exists():
        made = sslr("gen-data", "circles", data, "--n", "6400", "-q")
        if made.returncode != 0:
            sys.exit(f"gpu_check: gen-data failed: {made.stderr.strip()}")
    runs = work / "runs"
    steps = step_times(data, runs, args, cuda, result) if "steps" in only else result.setdefault("steps", {})
    result["srn_r20_over_mlp"] = ratios(steps)
    result["graphs_equal_eager"] = equality(steps)
    save(result, args.out)

    if "tests" in only:
        result["tests"] = cuda_tests() if cuda else "skipped (no CUDA)"
        save(result, args.out)

    if args.table_presets != "none" and "tables" in only:
        result["table_steps"] = table_steps(work, args, steps.get("srn-r10/eager", {}))
        save(result, args.out)

    if cuda and "compile" in only:  # --compile leaves SRN's inner loop eager (double backward): timed at r = 20, where it matters most
        steps["srn-r20/compile"] = train(data, runs / "srn-r20-compile", args.preset, args.device, args.steps,
                                         "--generator", "srn", "--compile", "--inner-steps", "20", "--late-epoch", "-1",
                                         timeout=240)
        steps["srn-r20/compile"].pop("losses", None)
        result["srn_r20_over_mlp"] = ratios(steps)
        save(result, args.out)

    if args.curve_steps and "curve" in only:
        curve = {}
        for gen in ("srn", "mlp"):
            out = runs / f"curve-{gen}"
            flags = ("--cuda-graphs",) if cuda else ()
            rec = train(data, out, args.preset, args.device, args.curve_steps, "--generator", gen, *flags,
                        "--eval-every", str(max(1, args.curve_steps // 2)), "--eval-images", "200")
            if (out / "metrics.jsonl").exists():
                lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()]
                rec["evals"] = [{"step": x["step"], "rates": x.get("rates"), "mse": x.get("mse")}
                                for x in lines if x.get("kind") == "eval"]
            rec.pop("losses", None)
            curve[gen] = rec
            result["curve"] = curve
            save(result, args.out)
    for rec in steps.values():
        if isinstance(rec, dict) and "losses" in rec:
            rec["losses"] = rec["losses"][::5]  # the equality section keeps them all
    result["seconds_left"] = None if DEADLINE.left() == float("inf") else round(DEADLINE.left())
    save(result, args.out)
    print(f"gpu_check: wrote {args.out}")


if __name__ == "__main__":
    main()
