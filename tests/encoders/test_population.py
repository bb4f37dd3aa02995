"""Gaussian population coding: the tuning curves, the spike rates, and maximum-likelihood
decoding whose error falls as 1/sqrt(T) and reaches the Cramer-Rao bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikeforge.encoders import population, population_centres, population_rates
from spikeforge.errors import DTypeError, ParameterError
from spikeforge.units import Hz

F64 = torch.float64
N, LOW, HIGH, R_MAX = 8, 0.0, 1.0, 100 * Hz


def test_rates_are_gaussian_tuning_curves():
    x = torch.tensor([[0.0, 0.3], [0.77, 1.2]], dtype=F64)
    rates = population_rates(x, N, low=LOW, high=HIGH, r_max=R_MAX)
    assert rates.shape == (2, 2, N) and rates.dtype == F64
    spacing = (HIGH - LOW) / (N - 1)
    for idx in np.ndindex(2, 2):
        v = x[idx].item()
        for i in range(N):
            mu = LOW + i * spacing
            expected = R_MAX * math.exp(-((v - mu) ** 2) / (2 * spacing**2))  # sigma = spacing
            assert rates[idx][i].item() == pytest.approx(expected, rel=1e-12)
    centres = population_centres(N, low=LOW, high=HIGH, dtype=F64)
    at_centres = population_rates(centres, N, low=LOW, high=HIGH, r_max=R_MAX)
    assert torch.allclose(torch.diagonal(at_centres), torch.full((N,), R_MAX, dtype=F64))
    assert torch.allclose(
        torch.diagonal(at_centres, 1), torch.full((N - 1,), R_MAX * math.exp(-0.5), dtype=F64)
    )
    wide = population_rates(torch.tensor([0.5]), N, low=LOW, high=HIGH, sigma=0.5)
    assert wide.min() > 0.1 * wide.max()


def test_spikes_fire_at_the_population_rates(gen):
    x = torch.tensor([0.1, 0.55, 0.9])
    z = population(x, N, low=LOW, high=HIGH, steps=4000, dt=0.5, r_max=R_MAX, generator=gen)
    assert z.shape == (4000, 3, N) and z.dtype == x.dtype
    measured = z.mean(0) / 0.5
    expected = population_rates(x, N, low=LOW, high=HIGH, r_max=R_MAX)
    sd = torch.sqrt(expected * 0.5 * (1 - expected * 0.5) / 4000) / 0.5
    assert bool(((measured - expected).abs() <= 5 * sd + 1e-9).all())


def test_ml_decoding_error_falls_as_one_over_sqrt_t(gen):
    dt = 1.0
    grid = torch.linspace(-0.1, 1.1, 4801, dtype=F64)
    p = population_rates(grid, N, low=LOW, high=HIGH, r_max=R_MAX) * dt  # spike probability per step
    log_p, log_q = torch.log(p), torch.log1p(-p)
    x = torch.linspace(0.25, 0.75, 400, dtype=F64)
    durations = [50, 100, 200, 400, 800, 1600]
    counts = torch.cumsum(population(x, N, low=LOW, high=HIGH, steps=max(durations), dt=dt, generator=gen), 0)
    rmse = []
    for T in durations:
        n = counts[T - 1]  # [trials, N]
        log_lik = n @ log_p.T + (T - n) @ log_q.T  # binomial log-likelihood on the grid
        x_hat = grid[log_lik.argmax(1)]
        rmse.append(((x_hat - x) ** 2).mean().sqrt().item())
    slope = np.polyfit(np.log(durations), np.log(rmse), 1)[0]
    assert -0.6 <= slope <= -0.4, (slope, rmse)
    # and the error at the longest duration is the Cramer-Rao bound, 1 / sqrt(T * I(x))
    xr = x.clone().requires_grad_(True)
    lam = population_rates(xr, N, low=LOW, high=HIGH, r_max=R_MAX) * dt
    dlam = torch.stack([torch.autograd.grad(lam[:, i].sum(), xr, retain_graph=True)[0] for i in range(N)], 1)
    fisher = (dlam**2 / (lam * (1 - lam))).sum(1).detach()  # per step, Bernoulli
    crb = (1 / (durations[-1] * fisher)).mean().sqrt().item()
    assert 0.85 < rmse[-1] / crb < 1.15, (rmse[-1], crb)


def test_rates_are_differentiable():
    x = torch.tensor([0.2, 0.71], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: population_rates(v, 5, low=0.0, high=1.0, sigma=0.3), (x,))


def test_global_rng_untouched_and_seeded_runs_repeat():
    state = torch.get_rng_state()
    a = population(
        torch.tensor([0.4]), 4, low=0.0, high=1.0, steps=50, generator=torch.Generator().manual_seed(1)
    )
    b = population(
        torch.tensor([0.4]), 4, low=0.0, high=1.0, steps=50, generator=torch.Generator().manual_seed(1)
    )
    population(torch.tensor([0.4]), 4, low=0.0, high=1.0, steps=50)
    assert torch.equal(a, b)
    assert torch.equal(torch.get_rng_state(), state)


def test_bad_input():
    x = torch.tensor([0.5])
    with pytest.raises(ParameterError, match="n_neurons"):
        population_rates(x, 1, low=0.0, high=1.0)
    with pytest.raises(ParameterError, match="high must be > low"):
        population_rates(x, 4, low=1.0, high=1.0)
    with pytest.raises(ParameterError, match="sigma"):
        population_rates(x, 4, low=0.0, high=1.0, sigma=0.0)
    with pytest.raises(ParameterError, match="r_max"):
        population_rates(x, 4, low=0.0, high=1.0, r_max=-0.1)
    with pytest.raises(ParameterError, match=r"r_max \* dt"):
        population(x, 4, low=0.0, high=1.0, steps=10, dt=2.0, r_max=0.6)
    with pytest.raises(ParameterError, match="x must not be NaN"):
        population_rates(torch.tensor([float("nan")]), 4, low=0.0, high=1.0)
    with pytest.raises(DTypeError, match="x"):
        population(torch.tensor([1]), 4, low=0.0, high=1.0, steps=10)
    with pytest.raises(ParameterError, match="steps"):
        population(x, 4, low=0.0, high=1.0, steps=-3)
