"""Properties of the generated circles, measured from the pixels and checked against the attributes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import disc

from sslr_cli.data.circles import CircleSpec, generate_circles, generate_isocircles
from sslr_cli.errors import SSLRError


@pytest.fixture(scope="module")
def scenes():
    return generate_circles(300, CircleSpec(), seed=11)


def test_counts_radii_and_containment(scenes):
    counts, objects = scenes["counts"], scenes["objects"]
    # uniform over 0..10: 300 images show every count (each is missed with probability (10/11)^300 < 1e-12)
    assert set(np.unique(counts).tolist()) == set(range(11))
    radii = objects[..., 2][~np.isnan(objects[..., 2])]
    assert set(np.unique(radii).tolist()) == set(range(1, 12))  # both ends of 1..11 drawn, nothing else
    for i in range(len(scenes)):
        k = counts[i]
        assert np.isnan(objects[i, k:]).all()
        for x, y, r, c in objects[i, :k]:
            assert 1 <= r <= 11 and r == int(r)
            assert r <= x <= 63 - r and r <= y <= 63 - r  # disc fully inside the image
            assert c in (0, 1)


def test_pixels_are_pure_red_green_or_yellow(scenes):
    pixels = scenes["images"].reshape(-1, 3)
    allowed = {(0, 0, 0), (255, 0, 0), (0, 255, 0), (255, 255, 0)}
    assert set(map(tuple, np.unique(pixels, axis=0))) <= allowed


def test_image_equals_union_of_attribute_discs(scenes):
    for i in range(0, len(scenes), 7):
        expect = np.zeros((64, 64, 3), np.uint8)
        for x, y, r, c in scenes["objects"][i, : scenes["counts"][i]]:
            expect[disc(x, y, r), int(c)] = 255
        np.testing.assert_array_equal(scenes["images"][i], expect)


def test_no_same_colour_overlap_with_one_pixel_margin(scenes):
    for i in range(len(scenes)):
        circles = scenes["objects"][i, : scenes["counts"][i]]
        for a in range(len(circles)):
            for b in range(a + 1, len(circles)):
                xa, ya, ra, ca = circles[a]
                xb, yb, rb, cb = circles[b]
                if ca != cb:
                    continue
                # the later circle drawn with radius r+1 must not touch the earlier one
                assert not (disc(xb, yb, rb + 1) & disc(xa, ya, ra)).any()


def test_masks_match_objects(scenes):
    for i in range(0, len(scenes), 5):
        mask = scenes["masks"][i]
        k = scenes["counts"][i]
        assert mask.max() <= k
        for j, (x, y, r, c) in enumerate(scenes["objects"][i, :k]):
            d = disc(x, y, r)
            # every pixel labelled j+1 lies in disc j; disc j's pixels are labelled j+1 unless a later circle covers them
            assert d[mask == j + 1].all()
            later = np.zeros_like(d)
            for x2, y2, r2, _ in scenes["objects"][i, j + 1 : k]:
                later |= disc(x2, y2, r2)
            assert (mask[d & ~later] == j + 1).all()


def test_same_seed_same_bytes_other_seed_differs():
    a = generate_circles(50, seed=3)
    b = generate_circles(50, seed=3)
    c = generate_circles(50, seed=4)
    for name in a.arrays:
        assert a[name].tobytes() == b[name].tobytes()
    assert a["images"].tobytes() != c["images"].tobytes()


def test_exact_count():
    s = generate_circles(40, CircleSpec(min_count=5, max_count=5), seed=0)
    assert (s["counts"] == 5).all()
    assert (~np.isnan(s["objects"][..., 0])).sum(1).tolist() == [5] * 40


def test_impossible_count_is_a_clear_error_not_a_hang():
    with pytest.raises(SSLRError, match="cannot place|could not place"):
        generate_circles(1, CircleSpec(min_count=2000, max_count=2000), seed=0)
    with pytest.raises(SSLRError, match="could not place"):
        generate_circles(1, CircleSpec(min_count=20, max_count=20, min_radius=11, max_radius=11), seed=0)


def test_bad_radius_range():
    with pytest.raises(SSLRError, match="--max-radius"):
        CircleSpec(max_radius=40).validate()
    with pytest.raises(SSLRError, match="--min-radius"):
        CircleSpec(min_radius=0).validate()


def test_isocircles_need_a_circle_per_image():
    with pytest.raises(SSLRError, match="--count 0: need at least one circle per image"):
        generate_isocircles(2, count=0)


def test_isocircles_pairs_share_circles_and_target_is_recomputed():
    s = generate_isocircles(60, count=2, seed=9)
    a, b = s["objects"], s["objects_b"]
    assert (s["counts"] == 2).all()
    np.testing.assert_array_equal(a[..., 2:], b[..., 2:])  # same radius and colour, object by object
    assert (s["correspondence"] == np.arange(2)).all()
    d2 = ((a[..., :2] - b[..., :2]) ** 2).sum(-1)
    np.testing.assert_allclose(s["targets"], d2)
    np.testing.assert_allclose(s["target"], d2.sum(1) / 4096.0, rtol=1e-6)
    assert (a[..., :2] != b[..., :2]).any()
    for i in range(60):  # image b really shows its circles
        expect = np.zeros((64, 64, 3), np.uint8)
        for x, y, r, c in b[i]:
            expect[disc(x, y, r), int(c)] = 255
        np.testing.assert_array_equal(s["images_b"][i], expect)
