"""PyNN's current sources, injected into populations: ``DCSource`` and ``StepCurrentSource``."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ParameterError

__all__ = ["DCSource", "StepCurrentSource"]


class DCSource:
    """A constant current ``amplitude`` (nA) from ``start`` to ``stop`` (ms; ``None``: to the end).

    It acts in the steps that start at ``t`` with ``start <= t < stop``, as NEST's ``dc_generator``
    through ``pyNN.nest``. Inject it with ``source.inject_into(population)`` or
    ``population.inject(source)``.
    """

    def __init__(self, amplitude: float = 1.0, start: float = 0.0, stop: float | None = None) -> None:
        for key, value in (("amplitude", amplitude), ("start", start), ("stop", stop)):
            if value is None and key == "stop":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise ParameterError(f"DCSource: {key} must be a finite number, got {value!r}")
        if start < 0 or (stop is not None and stop < start):
            raise ParameterError(
                f"DCSource: need 0 <= start <= stop (ms), got start={start!r}, stop={stop!r}"
            )
        self.amplitude, self.start, self.stop = float(amplitude), float(start), stop

    def inject_into(self, cells: Any) -> None:
        """Inject this current into every neuron of ``cells`` (a population)."""
        cells.inject(self)

    def current(self, scale: float, dt: float) -> Any:  # noqa: ARG002 - the interface of StepCurrentSource
        """The current as a function of the step start times ``t`` (ms), times ``scale``."""
        amp, start = self.amplitude * scale, self.start
        stop = float("inf") if self.stop is None else float(self.stop)

        def value(t: torch.Tensor) -> torch.Tensor:
            return amp * ((t >= start - 1e-9) & (t < stop - 1e-9)).to(torch.float64)

        return value


class StepCurrentSource:
    """A current that steps to ``amplitudes[k]`` (nA) at ``times[k]`` (ms), 0 before the first
    time and the last amplitude to the end (PyNN's).

    The times are rounded to the step grid and the current ``amplitudes[k]`` acts in the steps
    that start at ``t`` with ``times[k] <= t < times[k + 1]``, as NEST's
    ``step_current_generator`` through ``pyNN.nest`` (checked against it); of two times that
    round to the same step the last amplitude holds. Inject it as a :class:`DCSource`.
    """

    def __init__(self, times: Any = (), amplitudes: Any = ()) -> None:
        t = np.asarray(getattr(times, "value", times), dtype=np.float64).reshape(-1)
        a = np.asarray(getattr(amplitudes, "value", amplitudes), dtype=np.float64).reshape(-1)
        if t.shape != a.shape:
            raise ParameterError(
                "StepCurrentSource: times and amplitudes must have the same length, got "
                f"{len(t)} and {len(a)}"
            )
        if not (np.isfinite(t).all() and np.isfinite(a).all()):
            raise ParameterError("StepCurrentSource: times and amplitudes must be finite")
        if len(t) and (t.min() < 0 or (len(t) > 1 and np.diff(t).min() <= 0)):
            raise ParameterError(
                f"StepCurrentSource: times must be >= 0 ms and strictly increasing, got {t.tolist()}"
            )
        self.times, self.amplitudes = t, a

    def inject_into(self, cells: Any) -> None:
        """Inject this current into every neuron of ``cells`` (a population or an assembly)."""
        cells.inject(self)

    def current(self, scale: float, dt: float) -> Any:
        """The current as a function of the step start times ``t`` (ms), times ``scale``."""
        grid = np.round(self.times / dt) * dt
        keep = np.append(grid[1:] != grid[:-1], True) if len(grid) else np.zeros(0, bool)  # the last wins
        edges = torch.as_tensor(grid[keep])
        amps = torch.as_tensor(self.amplitudes[keep] * scale)

        def value(t: torch.Tensor) -> torch.Tensor:
            if len(edges) == 0:
                return torch.zeros_like(t, dtype=torch.float64)
            k = torch.searchsorted(edges, t.to(torch.float64) + 1e-9 * dt, right=True) - 1
            return torch.where(k >= 0, amps[k.clamp_min(0)], torch.zeros((), dtype=torch.float64))

        return value
