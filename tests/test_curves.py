"""Learning curves (`sslr train --eval-every/--keep-every`, `sslr reconstruct --curve`) and evaluation at the
r in force at a checkpoint (`--inner-steps`)."""

from __future__ import annotations

import io
import json
import re
import types

import pytest
import torch
from conftest import one_line_error, run, tiny_run

from sslr_cli.data.circles import CircleSpec, generate_circles, generate_isocircles
from sslr_cli.data.store import write_scenes
from sslr_cli.engine.checkpoint import read_checkpoint, save_checkpoint
from sslr_cli.engine.train import train
from sslr_cli.errors import SSLRError
from sslr_cli.experiments import curves
from sslr_cli.experiments.checkpoints import load_models, load_reconstruction_model
from sslr_cli.experiments.disentanglement import measure_disentanglement

EVAL_KEYS = {"kind", "epoch", "step", "r", "elapsed_s", "eval_s", "threshold", "rates", "rates_0.5", "mse", "ari",
             "fg_ari", "images"}


def records(run_dir, kind):
    return [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if r["kind"] == kind]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("curves") / "train.h5"
    write_scenes(path, generate_circles(48, CircleSpec(max_count=3), seed=5))
    return path


def eval_cfg(generator="srn", **train_kw):
    kw = dict(epochs=10, max_steps=7, eval_every=3, keep_every=3, eval_images=4, val_fraction=0.0, log_every=50)
    kw.update(train_kw)
    return tiny_run(generator, **kw)


@pytest.fixture(scope="module")
def srn_run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "srn"
    train(data, out, eval_cfg(), device="cpu", hooks=[curves.TrainingEvaluator()])
    return out


def test_eval_lines_every_n_steps_and_at_the_end(srn_run):
    evals = records(srn_run, "eval")
    assert [r["step"] for r in evals] == [3, 6, 7]  # every 3 steps, and the 7th (last) step
    for r in evals:
        assert set(r) == EVAL_KEYS and r["threshold"] == 0.1 and r["r"] == 3
        assert set(r["rates"]) == set(r["rates_0.5"]) == {"1", "2", "3", "4", "5"}
        assert r["images"] == {str(k): 4 for k in range(1, 6)}
    assert sorted(p.name for p in srn_run.glob("step-*.pt")) == ["step-000003.pt", "step-000006.pt"]


def test_eval_values_equal_measure_disentanglement_on_the_kept_checkpoint(srn_run):
    heldout = curves.generated_heldout(4)
    for line in records(srn_run, "eval")[:2]:
        model, _, _ = load_reconstruction_model(srn_run / f"step-{line['step']:06d}.pt")
        assert read_checkpoint(srn_run / f"step-{line['step']:06d}.pt")["step"] == line["step"]
        res = measure_disentanglement(model, heldout.images, heldout.counts, 0.1, (0.5,), batch_size=100,
                                      masks=heldout.masks)
        assert line["rates"] == {str(k): v for k, v in res.rates.items()}
        assert line["rates_0.5"] == {str(k): v for k, v in res.extra_thresholds[0.5].items()}
        assert line["mse"] == res.mse and line["ari"] == res.ari and line["fg_ari"] == res.fg_ari


def test_heldout_set_is_fixed_and_has_exact_counts():
    a, b = curves.generated_heldout(3), curves.generated_heldout(3)
    assert torch.equal(a.images, b.images) and a.counts.tolist() == [1] * 3 + [2] * 3 + [3] * 3 + [4] * 3 + [5] * 3
    assert a.images.shape == (15, 64, 64, 3) and a.masks.shape == (15, 64, 64)
    # the same images studies/cpu-presets/claim.py evaluates on (count k: seed 1000 + k)
    k2 = generate_circles(3, CircleSpec(min_count=2, max_count=2), seed=1002)
    assert torch.equal(a.images[3:6], torch.from_numpy(k2["images"]))


def test_evaluation_is_not_training_time_and_does_not_change_training(data, tmp_path, monkeypatch):
    clock = types.SimpleNamespace(now=0.0)

    def perf_counter():  # a fake clock for the train loop: 1 s per call
        clock.now += 1.0
        return clock.now

    real_measure = curves.measure

    def slow_measure(*args, **kwargs):  # an evaluation that takes 1000 s on the loop's clock
        clock.now += 1000.0
        return real_measure(*args, **kwargs)

    monkeypatch.setattr("sslr_cli.engine.train.time", types.SimpleNamespace(perf_counter=perf_counter))
    monkeypatch.setattr(curves, "measure", slow_measure)
    cfg = eval_cfg(keep_every=0, log_every=1)
    result = train(data, tmp_path / "eval", cfg, device="cpu", hooks=[curves.TrainingEvaluator()])
    steps = records(tmp_path / "eval", "step")
    # t0 and dt are one call apart: every step counts 1 s, the evaluations none of their 1000 s
    assert [r["elapsed_s"] for r in steps] == [float(s) for s in range(1, 8)]
    assert [r["elapsed_s"] for r in records(tmp_path / "eval", "eval")] == [3.0, 6.0, 7.0]
    assert result.minutes == pytest.approx(7 / 60)
    monkeypatch.undo()
    # the training RNG is restored after each evaluation: the same losses as without evaluation
    train(data, tmp_path / "plain", tiny_run("srn", epochs=10, max_steps=7, val_fraction=0.0, log_every=1), device="cpu")
    assert [r["loss"] for r in steps] == [r["loss"] for r in records(tmp_path / "plain", "step")]


def test_resume_continues_the_curve_without_repeating_a_step(data, tmp_path):
    cfg = eval_cfg(max_steps=4, keep_every=0)
    train(data, tmp_path / "run", cfg, device="cpu", hooks=[curves.TrainingEvaluator()])
    train(data, tmp_path / "run", cfg, resume=True, resume_overrides={"max_steps": 6}, device="cpu", hooks=[curves.TrainingEvaluator()])
    train(data, tmp_path / "run", cfg, resume=True, resume_overrides={"max_steps": 6}, device="cpu", hooks=[curves.TrainingEvaluator()])  # nothing left
    assert [r["step"] for r in records(tmp_path / "run", "eval")] == [3, 4, 6]


def test_eval_data_files_and_errors(data, tmp_path):
    k1 = write_scenes(tmp_path / "k1.h5", generate_circles(5, CircleSpec(min_count=1, max_count=1), seed=9))
    held = curves.heldout_from_files([str(k1)], 64)
    assert len(held) == 5 and set(held.counts.tolist()) == {1}
    iso = write_scenes(tmp_path / "iso.h5", generate_isocircles(4, seed=1))
    with pytest.raises(SSLRError, match="iso.h5"):
        curves.heldout_from_files([str(iso)], 64)
    with pytest.raises(SSLRError, match="only for circles|circles reconstruction"):
        train(iso, tmp_path / "m", tiny_run("srn", task="match", eval_every=2, optimizer="rmsprop"), device="cpu", hooks=[curves.TrainingEvaluator()])
    assert not (tmp_path / "m").exists()  # checked before the run directory is made


def test_train_cli_eval_options(data, tmp_path):
    out = tmp_path / "cli"
    result = run("train", data, "--preset", "tiny", "--out", out, "--max-steps", 2, "--batch-size", 8,
                 "--eval-every", 1, "--eval-images", 2, "--keep-every", 2, "--val-fraction", 0, "-q", "--json")
    assert result.exit_code == 0, result.output
    assert [r["step"] for r in records(out, "eval")] == [1, 2] and (out / "step-000002.pt").exists()
    cfg = json.loads((out / "config.json").read_text())["train"]
    assert (cfg["eval_every"], cfg["eval_images"], cfg["keep_every"]) == (1, 2, 2)
    one_line_error(run("train", data, "--out", tmp_path / "x", "--eval-every", -1), "--eval-every -1")
    one_line_error(run("train", data, "--out", tmp_path / "x", "--eval-images", 5), "--eval-images", "--eval-every")
    one_line_error(run("train", data, "--out", tmp_path / "x", "--eval-every", 5, "--eval-images", 0), "--eval-images 0")
    one_line_error(run("train", data, "--out", tmp_path / "x", "--eval-every", 5, "--eval-data", tmp_path / "no.h5"),
                   "--eval-data", "no.h5")
    iso = write_scenes(tmp_path / "iso.h5", generate_isocircles(16, seed=3))
    one_line_error(run("train", iso, "--task", "match", "--out", tmp_path / "x", "--eval-every", 5), "--eval-every", "match")
    help_text = run("train", "--help").stdout
    assert "--eval-every" in help_text and "--keep-every" in help_text


# ---------------------------------------------------------------------------------------------------------
# sslr reconstruct --curve
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlp_run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "mlp"
    train(data, out, eval_cfg("mlp", keep_every=0, max_steps=6), device="cpu", hooks=[curves.TrainingEvaluator()])
    return out


def claim_log(path):
    lines = [{"generator": g, "step": s, "minutes": m, "rates": {str(k): 10.0 * k + s for k in range(1, 6)},
              "rates_0.5": {str(k): 50.0 for k in range(1, 6)}, "mse": 0.01, "tag": "t"}
             for g in ("srn", "mlp") for s, m in ((100, 2.5), (200, 5.0))]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_load_curve_reads_runs_and_claim_logs(srn_run, tmp_path):
    (c,) = curves.load_curve(srn_run)
    assert c.label == "SRN srn" and c.generator == "srn" and [p.step for p in c.points] == [3, 6, 7]
    assert curves.load_curve(srn_run / "metrics.jsonl")[0].points[0].rates == {
        int(k): v for k, v in records(srn_run, "eval")[0]["rates"].items()}
    srn, mlp = curves.load_curve(claim_log(tmp_path / "claim.jsonl"))
    assert (srn.label, mlp.label) == ("SRN t", "MLP t")
    assert [(p.step, p.minutes) for p in srn.points] == [(100, 2.5), (200, 5.0)] and srn.points[1].rates[3] == 230.0


def test_curve_figure_has_one_line_per_run_and_count(srn_run, mlp_run, tmp_path):
    cs = curves.load_curves([srn_run, mlp_run, claim_log(tmp_path / "claim.jsonl")])
    from sslr_cli.experiments.disentanglement import PAPER_TABLE1

    fig = curves.curve_figure(cs, 0.1, PAPER_TABLE1)
    axes = fig.axes
    assert len(axes) == 2 * 5  # steps and minutes, for 1..5 circles
    for ax in axes:
        runs = [line for line in ax.lines if line.get_gid() != "paper"]
        paper = [line for line in ax.lines if line.get_gid() == "paper"]
        assert len(runs) == 4 and len(paper) == 2
    assert all(not ax.child_axes for ax in axes)  # the claim log has no batch size: no images-seen axis
    k3_steps = axes[2].lines[0]  # top row, 3 circles, the SRN run
    assert list(k3_steps.get_xdata()) == [3, 6, 7]
    assert list(k3_steps.get_ydata()) == [r["rates"]["3"] for r in records(srn_run, "eval")]


def test_curve_figure_reads_steps_as_images_seen_when_the_runs_share_a_batch_size(srn_run, mlp_run):
    cs = curves.load_curves([srn_run, mlp_run])
    batch = json.loads((srn_run / "config.json").read_text())["train"]["batch_size"]
    assert [c.batch_size for c in cs] == [batch, batch]
    fig = curves.curve_figure(cs)
    fig.savefig(io.BytesIO(), format="png")  # a secondary axis takes its limits when drawn
    top, bottom = fig.axes[:5], fig.axes[5:10]
    assert all(not ax.child_axes for ax in bottom)
    for ax in top:
        (images,) = ax.child_axes
        assert images.get_xlabel() == f"thousand images seen (batch {batch})"
        assert images.get_xlim() == pytest.approx(tuple(x * batch / 1000 for x in ax.get_xlim()))  # steps -> images
    cs[1].batch_size = batch + 1
    assert all(not ax.child_axes for ax in curves.curve_figure(cs).axes)  # different batches: steps only


def test_reconstruct_curve_cli_table_json_and_figure(srn_run, mlp_run, tmp_path):
    fig = tmp_path / "curve.png"
    result = run("reconstruct", "--curve", srn_run, mlp_run, "--figure", fig, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and payload["figure"] == str(fig)
    for run_out, run_dir in zip(payload["runs"], (srn_run, mlp_run)):
        evals = records(run_dir, "eval")
        assert [p["step"] for p in run_out["points"]] == [r["step"] for r in evals]
        assert [p["rates"] for p in run_out["points"]] == [r["rates"] for r in evals]
        assert [p["minutes"] for p in run_out["points"]] == [r["elapsed_s"] / 60 for r in evals]
        assert [p["mse"] for p in run_out["points"]] == [r["mse"] for r in evals]
    assert payload["paper"]["SSLR-SRN"]["1"] == 95.8
    payload = json.loads(run("reconstruct", "--curve", srn_run, "--threshold", 0.5, "--samples", 0, "--json").stdout)
    assert payload["runs"][0]["points"][0]["rates"] == records(srn_run, "eval")[0]["rates_0.5"] and payload["paper"] == {}
    table = run("reconstruct", "--curve", srn_run, "--samples", 0)
    assert table.exit_code == 0 and "Learning curves" in table.stdout and "SRN" in table.stdout
    rows = [line.split() for line in table.stdout.splitlines()]
    for r in records(srn_run, "eval"):  # step, minutes, r, the five rates, MSE
        expected = [str(r["step"]), f"{r['elapsed_s'] / 60:.1f}", str(r["r"]), *(f"{r['rates'][str(k)]:.1f}" for k in range(1, 6)),
                    f"{r['mse']:.4f}"]
        assert any(row[i:i + len(expected)] == expected for row in rows for i in range(len(row))), (expected, table.stdout)
    assert "95.8" in table.stdout  # the paper's SRN row


def test_reconstruct_curve_errors(srn_run, data, tmp_path):
    one_line_error(run("reconstruct", "--curve", tmp_path, "--samples", 0), "no metrics.jsonl")
    plain = tmp_path / "plain"
    train(data, plain, tiny_run("srn", max_steps=1, val_fraction=0.0), device="cpu")
    one_line_error(run("reconstruct", "--curve", plain, "--samples", 0), "no eval lines", "--eval-every")
    one_line_error(run("reconstruct", "--curve", srn_run, "--threshold", 0.3, "--samples", 0), "--threshold 0.3")
    one_line_error(run("reconstruct", "--curve", srn_run, "--data", data, "--samples", 0), "--curve", "--data")
    one_line_error(run("reconstruct", srn_run), "--data")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    one_line_error(run("reconstruct", "--curve", bad, "--samples", 0), "bad.jsonl", "line 1")


# ---------------------------------------------------------------------------------------------------------
# Evaluation at the r in force at the checkpoint
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def late_run(data, tmp_path_factory):
    """r = 2 in epoch 0, r = 5 from epoch 1 (the paper's schedule, shrunk)."""
    out = tmp_path_factory.mktemp("runs") / "late"
    cfg = tiny_run("srn", model=dict(inner_steps=2), epochs=2, late_epoch=1, late_inner_steps=5, val_fraction=0.25,
                   keep_every=3)
    train(data, out, cfg, device="cpu", hooks=[curves.TrainingEvaluator()])  # 36 training images, 4 steps per epoch
    return out


def test_checkpoint_past_late_epoch_is_evaluated_at_late_r(late_run):
    assert read_checkpoint(late_run / "last.pt")["inner_steps"] == 5
    (m,) = load_models([late_run / "last.pt"])
    assert m.inner_steps == 5 and m.model.r == 5  # r is passed on each call (AtR), not set on the model
    (early,) = load_models([late_run / "step-000003.pt"])  # saved in epoch 0
    assert early.inner_steps == 2
    (over,) = load_models([late_run / "last.pt"], r=1)
    assert over.inner_steps == 1 and over.r_source == "--inner-steps"
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(m.model(x)[1].image, m.model.model(x, 5)[1].image)


def test_old_checkpoint_without_stored_r_uses_the_schedule_at_its_epoch(late_run, tmp_path):
    state = read_checkpoint(late_run / "last.pt")
    del state["inner_steps"]
    save_checkpoint(tmp_path / "old.pt", state)  # epoch 2 >= late_epoch 1
    assert load_models([tmp_path / "old.pt"])[0].inner_steps == 5
    save_checkpoint(tmp_path / "old0.pt", {**state, "epoch": 0})
    assert load_models([tmp_path / "old0.pt"])[0].inner_steps == 2


def test_analysis_commands_report_r_and_accept_inner_steps(late_run, data, tmp_path):
    res = json.loads(run("reconstruct", late_run / "last.pt", "--data", data, "--samples", 0, "--json").stdout)
    assert res["checkpoints"][0]["inner_steps"] == 5
    res = json.loads(run("reconstruct", late_run / "last.pt", "--data", data, "--samples", 0, "--inner-steps", 1,
                         "--json").stdout)
    assert res["checkpoints"][0]["inner_steps"] == 1
    table = run("reconstruct", late_run / "last.pt", "--data", data, "--samples", 0)
    assert re.search(r"r \(SRN refinement steps\)\s*│\s*5\s*│", table.stdout), table.stdout
    res = json.loads(run("interpolate", late_run / "last.pt", "--no-figure", "--inner-steps", 3, "--json").stdout)
    assert res["checkpoints"][0]["inner_steps"] == 3
    res = json.loads(run("tsne", late_run / "last.pt", "--grid", 3, "--no-figure", "--json").stdout)
    assert res["checkpoints"][0]["inner_steps"] == 5
    one_line_error(run("reconstruct", late_run, "--data", data, "--samples", 0, "--inner-steps", -1), "--inner-steps -1")
