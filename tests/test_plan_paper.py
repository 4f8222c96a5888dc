"""The paper-scale plan: real CLEVR on request, r + init per seed, GPU time estimates from measured steps."""

import pytest

from sslr_cli.reproduce.gpu_times import GPU_STEP_SECONDS
from sslr_cli.reproduce.plan import build_plan, get_scale, parse_only


def _by_name(stages):
    return {s.name: s for s in stages}


def test_table2_imports_real_clevr_when_given_a_folder(tmp_path):
    rendered = _by_name(build_plan(get_scale("paper"), "o", only=parse_only("table2")))["data-clevr"]
    assert all("--from" not in argv for argv in rendered.commands) and rendered.settings["source"] == "rendered"
    real = _by_name(build_plan(get_scale("paper"), "o", only=parse_only("table2"), clevr="/data/CLEVR_v1.0"))
    data = real["data-clevr"]
    train, val = data.commands
    assert train[:3] == ("gen-data", "clevr", "o/data/clevr-train.h5")
    assert train[train.index("--from") + 1] == "/data/CLEVR_v1.0" and train[train.index("--split") + 1] == "train"
    assert train[train.index("--limit") + 1] == "70000" and val[val.index("--limit") + 1] == "15000"
    assert val[val.index("--split") + 1] == "val" and train[train.index("--size") + 1] == "128"
    assert data.settings["source"] == "CLEVR (/data/CLEVR_v1.0)"
    assert real["clevr-srn"].commands == _by_name(build_plan(get_scale("paper"), "o", only=parse_only("table2")))[
        "clevr-srn"].commands  # the trainings read the same file names


def test_each_r_plus_init_seed_starts_from_the_circles_srn_of_its_seed():
    stages = _by_name(build_plan(get_scale("paper"), "o", only=parse_only("table3")))
    for seed in range(3):
        ri = stages[f"match-srn-ri-s{seed}"]
        argv = ri.commands[0]
        assert argv[argv.index("--init") + 1] == f"o/runs/circles-srn/seed-{seed}/best.pt"
        assert f"train-srn-s{seed}" in ri.needs and ri.settings["init"] == f"train-srn-s{seed}"
    # tiny trains one circles seed and three matching seeds: every r + init starts from seed 0
    tiny = _by_name(build_plan(get_scale("tiny"), "o", only=parse_only("table3")))
    assert [tiny[f"match-srn-ri-s{s}"].settings["init"] for s in range(3)] == ["train-srn-s0"] * 3


def test_gpu_estimates_use_measured_steps_and_the_r_switch():
    h200 = GPU_STEP_SECONDS["NVIDIA H200"]
    stages = _by_name(build_plan(get_scale("paper"), "o", only=parse_only("table1"), gpu="NVIDIA H200"))
    # 100 epochs of 1000 batches: r = 10 for the first 20 epochs, 20 after
    assert stages["train-srn-s0"].est_seconds == pytest.approx(
        20_000 * h200[("paper", "srn", 10, "fp32")] + 80_000 * h200[("paper", "srn", 20, "fp32")])
    assert stages["train-mlp-s0"].est_seconds == pytest.approx(100_000 * h200[("paper", "mlp", None, "fp32")])
    unmeasured = _by_name(build_plan(get_scale("paper"), "o", gpu="NVIDIA H200"))
    assert unmeasured["match-srn-s0"].est_seconds is None and unmeasured["clevr-srn"].est_seconds is None
    assert _by_name(build_plan(get_scale("paper"), "o", gpu="NVIDIA A100"))["train-srn-s0"].est_seconds is None
    cpu = _by_name(build_plan(get_scale("tiny"), "o", only=parse_only("table1")))
    assert cpu["train-srn-s0"].est_seconds is not None  # CPU scales keep single-thread CPU estimates
