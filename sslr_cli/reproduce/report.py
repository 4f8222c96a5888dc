"""The report of a reproduction: ``results.json`` (every number), ``report.md`` and a self-contained
``report.html`` (figures embedded as base64 PNG; nothing fetched from a network).

Everything comes from the files the stages wrote (the commands' ``--json`` output under ``results/``, the
figures, ``manifest.json``): the report can be rewritten at any time (``sslr reproduce OUT --report-only``).
Both documents are rendered from one list of blocks, so their numbers are the same, and the same as
results.json's (rounded for display by ``fmt``).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sslr_cli.atomic import atomic_path
from sslr_cli.jsonsafe import json_safe
from sslr_cli.experiments.disentanglement import PAPER_TABLE1
from sslr_cli.experiments.iou import PAPER_TABLE2
from sslr_cli.experiments.matching import PAPER_TABLE3
from sslr_cli.reproduce.plan import Scale, Stage

GENERATOR_NAMES = {"srn": "SSLR-SRN", "mlp": "SSLR-MLP"}


def fmt(value: Any, digits: int = 1) -> str:
    """A number as the report shows it ("—" for a missing one)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def machine() -> dict:
    import torch

    from sslr_cli import __version__
    from sslr_cli.engine.environment import cpu_description

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    cpu = cpu_description()
    return {"cpu": cpu["model"], "cpu_cores": cpu["cores"], "gpus": gpus, "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform(), "sslr": __version__}


# ---------------------------------------------------------------- results from the stages' files

def table1_results(data: dict) -> dict:
    """Per generator: the rates of every seed, their mean and std, per circle count (and at 0.5, MSE, ARI)."""
    counts = sorted(int(k) for k in data["checkpoints"][0]["rates"])
    by_gen: dict[str, list[dict]] = {}
    for c in data["checkpoints"]:
        by_gen.setdefault(c["generator"], []).append(c)
    ours = {}
    for gen in ("srn", "mlp"):
        runs = by_gen.get(gen, [])
        if not runs:
            continue
        entry = {"runs": [c["checkpoint"] for c in runs], "per_seed": [], "mean": {}, "std": {}, "mean_0.5": {},
                 "mse": _mean_std([c["mse"] for c in runs])[0], "ari": _mean_std([c["ari"] for c in runs])[0],
                 "fg_ari": _mean_std([c["fg_ari"] for c in runs])[0]}
        for c in runs:
            entry["per_seed"].append({str(k): c["rates"][str(k)] for k in counts})
        for k in counts:
            entry["mean"][str(k)], entry["std"][str(k)] = _mean_std([c["rates"][str(k)] for c in runs])
            entry["mean_0.5"][str(k)] = _mean_std([c["extra_thresholds"]["0.5"][str(k)] for c in runs])[0]
        ours[GENERATOR_NAMES[gen]] = entry
    images = data["checkpoints"][0]["images"]
    return {"threshold": data["threshold"], "counts": counts, "images_per_count": images, "ours": ours,
            "paper": {name: {str(k): v for k, v in vals.items()} for name, vals in PAPER_TABLE1.items()}}


def _seed_of(source: str, fallback: int) -> int:
    """The seed of a run from its directory name (``runs/circles-srn/seed-0/metrics.jsonl``)."""
    name = Path(source).parent.name if source.endswith(".jsonl") else Path(source).name
    tail = name.removeprefix("seed-")
    return int(tail) if tail.isdigit() else fallback


def curve_results(data: dict) -> dict:
    """Per generator, per seed: the eval points of its training (step, minutes, rates per count, MSE, ARI)."""
    ours: dict[str, list[dict]] = {}
    for i, run in enumerate(data["runs"]):
        name = GENERATOR_NAMES.get(run.get("generator"), run.get("generator") or run["label"])
        seeds = ours.setdefault(name, [])
        seeds.append({"seed": _seed_of(run["source"], len(seeds)), "run": str(Path(run["source"]).parent),
                      "points": [{"step": p["step"], "minutes": p["minutes"], "rates": p["rates"], "mse": p["mse"],
                                  "ari": p.get("ari")} for p in run["points"]]})
    counts = sorted({int(k) for runs in ours.values() for r in runs for p in r["points"] for k in p["rates"]})
    return {"threshold": data["threshold"], "counts": counts, "figure": "figures/curve.png", "ours": ours}


def figure_results(results_dir: Path) -> dict:
    out = {}
    for name in ("fig2", "fig4", "fig5", "fig6"):
        data = _load(results_dir / f"{name}.json")
        if data is None:
            continue
        per = {}
        for c in data["checkpoints"]:
            gen = c.get("generator") or ("srn" if c["label"].startswith("SRN") else "mlp")
            per[GENERATOR_NAMES.get(gen, gen)] = {k: v for k, v in c.items() if k not in ("checkpoint",)}
        out[name] = {"figure": data.get("figure"), "models": per}
    return out


def table3_results(data: dict) -> dict:
    rows = []
    for r in data["rows"]:
        rows.append({"model": r["model"], "runs": r["runs"], "relative_error": r["relative_error"],
                     "l2_error": r["l2_error"], "mse": r.get("mse"), "paper": r["paper"]})
    return {"pairs": data["pairs"], "batch_size": data.get("batch_size", 32), "rows": rows}


def table2_results(data: dict) -> dict:
    ours = {}
    for c in data["checkpoints"]:
        ours[GENERATOR_NAMES[c["generator"]]] = {"overall_iou": c["overall_iou"], "per_object_iou": c["per_object_iou"],
                                                 "ari": c["ari"], "fg_ari": c["fg_ari"]}
    return {"images": data["images"], "ours": ours, "paper": PAPER_TABLE2}


# ---------------------------------------------------------------- verdicts

def _ranges(counts: list[int]) -> str:
    if not counts:
        return ""
    parts, start = [], counts[0]
    for a, b in zip(counts, counts[1:] + [None]):
        if b != a + 1:
            parts.append(str(start) if start == a else f"{start}-{a}")
            start = b
    return ", ".join(parts)


def verdicts(results: dict) -> list[dict]:
    v = []
    t1 = results.get("table1")
    if t1 and {"SSLR-SRN", "SSLR-MLP"} <= set(t1["ours"]):
        srn, mlp = t1["ours"]["SSLR-SRN"]["mean"], t1["ours"]["SSLR-MLP"]["mean"]
        ks = t1["counts"]
        ahead = [k for k in ks if srn[str(k)] > mlp[str(k)]]
        behind = [k for k in ks if k not in ahead]
        nums = lambda kk: "SRN " + "/".join(fmt(srn[str(k)]) for k in kk) + " % vs MLP " + "/".join(fmt(mlp[str(k)]) for k in kk) + " %"  # noqa: E731
        if not behind:
            verdict, detail = "holds", f"for every count 1-{ks[-1]} ({nums(ks)})"
        elif not ahead:
            verdict, detail = "does not hold", f"SRN is not ahead for any count ({nums(ks)})"
        else:
            verdict = "partly"
            detail = f"holds for {_ranges(ahead)} circles ({nums(ahead)}), not for {_ranges(behind)} ({nums(behind)})"
        v.append({"claim": "Table 1: SSLR-SRN completely disentangles more images than SSLR-MLP for every number of circles",
                  "verdict": verdict, "detail": detail})
        paper = t1["paper"]["SSLR-SRN"]
        share = [srn[str(k)] / paper[str(k)] for k in ks if str(k) in paper]
        reached = all(srn[str(k)] >= paper[str(k)] - 5.0 for k in ks if str(k) in paper)
        v.append({"claim": "Table 1: SSLR-SRN's rates reach the paper's (95.8 % for one circle ... 65.2 % for five)",
                  "verdict": "holds" if reached else "not at this scale",
                  "detail": f"SRN reaches {fmt(100 * min(share), 0)}-{fmt(100 * max(share), 0)} % of the paper's rates "
                            f"(one circle: {fmt(srn['1'])} % vs {fmt(paper['1'])} %); the paper trained the full model "
                            f"for 100 epochs on a GPU"})
    figs = results.get("figures", {})
    f2 = figs.get("fig2", {}).get("models", {})
    if {"SSLR-SRN", "SSLR-MLP"} <= set(f2):
        s, m = f2["SSLR-SRN"], f2["SSLR-MLP"]
        holds = s["single_frames"] > m["single_frames"] or (s["single_frames"] == s["frames"] and m["single_frames"] < m["frames"])
        v.append({"claim": "Fig. 2: one SSLR-SRN element draws a moving circle, where SSLR-MLP shares it between elements",
                  "verdict": "holds" if holds and s["single_frames"] == s["frames"] else ("partly" if holds else "does not hold"),
                  "detail": f"frames drawn by a single element: SRN {s['single_frames']}/{s['frames']}, "
                            f"MLP {m['single_frames']}/{m['frames']} (elements per frame: SRN {fmt(s['mean_sharing'], 2)}, "
                            f"MLP {fmt(m['mean_sharing'], 2)})"})
    for name, fig in (("fig5", "Fig. 5"), ("fig6", "Fig. 6")):
        models = figs.get(name, {}).get("models", {})
        if {"SSLR-SRN", "SSLR-MLP"} <= set(models):
            s, m = models["SSLR-SRN"], models["SSLR-MLP"]
            sv, mv = (s["x_r2"] + s["y_r2"]) / 2, (m["x_r2"] + m["y_r2"]) / 2
            sl, ml = (s["x_linear_r2"] + s["y_linear_r2"]) / 2, (m["x_linear_r2"] + m["y_linear_r2"]) / 2
            v.append({"claim": f"{fig}: SSLR-SRN's circle elements vary consistently with the circle's position "
                               f"(SSLR-MLP's only within clusters)",
                      "verdict": "holds" if sv > mv and sl > ml else ("partly" if sv > mv or sl > ml else "does not hold"),
                      "detail": f"x/y read off the element, mean R²: k-NN SRN {fmt(sv, 3)} vs MLP {fmt(mv, 3)}; "
                                f"linear SRN {fmt(sl, 3)} vs MLP {fmt(ml, 3)}"})
    t3 = results.get("table3")
    if t3:
        rel = {r["model"]: r["relative_error"]["mean"] for r in t3["rows"]}
        spread = {r["model"]: r["relative_error"].get("std") for r in t3["rows"]}
        for better, worse, claim in (("SSLR-MLP", "Naive CNNs", "set structure (SSLR-MLP) beats the naive CNN"),
                                     ("SSLR-SRN", "SSLR-MLP", "SSLR-SRN beats SSLR-MLP"),
                                     ("SSLR-SRN (r + init)", "SSLR-SRN", "the reconstruction loss and init improve SSLR-SRN")):
            if better in rel and worse in rel:
                ok = rel[better] < rel[worse]
                detail = f"{better} {fmt(rel[better], 2)} % vs {worse} {fmt(rel[worse], 2)} %"
                stds = [x for x in (spread[better], spread[worse]) if x is not None and not math.isnan(x)]
                if len(stds) == 2:  # seeds: is the gap larger than their spread?
                    gap, sd = abs(rel[worse] - rel[better]), max(stds)
                    detail += (f" (± {fmt(spread[better], 2)} / ± {fmt(spread[worse], 2)} over the seeds: the gap of "
                               f"{fmt(gap, 2)} is {'larger' if gap > sd else 'not larger'} than the larger spread)")
                v.append({"claim": f"Table 3: {claim} (relative error)", "verdict": "holds" if ok else "does not hold",
                          "detail": detail})
    t2 = results.get("table2")
    if t2 and {"SSLR-SRN", "SSLR-MLP"} <= set(t2["ours"]):
        s, m = t2["ours"]["SSLR-SRN"], t2["ours"]["SSLR-MLP"]
        for key, what in (("overall_iou", "overall IoU"), ("per_object_iou", "per-object IoU")):
            ok = (s[key] or 0) > (m[key] or 0)
            v.append({"claim": f"Table 2: SSLR-SRN beats SSLR-MLP in {what} on CLEVR", "verdict": "holds" if ok else "does not hold",
                      "detail": f"SRN {fmt(s[key], 4)} vs MLP {fmt(m[key], 4)}"})
    return v


# ---------------------------------------------------------------- the document, as blocks

@dataclass
class Block:
    kind: str  # h1, h2, p, table, figure, code
    text: str = ""
    headers: tuple = ()
    rows: tuple = ()
    path: str = ""


def _busy_seconds(records) -> float:
    """Wall time during which some stage ran: the union of the finished stages' [end - seconds, end]
    intervals (side-by-side stages overlap; the time between two invocations of the runner is not counted)."""
    spans = []
    for r in records:
        if r.get("done") and r.get("seconds") is not None and r.get("finished"):
            end = time.mktime(time.strptime(r["finished"], "%Y-%m-%dT%H:%M:%S"))
            spans.append((end - r["seconds"], end))
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def collect(out: Path, scale: Scale, stages: list[Stage], seeds: int) -> dict:
    """results.json's content from the files under ``out``."""
    manifest = _load(out / "manifest.json") or {"stages": {}}
    results: dict[str, Any] = {
        "scale": scale.name, "about": scale.about, "seeds": seeds, "written": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine(),
        "stages": [{"name": s.name, "title": s.title, "group": s.group, "kind": s.kind, "settings": s.settings,
                    "commands": s.shell(), "done": bool(manifest["stages"].get(s.name, {}).get("done")),
                    "seconds": manifest["stages"].get(s.name, {}).get("seconds"), "estimate_seconds": s.est_seconds}
                   for s in stages],
    }
    results["wall_seconds"] = _busy_seconds(manifest["stages"].values())
    done = {s["name"] for s in results["stages"] if s["done"]}
    rdir = out / "results"
    if "table1" in done and (d := _load(rdir / "table1.json")):
        results["table1"] = table1_results(d)
    if "curve" in done and (d := _load(rdir / "curve.json")):
        results["curve"] = curve_results(d)
    figs = figure_results(rdir)
    figs = {k: v for k, v in figs.items() if k in done}
    if figs:
        results["figures"] = figs
    if "table3" in done and (d := _load(rdir / "table3.json")):
        results["table3"] = table3_results(d)
    if "table2" in done and (d := _load(rdir / "table2.json")):
        results["table2"] = table2_results(d)
    results["verdicts"] = verdicts(results)
    return results


def blocks(results: dict, out: Path) -> list[Block]:
    b = [Block("h1", f"SSLR reproduction, scale `{results['scale']}`")]
    m = results["machine"]
    total = sum(s["seconds"] or 0 for s in results["stages"])
    b.append(Block("p", f"{results['about']}. Written {results['written']}. Machine: {m['cpu']}, {m['cpu_cores']} cores, "
                        f"GPU: {', '.join(m['gpus']) or 'none'}; torch {m['torch']}, Python {m['python']}, sslr {m['sslr']}. "
                        f"Wall time: {fmt(results.get('wall_seconds', total) / 60, 1)} min (stages side by side overlap; "
                        f"their own times add up to {fmt(total / 60, 1)} min). "
                        f"Numbers from training runs this short are not the paper's; the verdicts say what holds at this scale."))
    b.append(Block("h2", "Verdicts"))
    if results["verdicts"]:
        b.append(Block("table", headers=("claim of the paper", "at this scale", "measured"),
                       rows=tuple((v["claim"], v["verdict"], v["detail"]) for v in results["verdicts"])))
    else:
        b.append(Block("p", "No table or figure has been measured yet."))

    t1 = results.get("table1")
    b.append(Block("h2", "Table 1: % of images completely disentangled"))
    if t1:
        gens = [g for g in ("SSLR-MLP", "SSLR-SRN") if g in t1["ours"]]
        n_seeds = max(len(t1["ours"][g]["per_seed"]) for g in gens)
        headers = ("# circles", "images") + tuple(f"{g} (ours)" for g in gens) + tuple(f"{g} (paper)" for g in t1["paper"])
        rows = []
        for k in t1["counts"]:
            row = [str(k), str(t1["images_per_count"][str(k)])]
            for g in gens:
                mean, std = t1["ours"][g]["mean"][str(k)], t1["ours"][g]["std"][str(k)]
                row.append(fmt(mean) + ("" if math.isnan(std) else f" ± {fmt(std)}"))
            row += [fmt(t1["paper"][g].get(str(k))) for g in t1["paper"]]
            rows.append(tuple(row))
        b.append(Block("table", headers=headers, rows=tuple(rows)))
        per = f"mean ± std over {n_seeds} seeds" if n_seeds > 1 else "one seed"
        b.append(Block("p", f"Threshold {t1['threshold']:g} (the paper's); {per}; "
                            f"{t1['images_per_count'][str(t1['counts'][0])]} fresh images per count (the paper: 1000). "
                            f"At threshold 0.5: " + "; ".join(
                                f"{g} " + "/".join(fmt(t1['ours'][g]['mean_0.5'][str(k)]) for k in t1["counts"]) + " %"
                                for g in gens) + ". MSE per pixel: " + ", ".join(
                                f"{g} {fmt(t1['ours'][g]['mse'], 4)}" for g in gens) + "; ARI: " + ", ".join(
                                f"{g} {fmt(t1['ours'][g]['ari'], 3)}" for g in gens) + "."))
        b.append(Block("figure", "Fig. 3: decompositions (original; per model its reconstruction and non-empty elements)",
                       path="figures/fig3-reconstruct.png"))
    else:
        b.append(Block("p", "Not run at this scale (or not finished)."))

    curve = results.get("curve")
    if curve:
        b += curve_blocks(curve)

    figs = results.get("figures", {})
    b.append(Block("h2", "Figures 2, 4, 5, 6"))
    captions = {"fig2": ("Fig. 2: responsibility as a circle moves 1 px per frame", "figures/fig2-shift.png"),
                "fig4": ("Fig. 4: decoding points between an empty element and a circle element", "figures/fig4-latent.png"),
                "fig5": ("Fig. 5: 2-D t-SNE of the elements that draw one circle", "figures/fig5-tsne2d.png"),
                "fig6": ("Fig. 6: 3-D t-SNE (x, y, radius, colour)", "figures/fig6-tsne3d.png")}
    if not figs:
        b.append(Block("p", "Not run at this scale (or not finished)."))
    if "fig2" in figs:
        rows = tuple((g, f"{d['single_frames']}/{d['frames']}", fmt(d["mean_sharing"], 2), str(d["handovers"]))
                     for g, d in figs["fig2"]["models"].items())
        b.append(Block("table", headers=("model", "frames drawn by one element", "elements per frame", "hand-overs"), rows=rows))
    if "fig4" in figs:
        rows = tuple((g, f"{d['one_circle_frames']}/{d['frames']}", f"{d['empty_frames']}/{d['frames']}",
                      f"{d['multi_component_frames']}/{d['frames']}", f"{d['wrong_color_frames']}/{d['frames']}")
                     for g, d in figs["fig4"]["models"].items())
        b.append(Block("table", headers=("model (Fig. 4)", "one circle", "empty", "several regions", "wrong colour"), rows=rows))
    for name in ("fig5", "fig6"):
        if name in figs:
            rows = tuple((g, str(d["points"]), fmt(d["x_r2"], 3), fmt(d["y_r2"], 3), fmt(d.get("radius_r2"), 3),
                          fmt(d["color_accuracy"], 3), fmt(d["x_linear_r2"], 3), fmt(d["y_linear_r2"], 3),
                          fmt(d["trustworthiness"], 3))
                         for g, d in figs[name]["models"].items())
            b.append(Block("table", headers=(f"model ({captions[name][0][:6]})", "images", "x k-NN R²", "y k-NN R²",
                                             "radius k-NN R²", "colour acc.", "x linear R²", "y linear R²",
                                             "trustworthiness"), rows=rows))
    for name in ("fig2", "fig4", "fig5", "fig6"):
        if name in figs:
            b.append(Block("figure", captions[name][0], path=captions[name][1]))

    b += table3_blocks(results.get("table3"))

    t2 = results.get("table2")
    b.append(Block("h2", "Table 2: IoU on CLEVR-style scenes"))
    if t2:
        gens = [g for g in ("SSLR-MLP", "SSLR-SRN") if g in t2["ours"]]
        rows = []
        for key, what in (("overall_iou", "overall IoU"), ("per_object_iou", "per-object IoU")):
            rows.append((what, *[fmt(t2["ours"][g][key], 4) for g in gens], *[fmt(t2["paper"][g][key], 4) for g in t2["paper"]]))
        b.append(Block("table", headers=("", *[f"{g} (ours)" for g in gens], *[f"{g} (paper)" for g in t2["paper"]]),
                       rows=tuple(rows)))
        b.append(Block("p", f"{t2['images']} rendered validation scenes (the paper: the real CLEVR, 15000)."))
    else:
        b.append(Block("p", "Not run at this scale (or not finished)."))

    b.append(Block("h2", "Stages"))
    rows = []
    for s in results["stages"]:
        settings = ", ".join(f"{k} {v}" for k, v in s["settings"].items())
        est = "" if s["estimate_seconds"] is None else f" (estimate {fmt(s['estimate_seconds'] / 60, 1)} min at one thread)"
        took = "not run" if not s["done"] else f"{fmt((s['seconds'] or 0) / 60, 2)} min"
        rows.append((s["name"], s["title"], settings, took + est))
    b.append(Block("table", headers=("stage", "what", "settings", "wall time"), rows=tuple(rows)))
    b.append(Block("p", "The equivalent commands (run by hand, they write the same files):"))
    b.append(Block("code", "\n".join(line for s in results["stages"] for line in s["commands"])))
    return b


def table3_blocks(t3: dict | None) -> list[Block]:
    """Table 3 (set matching) with both L2 columns: the per-batch sum the reference code logs and the per-pair
    mean that the paper's numbers fit."""
    b = [Block("h2", "Table 3: set matching")]
    if not t3:
        return b + [Block("p", "Not run at this scale (or not finished).")]
    def pm(stat: dict, digits: int) -> str:  # mean ± std, the std one digit finer
        std = stat["std"]
        return fmt(stat["mean"], digits) + ("" if std is None or math.isnan(std) else f" ± {fmt(std, digits + 1 if digits < 3 else 5)}")

    rows = []
    for r in t3["rows"]:
        p = r["paper"]
        rows.append((r["model"], str(r["runs"]), pm(r["relative_error"], 2), pm(r["l2_error"], 4),
                     "—" if r.get("mse") is None else pm(r["mse"], 4),
                     "—" if p is None else f"{fmt(p['relative_error']['mean'], 2)} ± {fmt(p['relative_error']['std'], 2)}",
                     "—" if p is None else f"{fmt(p['l2_error']['mean'], 3)}"))
    batch = t3.get("batch_size", 32)
    b.append(Block("table", headers=("model", "runs", "relative error % (ours)", f"L2 error, sum per batch of {batch} (ours)",
                                     "L2 error, mean per pair (ours)", "relative error % (paper)", "L2 error (paper)"),
                   rows=tuple(rows)))
    b.append(Block("p", f"{t3['pairs']} test pairs; mean ± std over the seeds (the paper: three runs). The paper's L2 "
                        "column is on the scale of the per-pair mean; the reference code logs the per-batch sum."))
    return b


def curve_blocks(curve: dict) -> list[Block]:
    """"Learning curves": one row per generator, seed and measured step; with several seeds also their
    mean ± std at the steps every seed measured."""
    ks = curve["counts"]
    rows = []
    for gen in ("SSLR-MLP", "SSLR-SRN", *(g for g in curve["ours"] if g not in GENERATOR_NAMES.values())):
        runs = sorted(curve["ours"].get(gen, []), key=lambda r: r["seed"])
        for r in runs:
            for p in r["points"]:
                rows.append((gen, str(r["seed"]), str(p["step"]), fmt(p["minutes"]),
                             *[fmt(p["rates"].get(str(k))) for k in ks], fmt(p["mse"], 4)))
        if len(runs) > 1:
            steps = sorted(set.intersection(*({p["step"] for p in r["points"]} for r in runs)))
            for step in steps:
                pts = [next(p for p in r["points"] if p["step"] == step) for r in runs]
                cells = []
                for k in ks:
                    mean, std = _mean_std([p["rates"].get(str(k)) for p in pts])
                    cells.append(fmt(mean) + ("" if math.isnan(std) else f" ± {fmt(std)}"))
                rows.append((gen, f"mean of {len(runs)}", str(step), fmt(_mean_std([p["minutes"] for p in pts])[0]),
                             *cells, fmt(_mean_std([p["mse"] for p in pts])[0], 4)))
    return [Block("h2", "Learning curves"),
            Block("table", headers=("model", "seed", "step", "minutes", *(f"{k} circle{'s' if k != 1 else ''}" for k in ks),
                                    "MSE"), rows=tuple(rows)),
            Block("p", f"% of images completely disentangled (threshold {curve['threshold']:g}) on the Table 1 test "
                       f"images, measured while training (`sslr train --eval-every`; the time of the measurement is "
                       f"not training time); minutes of training; MSE per pixel. The last point is the end of training."),
            Block("figure", "Learning curves: Table 1 against optimizer steps (top) and training minutes (bottom)",
                  path=curve["figure"])]


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_md(bl: list[Block]) -> str:
    lines = []
    for x in bl:
        if x.kind == "h1":
            lines += [f"# {x.text}", ""]
        elif x.kind == "h2":
            lines += [f"## {x.text}", ""]
        elif x.kind == "p":
            lines += [x.text, ""]
        elif x.kind == "code":
            lines += ["```", x.text, "```", ""]
        elif x.kind == "table":
            lines.append("| " + " | ".join(_md_cell(h) for h in x.headers) + " |")
            lines.append("|" + "---|" * len(x.headers))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in x.rows]
            lines.append("")
        elif x.kind == "figure":
            lines += [f"![{x.text}]({x.path})", "", f"*{x.text}*", ""]
    return "\n".join(lines)


_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}img{max-width:100%}"
        "pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:85%}figure{margin:1.5em 0}"
        "figcaption{font-style:italic;color:#555}")


def render_html(bl: list[Block], out: Path) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>SSLR reproduction</title>",
             f"<style>{_CSS}</style></head><body>"]
    for x in bl:
        if x.kind in ("h1", "h2"):
            parts.append(f"<{x.kind}>{e(x.text.replace('`', ''))}</{x.kind}>")
        elif x.kind == "p":
            parts.append(f"<p>{e(x.text)}</p>")
        elif x.kind == "code":
            parts.append(f"<pre>{e(x.text)}</pre>")
        elif x.kind == "table":
            parts.append("<table><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in x.headers) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in x.rows]
            parts.append("</table>")
        elif x.kind == "figure":
            path = out / x.path
            if path.exists():
                data = base64.b64encode(path.read_bytes()).decode()
                parts.append(f"<figure><img alt='{e(x.text)}' src='data:image/png;base64,{data}'>"
                             f"<figcaption>{e(x.text)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(out: Path, scale: Scale, stages: list[Stage], seeds: int) -> dict[str, Path]:
    """Write results.json, report.md and report.html under ``out`` (each atomically); return their paths."""
    out = Path(out)
    results = collect(out, scale, stages, seeds)
    bl = blocks(results, out)
    paths = {"results": out / "results.json", "md": out / "report.md", "html": out / "report.html"}
    texts = {"results": json.dumps(json_safe(results), indent=2) + "\n", "md": render_md(bl), "html": render_html(bl, out)}
    for key, path in paths.items():
        with atomic_path(path, force=True) as tmp:
            tmp.write_text(texts[key])
    return paths


