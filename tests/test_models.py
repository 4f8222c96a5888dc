"""Model behaviour: shapes, permutation invariance/equivariance, gradients through the refinement."""

from __future__ import annotations

import itertools

import pytest
import torch

from conftest import tiny_model
from sslr_cli.models import FSPool, SetAutoencoder, SetRefiner
from sslr_cli.models.aggregator import ElementwiseAggregator


def test_paper_shapes():
    from sslr_cli.config import PRESETS
    from sslr_cli.models.encoder import ConvTrunk

    trunk = ConvTrunk(64)
    assert trunk(torch.zeros(2, 3, 64, 64)).shape == (2, 2048)
    assert PRESETS["paper"].model.feature_count == 2048


def test_autoencoder_shapes_and_range():
    torch.manual_seed(0)
    model = SetAutoencoder(tiny_model(set_size=4, element_dim=3)).eval()
    enc, rec = model(torch.rand(2, 3, 64, 64))
    assert enc.set.shape == (2, 4, 3)
    assert rec.image.shape == (2, 3, 64, 64) and rec.element_images.shape == (2, 4, 3, 64, 64)
    assert rec.image.min() >= 0 and rec.image.max() <= 1
    # the reconstruction is the clamped sum of the weighted element images
    assert torch.allclose(rec.image, rec.element_images.sum(1).clamp(0, 1))


def test_fspool_permutation_invariant_and_exact_on_small_case():
    pool = FSPool(2, n_pieces=2)
    with torch.no_grad():
        pool.weight.copy_(torch.tensor([[1.0, 0.0, -1.0], [2.0, 2.0, 2.0]]))
    x = torch.tensor([[[1.0, 1.0], [3.0, 2.0], [2.0, 3.0]]])  # (B=1, n=3, C=2)
    # channel 0 sorted 3,2,1 weighted 1,0,-1 -> 2; channel 1 sorted 3,2,1 weighted 2,2,2 -> 12
    assert torch.allclose(pool(x), torch.tensor([[2.0, 12.0]]))
    for perm in itertools.permutations(range(3)):
        assert torch.allclose(pool(x[:, list(perm)]), pool(x))


def test_decoder_and_aggregator_permutation_invariant():
    torch.manual_seed(1)
    model = SetAutoencoder(tiny_model()).eval()
    s = torch.randn(2, 4, 3)
    perm = torch.tensor([2, 0, 3, 1])
    a, b = model.decode(s), model.decode(s[:, perm])
    assert torch.allclose(a.image, b.image, atol=1e-6)
    assert torch.allclose(a.element_images[:, perm], b.element_images, atol=1e-6)
    agg = ElementwiseAggregator(3, 8, 16, 5)
    assert torch.allclose(agg(s), agg(s[:, perm]), atol=1e-6)


def test_refinement_is_permutation_equivariant_and_lowers_inner_loss():
    torch.manual_seed(2)
    refiner = SetRefiner(ElementwiseAggregator(3, 8, 16, 5), lr=0.05, momentum=0.5).eval()
    s0, z = torch.randn(2, 4, 3), torch.randn(2, 8)
    perm = torch.tensor([1, 3, 0, 2])
    out = refiner(s0, z, 10)
    out_p = refiner(s0[:, perm], z, 10)
    assert torch.allclose(out.set[:, perm], out_p.set, atol=1e-5)
    assert out.inner_losses[-1] < out.inner_losses[0]
    assert refiner.inner_loss(out.set, z) < out.inner_losses[0]


@pytest.mark.parametrize("init_mode", ["detached", "learned"])
def test_gradients_flow_through_refinement(init_mode):
    torch.manual_seed(3)
    model = SetAutoencoder(tiny_model(init_mode=init_mode)).train()
    x = torch.rand(3, 3, 64, 64)
    _, rec = model(x)
    ((rec.image - x) ** 2).sum().backward()
    enc = model.encoder

    def has_grad(module):
        return any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())

    assert has_grad(enc.refiner.agg), "H_agg must learn through the differentiated inner loop"
    assert has_grad(enc.embed), "H_embed must learn through z"
    assert has_grad(enc.trunk)
    # the reference code's S0 is a fresh leaf: H_set's projection then gets no gradient
    assert has_grad(enc.set_head) == (init_mode == "learned")


def test_mlp_generator_has_no_refinement_and_trains_h_set():
    model = SetAutoencoder(tiny_model(generator="mlp")).train()
    assert model.encoder.refiner is None and model.encoder.embed is None
    x = torch.rand(2, 3, 64, 64)
    enc, rec = model(x)
    assert torch.equal(enc.set, enc.initial_set)
    ((rec.image - x) ** 2).sum().backward()
    assert model.encoder.set_head.proj.weight.grad.abs().sum() > 0


def test_eval_refinement_builds_no_graph():
    model = SetAutoencoder(tiny_model()).eval()
    with torch.no_grad():
        enc, rec = model(torch.rand(2, 3, 64, 64))
    assert not enc.set.requires_grad and not rec.image.requires_grad
    assert len(enc.inner_losses) == 3


def test_compose_is_softmax_over_elements_times_own_sigmoid():
    """Y_hat = sum_i softmax_i(I) * sigmoid(I_i), clamped, computed here pixel by pixel with math."""
    import math

    from sslr_cli.models.decoder import compose

    logits = torch.tensor([2.0, -1.0, 0.5]).view(1, 3, 1, 1, 1).repeat(1, 1, 3, 1, 2)
    logits[0, :, 1, 0, 1] = torch.tensor([-3.0, 4.0, 0.0])  # another pixel/channel, another winner
    rec = compose(logits)
    for c, x in ((0, 0), (1, 1), (2, 1)):
        values = logits[0, :, c, 0, x].tolist()
        norm = sum(math.exp(v) for v in values)
        expect = [math.exp(v) / norm / (1.0 + math.exp(-v)) for v in values]
        assert rec.element_images[0, :, c, 0, x].tolist() == pytest.approx(expect, rel=1e-6)
        assert float(rec.image[0, c, 0, x]) == pytest.approx(min(1.0, sum(expect)), rel=1e-6)
    # the model composes its decoder's logits exactly so
    torch.manual_seed(4)
    model = SetAutoencoder(tiny_model()).eval()
    s = torch.randn(2, 4, 3)
    with torch.no_grad():
        raw = model.decoder(s.reshape(8, 3)).view(2, 4, 3, 64, 64)
        out = model.decode(s)
    weights = torch.exp(raw) / torch.exp(raw).sum(1, keepdim=True)
    torch.testing.assert_close(out.element_images, weights / (1 + torch.exp(-raw)))


class LinearSum(torch.nn.Module):
    """A linear, permutation-invariant H_agg: H(S) = W sum_i s_i."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, s):
        return s.sum(1) @ self.w.T


@pytest.mark.parametrize("training", [False, True])
def test_inner_loop_is_gradient_descent_with_momentum_by_hand(training):
    """Two steps of Eq. 5 for H(S) = W sum_i s_i, in closed form: grad_{s_i} ||H(S) - z||^2 = 2 W^T (H(S) - z)
    for every element; v_1 = g_0, S_1 = S_0 - lr g_0; v_2 = m v_1 + g_1, S_2 = S_1 - lr v_2."""
    torch.manual_seed(5)
    w = torch.randn(4, 3, dtype=torch.float64)
    s0, z = torch.randn(2, 5, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    lr, m = 0.05, 0.7
    refiner = SetRefiner(LinearSum(w), lr=lr, momentum=m).train(training)

    def grad(s):
        return (2 * (s.sum(1) @ w.T - z) @ w)[:, None, :].expand_as(s)

    def loss(s):
        return float(((s.sum(1) @ w.T - z) ** 2).sum())

    g0 = grad(s0)
    s1 = s0 - lr * g0
    v2 = m * g0 + grad(s1)
    s2 = s1 - lr * v2
    out = refiner(s0.clone().requires_grad_(training), z, 2)
    torch.testing.assert_close(out.set.detach(), s2, rtol=1e-12, atol=1e-12)
    assert out.inner_losses == pytest.approx([loss(s0), loss(s1)], rel=1e-12)
    assert refiner(s0, z, r=1).set.detach().allclose(s1, rtol=1e-12, atol=1e-12)  # the steps argument is r
