"""Losses: against torch's cross-entropy on the readout computed by hand, first-spike times
against hand-computed values and gradients, training moves the target's first spike earlier,
and bad input raises clear errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikeforge import Sequential
from spikeforge.errors import DTypeError, ParameterError, ShapeError
from spikeforge.neurons import LIF
from spikeforge.training import (
    FirstSpikeTimeLoss,
    MaxMembraneCrossEntropy,
    SpikeCountCrossEntropy,
    first_spike_time_loss,
    first_spike_times,
    max_membrane_cross_entropy,
    spike_count_cross_entropy,
)

F64 = torch.float64


def spikes(gen: torch.Generator, shape: tuple[int, ...], p: float = 0.3) -> torch.Tensor:
    return (torch.rand(shape, generator=gen, dtype=F64) < p).to(F64)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_spike_count_cross_entropy_is_cross_entropy_of_counts(gen, reduction):
    out = spikes(gen, (25, 6, 4))
    y = torch.randint(0, 4, (6,), generator=gen)
    expected = F.cross_entropy(out.sum(dim=0), y, reduction=reduction)
    torch.testing.assert_close(
        spike_count_cross_entropy(out, y, reduction=reduction), expected, rtol=0, atol=0
    )
    torch.testing.assert_close(SpikeCountCrossEntropy(reduction=reduction)(out, y), expected, rtol=0, atol=0)


def test_spike_count_cross_entropy_hand_value():
    out = torch.zeros(10, 2, 3, dtype=F64)
    out[:4, 0, 1] = 1.0
    out[:2, 1, 2] = 1.0
    # sample 0: logits (0, 4, 0) -> log(1 + 2 e^-4); sample 1: logits (0, 0, 2) -> log(1 + 2 e^-2)
    expected = (
        torch.log1p(2 * torch.exp(torch.tensor(-4.0, dtype=F64)))
        + torch.log1p(2 * torch.exp(torch.tensor(-2.0, dtype=F64)))
    ) / 2
    torch.testing.assert_close(
        spike_count_cross_entropy(out, torch.tensor([1, 2])), expected, rtol=1e-14, atol=0
    )


def test_max_membrane_cross_entropy_is_cross_entropy_of_the_peak(gen):
    v = torch.randn(30, 5, 3, generator=gen, dtype=F64)
    y = torch.tensor([0, 1, 2, 2, 1])
    expected = F.cross_entropy(v.max(dim=0).values, y)
    torch.testing.assert_close(max_membrane_cross_entropy(v, y), expected, rtol=0, atol=0)
    torch.testing.assert_close(MaxMembraneCrossEntropy()(v, y), expected, rtol=0, atol=0)


def test_first_spike_times_hand_values():
    z = torch.zeros(8, 1, 3, dtype=F64)
    z[2, 0, 0] = 1.0
    z[5, 0, 0] = 1.0  # a later spike does not matter
    z[0, 0, 1] = 1.0  # first step: t = 0
    # neuron 2 never fires: T * dt
    torch.testing.assert_close(first_spike_times(z, dt=0.5), torch.tensor([[1.0, 0.0, 4.0]], dtype=F64))


def test_first_spike_time_gradient_is_the_effect_of_one_spike():
    z = torch.tensor([0.0, 0.0, 1.0, 0.0, 1.0, 0.0], dtype=F64, requires_grad=True)
    first_spike_times(z[:, None], dt=1.0).sum().backward()
    # a spike at 0 or 1 would move the first spike (at 2) 2 or 1 steps earlier; removing the one
    # at 2 moves it to 4; later steps do not matter
    assert z.grad.tolist() == [-2.0, -1.0, -2.0, 0.0, 0.0, 0.0]
    z2 = (torch.rand(7, 2, 3, generator=torch.Generator().manual_seed(3), dtype=F64) < 0.3).to(F64)
    assert torch.autograd.gradcheck(lambda s: first_spike_times(s, dt=0.5), (z2.requires_grad_(),))


def test_first_spike_time_loss_hand_value():
    out = torch.zeros(10, 1, 2, dtype=F64)
    out[2, 0, 0] = 1.0
    out[6, 0, 1] = 1.0
    # default temperature T*dt/10 = 1 ms: logits (-2, -6)
    expected = torch.log1p(torch.exp(torch.tensor(-4.0, dtype=F64)))
    torch.testing.assert_close(first_spike_time_loss(out, torch.tensor([0])), expected, rtol=1e-14, atol=0)
    # explicit temperature and the early-target term: + w * t_target / (T dt)
    loss = first_spike_time_loss(out, torch.tensor([1]), dt=2.0, temperature=4.0, target_time_weight=0.5)
    times = torch.tensor([[4.0, 12.0]], dtype=F64)
    expected = F.cross_entropy(-times / 4.0, torch.tensor([1])) + 0.5 * 12.0 / 20.0
    torch.testing.assert_close(loss, expected, rtol=1e-14, atol=0)
    torch.testing.assert_close(
        FirstSpikeTimeLoss(dt=2.0, temperature=4.0, target_time_weight=0.5)(out, torch.tensor([1])), expected
    )


def test_training_the_first_spike_loss_moves_the_target_spike_earlier(gen):
    steps, batch, n_in = 40, 4, 12
    lin = nn.utils.skip_init(nn.Linear, n_in, 3, dtype=F64)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(3, n_in, generator=gen, dtype=F64) * 0.6)
        lin.bias.zero_()
    model = Sequential(lin, LIF(3, tau_mem=10.0).double())
    x = spikes(gen, (steps, batch, n_in), p=0.3)
    target = torch.full((batch,), 2)

    def target_time() -> float:
        with torch.no_grad():
            out, _ = model(x)
        return float(first_spike_times(out)[:, 2].mean())

    before = target_time()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(30):
        out, _ = model(x)
        loss = first_spike_time_loss(out, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = target_time()
    assert after < before - 5.0, (before, after)
    with torch.no_grad():
        out, _ = model(x)
    times = first_spike_times(out)
    assert bool((times[:, 2] < times[:, :2].min(dim=1).values).all()), "the target neuron must fire first"


def test_gradients_reach_the_weights_through_the_spikes(gen):
    lin = nn.utils.skip_init(nn.Linear, 8, 3, dtype=F64)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(3, 8, generator=gen, dtype=F64))
        lin.bias.zero_()
    model = Sequential(lin, LIF(3).double())
    out, _ = model(spikes(gen, (20, 5, 8)))
    spike_count_cross_entropy(out, torch.tensor([0, 1, 2, 0, 1])).backward()
    assert torch.isfinite(lin.weight.grad).all() and lin.weight.grad.abs().sum() > 0


LOSSES = [spike_count_cross_entropy, max_membrane_cross_entropy, first_spike_time_loss]


@pytest.mark.parametrize("loss", LOSSES)
def test_label_out_of_range(loss):
    with pytest.raises(ParameterError, match=r"target labels must be in \[0, 3\).*from 0 to 3"):
        loss(torch.zeros(5, 2, 3), torch.tensor([0, 3]))
    with pytest.raises(ParameterError, match="target labels"):
        loss(torch.zeros(5, 2, 3), torch.tensor([-1, 0]))


@pytest.mark.parametrize("loss", LOSSES)
def test_wrong_output_shape(loss):
    with pytest.raises(ShapeError, match=r"\[T, B, C\].*got shape \[2, 3\]"):
        loss(torch.zeros(2, 3), torch.tensor([0, 1]))
    with pytest.raises(ShapeError, match=r"target must be \[B\] = \[2\]"):
        loss(torch.zeros(5, 2, 3), torch.tensor([0, 1, 2]))
    with pytest.raises(ShapeError, match="T >= 1"):
        loss(torch.zeros(0, 2, 3), torch.tensor([0, 1]))


@pytest.mark.parametrize("loss", LOSSES)
def test_wrong_dtypes(loss):
    with pytest.raises(DTypeError, match="out|v"):
        loss(torch.zeros(5, 2, 3, dtype=torch.int64), torch.tensor([0, 1]))
    with pytest.raises(DTypeError, match="integer class labels"):
        loss(torch.zeros(5, 2, 3), torch.tensor([0.0, 1.0]))
    with pytest.raises(DTypeError, match="torch.Tensor"):
        loss(torch.zeros(5, 2, 3), [0, 1])


def test_bad_settings():
    out, y = torch.zeros(5, 2, 3), torch.tensor([0, 1])
    with pytest.raises(ParameterError, match="reduction"):
        spike_count_cross_entropy(out, y, reduction="max")
    with pytest.raises(ParameterError, match="temperature"):
        first_spike_time_loss(out, y, temperature=0.0)
    with pytest.raises(ParameterError, match="temperature"):
        first_spike_time_loss(out, y, temperature=float("inf"))
    with pytest.raises(ParameterError, match="dt"):
        first_spike_time_loss(out, y, dt=-1.0)
    with pytest.raises(ParameterError, match="target_time_weight"):
        first_spike_time_loss(out, y, target_time_weight=-1.0)
    with pytest.raises(ParameterError, match="reduction"):
        SpikeCountCrossEntropy(reduction="avg")
