"""`sslr reproduce`: the stage plans, resume after SIGKILL, the report's numbers, failed stages (toy scale)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sslr_cli.cli import app
from sslr_cli.config import PRESETS
from sslr_cli.errors import SSLRError
from sslr_cli.reproduce import runner as runner_mod
from sslr_cli.reproduce.blocks import fmt
from sslr_cli.reproduce.plan import SCALES, build_plan, get_scale, parse_only

ROOT = Path(__file__).resolve().parent.parent
cli = CliRunner()


def parse_with_cli(argv: list[str]) -> None:
    """Parse ``sslr ARGV`` with the real CLI's options, without running it (unknown options raise)."""
    group = typer.main.get_command(app)
    ctx = group.make_context("sslr", list(argv), resilient_parsing=False)
    cmd_name, cmd, rest = group.resolve_command(ctx, list(argv))
    if hasattr(cmd, "resolve_command"):  # gen-data circles ...
        sub_ctx = cmd.make_context(cmd_name, list(rest), parent=ctx)
        _, cmd, rest = cmd.resolve_command(sub_ctx, list(rest))
    cmd.make_context(cmd.name, list(rest), parent=ctx)


@pytest.mark.parametrize("scale", ["demo", "tiny", "small", "paper"])
def test_plan_of_each_scale_parses_with_the_real_cli(scale, tmp_path):
    stages = build_plan(get_scale(scale), tmp_path / "o")
    names = [s.name for s in stages]
    assert names[:3] == ["data-circles", "train-srn-s0", "train-mlp-s0"]
    assert names.index("table1") < names.index("fig2")
    for s in stages:
        assert set(s.needs) <= set(names[: names.index(s.name)])  # needs come first
        for argv in s.commands:
            parse_with_cli(list(argv))
            if s.kind == "train":  # presets are named, read at run time
                preset = argv[argv.index("--preset") + 1]
                assert preset in PRESETS or f"match-{preset}" in PRESETS
    if scale == "demo":
        assert "table3" not in names and "table2" not in names
    else:
        assert names[-1] == "table2" and "table3" in names


def test_only_keeps_the_groups_and_what_they_need(tmp_path):
    scale = get_scale("tiny")
    figures = [s.name for s in build_plan(scale, tmp_path, only=parse_only("figures"))]
    assert figures == ["data-circles", "train-srn-s0", "train-mlp-s0", "fig2", "fig4", "fig5", "fig6"]
    t3 = [s.name for s in build_plan(scale, tmp_path, only=parse_only("table3"))]
    models = ("cnn", "mlp", "srn", "srn-ri")
    assert scale.seeds == 1 and scale.match_seeds == 3  # Table 3 over three seeds at tiny unless --seeds
    assert t3 == ["data-circles", "train-srn-s0", "data-iso", *(f"match-{m}-s{k}" for k in range(3) for m in models),
                  "table3"]  # SRN (r + init) starts from the circles SRN (seed 0)
    t3_one = [s.name for s in build_plan(scale, tmp_path, seeds=1, only=parse_only("table3"))]
    assert t3_one == ["data-circles", "train-srn-s0", "data-iso", *(f"match-{m}-s0" for m in models), "table3"]
    seeds = [s.name for s in build_plan(scale, tmp_path, seeds=2, only=parse_only("table1"))]
    assert seeds == ["data-circles", "train-srn-s0", "train-mlp-s0", "train-srn-s1", "train-mlp-s1", "table1", "curve"]
    with pytest.raises(SSLRError, match="--only"):
        parse_only("table9")
    with pytest.raises(SSLRError, match="--scale"):
        get_scale("huge")


def test_curve_points_add_eval_flags_and_the_curve_stage(tmp_path):
    scale = get_scale("toy")
    stages = build_plan(scale, tmp_path, seeds=2, only=parse_only("table1"))
    names = [s.name for s in stages]
    trains = [s for s in stages if s.kind == "train"]
    assert names.index("curve") > max(names.index(s.name) for s in trains)
    curve = stages[names.index("curve")]
    assert curve.group == "table1" and set(curve.needs) == {s.name for s in trains}
    argv = curve.commands[0]
    assert argv[:2] == ("reconstruct", "--curve") and set(s.run_dir for s in trains) <= set(argv)
    assert curve.stdout == f"{tmp_path}/results/curve.json" and f"{tmp_path}/figures/curve.png" in argv
    tests = [f"{tmp_path}/data/k{k}.h5" for k in scale.counts]
    for s in trains:
        argv = s.commands[0]
        assert argv[argv.index("--eval-every") + 1] == str(scale.steps[s.settings["generator"]] // 2)  # toy: 2 points
        assert [argv[i + 1] for i, a in enumerate(argv) if a == "--eval-data"] == tests
    # ceil(steps / points): the last of the points is the end of training, none two steps before it
    tiny = build_plan(get_scale("tiny"), tmp_path)
    argv = next(s for s in tiny if s.name == "train-srn-s0").commands[0]
    assert argv[argv.index("--eval-every") + 1] == "663" and get_scale("tiny").steps["srn"] == 2650
    demo = build_plan(get_scale("demo"), tmp_path)  # the demo stays short: no curves
    assert "curve" not in [s.name for s in demo] and not any("--eval-every" in s.commands[0] for s in demo)
    # a resumed stage keeps the held-out set its checkpoint names (`sslr train` refuses --eval-data with --resume)
    run = Path(trains[0].run_dir)
    run.mkdir(parents=True)
    (run / "last.pt").write_bytes(b"")
    resumed = runner_mod.train_argv(trains[0], fresh=False)
    assert "--resume" in resumed and "--eval-data" not in resumed and "--eval-every" in resumed


def test_dry_run_prints_commands_the_cli_accepts(tmp_path):
    result = cli.invoke(app, ["reproduce", str(tmp_path / "o"), "--scale", "tiny", "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("sslr ")]
    assert len(lines) >= 20
    for line in lines:
        argv = line.split(" > ")[0].split()[1:]
        if argv[0] != "reproduce":
            parse_with_cli(argv)
    assert not (tmp_path / "o").exists()  # a dry run writes nothing
    assert any("--eval-every 663 --eval-data" in line for line in lines)
    assert any(line.startswith("sslr reconstruct --curve") and line.endswith("> " + str(tmp_path / "o/results/curve.json"))
               for line in lines)


def toy(out: Path, *extra: str) -> list[str]:
    return ["reproduce", str(out), "--scale", "toy", "--only", "table1", *extra]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """An uninterrupted toy reproduction of Table 1 (one thread, as the subprocess below)."""
    out = tmp_path_factory.mktemp("repro") / "out"
    result = cli.invoke(app, toy(out))
    assert result.exit_code == 0, result.output
    return out


def test_report_numbers_equal_results_json(finished):
    results = json.loads((finished / "results.json").read_text())
    md = (finished / "report.md").read_text()
    page = (finished / "report.html").read_text()
    t1 = results["table1"]
    for gen in ("SSLR-SRN", "SSLR-MLP"):
        for k in t1["counts"]:
            cell = fmt(t1["ours"][gen]["mean"][str(k)])
            assert f"| {cell} |" in md
            assert f"<td>{cell}</td>" in page
    for k, v in {"1": 95.8, "5": 65.2}.items():  # the paper's numbers beside ours
        assert t1["paper"]["SSLR-SRN"].get(k, v) == v
    assert "| 95.8 |" in md
    assert "data:image/png;base64," in page and "http" not in page.split("<body>")[1].split("sslr train")[0]
    assert results["machine"]["cpu_cores"] == os.cpu_count() and results["machine"]["torch"]
    assert [v["claim"].split(":")[0] for v in results["verdicts"]][:2] == ["Table 1", "Table 1"]
    assert all(s["done"] and s["seconds"] is not None for s in results["stages"])


def test_curve_numbers_equal_the_runs_eval_lines(finished):
    results = json.loads((finished / "results.json").read_text())
    curve = results["curve"]
    assert set(curve["ours"]) == {"SSLR-SRN", "SSLR-MLP"} and curve["counts"] == [1, 2, 3]
    for gen, runs in curve["ours"].items():
        (run,) = runs
        assert run["seed"] == 0
        lines = [json.loads(x) for x in (Path(run["run"]) / "metrics.jsonl").read_text().splitlines()]
        evals = [x for x in lines if x.get("kind") == "eval"]
        assert [p["step"] for p in run["points"]] == [x["step"] for x in evals] == [8, 16]
        for p, x in zip(run["points"], evals):
            assert p["rates"] == x["rates"] and p["mse"] == x["mse"] and p["minutes"] == x["elapsed_s"] / 60
        # the last point is the end of training: the weights Table 1 measures, on the same files
        assert run["points"][-1]["mse"] == pytest.approx(results["table1"]["ours"][gen]["mse"], rel=1e-5)
    md = (finished / "report.md").read_text()
    section = md.split("## Learning curves")[1].split("## ")[0]
    assert md.index("## Table 1") < md.index("## Learning curves") < md.index("## Figures 2")
    assert "![Learning curves" in section and "(figures/curve.png)" in section
    p = curve["ours"]["SSLR-SRN"][0]["points"][0]
    assert f"| SSLR-SRN | 0 | 8 | {fmt(p['minutes'])} | " + " | ".join(fmt(p["rates"][k]) for k in "123") in section
    assert (finished / "figures/curve.png").stat().st_size > 0
    assert (finished / "report.html").read_text().count("data:image/png;base64,") == 2  # Fig. 3 and the curves


def test_rerun_skips_finished_stages_and_other_settings_need_force(finished):
    before = (finished / "runs/circles-srn/seed-0/last.pt").stat().st_mtime_ns
    result = cli.invoke(app, toy(finished))
    assert result.exit_code == 0, result.output
    assert "already done, skipped: data-circles, train-srn-s0, train-mlp-s0, table1, curve" in result.output
    assert (finished / "runs/circles-srn/seed-0/last.pt").stat().st_mtime_ns == before
    result = cli.invoke(app, toy(finished, "--seeds", "2"))
    assert result.exit_code == 2 and "other settings" in result.output and "--force" in result.output


def test_resume_after_sigkill_gives_the_uninterrupted_tables(finished, tmp_path):
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", "import torch; torch.set_num_threads(1); from sslr_cli.cli import main; main()",
           *toy(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = out / "runs/circles-srn/seed-0/last.pt"  # written after the first of two epochs
    deadline = time.time() + 900  # generous: the machine may be busy
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert last.exists(), "the toy run ended or stalled before its first checkpoint"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"]["data-circles"]["done"]
    assert not manifest["stages"]["train-srn-s0"]["done"]  # killed in the middle of training
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "skipped: data-circles" in done.stdout, done.stdout
    assert "continuing from last.pt" in done.stdout, done.stdout
    ours = json.loads((out / "results.json").read_text())["table1"]
    ref = json.loads((finished / "results.json").read_text())["table1"]
    assert ours["ours"] == {g: {**v, "runs": ref["ours"][g]["runs"]} for g, v in ref["ours"].items()} or \
        all(ours["ours"][g]["mean"] == ref["ours"][g]["mean"] and ours["ours"][g]["mse"] == ref["ours"][g]["mse"]
            for g in ref["ours"])
    curves = json.loads((out / "results.json").read_text())["curve"]["ours"]
    ref_curves = json.loads((finished / "results.json").read_text())["curve"]["ours"]
    for gen, (run,) in ref_curves.items():  # the curve continues where it stopped: the same points
        got = curves[gen][0]["points"]
        assert [p["step"] for p in got] == [p["step"] for p in run["points"]]
        assert [p["mse"] for p in got] == pytest.approx([p["mse"] for p in run["points"]], rel=1e-5)


def test_a_stage_that_fails_halfway_is_not_marked_done(tmp_path, monkeypatch):
    real = runner_mod.run_cli
    calls = []

    def failing(argv, *a, **kw):
        calls.append(argv)
        if len(calls) == 3:  # the third data file of the data stage
            raise runner_mod.StageFailed("disk full")
        return real(argv, *a, **kw)

    monkeypatch.setattr(runner_mod, "run_cli", failing)
    out = tmp_path / "o"
    result = cli.invoke(app, toy(out))
    assert result.exit_code == 2 and "disk full" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert not manifest["stages"]["data-circles"]["done"]
    assert not (out / "results.json").exists() or "table1" not in json.loads((out / "results.json").read_text())


def test_piped_progress_is_one_line_per_event(capsys):
    from sslr_cli.commands.common import LogProgress, progress_bar

    bar = progress_bar()  # pytest's streams are not terminals
    assert isinstance(bar, LogProgress)
    with bar:
        job = bar.add_task("epoch 0", total=4, info="loading")
        for _ in range(4):
            bar.advance(job)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and re.search(r"epoch 0: 1/4  loading$", lines[0]) and lines[1].endswith("epoch 0: 4/4  loading")


def test_curve_table_lists_each_seed_and_their_mean_per_step():
    from sslr_cli.reproduce.experiments.learning_curves import curve_blocks, curve_results

    def run(seed, rates):
        return {"label": f"SRN seed-{seed}", "source": f"o/runs/circles-srn/seed-{seed}/metrics.jsonl", "generator": "srn",
                "points": [{"step": s, "minutes": s / 10, "r": 3, "rates": {"1": r}, "mse": 0.5, "ari": 0.1}
                           for s, r in rates]}

    curve = curve_results({"threshold": 0.1, "runs": [run(0, [(5, 10.0), (10, 20.0)]), run(1, [(5, 30.0)])]})
    assert [r["seed"] for r in curve["ours"]["SSLR-SRN"]] == [0, 1] and curve["counts"] == [1]
    table = next(b for b in curve_blocks(curve) if b.kind == "table")
    assert table.rows == (("SSLR-SRN", "0", "5", "0.5", "10.0", "0.5000"), ("SSLR-SRN", "0", "10", "1.0", "20.0", "0.5000"),
                          ("SSLR-SRN", "1", "5", "0.5", "30.0", "0.5000"),
                          ("SSLR-SRN", "mean of 2", "5", "0.5", "20.0 ± 14.1", "0.5000"))  # only steps both measured


def test_table3_verdicts_compare_the_gap_with_the_seed_spread():
    from sslr_cli.reproduce.report import verdicts

    def row(model, mean, std):
        return {"model": model, "runs": 3, "relative_error": {"mean": mean, "std": std}}

    t3 = {"rows": [row("Naive CNNs", 50.0, 2.0), row("SSLR-MLP", 45.0, 1.0), row("SSLR-SRN", 44.0, 3.0),
                   row("SSLR-SRN (r + init)", 46.0, float("nan"))]}
    v = {x["claim"]: x for x in verdicts({"table3": t3})}
    mlp = v["Table 3: set structure (SSLR-MLP) beats the naive CNN (relative error)"]
    assert mlp["verdict"] == "holds" and "gap of 5.00 is larger than the larger spread" in mlp["detail"]
    srn = v["Table 3: SSLR-SRN beats SSLR-MLP (relative error)"]
    assert srn["verdict"] == "holds" and "gap of 1.00 is not larger than the larger spread" in srn["detail"]
    ri = v["Table 3: the reconstruction loss and init improve SSLR-SRN (relative error)"]
    assert ri["verdict"] == "does not hold" and "spread" not in ri["detail"]  # one run: no spread to compare


def test_report_wall_time_counts_side_by_side_stages_once():
    from sslr_cli.reproduce.report import _busy_seconds

    rec = lambda sec, end, done=True: {"done": done, "seconds": sec, "finished": f"2026-01-01T00:{end // 60:02d}:{end % 60:02d}"}  # noqa: E731
    # two stages side by side (0-10 s and 3-8 s), a gap while nothing ran, one more (57-60 s), one unfinished
    assert _busy_seconds([rec(10, 10), rec(5, 8), rec(3, 60), rec(99, 59, done=False)]) == 13.0
    assert _busy_seconds([]) == 0.0


def test_report_table3_has_both_l2_columns():
    """The paper's L2 is on the per-pair scale, the reference code logs the per-batch sum: the report shows both."""
    from sslr_cli.reproduce.experiments.table3_matching import table3_blocks, table3_results

    stat = lambda m, s: {"mean": m, "std": s}  # noqa: E731
    data = {"pairs": 4000, "rows": [{"model": "SSLR-SRN", "runs": 3, "relative_error": stat(50.0, 2.0),
                                     "l2_error": stat(0.96, 0.032), "mse": stat(0.03, 0.001),
                                     "paper": {"relative_error": stat(27.58, 0.73), "l2_error": stat(0.016, 0.0)}}]}
    t3 = table3_results(data)
    assert t3["rows"][0]["mse"] == stat(0.03, 0.001)
    table = next(b for b in table3_blocks(t3) if b.kind == "table")
    assert table.headers[3:5] == ("L2 error, sum per batch of 32 (ours)", "L2 error, mean per pair (ours)")
    assert table.rows[0][3:5] == ("0.9600 ± 0.03200", "0.0300 ± 0.00100")
    # the per-batch column names the batch size `sslr match` used
    other = next(b for b in table3_blocks(table3_results({**data, "batch_size": 16})) if b.kind == "table")
    assert other.headers[3] == "L2 error, sum per batch of 16 (ours)"


def test_sigterm_mid_training_then_rerun_gives_the_uninterrupted_tables(finished, tmp_path):
    """SIGTERM to the runner alone (a scheduler's stop) while its training workers run side by side: they save
    last.pt and exit, the runner exits 143 and says so, nothing outlives it, and the same command then ends
    with the uninterrupted run's Table 1."""
    out = tmp_path / "terminated"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "sslr_cli", *toy(out), "--jobs", "2"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    metrics = out / "runs/circles-srn/seed-0/metrics.jsonl"
    deadline = time.time() + 900
    while not (metrics.exists() and metrics.stat().st_size) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the toy run ended before it could be stopped"
    os.kill(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 143, stderr
    assert "SIGTERM" in stderr and "run the same command again" in stderr
    time.sleep(0.5)
    listed = subprocess.run(["ps", "-s", str(proc.pid), "-o", "stat=,args="], capture_output=True, text=True).stdout
    alive = [line for line in listed.splitlines() if line.strip() and not line.strip().startswith("Z")]  # not zombies
    assert alive == [], f"outlived the runner: {alive}"
    assert not json.loads((out / "manifest.json").read_text())["stages"]["train-srn-s0"]["done"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr + done.stdout
    ours = json.loads((out / "results.json").read_text())["table1"]["ours"]
    ref = json.loads((finished / "results.json").read_text())["table1"]["ours"]
    for gen in ref:
        assert ours[gen]["mean"] == ref[gen]["mean"] and ours[gen]["mse"] == pytest.approx(ref[gen]["mse"], rel=1e-6)


def test_paper_scale_trains_on_every_image_and_validates_on_a_file_of_its_own(tmp_path):
    stages = {s.name: s for s in build_plan(get_scale("paper"), tmp_path, only=parse_only("table1"))}
    data = stages["data-circles"]
    assert any("circles-val.h5" in a for argv in data.commands for a in argv)
    argv = stages["train-srn-s0"].commands[0]
    assert argv[argv.index("--val") + 1].endswith("data/circles-val.h5") and "--val-fraction" not in argv
    assert stages["train-srn-s0"].max_steps == 100_000  # 100 epochs of 1000 batches of 64: r switches at step 20000
    result = cli.invoke(app, ["reproduce", str(tmp_path / "o"), "--scale", "paper", "--dry-run"])
    # no GPU here: the H200's measured step times estimate the circles trainings; the rest are unknown, not 0
    assert result.exit_code == 0 and "about 0.0 min" not in result.output
    assert "on one NVIDIA H200 (this machine has no GPU" in result.output and "for 16 of the 20 trainings" in result.output
    unmeasured = cli.invoke(app, ["reproduce", str(tmp_path / "o"), "--scale", "paper", "--only", "table2", "--dry-run"])
    # CLEVR: MLP's step is measured, SRN's not: an estimate for one, "unknown" for the other
    assert unmeasured.exit_code == 0 and "for 1 of the 2 trainings (unknown for 1" in unmeasured.output
