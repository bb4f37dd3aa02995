r"""Firing rates and population rate histograms.

Spikes come in two forms:

- **dense**: a 0/1 array ``[T, n]`` (time-major, as the neuron modules return it), one row per
  step of ``dt`` ms; a spike in row ``k`` happened at ``t = k * dt``;
- **events**: two 1-D arrays of equal length, ``times_ms`` and the neuron ``indices``
  (what :func:`spike_events` returns and :func:`~spikeforge.analysis.raster` draws).

Rates are in spikes per ms (``spikeforge.units``: divide by ``units.Hz`` for Hz).

Example:
    >>> import numpy as np
    >>> from spikeforge.analysis import firing_rates, population_rate, spike_events
    >>> spikes = np.zeros((1000, 2)); spikes[::10, 0] = 1; spikes[::50, 1] = 1   # 1 ms steps
    >>> times, idx = spike_events(spikes, dt=1.0)
    >>> firing_rates(times, idx, n_neurons=2, t_stop=1000.0)                       # per ms
    array([0.1 , 0.02])
    >>> edges, rate = population_rate(times, n_neurons=2, bin_ms=100.0, t_stop=1000.0)
    >>> rate[:3]
    array([0.06, 0.06, 0.06])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ParameterError, ShapeError
from ._common import as_array, count, number, positive

__all__ = ["spike_events", "firing_rates", "mean_rates", "population_rate"]


def spike_events(spikes: Any, dt: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Convert a dense spike raster to events ``(times_ms, indices)``.

    Args:
        spikes: 0/1 spikes ``[T, n]`` (numpy or torch); nonzero entries count as spikes.
        dt: step in ms (> 0); row ``k`` is the time ``k * dt``.

    Returns:
        ``(times_ms, indices)``: float64 times in ms and int64 neuron indices, sorted by time and,
        within a step, by neuron.

    Raises:
        ShapeError: ``spikes`` is not 2-D.
        ParameterError: ``dt`` is not > 0.

    Example:
        >>> import torch
        >>> spike_events(torch.tensor([[0., 1.], [1., 1.]]), dt=0.5)
        (array([0. , 0.5, 0.5]), array([1, 0, 1]))
    """
    dt = positive("dt", dt, "ms")
    s = as_array("spikes", spikes, ndim=2)
    steps, idx = np.nonzero(s)
    return steps.astype(np.float64) * dt, idx.astype(np.int64)


def _events(times_ms: Any, indices: Any, n_neurons: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    t = as_array("times_ms", times_ms, ndim=1)
    i = as_array("indices", indices, ndim=1)
    if t.shape != i.shape:
        raise ShapeError(f"times_ms and indices must have the same length, got {t.size} and {i.size}")
    if i.size and (bool((i < 0).any()) or bool((i != np.round(i)).any())):
        raise ParameterError("indices must be non-negative integers (neuron indices)")
    ii = i.astype(np.int64)
    if n_neurons is None:
        if ii.size == 0:
            raise ParameterError("n_neurons is needed when there are no spikes")
        n = int(ii.max()) + 1
    else:
        n = count("n_neurons", n_neurons)
        if ii.size and int(ii.max()) >= n:
            raise ParameterError(f"indices must be < n_neurons={n}, got max index {int(ii.max())}")
    return t, ii, n


def _window(t_start: float, t_stop: float | None, times: np.ndarray) -> tuple[float, float]:
    start = number("t_start", t_start)
    if t_stop is None:
        if times.size == 0:
            raise ParameterError("t_stop (ms) is needed when there are no spikes")
        stop = float(np.nextafter(times.max(), np.inf))  # the last spike inside [t_start, t_stop)
    else:
        stop = number("t_stop", t_stop)
    if not stop > start:
        raise ParameterError(f"t_stop must be > t_start, got t_start={start!r} ms and t_stop={stop!r} ms")
    return start, stop


def firing_rates(
    times_ms: Any,
    indices: Any,
    n_neurons: int | None = None,
    *,
    t_start: float = 0.0,
    t_stop: float | None = None,
) -> np.ndarray:
    """Each neuron's mean firing rate over ``[t_start, t_stop)``.

    .. math:: \\nu_i = \\frac{\\#\\{k : t_k \\in [t_{start}, t_{stop}),\\ i_k = i\\}}{t_{stop} - t_{start}}

    Args:
        times_ms: spike times in ms, 1-D.
        indices: neuron index of each spike, 1-D, same length.
        n_neurons: population size (default: the largest index + 1).
        t_start: start of the window in ms.
        t_stop: end of the window in ms (exclusive; default: just after the last spike). Give it
            explicitly: the default underestimates nothing only if the last spike ends the run.

    Returns:
        Rates per ms, ``[n_neurons]``.

    Raises:
        ShapeError: arrays not 1-D or of different lengths.
        ParameterError: negative or non-integer indices, an index >= ``n_neurons``,
            ``t_stop <= t_start``.

    Example:
        >>> firing_rates([1.0, 2.0, 3.0], [0, 0, 1], n_neurons=3, t_stop=10.0)
        array([0.2, 0.1, 0. ])
    """
    t, i, n = _events(times_ms, indices, n_neurons)
    start, stop = _window(t_start, t_stop, t)
    keep = (t >= start) & (t < stop)
    return np.bincount(i[keep], minlength=n).astype(np.float64) / (stop - start)


def mean_rates(spikes: Any, dt: float = 1.0) -> np.ndarray:
    """Each neuron's mean rate from dense spikes, averaged over time and any batch dimensions.

    Args:
        spikes: 0/1 spikes ``[T, *batch, n]`` (numpy or torch).
        dt: step in ms (> 0).

    Returns:
        Rates per ms, ``[n]``.

    Raises:
        ShapeError: ``spikes`` has fewer than 2 dimensions or no time steps.
        ParameterError: ``dt`` is not > 0.

    Example:
        >>> import torch
        >>> mean_rates(torch.tensor([[1., 0.], [1., 0.], [0., 1.], [1., 0.]]), dt=2.0)
        array([0.375, 0.125])
    """
    dt = positive("dt", dt, "ms")
    s = as_array("spikes", spikes)
    if s.ndim < 2 or s.shape[0] == 0:
        raise ShapeError(f"spikes must be [T, *batch, n] with T >= 1, got shape {list(s.shape)}")
    return s.reshape(-1, s.shape[-1]).mean(axis=0) / dt


def population_rate(
    times_ms: Any,
    *,
    n_neurons: int,
    bin_ms: float,
    t_start: float = 0.0,
    t_stop: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Population rate histogram: spikes of all neurons per bin, per neuron, per ms.

    .. math:: r(b) = \\frac{\\#\\{k : t_k \\in \\text{bin } b\\}}{N\\,\\Delta_{bin}}

    Bins are ``[t_start + b*bin_ms, t_start + (b+1)*bin_ms)``; a last, shorter bin is dropped, so
    every bin has the full width.

    Args:
        times_ms: spike times in ms of the whole population, 1-D (indices are not needed).
        n_neurons: population size N (>= 1), the normalisation.
        bin_ms: bin width in ms (> 0).
        t_start: start of the first bin in ms.
        t_stop: end of the histogram in ms (default: just after the last spike).

    Returns:
        ``(edges_ms, rate)``: bin edges ``[B + 1]`` in ms and the rate per neuron per ms ``[B]``.

    Raises:
        ParameterError: ``bin_ms <= 0``, ``n_neurons < 1``, a window shorter than one bin.

    Example:
        >>> edges, r = population_rate([0.5, 1.5, 1.7, 3.2], n_neurons=2, bin_ms=1.0, t_stop=4.0)
        >>> edges, r
        (array([0., 1., 2., 3., 4.]), array([0.5, 1. , 0. , 0.5]))
    """
    t = as_array("times_ms", times_ms, ndim=1)
    n = count("n_neurons", n_neurons)
    width = positive("bin_ms", bin_ms, "ms")
    start, stop = _window(t_start, t_stop, t)
    n_bins = int(np.floor((stop - start) / width + 1e-9))
    if n_bins < 1:
        raise ParameterError(
            f"the window [t_start, t_stop) = [{start}, {stop}) ms is shorter than bin_ms={width} ms"
        )
    edges = start + width * np.arange(n_bins + 1, dtype=np.float64)
    counts, _ = np.histogram(t[t < edges[-1]], bins=edges)  # bins half-open, the last one too
    return edges, counts.astype(np.float64) / (n * width)
