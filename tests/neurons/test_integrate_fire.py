"""The leak-free integrate-and-fire neuron: its firing period (analytic), norse's IAF step (the
same spikes and membrane), resets, gradients and errors."""

from __future__ import annotations

import math

import pytest
import torch

import spikeforge as sf
from spikeforge.errors import ParameterError, ShapeError
from spikeforge.neurons import IF, IFParams, IFState, if_step

F64 = torch.float64


@pytest.mark.parametrize("reset", ["to_value", "subtract"])
def test_constant_input_fires_with_the_analytic_period(reset):
    """``v_reset + n r x > v_th`` first at ``n = floor((v_th - v_reset) / (r x)) + 1`` steps; after
    a reset to the value, every n steps; after a subtractive reset the overshoot carries over, so
    the long-run rate is ``r x / (v_th - v_reset)`` spikes per step."""
    x = torch.tensor([0.3, 0.07, 0.45, 0.011], dtype=F64)
    v_th, v_reset, r = 1.2, -0.3, 1.7
    neurons = IF(4, v_th=v_th, v_reset=v_reset, r=r, reset=reset).double()
    steps = 3000
    z, _ = neurons(x.expand(steps, 4))
    for j in range(4):
        times = torch.nonzero(z[:, j]).flatten()
        n = math.floor((v_th - v_reset) / (r * float(x[j]))) + 1
        assert int(times[0]) == n - 1
        if reset == "to_value":
            assert bool((times.diff() == n).all())
        else:
            rate = r * float(x[j]) / (v_th - v_reset)
            assert abs(times.numel() / steps - rate) < 1.0 / steps + 1e-9


def test_matches_norse_iaf_feed_forward_step(gen):
    """norse 1.1.0's ``iaf_feed_forward_step`` (``v += x``, spike above ``v_th``, reset to
    ``v_reset``) on random inputs and per-neuron thresholds: the same spikes and membrane."""
    iaf = pytest.importorskip("norse.torch.functional.iaf")
    n, steps = 12, 200
    v_th = 0.5 + torch.rand(n, generator=gen, dtype=F64)
    v_reset = -0.2 * torch.rand(n, generator=gen, dtype=F64)
    x = torch.randn(steps, 3, n, generator=gen, dtype=F64) * 0.3 + 0.1
    ours = IF(n, v_th=v_th, v_reset=v_reset).double()
    p = iaf.IAFParameters(v_th=v_th, v_reset=v_reset)
    state_n = iaf.IAFFeedForwardState(v=v_reset.expand(3, n).clone())
    state_o = None
    total = 0
    for t in range(steps):
        z_n, state_n = iaf.iaf_feed_forward_step(x[t], state_n, p)
        z_o, state_o = ours.step(x[t], state_o)
        assert torch.equal(z_o, z_n)
        torch.testing.assert_close(state_o.v, state_n.v, rtol=0, atol=1e-12)
        total += int(z_o.sum())
    assert total > 100


def test_step_function_and_surrogate_gradient(gen):
    p = IFParams(torch.tensor(1.0), torch.tensor(0.0), torch.tensor(2.0))
    x = torch.tensor([0.3, 0.6], requires_grad=True)
    z, state = if_step(x, IFState(torch.zeros(2)), p)
    assert z.tolist() == [0.0, 1.0]
    torch.testing.assert_close(state.v, torch.tensor([0.6, 0.0]))
    z.sum().backward()
    assert x.grad is not None and bool((x.grad > 0).all())  # the surrogate passes gradient
    layer = sf.Sequential(torch.nn.Linear(4, 3), IF(3, learnable=("v_th", "r")))
    out, _ = layer(torch.rand(20, 2, 4, generator=gen) * 2)
    out.sum().backward()
    neuron = layer[1]
    assert neuron.v_th_raw.grad is not None and neuron.r.grad is not None


def test_bad_parameters_and_inputs_are_refused():
    with pytest.raises(ParameterError, match="v_reset must be < v_th"):
        IF(2, v_th=0.0, v_reset=0.0)
    with pytest.raises(ParameterError, match="reset"):
        IF(2, reset="zero")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="learnable"):
        IF(2, learnable=("tau_mem",))
    with pytest.raises(ShapeError, match="expects x"):
        IF(3).step(torch.zeros(2, 4))
