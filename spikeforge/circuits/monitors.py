"""Monitors: what a network records while it runs, returned as numpy arrays.

* :class:`SpikeMonitor` (``Network.record_spikes``): ``t`` (ms) and ``i`` (neuron index) of every
  spike, and ``batch`` (the copy) in a batched network. A spike of step ``k`` has ``t = k * dt``,
  as in Brian2.
* :class:`StateMonitor` (``Network.record_state``): one state variable of chosen neurons every
  ``interval`` ms, ``t`` ``[T]`` and ``values`` ``[T, k]`` (``[T, B, k]`` batched). The sample at
  ``t = k * dt`` is the state at that time: after the spikes that arrive then were delivered,
  before the step's integration (Brian2's ``StateMonitor`` in its default ``start`` slot), so
  the first sample is the initial state.
* :class:`RateMonitor` (``Network.record_rate``): the population rate of every step, in spikes
  per neuron per ms (divide by ``sf.units.Hz`` for Hz), ``[T]`` or ``[T, B]``.

A monitor records from the step it was created on; a later ``run`` appends.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import MissingDependencyError, ParameterError

__all__ = ["SpikeMonitor", "StateMonitor", "RateMonitor"]


def _cat(parts: list[np.ndarray], dtype: Any, shape_tail: tuple[int, ...] = ()) -> np.ndarray:
    if not parts:
        return np.zeros((0, *shape_tail), dtype=dtype)
    if len(parts) > 1:
        parts[:] = [np.concatenate(parts)]
    return parts[0]


class SpikeMonitor:
    """Spikes of one population or input group.

    Attributes (numpy, after a run):
        t: spike times in ms (float64), sorted by time.
        i: neuron indices (int64).
        batch: copy index of each spike (int64; all 0 in an unbatched network).
    """

    def __init__(self, source: str, n: int, dt: float, batch: int | None) -> None:
        self.source, self.n, self.dt, self._batch = source, n, dt, batch
        self._steps: list[np.ndarray] = []
        self._b: list[np.ndarray] = []
        self._i: list[np.ndarray] = []

    def _append(self, steps: np.ndarray, b: np.ndarray, i: np.ndarray) -> None:
        if steps.size:
            self._steps.append(steps.astype(np.int64, copy=False))
            self._b.append(b.astype(np.int64, copy=False))
            self._i.append(i.astype(np.int64, copy=False))

    @property
    def steps(self) -> np.ndarray:
        """Step index of each spike (int64)."""
        return _cat(self._steps, np.int64)

    @property
    def t(self) -> np.ndarray:
        """Spike times in ms."""
        return self.steps * self.dt

    @property
    def i(self) -> np.ndarray:
        """Neuron index of each spike."""
        return _cat(self._i, np.int64)

    @property
    def batch(self) -> np.ndarray:
        """Batch copy of each spike."""
        return _cat(self._b, np.int64)

    @property
    def num_spikes(self) -> int:
        return int(sum(s.size for s in self._steps))

    @property
    def count(self) -> np.ndarray:
        """Spikes per neuron: ``[n]``, or ``[B, n]`` in a batched network."""
        b = self._batch or 1
        flat = np.bincount(self.batch * self.n + self.i, minlength=b * self.n).reshape(b, self.n)
        return flat if self._batch is not None else flat[0]

    def select(self, b: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``(t, i)`` of copy ``b``."""
        keep = self.batch == b
        return self.t[keep], self.i[keep]

    def trains(self, b: int = 0) -> list[np.ndarray]:
        """Spike times (ms) per neuron of copy ``b``: a list of ``n`` arrays."""
        t, i = self.select(b)
        order = np.argsort(i, kind="stable")
        bounds = np.searchsorted(i[order], np.arange(self.n + 1))
        ts = t[order]
        return [ts[bounds[k] : bounds[k + 1]] for k in range(self.n)]

    def raster(self, ax: Any = None, *, b: int = 0, **scatter_kw: Any) -> Any:
        """Raster plot (time in ms against neuron index) of copy ``b`` with matplotlib.

        Args:
            ax: a matplotlib ``Axes``; None makes a new figure.
            b: batch copy to plot.
            **scatter_kw: passed to ``ax.scatter`` (default ``s=1``, black).

        Returns:
            the ``Axes``.
        """
        return raster(self, ax, b=b, **scatter_kw)

    def __repr__(self) -> str:
        return f"SpikeMonitor({self.source!r}, {self.num_spikes} spikes)"


def raster(monitor: SpikeMonitor, ax: Any = None, *, b: int = 0, **scatter_kw: Any) -> Any:
    """Raster plot of a :class:`SpikeMonitor` (see :meth:`SpikeMonitor.raster`)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - matplotlib is a core dependency
        raise MissingDependencyError("raster needs matplotlib: pip install matplotlib") from e
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3))
    t, i = monitor.select(b)
    kw = {"s": 1.0, "c": "k", "marker": "."} | scatter_kw
    ax.scatter(t, i, **kw)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(f"{monitor.source} neuron")
    ax.set_ylim(-0.5, monitor.n - 0.5)
    return ax


class StateMonitor:
    """One state variable of chosen neurons, sampled every ``interval`` steps.

    Attributes (numpy, after a run):
        t: sample times in ms ``[T]``.
        values: ``[T, k]``, or ``[T, B, k]`` in a batched network (float64).
        indices: the recorded neuron indices ``[k]``.
    """

    def __init__(
        self, source: str, var: str, indices: np.ndarray, every: int, dt: float, batch: int | None
    ) -> None:
        self.source, self.var, self.indices = source, var, indices
        self.every, self.dt, self._batch = every, dt, batch
        self._steps: list[np.ndarray] = []
        self._values: list[np.ndarray] = []  # [rows, B, k]

    @property
    def interval(self) -> float:
        """Time between samples in ms."""
        return self.every * self.dt

    def _append(self, steps: np.ndarray, values: np.ndarray) -> None:
        if steps.size:
            self._steps.append(steps.astype(np.int64, copy=False))
            self._values.append(values)

    @property
    def t(self) -> np.ndarray:
        return _cat(self._steps, np.int64) * self.dt

    @property
    def values(self) -> np.ndarray:
        v = _cat(self._values, np.float64, (self._batch or 1, len(self.indices)))
        return v if self._batch is not None else v[:, 0, :]

    def __repr__(self) -> str:
        k = len(self.indices)
        return f"StateMonitor({self.source!r}, {self.var!r}, {k} neurons, every {self.interval:g} ms)"


class RateMonitor:
    """Population rate of every step: spikes in the step / (n * dt), per ms.

    Attributes (numpy, after a run):
        t: step times in ms ``[T]``.
        rate: ``[T]`` or ``[T, B]`` spikes per neuron per ms (``rate / sf.units.Hz`` is in Hz).
        counts: spikes per step, the same shape (int64).
    """

    def __init__(self, source: str, n: int, dt: float, batch: int | None) -> None:
        self.source, self.n, self.dt, self._batch = source, n, dt, batch
        self._steps: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []  # [rows, B]

    def _append(self, steps: np.ndarray, counts: np.ndarray) -> None:
        if steps.size:
            self._steps.append(steps.astype(np.int64, copy=False))
            self._counts.append(counts.astype(np.int64, copy=False))

    @property
    def t(self) -> np.ndarray:
        return _cat(self._steps, np.int64) * self.dt

    @property
    def counts(self) -> np.ndarray:
        c = _cat(self._counts, np.int64, (self._batch or 1,))
        return c if self._batch is not None else c[:, 0]

    @property
    def rate(self) -> np.ndarray:
        return self.counts / (self.n * self.dt)

    def smooth_rate(self, width: float) -> np.ndarray:
        """The rate averaged in a sliding window of ``width`` ms (a flat window, centred)."""
        k = max(1, int(round(width / self.dt)))
        if width <= 0:
            raise ParameterError(f"width must be > 0 ms, got {width!r}")
        kernel = np.ones(k) / k
        r = self.rate
        if r.ndim == 1:
            return np.convolve(r, kernel, mode="same")
        return np.stack([np.convolve(r[:, b], kernel, mode="same") for b in range(r.shape[1])], 1)

    def __repr__(self) -> str:
        return f"RateMonitor({self.source!r}, {len(self.t)} steps)"


def monitor_state(m: SpikeMonitor | StateMonitor | RateMonitor) -> dict[str, Any]:
    """The recorded data of a monitor (for ``Network.state_dict``)."""
    if isinstance(m, SpikeMonitor):
        return {"steps": m.steps.copy(), "b": m.batch.copy(), "i": m.i.copy()}
    if isinstance(m, StateMonitor):
        return {
            "steps": _cat(m._steps, np.int64).copy(),
            "values": _cat(m._values, np.float64, (m._batch or 1, len(m.indices))).copy(),
        }
    return {
        "steps": _cat(m._steps, np.int64).copy(),
        "counts": _cat(m._counts, np.int64, (m._batch or 1,)).copy(),
    }


def load_monitor_state(m: SpikeMonitor | StateMonitor | RateMonitor, data: dict[str, Any]) -> None:
    if isinstance(m, SpikeMonitor):
        m._steps, m._b, m._i = [], [], []
        m._append(np.asarray(data["steps"]), np.asarray(data["b"]), np.asarray(data["i"]))
    elif isinstance(m, StateMonitor):
        m._steps, m._values = [], []
        m._append(np.asarray(data["steps"]), np.asarray(data["values"]))
    else:
        m._steps, m._counts = [], []
        m._append(np.asarray(data["steps"]), np.asarray(data["counts"]))
