"""Data-parallel training (torchrun / DDP) on 2 CPU ranks with gloo, against a single process.

One spawn of two ranks (module fixture) runs, in order: a gradient check of the DDP-wrapped model
(SSLR-SRN with its inner ``autograd.grad(create_graph=True)`` loop, SSLR-MLP, and per-rank batch
norm as a control), a 1-epoch run through ``launch_training`` and its resume to 2 epochs. The tests
compare the results with single-process runs on the same global batch, in this process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from conftest import tiny_run
from sslr_cli.data.circles import CircleSpec, generate_circles
from sslr_cli.data.loader import to_float_images
from sslr_cli.data.store import open_scenes, write_scenes
from sslr_cli.engine.checkpoint import read_checkpoint
from sslr_cli.engine.distributed import LaunchEnv, launch_training, torchrun_env
from sslr_cli.engine.tasks import get_task
from sslr_cli.engine.train import train
from sslr_cli.errors import SSLRError

WORLD = 2
GLOBAL_BATCH = 8
# Gradient variants: (name, generator, model settings, sync_bn). "srn-r0": no refinement, so H_agg and
# H_embed get no gradient (DDP's unused-parameter search); "srn-per-rank-bn": the control.
VARIANTS = [("srn-detached", "srn", {}, True), ("srn-learned", "srn", {"init_mode": "learned"}, True),
            ("mlp", "mlp", {}, True), ("srn-r0", "srn", {"inner_steps": 0}, True),
            ("srn-per-rank-bn", "srn", {}, False)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _variant_cfg(generator: str, model: dict, sync_bn: bool):
    cfg = tiny_run(generator, model=model, batch_size=GLOBAL_BATCH)
    return replace(cfg, train=replace(cfg.train, sync_bn=sync_bn))


def _first_batch(data: Path) -> torch.Tensor:
    """The first global batch as float64 images (B, 3, H, W)."""
    images = torch.from_numpy(open_scenes(data).load(["images"])["images"][:GLOBAL_BATCH])
    return to_float_images(images).double()


def _gradients(model, images: torch.Tensor, cfg) -> dict[str, torch.Tensor | None]:
    """Gradients of the "sse" reconstruction loss (per-image sum, batch mean), in float64.

    float64 because the tiny model's gradients are ill-conditioned: float32 rounding alone moves
    them by ~1e-3 (relative), which would hide a real error. In float64 that is ~1e-12.
    """
    _, rec = model(images, cfg.model.inner_steps)
    loss = (rec.image - images).pow(2).flatten(1).sum(1).mean()
    loss.backward()
    inner = model.module if hasattr(model, "module") else model
    return {k: None if p.grad is None else p.grad.clone() for k, p in inner.named_parameters()}


def _float64_training() -> None:
    """Train in float64: float32 rounding, amplified by Adam's normalisation (a parameter whose true
    gradient is 0, e.g. a bias before batch norm, moves by about lr per step on rounding noise), would
    otherwise hide the equality of the two runs. Only the precision changes, not the code path."""
    import sslr_cli.engine.reconstruct_task as tasks

    torch.set_default_dtype(torch.float64)
    if not getattr(tasks.to_float_images, "float64", False):
        convert = tasks.to_float_images
        tasks.to_float_images = lambda images: convert(images).double()
        tasks.to_float_images.float64 = True


def _record_run_dir_access(run_dir: Path, log: list) -> None:
    """Audit every file operation of this process inside ``run_dir`` (opens, renames, removals, mkdirs)."""
    root = str(run_dir)

    def hook(event, args):
        if event in ("open", "os.rename", "os.remove", "os.mkdir", "os.rmdir", "os.replace"):
            paths = [os.fsdecode(os.fspath(a)) for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
            if any(p.startswith(root) for p in paths):
                log.append([event, *paths])

    sys.addaudithook(hook)


def _worker(rank: int, ports: list[int], data: str, run_dir: str, results: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", RANK=str(rank), WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank))
    from sslr_cli.engine.distributed import init_process_group, wrap_ddp

    results, run_dir = Path(results), Path(run_dir)
    cpu = torch.device("cpu")
    per_rank = GLOBAL_BATCH // WORLD
    # 1. gradients of one step of the wrapped model on this rank's slice of the global batch
    os.environ["MASTER_PORT"] = str(ports[0])
    bn_group = init_process_group(torchrun_env(), cpu)
    images = _first_batch(Path(data))[rank * per_rank:(rank + 1) * per_rank]
    for name, generator, settings, sync in VARIANTS:
        cfg = _variant_cfg(generator, settings, sync)
        torch.manual_seed(0)
        model = get_task("reconstruct").build_model(cfg).double()
        grads = _gradients(wrap_ddp(model, cfg, cpu, bn_group), images, cfg)
        torch.save(grads, results / f"grads-{name}-{rank}.pt")
    torch.distributed.destroy_process_group()

    # 2. training through the launcher, then its resume; rank 1 must never touch the run directory
    _float64_training()
    access: list = []
    _record_run_dir_access(run_dir, access)
    cfg = tiny_run("srn", epochs=1, batch_size=GLOBAL_BATCH)
    os.environ["MASTER_PORT"] = str(ports[1])
    first = launch_training(data=data, out_dir=run_dir, cfg=cfg, device="cpu")
    if rank == 0:
        shutil.copy(run_dir / "last.pt", results / "epoch1.pt")
    # the resume to 2 epochs is stopped by a SIGTERM that reaches rank 1 alone (sent by rank 0 during step 6):
    # both ranks must stop after the same step (else a collective would hang), rank 0 writes last.pt
    (results / f"pid{rank}").write_text(str(os.getpid()))

    def sigterm_rank1(p):
        if p["step"] == 6:
            os.kill(int((results / "pid1").read_text()), signal.SIGTERM)

    try:
        stopped = launch_training(data=data, out_dir=run_dir, cfg=cfg, device="cpu", resume=True,  # the same group
                                  resume_overrides={"epochs": 2}, on_progress=sigterm_rank1)
        stop = f"{stopped.stopped} after step {stopped.steps}"
    except SystemExit as exc:
        stop = f"SystemExit {exc.code}"
    second = launch_training(data=data, out_dir=run_dir, cfg=cfg, device="cpu", resume=True,
                             resume_overrides={"epochs": 2})
    # 3. a user error met by rank 0 alone (the run directory is not empty): rank 0 raises it, the others
    # leave quietly (exit code 2), nobody waits for a collective that never comes
    try:
        launch_training(data=data, out_dir=run_dir, cfg=cfg, device="cpu")
        refused = "no error"
    except SSLRError as exc:
        refused = f"SSLRError: {exc}"
    except SystemExit as exc:
        refused = f"SystemExit {exc.code}"
    summary = {"returned": [r is not None for r in (first, second)], "access": access,
               "steps": [r.steps if r else None for r in (first, second)],
               "best_val": second.best_val if second else None, "refused": refused, "stop": stop}
    (results / f"rank{rank}.json").write_text(json.dumps(summary))


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    data = write_scenes(root / "circles.h5", generate_circles(48, CircleSpec(max_count=3), seed=5))
    results = root / "results"
    results.mkdir()
    ports = [_free_port() for _ in range(2)]
    mp.spawn(_worker, args=(ports, str(data), str(root / "run"), str(results)), nprocs=WORLD, join=True)
    return root, data, results


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float) -> bool:
    """Equal up to float rounding, relative to the tensor's scale (sums run in another order)."""
    return bool((a - b).abs().max() <= rtol * b.abs().max() + 1e-9)


@pytest.mark.parametrize("name", [v[0] for v in VARIANTS])
def test_ddp_gradients_equal_single_process_gradients(ddp_run, name):
    root, data, results = ddp_run
    _, generator, settings, sync = next(v for v in VARIANTS if v[0] == name)
    cfg = _variant_cfg(generator, settings, sync)
    torch.manual_seed(0)
    model = get_task("reconstruct").build_model(cfg).double()
    single = _gradients(model, _first_batch(data), cfg)
    ranks = [torch.load(results / f"grads-{name}-{r}.pt", weights_only=True) for r in range(WORLD)]
    assert all(set(g) == set(single) for g in ranks)
    mismatched = []
    for key, g in single.items():
        if g is None:  # e.g. H_set with a detached S0: no gradient in either run
            assert all(r[key] is None or not r[key].any() for r in ranks), key
            continue
        assert torch.equal(ranks[0][key], ranks[1][key]), key  # DDP leaves every rank the same gradient
        if not _close(ranks[0][key], g, 1e-8):
            mismatched.append(key)
    if sync:
        assert not mismatched, mismatched
        if name == "srn-detached":  # H_agg, trained only through the inner loop's create_graph, is among them
            assert single["encoder.refiner.agg.mlp.0.weight"] is not None
    else:
        # Per-rank statistics normalise each half batch on its own: the batch-norm layers' inputs and
        # so their gradients change (the reason for synchronised batch norm).
        assert {"encoder.trunk.net.0.weight", "decoder.up.0.weight"} <= set(mismatched), mismatched


def _step_losses(run_dir: Path) -> list[float]:
    lines = map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
    return [r["loss"] for r in lines if r["kind"] == "step"]


def _assert_same_weights(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for k in a:
        assert a[k].dtype == b[k].dtype
        assert torch.allclose(a[k], b[k], rtol=1e-7, atol=1e-8), (k, (a[k] - b[k]).abs().max())


@pytest.fixture
def float64_training(monkeypatch):
    import sslr_cli.engine.reconstruct_task as tasks

    monkeypatch.setattr(tasks, "to_float_images", tasks.to_float_images)  # restored afterwards
    default = torch.get_default_dtype()
    _float64_training()
    yield
    torch.set_default_dtype(default)


def test_two_ranks_train_like_one_process_on_the_global_batch(ddp_run, tmp_path, float64_training):
    root, data, results = ddp_run
    cfg = tiny_run("srn", epochs=1, batch_size=GLOBAL_BATCH)
    single = train(data, tmp_path / "one", cfg, device="cpu")
    ddp_epoch1 = read_checkpoint(results / "epoch1.pt")
    assert ddp_epoch1["step"] == single.steps == 36 // GLOBAL_BATCH  # 48 images, a quarter held out
    _assert_same_weights(ddp_epoch1["model"], read_checkpoint(tmp_path / "one" / "last.pt")["model"])

    # the resumed DDP run continues like an uninterrupted single-process run of 2 epochs
    full = train(data, tmp_path / "two", replace(cfg, train=replace(cfg.train, epochs=2)), device="cpu")
    ddp_last = read_checkpoint(root / "run" / "last.pt")
    assert ddp_last["step"] == full.steps and ddp_last["epoch"] == 2
    _assert_same_weights(ddp_last["model"], read_checkpoint(tmp_path / "two" / "last.pt")["model"])
    # metrics.jsonl logs the global batch's loss, not rank 0's half of it
    assert _step_losses(root / "run") == pytest.approx(_step_losses(tmp_path / "two"), rel=1e-9)
    rank0 = json.loads((results / "rank0.json").read_text())
    assert rank0["best_val"] == pytest.approx(full.best_val, rel=1e-9)  # validation sharded over the ranks


def test_only_rank_zero_touches_the_run_directory(ddp_run):
    root, _, results = ddp_run
    rank0, rank1 = (json.loads((results / f"rank{r}.json").read_text()) for r in range(WORLD))
    assert rank0["returned"] == [True, True] and rank1["returned"] == [False, False]
    assert rank1["access"] == []  # no write, and no read either: rank 0 reads last.pt and broadcasts it
    assert "run directory is not empty" in rank0["refused"] and rank0["refused"].startswith("SSLRError")
    assert rank1["refused"] == "SystemExit 2"
    assert rank0["stop"] in ("terminated after step 6", "terminated after step 7") and rank1["stop"] == "SystemExit 143"
    written = {Path(entry[-1]).name for entry in rank0["access"] if entry[0] == "os.rename"}
    assert {"last.pt", "best.pt"} <= written  # the audit hook does see the writes it should
    assert {p.name for p in (root / "run").iterdir()} == {"config.json", "metrics.jsonl", "last.pt", "best.pt"}


def test_torchrun_environment_is_read_and_checked():
    assert torchrun_env({}) is None
    assert torchrun_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == LaunchEnv(1, 4, 1)
    with pytest.raises(SSLRError, match="RANK 4 / WORLD_SIZE 4"):
        torchrun_env({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(SSLRError, match="not integers"):
        torchrun_env({"RANK": "x", "WORLD_SIZE": "2"})


def test_compile_leaves_the_inner_loop_eager(monkeypatch):
    """AOTAutograd has no double backward, so --compile must not reach SetRefiner (engine/compile.py)."""
    from sslr_cli.engine.compile import compile_model
    from sslr_cli.models import SetAutoencoder

    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(self))
    srn = SetAutoencoder(tiny_run("srn").model)
    assert compile_model(srn) == ["encoder.trunk", "encoder.set_head", "encoder.embed", "decoder"]
    assert not any(m is srn.encoder.refiner or m is srn.encoder for m in compiled)
    assert compile_model(SetAutoencoder(tiny_run("mlp").model)) == [""]  # no refiner: the whole model


def test_torchrun_cli_prints_once_and_writes_one_run(tmp_path, circles_file):
    """The documented command, end to end: torchrun starts 2 gloo ranks of `sslr train`."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "sslr_cli", "train", str(circles_file), "--preset", "tiny", "--out", str(tmp_path / "run"),
           "--batch-size", "8", "--epochs", "1", "--val-fraction", "0.25", "--device", "cpu", "--json",
           "--encoder-width", "4", "--decoder-width", "4", "--set-size", "4", "--element-dim", "3",
           "--inner-steps", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)  # one JSON document: rank 1 printed nothing
    assert summary["steps"] == 4 and summary["stopped"] == "finished"
    assert {p.name for p in (tmp_path / "run").iterdir()} == {"config.json", "metrics.jsonl", "last.pt", "best.pt"}
