r"""Property-based tests (Hypothesis) of the learnable (DCLS) and fixed delays, over dt, delays in
ms (whole steps or not), sigma, the three convolution methods and split runs (issue 16, item 4).

References, written here from the module docstring:

- the kernel :math:`K_{ji}[k] = w_{ji}\, g(k - d_{ji}) / \sum_{k'} g(k' - d_{ji})`,
  :math:`g(u) = e^{-u^2/2\sigma^2}` with d and sigma in steps (ms / dt); at sigma = 0 the weight
  sits on tap ``round(d)`` clipped to ``[0, D - 1]``;
- the output as an explicit delay line, :math:`y_j[t] = \sum_i \sum_k K_{ji}[k] x_i[t-k]` (zero
  history), by loops over numbers;
- :class:`FixedDelay`: :math:`y_i[t] = x_i[t - d_i]`, and a run split in two chunks equals one run.
"""

from __future__ import annotations

import math

import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from spikeforge.plasticity import FixedDelay, LearnableDelay

F64 = torch.float64
FAST = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

dts = st.sampled_from([0.25, 0.5, 1.0, 2.0, 0.3])


def _layer(n_in, n_out, max_steps, dt, delays_ms, sigma_ms, method, seed):
    layer = LearnableDelay(
        n_in,
        n_out,
        max_delay=max_steps * dt,
        dt=dt,
        sigma=sigma_ms,
        delays=torch.tensor(delays_ms, dtype=F64),
        generator=torch.Generator().manual_seed(seed),
        method=method,
    ).double()
    want = torch.tensor(delays_ms, dtype=F64) / dt  # stored in steps
    assert torch.allclose(layer.delay.detach(), want, rtol=1e-6, atol=1e-6)
    with torch.no_grad():  # the delays as given in ms, not their float32 rounding
        layer.delay.copy_(torch.tensor(delays_ms, dtype=F64) / dt)
    return layer


def _kernel(w: float, d: float, sigma: float, n_taps: int) -> list[float]:
    if sigma == 0:
        k = min(max(round(d), 0), n_taps - 1)
        return [w if i == k else 0.0 for i in range(n_taps)]
    g = [math.exp(-((i - d) ** 2) / (2 * sigma**2)) for i in range(n_taps)]
    return [w * gi / sum(g) for gi in g]


@st.composite
def delay_setups(draw, integer: bool):
    dt = draw(dts)
    max_steps = draw(st.integers(1, 8))
    n_in, n_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    steps = st.floats(0.0, float(max_steps))
    d = [[draw(steps) for _ in range(n_in)] for _ in range(n_out)]
    if integer:  # away from the .5 ties, where the rounding rule decides
        assume(all(abs(x - math.floor(x) - 0.5) > 1e-6 for row in d for x in row))
    sigma = 0.0 if integer else draw(st.floats(0.2, 3.0))
    return dt, max_steps, n_in, n_out, [[x * dt for x in row] for row in d], sigma * dt


@FAST
@given(
    setup=delay_setups(integer=False), method=st.sampled_from(["direct", "spectral"]), seed=st.integers(0, 99)
)
def test_gaussian_delays_equal_the_explicit_convolution(setup, method, seed):
    dt, max_steps, n_in, n_out, delays_ms, sigma_ms = setup
    layer = _layer(n_in, n_out, max_steps, dt, delays_ms, sigma_ms, method, seed)
    n_taps = max_steps + 1
    w = layer.weight.detach()
    kern = [
        [_kernel(float(w[j, i]), delays_ms[j][i] / dt, sigma_ms / dt, n_taps) for i in range(n_in)]
        for j in range(n_out)
    ]
    assert torch.allclose(layer.kernel().detach(), torch.tensor(kern, dtype=F64), rtol=0, atol=1e-12)
    x = torch.rand(12, 2, n_in, generator=torch.Generator().manual_seed(seed + 1), dtype=F64)
    y = layer(x)[0].detach()
    for t in range(12):
        for j in range(n_out):
            want = sum(
                kern[j][i][k] * float(x[t - k, 0, i]) for i in range(n_in) for k in range(min(t + 1, n_taps))
            )
            assert abs(float(y[t, 0, j]) - want) <= 1e-10


@FAST
@given(
    setup=delay_setups(integer=True),
    method=st.sampled_from(["shift", "direct", "spectral"]),
    seed=st.integers(0, 99),
)
def test_integer_delays_are_a_delay_line_at_any_dt(setup, method, seed):
    """sigma = 0: ``y_j[t] = sum_i w_ji x_i[t - round(d_ji / dt)]``."""
    dt, max_steps, n_in, n_out, delays_ms, _ = setup
    layer = _layer(n_in, n_out, max_steps, dt, delays_ms, 0.0, method, seed)
    x = torch.rand(10, n_in, generator=torch.Generator().manual_seed(seed + 1), dtype=F64)
    y = layer(x.unsqueeze(1))[0].detach()
    w = layer.weight.detach()
    steps = [[round(d / dt) for d in row] for row in delays_ms]
    assert layer.rounded_delays().steps.tolist() == steps
    tol = 1e-12  # "shift" sums by delay group: exact terms, another order
    for t in range(10):
        for j in range(n_out):
            want = sum(
                float(w[j, i]) * float(x[t - steps[j][i], i]) for i in range(n_in) if t - steps[j][i] >= 0
            )
            assert abs(float(y[t, 0, j]) - want) <= tol
    fixed = layer.to_fixed()
    assert torch.allclose(fixed(x.unsqueeze(1))[0], y, rtol=0, atol=1e-12)


@FAST
@given(
    setup=delay_setups(integer=False),
    split=st.integers(1, 11),
    seed=st.integers(0, 99),
)
def test_learnable_delay_split_run_equals_one_run(setup, split, seed):
    dt, max_steps, n_in, n_out, delays_ms, sigma_ms = setup
    layer = _layer(n_in, n_out, max_steps, dt, delays_ms, sigma_ms, "direct", seed)
    x = torch.rand(12, 2, n_in, generator=torch.Generator().manual_seed(seed + 1), dtype=F64)
    whole, _ = layer(x)
    first, state = layer(x[:split])
    second, _ = layer(x[split:], state)
    assert torch.allclose(torch.cat([first, second]), whole, rtol=0, atol=1e-12)


@FAST
@given(
    dt=dts,
    steps=st.lists(st.integers(0, 6), min_size=1, max_size=4),
    split=st.integers(1, 14),
    seed=st.integers(0, 99),
)
def test_fixed_delay_shifts_each_channel_and_splits(dt, steps, split, seed):
    line = FixedDelay(torch.tensor(steps, dtype=F64) * dt, dt=dt)
    x = torch.rand(15, len(steps), generator=torch.Generator().manual_seed(seed), dtype=F64)
    y, _ = line(x)
    for t in range(15):
        for i, d in enumerate(steps):
            assert float(y[t, i]) == (float(x[t - d, i]) if t >= d else 0.0)
    first, state = line(x[:split])
    second, _ = line(x[split:], state)
    assert torch.equal(torch.cat([first, second]), y)
    state, stepped = None, []
    for t in range(15):  # the step-by-step ring buffer gives the same
        out, state = line.step(x[t], state)
        stepped.append(out)
    assert torch.equal(torch.stack(stepped), y)
