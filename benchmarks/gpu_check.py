"""The GPU check: a few minutes on one GPU that say whether the paper scale's fast paths work and how fast they are.

    python benchmarks/gpu_check.py --out gpu-check.json          # on a machine with CUDA (about 8 minutes on one H200)
    python benchmarks/gpu_check.py --device cpu --preset tiny --steps 8 --curve-steps 0 --out x.json   # a dry run

Everything goes through the `sslr` command line, as a user would run it, so the check keeps working whatever the
code inside looks like. It writes one JSON file with:

- ``tests``: the CUDA test files' pytest result (skipped on a CPU);
- ``graphs_equal_eager``: SSLR-SRN trained ``--steps`` steps eagerly and with ``--cuda-graphs`` from the same seed,
  their logged losses side by side and the largest relative difference (strict fp32, so the two should agree
  to float rounding);
- ``steps``: seconds per training step at the preset's width and batch, steady state (the time between the
  first and the last logged step, so start-up, capture and compilation are left out), for MLP, SRN r = 10 and
  SRN r = 20, eager, with CUDA graphs and with ``--compile``; the ratio SRN r = 20 / MLP for each path;
- ``curve``: a short learning curve (Table 1 every ``--curve-steps / 2`` steps) of SRN and MLP at the preset;
- ``table_steps``: eager seconds per step of the Table 2 and Table 3 presets (``--table-presets``: CLEVR SRN and
  MLP; set matching's CNN, MLP, SRN and SRN r + init), keyed as ``sslr_cli/reproduce/gpu_times.py`` keys its rows,
  so that the dry run of ``sslr reproduce --scale paper`` can estimate those tables too.

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


def sslr(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "sslr_cli", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=timeout)


def step_lines(run: Path) -> list[dict]:
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [x for x in lines if x.get("kind") == "step"]


def seconds_per_step(run: Path) -> float | None:
    """Steady-state s/step: from the first logged step to the last (start-up, capture, compilation left out)."""
    steps = step_lines(run)
    if len(steps) < 2 or steps[-1]["step"] == steps[0]["step"]:
        return None
    return (steps[-1]["elapsed_s"] - steps[0]["elapsed_s"]) / (steps[-1]["step"] - steps[0]["step"])


def train(data: Path, out: Path, preset: str, device: str, steps: int, *extra: str) -> dict:
    t0 = time.perf_counter()
    done = sslr("train", data, "--out", out, "--preset", preset, "--device", device, "--max-steps", steps,
                "--precision", "fp32", "--val-fraction", "0.05", "--quiet", "--json", "--force", *extra)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--steps", type=int, default=300, help="steps of each timed run (losses logged every 50)")
    ap.add_argument("--curve-steps", type=int, default=3000, help="steps of the short learning curve (0: none)")
    ap.add_argument("--work", type=Path, default=None, help="folder for data and runs (default: a temporary one)")
    ap.add_argument("--table-presets", default="clevr-paper,match-paper",
                    help="the CLEVR and set-matching presets to time (comma-separated; 'none' to skip)")
    ap.add_argument("--table-steps", type=int, default=100, help="steps of each of those timed runs")
    args = ap.parse_args()
    cuda = args.device.startswith("cuda")
    work = args.work or Path(tempfile.mkdtemp(prefix="sslr-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    result: dict = {"device": args.device, "preset": args.preset, "steps": args.steps}
    info = sslr("info", "--json")
    result["info"] = json.loads(info.stdout) if info.returncode == 0 else info.stderr.strip()

    if cuda:
        t0 = time.perf_counter()
        tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_cuda_graphs.py",
                                "tests/test_training.py", "tests/test_distributed.py"], capture_output=True, text=True,
                               cwd=ROOT, timeout=900)
        result["tests"] = {"exit_code": tests.returncode, "summary": (tests.stdout.strip().splitlines() or [""])[-1],
                           "seconds": round(time.perf_counter() - t0, 1)}
    else:
        result["tests"] = "skipped (no CUDA)"

    data = work / "circles.h5"
    if not data.exists():
        made = sslr("gen-data", "circles", data, "--n", "6400", "-q")
        if made.returncode != 0:
            sys.exit(f"gpu_check: gen-data failed: {made.stderr.strip()}")

    runs = work / "runs"
    paths = {"eager": (), "graphs": ("--cuda-graphs",), "compile": ("--compile",)}
    steps: dict = {}
    for name, gen, r in (("mlp", "mlp", None), ("srn-r10", "srn", 10), ("srn-r20", "srn", 20)):
        for path, flags in paths.items():
            if path != "eager" and not cuda:
                steps[f"{name}/{path}"] = {"skipped": "no CUDA"}
                continue
            extra = ("--generator", gen, *flags) + (("--inner-steps", str(r), "--late-epoch", "-1") if r else ())
            steps[f"{name}/{path}"] = train(data, runs / f"{name}-{path}", args.preset, args.device, args.steps, *extra)
            print(f"gpu_check: {name}/{path}: {steps[f'{name}/{path}'].get('s_per_step')} s/step", flush=True)
    result["steps"] = steps
    mlp = steps["mlp/eager"].get("s_per_step")
    result["srn_r20_over_mlp"] = {path: (steps[f"srn-r20/{path}"].get("s_per_step") / mlp
                                         if mlp and steps[f"srn-r20/{path}"].get("s_per_step") else None)
                                  for path in paths}

    eager, graphs = steps["srn-r10/eager"], steps["srn-r10/graphs"]
    if "losses" in eager and "losses" in graphs:
        pairs = list(zip(eager["losses"], graphs["losses"]))
        worst = max((abs(a[1] - b[1]) / max(abs(a[1]), 1e-12) for a, b in pairs), default=None)
        result["graphs_equal_eager"] = {"steps": [a[0] for a, _ in pairs], "eager": [a[1] for a, _ in pairs],
                                        "graphs": [b[1] for _, b in pairs], "max_relative_difference": worst}
    else:
        result["graphs_equal_eager"] = {"skipped": graphs.get("skipped") or graphs.get("error") or eager.get("error")}

    if args.table_presets != "none":
        result["table_steps"] = table_steps(work, args, steps.get("srn-r10/eager", {}))

    if args.curve_steps:
        curve = {}
        for gen in ("srn", "mlp"):
            out = runs / f"curve-{gen}"
            rec = train(data, out, args.preset, args.device, args.curve_steps, "--generator", gen,
                        "--eval-every", str(max(1, args.curve_steps // 2)), "--eval-images", "200")
            if "error" not in rec:
                lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()]
                rec["evals"] = [{"step": x["step"], "rates": x.get("rates"), "mse": x.get("mse")}
                                for x in lines if x.get("kind") == "eval"]
            rec.pop("losses", None)
            curve[gen] = rec
        result["curve"] = curve
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"gpu_check: wrote {args.out}")


if __name__ == "__main__":
    main()
