"""The simulation state of a PyNN script (one per process, as PyNN keeps it): ``setup``, ``end``
and the clock."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..circuits import Network
from ..errors import ParameterError

__all__ = ["setup", "end", "get_time_step", "get_current_time", "num_processes", "rank"]


class SimulationState:
    """What ``setup`` starts: the step ``dt`` (ms), the seed, the script's populations and projections
    (in creation order), the network (built at the first ``run``) and the time ``t`` (ms)."""

    def __init__(self, dt: float, seed: int = 0) -> None:
        self.dt = dt
        self.seed = seed
        self.populations: list[Any] = []  # Population (populations.py imports this module)
        self.projections: list[Any] = []  # Projection
        self.net: Network | None = None
        self.t = 0.0


_state: SimulationState | None = None


def current() -> SimulationState:
    """The state ``setup`` started; a :class:`~spikeforge.errors.ParameterError` before ``setup``."""
    if _state is None:
        raise ParameterError("call spikeforge.pynn.setup(timestep=...) first")
    return _state


def setup(timestep: float = 0.1, min_delay: Any = "auto", **extra: Any) -> int:
    """Start a new simulation with step ``timestep`` (ms); ``rng_seed`` (as pyNN.nest takes it)
    seeds spikeforge's generator (random connectors, Poisson sources; default 0); other PyNN
    arguments are ignored."""
    global _state
    seed = extra.get("rng_seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"setup: rng_seed must be an int >= 0, got {seed!r}")
    _state = SimulationState(float(timestep), int(seed))
    return 0


def get_time_step() -> float:
    """The step (ms) given to ``setup``."""
    return current().dt


def get_current_time() -> float:
    """The simulated time (ms)."""
    return current().t


def end() -> None:
    """Drop the simulation (PyNN's ``end``); ``setup`` starts a new one."""
    global _state
    _state = None


def num_processes() -> int:
    """1: spikeforge runs in one process."""
    return 1


def rank() -> int:
    """0: spikeforge runs in one process."""
    return 0
