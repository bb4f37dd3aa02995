r"""Property-based tests (Hypothesis) of triplet STDP (Pfister & Gerstner 2006) against the pair
window and the paper's triplet term, over dt, lags, time constants and amplitudes (issue 16, item 4).

From the equations of the module docstring (never from the code): one pre and one post spike
``k`` steps apart change w by :math:`A_2^+ e^{-\Delta t/\tau_+}` (``k > 0``),
:math:`-A_2^- e^{\Delta t/\tau_-}` (``k < 0``), 0 (``k = 0``), whatever :math:`A_3^\pm` (the slow
traces are read before their own increment, so a single pair never sees them). A pre spike then two
post spikes at :math:`t_1 < t_2` add :math:`A_3^+ e^{-t_2/\tau_+} e^{-(t_2 - t_1)/\tau_y}` to the
two pair terms.
"""

from __future__ import annotations

import math

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikeforge.plasticity import TripletSTDP

F64 = torch.float64
FAST = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
amplitudes = st.floats(min_value=1e-3, max_value=0.05)
taus = st.floats(min_value=2.0, max_value=150.0)


def _run(rule: TripletSTDP, pre_steps: list[int], post_steps: list[int]) -> float:
    steps = max(pre_steps + post_steps) + 3
    w = torch.full((1, 1), 0.5, dtype=F64)
    total, state = 0.0, None
    for t in range(steps):
        pre = torch.tensor([float(t in pre_steps)], dtype=F64)
        post = torch.tensor([float(t in post_steps)], dtype=F64)
        dw, state = rule.step(pre, post, w, state)
        total += float(dw.sum())
    return total


@FAST
@given(
    dt=st.floats(min_value=0.05, max_value=5.0),
    lag=st.integers(min_value=-40, max_value=40),
    tau_plus=taus,
    tau_minus=taus,
    tau_x=taus,
    tau_y=taus,
    a2_plus=amplitudes,
    a2_minus=amplitudes,
    a3_plus=st.sampled_from([0.0, 0.01, 0.05]),
    a3_minus=st.sampled_from([0.0, 0.01, 0.05]),
    pairing=st.sampled_from(["all_to_all", "nearest"]),
)
def test_a_single_pair_follows_the_pair_window(
    dt, lag, tau_plus, tau_minus, tau_x, tau_y, a2_plus, a2_minus, a3_plus, a3_minus, pairing
):
    rule = TripletSTDP(
        tau_plus=tau_plus,
        tau_minus=tau_minus,
        tau_x=tau_x,
        tau_y=tau_y,
        a2_plus=a2_plus,
        a3_plus=a3_plus,
        a2_minus=a2_minus,
        a3_minus=a3_minus,
        w_max=10.0,
        pairing=pairing,
        dt=dt,
    ).double()
    t0 = 3
    t_pre, t_post = (t0, t0 + lag) if lag >= 0 else (t0 - lag, t0)
    got = _run(rule, [t_pre], [t_post])
    delta = lag * dt
    if lag > 0:
        expected = a2_plus * math.exp(-delta / tau_plus)
    elif lag < 0:
        expected = -a2_minus * math.exp(delta / tau_minus)
    else:
        expected = 0.0
    # the rule stores its parameters in float32: relative 1e-6 covers that rounding
    assert math.isclose(got, expected, rel_tol=1e-5, abs_tol=1e-15), (got, expected)


@FAST
@given(
    dt=st.floats(min_value=0.05, max_value=3.0),
    k1=st.integers(min_value=1, max_value=20),
    gap=st.integers(min_value=1, max_value=20),
    tau_plus=taus,
    tau_y=taus,
    a2_plus=amplitudes,
    a3_plus=amplitudes,
)
def test_pre_post_post_adds_the_triplet_term(dt, k1, gap, tau_plus, tau_y, a2_plus, a3_plus):
    rule = TripletSTDP(
        tau_plus=tau_plus,
        tau_y=tau_y,
        a2_plus=a2_plus,
        a3_plus=a3_plus,
        a2_minus=0.0,
        a3_minus=0.0,
        w_max=10.0,
        dt=dt,
    ).double()
    got = _run(rule, [2], [2 + k1, 2 + k1 + gap])
    t1, t2 = k1 * dt, (k1 + gap) * dt
    expected = a2_plus * math.exp(-t1 / tau_plus) + math.exp(-t2 / tau_plus) * (
        a2_plus + a3_plus * math.exp(-(t2 - t1) / tau_y)
    )
    assert math.isclose(got, expected, rel_tol=1e-5), (got, expected)
