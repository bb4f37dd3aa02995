"""Poisson encoder: spike statistics (papers.md section 11), refractoriness, chunking, the global
RNG, dtypes and bad input."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.encoders import poisson, poisson_step, poisson_time_varying
from spikeforge.errors import DTypeError, ParameterError, ShapeError
from spikeforge.units import Hz, second

F64 = torch.float64


def isis(z: torch.Tensor) -> torch.Tensor:
    """Inter-spike intervals in steps, pooled over the trains of ``z`` [T, n]."""
    out = [torch.diff(torch.nonzero(z[:, i]).flatten()) for i in range(z.shape[1])]
    return torch.cat(out).to(F64)


@pytest.mark.parametrize("dt", [1.0, 0.5])
def test_rate_fano_and_cv_of_1000_trains_at_20_hz(gen, dt):
    steps = round(1 * second / dt)
    z = poisson(torch.full((1000,), 20 * Hz, dtype=F64), steps, dt, generator=gen)
    assert z.shape == (steps, 1000) and z.dtype == F64
    assert set(z.unique().tolist()) == {0.0, 1.0}
    counts = z.sum(0)
    rate_hz = counts.mean().item() / 1.0  # spikes per train in 1 s
    assert abs(rate_hz - 20.0) / 20.0 < 0.02, rate_hz
    fano = (counts.var() / counts.mean()).item()
    assert abs(fano - 1.0) < 0.1, fano
    intervals = isis(z)
    cv = (intervals.std() / intervals.mean()).item()
    assert abs(cv - 1.0) < 0.1, cv


def test_rate_is_per_ms_and_scales_with_dt(gen):
    # the spike probability per step is rate * dt: 0.3 per ms at dt = 2 ms is p = 0.6
    z = poisson(torch.full((20_000,), 0.3, dtype=F64), 1, 2.0, generator=gen)
    p = z.mean().item()
    assert abs(p - 0.6) < 5 * math.sqrt(0.6 * 0.4 / 20_000), p
    assert poisson(torch.full((10,), 1.0), 5, 1.0, generator=gen).sum() == 50  # rate * dt = 1
    assert poisson(torch.zeros(10), 5, 1.0, generator=gen).sum() == 0


def test_refractoriness_sets_a_dead_time(gen):
    rate, t_ref = 100 * Hz, 5.0
    z = poisson(torch.full((500,), rate, dtype=F64), 2000, 1.0, generator=gen, refractory=t_ref)
    assert isis(z).min().item() == 6  # silent for the 5 steps after each spike
    expected = rate / (1 + rate * t_ref)  # dead-time corrected rate, per ms
    measured = z.mean().item()
    assert abs(measured - expected) / expected < 0.02, (measured, expected)


def test_chunked_run_equals_one_long_run():
    rates = torch.rand(4, 7, generator=torch.Generator().manual_seed(0)) * 0.5
    whole = poisson(rates, 300, generator=torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    chunks = torch.cat(
        [poisson(rates, 100, generator=g), poisson(rates, 1, generator=g), poisson(rates, 199, generator=g)]
    )
    assert torch.equal(whole, chunks)

    seq = torch.rand(300, 4, 7, generator=torch.Generator().manual_seed(1)) * 0.5
    whole = poisson_time_varying(seq, generator=torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    chunks = torch.cat(
        [poisson_time_varying(seq[:120], generator=g), poisson_time_varying(seq[120:], generator=g)]
    )
    assert torch.equal(whole, chunks)


def test_time_varying_with_constant_rates_equals_poisson():
    rates = torch.linspace(0.0, 0.9, 12, dtype=F64)
    a = poisson(rates, 50, generator=torch.Generator().manual_seed(3), refractory=2.0)
    b = poisson_time_varying(rates.expand(50, 12), generator=torch.Generator().manual_seed(3), refractory=2.0)
    assert torch.equal(a, b)


def test_step_loop_equals_scan_with_refractoriness():
    seq = torch.rand(80, 3, 5, generator=torch.Generator().manual_seed(2), dtype=F64) * 0.6
    whole = poisson_time_varying(seq, 1.0, generator=torch.Generator().manual_seed(9), refractory=3.0)
    g, left, out = torch.Generator().manual_seed(9), None, []
    for t in range(80):
        z, left = poisson_step(seq[t], left, dt=1.0, generator=g, refractory=3.0)
        out.append(z)
    assert whole.sum() > 0
    assert torch.equal(torch.stack(out), whole)


def test_time_varying_follows_the_rate(gen):
    rates = torch.cat([torch.full((500, 400), 10 * Hz), torch.full((500, 400), 80 * Hz)])
    z = poisson_time_varying(rates, 1.0, generator=gen)
    first, second_half = z[:500].mean().item(), z[500:].mean().item()
    assert abs(first - 0.01) < 0.001 and abs(second_half - 0.08) < 0.002, (first, second_half)


def test_same_generator_same_spikes_and_global_rng_untouched():
    state = torch.get_rng_state()
    rates = torch.full((3, 50), 0.2)
    a = poisson(rates, 40, generator=torch.Generator().manual_seed(5), refractory=2.0)
    b = poisson(rates, 40, generator=torch.Generator().manual_seed(5), refractory=2.0)
    c = poisson(rates, 40)  # a private randomly seeded generator
    d = poisson(rates, 40)
    poisson_time_varying(rates.expand(10, 3, 50))
    poisson_step(rates)
    assert torch.equal(a, b)
    assert not torch.equal(c, d)  # 6000 draws at p = 0.2: equal only by a 1e-1000 chance
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_output_dtype_and_shape(gen, dtype):
    z = poisson(torch.full((2, 3, 4), 0.1, dtype=dtype), 6, generator=gen)
    assert z.shape == (6, 2, 3, 4) and z.dtype == dtype
    assert poisson(torch.tensor(0.5, dtype=dtype), 10, generator=gen).shape == (10,)
    assert poisson(torch.ones(3, dtype=dtype) * 0.1, 0, generator=gen).shape == (0, 3)


@pytest.mark.parametrize(
    "rates, dt, shown",
    [
        (torch.tensor([0.01, 1.5]), 1.0, "1.5"),  # rate * dt > 1
        (torch.tensor([0.3, 0.6]), 2.0, "0.6"),  # 0.6 per ms at dt = 2 ms
        (torch.tensor([0.01, -0.1]), 1.0, "-0.1"),
        (torch.tensor([float("nan"), 0.1]), 1.0, "nan"),
        (torch.tensor([float("inf")]), 1.0, "inf"),
    ],
)
def test_bad_rates_raise_naming_rates_and_value(rates, dt, shown):
    with pytest.raises(ParameterError, match="rates") as info:
        poisson(rates, 10, dt)
    assert shown in str(info.value)
    with pytest.raises(ParameterError, match="rates"):
        poisson_time_varying(rates.expand(3, -1), dt)
    with pytest.raises(ParameterError, match="rates"):
        poisson_step(rates, dt=dt)


def test_a_bad_rate_at_one_time_step_raises():
    seq = torch.full((100, 4), 0.1)
    seq[57, 2] = -0.2
    with pytest.raises(ParameterError, match=r"rates.*-0\.2.*\[57, 2\]"):
        poisson_time_varying(seq)


def test_other_bad_input():
    r = torch.full((3,), 0.1)
    with pytest.raises(DTypeError, match="rates"):
        poisson(torch.tensor([0, 1]), 10)
    with pytest.raises(DTypeError, match="rates"):
        poisson([0.1, 0.2], 10)  # type: ignore[arg-type]
    for steps in (-1, 2.5, True):
        with pytest.raises(ParameterError, match="steps"):
            poisson(r, steps)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="dt"):
        poisson(r, 10, dt=0.0)
    with pytest.raises(ParameterError, match="refractory"):
        poisson(r, 10, refractory=-1.0)
    with pytest.raises(ParameterError, match="generator"):
        poisson(r, 10, generator=1234)  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="time-major"):
        poisson_time_varying(torch.tensor(0.1))
    with pytest.raises(ShapeError, match="refractory_left"):
        poisson_step(r, torch.zeros(4, dtype=torch.int32))
