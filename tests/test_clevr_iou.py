"""Table 2's IoU metrics on hand-made masks, the relation-network H_agg, the CLEVR presets, a tiny
CLEVR model trained on rendered scenes, and `sslr iou`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from conftest import one_line_error, runner, tiny_run

from sslr_cli.cli import app
from sslr_cli.config import get_preset
from sslr_cli.data.circles import CircleSpec, generate_circles
from sslr_cli.data.clevr import ClevrSpec, generate_clevr
from sslr_cli.data.loader import to_float_images
from sslr_cli.data.store import write_scenes
from sslr_cli.engine.tasks import get_task, reconstruction_loss
from sslr_cli.data.store import open_scenes
from sslr_cli.engine.checkpoint import load_model
from sslr_cli.engine.train import train
from sslr_cli.errors import SSLRError
from sslr_cli.experiments.iou import (
    component_boxes, element_box_masks, fill_boxes, gt_box_masks, iou_arrays, on_pixels, overall_iou_channels,
    overall_iou_pixels, per_object_iou_authors, per_object_iou_elements, score_images, segmentation, summarize,
)
from sslr_cli.models.relation_encoder import RelationAggregator

H = W = 16
A = (0, 0, 4, 4)  # x0, y0, x1, y1 (exclusive ends): 16 pixels
B = (8, 0, 12, 4)


def box(b):
    return fill_boxes([b], H, W)


# ---------------------------------------------------------------- thresholds and overall IoU


def test_on_pixels_any_channel_at_threshold():
    x = np.zeros((3, 1, 4))
    x[:, 0, 0] = (0.005, 0.02, 0.0)  # one channel over
    x[:, 0, 1] = (0.009, 0.009, 0.009)  # all under
    x[0, 0, 2] = 0.01  # exactly at the threshold
    np.testing.assert_array_equal(on_pixels(x), [[True, False, True, False]])


def test_overall_iou_pixels_known_values():
    pred = np.zeros((3, 4, 4), bool)
    target = np.zeros((3, 4, 4), bool)
    pred[0, :2, :2] = True
    target[0, :2, :] = True  # 4 of 8 pixels
    pred[1, 0, 0] = True  # disjoint
    target[1, 3, 3] = True
    np.testing.assert_allclose(overall_iou_pixels(pred, target), [0.5, 0.0, 1.0])  # image 2: both empty


def _two_pixel_images():
    """Two 1x2 images where counting channels and counting pixels disagree.

    Image 0: the target's pixel 0 is pure red; the reconstruction has red and green on at pixel 0
    and blue on at pixel 1. Image 1: the reconstruction draws pixel 0 green where the target is red.
    """
    image = np.zeros((2, 3, 1, 2), np.float32)
    image[0, :, 0, 0] = (0.8, 0.5, 0.0)
    image[0, :, 0, 1] = (0.0, 0.0, 0.3)
    image[1, :, 0, 0] = (0.0, 0.9, 0.0)
    foreground = np.zeros((2, 1, 2, 3), np.uint8)
    foreground[:, 0, 0] = (200, 0, 0)
    return image, foreground


def test_overall_iou_code_counts_channels_text_counts_pixels():
    image, foreground = _two_pixel_images()
    fg = foreground > 0
    # channels (the code): image 0 has on-channels {R0, G0, B1} against {R0}: (1 + e) / (3 + e);
    # image 1 {G0} against {R0}: e / (2 + e) ~ 0
    channels = overall_iou_channels(image >= 0.01, fg.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(channels, [(1 + 1e-6) / (3 + 1e-6), 1e-6 / (2 + 1e-6)], rtol=1e-12)
    # pixels (the text): image 0 has on-pixels {0, 1} against {0}: 1/2; image 1 {0} against {0}: 1
    np.testing.assert_allclose(overall_iou_pixels(on_pixels(image), fg.any(-1)), [0.5, 1.0])
    elements = image[:, None]  # one element drawing everything
    masks = np.zeros((2, 1, 2), np.uint8)
    boxes = np.full((2, 1, 4), np.nan, np.float32)
    s = score_images(image, elements, foreground, boxes, masks)
    np.testing.assert_allclose(s.overall_channels, channels)
    np.testing.assert_allclose(s.overall_pixels, [0.5, 1.0])
    r = summarize([s])
    assert r.overall() == r.overall_iou_channels == pytest.approx((channels[0] + channels[1]) / 2)
    assert r.overall("pixels") == r.overall_iou_pixels == 0.75


# ---------------------------------------------------------------- boxes and per-object IoU


def test_component_boxes_one_box_per_connected_component():
    m = np.zeros((H, W), bool)
    m[1:4, 1] = True
    m[3, 1:5] = True  # an L: x 1..4, y 1..3
    m[10, 12] = True  # a single pixel
    assert sorted(component_boxes(m)) == [(1, 1, 5, 4), (12, 10, 13, 11)]
    masks, counts = element_box_masks(np.stack([m, np.zeros_like(m)]))
    assert counts.tolist() == [2, 0] and masks[0].sum() == 4 * 3 + 1 and not masks[1].any()


def test_gt_boxes_skip_nan_rows_and_truncate():
    gt = gt_box_masks(np.array([[0.7, 0.2, 4.9, 4.0], [np.nan] * 4]), H, W)
    assert gt.shape == (1, H, W) and gt[0].sum() == 16 and gt[0][:4, :4].all()


def _elements():
    """Element 0 draws object A exactly; element 1 draws A and B together; element 2 is empty."""
    on = np.zeros((3, H, W), bool)
    on[0] = box(A)
    on[1] = box(A) | box(B)
    return on


def _smooth(inter, union):
    return (inter + 1e-6) / (union + 1e-6)


def test_per_object_elements_mode_known_value():
    pred, _ = element_box_masks(_elements())
    gt = np.stack([box(A), box(B)])
    # element 0: IoU 1 with A; element 1: its box mask is A | B, IoU 16/32 with either; element 2 ignored
    assert per_object_iou_elements(pred, _elements().any((1, 2)), gt) == pytest.approx(0.75)
    assert per_object_iou_elements(pred, np.zeros(3, bool), gt) == 0.0  # no prediction at all
    assert math.isnan(per_object_iou_elements(pred, _elements().any((1, 2)), gt[:0]))  # no ground truth: skipped


def test_per_object_authors_mode_known_value():
    pred, _ = element_box_masks(_elements())
    gt = np.stack([box(A), box(B)])
    # slots = max(3 elements, 2 objects) = 3: A -> element 0 (1), B -> element 1 (16/32), the empty
    # slot -> the empty element 2 (e / e = 1): (1 + 0.5 + 1) / 3, against 0.75 for the elements mode
    assert per_object_iou_authors(pred, gt) == pytest.approx((1 + _smooth(16, 32) + 1) / 3, rel=1e-12)
    # without an empty element the padded slot's best is e / (4 + e) (the 2x2 box) ~ 0
    full = np.stack([box(A), box(B), box((0, 8, 2, 10))])
    assert per_object_iou_authors(full, gt) == pytest.approx((1 + 1 + _smooth(0, 4)) / 3, rel=1e-12)
    assert math.isnan(per_object_iou_authors(pred, gt[:0]))


def test_modes_differ_on_a_merged_object():
    # The MLP failure: one element draws two touching objects as one blob (one component, one box
    # covering both); the other two elements are empty.
    left, right = (0, 0, 4, 4), (4, 0, 8, 4)
    on = np.zeros((3, H, W), bool)
    on[0] = box(left) | box(right)
    pred, counts = element_box_masks(on)
    assert counts.tolist() == [1, 0, 0] and pred[0].sum() == 32
    gt = np.stack([box(left), box(right)])
    # elements: the one prediction's best IoU is 16/32
    assert per_object_iou_elements(pred, on.any((1, 2)), gt) == pytest.approx(0.5)
    # authors: both objects' slots 16/32 (smoothed), the padded slot meets an empty element: 1
    assert per_object_iou_authors(pred, gt) == pytest.approx((2 * _smooth(16, 32) + 1) / 3, rel=1e-12)


def test_modes_differ_on_a_missed_object():
    # Three objects; the three elements draw A, B and A again, C is missed: every prediction is
    # perfect (elements mode 1), but C's slot finds nothing (authors mode ~2/3).
    C = (0, 10, 4, 14)
    on = np.stack([box(A), box(B), box(A)])
    pred, _ = element_box_masks(on)
    gt = np.stack([box(A), box(B), box(C)])
    assert per_object_iou_elements(pred, on.any((1, 2)), gt) == 1.0
    assert per_object_iou_authors(pred, gt) == pytest.approx((1 + 1 + _smooth(0, 32)) / 3, rel=1e-12)


def test_score_images_scores_both_modes_and_skips_unknown_boxes():
    elements = np.zeros((2, 3, 3, H, W), np.float32)
    elements[:, 0, 0][:, box(A)] = 0.5
    elements[:, 1, 1][:, box(A) | box(B)] = 0.5
    image = elements.sum(1)
    foreground = np.zeros((2, H, W, 3), np.uint8)
    boxes = np.full((2, 4, 4), np.nan, np.float32)
    boxes[:, 0], boxes[:, 1] = A, B
    masks = np.zeros((2, H, W), np.uint8)
    s = score_images(image, elements, foreground, boxes, masks, has_boxes=[1, 0])
    np.testing.assert_allclose(s.per_object_authors, [(1 + _smooth(16, 32) + 1) / 3, np.nan], rtol=1e-12)
    np.testing.assert_allclose(s.per_object_elements, [0.75, np.nan])
    r = summarize([s])
    assert r.images_per_object == 1 and r.per_object() == r.per_object_iou_authors
    assert r.per_object("elements") == 0.75


def test_score_images_perfect_and_skipped():
    elements = np.zeros((2, 3, 3, H, W), np.float32)  # 2 images, 3 elements
    elements[:, 0, 0][:, box(A)] = 0.8  # red object A in element 0
    elements[:, 1, 2][:, box(B)] = 0.6  # blue object B in element 1
    image = elements.sum(1)
    foreground = np.zeros((2, H, W, 3), np.uint8)
    foreground[:, box(A), 0] = 200
    foreground[:, box(B), 2] = 150
    masks = np.zeros((2, H, W), np.uint8)
    masks[:, box(A)] = 2  # ids need not agree with element order
    masks[:, box(B)] = 1
    boxes = np.full((2, 3, 4), np.nan, np.float32)
    boxes[:, 0] = B
    boxes[:, 1] = A
    s = score_images(image, elements, foreground, boxes, masks, has_foreground=[1, 0], has_mask=[1, 0])
    np.testing.assert_allclose(s.overall_channels, [1.0, np.nan])
    np.testing.assert_allclose(s.overall_pixels, [1.0, np.nan])
    np.testing.assert_allclose(s.per_object_elements, [1.0, 1.0])
    np.testing.assert_allclose(s.per_object_authors, [1.0, 1.0])
    np.testing.assert_allclose(s.ari, [1.0, np.nan])
    np.testing.assert_allclose(s.fg_ari, [1.0, np.nan])
    r = summarize([s])
    assert (r.overall_iou_channels, r.images_overall, r.images_ari, r.mean_nonempty, r.mean_boxes) == (1.0, 1, 1, 2.0, 2.0)


def test_segmentation_takes_the_most_responsible_element():
    e = np.zeros((1, 2, 3, 1, 3), np.float32)
    e[0, 0, :, 0, 0] = (0.3, 0.3, 0.3)
    e[0, 1, :, 0, 0] = (0.5, 0.0, 0.0)  # 0.9 vs 0.5 summed: element 0 wins
    e[0, 1, 0, 0, 1] = 0.02
    e[0, 0, 0, 0, 2] = 0.005  # below the threshold: background
    np.testing.assert_array_equal(segmentation(e), [[[1, 2, 0]]])


# ---------------------------------------------------------------- model


def test_relation_encoder_is_all_ordered_pairs_and_permutation_invariant():
    torch.manual_seed(0)
    enc = RelationAggregator(element_dim=3, out_dim=5, hidden=7, n_pieces=4)
    s = torch.randn(2, 4, 3)
    pairs = torch.stack([torch.stack([torch.cat([s[:, i], s[:, j]], -1) for j in range(4)], 1) for i in range(4)], 1)
    expected = enc.pool(enc.pair(pairs.reshape(2, 16, 6)) / 16)
    torch.testing.assert_close(enc(s), expected)
    torch.testing.assert_close(enc(s[:, [2, 0, 3, 1]]), enc(s))
    assert enc(s).shape == (2, 5)


def test_clevr_presets(tmp_path):
    from sslr_cli.engine.run_config import default_preset

    paper = get_preset("clevr-paper").validate()
    m, t = paper.model, paper.train
    assert (m.image_size, m.encoder_width, m.embed_dim, m.set_size, m.element_dim, m.agg, m.agg_hidden) == (128, 64, 512, 16, 10, "relation", 512)
    assert (m.inner_lr, m.inner_steps, m.feature_count // m.set_size) == (8.0, 10, 512)
    assert (t.batch_size, t.lr, t.loss, t.target, t.late_epoch) == (32, 3e-4, "bce", "foreground", -1)
    small = get_preset("clevr-small").validate()
    assert small.model.image_size == 128 and small.model.agg == "relation" and small.train.target == "foreground"
    tiny = get_preset("clevr-tiny").validate()
    assert (tiny.model.image_size, tiny.model.agg, tiny.model.set_size, tiny.train.target, tiny.train.loss) == (
        64, "relation", 16, "foreground", "bce")
    data = tmp_path / "c64.h5"
    write_scenes(data, generate_clevr(1, ClevrSpec(size=64, min_objects=3, max_objects=3), seed=0))
    assert default_preset(data, "reconstruct") == "clevr-tiny"


@pytest.fixture(scope="module")
def clevr_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("clevr")
    data = root / "clevr.h5"
    write_scenes(data, generate_clevr(20, ClevrSpec(size=64, min_objects=3, max_objects=4), seed=2))
    cfg = tiny_run("srn", model=dict(agg="relation", inner_steps=2, inner_lr=8.0), loss="bce", target="foreground",
                   epochs=2, batch_size=8, val_fraction=0.2)
    result = train(data, root / "run", cfg, device="cpu")
    return data, root / "run", result


def test_tiny_clevr_model_trains_on_the_foreground(clevr_run):
    data, run, result = clevr_run
    assert result.steps == 4 and math.isfinite(result.train_loss) and math.isfinite(result.best_val)
    model, cfg, _ = load_model(run)
    assert cfg.model.agg == "relation" and cfg.train.target == "foreground"
    from sslr_cli.data.store import open_scenes

    arrays = open_scenes(data).load(["images", "foreground"], limit=4).arrays
    batch = {k: torch.from_numpy(v) for k, v in arrays.items()}
    task = get_task("reconstruct")
    assert task.arrays(cfg) == ("images", "foreground")
    model.train()
    torch.manual_seed(0)
    loss = task.loss(model, batch, cfg, 2)
    _, rec = model(to_float_images(batch["images"]), 2)
    torch.testing.assert_close(loss, reconstruction_loss(rec.image, to_float_images(batch["foreground"]), "bce"))


def test_bce_loss_switches_autocast_off(monkeypatch):
    # CUDA's autocast raises on binary_cross_entropy ("unsafe to autocast"), so the loss must call it
    # with autocast off; checked on CPU by watching the autocast state inside the call.
    torch.manual_seed(0)
    image, target = torch.rand(2, 3, 8, 8), (torch.rand(2, 3, 8, 8) > 0.5).float()
    plain = reconstruction_loss(image, target, "bce")
    real, seen = torch.nn.functional.binary_cross_entropy, []

    def spy(*args, **kwargs):
        seen.append(torch.is_autocast_enabled("cpu"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "binary_cross_entropy", spy)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = reconstruction_loss(image, target, "bce")
    assert seen == [False]
    assert inside.dtype == torch.float32
    torch.testing.assert_close(inside, plain)


def test_iou_cli_json_and_table(clevr_run):
    data, run, _ = clevr_run
    r = runner.invoke(app, ["iou", str(run), str(run / "last.pt"), "--data", str(data), "--limit", "5",
                            "--batch-size", "3", "--device", "cpu", "--json"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output)
    assert payload["images"] == 5 and len(payload["checkpoints"]) == 2
    assert (payload["per_object_mode"], payload["overall_mode"], payload["boxes"]) == ("authors", "channels", "amodal")
    for c in payload["checkpoints"]:
        for key in ("overall_iou_channels", "overall_iou_pixels", "per_object_iou_authors", "per_object_iou_elements"):
            assert 0.0 <= c[key] <= 1.0
        assert c["per_object_iou"] == c["per_object_iou_authors"] and c["overall_iou"] == c["overall_iou_channels"]
        assert c["images_ari"] == 5
    assert payload["paper"]["SSLR-SRN"]["overall_iou"] == 0.9345
    r = runner.invoke(app, ["iou", str(run), "--data", str(data), "--limit", "2", "--per-object-mode", "elements",
                            "--overall-mode", "pixels", "--boxes", "visible", "--json"])
    assert r.exit_code == 0, r.output
    c = json.loads(r.output)["checkpoints"][0]
    assert c["per_object_iou"] == c["per_object_iou_elements"] and c["overall_iou"] == c["overall_iou_pixels"]
    r = runner.invoke(app, ["iou", str(run), "--data", str(data), "--limit", "2", "-q"])
    assert r.exit_code == 0, r.output
    assert "overall IoU (authors' code" in r.output and "0.9193" in r.output and "each GT slot" in r.output


def test_iou_cli_errors_exit_2(clevr_run, tmp_path):
    data, run, _ = clevr_run
    circles = tmp_path / "circles.h5"
    write_scenes(circles, generate_circles(4, CircleSpec(max_count=2), seed=0))
    big = tmp_path / "big.h5"
    write_scenes(big, generate_clevr(1, ClevrSpec(size=32, min_objects=3, max_objects=3), seed=0))
    cases = [
        (["iou", str(run), "--data", str(tmp_path / "none.h5")], "no such file"),
        (["iou", str(run), "--data", str(circles)], "is a 'circles' dataset"),
        (["iou", str(run), "--data", str(big)], "the model works on 64px images"),
        (["iou", str(run), "--data", str(data), "--per-object-mode", "paper"], "--per-object-mode 'paper'"),
        (["iou", str(run), "--data", str(data), "--overall-mode", "any"], "--overall-mode 'any'"),
        (["iou", str(run), "--data", str(data), "--boxes", "tight"], "--boxes 'tight'"),
        (["iou", str(tmp_path / "nothing.pt"), "--data", str(data)], "no such checkpoint"),
        (["iou", str(run), "--data", str(data), "--limit", "0"], "--limit 0"),
    ]
    for args, fragment in cases:
        one_line_error(runner.invoke(app, args), fragment)


def test_iou_arrays_pick_the_box_kind(tmp_path):
    path = tmp_path / "c.h5"
    scenes = generate_clevr(3, ClevrSpec(size=32, min_objects=3, max_objects=4), seed=0)
    write_scenes(path, scenes)
    f = open_scenes(path, "clevr")
    amodal = iou_arrays(f)
    visible = iou_arrays(f, "visible", limit=2)
    np.testing.assert_array_equal(amodal["boxes"], scenes["boxes"])
    np.testing.assert_array_equal(visible["boxes"], scenes["boxes_visible"][:2])
    assert amodal["has_boxes"].tolist() == [1, 1, 1] and len(visible["images"]) == 2
    # a file from before amodal boxes: ``boxes`` held the visible ones; amodal scoring refuses it
    old = tmp_path / "old.h5"
    arrays = {k: v for k, v in scenes.arrays.items() if k != "boxes_visible"}
    write_scenes(old, type(scenes)("clevr", arrays, scenes.fields, params={}, seed=0))
    with pytest.raises(SSLRError, match="visible pixels only"):
        iou_arrays(open_scenes(old, "clevr"))
    np.testing.assert_array_equal(iou_arrays(open_scenes(old, "clevr"), "visible")["boxes"], scenes["boxes"])


def test_iou_cli_json_is_measure_iou_of_each_checkpoint(clevr_run):
    from sslr_cli.experiments.checkpoints import load_models
    from sslr_cli.experiments.inputs import load_clevr_eval
    from sslr_cli.experiments.iou import measure_iou

    data, run, _ = clevr_run
    r = runner.invoke(app, ["iou", str(run), str(run / "last.pt"), "--data", str(data), "--limit", "6",
                            "--batch-size", "4", "--device", "cpu", "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)["checkpoints"]
    models = load_models([run, run / "last.pt"], "cpu")
    arrays = load_clevr_eval(data, models, 6)
    for m, c in zip(models, got):
        want = measure_iou(m.model, arrays, 4, "cpu").to_dict()
        assert want["images"] == 6
        for key, value in want.items():
            if isinstance(value, float) and math.isnan(value):
                assert c[key] is None, key
            else:
                assert c[key] == pytest.approx(value, rel=1e-9), key


def test_iou_figure_is_fig7_and_the_json_names_the_source(clevr_run, tmp_path):
    data, run, _ = clevr_run
    fig = tmp_path / "fig7.png"
    r = runner.invoke(app, ["iou", str(run), "--data", str(data), "--limit", "4", "--figure", str(fig), "--json"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output)
    assert payload["figure"] == str(fig) and payload["source"] == "rendered"
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = runner.invoke(app, ["iou", str(run), "--data", str(data), "--limit", "4", "--figure", str(fig)])
    assert again.exit_code == 2 and "already exists (use --force to overwrite)" in again.output
    without = runner.invoke(app, ["iou", str(run), "--data", str(data), "--limit", "2", "--json"])
    assert json.loads(without.output)["figure"] is None  # no figure unless asked for
