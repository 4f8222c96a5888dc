"""`sslr reproduce`'s experiment registry: a table added as one `Experiment` entry reaches the plan, `--only`,
the dry run, results.json, the verdicts and the report, with no change to the plan or the report."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sslr_cli.cli import app
from sslr_cli.errors import SSLRError
from sslr_cli.reproduce.blocks import NOT_RUN, Block, fmt
from sslr_cli.reproduce.context import PlanContext
from sslr_cli.reproduce.experiment import Experiment, collect_stage
from sslr_cli.reproduce.experiments import EXPERIMENTS, groups
from sslr_cli.reproduce.plan import SCALES, build_plan, get_scale, parse_only
from sslr_cli.reproduce.report import write_report
from sslr_cli.reproduce.stage import Stage

cli = CliRunner()


def extra_stages(ctx: PlanContext) -> list[Stage]:
    srn = ctx.runs["circles-srn"][0]  # built on an earlier experiment's training
    return [Stage("extra", "extra", "eval", "An extra table",
                  (("reconstruct", srn.run_dir, "--data", ctx.p("data/k1.h5"), "--json", *ctx.device_args),),
                  (ctx.p("results/extra.json"),), (srn.name,), {"threshold": 0.1}, stdout=ctx.p("results/extra.json"))]


def extra_summary(data: dict) -> dict:
    return {"score": data["score"]}


def extra_blocks(part: dict | None) -> list[Block]:
    body = Block("table", headers=("score",), rows=((fmt(part["score"], 2),),)) if part else Block("p", NOT_RUN)
    return [Block("h2", "Extra table"), body]


def extra_verdicts(part: dict) -> list[dict]:
    return [{"claim": "Extra: the score is positive", "verdict": "holds" if part["score"] > 0 else "does not hold",
             "detail": f"score {fmt(part['score'], 2)}"}]


@pytest.fixture
def extra(monkeypatch):
    """The toy experiment as the registry's last entry, for this test only."""
    monkeypatch.setitem(EXPERIMENTS, "extra", Experiment("extra", extra_stages, collect_stage("extra", extra_summary), extra_blocks,
                                                         extra_verdicts))


def test_an_added_experiment_joins_the_plan_and_only(extra, tmp_path):
    assert groups() == ("table1", "figures", "table3", "table2", "extra")
    assert parse_only("extra,table1") == ("extra", "table1")
    with pytest.raises(SSLRError, match="choose from table1,figures,table3,table2,extra"):
        parse_only("table9")
    toy = get_scale("toy")
    stages = build_plan(toy, tmp_path, only=parse_only("extra"), device="cpu")
    assert [s.name for s in stages] == ["data-circles", "train-srn-s0", "extra"]  # and what it needs
    assert stages[-1].commands == (("reconstruct", f"{tmp_path}/runs/circles-srn/seed-0", "--data",
                                    f"{tmp_path}/data/k1.h5", "--json", "--device", "cpu"),)
    assert build_plan(toy, tmp_path)[-1].name == "extra"  # a scale that runs every group runs it too
    assert "extra" not in [s.name for s in build_plan(get_scale("demo"), tmp_path)]  # demo: table1 and figures only
    result = cli.invoke(app, ["reproduce", str(tmp_path / "o"), "--scale", "toy", "--only", "extra", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "# stage 3/3 extra: An extra table" in result.output
    assert f"sslr reconstruct {tmp_path}/o/runs/circles-srn/seed-0 --data {tmp_path}/o/data/k1.h5 --json > " \
           f"{tmp_path}/o/results/extra.json" in result.output


def test_an_added_experiment_reaches_results_verdicts_and_report(extra, tmp_path):
    out = tmp_path / "o"
    (out / "results").mkdir(parents=True)
    (out / "results/extra.json").write_text(json.dumps({"score": 0.25}))
    manifest = {"stages": {"extra": {"done": True, "seconds": 2.0, "finished": "2026-01-01T00:00:10"}}}
    (out / "manifest.json").write_text(json.dumps(manifest))
    toy = get_scale("toy")
    stages = build_plan(toy, out, only=("extra",))
    paths = write_report(out, toy, stages, 1)
    results = json.loads(paths["results"].read_text())
    assert results["extra"] == {"score": 0.25}
    assert results["verdicts"] == [{"claim": "Extra: the score is positive", "verdict": "holds", "detail": "score 0.25"}]
    md = paths["md"].read_text()
    assert "| Extra: the score is positive | holds | score 0.25 |" in md
    assert md.index("## Table 2") < md.index("## Extra table\n\n| score |\n|---|\n| 0.25 |") < md.index("## Stages")
    assert "<h2>Extra table</h2>" in paths["html"].read_text()

    manifest["stages"]["extra"]["done"] = False  # not finished: no numbers, no verdict, "not run"
    (out / "manifest.json").write_text(json.dumps(manifest))
    write_report(out, toy, stages, 1)
    results = json.loads(paths["results"].read_text())
    assert "extra" not in results and results["verdicts"] == []
    assert f"## Extra table\n\n{NOT_RUN}" in paths["md"].read_text()


@pytest.mark.parametrize("scale", sorted(SCALES))
def test_every_experiment_s_stages_carry_its_group(scale, tmp_path):
    """`--only` selects stages by group: each experiment's stages must carry the one it is registered with."""
    ctx = PlanContext.create(SCALES[scale], tmp_path, None, "auto")
    for key, experiment in EXPERIMENTS.items():
        assert {s.group for s in experiment.stages(ctx)} <= {experiment.group}, key
