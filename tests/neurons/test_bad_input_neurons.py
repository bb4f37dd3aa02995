"""Bad input to neuron modules (issue 16): overflows are errors, parameters set between runs are
validated as in the constructor, states of another model or dtype are refused."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.errors import DTypeError, ParameterError, ShapeError
from spikeforge.neurons import ALIF, LIF, Izhikevich
from spikeforge.neurons.lif import lif_step, refractory_steps


# ---------------------------------------------------------------- the cases
@pytest.mark.parametrize("cls", [LIF, ALIF])
def test_refractory_count_beyond_int32_is_refused(cls):
    with pytest.raises(ParameterError, match=r"t_ref / dt must be at most 2147483647 steps"):
        cls(2, t_ref=1e12, dt=0.1)


def test_refractory_count_at_the_int32_edge():
    LIF(1, t_ref=(2**31 - 1) * 1.0 - 64, dt=1.0)  # fits (float32 rounding aside)
    with pytest.raises(ParameterError, match="int32"):
        LIF(1, t_ref=2.0**31 + 2**10, dt=1.0)


def test_pure_refractory_steps_saturate_instead_of_wrapping():
    steps = refractory_steps(torch.tensor([1e12, 2.0]), 0.1)
    assert steps.dtype == torch.int32
    assert int(steps[0]) > 2**30 and int(steps[1]) == 20  # never negative (a wrap switched it off)


def test_a_huge_refractory_period_holds_the_neuron():
    """The wrap used to switch refractoriness off: the neuron fired every few steps."""
    lif = LIF(1, t_ref=1e9, dt=1.0, v_th=0.5, tau_mem=5.0)
    z, _ = lif(torch.full((40, 1), 5.0))
    assert z.sum() == 1


def test_parameter_set_between_runs_takes_effect():
    lif = LIF(3, dt=1.0, v_th=1.0, tau_mem=5.0)
    x = torch.full((30, 3), 2.0)
    assert lif(x)[0].sum() > 0
    lif.v_th = 100.0  # as Brian2 users write it
    assert float(lif.v_th.max()) == 100.0
    assert lif(x)[0].sum() == 0


@pytest.mark.parametrize(
    ("name", "value", "error", "match"),
    [
        ("v_th", -1.0, ParameterError, "v_th must be > v_reset"),
        ("v_reset", 5.0, ParameterError, "v_reset must be < v_th"),
        ("tau_mem", 0.0, ParameterError, "tau_mem must be > 0 ms"),
        ("tau_mem", float("nan"), ParameterError, "tau_mem must be finite"),
        ("t_ref", -1.0, ParameterError, "t_ref must be >= 0 ms"),
        ("t_ref", 1e12, ParameterError, "int32"),
        ("v_th", "high", ParameterError, "v_th must be a number or a tensor"),
        ("v_th", [1.0, 2.0], ShapeError, "broadcast to the population shape"),
        ("dt", 0.0, ParameterError, "dt must be a finite number > 0"),
    ],
)
def test_parameter_set_between_runs_is_validated_and_leaves_the_module_unchanged(name, value, error, match):
    lif = LIF(3, dt=1.0, v_th=1.0, t_ref=2.0)
    before = {k: v.clone() for k, v in lif.state_dict().items()}
    with pytest.raises(error, match=match):
        setattr(lif, name, value)
    assert all(torch.equal(lif.state_dict()[k], v) for k, v in before.items()) and lif.dt == 1.0


# ---------------------------------------------------------------- more of our own
def test_learnable_parameter_set_keeps_its_nn_parameter():
    lif = LIF(3, dt=1.0, learnable=("v_th", "tau_mem"))
    params = {id(p) for p in lif.parameters()}
    lif.v_th = 2.5
    lif.tau_mem = 7.0
    assert {id(p) for p in lif.parameters()} == params  # an optimizer still holds them
    assert torch.allclose(lif.v_th, torch.full((3,), 2.5)) and torch.allclose(
        lif.tau_mem, torch.full((3,), 7.0)
    )


def test_set_dt_below_the_refractory_limit_is_refused():
    lif = LIF(2, t_ref=1000.0, dt=1.0)
    with pytest.raises(ParameterError, match="int32"):
        lif.dt = 1e-7
    assert lif.dt == 1.0


def test_set_dt_beyond_the_euler_limit_is_refused():
    lif = LIF(2, tau_mem=10.0, dt=3.0, integrator="euler")
    with pytest.raises(ParameterError, match="Euler"):
        lif.dt = 30.0
    with pytest.raises(ParameterError, match="Euler"):
        lif.tau_mem = 1.0
    assert lif.dt == 3.0 and float(lif.tau_mem) == 10.0


def test_izhikevich_parameters_are_validated_on_assignment():
    neu = Izhikevich(2)
    with pytest.raises(ParameterError, match="a must be > 0"):
        neu.a = -1.0


def test_state_of_another_model_is_refused():
    with pytest.raises(ParameterError, match="state must be a LIFState"):
        LIF(2)(torch.ones(3, 2), ALIF(2).init_state())
    with pytest.raises(ParameterError, match="state must be a LIFState"):
        LIF(2)(torch.ones(3, 2), (1, 2))


def test_state_of_another_dtype_is_refused():
    x = torch.ones(3, 2, dtype=torch.float64)
    with pytest.raises(DTypeError, match="state.v has dtype torch.float32"):
        LIF(2)(x, LIF(2).init_state(dtype=torch.float32))


def test_empty_sequence_is_a_shape_error():
    with pytest.raises(ShapeError, match="at least one time step"):
        LIF(2)(torch.ones(0, 2))


def test_integer_and_numpy_inputs_are_refused():
    import numpy as np

    with pytest.raises(DTypeError, match="floating dtype"):
        LIF(2)(torch.ones(3, 2, dtype=torch.int64))
    with pytest.raises(DTypeError, match="torch.Tensor"):
        LIF(2)(np.ones((3, 2)))  # type: ignore[arg-type]


@pytest.mark.parametrize("beta", [0.0, 1.0, -0.5, 1.5, float("nan")])
def test_from_beta_refuses_a_decay_outside_0_1(beta):
    with pytest.raises(ParameterError, match="beta must be a number in"):
        LIF.from_beta(2, beta)


@pytest.mark.parametrize("dt", [1.0, 0.25, 20.0])
def test_from_beta_matches_snntorch_leaky(dt):
    """snntorch's Leaky: mem = beta * mem + x, spike at mem > threshold, subtract reset."""
    beta, th = 0.8, 1.0
    lif = LIF.from_beta(1, beta, dt=dt, reset="subtract", v_th=th)
    assert math.exp(-dt / float(lif.tau_mem)) == pytest.approx(beta, rel=1e-6)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(50, 1, generator=g, dtype=torch.float64) * 0.6
    lif = lif.double()
    z, _ = lif(x)
    mem, ref = 0.0, []
    for t in range(50):
        mem = beta * mem + float(x[t, 0])
        s = 1.0 if mem - th > 0 else 0.0
        mem -= s * th
        ref.append(s)
    assert z[:, 0].tolist() == ref and sum(ref) > 3


def test_pure_step_with_huge_refractory_parameter_does_not_wrap():
    lif = LIF(1, dt=1.0, v_th=0.5)
    p = lif.params()._replace(t_ref=torch.tensor(1e12))
    state = lif.init_state((1,))._replace(v=torch.ones(1, 1))  # above threshold: it spikes now
    z, state = lif_step(torch.zeros(1, 1), state, p, dt=1.0)
    assert bool(z.all()) and int(state.ref[0, 0]) > 2**30


@pytest.mark.parametrize("dt", [0.5, 0.1, 1.0])
def test_refractory_steps_round_non_integer_periods(dt):
    """t_ref / dt not whole: the count is the nearest step (an integer t_ref/dt hid a floor)."""
    t_ref = torch.tensor([0.26, 0.74, 1.26, 2.7, 3.1]) * (dt / 0.5)
    expected = [round(float(t) / dt) for t in t_ref]
    assert refractory_steps(t_ref, dt).tolist() == expected
    assert expected != [int(float(t) // dt) for t in t_ref]  # floor would differ


def test_refractory_period_of_2_7_steps_holds_for_3():
    lif = LIF(1, t_ref=2.7, dt=1.0, v_th=0.5, tau_mem=1.0)
    z, _ = lif(torch.full((12, 1), 50.0))
    times = torch.nonzero(z[:, 0]).flatten().tolist()
    assert times[1] - times[0] == 4  # the spike's step, 3 held steps, then the next spike
