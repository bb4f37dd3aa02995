r"""Inter-spike intervals and spike-count variability: ISI distributions, the ISI coefficient of
variation and the Fano factor.

For a Poisson process both the ISI CV and the Fano factor are 1; for a perfectly regular train
both are 0. Spike times are in ms.

Example:
    >>> import numpy as np
    >>> from spikeforge.analysis import cv_isi, fano_factor
    >>> cv_isi(np.arange(0.0, 100.0, 10.0))            # regular: every ISI is 10 ms
    0.0
    >>> fano_factor([3, 3, 3, 3])                      # the same count in every trial
    0.0
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ParameterError
from ._common import as_array, as_spike_train, number, positive

__all__ = ["isi", "cv_isi", "local_variation", "isi_histogram", "spike_counts", "fano_factor"]


def isi(spike_times_ms: Any) -> np.ndarray:
    """The inter-spike intervals of one neuron, ``diff(spike_times_ms)``, in ms.

    Args:
        spike_times_ms: one neuron's spike times in ms, 1-D, sorted (numpy or torch).

    Returns:
        ``[n_spikes - 1]`` intervals in ms (empty for fewer than 2 spikes).

    Raises:
        ShapeError: not 1-D.
        ParameterError: not sorted, or NaN/inf.

    Example:
        >>> isi([1.0, 4.0, 10.0])
        array([3., 6.])
    """
    return np.diff(as_spike_train("spike_times_ms", spike_times_ms))


def _intervals(spike_times_ms: Any, min_spikes: int) -> np.ndarray:
    t = as_spike_train("spike_times_ms", spike_times_ms)
    if t.size < min_spikes:
        raise ParameterError(
            f"spike_times_ms needs at least {min_spikes} spikes ({min_spikes - 1} intervals) for this "
            f"statistic, got {t.size}"
        )
    d = np.diff(t)
    if not bool((d > 0).any()):
        raise ParameterError("spike_times_ms has only zero intervals (all spikes at the same time)")
    return d


def cv_isi(spike_times_ms: Any) -> float:
    r"""Coefficient of variation of one neuron's inter-spike intervals.

    .. math:: CV = \frac{\sigma_{ISI}}{\mu_{ISI}},\qquad
        \sigma_{ISI}^2 = \frac{1}{n}\sum_k (ISI_k - \mu_{ISI})^2

    with the population standard deviation (``ddof=0``), as ``elephant.statistics.cv``. It is 1 for
    a Poisson process and 0 for a regular train.

    Args:
        spike_times_ms: one neuron's spike times in ms, 1-D and sorted (numpy or torch).

    Returns:
        The CV (dimensionless float).

    Raises:
        ShapeError: not 1-D (pass one neuron at a time).
        ParameterError: fewer than 3 spikes (the CV of one interval is undefined), unsorted times,
            or all intervals zero.

    Example:
        >>> round(cv_isi([0.0, 10.0, 30.0, 40.0]), 4)      # intervals 10, 20, 10 ms
        0.3536
    """
    d = _intervals(spike_times_ms, 3)
    return float(np.std(d) / np.mean(d))


def local_variation(spike_times_ms: Any) -> float:
    r"""Local variation LV of the intervals (Shinomoto et al. 2003), robust to slow rate changes.

    .. math:: LV = \frac{3}{n-1}\sum_{k=1}^{n-1}
        \left(\frac{ISI_k - ISI_{k+1}}{ISI_k + ISI_{k+1}}\right)^2

    It is 1 for a Poisson process and 0 for a regular train.

    Args:
        spike_times_ms: one neuron's spike times in ms, 1-D and sorted.

    Returns:
        LV (dimensionless float).

    Raises:
        ParameterError: fewer than 3 spikes, or two consecutive zero intervals.

    Example:
        >>> local_variation([0.0, 10.0, 20.0, 30.0])
        0.0
    """
    d = _intervals(spike_times_ms, 3)
    s = d[:-1] + d[1:]
    if bool((s == 0).any()):
        raise ParameterError("spike_times_ms has two consecutive zero intervals; LV is undefined")
    return float(3.0 * np.mean(((d[:-1] - d[1:]) / s) ** 2))


def isi_histogram(
    spike_times_ms: Any, *, bin_ms: float = 1.0, max_ms: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ISI distribution as a probability density, pooled over one or several trains.

    Args:
        spike_times_ms: one train (1-D sorted times in ms), or a list of trains whose intervals are
            pooled (intervals never span two trains).
        bin_ms: bin width in ms (> 0); bins start at 0.
        max_ms: upper end of the last bin in ms (default: the longest interval). Longer intervals
            are left out, and the density is normalised over all intervals, so it integrates to
            the fraction below ``max_ms``.

    Returns:
        ``(edges_ms, density)``: bin edges ``[B + 1]`` and the density per ms ``[B]``.

    Raises:
        ParameterError: no interval at all (every train has fewer than 2 spikes), bad bin_ms.

    Example:
        >>> edges, p = isi_histogram([0.0, 1.5, 3.0, 3.5], bin_ms=1.0)
        >>> edges, p
        (array([0., 1., 2.]), array([0.33333333, 0.66666667]))
    """
    width = positive("bin_ms", bin_ms, "ms")
    if isinstance(spike_times_ms, (list, tuple)) and spike_times_ms and not np.isscalar(spike_times_ms[0]):
        parts = [np.diff(as_spike_train(f"spike_times_ms[{k}]", t)) for k, t in enumerate(spike_times_ms)]
        d = np.concatenate(parts)
    else:
        d = np.diff(as_spike_train("spike_times_ms", spike_times_ms))
    if d.size == 0:
        raise ParameterError("spike_times_ms has no inter-spike interval (fewer than 2 spikes per train)")
    top = float(d.max()) if max_ms is None else positive("max_ms", max_ms, "ms")
    n_bins = max(1, int(np.ceil(top / width - 1e-9)))
    edges = width * np.arange(n_bins + 1, dtype=np.float64)
    counts, _ = np.histogram(d, bins=edges)
    return edges, counts / (d.size * width)


def spike_counts(spike_times_ms: Any, *, window_ms: float, t_start: float = 0.0, t_stop: float) -> np.ndarray:
    """Spike counts of one train in consecutive windows ``[t_start + k w, t_start + (k+1) w)``.

    A last, shorter window is dropped.

    Args:
        spike_times_ms: spike times in ms, 1-D.
        window_ms: window length w in ms (> 0).
        t_start: start of the first window in ms.
        t_stop: end of the counting period in ms (> t_start + window_ms).

    Returns:
        ``[K]`` integer counts (int64).

    Raises:
        ParameterError: bad window or period.

    Example:
        >>> spike_counts([1.0, 2.0, 12.0, 35.0], window_ms=10.0, t_stop=40.0)
        array([2, 1, 0, 1])
    """
    t = as_array("spike_times_ms", spike_times_ms, ndim=1)
    w = positive("window_ms", window_ms, "ms")
    start = number("t_start", t_start)
    stop = number("t_stop", t_stop)
    k = int(np.floor((stop - start) / w + 1e-9))
    if k < 1:
        raise ParameterError(f"t_stop - t_start must be >= window_ms={w} ms, got [{start}, {stop}) ms")
    edges = start + w * np.arange(k + 1, dtype=np.float64)
    counts, _ = np.histogram(t[t < edges[-1]], bins=edges)
    return counts.astype(np.int64)


def fano_factor(counts: Any, *, ddof: int = 0) -> float | np.ndarray:
    r"""Fano factor of spike counts: variance over mean.

    .. math:: F = \frac{\mathrm{Var}[N]}{\mathrm{E}[N]}

    with the variance over trials (or windows) taken with ``ddof`` (default 0, as
    ``elephant.statistics.fanofactor``; pass ``ddof=1`` for the unbiased variance). It is 1 for
    Poisson counts and 0 for identical counts.

    Args:
        counts: spike counts per trial or window, ``[K]``; or ``[K, n]`` for ``n`` neurons (one
            factor per neuron). Counts must be >= 0.
        ddof: delta degrees of freedom of the variance (0 or 1).

    Returns:
        A float for 1-D counts, an array ``[n]`` for 2-D counts.

    Raises:
        ShapeError: counts not 1-D or 2-D.
        ParameterError: fewer than ``ddof + 2`` trials, negative counts, or a mean count of 0
            (the Fano factor of a silent neuron is undefined).

    Example:
        >>> fano_factor([2, 4, 6])
        0.6666666666666666
        >>> fano_factor([[2, 1], [4, 1], [6, 4]])
        array([0.66666667, 1.        ])
    """
    c = as_array("counts", counts, ndim=(1, 2))
    if ddof not in (0, 1):
        raise ParameterError(f"ddof must be 0 or 1, got {ddof!r}")
    if c.shape[0] < ddof + 2:
        raise ParameterError(f"counts needs at least {ddof + 2} trials or windows, got {c.shape[0]}")
    if bool((c < 0).any()):
        raise ParameterError("counts must be >= 0 (spike counts)")
    mean = c.mean(axis=0)
    if bool((mean == 0).any()):
        which = "" if c.ndim == 1 else f" (neurons {np.flatnonzero(mean == 0).tolist()[:10]})"
        raise ParameterError(
            f"counts has a mean of 0{which}; the Fano factor of a silent neuron is undefined"
        )
    f = c.var(axis=0, ddof=ddof) / mean
    return float(f) if c.ndim == 1 else f
