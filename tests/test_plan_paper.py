"""The paper-scale plan: real CLEVR on request, r + init per seed, GPU time estimates from measured steps."""

import json
from pathlib import Path

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
    # 100 epochs of 1000 batches: r = 10 for the first 20 epochs, 20 after; on a GPU the circles trainings
    # replay CUDA graphs (proven equal to eager for them), so their graph rows estimate them
    assert stages["train-srn-s0"].est_seconds == pytest.approx(
        20_000 * h200[("paper", "srn", 10, "fp32", "graphs")] + 80_000 * h200[("paper", "srn", 20, "fp32", "graphs")])
    assert stages["train-mlp-s0"].est_seconds == pytest.approx(100_000 * h200[("paper", "mlp", None, "fp32", "graphs")])
    plan = _by_name(build_plan(get_scale("paper"), "o", gpu="NVIDIA H200"))
    assert plan["match-cnn-s0"].est_seconds == pytest.approx(
        plan["match-cnn-s0"].max_steps * h200[("match-paper", "cnn", None, "fp32", "eager")])
    assert plan["match-srn-ri-s0"].est_seconds is None and plan["clevr-srn"].est_seconds is None  # not measured
    assert _by_name(build_plan(get_scale("paper"), "o", gpu="NVIDIA A100"))["train-srn-s0"].est_seconds is None
    cpu = _by_name(build_plan(get_scale("tiny"), "o", only=parse_only("table1")))
    assert cpu["train-srn-s0"].est_seconds is not None  # CPU scales keep single-thread CPU estimates


def test_on_cuda_the_trainings_graph_replay_is_proven_for_take_cuda_graphs():
    on_gpu = _by_name(build_plan(get_scale("paper"), "o", gpu="NVIDIA H200", cuda=True))
    with_graphs = sorted(name for name, s in on_gpu.items() if "--cuda-graphs" in s.commands[0])
    assert with_graphs == sorted(f"train-{g}-s{seed}" for g in ("srn", "mlp") for seed in range(3))
    # matching (Hungarian matching on the host), CLEVR (relation H_agg: not proven) stay eager
    assert all("--cuda-graphs" not in on_gpu[n].commands[0] for n in on_gpu if n.startswith(("match-", "clevr-")))
    # built on a machine without CUDA the same plan trains eagerly (a CUDA graph cannot run there)
    here = _by_name(build_plan(get_scale("paper"), "o", gpu="NVIDIA H200"))
    assert not any("--cuda-graphs" in s.commands[0] for s in here.values() if s.kind == "train")


def test_the_report_says_how_each_finished_training_computed_its_steps(tmp_path):
    from sslr_cli.reproduce.report import collect

    out = tmp_path / "o"
    stages = build_plan(get_scale("paper"), out, only=parse_only("table1"), cuda=True)
    runs = {s.name: Path(s.run_dir) for s in stages if s.kind == "train"}
    for name, graphs in (("train-srn-s0", True), ("train-mlp-s0", False)):
        runs[name].mkdir(parents=True)
        (runs[name] / "config.json").write_text(json.dumps({"train": {"cuda_graphs": graphs}}))
    settings = {s["name"]: s["settings"] for s in collect(out, get_scale("paper"), stages, 3)["stages"]}
    assert settings["train-srn-s0"]["step"] == "CUDA graphs" and settings["train-mlp-s0"]["step"] == "eager"
    assert "step" not in settings["train-srn-s1"]  # not trained: nothing to say
