r"""Population synchrony (Golomb's chi), population-rate oscillations and spike-train
cross-correlograms.

=================================  ==========================================================
:func:`synchrony_chi`              Golomb's chi of traces (membrane potentials, or filtered
                                   spikes)
:func:`population_spectrum`        Welch power spectrum of the population rate
:func:`oscillation_peak`           the dominant frequency of a spectrum and its prominence
:func:`cross_correlogram`          spike pairs per lag
=================================  ==========================================================

The regimes of Brunel (2000) are told apart by these: synchronous regular (SR) by a mean ISI CV
near 0 (:func:`~spikeforge.analysis.cv_isi`) and a population rate locked to the refractory
limit; asynchronous irregular (AI) by a CV near 1, a small chi of the membrane potentials and a
flat rate spectrum (low prominence); synchronous irregular by a prominent spectral peak, above
100 Hz for SI fast and near 20 Hz for SI slow.

Example:
    >>> import numpy as np
    >>> from spikeforge.analysis import cross_correlogram, synchrony_chi
    >>> t = np.sin(np.linspace(0, 20, 500))[:, None]
    >>> round(synchrony_chi(np.repeat(t, 10, axis=1)), 6)    # identical traces: chi = 1
    1.0
    >>> lags, cc = cross_correlogram([10.0, 50.0], [13.0, 53.0], bin_ms=1.0, max_lag_ms=5.0)
    >>> float(lags[np.argmax(cc)])                            # b fires 3 ms after a
    3.0
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..errors import ParameterError, ShapeError
from ._common import as_array, as_spike_train, count, nonnegative, positive

__all__ = [
    "synchrony_chi",
    "exponential_filter",
    "cross_correlogram",
    "population_spectrum",
    "oscillation_peak",
    "OscillationPeak",
]


def exponential_filter(x: Any, *, tau_ms: float, dt: float = 1.0) -> np.ndarray:
    r"""Causal exponential filter along time, exact per step: :math:`y_k = e^{-\Delta t/\tau} y_{k-1} + x_k`.

    A spike train filtered this way is :math:`\sum_j e^{-(t - t_j)/\tau} H(t - t_j)` sampled at the
    steps (each spike adds 1 at its own step).

    Args:
        x: ``[T, *rest]`` time-major array (spikes or traces).
        tau_ms: time constant in ms (> 0).
        dt: step in ms (> 0).

    Returns:
        ``[T, *rest]`` float64.

    Example:
        >>> exponential_filter([1.0, 0.0, 0.0], tau_ms=1.0, dt=1.0).round(4)
        array([1.    , 0.3679, 0.1353])
    """
    tau = positive("tau_ms", tau_ms, "ms")
    step = positive("dt", dt, "ms")
    a = as_array("x", x)
    if a.ndim == 0:
        raise ParameterError("x must have a time dimension, got a scalar")
    decay = np.exp(-step / tau)
    y = np.empty_like(a)
    acc = np.zeros(a.shape[1:])
    for k in range(a.shape[0]):
        acc = decay * acc + a[k]
        y[k] = acc
    return y


def synchrony_chi(x: Any, *, tau_ms: float | None = None, dt: float = 1.0) -> float:
    r"""Golomb's synchrony measure chi (Golomb and Rinzel 1993; Golomb and Hansel 2000).

    .. math::

        \chi^2 = \frac{\mathrm{Var}_t\left[\frac{1}{N}\sum_i V_i(t)\right]}
                      {\frac{1}{N}\sum_i \mathrm{Var}_t[V_i(t)]},\qquad 0 \le \chi \le 1

    chi is 1 when all neurons do the same thing and falls as :math:`1/\sqrt{N}` for independent
    neurons (plus a finite-sample bias of order :math:`1/\sqrt{T}`).

    Args:
        x: ``[T, N]`` time-major traces, usually membrane potentials; or 0/1 spikes together with
            ``tau_ms``.
        tau_ms: if given, each neuron's column is first filtered with
            :func:`exponential_filter` of this time constant in ms (the usual choice for spikes).
        dt: step in ms (> 0), used with ``tau_ms``.

    Returns:
        chi (dimensionless float in [0, 1]).

    Raises:
        ShapeError: ``x`` is not 2-D.
        ParameterError: fewer than 2 time steps, or every neuron constant in time (chi is
            undefined: 0 / 0).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> round(synchrony_chi(rng.standard_normal((20000, 100))), 2)   # independent: ~ 1/sqrt(100)
        0.1
    """
    v = as_array("x", x, ndim=2)
    if v.shape[0] < 2:
        raise ParameterError(f"x needs at least 2 time steps, got shape {list(v.shape)}")
    if tau_ms is not None:
        v = exponential_filter(v, tau_ms=tau_ms, dt=dt)
    denom = float(v.var(axis=0).mean())
    if denom == 0.0:
        raise ParameterError("every neuron in x is constant in time; chi is undefined (0 / 0)")
    return float(np.sqrt(v.mean(axis=1).var() / denom))


def cross_correlogram(
    train_a_ms: Any,
    train_b_ms: Any,
    *,
    bin_ms: float = 1.0,
    max_lag_ms: float = 50.0,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Cross-correlogram: the number of spike pairs of ``a`` and ``b`` at each lag.

    .. math:: C(\tau_k) = \#\{(i, j) : |t^b_j - t^a_i - \tau_k| < \Delta/2\}

    The lag is :math:`t_b - t_a`: a peak at a positive lag means ``b`` tends to fire after ``a``.
    Bins are centred on multiples of ``bin_ms``, from ``-max_lag_ms`` to ``+max_lag_ms``
    (``max_lag_ms`` is rounded down to a whole number of bins); a difference on a bin boundary goes
    to the upper bin. Pass the same train twice for the autocorrelogram (its zero-lag bin then
    holds the ``n`` self-pairs).

    Args:
        train_a_ms: spike times of the reference neuron in ms, 1-D, sorted.
        train_b_ms: spike times of the target neuron in ms, 1-D, sorted.
        bin_ms: bin width in ms (> 0).
        max_lag_ms: largest lag in ms (>= 0).

    Returns:
        ``(lags_ms, counts)``: bin centres ``[2K + 1]`` in ms and pair counts (int64).

    Raises:
        ShapeError: a train is not 1-D.
        ParameterError: unsorted trains, ``bin_ms <= 0``, ``max_lag_ms < 0``.

    Example:
        >>> lags, cc = cross_correlogram([0.0, 10.0], [1.0, 11.0, 12.0], bin_ms=1.0, max_lag_ms=2.0)
        >>> lags, cc
        (array([-2., -1.,  0.,  1.,  2.]), array([0, 0, 0, 2, 1]))
    """
    a = as_spike_train("train_a_ms", train_a_ms)
    b = as_spike_train("train_b_ms", train_b_ms)
    width = positive("bin_ms", bin_ms, "ms")
    max_lag = nonnegative("max_lag_ms", max_lag_ms, "ms")
    k = int(np.floor(max_lag / width + 1e-9))
    lags = width * np.arange(-k, k + 1, dtype=np.float64)
    reach = (k + 0.5) * width
    lo = np.searchsorted(b, a - reach, side="left")
    hi = np.searchsorted(b, a + reach, side="left")
    n_pairs = hi - lo
    total = int(n_pairs.sum())
    if total == 0:
        return lags, np.zeros(lags.size, dtype=np.int64)
    # the b-index of every pair (i, j) with b_j within reach of a_i, without a Python loop
    owner = np.repeat(np.arange(a.size), n_pairs)
    offset = np.arange(total) - np.repeat(np.cumsum(n_pairs) - n_pairs, n_pairs)
    diff = b[lo[owner] + offset] - a[owner]
    pos = np.floor(diff / width + 0.5).astype(np.int64) + k
    pos = pos[(pos >= 0) & (pos <= 2 * k)]
    return lags, np.bincount(pos, minlength=2 * k + 1).astype(np.int64)


def population_spectrum(
    times_ms: Any,
    *,
    n_neurons: int,
    t_start: float,
    t_stop: float,
    bin_ms: float = 0.5,
    segment_ms: float = 100.0,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Power spectrum of the population rate, averaged over segments (Welch's method).

    The spikes of the window ``[t_start, t_stop)`` are binned into the population rate
    :math:`r(t)` in Hz (spikes per neuron per second, bins of ``bin_ms``); its mean is removed,
    and the periodograms of Hann-windowed segments of ``segment_ms`` (half overlapping) are
    averaged (:func:`scipy.signal.welch`, density scaling: :math:`\mathrm{Hz}^2/\mathrm{Hz}`).
    The frequency resolution is :math:`1000/\texttt{segment\_ms}` Hz, the highest frequency
    :math:`500/\texttt{bin\_ms}` Hz. For independent Poisson neurons the spectrum is flat at
    :math:`2\nu/N` (one-sided), :math:`\nu` the rate in Hz.

    Args:
        times_ms: spike times in ms of the whole population, 1-D.
        n_neurons: population size N (>= 1).
        t_start: start of the window in ms (skip the initial transient).
        t_stop: end of the window in ms.
        bin_ms: bin width in ms (> 0).
        segment_ms: segment length in ms (at least 4 bins, at most the window).

    Returns:
        ``(freqs_hz, power)``: frequencies in Hz and the power spectral density, both ``[F]``.

    Raises:
        ParameterError: a window shorter than one segment, a segment shorter than 4 bins,
            ``n_neurons < 1``, non-positive widths.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> t = np.sort(rng.uniform(0.0, 1000.0, 20000))       # 200 neurons at 100 Hz
        >>> t = t[rng.random(t.size) < 0.5 * (1 + np.sin(2 * np.pi * 0.04 * t))]  # 40 Hz rhythm
        >>> f, p = population_spectrum(t, n_neurons=200, t_start=0.0, t_stop=1000.0, segment_ms=200.0)
        >>> float(f[np.argmax(p)])
        40.0
    """
    from scipy.signal import welch

    t = as_array("times_ms", times_ms, ndim=1)
    n = count("n_neurons", n_neurons)
    width = positive("bin_ms", bin_ms, "ms")
    seg = positive("segment_ms", segment_ms, "ms")
    start, stop = float(t_start), float(t_stop)
    n_bins = int(np.floor((stop - start) / width + 1e-9))
    per_seg = int(np.floor(seg / width + 1e-9))
    if per_seg < 4:
        raise ParameterError(f"segment_ms={seg} ms must hold at least 4 bins of bin_ms={width} ms")
    if n_bins < per_seg:
        raise ParameterError(
            f"the window [t_start, t_stop) = [{start}, {stop}) ms is shorter than segment_ms={seg} ms"
        )
    edges = start + width * np.arange(n_bins + 1, dtype=np.float64)
    rate = np.histogram(t, bins=edges)[0] / n / (width / 1000.0)
    freqs, power = welch(rate, fs=1000.0 / width, nperseg=per_seg, detrend="constant")
    return freqs.astype(np.float64), power.astype(np.float64)


class OscillationPeak(NamedTuple):
    """The dominant oscillation of a spectrum (:func:`oscillation_peak`)."""

    frequency_hz: float  #: frequency of the largest power in the band
    prominence: float  #: that power over the median power in the band (about 1 to 3 for noise)


def oscillation_peak(
    freqs_hz: Any, power: Any, *, f_min: float = 5.0, f_max: float | None = None
) -> OscillationPeak:
    r"""The frequency of largest power in ``[f_min, f_max]`` and its prominence, the ratio of
    that power to the median power in the band.

    A flat spectrum (asynchronous activity, white noise) has a prominence of a few (the
    maximum of F noisy estimates over their median); a population oscillation has one of tens or
    more. Use it on :func:`population_spectrum`.

    Args:
        freqs_hz: ``[F]`` frequencies in Hz, increasing.
        power: ``[F]`` power (any scaling).
        f_min: lowest frequency considered in Hz (>= 0; 5 Hz leaves out the slowest drifts).
        f_max: highest frequency in Hz (default: the last).

    Returns:
        :class:`OscillationPeak` ``(frequency_hz, prominence)``.

    Raises:
        ShapeError: arrays that are not 1-D or differ in length.
        ParameterError: fewer than 3 frequencies in the band, or no power in it.

    Example:
        >>> f = np.arange(0.0, 101.0)
        >>> p = np.ones_like(f); p[40] = 50.0
        >>> oscillation_peak(f, p)
        OscillationPeak(frequency_hz=40.0, prominence=50.0)
    """
    f = as_array("freqs_hz", freqs_hz, ndim=1)
    p = as_array("power", power, ndim=1)
    if f.shape != p.shape:
        raise ShapeError(f"freqs_hz and power must have the same length, got {f.size} and {p.size}")
    lo = nonnegative("f_min", f_min, "Hz")
    hi = float(f[-1]) if f_max is None else positive("f_max", f_max, "Hz")
    band = (f >= lo) & (f <= hi)
    if int(band.sum()) < 3:
        raise ParameterError(f"the band [{lo}, {hi}] Hz holds {int(band.sum())} frequencies; it needs 3")
    fb, pb = f[band], p[band]
    med = float(np.median(pb))
    if med <= 0.0:
        raise ParameterError("the median power in the band is 0; the prominence is undefined")
    k = int(np.argmax(pb))
    return OscillationPeak(float(fb[k]), float(pb[k] / med))
