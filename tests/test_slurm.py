"""The plan as SLURM jobs, and the runner's one-stage mode those jobs use."""

import json
import subprocess
from pathlib import Path

import pytest

from sslr_cli.errors import SSLRError
from sslr_cli.reproduce.plan import SCALES, Stage, build_plan
from sslr_cli.reproduce.runner import Manifest, Runner
from sslr_cli.reproduce.slurm import _time_limit, sbatch_script


def _stages(out):
    return [
        Stage("data-a", "table1", "data", "data A", (("gen-data", "circles", f"{out}/a.h5"),), (f"{out}/a.h5",)),
        Stage("eval-b", "table1", "eval", "eval B", (("reconstruct", f"{out}/a.h5"),), (f"{out}/b.json",),
              ("data-a",), est_seconds=600.0),
    ]


def test_time_limit_is_twice_the_estimate_and_at_least_an_hour():
    assert _time_limit(None) is None
    assert _time_limit(60.0) == "0-01:00:00"
    assert _time_limit(3 * 3600.0) == "0-06:00:00"
    assert _time_limit(20 * 3600.0) == "1-16:00:00"


def test_script_has_one_job_per_stage_with_its_dependencies(tmp_path):
    text = sbatch_script(_stages("o"), ["reproduce", "o", "--scale", "toy"], "o")
    lines = [line for line in text.splitlines() if "sbatch --parsable" in line]
    assert len(lines) == 3  # two stages and the report
    assert lines[0].startswith("JOB_DATA_A=$(sbatch") and "--dependency" not in lines[0] and "--gres" not in lines[0]
    assert "--dependency=afterok:${JOB_DATA_A}" in lines[1] and "--gres=gpu:1" in lines[1]
    assert "--time=0-01:00:00" in lines[1] and "--time" not in lines[0]  # 600 s estimated: the one-hour floor
    assert "sslr reproduce o --scale toy --stage eval-b" in lines[1]
    assert "--dependency=afterok:${JOB_DATA_A}:${JOB_EVAL_B}" in lines[2] and "--report-only" in lines[2]


def test_script_is_valid_bash_and_submits_in_order_with_a_fake_sbatch(tmp_path):
    stages = build_plan(SCALES["toy"], "o")
    script = tmp_path / "submit.sh"
    script.write_text(sbatch_script(stages, ["reproduce", "o", "--scale", "toy"], str(tmp_path / "o")))
    fake = tmp_path / "bin" / "sbatch"
    fake.parent.mkdir()
    log = tmp_path / "calls.txt"
    # a fake sbatch: records its arguments, answers a job id
    fake.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> {log}\nwc -l < {log}\n')
    fake.chmod(0o755)
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                          env={"PATH": f"{fake.parent}:/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert len(calls) == len(stages) + 1
    ids = {s.name: str(i + 1) for i, s in enumerate(stages)}
    for call, s in zip(calls, stages):
        assert f"--job-name=sslr-{s.name}" in call
        want = ":".join(ids[n] for n in s.needs)
        assert (f"--dependency=afterok:{want}" in call) if s.needs else "--dependency" not in call
        assert f"--stage {s.name}" in call
    assert calls[-1].count(":") >= len(stages) and "--report-only" in calls[-1]


def _fake_execute(calls):
    def execute(argv):
        calls.append(list(argv))
        if argv[0] == "gen-data":  # the stage's output, so that it counts as done
            Path(argv[2]).write_text("x")
        return 0
    return execute


def test_one_stage_mode_runs_that_stage_only_after_its_needs(tmp_path):
    out = tmp_path / "o"
    stages = _stages(out)
    calls = []
    runner = Runner(stages, out, {"scale": "x"}, _fake_execute(calls))
    with pytest.raises(SSLRError, match="--stage eval-b: needs data-a, not done yet"):
        runner.run("eval-b")
    with pytest.raises(SSLRError, match="--stage 'nope': not a stage of this plan"):
        runner.run("nope")
    runner.run("data-a")
    assert calls == [["gen-data", "circles", f"{out}/a.h5"]]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"]["data-a"]["done"] and "eval-b" not in manifest["stages"]


def test_manifest_records_merge_what_other_jobs_wrote(tmp_path):
    stages = _stages(tmp_path)
    first = Manifest.open(tmp_path, {"scale": "x"}, stages, force=False)
    second = Manifest.open(tmp_path, {"scale": "x"}, stages, force=False)  # another job, same moment
    first.record(stages[0], done=True)
    second.record(stages[1], done=True)  # must not drop the first job's record
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert data["stages"]["data-a"]["done"] and data["stages"]["eval-b"]["done"]


class _FakeProc:
    """A worker that finishes after ``polls`` polls."""

    def __init__(self, polls):
        self.left, self.returncode = polls, None

    def poll(self):
        self.left -= 1
        if self.left <= 0:
            self.returncode = 0
        return self.returncode

    def terminate(self):
        self.returncode = 143

    def wait(self, timeout=None):
        return self.returncode


def test_workers_take_a_gpu_each_and_stages_start_when_their_needs_are_done(tmp_path, monkeypatch):
    import sslr_cli.reproduce.runner as runner_mod

    out = tmp_path / "o"
    train = lambda name, needs=(): Stage(name, "t", "train", name, (("train", "d", "--out", str(out / name),  # noqa: E731
                                                                  "--max-steps", "1"),), (), needs, parallel=True)
    stages = [train("t1"), train("t2"), train("t3"),
              Stage("eval", "t", "eval", "eval", (("reconstruct", "x"),), (), ("t1", "t2")),
              train("t4", ("eval",))]
    started, events = [], []

    def fake_start(stage, out_, fresh, threads, gpu=None, threads_option=None):
        started.append((stage.name, gpu, sorted(n for n, *_ in pool_running())))
        return _FakeProc(1 if stage.name == "t1" else 3)

    pools = []
    real_pool = runner_mod.WorkerPool

    def pool(r):
        pools.append(real_pool(r))
        return pools[-1]

    pool_running = lambda: pools[-1].running  # noqa: E731
    monkeypatch.setattr(runner_mod, "start_worker", fake_start)
    monkeypatch.setattr(runner_mod, "training_finished", lambda stage: True)
    monkeypatch.setattr(runner_mod, "WorkerPool", pool)
    monkeypatch.setattr(runner_mod.time, "sleep", lambda s: None)
    calls = []
    runner = Runner(stages, out, {"scale": "x"}, _fake_execute(calls), jobs=2, gpus=["0", "1"],
                    events=lambda kind, info: events.append((kind, info.get("stage").name if "stage" in info else None)))
    runner.run()
    names = [s for s, *_ in started]
    assert names == ["t1", "t2", "t3", "t4"]
    assert {started[0][1], started[1][1]} == {"0", "1"}  # one GPU each
    assert started[2][1] in {"0", "1"} and len(started[2][2]) == 1  # t3 waited for a free GPU
    assert calls == [["reconstruct", "x"]]
    done = [name for kind, name in events if kind == "done"]
    assert done.index("eval") > max(done.index("t1"), done.index("t2")) and done.index("t4") > done.index("eval")
    assert all(json.loads((out / "manifest.json").read_text())["stages"][s.name]["done"] for s in stages)


def test_worker_environment_names_its_gpu_and_threads():
    from sslr_cli.reproduce.runner import worker_env

    env = worker_env(3, "5")
    assert env["CUDA_VISIBLE_DEVICES"] == "5" and env["OMP_NUM_THREADS"] == "3" and env["MKL_NUM_THREADS"] == "3"
    assert worker_env(1).get("CUDA_VISIBLE_DEVICES") == __import__("os").environ.get("CUDA_VISIBLE_DEVICES")


def test_reproduce_dry_run_writes_the_sbatch_script_and_refuses_bad_combinations(tmp_path):
    from typer.testing import CliRunner

    from sslr_cli.cli import app

    cli = CliRunner()
    out = tmp_path / "o"
    result = cli.invoke(app, ["reproduce", str(out), "--scale", "toy", "--seeds", "1", "--dry-run", "--format", "sbatch"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("#!/usr/bin/env bash")
    assert f"sslr reproduce {out} --scale toy --seeds 1 --stage data-circles" in result.output
    threads = cli.invoke(app, ["reproduce", str(out), "--scale", "toy", "--threads", "4", "--dry-run", "--format", "sbatch"])
    assert f"sslr reproduce {out} --scale toy --threads 4 --stage data-circles" in threads.output
    assert not out.exists()  # a dry run writes nothing
    for argv, message in ((["--format", "yaml", "--dry-run"], "--format 'yaml': choose text or sbatch"),
                          (["--format", "sbatch"], "--format: only with --dry-run"),
                          (["--stage", "table1", "--dry-run"], "--stage: runs one stage"),
                          (["--stage", "table1", "--force"], "not with --dry-run, --report-only or --force"),
                          (["--clevr", str(tmp_path / "missing"), "--dry-run"], ": not a folder")):
        bad = cli.invoke(app, ["reproduce", str(out), "--scale", "toy", *argv])
        assert bad.exit_code != 0 and message in bad.output, (argv, bad.output)
        assert "Traceback" not in bad.output


def test_a_cluster_job_runs_its_stage_and_refuses_one_whose_needs_are_not_done(tmp_path):
    from typer.testing import CliRunner

    from sslr_cli.cli import app

    cli = CliRunner()
    out = tmp_path / "o"
    early = cli.invoke(app, ["reproduce", str(out), "--scale", "toy", "--only", "table1", "--stage", "table1"])
    assert early.exit_code != 0 and "--stage table1: needs" in early.output and "not done yet" in early.output
    done = cli.invoke(app, ["reproduce", str(out), "--scale", "toy", "--only", "table1", "--stage", "data-circles"])
    assert done.exit_code == 0, done.output
    assert (out / "data" / "circles-train.h5").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"]["data-circles"]["done"] and not manifest["stages"].get("train-srn-s0")
