"""`sslr reconstruct`, `sslr interpolate`, `sslr tsne` end to end on tiny checkpoints."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
from conftest import one_line_error, run, tiny_run

from sslr_cli.config import RunConfig, TrainConfig
from sslr_cli.data.circles import CircleSpec, generate_circles, generate_isocircles
from sslr_cli.data.store import write_scenes
from sslr_cli.engine.checkpoint import save_checkpoint
from sslr_cli.engine.train import train
from sslr_cli.models import SetAutoencoder

PNG = b"\x89PNG\r\n\x1a\n"


def ok_json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def is_png(path) -> bool:
    return path.exists() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Tiny data (1-3 circles, with masks), an SRN run trained for 3 steps by the real trainer, an
    untrained MLP checkpoint saved in the same format, and files of the wrong sort."""
    root = tmp_path_factory.mktemp("analysis")
    data = root / "k.h5"
    write_scenes(data, generate_circles(32, CircleSpec(min_count=1, max_count=3), seed=3))
    torch.manual_seed(0)
    train(data, root / "srn", tiny_run("srn", model=dict(inner_steps=2)), device="cpu")
    mlp_cfg = tiny_run("mlp")
    (root / "mlp").mkdir()
    save_checkpoint(root / "mlp" / "best.pt", {"config": mlp_cfg.to_dict(), "model": SetAutoencoder(mlp_cfg.model).state_dict()})
    match_cfg = RunConfig("test", mlp_cfg.model, TrainConfig(task="match"))
    save_checkpoint(root / "match.pt", {"config": match_cfg.to_dict(), "model": {}})
    no_counts = root / "nocounts.h5"
    with h5py.File(data) as src, h5py.File(no_counts, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for name in ("images", "masks", "objects"):
            src.copy(name, dst)
    iso = root / "iso.h5"
    write_scenes(iso, generate_isocircles(4, seed=1))
    text = root / "notes.txt"
    text.write_text("not a dataset\n")
    return {"root": root, "data": data, "srn": root / "srn", "mlp": root / "mlp" / "best.pt", "match": root / "match.pt",
            "no_counts": no_counts, "iso": iso, "text": text}


def test_reconstruct_one_checkpoint_json_and_figure(env, tmp_path):
    fig = tmp_path / "rec.png"
    res = ok_json(run("reconstruct", env["srn"], "--data", env["data"], "--figure", fig, "--samples", 2, "--json"))
    assert is_png(fig) and res["figure"] == str(fig) and res["images"] == 32
    (ckpt,) = res["checkpoints"]
    assert ckpt["label"] == "SRN srn" and ckpt["generator"] == "srn"
    assert set(ckpt["rates"]) == {"1", "2", "3"} and sum(ckpt["images"].values()) == 32
    assert set(ckpt["extra_thresholds"]) == {"0.5"} and 0.0 <= ckpt["mse"] <= 1.0
    assert -1.0 <= ckpt["ari"] <= 1.0 and -1.0 <= ckpt["fg_ari"] <= 1.0
    assert res["paper"]["SSLR-SRN"]["1"] == 95.8


def test_reconstruct_two_checkpoints_table_limit_and_force(env, tmp_path):
    args = ("reconstruct", env["srn"], env["mlp"], "--data", env["data"], "--limit", 10, "--samples", 3,
            "--out-dir", tmp_path / "figs", "-q")
    result = run(*args)
    assert result.exit_code == 0, result.output
    for text in ("Table 1", "SRN srn", "MLP mlp", "paper SSLR-SRN", "threshold 0.5", "foreground ARI"):
        assert text in result.stdout
    assert is_png(tmp_path / "figs" / "reconstruct.png")
    one_line_error(run(*args), "already exists", "--force")
    assert run(*args, "--force").exit_code == 0
    res = ok_json(run("reconstruct", env["srn"], env["mlp"], "--data", env["data"], "--limit", 10, "--samples", 0, "--json"))
    assert [c["n_images"] for c in res["checkpoints"]] == [10, 10] and res["figure"] is None


def test_reconstruct_bad_inputs(env, tmp_path):
    fig = ("--figure", tmp_path / "x.png")
    one_line_error(run("reconstruct", env["match"], "--data", env["data"], *fig), "'match' checkpoint", "reconstruct")
    one_line_error(run("reconstruct", env["srn"], "--data", env["no_counts"], *fig), "nocounts.h5", "counts")
    one_line_error(run("reconstruct", env["srn"], "--data", env["iso"], *fig), "iso.h5", "isocircles")
    one_line_error(run("reconstruct", env["srn"], "--data", env["text"], *fig), "notes.txt", "not an HDF5 file")
    one_line_error(run("reconstruct", env["text"], "--data", env["data"], *fig), "notes.txt", "checkpoint")
    assert not (tmp_path / "x.png").exists()


def test_interpolate_shift_two_checkpoints(env, tmp_path):
    fig = tmp_path / "shift.png"
    res = ok_json(run("interpolate", env["srn"], env["mlp"], "--figure", fig, "--json"))
    assert is_png(fig) and res["mode"] == "shift" and res["frames"] == 10
    for ckpt in res["checkpoints"]:
        assert len(ckpt["sharing"]) == 10 and 0 <= ckpt["single_frames"] <= 10
        assert ckpt["mean_sharing"] == pytest.approx(np.mean(ckpt["sharing"]))
    result = run("interpolate", env["mlp"], "--frames", 4, "--no-figure", "-q")
    assert result.exit_code == 0 and "hand-overs" in result.stdout


def test_interpolate_latent(env, tmp_path):
    res = ok_json(run("interpolate", env["srn"], "--mode", "latent", "--steps", 4, "--color", "red",
                      "--out-dir", tmp_path, "--json"))
    assert is_png(tmp_path / "interpolate-latent.png")
    (ckpt,) = res["checkpoints"]
    assert ckpt["frames"] == 4 and ckpt["circle_element"] != ckpt["empty_element"]
    res = ok_json(run("interpolate", env["mlp"], "--mode", "latent", "--circle-element", 2, "--empty-element", 0,
                      "--no-figure", "--json"))
    assert (res["checkpoints"][0]["circle_element"], res["checkpoints"][0]["empty_element"]) == (2, 0)


def test_interpolate_bad_inputs(env, tmp_path):
    one_line_error(run("interpolate", env["srn"], "--x", 60, "--no-figure"), "--x", "does not fit")
    one_line_error(run("interpolate", env["srn"], "--mode", "zoom", "--no-figure"), "--mode")
    one_line_error(run("interpolate", env["srn"], "--mode", "latent", "--circle-element", 9, "--no-figure"), "--circle-element 9")
    one_line_error(run("interpolate", env["match"], "--no-figure"), "'match' checkpoint")


def test_tsne_two_checkpoints_embeddings(env, tmp_path):
    fig, emb = tmp_path / "t.png", tmp_path / "emb.h5"
    res = ok_json(run("tsne", env["srn"], env["mlp"], "--grid", 4, "--figure", fig, "--embeddings", emb, "--json"))
    assert is_png(fig) and res["points"] == 32 and len(res["embeddings"]) == 2
    for path, ckpt in zip(res["embeddings"], res["checkpoints"]):
        with h5py.File(path) as f:
            assert f["sets"].shape == (32, 4, 3) and f["tsne"].shape == (32, 2) and f["elements"].shape == (32, 3)
            assert f["embedding"].shape == ((32, 8) if ckpt["generator"] == "srn" else (32, 0))
            assert f.attrs["checkpoint"] == ckpt["checkpoint"]
        assert 0.0 <= ckpt["trustworthiness"] <= 1.0 and 0.0 <= ckpt["color_accuracy"] <= 1.0
        assert ckpt["radius_r2"] is None  # one radius in 2-D
    one_line_error(run("tsne", env["srn"], env["mlp"], "--grid", 4, "--no-figure", "--embeddings", emb), "--embeddings", "already exists")


def test_tsne_3d_one_checkpoint_and_errors(env, tmp_path):
    res = ok_json(run("tsne", env["srn"], "--dims", 3, "--grid", 3, "--radii", "2,4", "--out-dir", tmp_path, "--json"))
    assert is_png(tmp_path / "tsne-3d.png") and res["points"] == 3 * 3 * 2 * 2
    assert res["checkpoints"][0]["radius_r2"] is not None
    one_line_error(run("tsne", env["srn"], "--dims", 4, "--no-figure"), "--dims")
    one_line_error(run("tsne", env["srn"], "--radii", "a,b", "--no-figure"), "--radii")
    one_line_error(run("tsne", env["match"], "--no-figure"), "'match' checkpoint")


# --- the CLI's numbers are the experiment functions' numbers on the same checkpoints --------------

def flat(value, prefix=""):
    """A nested JSON-like value as {dotted key: number or str}, dict keys as strings (as in --json)."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in flat(item, f"{prefix}{key}.").items()}
    if isinstance(value, (list, tuple)):
        return {k: v for i, item in enumerate(value) for k, v in flat(item, f"{prefix}{i}.").items()}
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        value = None  # --json writes NaN as null
    return {prefix.rstrip("."): value}


def same_numbers(got: dict, want: dict):
    got, want = flat(got), flat(want)
    assert want and set(want) <= set(got), sorted(set(want) - set(got))
    for key, value in want.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
        else:
            assert got[key] == value, key


def test_reconstruct_json_is_measure_disentanglement_of_each_checkpoint(env):
    from sslr_cli.experiments.checkpoints import load_models
    from sslr_cli.experiments.disentanglement import measure_disentanglement
    from sslr_cli.experiments.inputs import load_labelled_images

    res = ok_json(run("reconstruct", env["srn"], env["mlp"], "--data", env["data"], "--threshold", 0.2, "--samples", 0,
                      "--device", "cpu", "--json"))
    ev = load_labelled_images([env["data"]], 64)
    models = load_models([env["srn"], env["mlp"]], "cpu")
    assert [c["label"] for c in res["checkpoints"]] == [m.label for m in models]
    for m, got in zip(models, res["checkpoints"]):
        want = measure_disentanglement(m.model, ev.images, ev.counts, 0.2, extra_thresholds=(0.5,), masks=ev.masks)
        assert want.n_images == 32 and np.isfinite(want.ari)
        same_numbers(got, want.to_dict())
    # the two checkpoints differ, so a CLI that measured one model twice would fail above
    assert flat(res["checkpoints"][0])["mse"] != flat(res["checkpoints"][1])["mse"]


def test_interpolate_json_is_run_shift_and_run_latent(env):
    from sslr_cli.experiments import interpolation as interp
    from sslr_cli.experiments.checkpoints import load_models

    models = load_models([env["srn"], env["mlp"]], "cpu")
    res = ok_json(run("interpolate", env["srn"], env["mlp"], "--frames", 5, "--radius", 6, "--no-figure", "--device", "cpu",
                      "--json"))
    inputs, masks = interp.shift_frames(interp.COLORS["green"], 6, 32 - 5 // 2, 32, 5, 64)
    for m, got in zip(models, res["checkpoints"]):
        same_numbers(got, interp.run_shift(m.model, m.label, inputs, masks, 0.1, "cpu").summary())
    res = ok_json(run("interpolate", env["srn"], env["mlp"], "--mode", "latent", "--steps", 4, "--color", "red",
                      "--no-figure", "--device", "cpu", "--json"))
    image, mask = interp.one_circle_image(interp.COLORS["red"], 8, 32, 32, 64)
    for m, got in zip(models, res["checkpoints"]):
        same_numbers(got, interp.run_latent(m.model, m.label, image, mask, interp.COLORS["red"], 4, "cpu").summary())


def test_tsne_json_is_run_tsne(env):
    from sslr_cli.experiments import tsne_analysis as ta
    from sslr_cli.experiments.checkpoints import load_models

    res = ok_json(run("tsne", env["srn"], env["mlp"], "--grid", 4, "--radii", "3,5", "--seed", 1, "--no-figure",
                      "--device", "cpu", "--json"))
    circles = ta.grid_circles(4, (3, 5), 64)
    images = ta.render_grid(circles, 64)
    for m, got in zip(load_models([env["srn"], env["mlp"]], "cpu"), res["checkpoints"]):
        want = ta.run_tsne(m.model, m.label, str(m.path), m.generator, circles, images, 2, 1, 128, "cpu")
        assert want.scores  # trustworthiness, kNN scores: compared one by one below
        same_numbers(got, want.summary())
