r"""Property-based tests (Hypothesis) of pair STDP against its closed-form window, over dt, lags
in steps, time constants and amplitudes (issue 16, item 4).

One pre and one post spike ``k`` steps apart (``delta t = k dt``, post minus pre): the weight change
summed over the run is :math:`A_+ e^{-\Delta t/\tau_+}` for ``k > 0``,
:math:`-A_- e^{\Delta t/\tau_-}` for ``k < 0`` and 0 for simultaneous spikes (``same_step="skip"``),
whatever dt (the traces are integrated exactly).
"""

from __future__ import annotations

import math

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikeforge.plasticity import STDP

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
