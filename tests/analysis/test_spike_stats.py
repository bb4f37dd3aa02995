"""Rates, ISI statistics and the Fano factor against analytic cases: Poisson trains (CV and Fano
near 1, within sampling bounds) and regular trains (CV and Fano exactly 0)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spikeforge.analysis as sfa
from spikeforge.errors import ParameterError, ShapeError

RATE = 0.02  # spikes per ms (20 Hz)


def poisson_train(rng: np.random.Generator, rate: float, t_stop: float) -> np.ndarray:
    """Homogeneous Poisson process on [0, t_stop) ms: exponential intervals of mean 1/rate."""
    n = int(rate * t_stop * 1.5) + 100
    t = np.cumsum(rng.exponential(1.0 / rate, size=n))
    assert t[-1] > t_stop
    return t[t < t_stop]


def test_cv_of_poisson_train_is_one_within_sampling_error():
    rng = np.random.default_rng(0)
    train = poisson_train(rng, RATE, 200_000.0)  # about 4000 spikes
    n = train.size - 1
    # the sample CV of exponential intervals has standard deviation 1/sqrt(n) (checked by simulation)
    assert abs(sfa.cv_isi(train) - 1.0) < 4.0 / np.sqrt(n)
    assert abs(sfa.local_variation(train) - 1.0) < 0.1


def test_cv_and_lv_of_regular_train_are_zero():
    train = np.arange(0.0, 1000.0, 25.0)
    assert sfa.cv_isi(train) == 0.0
    assert sfa.local_variation(train) == 0.0


def test_cv_of_gamma_process_matches_its_shape():
    """Gamma(k) intervals have CV = 1/sqrt(k): an analytic case between regular and Poisson."""
    rng = np.random.default_rng(1)
    k = 4.0
    train = np.cumsum(rng.gamma(k, 10.0 / k, size=20_000))
    assert abs(sfa.cv_isi(train) - 0.5) < 0.02


def test_cv_matches_a_direct_formula_and_accepts_tensors():
    t = np.array([0.0, 3.0, 4.0, 10.0, 12.5])
    d = np.diff(t)
    expected = np.sqrt(np.mean((d - d.mean()) ** 2)) / d.mean()
    assert sfa.cv_isi(t) == pytest.approx(expected, rel=1e-15)
    assert sfa.cv_isi(torch.tensor(t, dtype=torch.float32)) == pytest.approx(expected, rel=1e-6)


def test_fano_of_poisson_counts_is_one_within_sampling_error():
    rng = np.random.default_rng(2)
    train = poisson_train(rng, RATE, 1_000_000.0)
    counts = sfa.spike_counts(train, window_ms=500.0, t_stop=1_000_000.0)  # 2000 windows, mean 10
    assert counts.size == 2000 and abs(counts.mean() - 10.0) < 0.5
    # the sample Fano factor of Poisson counts has standard deviation sqrt(2 / K)
    assert abs(sfa.fano_factor(counts) - 1.0) < 4.0 * np.sqrt(2.0 / counts.size)


def test_fano_of_regular_train_counts_is_zero():
    train = np.arange(0.0, 10_000.0, 10.0)
    counts = sfa.spike_counts(train, window_ms=100.0, t_stop=10_000.0)
    assert set(counts.tolist()) == {10}
    assert sfa.fano_factor(counts) == 0.0


def test_fano_per_neuron_and_ddof():
    counts = np.array([[2, 1], [4, 1], [6, 4]])
    f = sfa.fano_factor(counts)
    assert isinstance(f, np.ndarray)
    np.testing.assert_allclose(f, [np.var([2, 4, 6]) / 4, np.var([1, 1, 4]) / 2])
    assert sfa.fano_factor([2, 4, 6], ddof=1) == pytest.approx(np.var([2, 4, 6], ddof=1) / 4)
    assert isinstance(sfa.fano_factor(torch.tensor([1.0, 2.0, 3.0])), float)


def test_isi_histogram_is_a_density():
    rng = np.random.default_rng(3)
    train = poisson_train(rng, RATE, 100_000.0)
    edges, p = sfa.isi_histogram(train, bin_ms=5.0)
    assert p.sum() * 5.0 == pytest.approx(1.0)
    # exponential density rate * exp(-rate t) at the first bin centre, within 15 %
    assert p[0] == pytest.approx(RATE * np.exp(-RATE * 2.5), rel=0.15)
    # pooled trains: intervals never span two trains
    e2, p2 = sfa.isi_histogram([np.array([0.0, 1.0]), np.array([100.0, 103.0])], bin_ms=1.0)
    assert e2[-1] == 3.0 and p2.tolist() == [0.0, 0.5, 0.5]  # intervals 1 and 3 ms, not 97


def test_spike_events_and_rates():
    spikes = torch.zeros(100, 3)
    spikes[::10, 0] = 1
    spikes[::4, 2] = 1
    times, idx = sfa.spike_events(spikes, dt=0.5)
    assert times.dtype == np.float64 and idx.dtype == np.int64
    assert np.all(np.diff(times) >= 0)
    np.testing.assert_allclose(sfa.firing_rates(times, idx, n_neurons=3, t_stop=50.0), [0.2, 0.0, 0.5])
    np.testing.assert_allclose(sfa.mean_rates(spikes, dt=0.5), [0.2, 0.0, 0.5])
    batched = torch.stack([spikes, spikes], dim=1)  # [T, B, n]
    np.testing.assert_allclose(sfa.mean_rates(batched, dt=0.5), [0.2, 0.0, 0.5])


def test_population_rate_of_poisson_population():
    rng = np.random.default_rng(4)
    n = 200
    times = np.concatenate([poisson_train(rng, RATE, 2000.0) for _ in range(n)])
    edges, rate = sfa.population_rate(times, n_neurons=n, bin_ms=100.0, t_stop=2000.0)
    assert edges.size == 21 and rate.size == 20
    # each bin holds Poisson(n * rate * 100) = Poisson(400) spikes: 5 sigma = 5 * sqrt(400) / (n * 100)
    assert np.all(np.abs(rate - RATE) < 5 * np.sqrt(400) / (n * 100.0))
    # the window is half-open: a spike at t_stop is left out
    _, r = sfa.population_rate([0.0, 10.0], n_neurons=1, bin_ms=5.0, t_stop=10.0)
    assert r.tolist() == [0.2, 0.0]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: sfa.cv_isi([0.0, 5.0]), ParameterError, "at least 3 spikes"),
        (lambda: sfa.cv_isi([]), ParameterError, "at least 3 spikes"),
        (lambda: sfa.cv_isi([[0.0, 1.0, 2.0]]), ShapeError, "spike_times_ms must be 1-D"),
        (lambda: sfa.cv_isi([0.0, 5.0, 2.0]), ParameterError, "sorted"),
        (lambda: sfa.cv_isi([0.0, np.nan, 2.0]), ParameterError, "finite"),
        (lambda: sfa.cv_isi([1.0, 1.0, 1.0]), ParameterError, "zero intervals"),
        (lambda: sfa.cv_isi("abc"), ParameterError, "spike_times_ms"),
        (lambda: sfa.fano_factor([0, 0, 0]), ParameterError, "mean of 0"),
        (lambda: sfa.fano_factor([[1, 0], [2, 0]]), ParameterError, r"neurons \[1\]"),
        (lambda: sfa.fano_factor([3]), ParameterError, "at least 2"),
        (lambda: sfa.fano_factor([1, -1, 2]), ParameterError, ">= 0"),
        (lambda: sfa.fano_factor([1, 2], ddof=2), ParameterError, "ddof"),
        (lambda: sfa.fano_factor(np.ones((2, 2, 2))), ShapeError, "counts must be 1-D or 2-D"),
        (lambda: sfa.firing_rates([1.0], [0, 1]), ShapeError, "same length"),
        (lambda: sfa.firing_rates([1.0], [3], n_neurons=2), ParameterError, "n_neurons=2"),
        (lambda: sfa.firing_rates([1.0], [0.5]), ParameterError, "indices"),
        (lambda: sfa.firing_rates([5.0], [0], t_start=5.0, t_stop=5.0), ParameterError, "t_stop"),
        (lambda: sfa.population_rate([1.0], n_neurons=1, bin_ms=0.0), ParameterError, "bin_ms"),
        (
            lambda: sfa.population_rate([1.0], n_neurons=1, bin_ms=50.0, t_stop=10.0),
            ParameterError,
            "shorter",
        ),
        (lambda: sfa.spike_events(np.zeros(5)), ShapeError, "spikes must be 2-D"),
        (lambda: sfa.spike_events(np.zeros((5, 2)), dt=-1.0), ParameterError, "dt must be > 0"),
        (lambda: sfa.isi_histogram([1.0]), ParameterError, "no inter-spike interval"),
        (lambda: sfa.spike_counts([1.0], window_ms=10.0, t_stop=5.0), ParameterError, "window_ms"),
    ],
)
def test_bad_input_raises_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()
