r"""Population synchrony (Golomb's chi) and spike-train cross-correlograms.

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

from typing import Any

import numpy as np

from ..errors import ParameterError
from ._common import as_array, as_spike_train, nonnegative, positive

__all__ = ["synchrony_chi", "exponential_filter", "cross_correlogram"]


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
