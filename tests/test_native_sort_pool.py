"""The compiled FSPool kernel of SRN's graph-free inner steps: torch's bits, and a clean fallback without it."""

from __future__ import annotations

import pytest
import torch

from sslr_cli.models import SetRefiner
from sslr_cli.models import aggregator as aggregator_module
from sslr_cli.models import native
from sslr_cli.models.aggregator import ElementwiseAggregator


def kernel_or_skip() -> native.SortPoolKernel:
    kernel = native.sort_pool_kernel()
    if kernel is None:  # pragma: no cover - CI has a C compiler; elsewhere the torch ops run and are tested
        pytest.skip(f"sort-pool kernel not available: {native.sort_pool_status()}")
    return kernel


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(torch.int16)  # compares NaNs and signed zeros too


def awkward_bf16(b: int, n: int, c: int, seed: int) -> torch.Tensor:
    """Values with ties in most features, signed zeros, infinities, a subnormal and NaNs."""
    h = (torch.randn(b, n, c, generator=torch.Generator().manual_seed(seed)) * 2).round().bfloat16()
    if n >= 6:
        h[0, 1, 0], h[0, 4, 0] = float("nan"), float("nan")
        h[0, 2, 1], h[0, 3, 1] = -0.0, 0.0
        h[1 % b, 0, 2], h[1 % b, 5, 2] = float("inf"), -float("inf")
        h[1 % b, 3, 3] = 1e-39
    return h


@pytest.mark.parametrize("shape", [(32, 16, 64), (5, 16, 100), (7, 9, 20), (3, 1, 5), (4, 6, 17)])
def test_kernel_gives_the_bits_of_torchs_sort_sum_and_scatter(shape):
    kernel = kernel_or_skip()
    b, n, c = shape
    h = awkward_bf16(b, n, c, seed=n)
    gen = torch.Generator().manual_seed(1)
    w, w_grad = torch.randn(n, c, generator=gen).bfloat16(), torch.randn(n, c, generator=gen).bfloat16()
    g = torch.randn(b, c, generator=gen).bfloat16()
    ref = h.sort(dim=1, descending=True)
    out, order = kernel.pool(h, w)
    assert torch.equal(bits(out), bits((ref.values * w).sum(dim=1)))
    assert torch.equal(order.long(), ref.indices)
    grad = kernel.unpool(g, w_grad, order)
    assert torch.equal(bits(grad), bits(torch.empty_like(h).scatter_(1, ref.indices, g[:, None, :] * w_grad)))
    if n > 1:  # ties are in the data, and they went where torch sends them (checked above)
        assert (ref.values[:, 1:] == ref.values[:, :-1]).any()


def test_kernel_refuses_what_it_was_not_built_for():
    kernel = kernel_or_skip()
    h, w = torch.randn(2, 4, 3).bfloat16(), torch.randn(4, 3).bfloat16()
    with pytest.raises(ValueError, match="h must be"):
        kernel.pool(h.float(), w.float())
    with pytest.raises(ValueError, match="h must be"):
        kernel.pool(torch.randn(2, 17, 3).bfloat16(), torch.randn(17, 3).bfloat16())
    with pytest.raises(ValueError, match=r"w must be .* \(4, 3\)"):
        kernel.pool(h, w.t().contiguous().t())
    _, order = kernel.pool(h, w)
    with pytest.raises(ValueError, match="g must be"):
        kernel.unpool(torch.randn(2, 5).bfloat16(), w, order)
    assert not native.SortPoolKernel.supports("cpu", torch.float32, 16)
    assert not native.SortPoolKernel.supports("cuda", torch.bfloat16, 16)
    assert native.SortPoolKernel.supports("cpu", torch.bfloat16, 16)


@pytest.mark.parametrize("n", [5, 16])
def test_native_and_torch_graph_free_steps_give_the_same_bits(n):
    kernel_or_skip()
    torch.manual_seed(n)
    agg = ElementwiseAggregator(10, 24, 32, 20)
    s, z = torch.randn(4, n, 10).bfloat16(), torch.randn(4, 24).bfloat16()
    s[:, 1] = s[:, 0]  # tied elements tie in every feature
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, grad = agg.squared_error(s, z)(s)
        ref_loss, ref_grad = agg.squared_error(s, z, native=False)(s)
    assert grad.dtype == torch.bfloat16
    assert torch.equal(bits(loss.reshape(1)), bits(ref_loss.reshape(1))) and torch.equal(bits(grad), bits(ref_grad))


def test_implicit_refinement_with_the_kernel_is_the_unrolled_set_exactly(monkeypatch):
    kernel_or_skip()
    torch.manual_seed(4)
    agg = ElementwiseAggregator(10, 16, 32, 20)
    s0, z = torch.randn(4, 16, 10).bfloat16(), torch.randn(4, 16, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z = z.bfloat16()
        unrolled = SetRefiner(agg, 0.1, 0.5, "unrolled").train()(s0, z, 8)
        implicit = SetRefiner(agg, 0.1, 0.5, "implicit").train()(s0, z, 8)
        monkeypatch.setattr(aggregator_module, "sort_pool_kernel", lambda: None)
        torch_ops = SetRefiner(agg, 0.1, 0.5, "implicit").train()(s0, z, 8)
    assert torch.equal(implicit.set, torch_ops.set) and torch.equal(implicit.inner_losses, torch_ops.inner_losses)
    # same forward value as the autograd loop; within bf16 round-off of it (its linear backward rounds otherwise)
    torch.testing.assert_close(implicit.set, unrolled.set, rtol=1.6e-2, atol=1e-2)


def test_without_a_compiler_the_torch_ops_run(monkeypatch, tmp_path):
    monkeypatch.setenv("SSLR_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(native, "_compiler", lambda: None)
    native._load.cache_clear()
    try:
        assert native.sort_pool_kernel() is None
        assert "no C compiler" in native.sort_pool_status()
        torch.manual_seed(0)
        agg = ElementwiseAggregator(3, 8, 16, 5)
        s, z = torch.randn(2, 4, 3).bfloat16(), torch.randn(2, 8).bfloat16()
        loss, grad = agg.squared_error(s, z)(s)
        ref_loss, ref_grad = agg.squared_error(s, z, native=False)(s)
        assert torch.equal(loss, ref_loss) and torch.equal(grad, ref_grad)
    finally:
        native._load.cache_clear()


def test_sslr_native_0_disables_the_kernel(monkeypatch):
    monkeypatch.setenv("SSLR_NATIVE", "0")
    native._load.cache_clear()
    try:
        assert native.sort_pool_kernel() is None
        assert native.sort_pool_status() == "disabled by SSLR_NATIVE=0"
    finally:
        native._load.cache_clear()


def test_the_kernel_builds_into_an_empty_cache_and_is_reused(monkeypatch, tmp_path):
    if native._compiler() is None:  # pragma: no cover
        pytest.skip("no C compiler")
    monkeypatch.setenv("SSLR_CACHE_DIR", str(tmp_path / "cache"))
    native._load.cache_clear()
    try:
        assert native.sort_pool_kernel() is not None, native.sort_pool_status()
        built = list((tmp_path / "cache").iterdir())
        # the library and the record of its digest, no temporary file left beside them
        assert sorted(p.name.split(".", 1)[1] for p in built) == ["so", "so.sha256"]
        native._load.cache_clear()
        monkeypatch.setattr(native, "_compiler", lambda: None)  # a second process loads the cached build
        assert native.sort_pool_kernel() is not None
    finally:
        native._load.cache_clear()


def test_a_cpu_without_avx2_keeps_the_torch_ops(monkeypatch):
    if native._compiler() is None:  # pragma: no cover
        pytest.skip("no C compiler")
    real_cdll = native.ctypes.CDLL

    class WithoutAVX2:
        def __init__(self, path: str) -> None:
            self.sslr_sort_pool_init = real_cdll(path).sslr_sort_pool_init
            self.sslr_sort_pool_vectorised = lambda: 0

    monkeypatch.setattr(native.ctypes, "CDLL", WithoutAVX2)
    native._load.cache_clear()
    try:
        assert native.sort_pool_kernel() is None
        assert "no AVX2" in native.sort_pool_status()
    finally:
        native._load.cache_clear()


def test_a_compiler_that_fails_leaves_the_torch_ops_and_says_why(monkeypatch, tmp_path):
    failing = tmp_path / "cc"
    failing.write_text("#!/bin/sh\necho 'error: no such target' >&2\nexit 3\n")
    failing.chmod(0o755)
    monkeypatch.setenv("SSLR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(native, "_compiler", lambda: str(failing))
    native._load.cache_clear()
    try:
        assert native.sort_pool_kernel() is None
        assert native.sort_pool_status() == "could not be built or loaded: cc exited with 3: error: no such target"
        assert list((tmp_path / "cache").iterdir()) == []  # nothing half-written left behind
    finally:
        native._load.cache_clear()
