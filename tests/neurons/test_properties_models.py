r"""Property-based tests (Hypothesis) of ALIF and Izhikevich against their documented updates, over
dt, time constants, ``t_ref/dt`` whole or not, resets and inputs (issue 16, item 4).

References, from the docstrings (never from the code under test):

- ALIF with :math:`\beta = 0` is LIF (bitwise, documented) for any dt, tau, t_ref, reset;
- ALIF's adaptation follows :math:`a_t = \rho\,a_{t-1} + z_t`, :math:`\rho = e^{-\Delta t/\tau_{adapt}}`
  (``"exact"``) or :math:`1 - \Delta t/\tau_{adapt}` (``"euler"``), and no spike is emitted while v
  stays at or below the adaptive threshold :math:`v_{th} + \beta a_{t-1}`;
- Izhikevich: :math:`v' = v + \Delta t (0.04 v^2 + 5 v + 140 - u + I)`,
  :math:`u' = u + \Delta t\,a (b v - u)`, spike when :math:`v' \ge v_{peak}`, then
  :math:`v \leftarrow c`, :math:`u \leftarrow u' + d` (forward Euler); the 2003 scheme takes v in two
  half-steps and u with the new v. Written here as a scalar Python loop.
"""

from __future__ import annotations

import math

import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from spikeforge.neurons import ALIF, LIF
from spikeforge.neurons.izhikevich import (
    PRESETS,
    Izhikevich,
    IzhikevichParams,
    IzhikevichState,
    izhikevich_step,
)

F64 = torch.float64
FAST = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _t(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=F64)  # a float64 parameter: the reference uses the same value


def _drive(seed: int, steps: int, n: int, scale: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return scale * torch.rand(steps, n, generator=g, dtype=F64)


@FAST
@given(
    dt=st.floats(min_value=0.2, max_value=3.0),
    tau=st.floats(min_value=1.0, max_value=20.0),
    ref_steps=st.floats(min_value=0.0, max_value=6.0),  # t_ref / dt, whole or not
    reset=st.sampled_from(["to_value", "subtract"]),
    integrator=st.sampled_from(["exact", "euler"]),
    tau_adapt=st.floats(min_value=5.0, max_value=500.0),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_alif_with_beta_zero_is_lif(dt, tau, ref_steps, reset, integrator, tau_adapt, seed):
    if integrator == "euler":
        tau = max(tau, 2 * dt)  # inside Euler's stable range
    kw = dict(tau_mem=tau, t_ref=ref_steps * dt, v_reset=-0.2, dt=dt, reset=reset, integrator=integrator)
    x = _drive(seed, min(math.ceil(4 * tau / dt) + 20, 800), 4, 3.0)
    lif = LIF(4, **kw).double()
    alif = ALIF(4, beta=0.0, tau_adapt=tau_adapt, **kw).double()
    want = lif.scan(x, record=True)
    got = alif.scan(x, record=True)
    assert want.output.sum() > 0  # the comparison includes spikes
    assert torch.equal(got.output, want.output)
    assert torch.equal(got.trace.v, want.trace.v)


@FAST
@given(
    dt=st.floats(min_value=0.2, max_value=3.0),
    tau_adapt=st.floats(min_value=3.0, max_value=500.0),
    beta=st.floats(min_value=0.0, max_value=2.0),
    integrator=st.sampled_from(["exact", "euler"]),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_alif_adaptation_follows_its_recurrence(dt, tau_adapt, beta, integrator, seed):
    tau_adapt = max(tau_adapt, 2 * dt)
    x = _drive(seed, min(math.ceil(40 / dt) + 20, 800), 3, 4.0)
    neurons = ALIF(
        3, tau_mem=10.0, tau_adapt=_t(tau_adapt), beta=_t(beta), dt=dt, integrator=integrator
    ).double()
    res = neurons.scan(x, record=True)
    z, a = res.output, res.trace.a
    assert z.sum() > 0
    rho = math.exp(-dt / tau_adapt) if integrator == "exact" else 1.0 - dt / tau_adapt
    ref = torch.zeros(3, dtype=F64)
    for t in range(x.shape[0]):
        ref = rho * ref + z[t]
        assert torch.allclose(a[t], ref, rtol=1e-12, atol=1e-12), (t, a[t], ref)


@FAST
@given(
    dt=st.floats(min_value=0.2, max_value=2.0),
    tau_adapt=st.floats(min_value=1.0, max_value=300.0),  # rho from e^-2 to ~1
    beta=st.floats(min_value=0.3, max_value=3.0),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_alif_spikes_only_above_the_adaptive_threshold(dt, tau_adapt, beta, seed):
    """A spike at t exactly when v before reset exceeds ``v_th + beta a_{t-1}``; with v_leak = 0,
    r = 1 and no synaptic state, v before reset is ``k v_{t-1} + (1 - k) x_t``, k = exp(-dt/tau)."""
    tau = 10.0
    x = _drive(seed, min(math.ceil(60 / dt) + 20, 800), 2, 5.0)
    neurons = ALIF(2, tau_mem=tau, tau_adapt=_t(tau_adapt), beta=_t(beta), dt=dt, v_reset=0.0).double()
    res = neurons.scan(x, record=True)
    z, a, v = res.output, res.trace.a, res.trace.v
    assert z.sum() > 0
    k = math.exp(-dt / tau)
    v_prev = torch.zeros(2, dtype=F64)
    a_prev = torch.zeros(2, dtype=F64)
    for t in range(x.shape[0]):
        v_pre = k * v_prev + (1 - k) * x[t]  # exact step, v_leak = 0, r = 1, no tau_syn
        threshold = 1.0 + beta * a_prev
        assert torch.equal(z[t] > 0, v_pre > threshold), (t, v_pre, threshold)
        v_prev, a_prev = v[t], a[t]


def _izhikevich_reference(a, b, c, d, current, dt, steps, integrator):
    v, u = -65.0, b * -65.0
    spikes, vs = [], []
    for _ in range(steps):
        if integrator == "euler":
            v_new = v + dt * (0.04 * (v * v) + 5.0 * v + 140.0 - u + current)
            u_new = u + dt * (a * (b * v - u))
        else:
            h = dt / 2
            v_half = v + h * (0.04 * (v * v) + 5.0 * v + 140.0 - u + current)
            v_new = v_half + h * (0.04 * (v_half * v_half) + 5.0 * v_half + 140.0 - u + current)
            u_new = u + dt * (a * (b * v_new - u))
        if v_new >= 30.0:
            spikes.append(1.0)
            v, u = c, u_new + d
        else:
            spikes.append(0.0)
            v, u = v_new, u_new
        vs.append(v)
    return spikes, vs


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    preset=st.sampled_from(sorted(PRESETS)),
    integrator=st.sampled_from(["euler", "izhikevich2003"]),
    dt_frac=st.floats(min_value=0.1, max_value=1.0),
    current=st.floats(min_value=-5.0, max_value=20.0),
)
def test_izhikevich_follows_its_documented_update(preset, integrator, dt_frac, current):
    """Subthreshold and spiking, any dt up to the documented maximum, every preset."""
    dt = dt_frac * (0.5 if integrator == "euler" else 1.0)
    steps = min(round(100.0 / dt), 800)
    a, b, c, d = PRESETS[preset]
    abcd = dict(a=_t(a), b=_t(b), c=_t(c), d=_t(d))  # float64 values, as the reference's
    neurons = Izhikevich(1, None, **abcd, dt=dt, integrator=integrator).double()
    res = neurons.scan(torch.full((steps, 1), current, dtype=F64), record=True)
    spikes, vs = _izhikevich_reference(a, b, c, d, current, dt, steps, integrator)
    got = res.output[:, 0].tolist()
    first = next((t for t, (p, q) in enumerate(zip(got, spikes)) if p != q), None)
    assert first is None, (first, sum(got), sum(spikes))
    assert (
        max(abs(p - q) for p, q in zip(res.trace.v[:, 0].tolist(), vs)) <= 1e-6
    )  # mV, round-off of a different operation order
    if current >= 10.0:
        assert sum(spikes) > 0  # tonic input: the spiking branch is exercised


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(
    v=st.floats(min_value=-80.0, max_value=29.0),
    u=st.floats(min_value=-20.0, max_value=20.0),
    dt=st.sampled_from([0.5, 0.25, 0.125, 0.0625]),
    nudge=st.sampled_from([-1, 0, 1]),  # ulps of v' around v_peak
)
def test_izhikevich_spikes_at_v_peak_inclusive(v, u, dt, nudge):
    """The edge: ``v' >= v_peak`` spikes (documented "including equality"); one ulp below does not."""
    f0 = 0.04 * (v * v) + 5.0 * v + 140.0 - u
    x = (30.0 - v) / dt - f0
    v_new = v + dt * (f0 + x)  # the documented Euler update, in the same order
    assume(v_new == 30.0)
    x = x + nudge * math.ulp(x)
    v_new = v + dt * (f0 + x)
    params = IzhikevichParams(*(_t(p) for p in (0.02, 0.2, -65.0, 8.0, 30.0)))
    z, state = izhikevich_step(_t(x), IzhikevichState(_t(v), _t(u)), params, dt=dt)
    assert bool(z) == (v_new >= 30.0)
    assert float(state.v) == (-65.0 if v_new >= 30.0 else v_new)
