"""Single-process and torchrun (DDP) launch of the training loop.

Under ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``) ``launch_training`` joins the process group (NCCL on CUDA, gloo on CPU), puts each
rank on GPU ``LOCAL_RANK`` of its machine, and runs ``engine.train.train`` on every rank with:

- ``dist``: a ``TorchDistributed`` (the collectives the loop needs; see its methods). The batch
  loader of rank k keeps the k-th slice of the same global batch, so ``--batch-size`` is the
  GLOBAL batch (B/W samples per rank; B must divide by W).
- ``wrap_model``: synchronised batch norm (``sync_bn.py``; the reason is there) unless
  ``--no-sync-bn``, then ``DistributedDataParallel``.

The gradients: every rank's loss is the mean over its B/W samples, DDP averages the gradients over
the W ranks, so the update is that of the mean over the global batch, the single-process update.
With synchronised batch norm the forward pass is also the single-process one, so an N-rank run
equals the single-process run up to float rounding (tests/test_distributed.py checks it).

SSLR-SRN under DDP: the inner loop calls ``torch.autograd.grad(..., create_graph=True)`` inside
the forward pass. That call differentiates with respect to the set S only, so the autograd engine
runs no AccumulateGrad node of a parameter and DDP's reducer hooks do not fire there. In
``.backward()`` the many paths from the loss to a parameter of H_agg (used in each of the r steps
and in their gradient graphs) meet in its one AccumulateGrad node, which runs once: one reduction
per parameter per step (tests/test_distributed.py: float64 gradients equal to 1e-8).

Parameters without gradient: with ``init_mode="detached"`` (the reference's) H_set never gets one
(S0 = H_set(X) is returned as ``SetEncoding.initial_set`` but the loss does not use it), and DDP
would stop at step 2 ("Expected to have finished reduction in the prior iteration"). H_set is
therefore left out of DDP (``frozen_parameter_names``): nothing to reduce, and it stays equal on
all ranks because it never changes. The alternatives are worse: ``static_graph=True`` fails on
exactly this case, an output that carries parameters and is left out of the loss (pytorch issues
79171 and 97030, reproduced with torch 2.13); ``find_unused_parameters=True`` works but searches
the autograd graph every step and, finding H_set reachable from the outputs, warns on every rank
that it found nothing. The search is used only when r can be 0 (then H_agg and H_embed get no
gradient either).

SIGTERM/SIGINT (torchrun passes them on to every rank, not necessarily before the same step): each
rank's flag is combined with the others' after every step, so all ranks stop after the same step,
rank 0 writes ``last.pt``, and every rank exits with 143/130 (``engine/preemption.py``).

Only rank 0 writes files (run directory, checkpoints, metrics) and shows progress; the others
return None. Each rank reads the HDF5 file itself (read-only, into its own memory). Checkpoints
(``--resume``'s last.pt, ``--init``) are read by rank 0 alone and broadcast, so the nodes of a
multi-node job need the dataset but not a shared run directory.
"""

from __future__ import annotations

import atexit
import dataclasses
import inspect
import os
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils import _pytree as pytree

from sslr_cli.config import RunConfig
from sslr_cli.engine.device import resolve_device
from sslr_cli.engine.preemption import EXIT_CODES
from sslr_cli.engine.sync_bn import convert_batchnorm
from sslr_cli.engine.train import Distributed, TrainResult, train
from sslr_cli.errors import SSLRError

T = TypeVar("T")


@dataclass(frozen=True)
class LaunchEnv:
    """Where torchrun put this process."""

    rank: int
    world_size: int
    local_rank: int


def torchrun_env(environ: dict[str, str] | None = None) -> LaunchEnv | None:
    """The torchrun placement from the environment, or None for a plain single process."""
    env = os.environ if environ is None else environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return None
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        local = int(env.get("LOCAL_RANK", rank))
    except ValueError:
        raise SSLRError(f"RANK/WORLD_SIZE/LOCAL_RANK {env.get('RANK')!r}/{env.get('WORLD_SIZE')!r}/"
                        f"{env.get('LOCAL_RANK')!r}: not integers (start the job with torchrun)") from None
    if world < 1 or not 0 <= rank < world:
        raise SSLRError(f"RANK {rank} / WORLD_SIZE {world}: not a valid placement (start the job with torchrun)")
    return LaunchEnv(rank, world, local)


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a torchrun job (for printing before the group exists)."""
    env = torchrun_env()
    return env is None or env.rank == 0


class RankZeroError(SSLRError):
    """An error rank 0 met and shared; the other ranks leave quietly, rank 0 reports it."""


@dataclass
class TorchDistributed(Distributed):
    """The collectives of ``train`` over an initialised ``torch.distributed`` process group.

    ``device``: where collective tensors live (NCCL needs CUDA tensors).
    """

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    bn_group: Any = None  # process group of the synchronised batch norm (gloo: its own, not DDP's)

    def on_main(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on rank 0 only; every rank returns its result or raises its error.

        Doubles as a barrier: no rank continues before rank 0 has finished ``fn``.
        """
        box: list[Any] = [None]
        if self.is_main:
            try:
                box = [("ok", fn())]
            except SSLRError as exc:
                box = [("error", str(exc))]
            except BaseException as exc:  # still tell the others, so that they do not wait forever
                dist.broadcast_object_list([("failed", f"{type(exc).__name__}: {exc}")], src=0)
                raise
        dist.broadcast_object_list(box, src=0)
        kind, value = box[0]
        if kind == "ok":
            return value
        if kind == "error":
            raise SSLRError(value) if self.is_main else RankZeroError(value)
        raise RankZeroError(f"rank 0 failed: {value}")

    def mean(self, value: torch.Tensor) -> float:
        t = value.detach().to(self.device, torch.float64).reshape(1)
        dist.all_reduce(t)
        return float(t) / self.world_size

    def any(self, flag: bool) -> bool:
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t)
        return bool(t.item() > 0)

    def sum(self, values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def shard(self, n: int) -> tuple[int, int]:
        return n * self.rank // self.world_size, n * (self.rank + 1) // self.world_size

    def barrier(self) -> None:
        dist.barrier()


def _dataclass_types(value: Any, found: set[type]) -> set[type]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        found.add(type(value))
        for f in dataclasses.fields(value):
            _dataclass_types(getattr(value, f.name), found)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _dataclass_types(v, found)
    elif isinstance(value, dict):
        for v in value.values():
            _dataclass_types(v, found)
    return found


def _expose_dataclass_outputs(module: nn.Module, inputs: Any, output: Any) -> None:
    """Forward hook: register the output's dataclass types (SetEncoding, Reconstruction, MatchOutput)
    as pytree nodes, once each.

    With ``find_unused_parameters`` (r = 0) or ``static_graph`` DDP routes the forward outputs through an
    autograd node (``_DDPSink``) that starts the gradient reduction; it finds the tensors with
    ``torch.utils._pytree``, to which an unregistered dataclass is one opaque leaf. Without this,
    no tensor passes that node and the gradients are silently left unreduced (each rank keeps its
    own: tests/test_distributed.py caught it).
    """
    for cls in _dataclass_types(output, set()):
        if cls not in pytree.SUPPORTED_NODES:
            pytree.register_dataclass(cls)


def _generators(model: nn.Module):
    from sslr_cli.models.generator import SetGenerator

    return [(prefix, m) for prefix, m in model.named_modules() if isinstance(m, SetGenerator)]


def frozen_parameter_names(model: nn.Module) -> list[str]:
    """Parameters that never get a gradient, as the generators in ``model`` declare them (SSLR-SRN:
    H_set when its refinement starts from a detached S0; reconstruction and matching models alike)."""
    return [f"{prefix}.{name}" if prefix else name
            for prefix, gen in _generators(model) for name in gen.frozen_parameters()]


def may_leave_parameters_unused(model: nn.Module, cfg: RunConfig) -> bool:
    """Whether, at some r of the run, a generator can leave parameters without gradient (SSLR-SRN with
    r = 0: the refinement does not run and H_agg, H_embed get none)."""
    steps = cfg.r_values()
    return any(gen.may_leave_parameters_unused(r) for _, gen in _generators(model) for r in steps)


def wrap_ddp(model: nn.Module, cfg: RunConfig, device: torch.device, bn_group=None) -> nn.Module:
    """Synchronised batch norm (unless ``cfg.train.sync_bn`` is off), then DistributedDataParallel.

    The model is changed in place (its batch-norm layers are swapped, keeping their parameters),
    so the caller's optimizer and ``model.state_dict()`` stay valid; the DDP wrapper is returned.
    """
    sync = getattr(cfg.train, "sync_bn", True)
    if sync:
        model = convert_batchnorm(model, device, bn_group if device.type != "cuda" else None)
    model.register_forward_hook(_expose_dataclass_outputs)
    # synchronised statistics are already equal on every rank; per-rank ones follow rank 0's
    buffers = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DDP).parameters
               else "broadcast_buffers")  # torch 2.13 renamed it
    DDP._set_params_and_buffers_to_ignore_for_model(model, frozen_parameter_names(model))
    return DDP(model, device_ids=[device.index] if device.type == "cuda" else None,
               find_unused_parameters=may_leave_parameters_unused(model, cfg), **{buffers: not sync})


def _device_for(local_rank: int, device: str) -> torch.device:
    dev = resolve_device(device)
    if dev.type != "cuda":
        return dev
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise SSLRError(f"LOCAL_RANK {local_rank}: this node has {count} CUDA device(s); "
                        f"start at most {count} processes per node (--nproc_per_node)")
    return torch.device("cuda", local_rank)


def init_process_group(env: LaunchEnv, device: torch.device):
    """Join the job's process group (env:// rendezvous from torchrun's variables); the batch-norm group."""
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, rank=env.rank, world_size=env.world_size)
    # gloo: the batch norm's all-reduces run in their own group, apart from DDP's gradient buckets
    return dist.new_group(backend="gloo") if backend == "gloo" else None


_job: dict[str, Any] = {}  # this process's place in the job, joined once (``--seeds`` trains several runs)


def _join(env: LaunchEnv, device: torch.device):
    """The batch-norm group of the job's process group, joining it on the first call.

    The group lives as long as the process (left at exit): a second ``init_process_group`` on
    torchrun's rendezvous store after a ``destroy_process_group`` is not something to rely on.
    """
    if not dist.is_initialized():
        _job.update(bn_group=init_process_group(env, device), device=device)
        atexit.register(_leave)
    elif _job.get("device") != device:
        raise SSLRError(f"--device {device}: this process already trains on {_job.get('device')}")
    return _job.get("bn_group")


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def launch_training(**kwargs) -> TrainResult | None:
    """Run ``engine.train.train`` (keyword arguments as it takes them) in this process.

    A plain process (or a one-process torchrun job) trains alone. Under torchrun with W > 1 this
    process is one rank of a DDP job: it returns the result on rank 0 and None on the others.
    """
    env = torchrun_env()
    if env is None or env.world_size == 1:
        return train(**kwargs)
    device = _device_for(env.local_rank, kwargs.get("device", "auto"))
    bn_group = _join(env, device)
    ddp = TorchDistributed(env.rank, env.world_size, device=device, bn_group=bn_group)
    kwargs.update(device=str(device), dist=ddp, wrap_model=lambda model, cfg: wrap_ddp(model, cfg, device, bn_group))
    if env.rank != 0:
        kwargs["on_progress"] = None
    try:
        result = train(**kwargs)
    except RankZeroError:
        if env.rank == 0:
            raise
        raise SystemExit(2) from None  # rank 0 reports the error once
    ddp.barrier()  # rank 0's last writes are done before any rank leaves
    if env.rank != 0 and result.stopped in EXIT_CODES:  # SIGTERM / SIGINT: every rank exits as rank 0 does
        raise SystemExit(EXIT_CODES[result.stopped])
    return result if env.rank == 0 else None
