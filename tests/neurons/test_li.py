"""Leaky integrator: analytic solution, equality with a sub-threshold LIF, gradients, errors."""

import math

import pytest
import torch

import spikeforge as sf
from spikeforge.errors import ParameterError, ShapeError


@pytest.mark.parametrize("dt", [1.0, 0.25, 2.0**-6])
def test_constant_input_follows_the_analytic_charging_curve(dt):
    tau, r, current, v_leak = 20.0, 1.5, 0.75, -0.25  # exact in float32 too
    steps = int(100 / dt)
    li = sf.neurons.LI(3, tau_mem=tau, r=r, v_leak=v_leak, dt=dt).double()
    v, state = li(torch.full((steps, 3), current, dtype=torch.float64))
    t = torch.arange(1, steps + 1, dtype=torch.float64) * dt
    expected = v_leak + r * current * (1 - torch.exp(-t / tau))
    torch.testing.assert_close(v[:, 0], expected, rtol=0, atol=1e-12)
    assert torch.equal(state.v, v[-1])


@pytest.mark.parametrize("tau_syn", [None, 5.0])
@pytest.mark.parametrize("integrator", ["exact", "euler"])
def test_equals_the_membrane_of_a_lif_that_never_fires(tau_syn, integrator):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(60, 4, 5, generator=gen, dtype=torch.float64) * 0.1
    kw = dict(tau_mem=12.0, tau_syn=tau_syn, v_leak=0.1, r=0.7, dt=0.5, integrator=integrator)
    v, _ = sf.neurons.LI(5, **kw).double()(x)
    lif = sf.neurons.LIF(5, v_th=1e9, **kw).double()
    trace = lif.scan(x, record=True).trace
    torch.testing.assert_close(v, trace.v, rtol=0, atol=1e-13)


def test_gradcheck_through_input_and_time_constants():
    li = sf.neurons.LI(3, tau_mem=10.0, tau_syn=4.0, learnable=("tau_mem", "tau_syn", "r")).double()
    x = torch.randn(12, 2, 3, dtype=torch.float64, requires_grad=True)

    def f(x, *params):
        return li(x)[0]

    assert torch.autograd.gradcheck(f, (x, *li.parameters()))


def test_last_step_readout_trains_a_linear_layer():
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(20, 64, 4, generator=gen)
    y = (x.mean(0)[:, 0] > x.mean(0)[:, 1]).long()
    model = sf.Sequential(torch.nn.Linear(4, 2), sf.neurons.LI(2, tau_mem=200.0))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(150):
        opt.zero_grad()
        out, _ = model(x)
        loss = torch.nn.functional.cross_entropy(out[-1] * 10, y)
        loss.backward()
        opt.step()
    accuracy = (model(x)[0][-1].argmax(1) == y).float().mean()
    assert accuracy > 0.9


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ParameterError, match="tau_mem"):
        sf.neurons.LI(3, tau_mem=0.0)
    with pytest.raises(ParameterError, match="Euler"):
        sf.neurons.LI(3, tau_mem=1.0, dt=3.0, integrator="euler")
    with pytest.raises(ParameterError, match="learnable"):
        sf.neurons.LI(3, learnable=("v_th",))
    with pytest.raises(ShapeError, match=r"\[T, \*batch, 3\]"):
        sf.neurons.LI(3)(torch.zeros(5, 4))
    assert math.isinf(float(sf.neurons.LI(3).params().v_th))
