r"""Property-based tests (Hypothesis) of pair and reward-modulated STDP against closed forms, over
dt, lags in steps, time constants and amplitudes (issue 16, item 4).

One pre and one post spike ``k`` steps apart (``delta t = k dt``, post minus pre): the weight change
summed over the run is :math:`A_+ e^{-\Delta t/\tau_+}` for ``k > 0``,
:math:`-A_- e^{\Delta t/\tau_-}` for ``k < 0`` and 0 for simultaneous spikes (``same_step="skip"``),
whatever dt (the traces are integrated exactly). Reward-modulated STDP integrates
``lr c d`` over time: its summed change is the same integral at any dt, to a Riemann sum's error.
"""

from __future__ import annotations

import math

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikeforge.plasticity import STDP, RewardModulatedSTDP

F64 = torch.float64
FAST = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _window_run(rule: STDP, lag: int, t0: int = 3) -> float:
    steps = t0 + abs(lag) + 3
    pre = torch.zeros(steps, 1, dtype=F64)
    post = torch.zeros(steps, 1, dtype=F64)
    t_pre, t_post = (t0, t0 + lag) if lag >= 0 else (t0 - lag, t0)
    pre[t_pre, 0] = 1.0
    post[t_post, 0] = 1.0
    w = torch.full((1, 1), 0.5, dtype=F64)
    total, state = 0.0, None
    for t in range(steps):
        dw, state = rule.step(pre[t], post[t], w, state)  # additive: w fixed does not matter
        total += float(dw.sum())
    return total


@FAST
@given(
    dt=st.floats(min_value=0.05, max_value=5.0),
    lag=st.integers(min_value=-40, max_value=40),
    tau_plus=st.floats(min_value=2.0, max_value=60.0),
    tau_minus=st.floats(min_value=2.0, max_value=60.0),
    a_plus=st.floats(min_value=1e-3, max_value=0.1),
    a_minus=st.floats(min_value=1e-3, max_value=0.1),
)
def test_one_pair_changes_the_weight_by_the_window(dt, lag, tau_plus, tau_minus, a_plus, a_minus):
    rule = STDP(
        tau_plus=tau_plus, tau_minus=tau_minus, a_plus=a_plus, a_minus=a_minus, dt=dt, w_max=10.0
    ).double()
    got = _window_run(rule, lag)
    delta = lag * dt
    if lag > 0:
        expected = a_plus * math.exp(-delta / tau_plus)
    elif lag < 0:
        expected = -a_minus * math.exp(delta / tau_minus)
    else:
        expected = 0.0
    assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-15), (got, expected)


@FAST
@given(dt=st.floats(min_value=0.05, max_value=5.0), lag=st.integers(min_value=1, max_value=30))
def test_the_window_depends_on_time_not_on_steps(dt, lag):
    """Halving dt and doubling the lag in steps gives the same change (the same delta t in ms)."""
    coarse = _window_run(STDP(dt=dt).double(), lag)
    fine = _window_run(STDP(dt=dt / 2).double(), 2 * lag)
    assert math.isclose(coarse, fine, rel_tol=1e-9)
    coarse_d = _window_run(STDP(dt=dt).double(), -lag)
    fine_d = _window_run(STDP(dt=dt / 2).double(), -2 * lag)
    assert math.isclose(coarse_d, fine_d, rel_tol=1e-9)


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    m=st.integers(min_value=4, max_value=25),  # dt = 10 / m ms: the spikes and the release on steps
    tau_c=st.floats(min_value=50.0, max_value=200.0),
    tau_d=st.floats(min_value=20.0, max_value=100.0),
)
def test_reward_modulated_stdp_integrates_over_time_at_any_dt(m, tau_c, tau_d):
    r"""dw/dt = lr c d (Izhikevich 2007): a pre spike at 0 ms, a post spike at 10 ms and a
    dopamine release at 20 ms change w by the integral
    :math:`lr\,c(20)\,d_0 (1 - e^{-380\lambda})/\lambda`, :math:`\lambda = 1/\tau_c + 1/\tau_d`,
    :math:`c(20) = e^{-10/\tau_+} e^{-10/\tau_c}`; the step sum is a Riemann sum of decaying
    exponentials, within :math:`\lambda\,\Delta t` of it (relative)."""
    dt, lr, t_end = 10.0 / m, 1e-2, 400.0
    rule = RewardModulatedSTDP(lr=lr, dt=dt, tau_c=tau_c, tau_d=tau_d)
    w = torch.full((1, 1), 1.0, dtype=F64)
    one, zero = torch.ones(1, dtype=F64), torch.zeros(1, dtype=F64)
    state, total = None, 0.0
    for k in range(round(t_end / dt)):
        dw, state = rule.step(
            one if k == 0 else zero, one if k == m else zero, w, state, modulator=1.0 if k == 2 * m else 0.0
        )
        total += float(dw.sum())
    lam = 1 / tau_c + 1 / tau_d
    c20 = math.exp(-10.0 / 20.0) * math.exp(-10.0 / tau_c)  # a_plus = 1, tau_plus = 20 ms
    analytic = lr * c20 / lam * (1 - math.exp(-(t_end - 20.0) * lam))
    assert abs(total / analytic - 1) <= lam * dt, (total, analytic)
