"""SRN's inner loop: how it is differentiated (--inner-grad), its precision policy, and no host syncs in it."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_model
from sslr_cli.config import ModelConfig, parse_inner_grad
from sslr_cli.errors import SSLRError
from sslr_cli.models import SetAutoencoder, SetRefiner
from sslr_cli.models.aggregator import ElementwiseAggregator
from sslr_cli.models.fspool import sort_descending
from sslr_cli.models.relation_encoder import RelationAggregator


def outer_step(cfg: ModelConfig, x: torch.Tensor, seed: int = 0, bf16: bool = False, state: dict | None = None):
    """The refined set and every parameter's gradient of the summed squared error, from the same weights."""
    torch.manual_seed(seed)
    model = SetAutoencoder(cfg).train()
    if state is not None:
        model.load_state_dict(state)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        enc, rec = model(x)
    ((rec.image.float() - x) ** 2).sum().backward()
    return enc, model, {n: p.grad for n, p in model.named_parameters()}


def group_grads(model: SetAutoencoder) -> dict[str, torch.Tensor]:
    enc = model.encoder
    groups = {"trunk": enc.trunk, "H_embed": enc.embed, "H_agg mlp": enc.refiner.agg.mlp,
              "FSPool": enc.refiner.agg.pool, "decoder": model.decoder}
    return {k: torch.cat([p.grad.flatten() for p in m.parameters()]) for k, m in groups.items()}


@pytest.mark.parametrize("init_mode", ["detached", "learned"])
def test_truncated_r_is_unrolled_exactly(init_mode):
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    base = tiny_model(inner_steps=4, init_mode=init_mode)
    enc_u, _, g_u = outer_step(replace(base, inner_grad="unrolled"), x)
    for spec in ("truncated:4", "truncated:9"):
        enc_t, _, g_t = outer_step(replace(base, inner_grad=spec), x)
        assert torch.equal(enc_t.set, enc_u.set)
        for name, g in g_u.items():
            assert (g is None and g_t[name] is None) or torch.equal(g, g_t[name]), (spec, name)


def test_every_mode_refines_to_the_same_set_and_trains_h_agg_h_embed_and_trunk():
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    base = tiny_model(inner_steps=4)
    enc_u, _, _ = outer_step(base, x)
    for spec in ("implicit", "truncated:1", "truncated:2"):
        enc, model, _ = outer_step(replace(base, inner_grad=spec), x)
        assert torch.equal(enc.set, enc_u.set), spec  # only the backward pass differs
        assert torch.equal(enc.inner_losses, enc_u.inner_losses)
        for name, g in group_grads(model).items():
            assert g.abs().sum() > 0, (spec, name)


def graph_nodes(t: torch.Tensor) -> int:
    seen, todo = set(), [t.grad_fn]
    while todo:
        fn = todo.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        todo.extend(nxt for nxt, _ in fn.next_functions)
    return len(seen)


def test_implicit_graph_does_not_grow_with_r_and_unrolled_does():
    refiner = SetRefiner(ElementwiseAggregator(3, 8, 16, 5), lr=0.05).train()
    s0, z = torch.randn(2, 4, 3), torch.randn(2, 8, requires_grad=True)
    nodes = {(mode, r): graph_nodes(SetRefiner(refiner.agg, 0.05, 0.5, mode).train()(s0, z, r).set)
             for mode in ("implicit", "unrolled", "truncated:2") for r in (3, 12)}
    assert nodes["implicit", 3] == nodes["implicit", 12]
    assert nodes["truncated:2", 3] == nodes["truncated:2", 12]
    assert nodes["unrolled", 12] > 3 * nodes["unrolled", 3] / 2


def test_implicit_gradient_points_where_the_unrolled_one_does_at_a_converged_inner_loop():
    # many small inner steps, so S_r is (nearly) the fixed point the implicit function theorem assumes
    cfg = tiny_model(inner_steps=100, inner_lr=0.02, decoder_width=8, embed_dim=8)
    x = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    _, m_u, _ = outer_step(cfg, x)
    _, m_i, _ = outer_step(replace(cfg, inner_grad="implicit"), x)
    gu, gi = group_grads(m_u), group_grads(m_i)
    for name in gu:
        assert F.cosine_similarity(gu[name], gi[name], dim=0) > 0.9, name


class HostSyncCounter:
    """Counts Python-level tensor -> host conversions (item, float, int, bool, tolist) while active."""

    NAMES = ("item", "tolist", "__float__", "__int__", "__bool__", "__index__")

    def __init__(self, monkeypatch):
        self.calls: list[str] = []
        self.active = False
        for name in self.NAMES:
            original = getattr(torch.Tensor, name)

            def counted(t, *a, _name=name, _original=original, **k):
                if self.active:
                    self.calls.append(_name)
                return _original(t, *a, **k)

            monkeypatch.setattr(torch.Tensor, name, counted)


@pytest.mark.parametrize("spec", ["unrolled", "implicit", "truncated:2"])
def test_refinement_loop_has_no_host_sync(monkeypatch, spec):
    counter = HostSyncCounter(monkeypatch)
    model = SetAutoencoder(tiny_model(inner_steps=5, inner_grad=spec)).train()
    x = torch.rand(2, 3, 64, 64)
    refine = model.encoder.refiner.forward

    def watched(*a, **k):
        counter.active = True
        try:
            return refine(*a, **k)
        finally:
            counter.active = False

    model.encoder.refiner.forward = watched
    enc, rec = model(x)
    ((rec.image - x) ** 2).sum().backward()
    with torch.no_grad():
        z = model.encoder.embed(model.encoder.trunk(x))  # batch statistics, as in the training forward
    model.eval()
    with torch.no_grad():
        enc_eval, _ = model(x)
    assert counter.calls == []
    # the counter does see a conversion (the test can fail), and reading the losses is one call, after the loop
    counter.active = True
    losses = enc.inner_losses.tolist()
    assert counter.calls == ["tolist"] and len(losses) == 5 and len(enc_eval.inner_losses) == 5
    counter.active = False
    assert losses[0] == pytest.approx(model.encoder.refiner.inner_loss(enc.initial_set, z), rel=1e-5)


@pytest.mark.parametrize("spec", ["truncated", "truncated:0", "truncated:-1", "truncated:x", "implicit:2", "exact"])
def test_bad_inner_grad_is_refused_in_one_line(spec):
    with pytest.raises(SSLRError, match="--inner-grad") as err:
        tiny_model(inner_grad=spec).validate()
    assert "\n" not in str(err.value)
    with pytest.raises(SSLRError):
        parse_inner_grad(spec)
    with pytest.raises(SSLRError, match="--refine-precision"):
        tiny_model(refine_precision="bf16").validate()


def test_train_cli_refuses_a_bad_inner_grad(circles_file):
    from test_cli import one_line_error, run

    one_line_error(run("train", circles_file, "--inner-grad", "truncated:0", "--preset", "tiny"), "--inner-grad", "truncated:0")


def test_fp32_refinement_under_bf16_autocast_is_the_fp32_refinement_exactly():
    torch.manual_seed(4)
    agg = ElementwiseAggregator(3, 8, 16, 5)
    s0, z = torch.randn(2, 4, 3), torch.randn(2, 8, requires_grad=True)
    results = {}
    for precision, bf16 in (("fp32", False), ("fp32", True), ("autocast", True)):
        refiner = SetRefiner(agg, 0.05, 0.5, precision=precision).train()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = refiner(s0, z, 4)
        grads = torch.autograd.grad(out.set.float().pow(2).sum(), [z, *agg.parameters()])
        results[precision, bf16] = (out.set, grads)
    (s_ref, g_ref), (s_fp32, g_fp32), (s_bf16, _) = results.values()
    assert not torch.allclose(s_bf16, s_ref, atol=1e-4)  # the "autocast" policy does run the loop in bf16
    assert torch.equal(s_fp32, s_ref) and all(torch.equal(a, b) for a, b in zip(g_fp32, g_ref))


def test_fp32_refinement_keeps_whole_model_gradients_close_to_fp32_after_some_training():
    """Every group's gradient cosine against an all-fp32 model above 0.9, with trunk and decoder in bf16.

    The state: 30 Adam steps (lr 1e-2, batch 16) on 64 circle images from seed 0, a small model. The
    refinement amplifies the bf16 rounding of the trunk and decoder, so how close the gradients stay depends
    on the state and on the kernels of the torch build: with the locked versions the groups' cosines were
    0.954-1.000 in this state (0.942-1.000 over seeds 0-2; an earlier environment gave > 0.99 here). The
    fp32 loop itself is exact (the test above); this one guards against a gradient bf16 turns around.
    """
    from sslr_cli.data.circles import generate_circles

    imgs = torch.from_numpy(generate_circles(64, seed=0)["images"]).permute(0, 3, 1, 2).float() / 255
    cfg = tiny_model(encoder_width=4, decoder_width=8, agg_hidden=16, embed_dim=16, set_size=4, element_dim=4, inner_steps=5)
    torch.manual_seed(0)
    model = SetAutoencoder(cfg).train()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for i in range(30):
        x = imgs[(i * 16) % 64:(i * 16) % 64 + 16]
        _, rec = model(x)
        loss = ((rec.image - x) ** 2).sum() / 16
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, state = imgs[:16], model.state_dict()
    _, m_ref, _ = outer_step(cfg, x, state=state)
    _, m_fp32, _ = outer_step(replace(cfg, refine_precision="fp32"), x, bf16=True, state=state)
    ref, mixed = group_grads(m_ref), group_grads(m_fp32)
    for name in ref:
        assert F.cosine_similarity(ref[name], mixed[name], dim=0) > 0.9, name


# ----------------------------------------------------------------------------- the graph-free inner steps' fast path
def autograd_value_and_grad(agg, s, z):
    s = s.detach().requires_grad_(True).clone()
    loss = (agg(s) - z).pow(2).sum()
    return loss.detach(), torch.autograd.grad(loss, s)[0]


def with_ties(s: torch.Tensor) -> torch.Tensor:
    """Equal elements tie in every feature that FSPool sorts."""
    s = s.clone()
    if s.shape[1] > 1:
        s[:, 1] = s[:, 0]
        s[0, -1] = s[0, 0]
    return s


@pytest.mark.parametrize("n", [1, 3, 8, 16, 20])
def test_fast_value_and_gradient_is_autograds_also_at_ties(n):
    torch.manual_seed(n)
    agg = ElementwiseAggregator(3, 8, 16, 5)
    s, z = with_ties(torch.randn(4, n, 3)), torch.randn(4, 8)
    loss, grad = agg.squared_error(s, z)(s)
    ref_loss, ref_grad = autograd_value_and_grad(agg, s, z)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-6, atol=0)
    if n > 16:  # torch's sort orders ties its own way beyond 16 elements: compare away from them
        ref_grad, grad = ref_grad[:, 2:-1], grad[:, 2:-1]
    torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-7)
    if 1 < n <= 16:  # the tied elements get different piece weights: a tie sent the other way would fail above
        assert not torch.allclose(ref_grad[:, 0], ref_grad[:, 1])


@pytest.mark.parametrize("n", [3, 16])
def test_fast_value_and_gradient_follows_bf16_autocast(n):
    torch.manual_seed(0)
    agg = ElementwiseAggregator(3, 8, 16, 5)
    s, z = with_ties(torch.randn(4, n, 3)).bfloat16(), torch.randn(4, 8).bfloat16()  # as H_set, H_embed give them
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, grad = agg.squared_error(s, z)(s)
        ref_loss, ref_grad = autograd_value_and_grad(agg, s, z)
    assert loss.dtype == ref_loss.dtype == grad.dtype == torch.bfloat16
    torch.testing.assert_close(loss, ref_loss, rtol=1.6e-2, atol=0)
    torch.testing.assert_close(grad, ref_grad, rtol=1.6e-2, atol=1e-3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_sort_descending_is_torchs_sort_with_ties_signed_zeros_and_infinities(dtype):
    x = torch.randn(3, 16, 5, generator=torch.Generator().manual_seed(2)).to(dtype)
    x[:, 2] = x[:, 7]
    x[:, 4], x[:, 9] = 0.0, -0.0
    x[0, 3], x[1, 5], x[2, 1], x[2, 11] = float("inf"), -float("inf"), 1e-40, -1e-40
    values, idx = sort_descending(x)
    ref = x.sort(dim=1, descending=True)
    assert torch.equal(values, ref.values) and torch.equal(idx, ref.indices)
    y = torch.randn(2, 40, 3).to(dtype)
    y[:, 5] = y[:, 30]
    values, idx = sort_descending(y)
    assert torch.equal(values, y.sort(dim=1, descending=True).values) and torch.equal(y.gather(1, idx), values)
    assert torch.equal(idx.sort(dim=1).values, torch.arange(40)[None, :, None].expand(2, 40, 3))


@pytest.mark.parametrize("bf16", [False, True])
def test_fast_graph_free_steps_refine_to_the_unrolled_set(monkeypatch, bf16):
    torch.manual_seed(3)
    agg = ElementwiseAggregator(10, 16, 32, 20)
    calls = []
    original = agg.squared_error
    monkeypatch.setattr(agg, "squared_error", lambda s, z: calls.append(s.shape) or original(s, z))
    s0, z = torch.randn(4, 16, 10), torch.randn(4, 16, requires_grad=True)
    out = {}
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        if bf16:
            s0, z = s0.bfloat16(), z.bfloat16()
        for mode in ("unrolled", "implicit", "truncated:2"):
            calls.clear()
            out[mode] = SetRefiner(agg, 0.1, 0.5, mode).train()(s0, z, 6)
            assert len(calls) == (mode != "unrolled"), mode  # the fast path runs the graph-free steps
    ref = out["unrolled"]
    for mode in ("implicit", "truncated:2"):
        tol = dict(rtol=1.6e-2, atol=1e-2) if bf16 else dict(rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(out[mode].set, ref.set, **tol)
        torch.testing.assert_close(out[mode].inner_losses, ref.inner_losses, rtol=tol["rtol"], atol=0)
        assert out[mode].set.requires_grad


def test_an_aggregator_without_a_fast_path_keeps_the_autograd_steps():
    torch.manual_seed(5)
    agg = RelationAggregator(3, 8, 16, 5)
    assert not hasattr(agg, "squared_error")
    s0, z = torch.randn(2, 4, 3), torch.randn(2, 8, requires_grad=True)
    sets = {mode: SetRefiner(agg, 0.05, 0.5, mode).train()(s0, z, 4).set for mode in ("unrolled", "implicit", "truncated:1")}
    assert torch.equal(sets["implicit"], sets["unrolled"]) and torch.equal(sets["truncated:1"], sets["unrolled"])
