r"""Property-based tests (Hypothesis) of the encoders over dt, rates, refractory periods whose
length in steps is whole or not, and inputs (issue 16, item 4).

References, from the definitions: a Poisson train of rate :math:`\lambda` (per ms) spikes with
probability :math:`\lambda\,\Delta t` per step, so its mean count lies within a binomial bound of
:math:`T \lambda \Delta t`; with a dead time the intervals are never shorter than
``round(refractory/dt) + 1`` steps; the latency code puts the spike of
:math:`t = \tau \ln\frac{x}{x - \theta}` at the step nearest to t. Generators are seeded, so every
example is deterministic.
"""

from __future__ import annotations

import math

import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from spikeforge.encoders import latency, poisson, poisson_time_varying

F64 = torch.float64
FAST = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@FAST
@given(
    dt=st.floats(min_value=0.05, max_value=4.0),
    rate=st.floats(min_value=0.002, max_value=0.2),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_poisson_mean_count_is_rate_times_dt(dt, rate, seed):
    assume(rate * dt <= 1.0)
    steps, n = 200, 400
    p = rate * dt
    rates = torch.full((n,), rate, dtype=F64)
    z = poisson(rates, steps, dt=dt, generator=torch.Generator().manual_seed(seed))
    sigma = math.sqrt(p * (1 - p) / (steps * n))
    assert abs(float(z.mean()) - p) <= 6 * sigma + 1e-12, (float(z.mean()), p)
    # the time-varying encoder with the same rates at every step is the same draw
    zt = poisson_time_varying(rates.expand(steps, n), dt=dt, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(z, zt)


@FAST
@given(
    dt=st.floats(min_value=0.1, max_value=2.0),
    rate=st.floats(min_value=0.002, max_value=0.2),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_poisson_time_varying_follows_a_step_in_the_rate(dt, rate, seed):
    """Rate 0 in the first half, ``rate`` in the second: no spike, then rate * dt per step."""
    assume(rate * dt <= 1.0)
    steps, n = 200, 300
    rates = torch.zeros(steps, n, dtype=F64)
    rates[steps // 2 :] = rate
    z = poisson_time_varying(rates, dt=dt, generator=torch.Generator().manual_seed(seed))
    assert z[: steps // 2].sum() == 0
    p = rate * dt
    sigma = math.sqrt(p * (1 - p) / (steps // 2 * n))
    assert abs(float(z[steps // 2 :].mean()) - p) <= 6 * sigma + 1e-12


@FAST
@given(
    dt=st.floats(min_value=0.1, max_value=2.0),
    ref_steps=st.floats(min_value=0.0, max_value=8.0),  # refractory / dt, whole or not
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_poisson_dead_time_is_rounded_to_whole_steps(dt, ref_steps, seed):
    """Intervals are ``>= round(refractory/dt) + 1`` steps, and the shortest one is attained."""
    assume(abs(ref_steps - math.floor(ref_steps) - 0.5) > 1e-6)
    n_ref = math.floor(ref_steps + 0.5)
    p = 0.5
    rates = torch.full((50,), p / dt, dtype=F64)
    z = poisson(rates, 300, dt=dt, refractory=ref_steps * dt, generator=torch.Generator().manual_seed(seed))
    shortest = min(int(torch.nonzero(z[:, j]).flatten().diff().min()) for j in range(50))
    assert shortest == n_ref + 1


@FAST
@given(
    x=st.floats(min_value=0.0101, max_value=10.0),
    dt=st.floats(min_value=0.05, max_value=3.0),
    tau=st.floats(min_value=0.5, max_value=20.0),
)
def test_latency_spike_is_at_the_step_nearest_the_first_passage(x, dt, tau):
    threshold = 0.01
    t = tau * math.log(x / (x - threshold))
    assume(abs(t / dt - math.floor(t / dt) - 0.5) > 1e-6)  # a tie: decided by rounding
    steps = math.floor(t / dt + 0.5) + 2
    assume(steps < 5000)
    z = latency(torch.tensor([x], dtype=F64), steps, dt=dt, tau=tau, threshold=threshold)
    assert z.sum() == 1
    k = int(z[:, 0].argmax())
    assert abs(k * dt - t) <= dt / 2 + 1e-9
