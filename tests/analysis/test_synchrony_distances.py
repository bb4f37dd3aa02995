"""Synchrony chi, cross-correlograms and spike-train distances against analytic values and
independent brute-force implementations written here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import spikeforge.analysis as sfa
from spikeforge.errors import ParameterError, ShapeError

# ---------------------------------------------------------------------------------------------
# synchrony chi


def test_chi_is_one_for_identical_trains():
    rng = np.random.default_rng(0)
    train = (rng.random(5000) < 0.02).astype(float)
    spikes = np.repeat(train[:, None], 50, axis=1)  # [T, N], every neuron the same
    assert sfa.synchrony_chi(spikes, tau_ms=5.0) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("n", [25, 100, 400])
def test_chi_of_independent_trains_is_one_over_sqrt_n(n):
    rng = np.random.default_rng(n)
    spikes = (rng.random((40_000, n)) < 0.02).astype(float)  # independent Bernoulli trains, 1 ms steps
    chi = sfa.synchrony_chi(spikes, tau_ms=5.0)
    # chi^2 = 1/N plus a finite-sample bias of order tau / T; 15 % margin on chi * sqrt(N) = 1
    assert chi * math.sqrt(n) == pytest.approx(1.0, abs=0.15)


def test_chi_of_partially_shared_input():
    """V_i = s + e_i with var(s) = c and var(e_i) = 1 - c: chi^2 = (c + (1-c)/N) / 1."""
    rng = np.random.default_rng(5)
    n, c = 50, 0.3
    shared = rng.standard_normal((50_000, 1)) * math.sqrt(c)
    v = shared + rng.standard_normal((50_000, n)) * math.sqrt(1 - c)
    assert sfa.synchrony_chi(torch.tensor(v)) == pytest.approx(math.sqrt(c + (1 - c) / n), rel=0.03)


def test_exponential_filter_is_the_exact_kernel():
    x = np.zeros((30, 2))
    x[3, 0] = 1.0
    y = sfa.exponential_filter(x, tau_ms=4.0, dt=0.5)
    k = np.arange(30) - 3
    np.testing.assert_allclose(y[:, 0], np.where(k >= 0, np.exp(-np.maximum(k, 0) * 0.5 / 4.0), 0.0))
    assert not y[:, 1].any()


# ---------------------------------------------------------------------------------------------
# cross-correlogram


def brute_ccg(a, b, bin_ms, k):
    counts = np.zeros(2 * k + 1, dtype=np.int64)
    for ta in a:
        for tb in b:
            pos = int(math.floor((tb - ta) / bin_ms + 0.5)) + k
            if 0 <= pos <= 2 * k:
                counts[pos] += 1
    return counts


@pytest.mark.parametrize("shift", [-7.0, 0.0, 3.0, 12.0])
def test_ccg_of_shifted_copy_peaks_at_the_shift(shift):
    rng = np.random.default_rng(1)
    a = np.sort(rng.uniform(0, 10_000.0, 300))
    b = a + shift
    lags, cc = sfa.cross_correlogram(a, b, bin_ms=1.0, max_lag_ms=20.0)
    assert lags[np.argmax(cc)] == shift
    assert cc.max() >= a.size  # every spike pairs with its copy (plus chance pairs)
    # symmetric: swapping the trains mirrors the correlogram
    _, cc_rev = sfa.cross_correlogram(b, a, bin_ms=1.0, max_lag_ms=20.0)
    np.testing.assert_array_equal(cc_rev, cc[::-1])


def test_ccg_matches_brute_force_counting():
    rng = np.random.default_rng(2)
    for _ in range(5):
        a = np.sort(rng.uniform(0, 500.0, rng.integers(0, 60)))
        b = np.sort(rng.uniform(0, 500.0, rng.integers(0, 60)))
        lags, cc = sfa.cross_correlogram(a, b, bin_ms=2.5, max_lag_ms=30.0)
        assert lags.size == 25 and lags[0] == -30.0
        np.testing.assert_array_equal(cc, brute_ccg(a, b, 2.5, 12))


def test_ccg_of_independent_poisson_trains_is_flat():
    """For independent trains the expected count per bin is n_a * n_b * bin / T."""
    rng = np.random.default_rng(3)
    t = 200_000.0
    a = np.sort(rng.uniform(0, t, 4000))
    b = np.sort(rng.uniform(0, t, 4000))
    _, cc = sfa.cross_correlogram(a, b, bin_ms=5.0, max_lag_ms=100.0)
    expected = a.size * b.size * 5.0 / t  # 400 per bin
    assert np.all(np.abs(cc - expected) < 5 * math.sqrt(expected))


# ---------------------------------------------------------------------------------------------
# van Rossum


def van_rossum_numeric(a, b, tau, dt=0.001):
    """(1/tau) * integral of the squared difference of the causally filtered trains, on a grid."""
    end = max([0.0, *a, *b]) + 30 * tau
    t = np.arange(min([0.0, *a, *b]), end, dt)

    def f(train):
        out = np.zeros_like(t)
        for s in train:
            out += np.where(t >= s, np.exp(-(t - s) / tau), 0.0)
        return out

    return math.sqrt(np.trapezoid((f(a) - f(b)) ** 2, t) / tau)


@pytest.mark.parametrize("dt", [0.0, 0.5, 2.0, 10.0, 50.0])
def test_van_rossum_single_spikes_closed_form(dt):
    tau = 8.0
    d = sfa.van_rossum_distance([100.0], [100.0 + dt], tau_ms=tau)
    assert d**2 == pytest.approx(1.0 - math.exp(-abs(dt) / tau), abs=1e-12)


def test_van_rossum_limits():
    assert sfa.van_rossum_distance([], [], tau_ms=5.0) == 0.0
    assert sfa.van_rossum_distance([], [1.0], tau_ms=5.0) ** 2 == pytest.approx(0.5)
    # n unmatched far-apart spikes: D^2 = n / 2
    far = np.arange(5) * 1e4
    assert sfa.van_rossum_distance(far, [], tau_ms=5.0) ** 2 == pytest.approx(2.5)
    same = np.array([1.0, 4.0, 9.0])
    assert sfa.van_rossum_distance(same, same, tau_ms=3.0) == pytest.approx(0.0, abs=1e-7)


def test_van_rossum_against_numerical_integration():
    rng = np.random.default_rng(4)
    for _ in range(3):
        a = np.sort(rng.uniform(0, 50.0, rng.integers(1, 6)))
        b = np.sort(rng.uniform(0, 50.0, rng.integers(0, 6)))
        d = sfa.van_rossum_distance(a, b, tau_ms=4.0)
        assert d == pytest.approx(van_rossum_numeric(a, b, 4.0), rel=1e-3)


def test_van_rossum_matches_the_elephant_convention_up_to_sqrt2():
    """elephant's van_rossum_distance (Houghton and Kreuz sums, without the factor 1/2) gives
    D_e^2 = sum_aa + sum_bb - 2 sum_ab, written here from its formula."""
    a, b, tau = np.array([1.0, 7.0, 8.0]), np.array([2.0, 20.0]), 5.0

    def s(x, y):
        return np.exp(-np.abs(x[:, None] - y[None, :]) / tau).sum()

    d_elephant = math.sqrt(s(a, a) + s(b, b) - 2 * s(a, b))
    assert sfa.van_rossum_distance(a, b, tau_ms=tau) * math.sqrt(2) == pytest.approx(d_elephant, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Victor-Purpura


def victor_purpura_reference(a, b, q):
    """The textbook dynamic programme, cell by cell in pure Python."""
    g = [[0.0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        g[i][0] = float(i)
    for j in range(len(b) + 1):
        g[0][j] = float(j)
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            g[i][j] = min(g[i - 1][j] + 1, g[i][j - 1] + 1, g[i - 1][j - 1] + q * abs(a[i - 1] - b[j - 1]))
    return g[len(a)][len(b)]


def test_victor_purpura_hand_computed():
    a, b = [0.0, 10.0], [1.0, 30.0]
    # q = 0.5: move 0 -> 1 (0.5); 10 -> 30 would cost 10, so delete and insert (2)
    assert sfa.victor_purpura_distance(a, b, q=0.5) == pytest.approx(2.5)
    # q = 0.05: both moves are cheaper than 2: 0.05 + 1.0
    assert sfa.victor_purpura_distance(a, b, q=0.05) == pytest.approx(1.05)
    # one spike against two: move to the nearer, insert the other
    assert sfa.victor_purpura_distance([0.0], [0.5, 1.0], q=1.0) == pytest.approx(1.5)


@pytest.mark.parametrize(("na", "nb"), [(0, 0), (0, 4), (3, 0), (5, 8), (12, 7)])
def test_victor_purpura_limits_of_q(na, nb):
    rng = np.random.default_rng(na * 10 + nb)
    a, b = np.sort(rng.uniform(0, 100, na)), np.sort(rng.uniform(0, 100, nb))
    assert sfa.victor_purpura_distance(a, b, q=0.0) == abs(na - nb)  # count difference
    assert sfa.victor_purpura_distance(a, b, q=1e9) == na + nb  # total count


def test_victor_purpura_against_independent_dynamic_programme():
    rng = np.random.default_rng(6)
    for _ in range(40):
        a = np.sort(rng.uniform(0, 100, rng.integers(0, 15)))
        b = np.sort(rng.uniform(0, 100, rng.integers(0, 15)))
        q = float(rng.choice([0.01, 0.1, 0.5, 2.0]))
        ours = sfa.victor_purpura_distance(torch.tensor(a), b, q=q)
        assert ours == pytest.approx(victor_purpura_reference(list(a), list(b), q), abs=1e-12)
        assert ours == pytest.approx(sfa.victor_purpura_distance(b, a, q=q), abs=1e-12)  # symmetric


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: sfa.synchrony_chi(np.ones((100, 5))), ParameterError, "constant"),
        (lambda: sfa.synchrony_chi(np.ones(100)), ShapeError, "x must be 2-D"),
        (lambda: sfa.synchrony_chi(np.ones((1, 5))), ParameterError, "2 time steps"),
        (lambda: sfa.synchrony_chi(np.ones((5, 5)), tau_ms=0.0), ParameterError, "tau_ms"),
        (lambda: sfa.cross_correlogram([1.0], [2.0], bin_ms=-1.0), ParameterError, "bin_ms"),
        (lambda: sfa.cross_correlogram([1.0], [2.0], max_lag_ms=-1.0), ParameterError, "max_lag_ms"),
        (lambda: sfa.cross_correlogram([2.0, 1.0], [2.0]), ParameterError, "train_a_ms must be sorted"),
        (lambda: sfa.van_rossum_distance([1.0], [2.0], tau_ms=-3.0), ParameterError, "tau_ms"),
        (lambda: sfa.van_rossum_distance([[1.0]], [2.0], tau_ms=3.0), ShapeError, "train_a_ms"),
        (lambda: sfa.victor_purpura_distance([1.0], [2.0], q=-1.0), ParameterError, "q must be >= 0"),
        (lambda: sfa.victor_purpura_distance([1.0], [3.0, 2.0], q=1.0), ParameterError, "train_b_ms"),
    ],
)
def test_bad_input_raises_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------------------------------------
# population-rate spectrum and oscillation peak

from spikeforge.analysis.synchrony import oscillation_peak, population_spectrum  # noqa: E402


def _poisson_population(rng, n, rate_hz, duration_ms, modulation=None):
    """Spike times of n neurons (thinning of a homogeneous process at 2 * rate)."""
    t = np.sort(rng.uniform(0.0, duration_ms, rng.poisson(2 * n * rate_hz * duration_ms / 1000.0)))
    keep = 0.5 if modulation is None else 0.5 * (1.0 + modulation(t))
    return t[rng.random(t.size) < keep]


def test_spectrum_of_independent_poisson_neurons_is_flat_at_2nu_over_n():
    """Independent Poisson neurons: the one-sided PSD of the population rate is 2 nu / N (Hz^2/Hz)
    at every frequency, and no frequency stands out."""
    rng = np.random.default_rng(0)
    n, nu = 500, 20.0
    t = _poisson_population(rng, n, nu, 4000.0)
    f, p = population_spectrum(t, n_neurons=n, t_start=0.0, t_stop=4000.0, bin_ms=0.5, segment_ms=100.0)
    assert f[1] == pytest.approx(10.0) and f[-1] == pytest.approx(1000.0)
    band = (f >= 20) & (f <= 800)
    assert p[band].mean() == pytest.approx(2 * nu / n, rel=0.1)
    peak = oscillation_peak(f, p, f_min=5.0)
    assert peak.prominence < 3.0


@pytest.mark.parametrize("freq", [20.0, 180.0])
def test_spectrum_finds_a_population_rhythm(freq):
    rng = np.random.default_rng(1)
    n = 200
    t = _poisson_population(
        rng, n, 30.0, 2000.0, modulation=lambda t: 0.5 * np.sin(2 * np.pi * freq * t / 1000.0)
    )
    f, p = population_spectrum(t, n_neurons=n, t_start=0.0, t_stop=2000.0, bin_ms=0.5, segment_ms=200.0)
    peak = oscillation_peak(f, p, f_min=5.0)
    assert peak.frequency_hz == pytest.approx(freq)
    assert peak.prominence > 20.0  # noise alone: < 3
    # the rhythm's power: (m * nu)^2 / 2 in a sine of amplitude m * nu, spread over the Hann
    # window's equivalent noise bandwidth 1.5 * df
    df = f[1] - f[0]
    assert p[np.argmin(abs(f - freq))] * 1.5 * df == pytest.approx((0.5 * 30.0) ** 2 / 2, rel=0.35)


def test_spectrum_and_peak_errors():
    with pytest.raises(ParameterError, match="shorter than segment_ms"):
        population_spectrum([1.0], n_neurons=1, t_start=0.0, t_stop=50.0, segment_ms=100.0)
    with pytest.raises(ParameterError, match="at least 4 bins"):
        population_spectrum([1.0], n_neurons=1, t_start=0.0, t_stop=50.0, bin_ms=5.0, segment_ms=10.0)
    with pytest.raises(ParameterError, match="n_neurons"):
        population_spectrum([1.0], n_neurons=0, t_start=0.0, t_stop=500.0)
    with pytest.raises(ShapeError, match="same length"):
        oscillation_peak(np.arange(5.0), np.ones(4))
    with pytest.raises(ParameterError, match="holds 1 frequencies"):
        oscillation_peak(np.arange(5.0), np.ones(5), f_min=4.0)
    with pytest.raises(ParameterError, match="median power"):
        oscillation_peak(np.arange(10.0), np.zeros(10))
