"""``sslr train --cuda-graphs``: the reconstruction training step captured in one CUDA graph and replayed.

SRN's step is hundreds of small kernels (r inner steps of H_agg, FSPool and their gradients), so on a GPU
it is bound by kernel launches, not arithmetic. Capturing the whole step (forward with the inner loop,
backward, optimizer step) once and replaying it launches it as one graph. This follows PyTorch's
whole-network capture recipe (CUDA semantics notes, "CUDA Graphs"):

- the batch is copied into static input buffers on the device, which the graph reads;
- a few warm-up steps run eagerly on a side stream first (lazy initialisation: cuBLAS workspaces,
  the optimizer's state), then the step is captured with gradients set to None, so that the backward
  pass allocates them from the graph's private memory pool and each replay refills them in place;
- the optimizer is built ``capturable`` (its step counters on the device) and its learning rate is a
  device tensor filled before every replay, so a learning-rate schedule reaches the captured step;
- autocast runs with ``cache_enabled=False`` (the cast cache must not outlive the capture).

Capture records kernels without running them, so the batch that is captured is trained on by the replay
that follows. The warm-up steps and the captured replays are ordinary training steps on ordinary batches.
A new r (``--late-epoch``) warms up and captures again.

What cannot be captured is refused before the run starts (``check_cuda_graphs``): a CPU device, ``--task
match`` (its Hungarian matching runs on the host, scipy), ``--compile`` (torch.compile keeps graphs of its
own), ``--precision fp16`` (the loss scaler reads an overflow flag on the host every step), torchrun/DDP
(the gradient all-reduce would need DDP's own graph set-up) and a training set smaller than one batch
(a graph has fixed shapes; the loader drops the ragged last batch of an epoch).

Measured on one NVIDIA H200 (studies/gpu-check): at the paper's width and batch in strict fp32, graphs take
SSLR-SRN's step from 72.6 to 62.3 ms at r = 10 and from 107.3 to 67.4 ms at r = 20 (MLP: 57.8 ms either way,
its step is arithmetic, not launches); in bf16, SRN at r = 20 from 73.2 to 15.1 ms. ``graphs_proven`` says
where replay was shown to train as the eager step does; ``sslr reproduce`` takes this path by itself there.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sslr_cli.config import RunConfig
from sslr_cli.errors import SSLRError

WARMUP_STEPS = 3  # eager steps on a side stream before each capture (the recipe's count for one process)


# Where graph replay was shown, on a GPU, to train as the eager step does: the CUDA tests of
# tests/test_cuda_graphs.py (a tiny circles model of each generator, strict fp32, 20 steps across the recapture
# at an r switch: losses within a relative 1e-4, run on an NVIDIA H200) and the paper preset's 300-step loss
# curves eager and replayed (studies/gpu-check). bf16 replay ran and resumed, but was not compared.
PROVEN_GENERATORS = ("srn", "mlp")


def graphs_proven(cfg: RunConfig) -> bool:
    """Whether ``cfg`` trains what graph replay was proven equal to eager for: reconstruction, a circles model
    (per-element H_agg) of a proven generator, the unrolled inner gradient, strict fp32."""
    return (cfg.train.task == "reconstruct" and cfg.model.generator in PROVEN_GENERATORS and cfg.model.agg == "mlp"
            and cfg.model.inner_grad == "unrolled" and cfg.train.precision == "fp32" and not cfg.model.generator_options)


def check_cuda_graphs(cfg: RunConfig, device: torch.device, world_size: int = 1, train_images: int | None = None) -> None:
    """Refuse, in one line naming the option, a run that ``--cuda-graphs`` cannot capture."""
    t = cfg.train
    if t.task != "reconstruct":
        raise SSLRError(f"--cuda-graphs: only with --task reconstruct (--task {t.task} runs the Hungarian matching "
                        "on the host, which a CUDA graph cannot hold)")
    if t.compile:
        raise SSLRError("--cuda-graphs: not together with --compile (torch.compile makes graphs of its own); choose one")
    if t.precision == "fp16":
        raise SSLRError("--cuda-graphs: not with --precision fp16 (its loss scaler reads an overflow flag on the host "
                        "every step); use bf16 or fp32")
    if world_size > 1:
        raise SSLRError(f"--cuda-graphs: not under torchrun/DDP ({world_size} processes); train in one process")
    if train_images is not None and train_images < t.batch_size:
        raise SSLRError(f"--cuda-graphs: needs full batches, and {train_images} training images are fewer than "
                        f"--batch-size {t.batch_size}")
    if device.type != "cuda":
        raise SSLRError(f"--cuda-graphs: needs a CUDA device (this run is on {device.type}); drop the flag")


def make_capturable(optimizer: torch.optim.Optimizer, device: torch.device) -> torch.Tensor:
    """Turn ``optimizer`` (Adam or RMSprop, possibly loaded from a checkpoint) capturable; return its
    learning rate as the device tensor shared by every parameter group."""
    lr = torch.tensor(float(optimizer.param_groups[0]["lr"]), device=device)
    for group in optimizer.param_groups:
        if "capturable" not in group:
            raise SSLRError(f"--cuda-graphs: {type(optimizer).__name__} cannot be captured")
        group["capturable"] = True
        group["lr"] = lr
    for state in optimizer.state.values():  # a resumed run's step counters come from the checkpoint, on the host
        if "step" in state and torch.is_tensor(state["step"]):
            state["step"] = state["step"].to(device=device, dtype=torch.float32)
    return lr


class GraphedTrainStep:
    """One training step as a CUDA graph replay: ``step(net, batch, r, lr)`` -> the loss tensor.

    The loss returned is the graph's static output: read it (the loop does, for its log) before the next step.
    """

    def __init__(self, task: Any, cfg: RunConfig, optimizer: torch.optim.Optimizer, device: torch.device) -> None:
        check_cuda_graphs(cfg, device)
        self.task, self.cfg, self.optimizer, self.device = task, cfg, optimizer, device
        self.lr = make_capturable(optimizer, device)
        self.static: dict[str, torch.Tensor] | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.graph_r: int | None = None
        self.static_loss: torch.Tensor | None = None
        self.warm = 0
        self.side = torch.cuda.Stream(device)

    def _autocast(self):
        precision = self.cfg.train.precision
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16", cache_enabled=False)

    def _loss(self, net: nn.Module, r: int) -> torch.Tensor:
        with self._autocast():
            return self.task.loss(net, self.static, self.cfg, r)

    def _load(self, batch: dict[str, torch.Tensor]) -> None:
        if self.static is None:
            self.static = {k: torch.empty(v.shape, dtype=v.dtype, device=self.device) for k, v in batch.items()}
        for k, v in batch.items():
            if v.shape != self.static[k].shape:
                raise SSLRError(f"--cuda-graphs: a batch of shape {tuple(v.shape)} where the graph holds "
                                f"{tuple(self.static[k].shape)} (full batches only)")
            self.static[k].copy_(v.pin_memory(), non_blocking=True)

    def __call__(self, net: nn.Module, batch: dict[str, torch.Tensor], r: int, lr: float) -> torch.Tensor:
        self._load(batch)
        self.lr.fill_(lr)
        if self.graph is not None and r == self.graph_r:
            self.graph.replay()
            return self.static_loss
        if self.graph is not None:  # r changed: warm up and capture anew
            self.graph, self.static_loss, self.warm = None, None, 0
        if self.warm < WARMUP_STEPS:
            self.warm += 1
            self.side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(self.side):
                self.optimizer.zero_grad(set_to_none=True)
                loss = self._loss(net, r)
                loss.backward()
                self.optimizer.step()
            torch.cuda.current_stream(self.device).wait_stream(self.side)
            return loss.detach()
        # gradients None at capture: the backward allocates them in the graph's pool, each replay refills them
        self.optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=self.side):  # the warm-up's stream: its handles and workspaces
            loss = self._loss(net, r)
            loss.backward()
            self.optimizer.step()
        self.graph, self.graph_r, self.static_loss = graph, r, loss.detach()
        graph.replay()  # the capture ran nothing: this batch's step is the first replay
        return self.static_loss
