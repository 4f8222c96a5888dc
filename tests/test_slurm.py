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
