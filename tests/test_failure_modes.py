"""Table 1's failure modes (experiments/failure_modes.py, `sslr reconstruct --by-radius`): the counting by
hand on a model whose element images are set in the test, SRN's refinement by radius, and the CLI."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import run, tiny_run

from sslr_cli.data.circles import CircleSpec, generate_circles
from sslr_cli.data.store import write_scenes
from sslr_cli.engine.train import train
from sslr_cli.errors import SSLRError
from sslr_cli.experiments.failure_modes import failure_modes, failure_modes_by_count, refinement_by_radius
from sslr_cli.models import SetAutoencoder

# image i (marked by its first pixel) -> the peak value of each of its 4 elements (constant element images)
PEAKS = [
    [0.05, 0.0, 0.0, 0.0],  # none above 0.1
    [0.9, 0.0, 0.0, 0.0],  # one: disentangled
    [0.6, 0.5, 0.0, 0.0],  # two: a split circle
    [0.9, 0.05, 0.0, 0.0],  # one (the other is below the threshold)
    [0.8, 0.3, 0.2, 0.0],  # three
    [0.02, 0.02, 0.0, 0.0],  # none, two faint elements
]
RADII = np.array([1, 1, 2, 2, 3, 3])


class Scripted(torch.nn.Module):
    """Returns the element images PEAKS prescribes for the image whose first pixel holds its index."""

    def forward(self, x, inner_steps=None):
        index = (x[:, 0, 0, 0] * 255).round().long()
        peaks = torch.tensor(PEAKS)[index]  # (B, 4)
        images = peaks[:, :, None, None, None].expand(-1, -1, 3, 8, 8)
        return None, SimpleNamespace(element_images=images)


def scripted_images() -> torch.Tensor:
    x = torch.zeros(len(PEAKS), 8, 8, 3, dtype=torch.uint8)
    x[:, 0, 0, 0] = torch.arange(len(PEAKS), dtype=torch.uint8)
    return x


def test_failure_modes_by_hand():
    res = failure_modes(Scripted(), scripted_images(), 1, threshold=0.1, batch_size=4, radius=RADII)
    assert (res.count, res.images) == (1, 6)
    assert (res.rate, res.fewer, res.more) == (33.3, 33.3, 33.3)
    assert res.nonempty_histogram == {0: 33.3, 1: 33.3, 2: 16.7, 3: 16.7}
    # too many: the largest element's share of the drawn intensity (0.6/1.1, 0.8/1.3) and the first extra's peak
    assert res.more_top_k_mass_share_median == round(float(np.median([0.6 / 1.1, 0.8 / 1.3])), 3)
    assert res.more_extra_peak_median == 0.4
    # too few: the brightest element (0.05, 0.02) and the effective number of elements drawing (1, 2)
    assert res.fewer_top_peak_median == 0.035 and res.fewer_effective_elements_median == 1.5
    assert [(r.radius, r.images, r.rate, r.none, r.more) for r in res.by_radius] == [
        (1, 2, 50.0, 50.0, 0.0), (2, 2, 50.0, 0.0, 50.0), (3, 2, 0.0, 50.0, 50.0)]


def test_by_count_splits_the_images_and_uses_the_radius_for_one_circle_only():
    counts = np.array([1, 2, 1, 2, 1, 2])
    rows = failure_modes_by_count(Scripted(), scripted_images(), counts, RADII, threshold=0.1)
    assert [(r.count, r.images) for r in rows] == [(1, 3), (2, 3)]
    one, two = rows
    assert (one.rate, one.fewer, one.more) == (0.0, 33.3, 66.7)  # images 0, 2, 4: none, two, three elements
    assert (two.rate, two.fewer, two.more) == (0.0, 100.0, 0.0)  # images 1, 3, 5: one, one, none
    assert [r.radius for r in one.by_radius] == [1, 2, 3] and two.by_radius == []


def test_refinement_by_radius_on_a_tiny_srn_and_refused_for_mlp():
    torch.manual_seed(0)
    scenes = generate_circles(12, CircleSpec(min_count=1, max_count=1), seed=4)
    images, radius = torch.from_numpy(scenes["images"]), scenes["objects"][:, 0, 2].astype(int)
    srn = SetAutoencoder(tiny_run("srn").model)
    rows = refinement_by_radius(srn, images, radius, batch_size=5)
    assert [r.radius for r in rows] == sorted(set(radius.tolist()))
    assert sum(r.images for r in rows) == 12
    for r in rows:
        assert r.z_from_blank >= 0 and r.initial_inner_loss >= 0 and r.largest_element_move >= 0
        assert all(np.isfinite([r.z_from_blank, r.initial_inner_loss, r.largest_element_move]))
    with pytest.raises(SSLRError, match="not an SSLR-SRN"):
        refinement_by_radius(SetAutoencoder(tiny_run("mlp").model), images, radius)


@pytest.fixture(scope="module")
def srn_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("by-radius")
    train_file = write_scenes(root / "train.h5", generate_circles(32, CircleSpec(max_count=3), seed=1))
    torch.manual_seed(0)
    train(train_file, root / "srn", tiny_run("srn", model=dict(inner_steps=2)), device="cpu")
    k1 = write_scenes(root / "k1.h5", generate_circles(20, CircleSpec(min_count=1, max_count=1), seed=2))
    k2 = write_scenes(root / "k2.h5", generate_circles(10, CircleSpec(min_count=2, max_count=2), seed=3))
    return root / "srn", k1, k2


def test_cli_by_radius_json_agrees_with_table1(srn_run):
    run_dir, k1, k2 = srn_run
    result = run("reconstruct", run_dir, "--data", k1, "--data", k2, "--samples", 0, "--by-radius", "--device", "cpu",
                 "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    (diag,) = payload["failure_modes"]
    (table1,) = payload["checkpoints"]
    assert diag["label"] == table1["label"]
    assert [c["count"] for c in diag["counts"]] == [1, 2] and [c["images"] for c in diag["counts"]] == [20, 10]
    for c in diag["counts"]:  # the same images and threshold as Table 1: the same rate
        assert c["rate"] == pytest.approx(table1["rates"][str(c["count"])], abs=0.05)
        assert c["rate"] + c["fewer"] + c["more"] == pytest.approx(100.0, abs=0.2)
    one = diag["counts"][0]
    assert sum(r["images"] for r in one["by_radius"]) == 20 and diag["counts"][1]["by_radius"] == []
    assert [r["radius"] for r in diag["refinement_by_radius"]] == [r["radius"] for r in one["by_radius"]]


def test_cli_by_radius_tables(srn_run):
    run_dir, k1, _ = srn_run
    result = run("reconstruct", run_dir, "--data", k1, "--samples", 0, "--by-radius", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "why images are not completely disentangled" in result.stdout
    assert "one circle, by radius" in result.stdout and "S0||" in result.stdout  # SRN: the refinement columns
