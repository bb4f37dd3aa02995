"""The interface every engine of :class:`~spikeforge.circuits.Network` meets.

An engine runs a network's description (:mod:`spikeforge.circuits.network`) on its simulation
state (:mod:`spikeforge.circuits.state`), step by step in the order of
:mod:`spikeforge.circuits.schedule`. ``Network.run`` asks
:func:`~spikeforge.circuits.engines.choose.choose_engine` which engine runs it; an engine reads the
description and changes only the state, the monitors' records and, for plastic projections, the
weights.

=============================  ==============================================================
engine                         runs
=============================  ==============================================================
``"torch"``                    everything, on any device, with gradients (the reference)
``"compiled"``                 LIF, ALIF, Izhikevich and IF networks without gradients on the
                               CPU, in numba kernels; :meth:`Engine.supports` names what it lacks
``"triton"``                   LIF networks with exponential current synapses, Poisson groups and
                               spike sources without gradients on CUDA devices, in Triton kernels
                               (:mod:`~spikeforge.circuits.engines.gpu`)
=============================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .._populations import _NetworkBase
    from ..state import _Sim

__all__ = ["Engine"]


@runtime_checkable
class Engine(Protocol):
    """What ``Network.run`` needs of an engine.

    Attributes:
        name: the engine's name, as ``net.last_run_info["path"]`` reports it.
        threads_used: the CPU threads the engine's last :meth:`prepare` asked for, as
            ``net.last_run_info["threads"]`` reports it; None for an engine that leaves its
            threads to another library (the PyTorch engine: ``torch.set_num_threads``).
    """

    name: str
    threads_used: int | None

    def supports(self, network: _NetworkBase) -> str | None:
        """None when this engine can run ``network`` as it is now, else the reason, naming the
        part it cannot run (a population, a projection, a rule, the device, gradients)."""

    def prepare(self, network: _NetworkBase, state: _Sim, *, threads: int = 1) -> None:
        """Bind the engine to ``network`` and its simulation state before :meth:`advance`
        (buffers and caches from an earlier run are reused while still valid), to run on
        ``threads`` CPU threads (>= 1, checked by ``Network.run``) where the engine can."""

    def advance(self, n_steps: int, progress: Callable[[int], object] | None = None) -> None:
        """Run ``n_steps`` steps from ``state.step`` on, calling ``progress(k)`` after each ``k``
        steps done; the state, the monitors and plastic weights are updated in place."""
