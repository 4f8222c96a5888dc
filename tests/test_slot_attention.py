"""Slot Attention as a set generator: equivariance in the slots' initial order, gradients, overfitting,
evaluation determinism."""

from __future__ import annotations

import pytest
import torch

from conftest import tiny_model
from sslr_cli.data.circles import CircleSpec, generate_circles
from sslr_cli.errors import SSLRError
from sslr_cli.models.decoder import ElementDecoder, compose
from sslr_cli.models.slot_attention import SlotAttention, SlotAttentionConfig, SlotGenerator, position_grid

SLOT = SlotAttentionConfig(slot_size=16, mlp_hidden=16)


def generator(**kw) -> SlotGenerator:
    return SlotGenerator(tiny_model(generator="slot", **kw), SLOT)


def test_shapes_and_position_grid():
    torch.manual_seed(0)
    g = generator(set_size=5, element_dim=3)
    enc = g(torch.rand(2, 3, 64, 64))
    assert enc.set.shape == enc.initial_set.shape == (2, 5, 3)
    assert enc.embedding is None and enc.inner_losses == []
    assert g.feature_map(torch.rand(2, 3, 64, 64)).shape == (2, 64, 16)  # 8x8 positions at stride 8
    grid = position_grid(2, 3)
    assert torch.equal(grid[:, :2], torch.tensor([[0, 0], [0, 0.5], [0, 1], [1, 0], [1, 0.5], [1, 1.0]]))
    assert torch.equal(grid[:, 2:], 1 - grid[:, :2])
    with pytest.raises(ValueError, match="noise"):
        g(torch.rand(2, 3, 64, 64), noise=torch.zeros(2, 4, 16))


def test_attention_is_a_softmax_over_slots_then_a_mean_over_inputs():
    torch.manual_seed(0)
    sa = SlotAttention(8, 8, 8, iterations=1, epsilon=0.0)
    attn = sa.attention(torch.randn(2, 6, 8), torch.randn(2, 3, 8))  # (B, N inputs, K slots)
    assert torch.allclose(attn.sum(dim=1), torch.ones(2, 3))  # each slot: weights over inputs sum to 1
    # a hand case: with q = identity, input 0 points at slot 0 and input 1 at slot 1
    q = torch.eye(8)[:2].unsqueeze(0)
    with torch.no_grad():
        sa.q.weight.copy_(torch.eye(8))
    k = torch.zeros(1, 2, 8)
    k[0, 0, 0] = k[0, 1, 1] = 10.0  # input 0 matches slot 0, input 1 matches slot 1
    a = sa.attention(k, q * 10)
    assert a[0, 0, 0] > 0.99 and a[0, 1, 1] > 0.99 and a[0, 1, 0] < 0.01
    # competition is over the slots: two identical slots share every input, one half each
    same = sa.attention(k, torch.eye(8)[:1].expand(2, 8).unsqueeze(0) * 10)
    assert torch.allclose(same[0, :, 0], same[0, :, 1])


def test_permuting_the_initial_noise_permutes_the_slots():
    torch.manual_seed(0)
    g = generator(set_size=6).eval()
    x = torch.rand(3, 3, 64, 64)
    noise = torch.randn(3, 6, SLOT.slot_size)
    perm = torch.tensor([4, 0, 5, 2, 1, 3])
    with torch.no_grad():
        a = g(x, noise=noise)
        b = g(x, noise=noise[:, perm])
    assert torch.allclose(b.set, a.set[:, perm], atol=1e-5)
    assert torch.allclose(b.initial_set, a.initial_set[:, perm], atol=1e-6)
    assert not torch.allclose(a.set[:, 0], a.set[:, 1], atol=1e-3)  # distinct slots: the check is not vacuous


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    g = generator().train()
    dec = ElementDecoder(3, 4, 64)
    enc = g(torch.rand(4, 3, 64, 64))
    b, n, d = enc.set.shape
    logits = dec(enc.set.reshape(b * n, d))
    compose(logits.view(b, n, *logits.shape[1:])).image.sum().backward()
    missing = [name for name, p in g.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient: {missing}"
    assert {"mu", "log_sigma", "attention.gru.weight_hh", "position.weight", "trunk.net.0.weight"} <= dict(g.named_parameters()).keys()


def test_noise_fresh_in_training_fixed_in_eval():
    torch.manual_seed(0)
    g = generator()
    x = torch.rand(2, 3, 64, 64)
    g.eval()
    with torch.no_grad():
        a, b = g(x).set, g(x).set
        alone = g(x[1:]).set  # an image's set does not depend on its batch
    assert torch.equal(a, b)
    assert torch.allclose(alone[0], a[1], atol=1e-6)
    g2 = SlotGenerator(g.cfg, SlotAttentionConfig(slot_size=16, mlp_hidden=16, eval_seed=1)).eval()
    g2.load_state_dict(g.state_dict())
    with torch.no_grad():
        assert not torch.allclose(g2(x).set, a)
    g.train()
    torch.manual_seed(3)
    c = g(x).set
    torch.manual_seed(3)
    d = g(x).set
    e = g(x).set
    assert torch.equal(c, d) and not torch.allclose(d, e)  # the default RNG drives training noise


def test_tiny_model_overfits_eight_images():
    scenes = generate_circles(8, CircleSpec(max_count=3), seed=1)
    x = torch.from_numpy(scenes.arrays["images"]).permute(0, 3, 1, 2).float() / 255
    mean_loss = (x - x.mean(0, keepdim=True)).pow(2).flatten(1).sum(1).mean().item()
    torch.manual_seed(0)
    g = SlotGenerator(tiny_model(generator="slot", encoder_width=8, decoder_width=8, element_dim=6), SLOT)
    dec = ElementDecoder(6, 8, 64)
    params = list(g.parameters()) + list(dec.parameters())
    opt = torch.optim.Adam(params, lr=1e-2)

    def loss() -> torch.Tensor:
        enc = g(x)
        b, n, d = enc.set.shape
        logits = dec(enc.set.reshape(b * n, d))
        return (compose(logits.view(b, n, *logits.shape[1:])).image - x).pow(2).flatten(1).sum(1).mean()

    for _ in range(300):
        opt.zero_grad()
        loss().backward()
        opt.step()
    g.eval(), dec.eval()
    with torch.no_grad():
        final = loss().item()  # with the fixed evaluation noise and batch-norm running statistics
    assert final < 0.5 * mean_loss, (final, mean_loss)


def test_options_are_checked():
    for bad in (dict(iterations=0), dict(slot_size=0), dict(epsilon=-1.0), dict(trunk_blocks=5)):
        with pytest.raises(SSLRError, match="--gen-opt " + next(iter(bad))):
            SlotAttentionConfig(**bad).validate()
    g = SlotGenerator(tiny_model(), SlotAttentionConfig(slot_size=8, mlp_hidden=8, trunk_blocks=4))
    assert g.feature_map(torch.rand(1, 3, 64, 64)).shape == (1, 4, 8)  # the whole trunk: 2x2 positions


def test_built_through_the_registry_with_its_options():
    from sslr_cli.models import SetAutoencoder
    from sslr_cli.models.registry import GENERATORS

    assert GENERATORS["slot"].options is SlotAttentionConfig
    cfg = tiny_model(generator="slot", generator_options={"slot_size": "8", "iterations": "2"})  # CLI strings
    model = SetAutoencoder(cfg)
    assert isinstance(model.encoder, SlotGenerator)
    assert model.encoder.slot == SlotAttentionConfig(slot_size=8, iterations=2)
    assert model.encoder.frozen_parameters() == [] and model.encoder.eager_submodules() == []
    enc, rec = model.eval()(torch.rand(2, 3, 64, 64))
    assert enc.set.shape == (2, 4, 3) and rec.image.shape == (2, 3, 64, 64)
