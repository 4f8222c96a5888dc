"""Set matching (Sec. 4.3, Table 3): Hungarian matching, F_match invariances, the three models in the
training engine, the Table 3 metrics and grouping, and the `sslr match` / `sslr train --task match` CLI."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import one_line_error, runner, tiny_model
from sslr_cli.cli import app
from sslr_cli.config import PRESETS, RunConfig, TrainConfig, get_preset
from sslr_cli.data.circles import CircleSpec, generate_circles, generate_isocircles
from sslr_cli.data.loader import to_float_images
from sslr_cli.data.store import write_scenes
from sslr_cli.engine.match_task import MatchSettings, MatchingTask, configure_matching, recon_error
from sslr_cli.engine.tasks import get_task
from sslr_cli.engine.checkpoint import load_model
from sslr_cli.engine.run_config import check_run_config
from sslr_cli.engine.train import load_matching_weights, train
from sslr_cli.errors import SSLRError
from sslr_cli.experiments.matching import (
    PAPER_TABLE3, MatchEvaluation, RunResult, group_key, group_runs, match_metrics, model_label, predict_distances,
)
from sslr_cli.models import SetAutoencoder
from sslr_cli.models.matching import (
    MatchHead, NaiveCNNMatcher, SetMatcher, hungarian, pairwise_smooth_l1, pairwise_sq_dist,
)



def match_run(generator="srn", model=None, extra=None, **train_kw) -> RunConfig:
    t = dict(task="match", batch_size=8, epochs=1, lr=1e-3, optimizer="rmsprop", late_epoch=-1, val_fraction=0.25,
             log_every=1)
    t.update(train_kw)
    return RunConfig("test", tiny_model(generator=generator, **(model or {})), TrainConfig(**t),
                     MatchSettings(loc_dim=3, att_dim=2, **(extra or {})).to_extra())


@pytest.fixture
def iso_file(tmp_path):
    return write_scenes(tmp_path / "iso.h5", generate_isocircles(16, seed=3))


# --- Hungarian matching and F_match -------------------------------------------------------------

@pytest.mark.parametrize("n,m", [(4, 4), (5, 5), (3, 5)])
def test_hungarian_equals_brute_force(n, m):
    gen = torch.Generator().manual_seed(n * 10 + m)
    cost = torch.rand(6, n, m, generator=gen)
    pi = hungarian(cost)
    assert pi.shape == (6, n) and pi.dtype == torch.long
    for b in range(6):
        best = min(itertools.permutations(range(m), n), key=lambda p: sum(float(cost[b, i, j]) for i, j in enumerate(p)))
        assert tuple(pi[b].tolist()) == best  # random costs: the optimum is unique


def test_smooth_l1_pair_cost_by_hand_and_the_matching_it_picks():
    """The reference's Hungarian cost: smooth-L1 (beta 1) averaged over dimensions. It weighs one large
    difference less than squares do, so the two costs can pick different matchings."""
    x = torch.tensor([[[0.0, 0.0], [3.0, 0.0]]])
    y = torch.tensor([[[0.5, 0.0], [0.0, 2.0]]])
    # |d|: (0.5, 0), (0, 2), (2.5, 0), (3, 2) -> smooth-L1 means 0.0625, 0.75, 1.0, 2.0
    torch.testing.assert_close(pairwise_smooth_l1(x, y), torch.tensor([[[0.0625, 0.75], [1.0, 2.0]]]))
    torch.testing.assert_close(pairwise_smooth_l1(x, y),
                               torch.nn.functional.smooth_l1_loss(x.unsqueeze(2).expand(-1, -1, 2, -1),
                                                                  y.unsqueeze(1).expand(-1, 2, -1, -1),
                                                                  reduction="none").mean(-1))
    a = torch.tensor([[[1.0, 1.0], [2.0, 4.0]]])
    b = torch.tensor([[[3.0, 0.0], [1.0, 1.0]]])
    # squared: identity 5 + 10 = 15 < swap 0 + 17; smooth-L1: identity 1.0 + 1.5 = 2.5 > swap 0 + 2.0
    torch.testing.assert_close(pairwise_sq_dist(a, b), torch.tensor([[[5.0, 0.0], [17.0, 10.0]]]))
    torch.testing.assert_close(pairwise_smooth_l1(a, b), torch.tensor([[[1.0, 0.0], [2.0, 1.5]]]))
    assert hungarian(pairwise_sq_dist(a, b)).tolist() == [[0, 1]]
    assert hungarian(pairwise_smooth_l1(a, b)).tolist() == [[1, 0]]
    head = MatchHead(1, 1, 1, cost="smooth_l1")
    assert head.pair_cost is pairwise_smooth_l1
    with pytest.raises(ValueError, match="cost"):
        MatchHead(1, 1, 1, cost="l3")


def test_match_head_is_invariant_to_permuting_either_set():
    torch.manual_seed(0)
    head = MatchHead(element_dim=6, loc_dim=3, att_dim=4)
    s1, s2 = torch.randn(5, 6, 6), torch.randn(5, 6, 6)
    pred, cost, pi = head(s1, s2)
    p1, p2 = torch.randperm(6), torch.randperm(6)
    pred_a, cost_a, _ = head(s1[:, p1], s2)
    pred_b, cost_b, _ = head(s1, s2[:, p2])
    pred_c, cost_c, _ = head(s1[:, p1], s2[:, p2])
    for p, c in ((pred_a, cost_a), (pred_b, cost_b), (pred_c, cost_c)):
        torch.testing.assert_close(p, pred)
        torch.testing.assert_close(c, cost)
    # the prediction is the location distance of the matching that minimises the attribute cost
    with torch.no_grad():
        a1, a2, l1, l2 = head.att(s1), head.att(s2), head.loc(s1), head.loc(s2)
    c = pairwise_sq_dist(a1, a2).numpy()
    for b in range(5):
        best = min(itertools.permutations(range(6)), key=lambda p: c[b, range(6), list(p)].sum())
        assert tuple(pi[b].tolist()) == best
        torch.testing.assert_close(pred[b], (l1[b] - l2[b, list(best)]).pow(2).sum())


def test_gradient_follows_the_selected_pairs():
    head = MatchHead(element_dim=2, loc_dim=2, att_dim=2)
    with torch.no_grad():  # identity maps: location = attribute = the element itself
        for lin in (head.loc, head.att):
            lin.weight.copy_(torch.eye(2))
            lin.bias.zero_()
    s1 = torch.tensor([[[0.0, 0.0], [10.0, 10.0]]], requires_grad=True)
    s2 = torch.tensor([[[10.0, 11.0], [1.0, 0.0]]], requires_grad=True)  # matched crosswise
    pred, cost, pi = head(s1, s2)
    assert pi.tolist() == [[1, 0]]
    assert float(pred.detach()) == pytest.approx(1.0 + 1.0) and float(cost.detach()) == pytest.approx(2.0)
    pred.backward()
    # d/ds1 of ||s1_0 - s2_1||^2 + ||s1_1 - s2_0||^2 (both embeddings are the element, counted once in pred)
    torch.testing.assert_close(s1.grad, torch.tensor([[[-2.0, 0.0], [0.0, -2.0]]]))
    torch.testing.assert_close(s2.grad, torch.tensor([[[0.0, 2.0], [2.0, 0.0]]]))


@pytest.mark.parametrize("generator", ["mlp", "srn"])
@pytest.mark.parametrize("training", [True, False])
def test_identical_images_give_zero_distance_and_cost(generator, training):
    torch.manual_seed(1)
    model = SetMatcher(tiny_model(generator=generator), loc_dim=3, att_dim=2).train(training)
    x = to_float_images(torch.from_numpy(generate_isocircles(4, seed=0)["images"]))
    out = model(x, x)
    assert out.prediction.shape == (4,) and out.assignment.shape == (4, 4)
    assert out.prediction.abs().max().item() < 1e-5 and out.match_cost.abs().max().item() < 1e-5
    assert torch.equal(out.assignment, torch.arange(4).expand(4, 4))


def test_naive_cnn_overfits_and_predicts_zero_for_identical_images():
    """The CNN has no structure that forces Y_hat(X, X) = 0: it must learn it (its output bias)."""
    torch.manual_seed(0)
    pairs = generate_isocircles(4, seed=7)
    a, b = (to_float_images(torch.from_numpy(pairs[k])) for k in ("images", "images_b"))
    x1, x2 = torch.cat([a, a, b]), torch.cat([b, a, b])
    target = torch.cat([torch.from_numpy(pairs["target"]), torch.zeros(8)])
    model = NaiveCNNMatcher(tiny_model(generator="cnn", encoder_width=4, embed_dim=16))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(100):
        loss = (model(x1, x2).prediction - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(x1, x2).prediction
    identical = pred[4:]
    assert float(identical.abs().max()) < 0.1 * float(target[:4].mean()), (identical, target[:4])
    assert float((pred[:4] - target[:4]).abs().max()) < 0.25 * float(target[:4].mean())


def test_set_matcher_learns_through_the_hungarian_matching():
    """Gradients reach the encoder through the selected pairs: SSLR-MLP overfits 8 pairs."""
    torch.manual_seed(0)
    pairs = generate_isocircles(8, seed=7)
    a, b = (to_float_images(torch.from_numpy(pairs[k])) for k in ("images", "images_b"))
    target = torch.from_numpy(pairs["target"])
    model = SetMatcher(tiny_model(generator="mlp", encoder_width=4), loc_dim=3, att_dim=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    errors = []
    for _ in range(100):
        out = model(a, b)
        dist = (out.prediction - target).pow(2).mean()
        opt.zero_grad()
        (dist + 0.3 * out.match_cost.mean()).backward()
        opt.step()
        errors.append(dist.item())
    # a constant predictor's best error is the targets' variance; the matcher must beat it by far (measured: ~100x)
    constant = float(target.var(unbiased=False))
    assert errors[-1] < 0.05 * constant, (errors[-1], constant)


# --- the task in the training engine -------------------------------------------------------------

@pytest.mark.parametrize("generator,extra", [("cnn", {}), ("mlp", {}), ("srn", {}), ("srn", {"recon_weight": 1.0})])
def test_variants_train_through_the_engine(tmp_path, iso_file, generator, extra):
    cfg = match_run(generator, extra=extra)
    result = train(iso_file, tmp_path / "run", cfg, device="cpu")
    assert result.steps == 1 and np.isfinite(result.train_loss) and np.isfinite(result.best_val)
    model, loaded, _ = load_model(tmp_path / "run")
    assert loaded.train.task == "match" and loaded.extra == cfg.extra
    assert isinstance(model, NaiveCNNMatcher if generator == "cnn" else SetMatcher)
    if generator != "cnn":
        assert model.head.loc.out_features == 3 and model.head.att.out_features == 2
        assert (model.decoder is not None) == bool(extra)
    pairs = generate_isocircles(3, seed=1)
    pred = predict_distances(model, torch.from_numpy(pairs["images"]), torch.from_numpy(pairs["images_b"]), 2)
    assert pred.shape == (3,) and np.isfinite(pred).all()


def test_task_loss_terms_and_validation_loss(iso_file):
    """Training loss = distance MSE + match_weight * mean cost (+ recon); evaluation: distance MSE only."""
    torch.manual_seed(0)
    cfg = match_run("mlp", extra={"match_weight": 0.5})
    task = get_task("match")
    assert isinstance(task, MatchingTask) and task.kinds == ("isocircles",)
    model = task.build_model(cfg)
    pairs = generate_isocircles(4, seed=2)
    batch = {k: torch.from_numpy(pairs[k]) for k in ("images", "images_b", "target")}
    model.eval()  # the same batch-norm statistics for both calls
    out = model(to_float_images(batch["images"]), to_float_images(batch["images_b"]))
    dist = (out.prediction - batch["target"]).pow(2).mean()
    torch.testing.assert_close(task.loss(model, batch, cfg, 3), dist)
    for m in model.modules():  # the task reads the top-level flag; the layers stay in eval mode
        m.training = m is model
    torch.testing.assert_close(task.loss(model, batch, cfg, 3), 32 * (dist + 0.5 * out.match_cost.mean()))


def test_recon_error_is_the_pixel_mean_squared_error():
    rec = torch.zeros(2, 3, 2, 2)
    rec[0, 0, 0, 0] = 1.0  # one wrong pixel value of 24: error 1/24
    rec[1] = 0.5  # image 2 off by 0.5 everywhere: 12 values of 0.25
    torch.testing.assert_close(recon_error(rec, torch.zeros(2, 3, 2, 2)), torch.tensor((1.0 + 12 * 0.25) / 24))


def test_loss_is_the_reference_codes_sum_at_batch_32_with_image_a_reconstructed():
    """At B = 32 the training loss is the reference's number: sum_b (Y_hat - Y)^2 + 10 * mean_b C_b
    + recon_weight * pixel-mean squared error of image A's reconstruction (image B is not decoded)."""
    torch.manual_seed(0)
    cfg = match_run("srn", extra={"recon_weight": 0.7}, batch_size=32)
    task = get_task("match")
    model = task.build_model(cfg)
    pairs = generate_isocircles(32, seed=4)
    batch = {k: torch.from_numpy(pairs[k]) for k in ("images", "images_b", "target")}
    x1, x2 = to_float_images(batch["images"]), to_float_images(batch["images_b"])
    model.eval()
    out = model(x1, x2, 2)
    assert out.reconstruction.image.shape == x1.shape  # B images: A only
    reference = ((out.prediction - batch["target"]) ** 2).sum() + 10 * out.match_cost.mean() \
        + 0.7 * ((out.reconstruction.image - x1) ** 2).mean()
    for m in model.modules():
        m.training = m is model
    torch.testing.assert_close(task.loss(model, batch, cfg, 2), reference)
    # recon_images = 4: the same term from the first 4 images A only
    cfg4 = replace(cfg, extra={**cfg.extra, "recon_images": 4})
    model4 = task.build_model(cfg4)
    model4.load_state_dict(model.state_dict())
    model4.eval()
    out4 = model4(x1, x2, 2)
    assert out4.reconstruction.image.shape == (4, *x1.shape[1:])
    torch.testing.assert_close(out4.reconstruction.image, out.reconstruction.image[:4])
    for m in model4.modules():
        m.training = m is model4
    torch.testing.assert_close(task.loss(model4, batch, cfg4, 2),
                               reference - 0.7 * ((out.reconstruction.image - x1) ** 2).mean()
                               + 0.7 * ((out4.reconstruction.image - x1[:4]) ** 2).mean())


def test_match_presets_have_their_circles_presets_widths_so_init_copies_all_of_g():
    for name in ("match-paper", "match-small", "match-tiny"):
        assert get_preset(name) is PRESETS[name] and PRESETS[name].preset == name
    assert "match-tiny-init" not in PRESETS  # the circles run of the same preset is the initial model
    for size in ("paper", "tiny", "small"):
        match, circles = get_preset(f"match-{size}"), get_preset(size)
        assert match.train.task == "match" and circles.train.task == "reconstruct"
        assert size == "paper" or match.train.max_steps > 0
        same = dict(generator="srn", inner_steps=5, inner_grad="unrolled")  # how r is differentiated: no weights
        assert replace(circles.model, **same) == replace(match.model, **same)  # --init copies all of G
        if size == "paper":
            continue  # (a paper-width model is slow to build on a CPU; its equality above suffices)
        torch.manual_seed(0)
        source = SetAutoencoder(replace(circles.model, generator="srn")).state_dict()
        assert set(load_matching_weights(SetMatcher(match.model, reconstruct=True), source)) == set(source)


def test_init_from_a_checkpoint_of_other_widths_is_refused():
    torch.manual_seed(0)
    source = SetAutoencoder(tiny_model(generator="srn")).state_dict()  # widths 4 / 4 / 16
    matcher = SetMatcher(tiny_model(generator="srn", encoder_width=8, decoder_width=8, agg_hidden=32), reconstruct=True)
    with pytest.raises(SSLRError, match=r"--init ckpt.pt: its weights fit \d+ of this model's \d+ parameter values"):
        load_matching_weights(matcher, source, "ckpt.pt")


def test_configure_matching_applies_the_papers_defaults():
    base = get_preset("match-paper")
    assert base.train.optimizer == "rmsprop" and base.train.lr == 5e-4 and base.train.batch_size == 32
    assert base.model.inner_steps == 5 and base.model.inner_lr == 0.1 and base.train.epochs == 60
    cnn = configure_matching(base.with_overrides(model=dict(generator="cnn")), lr_given=False, weight_decay_given=False)
    assert cnn.train.lr == 1e-5
    given = configure_matching(base.with_overrides(model=dict(generator="cnn"), train=dict(lr=3e-4)),
                               lr_given=True, weight_decay_given=False)
    assert given.train.lr == 3e-4
    r_init = configure_matching(base, lr_given=False, weight_decay_given=False, recon_weight=1.0, init="runs/srn/best.pt",
                                extra=["loc_dim=3", "att_dim=4"])
    assert r_init.train.weight_decay == 1e-4 and r_init.train.lr == 5e-4
    assert r_init.extra["recon_weight"] == 1.0 and r_init.extra["loc_dim"] == 3 and r_init.extra["att_dim"] == 4
    assert model_label(r_init) == "SSLR-SRN (r + init)"
    with pytest.raises(SSLRError, match="--extra nope"):
        configure_matching(base, lr_given=False, weight_decay_given=False, extra=["nope=1"])
    with pytest.raises(SSLRError, match="loc_dim"):
        configure_matching(base, lr_given=False, weight_decay_given=False, extra=["loc_dim=0"])
    with pytest.raises(SSLRError, match="only for --task match"):
        check_run_config(replace(base, train=replace(base.train, task="reconstruct")).with_overrides(model=dict(generator="cnn")))


def test_init_copies_a_reconstruction_checkpoints_encoder_and_decoder():
    cfg = tiny_model(generator="srn")
    torch.manual_seed(0)
    source = SetAutoencoder(cfg).state_dict()
    torch.manual_seed(1)
    matcher = SetMatcher(cfg, reconstruct=True)
    taken = load_matching_weights(matcher, source)
    assert set(taken) == set(source)  # every encoder and decoder tensor, by name
    own = matcher.state_dict()
    assert all(torch.equal(own[k], source[k]) for k in source)
    assert not any(k.startswith("head.") for k in taken)


# --- Table 3 -------------------------------------------------------------------------------------

def test_match_metrics_by_hand():
    pred = np.array([1.5, 1.0, 3.0, 0.5, 0.1])
    target = np.array([1.0, 2.0, 4.0, 0.5, 0.0])
    ev = match_metrics(pred, target, batch_size=2)
    # relative errors 0.5, 0.5, 0.25, 0 (the zero target is left out) -> 31.25 %
    assert ev.relative_error == pytest.approx(31.25)
    sq = np.array([0.25, 1.0, 1.0, 0.0, 0.01])
    assert ev.batches == 3 and ev.zero_targets == 1 and ev.pairs == 5
    assert ev.l2_error == pytest.approx(sq.sum() / 3)  # per-batch sums (1.25, 1.0, 0.01) averaged
    assert ev.mse == pytest.approx(sq.mean())
    assert match_metrics(pred[:4], target[:4], 2).l2_error == pytest.approx(1.25 / 2 + 1.0 / 2)


def _run(cfg, rel, l2, seed=0, path="x.pt"):
    return RunResult(path, model_label(cfg), cfg.preset, seed, group_key(cfg),
                     MatchEvaluation(rel, l2, l2 / 32, 64, 2, 32, 0))


def test_table3_groups_seeds_and_reports_mean_and_sample_std():
    base = get_preset("match-tiny")
    srn = replace(base, train=replace(base.train, seed=0))
    mlp = base.with_overrides(model=dict(generator="mlp"))
    cnn = base.with_overrides(model=dict(generator="cnn"))
    srn_small = replace(get_preset("match-small"))
    runs = [
        _run(srn, 10.0, 0.02, 0), _run(mlp, 30.0, 0.05, 0), _run(replace(srn, train=replace(srn.train, seed=1)), 12.0, 0.04, 1),
        _run(cnn, 40.0, 0.1, 0), _run(replace(srn, train=replace(srn.train, seed=2)), 14.0, 0.03, 2),
        _run(replace(mlp, train=replace(mlp.train, seed=5)), 34.0, 0.07, 5), _run(srn_small, 50.0, 0.5, 0),
    ]
    rows = group_runs(runs)
    assert [r.model for r in rows] == ["Naive CNNs", "SSLR-MLP", "SSLR-SRN", "SSLR-SRN"]
    cnn_row, mlp_row, srn_row, small_row = rows
    assert srn_row.seeds == [0, 1, 2] and small_row.seeds == [0]
    assert srn_row.relative_error.mean == pytest.approx(12.0) and srn_row.relative_error.std == pytest.approx(2.0)
    assert srn_row.l2_error.mean == pytest.approx(0.03) and srn_row.l2_error.std == pytest.approx(0.01)
    assert mlp_row.relative_error.mean == pytest.approx(32.0) and mlp_row.relative_error.std == pytest.approx(np.sqrt(8.0))
    assert np.isnan(cnn_row.relative_error.std)  # one run: no spread
    assert srn_row.paper == PAPER_TABLE3["SSLR-SRN"] and cnn_row.paper == (42.64, 1.89, 0.027, 2.58e-4)
    assert srn_row.name != small_row.name  # two SRN experiments stay apart and are told apart


# --- the command line ----------------------------------------------------------------------------

TINY = ["--encoder-width", "4", "--decoder-width", "4", "--set-size", "4", "--element-dim", "3", "--batch-size", "8",
        "--epochs", "1", "--val-fraction", "0.25", "--device", "cpu", "-q"]


def test_cli_train_match_with_seeds_and_match_table(tmp_path, iso_file):
    result = runner.invoke(app, ["train", str(iso_file), "--task", "match", "--generator", "cnn", "--seeds", "0,1",
                                 "--out", str(tmp_path / "cnn"), "--json", *TINY])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]
    assert [r["seed"] for r in runs] == [0, 1] and all(r["task"] == "match" for r in runs)
    for k in (0, 1):
        cfg = json.loads((tmp_path / "cnn" / f"seed-{k}" / "config.json").read_text())
        assert cfg["train"]["seed"] == k and cfg["train"]["lr"] == get_preset("match-tiny").extra["cnn_lr"] and cfg["preset"] == "match-tiny"
    result = runner.invoke(app, ["train", str(iso_file), "--task", "match", "--generator", "srn", "--out",
                                 str(tmp_path / "srn"), "--inner-steps", "2", *TINY])
    assert result.exit_code == 0, result.output

    ckpts = [tmp_path / "cnn" / "seed-0", tmp_path / "cnn" / "seed-1" / "best.pt", tmp_path / "srn"]
    result = runner.invoke(app, ["match", *map(str, ckpts), "--data", str(iso_file), "--json", "--limit", "12",
                                 "--batch-size", "8", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    table = json.loads(result.stdout)
    assert table["pairs"] == 12 and table["batches"] == 2
    assert [(r["label"], r["runs"]) for r in table["rows"]] == [("Naive CNNs", 2), ("SSLR-SRN", 1)]
    # the numbers are the metrics of the model's predictions
    model, _, _ = load_model(tmp_path / "srn", "cpu")
    data = generate_isocircles(16, seed=3)
    pred = predict_distances(model, torch.from_numpy(data["images"][:12]), torch.from_numpy(data["images_b"][:12]), 8)
    expected = match_metrics(pred, data["target"][:12], 8)
    srn_row = table["rows"][1]
    assert srn_row["l2_error"]["mean"] == pytest.approx(expected.l2_error, rel=1e-5)
    assert srn_row["relative_error"]["mean"] == pytest.approx(expected.relative_error, rel=1e-5)
    assert srn_row["paper"]["relative_error"]["mean"] == 27.58

    result = runner.invoke(app, ["match", *map(str, ckpts), "--data", str(iso_file), "--limit", "12", "--device", "cpu", "-q"])
    assert result.exit_code == 0, result.output
    for text in ("Table 3", "Naive CNNs", "SSLR-SRN", "SSLR-MLP (paper)", "42.64±1.89", "L2 error"):
        assert text in result.stdout


def test_cli_errors_exit_2(tmp_path, iso_file):
    circles = write_scenes(tmp_path / "circles.h5", generate_circles(8, CircleSpec(max_count=2), seed=0))
    recon = tmp_path / "recon"
    assert runner.invoke(app, ["train", str(circles), "--out", str(recon), *TINY]).exit_code == 0
    one_line_error(runner.invoke(app, ["match", str(recon), "--data", str(iso_file)]), "'reconstruct' checkpoint")
    match_ckpt = tmp_path / "m"
    train(iso_file, match_ckpt, match_run("mlp"), device="cpu")
    one_line_error(runner.invoke(app, ["match", str(match_ckpt), "--data", str(circles)]), "needs 'isocircles'")
    one_line_error(runner.invoke(app, ["match", str(match_ckpt), "--data", str(iso_file), "--batch-size", "0"]), "--batch-size")
    one_line_error(runner.invoke(app, ["match", str(tmp_path / "none.pt"), "--data", str(iso_file)]), "none.pt")
    one_line_error(runner.invoke(app, ["train", str(circles), "--task", "match", "--out", str(tmp_path / "x")]), "isocircles")
    one_line_error(runner.invoke(app, ["train", str(circles), "--generator", "cnn", "--out", str(tmp_path / "x")]), "--task match")
    one_line_error(runner.invoke(app, ["train", str(iso_file), "--task", "match", "--seeds", "1,1"]), "--seeds")
    one_line_error(runner.invoke(app, ["train", str(iso_file), "--task", "match", "--extra", "loc_dim"]), "KEY=VALUE")
    one_line_error(runner.invoke(app, ["train", str(circles), "--recon-weight", "1"]), "only for --task match")
