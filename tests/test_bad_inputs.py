"""Inputs a new user tries that must end in one `Error:` line with exit code 2, and gen-data's bounded memory."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from conftest import one_line_error, run, tiny_run
from sslr_cli.data.circles import CircleSpec, circles_chunks, generate_circles, generate_isocircles, isocircles_chunks
from sslr_cli.data.scenes import SceneArrays, concat_scenes
from sslr_cli.data.store import open_scenes, write_scene_blocks, write_scenes
from sslr_cli.engine.checkpoint import save_checkpoint
from sslr_cli.errors import SSLRError
from sslr_cli.models import SetAutoencoder

UNMAKEABLE = "/proc/sslr-test/out"  # /proc is a virtual file system: no folder can be made in it (even as root)


@pytest.fixture
def checkpoint(tmp_path):
    cfg = tiny_run("mlp")
    path = tmp_path / "mlp.pt"
    save_checkpoint(path, {"config": cfg.to_dict(), "model": SetAutoencoder(cfg.model).state_dict()})
    return path


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_output_folder_that_cannot_be_made(tmp_path, circles_file, checkpoint):
    one_line_error(run("gen-data", "circles", f"{UNMAKEABLE}/c.h5", "--n", 2), "cannot create the folder /proc/sslr-test")
    one_line_error(run("gen-data", "circles", "/proc/c.h5", "--n", 2), "/proc/c.h5", "cannot write in /proc")
    one_line_error(run("train", circles_file, "--out", UNMAKEABLE, "--preset", "tiny", "--max-steps", 1, "-q"),
                   f"--out {UNMAKEABLE}", "cannot create the folder")
    one_line_error(run("tsne", checkpoint, "--embeddings", f"{UNMAKEABLE}/e.h5", "--no-figure", "--grid", 2, "-q"),
                   "--embeddings", "cannot create the folder")
    one_line_error(run("reconstruct", checkpoint, "--data", circles_file, "--out-dir", UNMAKEABLE, "-q"),
                   f"--out-dir {UNMAKEABLE}", "cannot create the folder")


def _set_counts(path, index, value):
    with h5py.File(path, "a") as f:
        f["counts"][index] = value


@pytest.mark.parametrize("value, shown", [(-1, "= -1"), (4, "= 4")])  # the objects hold K_max = 3 rows
def test_counts_out_of_range_are_refused_on_open(tmp_path, circles_file, checkpoint, value, shown):
    _set_counts(circles_file, 7, value)
    with pytest.raises(SSLRError, match=r"counts\[7\] " + shown + r" is out of range \(0..3"):
        open_scenes(circles_file)
    one_line_error(run("train", circles_file, "--out", tmp_path / "run", "--preset", "tiny", "--max-steps", 1, "-q"),
                   str(circles_file), "counts[7]")
    one_line_error(run("reconstruct", checkpoint, "--data", circles_file, "--samples", 0, "-q"), "counts[7]")
    assert not (tmp_path / "run").exists()


def test_mask_ids_beyond_the_count_are_refused_on_load(tmp_path):
    path = write_scenes(tmp_path / "c.h5", generate_circles(6, CircleSpec(min_count=1, max_count=2), seed=1))
    with h5py.File(path, "a") as f:
        count = int(f["counts"][2])
        mask = f["masks"][2]
        mask[0, 0] = count + 1
        f["masks"][2] = mask
    scene_file = open_scenes(path)  # opening reads counts only: masks are checked when loaded
    scene_file.load(["images"])
    with pytest.raises(SSLRError, match=rf"masks\[2\] holds instance id {count + 1}, but the image has {count}"):
        scene_file.load(["masks"])


def test_impossible_size_is_refused_up_front(tmp_path):
    result = run("gen-data", "circles", tmp_path / "huge.h5", "--n", 10**12)
    one_line_error(result, "--n 1000000000000", "TB", "free")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["circles", "isocircles"])
def test_same_seed_same_bytes_whatever_the_chunking(tmp_path, kind):
    n = 1100  # more than one write slab (1024)
    whole = {"circles": lambda: generate_circles(n, CircleSpec(max_count=4), 9),
             "isocircles": lambda: generate_isocircles(n, 2, None, 9)}[kind]()
    digests = {hashlib.sha256(write_scenes(tmp_path / "whole.h5", whole).read_bytes()).hexdigest()}
    for chunk in (1, 37):  # the same scenes arriving in blocks of other sizes
        blocks = (SceneArrays(whole.kind, {k: v[i:i + chunk] for k, v in whole.arrays.items()}, whole.fields,
                              whole.params, whole.seed) for i in range(0, n, chunk))
        path = write_scene_blocks(tmp_path / f"{chunk}.h5", n, blocks)
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    if kind == "circles":  # and generated in blocks, as gen-data does
        path = write_scene_blocks(tmp_path / "gen.h5", n, circles_chunks(n, CircleSpec(max_count=4), 9, chunk=500))
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(digests) == 1


def test_chunked_circles_are_the_arrays_generate_circles_always_made():
    """The chunked generator keeps the random stream of the one-array generator (digests of its output)."""
    def digest(scenes):
        h = hashlib.sha256()
        for k in sorted(scenes.arrays):
            h.update(k.encode() + np.ascontiguousarray(scenes.arrays[k]).tobytes())
        return h.hexdigest()[:16]

    assert digest(concat_scenes(list(circles_chunks(300, CircleSpec(), 4, chunk=7)))) == "2b3fc45fc223477d"
    assert digest(generate_circles(50, CircleSpec(min_count=2, max_count=2), seed=1)) == "709943b4b43dbedc"
    assert digest(concat_scenes(list(isocircles_chunks(40, 2, None, 3, chunk=3)))) == "372569434bf11d14"


def test_gen_data_killed_leaves_nothing_under_the_final_name(tmp_path):
    out = tmp_path / "c.h5"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, "-m", "sslr_cli", "gen-data", "circles", str(out), "--n", "200000", "-q"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".c.h5.") for p in tmp_path.iterdir()):  # writing has begun
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert not out.exists()


def test_tsne_embeddings_stopped_mid_write_leave_nothing(tmp_path, checkpoint, monkeypatch):
    """A stop while the embeddings file is being written (here: Ctrl-C after its first dataset) leaves neither
    a partial file under the final name nor the temporary."""
    real = h5py.Group.create_dataset

    def interrupted(self, name, *args, **kwargs):
        if name != "sets":
            raise KeyboardInterrupt
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", interrupted)
    emb = tmp_path / "emb.h5"
    result = run("tsne", checkpoint, "--grid", 4, "--no-figure", "--embeddings", emb, "-q")
    assert result.exit_code == 130, result.output  # click reports a KeyboardInterrupt as 130
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith((".emb", "emb"))] == []
