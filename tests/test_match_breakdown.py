"""Table 3's errors by fifth of the target distance (experiments/match_breakdown.py, `sslr match --breakdown`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import run, tiny_model

from sslr_cli.config import RunConfig, TrainConfig
from sslr_cli.data.circles import generate_isocircles
from sslr_cli.data.store import write_scenes
from sslr_cli.engine.match_task import MatchSettings
from sslr_cli.engine.train import train
from sslr_cli.errors import SSLRError
from sslr_cli.experiments.match_breakdown import breakdown, mean_by_model


def test_breakdown_by_hand():
    target = np.array([0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 1.0, 0.4, 0.8, 0.6])
    pred = target * 1.5  # 50 % relative error everywhere
    pred[1] = 0.3  # the smallest target (0.1) predicted 3x: 200 %
    parts = breakdown(pred, target)
    assert [p.part for p in parts] == [1, 2, 3, 4, 5] and [p.pairs for p in parts] == [2] * 5
    assert [(p.target_min, p.target_max) for p in parts] == [(0.1, 0.2), (0.3, 0.4), (0.5, 0.6), (0.7, 0.8), (0.9, 1.0)]
    assert parts[0].relative_error == pytest.approx(125.0) and parts[1].relative_error == pytest.approx(50.0)
    total = 2.0 + 9 * 0.5
    assert parts[0].share_of_relative_error == pytest.approx(2.5 / total)
    assert sum(p.share_of_relative_error for p in parts) == pytest.approx(1.0)
    assert parts[4].mse == pytest.approx(np.mean([(0.45) ** 2, (0.5) ** 2]))
    assert parts[2].mean_target == pytest.approx(0.55) and parts[2].mean_prediction == pytest.approx(0.825)


def test_zero_targets_are_left_out_of_the_relative_error():
    target = np.array([0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    parts = breakdown(target + 1.0, target)
    assert np.isnan(parts[0].relative_error) and parts[0].share_of_relative_error == 0.0
    assert parts[0].mse == pytest.approx(1.0)


def test_too_few_pairs_is_an_error():
    with pytest.raises(SSLRError, match="at least 5 pairs"):
        breakdown(np.ones(3), np.ones(3))


def test_mean_by_model_averages_the_runs_of_a_model():
    target = np.linspace(0.1, 1.0, 10)
    a, b = breakdown(target * 1.2, target), breakdown(target * 1.4, target)
    means = mean_by_model([("SSLR-MLP", a), ("SSLR-MLP", b), ("SSLR-SRN", a)])
    assert list(means) == ["SSLR-MLP", "SSLR-SRN"]
    assert [p.relative_error for p in means["SSLR-MLP"]] == pytest.approx([30.0] * 5)
    assert means["SSLR-SRN"] == a


def test_cli_match_breakdown(tmp_path):
    iso = write_scenes(tmp_path / "iso.h5", generate_isocircles(20, seed=3))
    cfg = RunConfig("test", tiny_model(generator="mlp"),
                    TrainConfig(task="match", batch_size=8, epochs=1, lr=1e-3, optimizer="rmsprop", late_epoch=-1,
                                val_fraction=0.25, log_every=1),
                    MatchSettings(loc_dim=3, att_dim=2).to_extra())
    torch.manual_seed(0)
    train(iso, tmp_path / "mlp", cfg, device="cpu")
    result = run("match", tmp_path / "mlp", "--data", iso, "--breakdown", "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    (model,) = payload["breakdown"]
    parts = payload["breakdown"][model]
    assert model == payload["rows"][0]["model"] and len(parts) == 5 and sum(p["pairs"] for p in parts) == 20
    # the parts' per-pair L2, weighted by their pairs, is the whole table's
    assert sum(p["mse"] * p["pairs"] for p in parts) / 20 == pytest.approx(payload["runs"][0]["mse"])
    text = run("match", tmp_path / "mlp", "--data", iso, "--breakdown", "--device", "cpu", "-q")
    assert text.exit_code == 0, text.output
    assert "Relative error % (share of the total)" in text.stdout
    plain = run("match", tmp_path / "mlp", "--data", iso, "--device", "cpu", "--json")
    assert plain.exit_code == 0 and "breakdown" not in json.loads(plain.stdout)  # only when asked
