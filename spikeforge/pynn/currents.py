"""PyNN's current sources, injected into populations: ``DCSource``, ``ACSource``,
``StepCurrentSource`` and ``NoisyCurrentSource``."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ParameterError

__all__ = ["DCSource", "ACSource", "StepCurrentSource", "NoisyCurrentSource"]


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


class ACSource:
    """A sine current (PyNN's): ``offset + amplitude * sin(2 pi frequency (t - start) + phase)``
    (nA; ``frequency`` in Hz, ``phase`` in degrees, ``t`` in ms) from ``start`` to ``stop`` (ms),
    0 outside.

    As :class:`DCSource` it acts in the steps that start at ``t`` with ``start <= t < stop``, and
    holds the sine's value at ``t`` over the step: NEST's ``ac_generator`` through ``pyNN.nest``
    (checked against it: the same spikes at dt 0.1 and 0.25 ms).

    Example:
        >>> import torch, spikeforge.pynn as sim
        >>> ac = sim.ACSource(amplitude=0.5, offset=0.1, frequency=500.0, start=1.0, stop=3.0)
        >>> f = ac.current(1.0, 0.5)  # nA, at steps of 0.5 ms
        >>> [round(float(v), 6) for v in f(torch.arange(8) * 0.5)]
        [0.0, 0.0, 0.1, 0.6, 0.1, -0.4, 0.0, 0.0]
    """

    def __init__(
        self,
        amplitude: float = 1.0,
        start: float = 0.0,
        stop: float = 1e12,
        frequency: float = 10.0,
        offset: float = 0.0,
        phase: float = 0.0,
    ) -> None:
        values = {
            "amplitude": amplitude,
            "start": start,
            "stop": stop,
            "frequency": frequency,
            "offset": offset,
            "phase": phase,
        }
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise ParameterError(f"ACSource: {key} must be a finite number, got {value!r}")
        if start < 0 or stop < start:
            raise ParameterError(
                f"ACSource: need 0 <= start <= stop (ms), got start={start!r}, stop={stop!r}"
            )
        if frequency < 0:
            raise ParameterError(f"ACSource: frequency must be >= 0 Hz, got {frequency!r}")
        self.amplitude, self.start, self.stop = float(amplitude), float(start), float(stop)
        self.frequency, self.offset, self.phase = float(frequency), float(offset), float(phase)

    def inject_into(self, cells: Any) -> None:
        """Inject this current into every neuron of ``cells`` (a population, view or assembly)."""
        cells.inject(self)

    def current(self, scale: float, dt: float) -> Any:
        """The current as a function of the step start times ``t`` (ms), times ``scale``."""
        omega, phi = 2e-3 * np.pi * self.frequency, np.deg2rad(self.phase)  # rad per ms, rad
        amp, offset, start, stop = self.amplitude * scale, self.offset * scale, self.start, self.stop

        def value(t: torch.Tensor) -> torch.Tensor:
            t = t.to(torch.float64)
            on = (t >= start - 1e-9) & (t < stop - 1e-9)
            sine = offset + amp * torch.sin(omega * (t - start) + phi)
            return torch.where(on, sine, torch.zeros((), dtype=torch.float64))

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


class NoisyCurrentSource:
    """A Gaussian noise current (PyNN's): each neuron gets its own value ``mean + stdev * z`` (nA,
    ``z`` standard normal), drawn anew every ``dt`` ms (``None``: every simulation step) and held
    in between, from ``start`` to ``stop`` (ms; ``None``: to the end), 0 outside: NEST's
    ``noise_generator`` through ``pyNN.nest``.

    The values of interval ``k`` (the steps starting in ``[k dt, (k + 1) dt)``) are drawn with
    ``torch.randn`` from a generator seeded once from the network's (``setup(rng_seed=...)``), one
    row of ``n`` per interval in order, so they are the same however the runs are split; they
    cannot equal NEST's (another generator), only their distribution does. ``dt`` must be a
    whole number of simulation steps (NEST's rule).

    Example:
        >>> import spikeforge.pynn as sim
        >>> _ = sim.setup(timestep=0.1, rng_seed=3)
        >>> cells = sim.Population(1000, sim.IF_curr_exp())
        >>> sim.NoisyCurrentSource(mean=0.5, stdev=0.25, dt=1.0).inject_into(cells)
        >>> cells.record("v")
        >>> _ = sim.run(100.0)
        >>> v = cells.get_data().segments[0].analogsignals[0].magnitude[-1]  # mV, at 100 ms
        >>> round(float(v.mean())), bool(0.5 < v.std() < 2.0)  # -65 mV + 0.5 nA * 20 MΩ
        (-55, True)
        >>> sim.end()
    """

    def __init__(
        self,
        mean: float = 0.0,
        stdev: float = 1.0,
        dt: float | None = None,
        start: float = 0.0,
        stop: float | None = None,
    ) -> None:
        for key, value in (("mean", mean), ("stdev", stdev), ("dt", dt), ("start", start), ("stop", stop)):
            if value is None and key in ("dt", "stop"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise ParameterError(f"NoisyCurrentSource: {key} must be a finite number, got {value!r}")
        if stdev < 0 or (dt is not None and dt <= 0):
            raise ParameterError(
                f"NoisyCurrentSource: need stdev >= 0 (nA) and dt > 0 (ms), got stdev={stdev!r}, dt={dt!r}"
            )
        if start < 0 or (stop is not None and stop < start):
            raise ParameterError(
                f"NoisyCurrentSource: need 0 <= start <= stop (ms), got start={start!r}, stop={stop!r}"
            )
        self.mean, self.stdev, self.dt = float(mean), float(stdev), dt
        self.start, self.stop = float(start), stop

    def inject_into(self, cells: Any) -> None:
        """Inject this current into every neuron of ``cells`` (a population or an assembly)."""
        cells.inject(self)

    def noise(self, scale: float, dt: float, n: int, generator: torch.Generator) -> Any:
        """The current of ``n`` neurons as a function of the step start times ``t`` (ms), ``[len(t),
        n]``, times ``scale``; its random numbers from a generator seeded from ``generator``."""
        every = dt if self.dt is None else float(self.dt)
        steps = round(every / dt)
        if steps < 1 or abs(steps * dt - every) > 1e-9 * max(every, 1.0):
            raise ParameterError(
                f"NoisyCurrentSource: dt={every!r} ms must be a whole number of simulation steps "
                f"(timestep {dt} ms), as NEST's noise_generator requires"
            )
        own = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        rows: list[torch.Tensor] = []
        mean, stdev, start = self.mean * scale, self.stdev * scale, self.start
        stop = float("inf") if self.stop is None else float(self.stop)

        def value(t: torch.Tensor) -> torch.Tensor:
            tt = t.reshape(-1).to(torch.float64)
            k = torch.floor(torch.round(tt / dt) / steps + 1e-9).to(torch.int64)
            need = int(k.max()) + 1 if len(k) else 0
            if need > len(rows):  # draw the missing intervals, in order
                rows.extend(torch.randn(need - len(rows), n, generator=own, dtype=torch.float64).unbind(0))
            z = torch.stack([rows[int(j)] for j in k]) if len(k) else torch.zeros(0, n, dtype=torch.float64)
            on = ((tt >= start - 1e-9) & (tt < stop - 1e-9)).to(torch.float64).reshape(-1, 1)
            return (mean + stdev * z) * on

        return value
