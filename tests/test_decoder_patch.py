"""F's last layer in bf16 on a CPU as a matmul and a fold (models/decoder.patch_transpose_conv): the plain
transposed convolution's values (bit for bit on the CPUs measured, at most one bf16 rounding step apart on any)
and gradients (bit for bit), and the plain layer everywhere else."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sslr_cli.models.decoder import ElementDecoder, patch_transpose_conv


def _same_up_to_one_bf16_step(a: torch.Tensor, b: torch.Tensor) -> None:
    """Equal bits on the CPUs measured (studies/cpu-step); elsewhere oneDNN's convolution may sum the c products
    in another order, so a value may round to the neighbouring bf16 number, never further."""
    assert a.dtype == b.dtype == torch.bfloat16
    torch.testing.assert_close(a.float(), b.float(), rtol=2.0 ** -7, atol=1e-30)


def _both(h: torch.Tensor, weight: torch.Tensor, g: torch.Tensor):
    """(output, grad h, grad weight) of the plain layer and of the patch path, under bf16 autocast."""
    out = []
    for fn in (lambda a, w: F.conv_transpose2d(a, w, stride=w.shape[-1]), patch_transpose_conv):
        a, w = h.detach().clone().requires_grad_(True), weight.detach().clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = fn(a, w)
        y.backward(g.to(y.dtype))
        out.append((y.detach(), a.grad, w.grad))
    return out


@pytest.mark.parametrize("m, c, side, seed", [(6, 4, 16, 0), (5, 32, 16, 1), (3, 64, 16, 2), (2, 8, 32, 3)])
def test_patch_layer_gives_the_convolutions_bits(m, c, side, seed):
    gen = torch.Generator().manual_seed(seed)
    h = torch.randn(m, c, side, side, generator=gen).bfloat16()  # F's hidden layer is bf16 under autocast
    weight = torch.randn(c, 3, 4, 4, generator=gen) * 0.2
    g = torch.randn(m, 3, 4 * side, 4 * side, generator=gen)
    (y0, gh0, gw0), (y1, gh1, gw1) = _both(h, weight, g)
    assert y1.dtype == torch.bfloat16 and y1.shape == (m, 3, 4 * side, 4 * side)
    _same_up_to_one_bf16_step(y0, y1)
    assert torch.equal(gh0, gh1) and gh1.dtype == torch.bfloat16  # the same backward call on the same inputs
    assert torch.equal(gw0, gw1) and gw1.dtype == torch.float32


def test_patch_layer_places_each_patch():
    """A hand-made case: one input pixel, one channel, maps to its own 4 x 4 patch of the weights."""
    h = torch.zeros(1, 1, 2, 2, dtype=torch.bfloat16)
    h[0, 0, 1, 0] = 2.0
    weight = torch.arange(48, dtype=torch.float32).view(1, 3, 4, 4)
    y = patch_transpose_conv(h, weight)
    expected = torch.zeros(1, 3, 8, 8)
    expected[0, :, 4:8, 0:4] = 2.0 * weight[0]
    assert torch.equal(y.float(), expected)


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_decoder_with_and_without_the_patch_layer(precision):
    torch.manual_seed(0)
    dec = ElementDecoder(5, width=8, image_size=64).train()
    x = torch.randn(6, 5)
    results = []
    for patch in (False, True):
        dec.patch_last_layer = patch
        dec.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            y = dec(x)
        (y.float() * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        results.append((y.detach(), {n: p.grad.clone() for n, p in dec.named_parameters()}))
    del dec.patch_last_layer  # back to the class's default
    (y0, g0), (y1, g1) = results
    assert y0.dtype == (torch.bfloat16 if precision == "bf16" else torch.float32)
    if precision == "bf16":
        _same_up_to_one_bf16_step(y0, y1)
    else:  # float32: the plain layer both times
        assert torch.equal(y0, y1)
    assert all(torch.equal(g0[n], g1[n]) for n in g0)  # the backward never reads the forward's output


def test_patch_layer_only_in_bf16_on_a_cpu(monkeypatch):
    calls = []
    monkeypatch.setattr("sslr_cli.models.decoder.patch_transpose_conv", lambda h, w: calls.append(1) or F.conv_transpose2d(h, w.to(h.dtype), stride=4))
    dec = ElementDecoder(5, width=4, image_size=64)
    x = torch.randn(2, 5)
    dec(x)  # float32: the plain layer
    assert calls == []
    with torch.autocast("cpu", dtype=torch.bfloat16):
        dec(x)
    assert calls == [1]
    dec.bfloat16()(x.bfloat16())  # a bf16 model without autocast
    assert calls == [1, 1]
