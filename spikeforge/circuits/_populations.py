"""The bookkeeping shared by every part of :class:`~spikeforge.circuits.Network`: population
handles, name and argument checks, lookups of populations and projections, and the pieces both
execution paths use (parameters, synaptic coefficients, channel order, a chunk of inputs)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ParameterError, ShapeError
from ..neurons.alif import ALIF
from ..neurons.base import NeuronModule
from ..neurons.lif import LIF
from ..neurons.probabilistic import ProbabilisticNeuron
from ..surrogate import Surrogate, heaviside
from . import synapses as syn
from ._philox import NormalNoise, neuron_streams
from .inputs import CurrentInput, PoissonGroup, PoissonInput, SpikeSource
from .monitors import RateMonitor, SpikeMonitor, StateMonitor
from .projection import Projection, grid_positions

Sign = Literal["excitatory", "inhibitory"]


@dataclass
class Population:
    """A handle on a population or input group of a network (returned by the ``add_*`` methods).

    Attributes:
        name: its name in the network.
        n: number of neurons.
        kind: ``"neurons"``, ``"poisson"`` or ``"spikes"``.
        sign: +1 excitatory, -1 inhibitory, 0 unconstrained (Dale's law).
        module: the neuron module (populations only).
    """

    name: str
    n: int
    shape: tuple[int, ...]
    kind: str
    sign: int
    module: NeuronModule | None = None
    group: PoissonGroup | SpikeSource | None = None
    positions: Tensor | None = None
    init: dict[str, Any] = field(default_factory=dict)
    batch_params: dict[str, Tensor] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


PopRef = str | Population


class _NetworkBase(nn.Module):
    """The attributes and helpers the parts of :class:`~spikeforge.circuits.Network` share."""

    # declared here for the mixins; set by Network.__init__
    dt: float
    batch: int | None
    _B: int
    dtype: torch.dtype
    device: torch.device
    compiled: bool | None
    seed: int
    generator: torch.Generator
    noise_seeds: list[int]
    neurons: nn.ModuleDict
    projections: nn.ModuleDict
    _groups: dict[str, Population]  # every source: populations and input groups
    _syn_init: dict[str, dict[str, Any]]  # projection -> initial synaptic state
    _currents: list[CurrentInput]
    _drives: list[PoissonInput]  # Poisson inputs, in the order they were added
    _monitors: list[SpikeMonitor | StateMonitor | RateMonitor]
    _monitor_start: list[int]
    _sim: Any  # the simulation state (a state._Sim, typed there: state.py imports this module) or None
    _engines: dict[str, Any]  # engine name -> the engine object that ran this network (its caches)
    last_run_info: dict[str, Any]

    @property
    def population_names(self) -> tuple[str, ...]:
        """Names of the neuron populations, in the order they were added (their modules are
        ``net.neurons[name]``)."""
        return tuple(p.name for p in self._neuron_pops())

    @property
    def input_names(self) -> tuple[str, ...]:
        """Names of the input groups (Poisson groups and spike sources), in the order they were
        added."""
        return tuple(p.name for p in self._input_groups())

    def _check_name(self, name: Any) -> str:
        if not isinstance(name, str) or not name or "." in name:
            raise ParameterError(f"name must be a non-empty string without '.', got {name!r}")
        if (
            name in self._groups
            or name in self.projections
            or any(c.name == name for c in self._currents)
            or any(d.name == name for d in self._drives)
        ):
            raise ParameterError(f"name {name!r} is already used in this network; names must be unique")
        return name

    def _check_building(self, what: str) -> None:
        if self._sim is not None:
            raise ParameterError(
                f"cannot {what} once the network has a simulation state (after run, state or set_state); "
                f"build the whole network first (monitors may still be added)"
            )

    def _sign(self, sign: Any) -> int:
        if sign is None:
            return 0
        if sign == "excitatory":
            return 1
        if sign == "inhibitory":
            return -1
        raise ParameterError(f"sign must be None, 'excitatory' or 'inhibitory', got {sign!r}")

    def _positions(self, positions: Any, n: int, shape: tuple[int, ...]) -> Tensor | None:
        if positions is None:
            return grid_positions((shape[0], shape[1])) if len(shape) == 2 else None
        pos = torch.as_tensor(positions, dtype=torch.float64)
        if pos.dim() != 2 or pos.shape[0] != n:
            raise ShapeError(f"positions must be [n={n}, d], got shape {list(pos.shape)}")
        return pos

    def _population(self, ref: Any, arg: str, *, neurons_only: bool = False) -> Population:
        name = ref.name if isinstance(ref, Population) else ref
        if not isinstance(name, str) or name not in self._groups:
            known = [k for k, g in self._groups.items() if not neurons_only or g.kind == "neurons"]
            raise ParameterError(f"{arg} must name a population of this network {known}, got {name!r}")
        pop = self._groups[name]
        if neurons_only and pop.kind != "neurons":
            raise ParameterError(f"{arg} must be a neuron population, got the input group {name!r}")
        return pop

    def _proj(self, name: str) -> Projection:
        return cast(Projection, self.projections[name])

    def _projs(self) -> list[Projection]:
        return [cast(Projection, p) for p in self.projections.values()]

    def _source_for_record(self, ref: Any) -> Population:
        return self._population(ref, "name")

    def _neuron_pops(self) -> list[Population]:
        return [p for p in self._groups.values() if p.kind == "neurons"]

    def _input_groups(self) -> list[Population]:
        return [p for p in self._groups.values() if p.kind != "neurons"]

    def _params(self, pop: Population) -> Any:
        """The module's parameter NamedTuple in the network dtype, with batch overrides."""
        m = pop.module
        assert m is not None
        params = m.params(self.dtype)  # type: ignore[operator]
        if pop.batch_params:
            params = params._replace(**pop.batch_params)
        return params

    def _coefficients(self) -> dict[str, syn.SynapseCoefficients]:
        out = {}
        for proj in self._projs():
            pname = proj.name
            pop = self._groups[proj.post]
            tau_mem = None
            if isinstance(pop.module, (LIF, ALIF)):
                tau_mem = self._params(pop).tau_mem
            co = syn.coefficients(proj.synapse, pop.module, tau_mem, self.dt, self.dtype)  # type: ignore[arg-type]
            c1 = _as_bn(co.c1.to(self.device), self._B, pop.shape)
            c2 = _as_bn(co.c2.to(self.device), self._B, pop.shape)
            out[pname] = co._replace(c1=c1, c2=c2)
        return out

    def _channel_order(self) -> list[str]:
        """Projections sorted by target population, delta synapses first (the order in which
        both paths add synaptic inputs)."""
        index = {p.name: k for k, p in enumerate(self._neuron_pops())}
        names = list(self.projections.keys())
        return sorted(
            names,
            key=lambda n: (
                index[self._proj(n).post],
                not isinstance(self._proj(n).synapse, syn.DeltaSynapse),
                names.index(n),
            ),
        )

    def _neuron_streams(self, pop: Population) -> tuple[int, int]:
        """The counter-based streams (release, spike) of a ``ProbabilisticNeuron`` population: its
        rank among the network's ``ProbabilisticNeuron`` populations (both engines draw them)."""
        names = [p.name for p in self._neuron_pops() if isinstance(p.module, ProbabilisticNeuron)]
        return neuron_streams(names.index(pop.name))

    def _kernel_noise(self, c: CurrentInput) -> bool:
        """Whether the compiled engine draws current ``c`` in its kernel (counter-based normals)."""
        return isinstance(c.current, NormalNoise) and len(c.current.seeds) in (1, self._B)

    def _inputs_chunk(
        self, sim: Any, s0: int, s1: int, *, draw: bool = True
    ) -> tuple[dict[str, Tensor], dict[str, tuple[Tensor, Tensor, Tensor]], list[tuple[str, Tensor]]]:
        """The inputs of steps ``[s0, s1)``: Poisson spikes and Poisson-input values (unless not
        ``draw``: the compiled engine draws them itself), spike-source events and current values
        (``None`` for a current the compiled engine draws itself, when not ``draw``)."""
        groups = [g.group for g in self._input_groups() if isinstance(g.group, PoissonGroup)]
        poisson = sim.noise.spikes(s0, s1, groups, self._drives, self.dt, self.dtype) if draw else {}  # type: ignore[arg-type]
        sources = {
            g.name: g.group.events(s0, s1) for g in self._input_groups() if isinstance(g.group, SpikeSource)
        }
        t = torch.arange(s0, s1, dtype=torch.float64) * self.dt
        currents = [
            (
                c.target,
                None if not draw and self._kernel_noise(c) else c.values(t, self.dtype).to(self.device),
            )
            for c in self._currents
        ]
        return poisson, sources, currents  # type: ignore[return-value]

    def _record_spike_chunk(self, source: str, steps: np.ndarray, b: np.ndarray, i: np.ndarray) -> None:
        for m in self._monitors:
            if isinstance(m, SpikeMonitor) and m.source == source:
                m._append(steps, b, i)

    def _requires_grad(self) -> bool:
        if any(p.requires_grad for p in self.parameters()):
            return True
        if self._sim is not None:
            for st in self._sim.neurons.values():
                if any(isinstance(f, Tensor) and f.requires_grad for f in st):
                    return True
        return False


def _bad_n(n: Any) -> int:
    raise ParameterError(f"n must be a positive int, got {n!r}")


def _as_bn(t: Tensor, B: int, shape: tuple[int, ...]) -> Tensor:
    """A parameter broadcastable to ``[B, *shape]`` as a contiguous ``[B or 1, n or 1]``."""
    n = math.prod(shape)
    t = torch.as_tensor(t)
    if t.numel() == 1:
        return t.reshape(1, 1).contiguous()
    full = (
        torch.broadcast_to(t, (B, *shape))
        if t.dim() > len(shape)
        else torch.broadcast_to(t, shape).unsqueeze(0)
    )
    lead = full.shape[0]
    flat = full.reshape(lead, n)
    if bool((flat == flat[:, :1]).all()):
        flat = flat[:, :1]
    if lead > 1 and bool((flat == flat[:1]).all()):
        flat = flat[:1]
    return flat.contiguous()


def _spike_forward_is_heaviside(fn: Any) -> bool:
    return isinstance(fn, Surrogate) or fn is heaviside
