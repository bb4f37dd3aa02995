r"""Spike-train distances: van Rossum (2001) and Victor-Purpura (1996).

Example:
    >>> from spikeforge.analysis import van_rossum_distance, victor_purpura_distance
    >>> round(van_rossum_distance([10.0], [15.0], tau_ms=5.0) ** 2, 6)   # 1 - exp(-5/5)
    0.632121
    >>> victor_purpura_distance([10.0], [15.0], q=0.1)                   # shift 5 ms at 0.1/ms
    0.5
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import as_spike_train, nonnegative, positive

__all__ = ["van_rossum_distance", "victor_purpura_distance"]


def _exp_kernel_sum(x: np.ndarray, y: np.ndarray, tau: float, chunk: int = 2048) -> float:
    """:math:`\\sum_{i,j} e^{-|x_i - y_j|/\\tau}`, in blocks so memory stays bounded."""
    total = 0.0
    for s in range(0, x.size, chunk):
        d = np.abs(x[s : s + chunk, None] - y[None, :])
        total += float(np.exp(-d / tau).sum())
    return total


def van_rossum_distance(train_a_ms: Any, train_b_ms: Any, *, tau_ms: float) -> float:
    r"""van Rossum distance between two spike trains.

    Each train is convolved with a causal exponential,
    :math:`f(t) = \sum_i e^{-(t - t_i)/\tau} H(t - t_i)`, and

    .. math::

        D^2 = \frac{1}{\tau}\int_{-\infty}^{\infty} (f_a(t) - f_b(t))^2\,dt
            = \frac{1}{2}\Big[\sum_{i,j} e^{-|a_i - a_j|/\tau} + \sum_{i,j} e^{-|b_i - b_j|/\tau}
              - 2\sum_{i,j} e^{-|a_i - b_j|/\tau}\Big]

    This is van Rossum's (2001) normalisation: a train with one spike against an empty train is at
    :math:`D^2 = 1/2`; two single spikes :math:`\Delta t` apart are at
    :math:`D^2 = 1 - e^{-|\Delta t|/\tau}`; ``n`` unmatched, far-apart spikes give
    :math:`D^2 = n/2`. (``elephant.spike_train_dissimilarity.van_rossum_distance`` uses
    :math:`\sqrt{2}` times this D.) The integral runs over all time, so spikes near the end of a
    recording count fully.

    Args:
        train_a_ms: spike times in ms, 1-D, sorted (may be empty).
        train_b_ms: spike times in ms, 1-D, sorted (may be empty).
        tau_ms: kernel time constant in ms (> 0). Small tau counts coincidences, large tau
            compares spike counts.

    Returns:
        D (dimensionless float, >= 0).

    Raises:
        ShapeError: a train is not 1-D.
        ParameterError: unsorted trains, NaN/inf times, ``tau_ms <= 0``.

    Example:
        >>> round(van_rossum_distance([], [3.0], tau_ms=10.0) ** 2, 12)
        0.5
    """
    a = as_spike_train("train_a_ms", train_a_ms)
    b = as_spike_train("train_b_ms", train_b_ms)
    tau = positive("tau_ms", tau_ms, "ms")
    d2 = 0.5 * (_exp_kernel_sum(a, a, tau) + _exp_kernel_sum(b, b, tau) - 2.0 * _exp_kernel_sum(a, b, tau))
    # D^2 >= 0 exactly; only rounding of the three sums can push it below (identical trains)
    return float(np.sqrt(max(d2, 0.0)))


def victor_purpura_distance(train_a_ms: Any, train_b_ms: Any, *, q: float) -> float:
    r"""Victor-Purpura spike-time distance: the cheapest edit turning train a into train b.

    Inserting or deleting a spike costs 1; moving one by :math:`\Delta t` costs :math:`q|\Delta t|`.
    Computed by the dynamic programme of Victor and Purpura (1996),

    .. math::

        G_{i,j} = \min\big(G_{i-1,j} + 1,\ G_{i,j-1} + 1,\ G_{i-1,j-1} + q|a_i - b_j|\big),\qquad
        G_{i,0} = i,\ G_{0,j} = j,

    and the distance is :math:`G_{n_a, n_b}`, in :math:`O(n_a n_b)` time, vectorised along b.
    With ``q = 0`` it is :math:`|n_a - n_b|`; once :math:`q|\Delta t| \ge 2` for every pair, it is
    :math:`n_a + n_b`.

    Args:
        train_a_ms: spike times in ms, 1-D, sorted (may be empty).
        train_b_ms: spike times in ms, 1-D, sorted (may be empty).
        q: cost per ms of shifting a spike, in 1/ms (>= 0); 2/q is the largest shift cheaper
            than a deletion plus an insertion.

    Returns:
        The distance (float, >= 0).

    Raises:
        ShapeError: a train is not 1-D.
        ParameterError: unsorted trains, ``q < 0``.

    Example:
        >>> victor_purpura_distance([1.0, 2.0, 30.0], [2.0], q=0.0)
        2.0
        >>> victor_purpura_distance([1.0, 2.0, 30.0], [2.0], q=10.0)
        2.0
        >>> victor_purpura_distance([1.0], [30.0], q=10.0)
        2.0
    """
    a = as_spike_train("train_a_ms", train_a_ms)
    b = as_spike_train("train_b_ms", train_b_ms)
    cost = nonnegative("q", q, "1/ms")
    j = np.arange(b.size + 1, dtype=np.float64)
    g = j.copy()  # row i = 0
    for i in range(1, a.size + 1):
        # candidates without the left neighbour: delete a_i, or match a_i with b_j
        c = np.empty_like(g)
        c[0] = g[0] + 1.0
        c[1:] = np.minimum(g[1:] + 1.0, g[:-1] + cost * np.abs(a[i - 1] - b))
        # G[i, j] = min_k<=j (c_k + (j - k)): the insertions of b's spikes along the row
        g = np.minimum.accumulate(c - j) + j
    return float(g[-1])
