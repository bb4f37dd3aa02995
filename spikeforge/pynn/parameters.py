"""Parameter values as PyNN scripts give them to ``Population.set`` and read them back with
``Population.get``: numbers, one value per neuron (lists, arrays), functions of the neuron index,
random distributions (PyNN's ``RandomDistribution``, drawn with its own generator) and spike-time
sequences."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ParameterError

__all__: list[str] = []


def per_neuron(owner: str, name: str, value: Any, indices: np.ndarray) -> np.ndarray:
    """One finite float per neuron of ``indices`` (a population's neuron indices): ``value`` a
    number, a sequence of ``len(indices)`` numbers, a function of the index array (or of one index)
    or a random distribution (anything with ``next(n)``)."""
    n = len(indices)
    if hasattr(value, "next") and not isinstance(value, (list, tuple, np.ndarray)):
        value = value.next(n)  # pyNN.random.RandomDistribution
    elif callable(value):
        try:
            value = value(indices)
        except TypeError:  # a function of one index
            value = [value(int(i)) for i in indices]
    value = getattr(value, "value", value)  # a pyNN.parameters.Sequence
    if isinstance(value, bool) or (np.ndim(value) == 0 and not isinstance(value, (int, float, np.number))):
        raise ParameterError(f"{owner}: {name} must be a number or one number per neuron, got {value!r}")
    try:
        out = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"{owner}: {name} must be numbers, got {value!r}") from None
    if out.ndim == 0:
        out = np.full(n, float(out))
    if out.shape != (n,):
        raise ParameterError(
            f"{owner}: {name} must be one number or {n} (one per neuron), got shape {list(out.shape)}"
        )
    if not np.isfinite(out).all():
        raise ParameterError(f"{owner}: {name} must be finite, got {value!r}")
    return out


def spike_trains(owner: str, value: Any, indices: np.ndarray) -> list[np.ndarray]:
    """One array of spike times (ms) per neuron of ``indices``: ``value`` one sequence of times
    (for every neuron), one sequence per neuron, or a function of the index array returning
    either."""
    n = len(indices)
    if callable(value):
        value = value(indices)
    value = getattr(value, "value", value)  # a pyNN.parameters.Sequence
    items = list(value) if isinstance(value, (list, tuple, np.ndarray)) else None
    if items is None:
        raise ParameterError(f"{owner}: spike_times must be a sequence of times, got {value!r}")
    if len(items) == 0:
        trains = [np.empty(0)] * n
    elif np.ndim(getattr(items[0], "value", items[0])) == 0:  # one train for every neuron
        trains = [np.asarray(items, dtype=np.float64)] * n
    else:
        trains = [np.asarray(getattr(t, "value", t), dtype=np.float64).reshape(-1) for t in items]
    if len(trains) != n:
        raise ParameterError(f"{owner}: spike_times has {len(trains)} trains for {n} neurons")
    for t in trains:
        if not np.isfinite(t).all() or (len(t) and float(t.min()) < 0):
            raise ParameterError(f"{owner}: spike times must be finite and >= 0 ms, got {t.tolist()}")
    return [t.copy() for t in trains]


def simplified(values: np.ndarray, simplify: bool) -> Any:
    """``values`` (one per neuron) as one float where all are equal and ``simplify`` (PyNN's
    ``get``), else the array."""
    if simplify and len(values) and bool((values == values[0]).all()):
        return float(values[0])
    return values.copy()
