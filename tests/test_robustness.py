"""Nothing lost, nothing half-written, no traceback: signals, file-system failures, concurrent writers,
symlinked run files, non-finite metrics and a planted kernel cache."""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import one_line_error, run
from sslr_cli.atomic import atomic_path, temp_path
from sslr_cli.errors import SSLRError
from sslr_cli.jsonsafe import strict_record

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def sslr(*args, preexec=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "sslr_cli", *map(str, args)], env=ENV, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=preexec)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ---------------------------------------------------------------- temporary files

def test_temporary_name_is_deterministic_and_fits_a_long_legal_name(tmp_path):
    assert temp_path(tmp_path / "a.h5") == tmp_path / ".a.h5.tmp"
    long = tmp_path / ("x" * 245 + ".h5")  # 248 bytes: legal, but ".<name>.tmp" would pass 255
    tmp = temp_path(long)
    assert len(tmp.name.encode()) <= 255 and tmp.parent == tmp_path and tmp.name.endswith(".tmp")
    result = run("gen-data", "circles", long, "--n", 3, "-q")
    assert result.exit_code == 0, result.output
    assert long.exists() and leftovers(tmp_path) == []


def test_a_killed_writers_temporary_file_is_reused_and_removed(tmp_path):
    out = tmp_path / "c.h5"
    (tmp_path / ".c.h5.tmp").write_bytes(b"half-written by a killed process" * 1000)
    result = run("gen-data", "circles", out, "--n", 4, "-q")
    assert result.exit_code == 0, result.output
    assert leftovers(tmp_path) == []
    from sslr_cli.data.store import open_scenes

    assert open_scenes(out).n == 4


def test_a_second_writer_of_the_same_output_is_refused(tmp_path):
    out = tmp_path / "c.h5"
    held = os.open(tmp_path / ".c.h5.tmp", os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)  # another process is writing c.h5
    try:
        one_line_error(run("gen-data", "circles", out, "--n", 4, "-q"), str(out), "another process is writing it")
        assert not out.exists()
    finally:
        os.close(held)
    assert run("gen-data", "circles", out, "--n", 4, "-q").exit_code == 0  # and once it is done, it works


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "no space left"), (errno.EROFS, "read-only"),
                                         (errno.EFBIG, "file too large"), (errno.EDQUOT, "quota")])
def test_a_failed_write_is_one_error_and_leaves_nothing(tmp_path, code, words):
    target = tmp_path / "x.json"
    with pytest.raises(SSLRError, match=words) as info:
        with atomic_path(target) as tmp:
            tmp.write_text("{}")
            raise OSError(code, os.strerror(code))
    assert str(target) in str(info.value) and "\n" not in str(info.value)
    assert not target.exists() and leftovers(tmp_path) == []


def test_a_file_size_limit_is_one_line_and_leaves_nothing(tmp_path):
    def limit():  # 100 KB: less than 200 circles images need
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))

    done = sslr("gen-data", "circles", tmp_path / "c.h5", "--n", 200, "-q", preexec=limit)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "file-size limit" in lines[0], done.stderr
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- run directories

def _train(out: Path, data: Path, *extra):
    return run("train", data, "--out", out, "--preset", "tiny", "--max-steps", 1, "--batch-size", 8, "-q",
               "--encoder-width", 4, "--decoder-width", 4, *extra)


def test_a_run_directory_in_use_is_refused(tmp_path, circles_file):
    out = tmp_path / "run"
    out.mkdir()
    held = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(held, fcntl.LOCK_EX)  # another `sslr train --out run` is training
    try:
        one_line_error(_train(out, circles_file), str(out), "another process is training")
        assert list(out.iterdir()) == []
    finally:
        os.close(held)
    assert _train(out, circles_file).exit_code == 0


def test_resume_does_not_write_through_symlinked_run_files(tmp_path, circles_file):
    out = tmp_path / "run"
    assert _train(out, circles_file).exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("config.json", "metrics.jsonl"):
        (elsewhere / name).write_text("precious\n")
    # config.json as a link: replaced by the run's own file, the link's target untouched
    (out / "config.json").unlink()
    (out / "config.json").symlink_to(elsewhere / "config.json")
    assert _train(out, circles_file, "--resume", "--max-steps", 2).exit_code == 0
    assert not (out / "config.json").is_symlink() and json.loads((out / "config.json").read_text())["model"]
    # metrics.jsonl as a link: refused, the target untouched
    (out / "metrics.jsonl").unlink()
    (out / "metrics.jsonl").symlink_to(elsewhere / "metrics.jsonl")
    one_line_error(_train(out, circles_file, "--resume", "--max-steps", 3), "metrics.jsonl", "symbolic link")
    assert [(elsewhere / n).read_text() for n in ("config.json", "metrics.jsonl")] == ["precious\n"] * 2


def test_metrics_lines_are_strict_json_with_the_nonfinite_fields_named():
    record = {"kind": "step", "loss": math.nan, "lr": 1e-3, "rates": {"1": math.inf, "2": 50.0}}
    safe = strict_record(record)
    assert safe == {"kind": "step", "loss": None, "lr": 1e-3, "rates": {"1": None, "2": 50.0},
                    "nonfinite": {"loss": "nan", "rates.1": "inf"}}
    json.dumps(safe, allow_nan=False)  # raises on a bare NaN
    assert strict_record({"loss": 1.0}) == {"loss": 1.0}


# ---------------------------------------------------------------- the compiled kernel's cache

def test_the_kernel_cache_rebuilds_a_planted_library_and_refuses_a_shared_folder(tmp_path, monkeypatch):
    from sslr_cli.models import native

    if native._compiler() is None:  # pragma: no cover
        pytest.skip("no C compiler")
    cache = tmp_path / "cache"
    monkeypatch.setenv("SSLR_CACHE_DIR", str(cache))
    native._load.cache_clear()
    try:
        assert native.sort_pool_kernel() is not None, native.sort_pool_status()
        (built,) = cache.glob("*.so")
        planted = tmp_path / "planted.so"  # (a new file renamed over it: the loaded one stays mapped as it was)
        planted.write_bytes(b"\x7fELF planted by someone else")
        os.replace(planted, built)  # its digest no longer matches the record
        native._load.cache_clear()
        assert native.sort_pool_kernel() is not None and native.sort_pool_status().startswith("built")
        assert built.read_bytes()[:4] == b"\x7fELF" and b"planted" not in built.read_bytes()
        cache.chmod(0o777)  # a folder others may write into: nothing is loaded from it
        native._load.cache_clear()
        assert native.sort_pool_kernel() is None and "writable by other users" in native.sort_pool_status()
    finally:
        native._load.cache_clear()


# ---------------------------------------------------------------- sslr reproduce and SIGTERM

def test_manifest_that_is_not_json_is_one_error(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "manifest.json").write_text('{"identity": {"scale": "toy"')  # cut off mid-write by another tool
    one_line_error(run("reproduce", out, "--scale", "toy", "--only", "table1"), "manifest.json", "unreadable", "--force")


# (SIGTERM to `sslr reproduce` while its workers train: tests/test_reproduce.py)


# ---------------------------------------------------------------- crafted checkpoints

@pytest.fixture
def saved_checkpoint(tmp_path):
    import torch

    from conftest import tiny_run
    from sslr_cli.engine.checkpoint import save_checkpoint
    from sslr_cli.models import SetAutoencoder

    cfg = tiny_run()
    model = SetAutoencoder(cfg.model)
    payload = {"config": cfg.to_dict(), "model": model.state_dict(), "epoch": 1, "batch": 0, "step": 5,
               "optimizer": torch.optim.Adam(model.parameters()).state_dict()}
    path = tmp_path / "c.pt"
    save_checkpoint(path, payload)
    return path, payload


def _rewrite(path, payload):
    import torch

    torch.save(payload, path)  # as a crafted file would be: the tags kept, the digest left as it was


def test_flipped_bytes_inside_a_weight_are_caught_by_the_digest(saved_checkpoint):
    from sslr_cli.engine.checkpoint import read_checkpoint

    path, payload = saved_checkpoint
    name, weight = max(payload["model"].items(), key=lambda kv: kv[1].numel())
    raw = bytearray(path.read_bytes())
    at = bytes(raw).find(weight.numpy().tobytes()[:64])
    assert at > 0
    for i in range(at + 8, at + 72):  # 64 bytes inside the largest tensor
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(SSLRError, match="do not match the digest"):
        read_checkpoint(path)


@pytest.mark.parametrize("change, words", [
    (lambda p: p["config"]["model"].__setitem__("encoder_width", "wide"), "model.encoder_width"),
    (lambda p: p["config"]["train"].__setitem__("lr", [1]), "train.lr"),
    (lambda p: p["config"].__setitem__("model", 3), "expected a mapping"),
    (lambda p: p.__setitem__("model", [1, 2]), "'model' is not a mapping"),
    (lambda p: p.__setitem__("optimizer", {}), "not an optimizer state"),
    (lambda p: p.__setitem__("step", -4), "'step' is -4"),
])
def test_crafted_checkpoint_fields_are_one_line_errors(saved_checkpoint, change, words):
    from sslr_cli.engine.checkpoint import DIGEST, FORMAT, VERSION, payload_digest, read_checkpoint

    path, payload = saved_checkpoint
    payload = {"format": FORMAT, "version": VERSION, **payload}
    change(payload)
    payload[DIGEST] = payload_digest(payload)  # a consistent digest: the schema check must catch it
    _rewrite(path, payload)
    with pytest.raises(SSLRError, match=words.replace("[", r"\[")) as info:
        read_checkpoint(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_a_pickle_payload_is_refused_without_torchs_advice(tmp_path, capfd):
    import torch

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "evil.pt"
    torch.save({"format": "sslr-checkpoint", "x": Evil()}, bad)
    result = run("reconstruct", bad, "--data", bad)
    one_line_error(result, "evil.pt", "refused", "weights only")
    assert "weights_only=False" not in result.output and "pwned" not in capfd.readouterr().out


# ---------------------------------------------------------------- crafted HDF5 files

def _circles(tmp_path):
    from sslr_cli.data.circles import generate_circles
    from sslr_cli.data.store import write_scenes

    path = tmp_path / "c.h5"
    write_scenes(path, generate_circles(4, seed=0))
    return path


@pytest.mark.parametrize("where, name, value, words", [
    ("objects", "fields", 7, "attribute 'fields' must be text"),
    ("/", "params", [1, 2], "attribute 'params' must be text"),
    ("/", "params", "[1, 2]", "must be a JSON object"),
    ("/", "schema_version", "1", "unknown schema version"),
    ("/", "seed", "zero", "attribute 'seed' must be an integer"),
    ("/", "kind", 3, "attribute 'kind' must be text"),
])
def test_hdf5_attributes_of_the_wrong_type_are_one_error(tmp_path, where, name, value, words):
    import h5py

    from sslr_cli.data.store import open_scenes

    path = _circles(tmp_path)
    with h5py.File(path, "a") as f:
        f[where].attrs[name] = value
    with pytest.raises(SSLRError, match=words):
        open_scenes(path)


def test_a_file_declaring_more_rows_than_memory_is_refused_before_reading(tmp_path, monkeypatch):
    import h5py

    from sslr_cli.data import store

    path = _circles(tmp_path)
    with h5py.File(path, "a") as f:  # a tiny file that declares 10^8 images (HDF5 would fill them in)
        for name in list(f):
            ds = f[name]
            data, attrs = ds[()], dict(ds.attrs)
            del f[name]
            big = f.create_dataset(name, shape=(10**8, *data.shape[1:]), dtype=data.dtype, chunks=(1, *data.shape[1:]))
            big[: len(data)] = data
            big.attrs.update(attrs)
    assert path.stat().st_size < 1_000_000
    monkeypatch.setattr(store, "_check_counts", lambda *a, **k: None)  # (reading 10^8 counts takes a while)
    scenes = store.open_scenes(path)
    with pytest.raises(SSLRError, match="more than the .* of memory available"):
        scenes.load()


def test_nan_targets_are_refused(tmp_path):
    import h5py

    from sslr_cli.data.circles import generate_isocircles
    from sslr_cli.data.store import open_scenes, write_scenes

    path = tmp_path / "iso.h5"
    write_scenes(path, generate_isocircles(4, seed=0))
    with h5py.File(path, "a") as f:
        t = f["target"][()]
        t[2] = float("nan")
        f["target"][...] = t
    with pytest.raises(SSLRError, match=r"target\[2\] is not a finite number"):
        open_scenes(path).load()


# ---------------------------------------------------------------- absurd numbers, resume

@pytest.mark.parametrize("args, words", [
    (("--lr", "inf"), "--lr inf: must be a finite number"),
    (("--inner-lr", "nan"), "--inner-lr nan: must be a finite number"),
    (("--seed", "-3"), "--seed -3: must be in 0.."),
    (("--encoder-width", "100000"), "--encoder-width 100000: must be in 1..4096"),
    (("--generator", "slot", "--gen-opt", "iterations=1e30"), "iterations"),
])
def test_absurd_training_numbers_are_one_line_errors(circles_file, tmp_path, args, words):
    one_line_error(run("train", circles_file, "--preset", "tiny", "--out", tmp_path / "r", *args), words)
    assert not (tmp_path / "r").exists()


def test_absurd_data_and_analysis_numbers_are_one_line_errors(tmp_path):
    one_line_error(run("gen-data", "circles", tmp_path / "c.h5", "--size", 100000), "--size 100000", "1024")
    one_line_error(run("tsne", "tiny-srn", "--grid", 100000, "--no-figure"), "--grid 100000", "2..64")


def test_resume_refuses_options_it_cannot_honour(tmp_path, circles_file):
    out = tmp_path / "run"
    assert _train(out, circles_file).exit_code == 0
    one_line_error(_train(out, circles_file, "--resume", "--max-steps", 2, "--lr", 0.5), "--lr 0.5", "trained with",
                   "--resume continues it as it was")
    one_line_error(_train(out, circles_file, "--resume", "--max-steps", 2, "--generator", "mlp"), "--generator mlp")
    # the same values (as `sslr reproduce` passes its stage's whole command line) and a new budget are fine
    assert _train(out, circles_file, "--resume", "--max-steps", 2).exit_code == 0


def test_a_checkpoint_records_its_thread_count_and_resume_uses_it(tmp_path, circles_file):
    import torch

    from sslr_cli.engine.checkpoint import read_checkpoint

    out = tmp_path / "run"
    assert _train(out, circles_file).exit_code == 0
    assert read_checkpoint(out / "last.pt")["threads"] == torch.get_num_threads()
