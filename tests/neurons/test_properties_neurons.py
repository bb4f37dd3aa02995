r"""Property-based tests (Hypothesis) of the neurons against closed forms, over dt, time constants,
inputs and ``t_ref/dt`` whole or not (issue 16, item 4: tests that used one value hid bugs).

The references are those of ``tests/reference/test_lif_analytic.py`` and
``tests/neurons/test_integrate_fire.py``, written from the equations:

- LIF subthreshold (and LI, for any input) from rest:
  :math:`v(t) = v_{leak} + r I (1 - e^{-t/\tau})`, to rounding with the exact integrator at any dt;
- LIF firing: every interspike interval lasts ``round(t_ref/dt) + floor(T_free/dt) + 1`` steps,
  :math:`T_{free} = \tau \ln\frac{v_\infty - v_{reset}}{v_\infty - v_{th}}` (t_ref rounded to
  whole steps, as documented);
- IF with reset to the value: a period of ``floor((v_th - v_reset) / (r x)) + 1`` steps.
"""

from __future__ import annotations

import math

import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from spikeforge.neurons import IF, LI, LIF
from spikeforge.neurons.lif import refractory_steps

F64 = torch.float64
FAST = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

dts = st.floats(min_value=0.05, max_value=2.0, allow_nan=False, allow_infinity=False)
taus = st.floats(min_value=1.0, max_value=50.0)


def _t(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=F64)


@FAST
@given(
    dt=dts,
    tau=taus,
    v_leak=st.floats(min_value=-1.0, max_value=0.5),
    r=st.floats(min_value=0.1, max_value=5.0),
    frac=st.floats(min_value=0.0, max_value=0.95),
)
def test_lif_subthreshold_equals_the_closed_form(dt, tau, v_leak, r, frac):
    """Any dt, tau, v_leak, r and a constant input that keeps v_inf below threshold."""
    v_th = 1.0
    current = frac * (v_th - v_leak) / r  # v_inf = v_leak + frac (v_th - v_leak) < v_th
    lif = LIF(
        1, tau_mem=_t(tau), v_leak=_t(v_leak), r=_t(r), v_th=_t(v_th), v_reset=_t(v_leak - 1.0), dt=dt
    ).double()
    steps = min(max(1, round(3 * tau / dt)), 2000)
    res = lif.scan(torch.full((steps, 1), current, dtype=F64), record=True)
    assert res.output.sum() == 0
    t = dt * torch.arange(1, steps + 1, dtype=F64)
    exact = v_leak + r * current * -torch.expm1(-t / tau)
    assert (res.trace.v[:, 0] - exact).abs().max().item() <= 1e-11


@FAST
@given(
    t_ref=st.floats(min_value=0.0, max_value=20.0),
    dt=st.floats(min_value=0.01, max_value=3.0),
)
def test_refractory_steps_round_to_the_nearest_step(t_ref, dt):
    """The documented rule, checked in exact arithmetic (ties excluded: they depend on rounding)."""
    ratio = t_ref / dt
    assume(abs(ratio - math.floor(ratio) - 0.5) > 1e-6)
    n = int(refractory_steps(torch.tensor(t_ref, dtype=F64), dt))
    assert n == math.floor(ratio + 0.5)


@FAST
@given(
    dt=st.floats(min_value=0.1, max_value=1.0),
    tau=st.floats(min_value=2.0, max_value=30.0),
    ratio=st.floats(min_value=1.1, max_value=4.0),  # v_inf / v_th
    ref_steps=st.floats(min_value=0.0, max_value=12.0),  # t_ref / dt, whole or not
    v_reset=st.floats(min_value=-0.5, max_value=0.5),
)
def test_lif_interspike_interval_equals_the_analytic_period(dt, tau, ratio, ref_steps, v_reset):
    """Every ISI lasts ``round(t_ref/dt) + floor(T_free/dt) + 1`` steps, for t_ref/dt whole or not."""
    v_th, v_leak, r = 1.0, 0.0, 1.0
    v_inf = ratio * v_th
    free = tau * math.log((v_inf - v_reset) / (v_inf - v_th))
    # away from the step edges, where rounding (of T_free/dt, of t_ref/dt) decides
    assume(abs(free / dt - round(free / dt)) > 1e-4)
    assume(abs(ref_steps - math.floor(ref_steps) - 0.5) > 1e-4)
    t_ref = ref_steps * dt
    expected = math.floor(ref_steps + 0.5) + math.floor(free / dt) + 1
    steps = 6 * expected + 5
    lif = LIF(
        1,
        tau_mem=_t(tau),
        v_leak=_t(v_leak),
        v_reset=_t(v_reset),
        r=_t(r),
        v_th=_t(v_th),
        t_ref=_t(t_ref),
        dt=dt,
    ).double()
    spikes, _ = lif(torch.full((steps, 1), (v_inf - v_leak) / r, dtype=F64))
    idx = spikes[:, 0].nonzero().flatten()
    assert idx.numel() >= 4, (idx, expected)
    assert torch.all(torch.diff(idx) == expected), (torch.diff(idx).tolist(), expected)


@FAST
@given(
    x=st.floats(min_value=0.01, max_value=2.0),
    v_th=st.floats(min_value=0.2, max_value=3.0),
    gap=st.floats(min_value=0.1, max_value=2.0),
    r=st.floats(min_value=0.2, max_value=3.0),
)
def test_if_period_is_whole_steps_to_threshold(x, v_th, gap, r):
    """IF (no leak), reset to the value: first spike at step n - 1, then every n steps."""
    v_reset = v_th - gap
    ratio = gap / (r * x)
    assume(abs(ratio - round(ratio)) > 1e-6)  # exactly on threshold: decided by rounding
    assume(ratio < 60)
    n = math.floor(ratio) + 1
    neurons = IF(1, v_th=v_th, v_reset=v_reset, r=r, reset="to_value").double()
    z, _ = neurons(torch.full((5 * n + 3, 1), x, dtype=F64))
    times = torch.nonzero(z[:, 0]).flatten()
    assert int(times[0]) == n - 1
    assert bool((times.diff() == n).all())


@FAST
@given(
    dt=dts,
    tau=taus,
    v_leak=st.floats(min_value=-1.0, max_value=1.0),
    r=st.floats(min_value=0.1, max_value=5.0),
    current=st.floats(min_value=-10.0, max_value=10.0),
)
def test_leaky_integrator_equals_the_closed_form(dt, tau, v_leak, r, current):
    """LI (no threshold): the output is ``v_leak + r I (1 - exp(-t/tau))`` for any constant input."""
    li = LI(1, tau_mem=_t(tau), v_leak=_t(v_leak), r=_t(r), dt=dt).double()
    steps = min(max(1, round(3 * tau / dt)), 2000)
    v, _ = li(torch.full((steps, 1), current, dtype=F64))
    t = dt * torch.arange(1, steps + 1, dtype=F64)
    exact = v_leak + r * current * -torch.expm1(-t / tau)
    assert (v[:, 0] - exact).abs().max().item() <= 1e-11 * (1 + abs(r * current))
