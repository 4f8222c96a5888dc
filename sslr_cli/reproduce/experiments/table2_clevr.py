"""Table 2, IoU on CLEVR, and Fig. 7: rendered CLEVR-style scenes or the real CLEVR (``--clevr DIR``), SSLR-SRN
and SSLR-MLP (one seed), `sslr iou` (its --figure draws Fig. 7). Only at scales with a CLEVR preset."""

from __future__ import annotations


from sslr_cli.models.registry import label
from sslr_cli.reproduce.blocks import NOT_RUN, Block, fmt
from sslr_cli.reproduce.context import PlanContext
from sslr_cli.reproduce.experiment import Experiment, collect_stage
from sslr_cli.reproduce.stage import Stage

GROUP = "table2"
GENERATORS = ("srn", "mlp")
MEASURES = (("overall_iou", "overall IoU"), ("per_object_iou", "per-object IoU"))
FIGURE = "figures/fig7-clevr.png"


def stages(ctx: PlanContext) -> list[Stage]:
    scale, p = ctx.scale, ctx.p
    if not scale.clevr_preset:
        return []
    size = str(scale.clevr_size)
    if ctx.clevr:  # the real CLEVR: the first n images of its train and val splits, at the scale's side
        made = tuple(("gen-data", "clevr", p(f"data/clevr-{split}.h5"), "--from", ctx.clevr, "--split", split,
                      "--limit", str(n), "--size", size, "--force", "-q")
                     for split, n in (("train", scale.n_clevr_train), ("val", scale.n_clevr_val)))
        title, source = f"CLEVR images (imported from {ctx.clevr}, {size}x{size})", f"CLEVR ({ctx.clevr})"
    else:
        made = (("gen-data", "clevr", p("data/clevr-train.h5"), "--n", str(scale.n_clevr_train), "--size", size,
                 "--seed", "1", "--force", "-q"),
                ("gen-data", "clevr", p("data/clevr-val.h5"), "--n", str(scale.n_clevr_val), "--size", size,
                 "--seed", "2", "--force", "-q"))
        title, source = f"CLEVR-style scenes (rendered, {size}x{size})", "rendered"
    plan = [Stage("data-clevr", GROUP, "data", title, made, (p("data/clevr-train.h5"), p("data/clevr-val.h5")), (),
                  {"train_images": scale.n_clevr_train, "val_images": scale.n_clevr_val, "source": source})]
    trainings = [ctx.train(f"clevr-{gen}", GROUP, f"SSLR-{gen.upper()} on CLEVR", p("data/clevr-train.h5"),
                           p(f"runs/clevr-{gen}"), scale.clevr_preset, gen, scale.clevr_steps[gen], 0,
                           ("--val-fraction", "0"), ("data-clevr",))
                 for gen in GENERATORS]
    plan += trainings
    plan.append(Stage(
        "table2", GROUP, "eval", "Table 2: IoU on CLEVR and Fig. 7 (decompositions with their boxes)",
        (("iou", *(s.run_dir for s in trainings), "--data", p("data/clevr-val.h5"), "--samples", str(scale.samples),
          "--figure", p(FIGURE), "--force", "--json", *ctx.device_args),),
        (p("results/table2.json"), p(FIGURE)), tuple(s.name for s in trainings), {},
        stdout=p("results/table2.json")))
    return plan


def table2_results(data: dict) -> dict:
    from sslr_cli.experiments.iou import PAPER_TABLE2

    ours = {}
    for c in data["checkpoints"]:
        ours[label(c["generator"])] = {"overall_iou": c["overall_iou"], "per_object_iou": c["per_object_iou"],
                                       "ari": c["ari"], "fg_ari": c["fg_ari"]}
    return {"images": data["images"], "source": data.get("source", "rendered"), "ours": ours, "paper": PAPER_TABLE2,
            "figure": FIGURE if data.get("figure") else None}


def verdicts(t2: dict) -> list[dict]:
    srn_name, mlp_name = label("srn"), label("mlp")
    if not {srn_name, mlp_name} <= set(t2["ours"]):
        return []
    s, m = t2["ours"][srn_name], t2["ours"][mlp_name]
    return [{"claim": f"Table 2: SSLR-SRN beats SSLR-MLP in {what} on CLEVR",
             "verdict": "holds" if (s[key] or 0) > (m[key] or 0) else "does not hold",
             "detail": f"SRN {fmt(s[key], 4)} vs MLP {fmt(m[key], 4)}"} for key, what in MEASURES]


def blocks(t2: dict | None) -> list[Block]:
    b = [Block("h2", "Table 2: IoU on CLEVR, Fig. 7")]
    if not t2:
        return b + [Block("p", NOT_RUN)]
    gens = [g for g in (label("mlp"), label("srn")) if g in t2["ours"]]
    rows = tuple((what, *[fmt(t2["ours"][g][key], 4) for g in gens], *[fmt(t2["paper"][g][key], 4) for g in t2["paper"]])
                 for key, what in MEASURES)
    return b + [Block("table", headers=("", *[f"{g} (ours)" for g in gens], *[f"{g} (paper)" for g in t2["paper"]]),
                      rows=rows),
                Block("p", (f"{t2['images']} rendered validation scenes (the paper: the real CLEVR, 15000)."
                            if t2.get("source", "rendered") == "rendered" else
                            f"{t2['images']} validation images of {t2['source']} (the paper: the real CLEVR, 15000).")),
                *([Block("figure", "Fig. 7: CLEVR decompositions (original with its ground-truth boxes; per model its "
                                   "reconstruction and the elements Table 2 scores, each with its boxes)",
                         path=t2["figure"])] if t2.get("figure") else [])]


EXPERIMENT = Experiment(GROUP, stages, collect_stage("table2", table2_results), blocks, verdicts)
