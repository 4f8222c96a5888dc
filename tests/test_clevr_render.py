"""The CLEVR-style renderer, its intersections and scene rules, the CLEVR importer and `gen-data clevr`."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from conftest import one_line_error, runner

from sslr_cli.cli import app
from sslr_cli.data.clevr import (
    CAMERA, CLEVR_FIELDS, COLORS, SIZES, ClevrSpec, SceneObject, generate_clevr, intersect_box,
    intersect_cylinder, intersect_ground, intersect_object, intersect_sphere, render_scene, sample_scene,
)
from sslr_cli.data.clevr_import import heuristic_box, import_clevr, instance_ids
from sslr_cli.data.store import open_scenes
from sslr_cli.errors import SSLRError

@pytest.fixture(scope="module")
def scenes():
    return generate_clevr(6, ClevrSpec(size=64, min_objects=3, max_objects=6), seed=3)


# ---------------------------------------------------------------- intersections (known distances)


def test_ray_sphere_distance():
    d = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    t = intersect_sphere(np.zeros(3), d, np.array([5.0, 0.0, 0.0]), 1.0)
    assert t[0] == pytest.approx(4.0) and np.isinf(t[1])


def test_ray_box_rotated_45_degrees_is_hit_at_its_edge():
    # A cube of half-side 1 at x = 5, turned 45 degrees: its vertical edge points at the ray.
    d = np.array([[1.0, 0.0, 0.0]])
    assert intersect_box(np.zeros(3), d, np.array([5.0, 0.0, 0.0]), 1.0, 0.0)[0] == pytest.approx(4.0)
    assert intersect_box(np.zeros(3), d, np.array([5.0, 0.0, 0.0]), 1.0, math.pi / 4)[0] == pytest.approx(5 - math.sqrt(2))
    assert np.isinf(intersect_box(np.zeros(3), d, np.array([5.0, 3.0, 0.0]), 1.0, 0.0)[0])


def test_ray_cylinder_cap_side_and_miss():
    center = np.array([0.0, 0.0, 1.0])  # radius 1, z from 0 to 2
    down = np.array([[0.0, 0.0, -1.0]])
    assert intersect_cylinder(np.array([0.3, 0.2, 10.0]), down, center, 1.0, 1.0)[0] == pytest.approx(8.0)  # top cap
    side = np.array([[1.0, 0.0, 0.0]])
    assert intersect_cylinder(np.array([-5.0, 0.0, 1.5]), side, center, 1.0, 1.0)[0] == pytest.approx(4.0)
    assert np.isinf(intersect_cylinder(np.array([-5.0, 0.0, 2.5]), side, center, 1.0, 1.0)[0])  # above the cap


def test_ground_and_prefiltered_object_agree_with_exact_tests():
    d = CAMERA.rays(16)
    o = np.asarray(CAMERA.position)
    assert np.isfinite(intersect_ground(o, d)).all()  # the camera looks down at the whole frame
    obj = SceneObject(shape=0, color=0, material=0, size=1, x=0.5, y=-0.5, rotation=30.0)
    exact = intersect_box(o, d, obj.center, obj.r / math.sqrt(2), math.radians(30.0))
    assert np.isfinite(exact).any() and np.isinf(exact).any()  # some rays hit, some miss: two all-inf arrays are equal
    np.testing.assert_allclose(intersect_object(obj, o, d), exact)


# ---------------------------------------------------------------- rendered scenes


def test_counts_objects_and_shapes(scenes):
    a = scenes.arrays
    assert a["images"].shape == (6, 64, 64, 3) and a["foreground"].shape == (6, 64, 64, 3)
    assert a["objects"].shape == (6, 6, len(CLEVR_FIELDS)) and a["boxes"].shape == a["boxes_visible"].shape == (6, 6, 4)
    assert ((a["counts"] >= 3) & (a["counts"] <= 6)).all()
    for i, k in enumerate(a["counts"]):
        assert not np.isnan(a["objects"][i, :k]).any() and np.isnan(a["objects"][i, k:]).all()
        assert np.isnan(a["boxes"][i, k:]).all() and np.isnan(a["boxes_visible"][i, k:]).all()
        assert a["masks"][i].max() <= k
        rows = a["objects"][i, :k]
        radius = np.array([SIZES["small"], SIZES["large"]])[rows[:, 3].astype(int)]
        # every object rests on the ground: centre height r, a cube's its half-side r / sqrt(2)
        height = np.where(rows[:, 0] == 0, radius / math.sqrt(2), radius)
        np.testing.assert_allclose(rows[:, 6], height, rtol=1e-6)
        assert (np.abs(rows[:, 4:6]) <= 3).all()


def test_masks_match_boxes_and_foreground(scenes):
    a = scenes.arrays
    for i, k in enumerate(a["counts"]):
        for j in range(k):
            ys, xs = np.nonzero(a["masks"][i] == j + 1)
            assert len(xs) >= ClevrSpec(size=64).min_visible  # every object is visible
            np.testing.assert_array_equal(a["boxes_visible"][i, j], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            amodal, visible = a["boxes"][i, j], a["boxes_visible"][i, j]  # the whole object holds its visible part
            assert (amodal[:2] <= visible[:2]).all() and (amodal[2:] >= visible[2:]).all()
        fg = a["masks"][i] > 0
        np.testing.assert_array_equal(a["foreground"][i][fg], a["images"][i][fg])
        assert (a["foreground"][i][~fg] == 0).all() and (a["foreground"][i][fg].max(-1) > 0).all()


def test_object_pixels_show_their_colour():
    # A matte red sphere: its brightest pixel is red-dominated with CLEVR's hue.
    obj = SceneObject(shape=1, color=1, material=0, size=1, x=0.0, y=0.0, rotation=0.0)
    out = render_scene([obj], 64)
    px = out.image[out.mask == 1].astype(float)
    r, g, b = px[px.sum(1).argmax()]
    assert r > 2 * g and r > 2 * b
    red = np.array(COLORS["red"], float)
    assert np.allclose(px.mean(0) / px.mean(0)[0], red / red[0], atol=0.08)


def test_nearer_object_wins_whatever_the_list_order():
    # Two large spheres on the line from the camera through the origin: B is 2 units nearer.
    toward = np.array(CAMERA.position[:2]) / np.linalg.norm(CAMERA.position[:2])
    a = SceneObject(shape=1, color=2, material=0, size=1, x=0.0, y=0.0, rotation=0.0)
    b = SceneObject(shape=1, color=1, material=0, size=1, x=float(2 * toward[0]), y=float(2 * toward[1]), rotation=0.0)
    alone_a = render_scene([a], 64).mask == 1
    alone_b = render_scene([b], 64).mask == 1
    overlap = alone_a & alone_b
    assert overlap.sum() > 20
    for order, id_b in (([a, b], 2), ([b, a], 1)):
        mask = render_scene(order, 64).mask
        assert (mask[overlap] == id_b).all()
        assert ((mask == id_b) == alone_b).all()  # the nearer object is never covered


def test_amodal_boxes_cover_occluded_and_hidden_objects():
    # A small sphere at the origin behind a large cube on the line to the camera: 1 unit in front it
    # hides the sphere entirely, 2 units in front partly. The amodal box is the sphere's box when
    # rendered alone, either way; the visible box shrinks, and is NaN when nothing shows.
    toward = np.array(CAMERA.position[:2]) / np.linalg.norm(CAMERA.position[:2])
    sphere = SceneObject(shape=1, color=2, material=0, size=0, x=0.0, y=0.0, rotation=0.0)
    alone = render_scene([sphere], 64)
    np.testing.assert_array_equal(alone.boxes, alone.boxes_visible)  # nothing in front: the same box
    for distance, hidden in ((1.0, True), (2.0, False)):
        cube = SceneObject(shape=0, color=1, material=0, size=1, x=float(distance * toward[0]),
                           y=float(distance * toward[1]), rotation=45.0)
        out = render_scene([sphere, cube], 64)
        np.testing.assert_array_equal(out.boxes[0], alone.boxes[0])
        np.testing.assert_array_equal(out.boxes[1], render_scene([cube], 64).boxes[0])
        assert ((out.mask == 1).sum() == 0) == hidden
        if hidden:
            assert np.isnan(out.boxes_visible[0]).all()
        else:
            assert out.boxes_visible[0][3] < out.boxes[0][3]  # the cube covers the sphere's lower part


def test_a_cube_rests_on_the_ground():
    cube = SceneObject(shape=0, color=0, material=0, size=1, x=0.0, y=0.0, rotation=0.0)
    half = SIZES["large"] / math.sqrt(2)
    assert cube.center[2] == pytest.approx(half)  # its bottom face at z = 0, as CLEVR places it
    down = np.array([[0.0, 0.0, -1.0]])
    assert intersect_object(cube, np.array([0.0, 0.0, 5.0]), down)[0] == pytest.approx(5.0 - 2 * half)


def test_shadows_darken_the_ground():
    obj = SceneObject(shape=0, color=0, material=0, size=1, x=0.0, y=0.0, rotation=0.0)
    empty = render_scene([], 64).image
    out = render_scene([obj], 64)
    ground = out.mask == 0
    darker = (out.image.astype(int).sum(-1) < empty.astype(int).sum(-1)) & ground
    assert darker.sum() > 10  # the cube casts a shadow on pixels where the ground is still visible


def test_same_seed_same_scenes_other_seed_other_scenes():
    spec = ClevrSpec(size=32, min_objects=3, max_objects=4)
    first, again, other = (generate_clevr(3, spec, seed=s) for s in (7, 7, 8))
    for name in first.arrays:
        np.testing.assert_array_equal(first[name], again[name])
    assert not np.array_equal(first["images"], other["images"])


def test_impossible_placements_raise_clear_errors():
    with pytest.raises(SSLRError, match="--max-objects 200"):
        ClevrSpec(max_objects=200).validate()
    with pytest.raises(SSLRError, match="lower --max-objects"):
        sample_scene(np.random.default_rng(0), ClevrSpec(min_gap=8.0), 3)
    with pytest.raises(SSLRError, match="--min-objects/--max-objects"):
        ClevrSpec(min_objects=5, max_objects=4).validate()


# ---------------------------------------------------------------- importer


def _png(path, rgb, alpha=False):
    bgr = rgb[..., ::-1]
    if alpha:
        bgr = np.concatenate([bgr, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    cv2.imwrite(str(path), bgr)


def _obj(shape, u, v, xyz=(0.0, 0.0, 0.7)):
    return {"shape": shape, "color": "red", "material": "metal", "size": "large", "3d_coords": list(xyz),
            "rotation": 12.0, "pixel_coords": [u, v, 10.0]}


@pytest.fixture
def clevr_folder(tmp_path):
    """A CLEVR_v1.0-layout folder: 3 images of 48x32, a mask for the first, a foreground for the third."""
    root = tmp_path / "CLEVR_v1.0"
    (root / "images" / "val").mkdir(parents=True)
    (root / "scenes").mkdir()
    rng = np.random.default_rng(0)
    scenes = []
    for i in range(3):
        name = f"CLEVR_val_{i:06d}.png"
        _png(root / "images" / "val" / name, rng.integers(0, 256, (32, 48, 3), dtype=np.uint8), alpha=True)
        # object order in the scene file: the right-hand object first
        objs = [_obj("cube", 33.0, 10.0), _obj("sphere", 9.0, 14.0, (1.0, 2.0, 0.35))]
        scenes.append({"image_index": i, "image_filename": name, "objects": objs,
                       "directions": {"right": [1.0, 0.0, 0.0]}})
    mask = np.zeros((32, 48, 3), np.uint8)
    mask[8:16, 6:18] = (200, 10, 10)  # left object: pixels x 6..17, y 8..15
    mask[4:20, 30:42] = (10, 200, 90)  # right object
    _png(root / "images" / "val" / "CLEVR_val_000000_mask.png", mask)
    fg = np.zeros((32, 48, 3), np.uint8)
    fg[10:20, 12:24] = 255
    _png(root / "images" / "val" / "CLEVR_val_000002_foreground.png", fg)
    (root / "scenes" / "CLEVR_val_scenes.json").write_text(json.dumps({"info": {}, "scenes": scenes[::-1]}))
    return root


def test_heuristic_box_known_values():
    # Y' = 0, Z = 0.7: h = 6.9 * 0.7 * 15 / 2 = 36.225; a cube scales all four by 1.3.
    sphere = heuristic_box(_obj("sphere", 100.0, 50.0), (1.0, 0.0))
    np.testing.assert_allclose(sphere, [100 - 36.225, 50 - 36.225, 100 + 36.225, 50 + 36.225])
    cube = heuristic_box(_obj("cube", 100.0, 50.0), (1.0, 0.0))
    np.testing.assert_allclose(cube, [100 - 47.0925, 50 - 47.0925, 100 + 47.0925, 50 + 47.0925])


def test_instance_ids_follow_the_scene_order():
    mask = np.zeros((10, 10, 3), np.uint8)
    mask[0:3, 0:3] = (1, 2, 3)
    mask[6:9, 6:9] = (9, 9, 9)
    ids = instance_ids(mask, np.array([[7.0, 7.0], [1.0, 1.0]]))
    assert (ids[6:9, 6:9] == 1).all() and (ids[0:3, 0:3] == 2).all() and ids.sum() == 9 * 1 + 9 * 2


def _heuristic_boxes(size):
    objs = (_obj("cube", 33.0, 10.0), _obj("sphere", 9.0, 14.0, (1.0, 2.0, 0.35)))
    expected = np.array([heuristic_box(o, (1.0, 0.0)) for o in objs])
    return np.clip(expected * [size / 48, size / 32, size / 48, size / 32], 0, size)


def test_import_tiny_clevr_folder(clevr_folder):
    s = import_clevr(clevr_folder, "val", size=16, allow_no_foreground=True)
    a = s.arrays
    assert len(s) == 3 and a["images"].shape == (3, 16, 16, 3)
    np.testing.assert_array_equal(a["counts"], [2, 2, 2])
    np.testing.assert_array_equal(a["has_mask"], [1, 0, 0])
    np.testing.assert_array_equal(a["has_foreground"], [1, 0, 1])
    assert s.params["foreground"] == {"render": 1, "mask": 1, "none": 1}
    # boxes: the scene file's (amodal, the authors' heuristic) for every image, scaled and clipped
    for i in range(3):
        np.testing.assert_allclose(a["boxes"][i], _heuristic_boxes(16), rtol=1e-5)
    # visible boxes where the mask exists: 48x32 -> 16x16 scales x by 1/3 and y by 1/2; object 1
    # (scene order) is the right one
    np.testing.assert_array_equal(a["boxes_visible"][0], [[10, 2, 14, 10], [2, 4, 6, 8]])
    assert np.isnan(a["boxes_visible"][1:]).all()
    assert (a["masks"][0][2:10, 10:14] == 1).all() and (a["masks"][0][4:8, 2:6] == 2).all()
    assert ((a["masks"][0] > 0).sum()) == 4 * 8 + 4 * 4
    assert a["masks"][1].max() == 0
    assert a["foreground"][1].max() == 0  # no target: black, never the whole image
    assert a["foreground"][2].max() == 255 and a["foreground"][2][0, 0].max() == 0
    assert (a["foreground"][0][a["masks"][0] == 0] == 0).all() and a["foreground"][0].max() > 0
    np.testing.assert_allclose(a["objects"][0, 0, CLEVR_FIELDS.index("px")], 33.0 / 3)
    assert a["objects"][0, 1, CLEVR_FIELDS.index("shape")] == 1  # sphere
    assert len(import_clevr(clevr_folder, "val", size=16, limit=1)) == 1  # image 0 has a mask: a target


def test_import_requires_a_training_target(clevr_folder, tmp_path):
    # image 1 has neither a _foreground.png nor a _mask.png: one line names both
    with pytest.raises(SSLRError, match=r"CLEVR_val_000001.png has no CLEVR_val_000001_foreground.png and no "
                                        r"CLEVR_val_000001_mask.png, so it has no training target"):
        import_clevr(clevr_folder, "val", size=16)
    (clevr_folder / "images" / "val" / "CLEVR_val_000002_foreground.png").unlink()
    with pytest.raises(SSLRError, match=r"\(and 1 more of 3 images\)"):
        import_clevr(clevr_folder, "val", size=16)
    # a file imported without targets cannot train: sslr train stops with one line
    from sslr_cli.config import get_preset
    from sslr_cli.data.store import write_scenes
    from sslr_cli.engine.tasks import get_task
    from sslr_cli.engine.train import load_training_data

    path = tmp_path / "no-target.h5"
    write_scenes(path, import_clevr(clevr_folder, "val", size=64, allow_no_foreground=True))

    with pytest.raises(SSLRError, match="2 of 3 images have no foreground"):
        load_training_data(get_task("reconstruct"), get_preset("clevr-tiny"), path, None)


def test_import_errors(clevr_folder, tmp_path):
    with pytest.raises(SSLRError, match="no scene file"):
        import_clevr(clevr_folder, "train")
    with pytest.raises(SSLRError, match="not a folder"):
        import_clevr(tmp_path / "missing")
    (clevr_folder / "images" / "val" / "CLEVR_val_000001.png").unlink()
    with pytest.raises(SSLRError, match="CLEVR_val_000001.png: image named in"):
        import_clevr(clevr_folder, "val")


# ---------------------------------------------------------------- CLI


def test_cli_renders_and_imports(tmp_path, clevr_folder):
    out = tmp_path / "c.h5"
    r = runner.invoke(app, ["gen-data", "clevr", str(out), "--n", "3", "--size", "32", "--min-objects", "3",
                            "--max-objects", "4", "--seed", "1", "--json", "-q"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["images"] == 3 and summary["kind"] == "clevr" and sum(summary["shapes"].values()) == summary["objects_total"]
    f = open_scenes(out, "clevr")
    assert f.n == 3 and f.image_size == 32 and f.fields == CLEVR_FIELDS
    r = runner.invoke(app, ["gen-data", "clevr", str(out), "--n", "3"])
    assert r.exit_code == 2 and "already exists" in r.output
    imported = tmp_path / "i.h5"
    r = runner.invoke(app, ["gen-data", "clevr", str(imported), "--from", str(clevr_folder), "--split", "val",
                            "--limit", "2", "--size", "16", "-q"])
    assert r.exit_code == 2 and "--no-foreground" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["gen-data", "clevr", str(imported), "--from", str(clevr_folder), "--split", "val",
                            "--limit", "2", "--size", "16", "--no-foreground", "-q"])
    assert r.exit_code == 0, r.output
    assert open_scenes(imported, "clevr").n == 2


@pytest.mark.parametrize("args, fragment", [
    (["--from", "DIR", "--n", "5"], "--n: not used with --from"),
    (["--limit", "5"], "--limit: only with --from"),
    (["--no-foreground"], "--no-foreground: only with --from"),
    (["--min-objects", "0"], "--min-objects/--max-objects"),
    (["--from", "DIR", "--split", "dev"], "--split 'dev'"),
])
def test_cli_errors_exit_2(tmp_path, clevr_folder, args, fragment):
    args = [str(clevr_folder) if a == "DIR" else a for a in args]
    one_line_error(runner.invoke(app, ["gen-data", "clevr", str(tmp_path / "x.h5"), *args]), fragment)
