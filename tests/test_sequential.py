"""Sequential: stateless layers applied to the whole sequence at once, neuron modules scanned with
their state threaded through, and ``(output, states)`` returned."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge import Sequential
from spikeforge.neurons import LIF, LIFState

F64 = torch.float64


def shd_like(seed: int = 0) -> Sequential:
    torch.manual_seed(seed)  # only to initialise the Linear weights reproducibly
    model = Sequential(nn.Linear(700, 64), LIF(64, tau_syn=5.0), nn.Linear(64, 20), LIF(20, tau_syn=5.0))
    with torch.no_grad():  # mostly excitatory weights, so that both layers fire at moderate rates
        model[0].weight.abs_().mul_(0.3)
        model[2].weight.abs_().mul_(0.5)
    return model.double()


def scaled_input(gen: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    return (torch.rand(shape, generator=gen, dtype=F64) < 0.1).to(F64) * 3.0  # sparse input spikes


@pytest.fixture
def model():
    with torch.random.fork_rng():
        return shd_like()


def test_shapes_and_states(model, gen):
    x = scaled_input(gen, (40, 3, 700))
    out, states = model(x)
    assert out.shape == (40, 3, 20)
    assert out.dtype == F64
    assert len(states) == 4
    assert states[0] is None and states[2] is None
    assert isinstance(states[1], LIFState) and states[1].v.shape == (3, 64)
    assert isinstance(states[3], LIFState) and states[3].v.shape == (3, 20)
    assert set(out.unique().tolist()) <= {0.0, 1.0}


def test_equals_applying_the_layers_by_hand(model, gen):
    x = scaled_input(gen, (40, 3, 700))
    out, states = model(x)
    lin1, lif1, lin2, lif2 = model
    h, s1 = lif1(lin1(x))
    assert h.sum() > 0, "the hidden layer must spike for this test to mean something"
    y, s2 = lif2(lin2(h))
    assert torch.equal(out, y)
    for a, b in zip(states[1], s1):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)
    for a, b in zip(states[3], s2):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("split", [1, 17, 39])
def test_state_threading_two_halves_equal_whole(model, gen, split):
    x = scaled_input(gen, (40, 3, 700))
    whole, states = model(x)
    first, mid = model(x[:split])
    second, end = model(x[split:], mid)
    assert torch.equal(whole, torch.cat([first, second]))
    for i in (1, 3):
        for a, b in zip(states[i], end[i]):
            torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)


def test_gradients_reach_every_linear_layer(model, gen):
    x = scaled_input(gen, (40, 3, 700))
    out, states = model(x)
    assert out.sum() > 0
    loss = out.sum() + states[3].v.pow(2).sum()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_conv_lif_flatten_linear_lif(gen):
    with torch.random.fork_rng():
        torch.manual_seed(1)
        model = Sequential(
            nn.Conv2d(2, 4, kernel_size=3, padding=1),
            LIF((4, 8, 8), tau_mem=10.0),
            nn.Flatten(),
            nn.Linear(4 * 8 * 8, 10),
            LIF(10),
        ).double()
        with torch.no_grad():
            model[0].weight.abs_()
            model[3].weight.abs_().mul_(0.2)
    x = 2.0 * torch.rand((25, 3, 2, 8, 8), generator=gen, dtype=F64)
    out, states = model(x)
    assert out.shape == (25, 3, 10)
    assert states[1].v.shape == (3, 4, 8, 8)
    conv, lif1, flat, lin, lif2 = model
    h, _ = lif1(conv(x.reshape(75, 2, 8, 8)).reshape(25, 3, 4, 8, 8))
    assert h.sum() > 0
    y, _ = lif2(lin(h.reshape(25, 3, 256)))
    assert torch.equal(out, y)
    out.sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0


def test_dropout_is_applied_once_to_the_whole_sequence(gen):
    """Stateless modules see all time steps at once ([T*B, features]): Dropout is called once per
    forward and draws its mask for the whole sequence in that call (independent per time step)."""
    with torch.random.fork_rng():
        torch.manual_seed(2)
        model = Sequential(nn.Linear(30, 16), nn.Dropout(0.5), LIF(16), nn.Linear(16, 4), LIF(4)).double()
    calls: list[tuple[int, ...]] = []
    model[1].register_forward_hook(lambda mod, inp, out: calls.append(tuple(inp[0].shape)))
    x = torch.rand((20, 3, 30), generator=gen, dtype=F64) * 2
    model.train()
    with torch.random.fork_rng():
        torch.manual_seed(7)
        out, _ = model(x)
        torch.manual_seed(7)
        lin1, drop, lif1, lin2, lif2 = model
        h = drop(lin1(x.reshape(60, 30))).reshape(20, 3, 16)
        y, _ = lif2(lin2(lif1(h)[0]))
    assert calls[0] == (60, 16)
    assert len(calls) == 2  # one call from the model, one from the manual reference
    assert torch.equal(out, y)

    # in eval mode Dropout is the identity
    model.eval()
    calls.clear()
    out_eval, _ = model(x)
    ref, _ = Sequential(model[0], model[2], model[3], model[4])(x)
    assert torch.equal(out_eval, ref)
    assert calls == [(60, 16)]


def test_dropout_mask_differs_between_time_steps(gen):
    """Documents the behaviour: the mask is drawn per element of the merged [T*B] axis, so it is
    not shared across time steps (unlike spikingjelly's per-sequence Dropout)."""
    with torch.random.fork_rng():
        torch.manual_seed(3)
        model = Sequential(nn.Dropout(0.5), LIF(50)).double()
        model.train()
        seen = {}
        model[0].register_forward_hook(lambda mod, inp, out: seen.setdefault("out", out))
        model(torch.ones((6, 2, 50), dtype=F64))
    kept = (seen["out"] != 0).reshape(6, 2, 50)
    assert not all(torch.equal(kept[0], kept[t]) for t in range(1, 6))


def test_delay_layer_runs_inside_sequential_with_its_state():
    import spikeforge as sf

    gen = torch.Generator().manual_seed(0)
    delay = sf.plasticity.LearnableDelay(4, 3, max_delay=5.0, dt=1.0, generator=gen)
    model = sf.Sequential(delay, sf.neurons.LIF(3))
    x = (torch.rand(20, 2, 4, generator=gen) < 0.3).float()
    out, states = model(x)
    y, delay_state = delay(x)
    expected, _ = sf.neurons.LIF(3)(y)
    assert torch.equal(out, expected)
    first, s1 = model(x[:8])
    second, _ = model(x[8:], s1)
    assert torch.equal(torch.cat([first, second]), out)
