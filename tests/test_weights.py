"""Released weights: `sslr export RUN --to X.safetensors`, every checkpoint-taking command reading such a file,
and the shipped tiny-srn / tiny-mlp weights."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from conftest import one_line_error, run, tiny_run

from sslr_cli.config import RunConfig, TrainConfig
from sslr_cli.data.circles import CircleSpec, generate_circles, generate_isocircles
from sslr_cli.data.clevr import ClevrSpec, generate_clevr
from sslr_cli.data.loader import to_float_images
from sslr_cli.data.store import write_scenes
from sslr_cli.engine.checkpoint import load_model, read_checkpoint, save_checkpoint
from sslr_cli.engine.match_task import MatchSettings
from sslr_cli.engine.tasks import get_task
from sslr_cli.engine.train import train
from sslr_cli.engine.weights import FORMAT, shipped_weights
from sslr_cli.models import SetAutoencoder


def ok_json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def header(path) -> dict:
    """The JSON header of a .safetensors file, read by hand (8-byte length, then JSON)."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n])


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """An SRN run trained 3 steps by the real trainer, exported; an untrained MLP, a CLEVR model and a matching
    model saved as checkpoints; data for each command."""
    root = tmp_path_factory.mktemp("weights")
    data = root / "k.h5"
    write_scenes(data, generate_circles(24, CircleSpec(min_count=1, max_count=3), seed=3))
    torch.manual_seed(0)
    train(data, root / "srn", tiny_run("srn", model=dict(inner_steps=2)), device="cpu")
    mlp_cfg = tiny_run("mlp")
    (root / "mlp").mkdir()
    torch.manual_seed(1)
    save_checkpoint(root / "mlp" / "best.pt", {"config": mlp_cfg.to_dict(), "model": SetAutoencoder(mlp_cfg.model).state_dict()})
    clevr_cfg = tiny_run("srn", model=dict(agg="relation", inner_steps=2, inner_lr=8.0), loss="bce", target="foreground")
    save_checkpoint(root / "clevr.pt", {"config": clevr_cfg.to_dict(), "model": SetAutoencoder(clevr_cfg.model).state_dict()})
    clevr = root / "clevr.h5"
    write_scenes(clevr, generate_clevr(4, ClevrSpec(size=64, min_objects=2, max_objects=3), seed=2))
    match_cfg = RunConfig("test", tiny_run("srn").model, TrainConfig(task="match"), MatchSettings(loc_dim=3, att_dim=2).to_extra())
    save_checkpoint(root / "match.pt", {"config": match_cfg.to_dict(), "model": get_task("match").build_model(match_cfg).state_dict()})
    iso = root / "iso.h5"
    write_scenes(iso, generate_isocircles(8, seed=1))
    for name, src in (("srn", root / "srn"), ("mlp", root / "mlp"), ("clevr", root / "clevr.pt"), ("match", root / "match.pt")):
        result = run("export", src, "--to", root / f"{name}.safetensors")
        assert result.exit_code == 0, result.output
    return {"root": root, "data": data, "clevr": clevr, "iso": iso, **{k: root / k for k in ("srn", "mlp")},
            "clevr_pt": root / "clevr.pt", "match_pt": root / "match.pt",
            **{f"{k}_st": root / f"{k}.safetensors" for k in ("srn", "mlp", "clevr", "match")}}


def test_export_writes_the_weights_and_the_config_and_nothing_else(env, tmp_path):
    out = tmp_path / "w.safetensors"
    res = ok_json(run("export", env["srn"], "--to", out, "--json"))
    ckpt = read_checkpoint(env["srn"] / "best.pt")
    assert res["weights"] == str(out) and res["generator"] == "srn" and res["inner_steps"] == 2
    meta = header(out)["__metadata__"]  # the whole header is JSON: no pickle anywhere in the file
    assert meta["format"] == FORMAT and meta["version"] == "1" and meta["source"] == "srn"
    assert json.loads(meta["config"]) == json.loads((env["srn"] / "config.json").read_text())
    assert meta["inner_steps"] == "2" and int(meta["step"]) == ckpt["step"]
    from safetensors.torch import load_file

    tensors = load_file(str(out))
    assert set(tensors) == set(ckpt["model"])  # the model's tensors only: no optimizer state, no RNG, no counters
    for k, v in ckpt["model"].items():
        assert torch.equal(tensors[k], v), k
    assert set(header(out)) - {"__metadata__"} == set(ckpt["model"])


def test_exported_weights_reconstruct_exactly_as_the_checkpoint(env):
    images = torch.from_numpy(generate_circles(6, CircleSpec(min_count=1, max_count=3), seed=9)["images"])
    a, cfg_a, _ = load_model(env["srn"])
    b, cfg_b, _ = load_model(env["srn_st"])
    assert cfg_a == cfg_b
    torch.manual_seed(0)
    _, rec_a = a(to_float_images(images))
    torch.manual_seed(0)
    _, rec_b = b(to_float_images(images))
    assert torch.equal(rec_a.image, rec_b.image) and torch.equal(rec_a.element_images, rec_b.element_images)
    args = ("--data", env["data"], "--samples", 0, "--json")
    ra, rb = ok_json(run("reconstruct", env["srn"], *args)), ok_json(run("reconstruct", env["srn_st"], *args))
    (ca,), (cb,) = ra["checkpoints"], rb["checkpoints"]
    for key in ("rates", "extra_thresholds", "mse", "ari", "fg_ari", "inner_steps", "mean_nonempty"):
        assert ca[key] == cb[key], key
    assert cb["label"] == "SRN srn" and cb["checkpoint"] == str(env["srn_st"])


def _same(a: dict, b: dict, drop=("label", "checkpoint", "checkpoints", "figure", "embeddings", "path", "paths")):
    if isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            if k not in drop:
                _same(a[k], b[k], drop)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y, drop)
    else:
        assert a == b


@pytest.mark.parametrize("command", [
    ("interpolate", "{mlp}", "--no-figure", "--frames", "4"),
    ("interpolate", "{srn}", "--mode", "latent", "--steps", "3", "--no-figure"),
    ("tsne", "{mlp}", "--grid", "3", "--no-figure"),
    ("iou", "{clevr}", "--data", "{clevr_data}", "--limit", "3"),
    ("match", "{match}", "--data", "{iso}", "--batch-size", "4"),
])
def test_every_analysis_command_takes_a_safetensors_file_and_gives_the_checkpoints_numbers(env, command):
    def fill(use_weights: bool):
        sources = {"mlp": env["mlp_st"] if use_weights else env["mlp"], "srn": env["srn_st"] if use_weights else env["srn"],
                   "clevr": env["clevr_st"] if use_weights else env["clevr_pt"],
                   "match": env["match_st"] if use_weights else env["match_pt"],
                   "clevr_data": env["clevr"], "iso": env["iso"]}
        return [a.format(**{k: str(v) for k, v in sources.items()}) for a in command]

    from_checkpoint = ok_json(run(*fill(False), "--device", "cpu", "--json"))
    from_weights = ok_json(run(*fill(True), "--device", "cpu", "--json"))
    _same(from_checkpoint, from_weights)


def test_train_init_takes_a_safetensors_file_as_it_takes_the_checkpoint(env, tmp_path):
    from sslr_cli.config import get_preset

    cfg = get_preset("tiny")
    torch.manual_seed(2)
    save_checkpoint(tmp_path / "init.pt", {"config": cfg.to_dict(), "model": SetAutoencoder(cfg.model).state_dict()})
    assert run("export", tmp_path / "init.pt", "--to", tmp_path / "init.safetensors").exit_code == 0
    weights = []
    for init in ("init.pt", "init.safetensors"):
        result = run("train", env["data"], "--preset", "tiny", "--out", tmp_path / init.replace(".", "-"), "--init",
                     tmp_path / init, "--batch-size", 8, "--max-steps", 2, "--val-fraction", 0, "--precision", "fp32",
                     "--device", "cpu", "--json")
        assert result.exit_code == 0, result.output
        weights.append(read_checkpoint(tmp_path / init.replace(".", "-") / "last.pt")["model"])
    start = SetAutoencoder(cfg.model).state_dict()
    assert not all(torch.equal(weights[0][k], start[k]) for k in start)  # trained from init, not from a fresh seed
    for k in weights[0]:
        assert torch.equal(weights[0][k], weights[1][k]), k


def test_bad_weights_files_are_one_line_errors(env, tmp_path):
    one_line_error(run("reconstruct", tmp_path / "missing.safetensors", "--data", env["data"]), "missing.safetensors",
                   "no such weights file")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 40)
    one_line_error(run("reconstruct", garbage, "--data", env["data"]), "garbage.safetensors", "not a readable")
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign), metadata={"framework": "x"})
    one_line_error(run("reconstruct", foreign, "--data", env["data"]), "foreign.safetensors", "not sslr weights")
    tensors = read_checkpoint(env["srn_st"])["model"]
    meta = header(env["srn_st"])["__metadata__"]
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata={**meta, "config": json.dumps({"model": {"colour": 1}})})
    one_line_error(run("reconstruct", bad, "--data", env["data"]), "bad.safetensors", "unknown key colour")
    one_line_error(run("tsne", env["match_st"], "--no-figure"), "'match' checkpoint")
    one_line_error(run("export", env["srn"]), "--to")
    one_line_error(run("export", env["srn"], "--to", tmp_path / "w.pt"), "must end in .safetensors")
    one_line_error(run("export", env["srn"], "--to", env["srn_st"]), "already exists", "--force")
    one_line_error(run("reconstruct", "no-such-run", "--data", env["data"]), "no-such-run", "tiny-srn")


def test_shipped_weights_work_by_name_with_no_training(env, tmp_path):
    shipped = shipped_weights()
    assert set(shipped) >= {"tiny-srn", "tiny-mlp"}
    assert sum(p.stat().st_size for p in shipped.values()) < 4_000_000  # a few MB in all (fp32, so that they reproduce the runs exactly)
    res = ok_json(run("reconstruct", "tiny-srn", "tiny-mlp", "--data", env["data"], "--samples", 0, "--json"))
    labels = [c["label"] for c in res["checkpoints"]]
    assert labels == ["SRN tiny-srn", "MLP tiny-mlp"]
    for c in res["checkpoints"]:
        assert c["preset"] == "tiny" and 0.0 <= c["mse"] < 0.05  # trained: far below an untrained model's MSE
    assert res["checkpoints"][0]["inner_steps"] == 10
    res = ok_json(run("tsne", "tiny-srn", "--grid", 3, "--no-figure", "--json"))
    assert res["checkpoints"][0]["checkpoint"].endswith("tiny-srn.safetensors")
