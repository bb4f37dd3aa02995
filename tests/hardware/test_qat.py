"""Quantization-aware training hooks: fake-quantized weights, straight-through gradients, and a
small task where QAT fine-tuning recovers what post-training quantization loses."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils import parametrize

import spikeforge as sf
from spikeforge.errors import ParameterError
from spikeforge.hardware import prepare_qat, remove_qat
from spikeforge.hardware.qat import fake_quantize
from spikeforge.training.losses import spike_count_cross_entropy


def _task(gen: torch.Generator, n: int = 256):
    """Four classes of Poisson inputs (20 channels, 25 steps); each class drives its own channels."""
    labels = torch.randint(0, 4, (n,), generator=gen)
    rates = torch.full((n, 20), 0.05)
    for c in range(4):
        rates[labels == c, 5 * c : 5 * c + 5] = 0.35
    x = (torch.rand(25, n, 20, generator=gen) < rates).float()
    return x, labels


def _net(seed: int) -> sf.Sequential:
    gen = torch.Generator().manual_seed(seed)
    l1 = torch.nn.utils.skip_init(torch.nn.Linear, 20, 16)
    l2 = torch.nn.utils.skip_init(torch.nn.Linear, 16, 4)
    with torch.no_grad():
        for lin in (l1, l2):
            lin.weight.copy_(4 * torch.randn(lin.weight.shape, generator=gen) / lin.in_features**0.5)
            lin.bias.zero_()
    return sf.Sequential(
        l1, sf.neurons.LIF(16, tau_mem=10.0, dt=1.0), l2, sf.neurons.LIF(4, tau_mem=10.0, dt=1.0)
    )


def _train(net, x, y, steps: int, lr: float) -> None:
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        out, _ = net(x)
        spike_count_cross_entropy(out, y).backward()
        opt.step()


def _accuracy(net, x, y) -> float:
    with torch.no_grad():
        out, _ = net(x)
    return float((out.sum(0).argmax(-1) == y).float().mean())


def test_fake_quantize_rounds_to_the_grid_with_a_straight_through_gradient():
    w = torch.tensor([0.9, -0.31, 0.02, -1.0], requires_grad=True)
    q = fake_quantize(w, 3)  # scale 1/3: levels -4..3
    assert torch.allclose(q, torch.tensor([1.0, -1 / 3, 0.0, -1.0]))
    q.sum().backward()
    assert torch.equal(w.grad, torch.ones(4))


def test_qat_weights_use_the_target_bits_and_gradients_flow():
    net = _net(0)
    prepare_qat(net, "brainscales2")  # 6 bits
    assert parametrize.is_parametrized(net[0], "weight")
    assert net[0].weight.unique().numel() <= 2**6
    x, y = _task(torch.Generator().manual_seed(0), 32)
    out, _ = net(x)
    spike_count_cross_entropy(out, y).backward()
    grad = net[0].parametrizations.weight.original.grad
    assert grad is not None and bool(torch.isfinite(grad).all()) and float(grad.abs().sum()) > 0
    with pytest.raises(ParameterError, match="already prepared"):
        prepare_qat(net, "loihi2")
    float_w = net[0].parametrizations.weight.original.detach().clone()
    remove_qat(net)
    assert not parametrize.is_parametrized(net[0], "weight")
    assert torch.equal(net[0].weight.detach(), float_w)


def test_qat_fine_tuning_beats_post_training_quantization_at_low_bits():
    gen = torch.Generator().manual_seed(1)
    x, y = _task(gen)
    x_test, y_test = _task(gen)
    net = _net(1)
    _train(net, x, y, 80, 2e-2)
    acc_float = _accuracy(net, x_test, y_test)
    assert acc_float > 0.8
    prepare_qat(net, "xylo-audio2", bits=2)  # ternary weights: post-training rounding hurts
    acc_ptq = _accuracy(net, x_test, y_test)
    _train(net, x, y, 40, 1e-2)
    acc_qat = _accuracy(net, x_test, y_test)
    remove_qat(net, keep_quantized=True)
    assert net[0].weight.unique().numel() <= 3
    assert _accuracy(net, x_test, y_test) == acc_qat
    print(f"float {acc_float:.3f} PTQ(2 bits) {acc_ptq:.3f} QAT {acc_qat:.3f}")
    assert acc_qat >= acc_ptq


def test_bad_arguments():
    with pytest.raises(ParameterError, match="bits"):
        prepare_qat(_net(0), "loihi2", bits=1)
    with pytest.raises(ParameterError, match="no Linear"):
        prepare_qat(sf.neurons.LIF(3), "loihi2")
