r"""Property-based tests (Hypothesis) of the delta (send-on-delta) and population encoders against
their definitions (issue 16, item 4).

- delta: a reference :math:`x_{ref}(m) = x_{init} + m\theta` kept from the signed event count m;
  at each step, ON events while :math:`x_t - x_{ref} \ge \theta`, OFF events while
  :math:`x_t - x_{ref} \le -\theta` (written here as a scalar loop). Signals landing exactly on a
  multiple of the threshold (the edge, where ``>=`` decides) are included with dyadic values.
- population: :math:`\lambda_i(x) = r_{max} e^{-(x - \mu_i)^2 / (2\sigma^2)}`,
  :math:`\mu_i = low + i (high - low)/(N - 1)`, and spikes with probability :math:`\lambda_i \Delta t`
  per step.
"""

from __future__ import annotations

import math

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikeforge.encoders import delta, delta_decode, population, population_rates

F64 = torch.float64
FAST = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _delta_reference(x: list[float], theta: float) -> list[int]:
    x0, m, out = x[0], 0, []
    for value in x:
        n = 0
        while value - (x0 + (m + n) * theta) >= theta:
            n += 1
        while value - (x0 + (m + n) * theta) <= -theta:  # only when no ON event was sent
            n -= 1
        m += n
        out.append(n)
    return out


@FAST
@given(
    theta=st.floats(min_value=0.05, max_value=2.0),
    scale=st.floats(min_value=0.01, max_value=5.0),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_delta_emits_an_event_exactly_when_the_signal_moved_by_the_threshold(theta, scale, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.cumsum(scale * torch.randn(80, generator=g, dtype=F64), 0)
    ev = delta(x.unsqueeze(1), theta)[:, 0]
    assert ev.tolist() == [float(n) for n in _delta_reference(x.tolist(), theta)]
    rec = delta_decode(ev.unsqueeze(1), theta, x[0])[:, 0]
    assert bool(((x - rec).abs() < theta).all())


@FAST
@given(
    theta_exp=st.integers(min_value=-4, max_value=1),  # theta = 2**e: multiples are exact
    ks=st.lists(st.integers(min_value=-12, max_value=12), min_size=2, max_size=40),
    x0=st.sampled_from([0.0, 0.5, -3.25]),
)
def test_delta_on_the_threshold_edge(theta_exp, ks, x0):
    """A signal exactly on multiples of theta: each step sends exactly its move in thresholds."""
    theta = 2.0**theta_exp
    x = torch.tensor([x0 + k * theta for k in ks], dtype=F64)
    ev = delta(x.unsqueeze(1), theta)[:, 0]
    moves = [0] + [b - a for a, b in zip(ks, ks[1:])]
    assert ev.tolist() == [float(n) for n in moves]
    assert ev.tolist() == [float(n) for n in _delta_reference(x.tolist(), theta)]


@FAST
@given(
    n=st.integers(min_value=2, max_value=12),
    low=st.floats(min_value=-5.0, max_value=0.0),
    width=st.floats(min_value=0.1, max_value=10.0),
    sigma=st.one_of(st.none(), st.floats(min_value=0.05, max_value=3.0)),
    r_max=st.floats(min_value=0.0, max_value=1.0),
    x=st.lists(st.floats(min_value=-8.0, max_value=12.0), min_size=1, max_size=5),
)
def test_population_rates_are_gaussian_receptive_fields(n, low, width, sigma, r_max, x):
    high = low + width
    got = population_rates(torch.tensor(x, dtype=F64), n, low=low, high=high, sigma=sigma, r_max=r_max)
    s = width / (n - 1) if sigma is None else sigma
    for j, value in enumerate(x):
        for i in range(n):
            mu = low + i * width / (n - 1)
            want = r_max * math.exp(-((value - mu) ** 2) / (2 * s * s))
            assert math.isclose(got[j, i].item(), want, rel_tol=1e-9, abs_tol=1e-300), (i, j)


@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(
    dt=st.floats(min_value=0.1, max_value=5.0),
    value=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_population_spike_counts_match_rate_times_dt(dt, value, seed):
    r_max, n, steps = 0.15, 5, 4000
    g = torch.Generator().manual_seed(seed)
    z = population(
        torch.tensor([value], dtype=F64), n, low=0.0, high=1.0, steps=steps, dt=dt, r_max=r_max, generator=g
    )
    p = population_rates(torch.tensor([value], dtype=F64), n, low=0.0, high=1.0, r_max=r_max)[0] * dt
    counts = z[:, 0].sum(0)
    sd = torch.sqrt(steps * p * (1 - p))
    assert bool(((counts - steps * p).abs() <= 5 * sd + 1e-9).all()), (counts, steps * p)
