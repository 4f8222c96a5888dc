"""--precision: fp32 is strict float32 (TF32 off on a GPU), tf32 a named choice; checked on a CPU as far as it goes."""

from __future__ import annotations

import contextlib

import pytest
import torch

from conftest import tiny_run
from sslr_cli.engine.device import autocast, configure_precision
from sslr_cli.errors import SSLRError


def test_tf32_is_a_precision_and_others_are_refused():
    from dataclasses import replace

    cfg = tiny_run()
    replace(cfg.train, precision="tf32").validate()
    with pytest.raises(SSLRError, match="choose fp32, tf32, bf16 or fp16"):
        replace(cfg.train, precision="fp64").validate()


@pytest.mark.parametrize("precision", ["fp32", "tf32"])
def test_fp32_and_tf32_compute_in_float32(precision):
    assert isinstance(autocast(torch.device("cpu"), precision), contextlib.nullcontext)


def test_configure_precision_leaves_the_cpu_alone_and_sets_tf32_on_cuda(monkeypatch):
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)
    assert configure_precision(torch.device("cpu"), "tf32") == {}
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark) == before
    try:  # the CUDA branch only sets flags: it runs without a GPU
        assert configure_precision(torch.device("cuda"), "fp32") == {"allow_tf32": False, "cudnn_benchmark": True}
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert configure_precision(torch.device("cuda"), "tf32")["allow_tf32"] is True
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = before
