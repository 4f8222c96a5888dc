"""What README.md and docs/usage.md promise, each checked where it can break: the presets and the r schedule,
--val, --resume / --max-steps / --max-minutes / --force / --init / --precision through the CLI, the
preset a dataset picks, byte-identical data files, --help and the one-line Error format of every command."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
import typer
from conftest import losses, metrics, one_line_error, run, tiny_run

from sslr_cli.cli import app
from sslr_cli.config import PRESETS, MatchSettings
from sslr_cli.data.circles import CircleSpec, generate_circles, generate_isocircles
from sslr_cli.data.clevr import ClevrSpec, generate_clevr
from sslr_cli.data.loader import scene_tensors, to_float_images
from sslr_cli.data.store import open_scenes, write_scenes
from sslr_cli.engine.checkpoint import load_model, read_checkpoint
from sslr_cli.engine.tasks import get_task
from sslr_cli.engine.train import evaluate_loss, train
from sslr_cli.models.decoder import ElementDecoder
from sslr_cli.models.refiner import SetRefiner

# a tiny model through the CLI's own options (fp32: bf16 is covered by its own test)
TINY = ("--preset", "tiny", "--set-size", 4, "--element-dim", 3, "--inner-steps", 2, "--encoder-width", 4,
        "--decoder-width", 4, "--batch-size", 8, "--precision", "fp32", "--device", "cpu")


def ok_json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _same_weights(a, b) -> bool:
    a, b = (read_checkpoint(p)["model"] for p in (a, b))
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# (Ctrl-C saving last.pt, and the resume after it, are tests/test_preemption.py's: SIGINT at a step boundary.)


# --- presets and the r schedule ------------------------------------------------------------------

@pytest.mark.parametrize("name, enc, dec, hidden, z, batch, opt, lr, precision, inner_grad", [
    ("paper", 64, 256, 512, 100, 64, "adam", 3e-4, "fp32", "unrolled"),
    ("small", 32, 64, 256, 100, 32, "adam", 6e-3, "bf16", "unrolled"),
    ("tiny", 16, 32, 128, 64, 32, "adam", 1e-2, "bf16", "truncated:3"),
])
def test_preset_values_are_the_readme_table(name, enc, dec, hidden, z, batch, opt, lr, precision, inner_grad):
    m, t = PRESETS[name].model, PRESETS[name].train
    assert (m.encoder_width, m.decoder_width, m.agg_hidden, m.embed_dim) == (enc, dec, hidden, z)
    assert m.inner_grad == inner_grad
    assert (m.set_size, m.element_dim, m.inner_steps, m.generator, m.init_mode) == (16, 10, 10, "srn", "detached")
    assert (t.batch_size, t.optimizer, t.lr, t.precision, t.task, t.loss) == (batch, opt, lr, precision, "reconstruct", "sse")
    # r: 10, and 20 from epoch 20 for the paper preset only
    expect = [10] * 20 + [20 if name == "paper" else 10] * 5
    assert [PRESETS[name].r_at(e) for e in range(25)] == expect


def test_the_loop_switches_r_at_the_late_epoch(tmp_path, circles_file, monkeypatch):
    """The r of the schedule is the r the inner loop runs (not only the r that is logged)."""
    seen = []
    real = SetRefiner.forward

    def spy(self, s0, z, steps=None):
        out = real(self, s0, z, steps)
        if self.training:
            seen.append(len(out.inner_losses))
        return out

    monkeypatch.setattr(SetRefiner, "forward", spy)
    cfg = tiny_run("srn", model=dict(inner_steps=2), epochs=3, late_epoch=1, late_inner_steps=5)
    train(circles_file, tmp_path / "run", cfg, device="cpu")
    assert seen == [2] * 4 + [5] * 8
    assert [r["r"] for r in metrics(tmp_path / "run", "step")] == seen
    assert [r["r"] for r in metrics(tmp_path / "run", "epoch")] == [2, 5, 5]


# --- --val ----------------------------------------------------------------------------------------

def test_val_file_is_what_validation_measures(tmp_path, circles_file):
    val = write_scenes(tmp_path / "val.h5", generate_circles(10, CircleSpec(max_count=3), seed=9))
    res = ok_json(run("train", circles_file, "--out", tmp_path / "run", *TINY, "--generator", "mlp", "--val", val,
                      "--epochs", 1, "--json"))
    assert res["steps"] == 48 // 8  # the whole training file trains: nothing is held out
    model, cfg, _ = load_model(tmp_path / "run" / "last.pt")
    tensors = scene_tensors(open_scenes(val).load(["images"]), ("images",))
    want = evaluate_loss(get_task("reconstruct"), model, tensors, cfg, torch.device("cpu"), 2, cfg.train.batch_size)
    (epoch,) = metrics(tmp_path / "run", "epoch")
    assert epoch["val_loss"] == pytest.approx(want, rel=1e-6) and res["val_loss"] == pytest.approx(want, rel=1e-6)


def test_val_file_of_another_image_size_is_an_error(tmp_path, circles_file):
    big = write_scenes(tmp_path / "big.h5", generate_circles(4, CircleSpec(size=128, max_count=2), seed=1))
    one_line_error(run("train", circles_file, "--out", tmp_path / "run", *TINY, "--val", big),
                   "--val", "big.h5", "128px", "64px")
    assert not (tmp_path / "run").exists()


# --- --resume, --max-steps, --max-minutes, --force through the CLI -----------------------------------

def test_cli_step_budget_then_resume_equals_the_uninterrupted_run(tmp_path, circles_file):
    args = ("train", circles_file, *TINY, "--generator", "mlp", "--epochs", 2, "--val-fraction", 0.25)
    full = ok_json(run(*args, "--out", tmp_path / "full", "--json"))
    assert full["stopped"] == "finished" and full["steps"] == 8
    part = ok_json(run(*args, "--out", tmp_path / "part", "--max-steps", 3, "--json"))
    assert part["stopped"] == "step budget" and part["steps"] == 3
    assert read_checkpoint(tmp_path / "part" / "last.pt")["step"] == 3
    one_line_error(run(*args, "--out", tmp_path / "part"), "not empty", "--resume")  # no silent restart
    # the resumed run's summary names the checkpoint's generator, not the preset's default (srn)
    again = ok_json(run("train", circles_file, "--out", tmp_path / "part", "--resume", "--max-steps", 0, "--epochs", 2,
                        "--json"))
    assert again["stopped"] == "finished" and again["steps"] == 8 and again["generator"] == "mlp"
    assert _same_weights(tmp_path / "part" / "last.pt", tmp_path / "full" / "last.pt")
    assert again["val_loss"] == full["val_loss"] and again["best_val_loss"] == full["best_val_loss"]


def test_cli_time_budget_stops_after_the_first_step(tmp_path, circles_file):
    res = ok_json(run("train", circles_file, "--out", tmp_path / "run", *TINY, "--generator", "mlp", "--max-minutes", 1e-9,
                      "--json"))
    assert res["stopped"] == "time budget" and res["steps"] == 1
    assert read_checkpoint(tmp_path / "run" / "last.pt")["step"] == 1


def test_force_starts_over_with_a_fresh_metrics_file(tmp_path, circles_file):
    args = ("train", circles_file, "--out", tmp_path / "run", *TINY, "--generator", "mlp")
    ok_json(run(*args, "--epochs", 2, "--json"))
    assert len(metrics(tmp_path / "run", "epoch")) == 2
    ok_json(run(*args, "--epochs", 1, "--seed", 3, "--force", "--json"))
    lines = metrics(tmp_path / "run")  # the tiny preset logs steps every 50: epoch lines only here
    assert [(r["kind"], r["epoch"], r["step"]) for r in lines] == [("epoch", 0, 5)]  # only the new run's line
    assert read_checkpoint(tmp_path / "run" / "last.pt")["step"] == 5


# --- --init and the r + init loss --------------------------------------------------------------------

def test_cli_init_starts_the_matcher_from_the_reconstruction_checkpoint(tmp_path, circles_file):
    iso = write_scenes(tmp_path / "iso.h5", generate_isocircles(16, seed=4))
    ok_json(run("train", circles_file, "--out", tmp_path / "recon", *TINY, "--epochs", 1, "--json"))
    source = read_checkpoint(tmp_path / "recon" / "best.pt")["model"]
    # lr 1e-30: one RMSprop step leaves every float32 weight where --init put it
    args = ("train", iso, "--task", "match", *TINY, "--recon-weight", 1, "--lr", 1e-30, "--max-steps", 1)
    ok_json(run(*args, "--init", tmp_path / "recon" / "best.pt", "--out", tmp_path / "ri", "--json"))
    ok_json(run(*args, "--out", tmp_path / "fresh", "--seed", 1, "--json"))
    cfg = json.loads((tmp_path / "ri" / "config.json").read_text())
    assert cfg["preset"] == "match-tiny" and cfg["train"]["weight_decay"] == 1e-4
    assert cfg["extra"]["recon_weight"] == 1.0 and cfg["extra"]["init"] == str(tmp_path / "recon" / "best.pt")
    model, _, _ = load_model(tmp_path / "ri" / "last.pt")
    fresh, _, _ = load_model(tmp_path / "fresh" / "last.pt")
    params = dict(model.named_parameters())
    shared = [k for k in params if k in source and source[k].shape == params[k].shape]
    assert any(k.startswith("encoder.") for k in shared) and any(k.startswith("decoder.") for k in shared)
    fresh_params = dict(fresh.named_parameters())
    for k in shared:
        torch.testing.assert_close(params[k].detach(), source[k], rtol=0, atol=1e-12, msg=k)
    assert any(not torch.allclose(fresh_params[k], source[k]) for k in shared)


def test_match_loss_adds_the_weighted_reconstruction_of_both_images():
    """SSLR-SRN (r + init): L = 32 (distance MSE + match_weight * cost) + recon_weight * L_rec(X_1)."""
    torch.manual_seed(0)
    base = tiny_run("mlp", task="match")
    task = get_task("match")
    pairs = generate_isocircles(4, seed=2)
    batch = {k: torch.from_numpy(pairs[k]) for k in ("images", "images_b", "target")}
    x1, x2 = to_float_images(batch["images"]), to_float_images(batch["images_b"])
    for weight in (0.0, 0.7):
        cfg = replace(base, extra=MatchSettings(loc_dim=2, att_dim=2, match_weight=0.25, recon_weight=weight).to_extra())
        model = task.build_model(cfg).train()
        assert (model.decoder is not None) == (weight > 0)
        out = model(x1, x2, 2)
        # the reference code's scale: 32 x (batch-mean distance error + match_weight x mean cost)
        want = 32 * ((out.prediction - batch["target"]).pow(2).mean() + 0.25 * out.match_cost.mean())
        if weight:  # + the pixel-mean squared error of image A's reconstruction
            rec = out.reconstruction.image
            assert rec.shape == (4, 3, 64, 64)
            recon = (rec - x1).pow(2).mean()
            assert float(recon.detach()) > 0
            want = want + weight * recon
        torch.testing.assert_close(task.loss(model, batch, cfg, 2), want)


# --- --precision --------------------------------------------------------------------------------------

@pytest.mark.parametrize("precision, dtype", [("fp32", torch.float32), ("bf16", torch.bfloat16)])
def test_precision_option_sets_the_compute_dtype(tmp_path, circles_file, monkeypatch, precision, dtype):
    seen = set()
    real = ElementDecoder.forward

    def spy(self, elements):
        logits = real(self, elements)
        seen.add(logits.dtype)
        return logits

    monkeypatch.setattr(ElementDecoder, "forward", spy)
    args = [a for a in TINY if a not in ("--precision", "fp32")]
    ok_json(run("train", circles_file, "--out", tmp_path / "run", *args, "--precision", precision, "--generator", "mlp",
                "--max-steps", 1, "--json"))
    assert seen == {dtype}
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["precision"] == precision


# --- the preset a dataset picks ------------------------------------------------------------------------

SMALL = ("--set-size", 4, "--element-dim", 3, "--inner-steps", 1, "--encoder-width", 2, "--decoder-width", 2,
         "--batch-size", 2, "--max-steps", 1, "--device", "cpu", "--json")


def test_128px_data_picks_the_clevr_preset_and_64px_data_tiny(tmp_path, circles_file):
    clevr = write_scenes(tmp_path / "clevr.h5", generate_clevr(4, ClevrSpec(size=128, min_objects=3, max_objects=3), seed=0))
    res = ok_json(run("train", clevr, "--out", tmp_path / "c", *SMALL))
    assert res["preset"] == "clevr-small"
    cfg = json.loads((tmp_path / "c" / "config.json").read_text())
    assert cfg["model"]["image_size"] == 128 and cfg["model"]["agg"] == "relation"
    assert (cfg["train"]["loss"], cfg["train"]["target"]) == ("bce", "foreground")
    res = ok_json(run("train", circles_file, "--out", tmp_path / "t", *SMALL))
    assert res["preset"] == "tiny"
    assert json.loads((tmp_path / "t" / "config.json").read_text())["model"]["image_size"] == 64


# --- data files ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, options, direct", [
    ("circles", ("--n", 12, "--count", 3), lambda seed: generate_circles(12, CircleSpec(min_count=3, max_count=3), seed)),
    ("circles", ("--n", 12, "--size", 32, "--max-radius", 5),
     lambda seed: generate_circles(12, CircleSpec(size=32, max_radius=5), seed)),
    ("isocircles", ("--n", 6, "--count", 3), lambda seed: generate_isocircles(6, 3, seed=seed)),
    ("clevr", ("--n", 2, "--size", 32, "--min-objects", 3, "--max-objects", 3),
     lambda seed: generate_clevr(2, ClevrSpec(size=32, min_objects=3, max_objects=3), seed)),
])
def test_same_seed_same_file_bytes_and_the_seed_drives_the_data(tmp_path, kind, options, direct):
    paths = [tmp_path / f"{name}.h5" for name in ("a", "b", "c")]
    for path, seed in zip(paths, (7, 7, 8)):
        assert run("gen-data", kind, path, *options, "--seed", seed, "-q").exit_code == 0
    a, b, c = (p.read_bytes() for p in paths)
    assert a == b and a != c
    written = open_scenes(paths[0]).load()
    expect = direct(7)
    assert set(written.arrays) == set(expect.arrays)
    for name in expect.arrays:
        np.testing.assert_array_equal(written[name], expect[name], err_msg=name)


# --- --help and errors of every command --------------------------------------------------------------

def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        path = (*prefix, name)
        yield path
        if hasattr(cmd, "commands"):  # a group (typer ships its own click: no isinstance against click's)
            yield from _commands(cmd, path)


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_every_readme_command_exists():
    """The README's table of commands (tests/test_docs.py checks every command line of the docs)."""
    assert {c for c in COMMANDS} >= {("gen-data",), ("gen-data", "circles"), ("gen-data", "isocircles"),
                                     ("gen-data", "clevr"), ("train",), ("reconstruct",), ("interpolate",), ("tsne",),
                                     ("iou",), ("match",), ("reproduce",)}


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command):
    result = run(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.stdout and " ".join(command) in result.stdout and "--help" in result.stdout
    leaf = typer.main.get_command(app)
    for name in command:
        leaf = leaf.commands[name]
    if hasattr(leaf, "commands"):
        assert all(name in result.stdout for name in leaf.commands)
    else:
        options = [p for p in leaf.params if p.param_type_name == "option"]
        assert options
        for param in options:  # every option is listed
            assert param.opts[0] in result.stdout, (command, param.opts[0])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("errors")
    circles = write_scenes(root / "c.h5", generate_circles(4, CircleSpec(max_count=2), seed=0))
    iso = write_scenes(root / "iso.h5", generate_isocircles(2, seed=0))
    return {"circles": circles, "iso": iso, "missing": root / "missing.pt", "out": root / "out"}


ERRORS = [
    (("gen-data", "circles", "{out}/x.h5", "--n", 0), "--n"),
    (("gen-data", "isocircles", "{out}/x.h5", "--count", 0), "--count"),
    (("gen-data", "clevr", "{out}/x.h5", "--min-objects", 0), "--min-objects"),
    (("train", "{missing}"), "missing.pt"),
    (("train", "{iso}", "--out", "{out}/r"), "isocircles"),
    (("reconstruct", "{missing}", "--data", "{circles}", "--samples", 0), "missing.pt"),
    (("interpolate", "{missing}", "--no-figure"), "missing.pt"),
    (("tsne", "{missing}", "--no-figure"), "missing.pt"),
    (("iou", "{missing}", "--data", "{circles}"), "missing.pt"),
    (("match", "{missing}", "--data", "{iso}"), "missing.pt"),
]


@pytest.mark.parametrize("args, fragment", ERRORS, ids=lambda v: " ".join(v[:2]) if isinstance(v, tuple) else None)
def test_every_command_reports_bad_input_as_one_error_line(files, args, fragment):
    one_line_error(run(*(str(a).format(**files) for a in args)), fragment)
