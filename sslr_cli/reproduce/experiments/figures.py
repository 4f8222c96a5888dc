"""Fig. 2, 4, 5 and 6 from the circles SSLR-SRN and SSLR-MLP of seed 0 (`sslr interpolate`, `sslr tsne`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sslr_cli.models.registry import label
from sslr_cli.reproduce.blocks import NOT_RUN, Block, finished_json, fmt
from sslr_cli.reproduce.context import PlanContext
from sslr_cli.reproduce.experiment import Experiment
from sslr_cli.reproduce.scale import Scale
from sslr_cli.reproduce.stage import Stage

GROUP = "figures"


@dataclass(frozen=True)
class Figure:
    name: str  # the stage, and its results/<name>.json
    title: str  # the stage's
    command: str  # the `sslr` command, given the two checkpoints
    options: Callable[[Scale], tuple[str, ...]]  # its options at a scale
    file: str  # under figures/
    caption: str  # the report's

    @property
    def path(self) -> str:
        return f"figures/{self.file}"


FIGURES = (
    Figure("fig2", "Fig. 2: responsibility as a circle moves", "interpolate",
           lambda s: ("--mode", "shift", "--frames", "10"), "fig2-shift.png",
           "Fig. 2: responsibility as a circle moves 1 px per frame"),
    Figure("fig4", "Fig. 4: latent interpolation, empty element to circle", "interpolate",
           lambda s: ("--mode", "latent", "--steps", "10"), "fig4-latent.png",
           "Fig. 4: decoding points between an empty element and a circle element"),
    Figure("fig5", "Fig. 5: 2-D t-SNE of one-circle elements", "tsne", lambda s: ("--grid", str(s.tsne_grid)),
           "fig5-tsne2d.png", "Fig. 5: 2-D t-SNE of the elements that draw one circle"),
    Figure("fig6", "Fig. 6: 3-D t-SNE (x, y, radius, colour)", "tsne",
           lambda s: ("--dims", "3", "--grid", str(s.tsne3_grid)), "fig6-tsne3d.png",
           "Fig. 6: 3-D t-SNE (x, y, radius, colour)"),
)


def stages(ctx: PlanContext) -> list[Stage]:
    p = ctx.p
    pair = (ctx.runs["circles-srn"][0], ctx.runs["circles-mlp"][0])  # seed 0 of each
    runs, needs = tuple(s.run_dir for s in pair), tuple(s.name for s in pair)
    return [Stage(f.name, GROUP, "eval", f.title,
                  ((f.command, *runs, *f.options(ctx.scale), "--figure", p(f.path), "--force", "--json",
                    *ctx.device_args),),
                  (p(f"results/{f.name}.json"), p(f.path)), needs, {}, stdout=p(f"results/{f.name}.json"))
            for f in FIGURES]


def collect(results_dir: Path, done: set[str]) -> dict | None:
    """Per figure that finished: its figure and each model's numbers, by the model's table label."""
    out = {}
    for f in FIGURES:
        data = finished_json(results_dir, done, f.name)
        if data is None:
            continue
        per = {}
        for c in data["checkpoints"]:
            gen = c.get("generator") or ("srn" if c["label"].startswith("SRN") else "mlp")
            per[label(gen)] = {k: v for k, v in c.items() if k not in ("checkpoint",)}
        out[f.name] = {"figure": data.get("figure"), "models": per}
    return out or None


def verdicts(figs: dict) -> list[dict]:
    srn_name, mlp_name = label("srn"), label("mlp")
    v = []
    f2 = figs.get("fig2", {}).get("models", {})
    if {srn_name, mlp_name} <= set(f2):
        s, m = f2[srn_name], f2[mlp_name]
        holds = s["single_frames"] > m["single_frames"] or (s["single_frames"] == s["frames"] and m["single_frames"] < m["frames"])
        v.append({"claim": "Fig. 2: one SSLR-SRN element draws a moving circle, where SSLR-MLP shares it between elements",
                  "verdict": "holds" if holds and s["single_frames"] == s["frames"] else ("partly" if holds else "does not hold"),
                  "detail": f"frames drawn by a single element: SRN {s['single_frames']}/{s['frames']}, "
                            f"MLP {m['single_frames']}/{m['frames']} (elements per frame: SRN {fmt(s['mean_sharing'], 2)}, "
                            f"MLP {fmt(m['mean_sharing'], 2)})"})
    for name, fig in (("fig5", "Fig. 5"), ("fig6", "Fig. 6")):
        models = figs.get(name, {}).get("models", {})
        if {srn_name, mlp_name} <= set(models):
            s, m = models[srn_name], models[mlp_name]
            sv, mv = (s["x_r2"] + s["y_r2"]) / 2, (m["x_r2"] + m["y_r2"]) / 2
            sl, ml = (s["x_linear_r2"] + s["y_linear_r2"]) / 2, (m["x_linear_r2"] + m["y_linear_r2"]) / 2
            v.append({"claim": f"{fig}: SSLR-SRN's circle elements vary consistently with the circle's position "
                               f"(SSLR-MLP's only within clusters)",
                      "verdict": "holds" if sv > mv and sl > ml else ("partly" if sv > mv or sl > ml else "does not hold"),
                      "detail": f"x/y read off the element, mean R²: k-NN SRN {fmt(sv, 3)} vs MLP {fmt(mv, 3)}; "
                                f"linear SRN {fmt(sl, 3)} vs MLP {fmt(ml, 3)}"})
    return v


def blocks(figs: dict | None) -> list[Block]:
    figs = figs or {}
    b = [Block("h2", "Figures 2, 4, 5, 6")]
    if not figs:
        b.append(Block("p", NOT_RUN))
    if "fig2" in figs:
        rows = tuple((g, f"{d['single_frames']}/{d['frames']}", fmt(d["mean_sharing"], 2), str(d["handovers"]))
                     for g, d in figs["fig2"]["models"].items())
        b.append(Block("table", headers=("model", "frames drawn by one element", "elements per frame", "hand-overs"), rows=rows))
    if "fig4" in figs:
        rows = tuple((g, f"{d['one_circle_frames']}/{d['frames']}", f"{d['empty_frames']}/{d['frames']}",
                      f"{d['multi_component_frames']}/{d['frames']}", f"{d['wrong_color_frames']}/{d['frames']}")
                     for g, d in figs["fig4"]["models"].items())
        b.append(Block("table", headers=("model (Fig. 4)", "one circle", "empty", "several regions", "wrong colour"), rows=rows))
    for f in FIGURES:
        if f.name in ("fig5", "fig6") and f.name in figs:
            rows = tuple((g, str(d["points"]), fmt(d["x_r2"], 3), fmt(d["y_r2"], 3), fmt(d.get("radius_r2"), 3),
                          fmt(d["color_accuracy"], 3), fmt(d["x_linear_r2"], 3), fmt(d["y_linear_r2"], 3),
                          fmt(d["trustworthiness"], 3))
                         for g, d in figs[f.name]["models"].items())
            b.append(Block("table", headers=(f"model ({f.caption[:6]})", "images", "x k-NN R²", "y k-NN R²",
                                             "radius k-NN R²", "colour acc.", "x linear R²", "y linear R²",
                                             "trustworthiness"), rows=rows))
    b += [Block("figure", f.caption, path=f.path) for f in FIGURES if f.name in figs]
    return b


EXPERIMENT = Experiment(GROUP, stages, collect, blocks, verdicts)
