r"""Clock-driven simulation of networks of populations, inputs and projections.

A :class:`Network` holds neuron populations (any module of :mod:`spikeforge.neurons`), input
groups (:mod:`spikeforge.circuits.inputs`), projections (:mod:`spikeforge.circuits.projection`,
kinetics from :mod:`spikeforge.circuits.synapses`) and monitors
(:mod:`spikeforge.circuits.monitors`), and advances them with a fixed step ``dt`` (ms). Step
``k`` goes from :math:`t_k = k\,\Delta t` to :math:`t_{k+1}`; time is the integer step count,
never an accumulated float.

**Order of operations within step k** (the same on both execution paths):

1. *Deliver*: the weights of the spikes due now are taken from each projection's ring buffer
   (summed per target neuron, times the projection's per-copy ``gain``) and added to its
   synaptic state (``g``, or ``h`` of alpha kernels), or for a ``DeltaSynapse`` to the target
   neuron's state field (``v``).
2. *Sample*: state monitors record the state at :math:`t_k` (after the delivery, before the
   integration; the first sample is the initial state).
3. *Input*: each population's input current is ``x = sum(currents) + sum(synaptic currents)``,
   computed from the synaptic states (and, for conductances, from ``v``) at :math:`t_k`; then the
   synaptic states advance to :math:`t_{k+1}`.
4. *Neurons*: each population takes one step with its model's pure step function
   (:func:`~spikeforge.neurons.lif.lif_step`, :func:`~spikeforge.neurons.alif.alif_step`,
   :func:`~spikeforge.neurons.izhikevich.izhikevich_step`, or the module's ``step``) and emits
   its spikes; input groups emit theirs.
5. *Schedule*: the spikes of this step are added to the ring buffers of their projections, each
   synapse at slot ``k + 1 + D`` (``D = delay / dt``).
   Then each Poisson input (:meth:`Network.add_poisson_input`) adds its values of step ``k`` to
   its target field, as a delay-0 ``DeltaSynapse`` projection would.
6. *Learn*: each plastic projection (``connect(..., plasticity=rule)``) calls
   ``rule.step(pre, post, w, state, modulator=m)`` with the spikes of step ``k`` of its source and
   target (``[B, n]``, emitted at :math:`t_k`, before any delay), the weight matrix
   ``[n_post, n_pre]`` and the modulator ``m`` of time :math:`t_k`, and adds the returned change
   (within the rule's bounds, keeping Dale's sign and the connectivity). The spikes of step ``k``
   were scheduled in phase 5 with the weights before this change.
7. *Record*: spike and rate monitors record the step's spikes at :math:`t_k`.

This is Brian2's schedule (state update, thresholds, synaptic propagation, resets; a spike of
step ``k`` is stamped ``t_k``, its ``on_pre`` runs in step ``k + D`` after the state update), with
the propagation of step ``k + D`` written as the delivery at the start of step ``k + D + 1``:
a spike of step ``k`` through a delay ``d`` first changes its target's synaptic state at
:math:`t_{k+1} + d`, and through ``delay=0`` acts on the next step (the earliest possible).
One difference: Brian2 resets after the propagation, so a delta synapse onto a neuron that spikes
in the same step is lost there; here it is added to the reset value.

**Randomness.** ``seed`` seeds the structure generator (:attr:`Network.generator`: connection
rules, weight and delay distributions). Each batch copy has its own noise generator, seeded with
``noise_seed[b]`` (by default derived from ``seed`` and ``b``), used for the copy's initial-state
distributions and its Poisson draws, in a fixed order (see :mod:`spikeforge.circuits.inputs`), and
a second stream derived from it for stochastic neurons (``ProbabilisticNeuron``), drawn step by
step, and a third for the Poisson inputs (:meth:`Network.add_poisson_input`), in the same blocks.
So a run split in two equals one run bitwise, copy ``b`` of a batched network equals an
unbatched one built with the same ``seed`` and ``noise_seed=noise_seed[b]``, all generator states
are in ``state_dict()``, and the global RNG is never used.

**Execution paths.** Without gradients on the CPU, LIF networks run in a compiled kernel
(:mod:`spikeforge.circuits._kernel`, numba): many steps per call, event-driven propagation, no
allocation per step. Everything else (other neuron models, CUDA, gradients, numba absent) runs
the PyTorch path, step by step. Both give the same spikes (up to floating-point summation order);
``compiled=False`` forces the PyTorch path, ``compiled=True`` requires the kernel.
A network with a plastic projection always runs the PyTorch path (the kernel has fixed weights).

**Plasticity.** ``connect(pre, post, weight=..., plasticity=rule)`` makes a projection learn during
:meth:`Network.run` with any :class:`~spikeforge.plasticity.PlasticityRule` (``STDP``,
``TripletSTDP``, ``RewardModulatedSTDP``, ``ThreeFactor``, ``SynapticScaling``, ...; the rule's
``dt`` must be the network's). The weights are shared by the batch copies; the rule's
``batch_reduce`` (``"mean"`` or ``"sum"``, not ``"none"``) combines the copies' changes. The
plastic weights are the projection's ``w`` buffer and the rule state (traces, tags) is part of the
simulation state, so ``state_dict``/``load_state_dict`` keep both and a run split in two equals
one run. The third factor of modulated rules comes from ``connect(..., modulator=...)`` (a number,
a tensor, or a callable ``t_ms -> value`` evaluated once per step) or from
:meth:`Network.set_modulator` (a value used from the next step on, saved in ``state_dict``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
import torch
from torch import Tensor, nn

from .._checks import as_shape, check_dt
from ..errors import ParameterError, ShapeError
from ..neurons.alif import ALIF, alif_step
from ..neurons.base import NeuronModule
from ..neurons.izhikevich import Izhikevich, izhikevich_step
from ..neurons.lif import LIF, LIFParams, lif_coefficients, lif_step, refractory_steps
from ..neurons.probabilistic import ProbabilisticNeuron, probabilistic_step
from ..surrogate import Surrogate, heaviside
from . import synapses as syn
from .inputs import NOISE_BLOCK, CurrentInput, PoissonGroup, PoissonInput, SpikeSource
from .monitors import (
    RateMonitor,
    SpikeMonitor,
    StateMonitor,
    load_monitor_state,
    monitor_state,
)
from .projection import (
    _DENSE_AUTO_LIMIT,
    AllToAll,
    Bernoulli,
    FixedInDegree,
    FixedOutDegree,
    Projection,
    Rule,
    Storage,
    _Context,
    delay_steps,
    grid_positions,
    resolve_values,
)

__all__ = ["Network", "Population"]

Sign = Literal["excitatory", "inhibitory"]
_CHUNK = 1000  # steps per kernel call and per PyTorch-path block of inputs
_STATE_VERSION = 1


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


class _Sim:
    """The simulation state of a network (created on first use)."""

    def __init__(self) -> None:
        self.step = 0
        self.neurons: dict[str, Any] = {}  # name -> state NamedTuple, fields [B, *shape]
        self.syn: dict[str, list[Tensor]] = {}  # projection -> [g] or [g, h], each [B, n_post]
        self.ring: dict[str, Tensor] = {}  # projection -> [B, L, n_post]
        self.plastic: dict[str, Any] = {}  # plastic projection -> its rule's state
        self.noise: _Noise


class _Noise:
    """Per-copy noise generators and the block-wise Poisson draws (see inputs.py)."""

    def __init__(self, seeds: Sequence[int], device: torch.device) -> None:
        self.device = device
        self.gens = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
        # a second stream per copy for the draws of stochastic neurons, consumed step by step
        self.neuron_gens = [
            torch.Generator(device=device).manual_seed(_derived_seed(int(s), 1)) for s in seeds
        ]
        # a third stream per copy for the Poisson inputs, drawn with the blocks of the first one
        self.drive_gens = [
            torch.Generator(device=device).manual_seed(_derived_seed(int(s), 2)) for s in seeds
        ]
        self.next_block = 0
        self.cache_block = -1
        self.cache: dict[str, Tensor] = {}
        self.before: list[Tensor] = []
        self.drive_before: list[Tensor] = []

    def _draw(
        self, k: int, groups: list[PoissonGroup], drives: list[PoissonInput], dt: float, dtype: torch.dtype
    ) -> None:
        self.before = [g.get_state() for g in self.gens]
        self.drive_before = [g.get_state() for g in self.drive_gens]
        t = (k * NOISE_BLOCK + torch.arange(NOISE_BLOCK, dtype=torch.float64)) * dt
        out: dict[str, Tensor] = {}
        batch = len(self.gens)
        for grp in groups:
            p = grp.probabilities(t, dtype).to(self.device)
            spikes = torch.empty(NOISE_BLOCK, batch, grp.n, dtype=torch.bool, device=self.device)
            for b, gen in enumerate(self.gens):
                u = torch.rand(NOISE_BLOCK, grp.n, generator=gen, dtype=dtype, device=self.device)
                torch.lt(u, p[:, b if p.shape[1] > 1 else 0], out=spikes[:, b])
            out[grp.name] = spikes
        for drv in drives:  # their own stream: adding a Poisson input leaves the groups' spikes
            lam = drv.means(t).to(self.device)
            values = torch.empty(NOISE_BLOCK, batch, drv.n_target, dtype=dtype, device=self.device)
            for b, gen in enumerate(self.drive_gens):
                values[:, b] = drv.draw(lam[:, b if lam.shape[1] > 1 else 0], gen, NOISE_BLOCK)
            out[drv.name] = values.mul_(drv.weight)  # count * weight, in the network dtype
        self.cache, self.cache_block, self.next_block = out, k, k + 1

    def spikes(
        self,
        s0: int,
        s1: int,
        groups: list[PoissonGroup],
        drives: list[PoissonInput],
        dt: float,
        dtype: torch.dtype,
    ) -> dict[str, Tensor]:
        """Poisson spikes of steps ``[s0, s1)`` per group, ``[s1 - s0, B, n]`` bool, and the
        values added by each Poisson input, ``[s1 - s0, B, n_target]``."""
        if not groups and not drives:
            return {}
        parts: dict[str, list[Tensor]] = {g.name: [] for g in groups}
        parts.update({d.name: [] for d in drives})
        s = s0
        while s < s1:
            k = s // NOISE_BLOCK
            if k < self.next_block - 1 and k != self.cache_block:  # pragma: no cover - internal invariant
                raise RuntimeError(f"noise block {k} requested after block {self.next_block - 1}")
            while self.cache_block != k:  # after a load, blocks are drawn again from the saved state
                self._draw(self.next_block, groups, drives, dt, dtype)
            lo = s - k * NOISE_BLOCK
            hi = min(s1 - k * NOISE_BLOCK, NOISE_BLOCK)
            for name, block in self.cache.items():
                parts[name].append(block[lo:hi])
            s = k * NOISE_BLOCK + hi
        return {name: torch.cat(p) if len(p) > 1 else p[0] for name, p in parts.items()}

    def state(self) -> dict[str, Any]:
        neurons = [g.get_state() for g in self.neuron_gens]
        if self.cache_block >= 0:
            return {
                "block": self.cache_block,
                "gens": [s.clone() for s in self.before],
                "drive_gens": [s.clone() for s in self.drive_before],
                "neuron_gens": neurons,
            }
        return {
            "block": self.next_block,
            "gens": [g.get_state() for g in self.gens],
            "drive_gens": [g.get_state() for g in self.drive_gens],
            "neuron_gens": neurons,
        }

    def load(self, state: dict[str, Any]) -> None:
        if len(state["gens"]) != len(self.gens):
            raise ParameterError(
                f"the saved state has {len(state['gens'])} batch copies, this network {len(self.gens)}"
            )
        for g, s in zip(self.gens, state["gens"]):
            g.set_state(s)
        for g, s in zip(self.neuron_gens, state["neuron_gens"]):
            g.set_state(s)
        for g, s in zip(self.drive_gens, state.get("drive_gens", [])):
            g.set_state(s)
        self.next_block = int(state["block"])
        self.cache_block, self.cache, self.before, self.drive_before = -1, {}, [], []


def _derived_seed(seed: int, b: int) -> int:
    return int(np.random.SeedSequence([seed, 0x5EED, b]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _spike_forward_is_heaviside(fn: Any) -> bool:
    return isinstance(fn, Surrogate) or fn is heaviside


class Network(nn.Module):
    r"""A network of neuron populations, input groups and projections, simulated with a fixed step.

    See the module docstring for the order of operations and the randomness.

    Args:
        dt: time step in ms (> 0); every population's module must have this ``dt``.
        batch: number of independent copies ``B`` simulated together (a parameter sweep in one
            call), or None for one unbatched copy. Monitors and states get a batch axis only when
            ``batch`` is given.
        seed: seed of the structure generator (connectivity, weight and delay distributions);
            None draws one at random.
        noise_seed: one seed per copy (a list of ``B`` ints, or an int for an unbatched network)
            for the copies' noise generators; by default derived from ``seed`` and the copy index.
        dtype: floating dtype of states and weights (default: torch's default dtype).
        device: device of states and weights (default CPU). Modules are moved there.
        compiled: None (default) uses the compiled kernel when it can; True requires it (an error
            names what it does not support); False always uses the PyTorch path.

    Example:
        >>> import spikeforge as sf
        >>> from spikeforge.circuits import Network, ExpSynapse
        >>> net = Network(dt=0.1, seed=0)
        >>> exc = net.add_population("exc", sf.neurons.LIF(100, tau_mem=20.0, v_th=-50.0,
        ...     v_reset=-60.0, v_leak=-49.0, dt=0.1), init={"v": sf.circuits.Uniform(-60.0, -50.0)})
        >>> proj = net.connect("exc", "exc", p=0.1, weight=0.5, delay=1.0, synapse=ExpSynapse(tau=5.0))
        >>> rec = net.record_spikes("exc")
        >>> net.run(100.0)
        >>> rec.t.shape == rec.i.shape, float(net.t)
        (True, 100.0)
    """

    def __init__(
        self,
        dt: float = 0.1,
        *,
        batch: int | None = None,
        seed: int | None = None,
        noise_seed: int | Sequence[int] | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        compiled: bool | None = None,
    ) -> None:
        super().__init__()
        self.dt = check_dt(dt)
        if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
            raise ParameterError(f"batch must be None or an int >= 1, got {batch!r}")
        self.batch = batch
        self._B = batch or 1
        self.dtype = dtype or torch.get_default_dtype()
        if not self.dtype.is_floating_point:
            raise ParameterError(f"dtype must be a floating dtype, got {self.dtype}")
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        if compiled not in (None, True, False):
            raise ParameterError(f"compiled must be None, True or False, got {compiled!r}")
        self.compiled = compiled
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ParameterError(f"seed must be an int or None, got {seed!r}")
        self.generator = torch.Generator()
        if seed is None:
            seed = int(self.generator.seed() % (1 << 62))
        self.seed = seed
        self.generator.manual_seed(seed)
        if noise_seed is None:
            seeds = [_derived_seed(seed, b) for b in range(self._B)]
        else:
            seeds = [noise_seed] if isinstance(noise_seed, int) else list(noise_seed)
            if len(seeds) != self._B or not all(
                isinstance(s, int) and not isinstance(s, bool) for s in seeds
            ):
                raise ParameterError(
                    f"noise_seed must be {self._B} int(s) (one per copy), got {noise_seed!r}"
                )
        self.noise_seeds: list[int] = [int(s) for s in seeds]
        self.neurons = nn.ModuleDict()
        self.projections = nn.ModuleDict()
        self._groups: dict[str, Population] = {}  # every source: populations and input groups
        self._syn_init: dict[str, dict[str, Any]] = {}  # projection -> initial synaptic state
        self._currents: list[CurrentInput] = []
        self._drives: list[PoissonInput] = []  # Poisson inputs, in the order they were added
        self._monitors: list[SpikeMonitor | StateMonitor | RateMonitor] = []
        self._monitor_start: list[int] = []
        self._sim: _Sim | None = None
        self._packed: _Packed | None = None
        self._csr_cache: tuple[Any, Any] | None = None
        self.last_run_info: dict[str, Any] = {}

    # ================================================================== building
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

    def add_population(
        self,
        name: str,
        module: NeuronModule,
        *,
        sign: Sign | None = None,
        init: dict[str, Any] | None = None,
        positions: Any = None,
        batch_params: dict[str, Any] | None = None,
    ) -> Population:
        """Add a population of neurons.

        Args:
            name: unique name.
            module: a neuron module of :mod:`spikeforge.neurons` (its ``dt`` must be the network's);
                moved to the network's device and dtype.
            sign: ``"excitatory"`` or ``"inhibitory"`` for Dale's law, or None.
            init: initial values of state fields, e.g. ``{"v": Uniform(-60, -50)}``: a number, a
                tensor ``[n]`` or ``[B, n]``, or a distribution ``(n, generator) -> Tensor[n]``
                drawn per copy from the copy's noise generator (in the order of populations, then
                fields, then copies). Unlisted fields start at the module's resting state.
            positions: ``[n, 2]`` positions for distance-dependent rules (default: the grid of a
                module with a 2-D shape).
            batch_params: per-copy parameter values for a sweep, e.g. ``{"v_th": tensor[B]}``;
                each a tensor ``[B]`` or ``[B, n]`` replacing the module's parameter of that name.

        Returns:
            a :class:`Population` handle (usable wherever a name is).

        Raises:
            ParameterError: duplicate name, a module that is not a NeuronModule, a dt mismatch,
                unknown state fields or parameters.
            ShapeError: init or batch_params values of the wrong shape.
        """
        self._check_building("add a population")
        name = self._check_name(name)
        if not isinstance(module, NeuronModule):
            raise ParameterError(f"module must be a spikeforge.neurons module, got {type(module).__name__}")
        if not math.isclose(module.dt, self.dt, rel_tol=1e-9, abs_tol=0.0):
            raise ParameterError(
                f"population {name!r}: its module has dt={module.dt} ms but the network's dt is "
                f"{self.dt} ms; "
                f"build the module with dt={self.dt}"
            )
        module.to(device=self.device, dtype=self.dtype)
        n, shape = module.n, module.shape
        probe = module.init_state((1,), dtype=self.dtype, device=self.device)
        fields = probe._fields
        init = dict(init or {})
        for key, value in init.items():
            if key not in fields:
                raise ParameterError(
                    f"init of {name!r} names {key!r}, not a state field of {type(module).__name__} "
                    f"{list(fields)}"
                )
            if not callable(value):
                self._expand_state_value(f"init[{key!r}]", value, shape)
        bparams: dict[str, Tensor] = {}
        if batch_params:
            params = module.params() if hasattr(module, "params") else None
            names = params._fields if params is not None else ()
            for key, value in batch_params.items():
                if key not in names:
                    raise ParameterError(
                        f"batch_params of {name!r} names {key!r}, not a parameter of "
                        f"{type(module).__name__} {list(names)}"
                    )
                t = torch.as_tensor(value, dtype=self.dtype, device=self.device)
                if t.dim() == 1 and t.shape[0] == self._B:
                    t = t.reshape(self._B, *([1] * len(shape)))
                elif t.dim() == 2 and t.shape == (self._B, n):
                    t = t.reshape(self._B, *shape)
                else:
                    raise ShapeError(
                        f"batch_params[{key!r}] of {name!r} must be [B={self._B}] or [B, n={n}], "
                        f"got {list(t.shape)}"
                    )
                bparams[key] = t
        pop = Population(
            name,
            n,
            shape,
            "neurons",
            self._sign(sign),
            module=module,
            positions=self._positions(positions, n, shape),
            init=init,
            batch_params=bparams,
        )
        self.neurons[name] = module
        self._groups[name] = pop
        return pop

    def add_poisson(
        self, name: str, n: int, rate: Any, *, sign: Sign | None = None, positions: Any = None
    ) -> Population:
        """Add ``n`` Poisson spike trains.

        Args:
            name: unique name.
            n: number of trains.
            rate: per ms (``5 * sf.units.Hz``): a number, a tensor ``[n]`` or ``[B, n]``, or a
                function of time (see :mod:`spikeforge.circuits.inputs`, :class:`TimedArray`).
            sign: for Dale's law, as for populations.
            positions: ``[n, 2]`` positions for distance-dependent rules.

        Raises:
            ParameterError: a negative rate or one above one spike per step.
        """
        self._check_building("add an input")
        name = self._check_name(name)
        n = as_shape("n", n)[0] if isinstance(n, int) and not isinstance(n, bool) else _bad_n(n)
        group = PoissonGroup(name, n, rate, dt=self.dt, batch=self._B, device=self.device)
        pop = Population(
            name,
            n,
            (n,),
            "poisson",
            self._sign(sign),
            group=group,
            positions=self._positions(positions, n, (n,)),
        )
        self._groups[name] = pop
        return pop

    def add_spike_source(
        self,
        name: str,
        n: int,
        times: Any,
        indices: Any,
        *,
        copies: Any = None,
        sign: Sign | None = None,
        positions: Any = None,
    ) -> Population:
        """Add ``n`` neurons that spike at given times (Brian2's ``SpikeGeneratorGroup``).

        Args:
            name: unique name.
            n: number of neurons.
            times: spike times in ms (rounded to the nearest step).
            indices: the neuron of each spike.
            copies: the batch copy of each spike, or None for every copy.
            sign: for Dale's law.
            positions: ``[n, 2]`` positions for distance-dependent rules.

        Raises:
            ParameterError: negative times, indices out of range, two spikes of a neuron in one step.
            ShapeError: times and indices of different lengths.
        """
        self._check_building("add an input")
        name = self._check_name(name)
        n = as_shape("n", n)[0] if isinstance(n, int) and not isinstance(n, bool) else _bad_n(n)
        group = SpikeSource(name, n, times, indices, copies, dt=self.dt, batch=self._B)
        pop = Population(
            name,
            n,
            (n,),
            "spikes",
            self._sign(sign),
            group=group,
            positions=self._positions(positions, n, (n,)),
        )
        self._groups[name] = pop
        return pop

    def add_current(self, name: str, target: PopRef, current: Any) -> CurrentInput:
        """Add a current to the input of every neuron of ``target``, every step.

        Args:
            name: unique name.
            target: a population.
            current: a number, a tensor ``[n]`` or ``[B, n]``, or a function of time (see
                :mod:`spikeforge.circuits.inputs`), in the unit of the neuron's input.
        """
        self._check_building("add an input")
        name = self._check_name(name)
        pop = self._population(target, "target", neurons_only=True)
        cur = CurrentInput(name, pop.name, pop.n, current, batch=self._B, device=self.device)
        self._currents.append(cur)
        return cur

    def add_poisson_input(
        self,
        name: str,
        target: PopRef,
        n: int,
        rate: Any,
        weight: float,
        *,
        synapse: syn.DeltaSynapse | None = None,
    ) -> PoissonInput:
        r"""Drive every neuron of ``target`` with ``n`` independent Poisson trains of rate ``rate``
        through delta synapses of weight ``weight``, without simulating the trains (Brian2's
        ``PoissonInput``).

        In each step ``k`` every target neuron (of every copy) gets ``weight`` times its own count
        :math:`c \sim \mathrm{Poisson}(n\,\mathrm{rate}(t_k)\,dt)` added to the state field
        ``synapse.target`` (``"v"`` by default), at the end of the step, as a delay-0
        ``DeltaSynapse`` projection from a Poisson group adds its spikes (phase 5, see the module
        docstring): the same input, in distribution, as ``add_poisson(..., n * n_target, rate)``
        with each train connected to one neuron, but one draw per neuron and step instead of ``n``
        and no synapses (see :mod:`spikeforge.circuits.inputs` for the draws, from the copies'
        noise generators). Unlike a Poisson group, the count per step is not limited to one
        spike per train and step (``rate * dt`` may exceed 1). It runs on both execution paths.

        Args:
            name: unique name.
            target: a neuron population.
            n: number of external trains per neuron (``C_ext``), an int >= 1.
            rate: the rate of each train per ms (``5 * sf.units.Hz``): a number, a tensor ``[n_target]``
                or ``[B, n_target]``, or a function of time (see :mod:`spikeforge.circuits.inputs`).
            weight: the jump per external spike, in the unit of the target field (mV for ``v``).
            synapse: a :class:`~spikeforge.circuits.DeltaSynapse` naming the state field to jump
                (default ``DeltaSynapse()``, the membrane ``v``).

        Returns:
            the :class:`~spikeforge.circuits.inputs.PoissonInput`.

        Raises:
            ParameterError: an unknown population, ``n`` not a positive int, a negative rate, a
                non-finite weight, a synapse other than a ``DeltaSynapse`` or one whose target is
                not a state field of the population.

        Example:
            >>> import spikeforge as sf
            >>> net = sf.circuits.Network(dt=0.1, seed=0)
            >>> _ = net.add_population("exc", sf.neurons.LIF(100, tau_mem=20.0, v_th=20.0,
            ...     v_reset=10.0, v_leak=0.0, dt=0.1))
            >>> _ = net.add_poisson_input("ext", "exc", n=1000, rate=20 * sf.units.Hz, weight=0.1)
            >>> rec = net.record_spikes("exc")
            >>> net.run(200.0, progress=False)
            >>> bool(rec.t.size > 0)  # mean drive 1000 * 0.02 * 0.1 * 20 = 40 mV > threshold
            True
        """
        self._check_building("add an input")
        name = self._check_name(name)
        pop = self._population(target, "target", neurons_only=True)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ParameterError(f"n must be an int >= 1 (trains per neuron), got {n!r}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise ParameterError(f"weight must be a finite number, got {weight!r}")
        synapse = syn.DeltaSynapse() if synapse is None else synapse
        if not isinstance(synapse, syn.DeltaSynapse):
            raise ParameterError(
                f"synapse of a Poisson input must be a DeltaSynapse, got {type(synapse).__name__}"
            )
        assert pop.module is not None
        fields = pop.module.init_state((1,), dtype=self.dtype, device=self.device)._fields
        if synapse.target not in fields:
            raise ParameterError(
                f"synapse.target must be a state field of {pop.name!r} ({type(pop.module).__name__}) "
                f"{list(fields)}, got {synapse.target!r}"
            )
        drive = PoissonInput(
            name,
            pop.name,
            synapse.target,
            pop.n,
            n,
            rate,
            float(weight),
            dt=self.dt,
            batch=self._B,
            device=self.device,
        )
        self._drives.append(drive)
        return drive

    def _population(self, ref: Any, arg: str, *, neurons_only: bool = False) -> Population:
        name = ref.name if isinstance(ref, Population) else ref
        if not isinstance(name, str) or name not in self._groups:
            known = [k for k, g in self._groups.items() if not neurons_only or g.kind == "neurons"]
            raise ParameterError(f"{arg} must name a population of this network {known}, got {name!r}")
        pop = self._groups[name]
        if neurons_only and pop.kind != "neurons":
            raise ParameterError(f"{arg} must be a neuron population, got the input group {name!r}")
        return pop

    def connect(
        self,
        pre: PopRef,
        post: PopRef,
        *,
        weight: Any,
        rule: Rule | None = None,
        p: float | None = None,
        in_degree: int | None = None,
        out_degree: int | None = None,
        delay: Any = 0.0,
        synapse: syn.Synapse | None = None,
        storage: Storage | None = None,
        autapses: bool = True,
        learnable: bool = False,
        gain: Any = None,
        name: str | None = None,
        plasticity: Any = None,
        modulator: Any = None,
        init: dict[str, Any] | None = None,
    ) -> Projection:
        """Connect ``pre`` to ``post``.

        Args:
            pre: source population or input group.
            post: target population.
            weight: a number, a tensor ``[n_post, n_pre]`` or ``[n_synapses]``, or a distribution
                ``(n, generator) -> Tensor[n]`` (see :mod:`spikeforge.circuits.projection`).
            rule: a connection rule object; default all-to-all.
            p: shortcut for ``rule=Bernoulli(p)``.
            in_degree: shortcut for ``rule=FixedInDegree(in_degree)``.
            out_degree: shortcut for ``rule=FixedOutDegree(out_degree)``.
            delay: ms, >= 0, a multiple of dt (distributions are rounded); same forms as weight.
            synapse: the kinetics; default :class:`DeltaSynapse` (each spike adds w to v).
            storage: ``"dense"``, ``"sparse"`` or None (dense for all-to-all up to 4M pairs).
            autapses: whether a recurrent projection may connect a neuron to itself.
            learnable: weights as an ``nn.Parameter`` (sign-preserving under Dale's law).
            gain: ``[B]`` non-negative factor per copy on all weights (a weight sweep), or None.
            name: unique name (default ``"pre->post"``, numbered if taken).
            plasticity: a :class:`~spikeforge.plasticity.PlasticityRule` (e.g.
                ``sf.plasticity.STDP(dt=net.dt)``) that changes the weights during :meth:`run`
                (see the module docstring); its ``dt`` must be the network's. The weights are then
                stored per synapse, and ``storage=None`` picks dense storage up to 4M pairs for any
                rule. Not with ``learnable=True``.
            modulator: the third factor passed to the rule each step: a number or tensor
                (constant), or a callable ``t_ms -> value`` called with the time of the step; None
                passes ``modulator=None``. Change it later with :meth:`set_modulator`.
            init: initial values of the synaptic state (``{"g": ...}``, ``"h"`` too for alpha
                kernels; one value per target neuron, zero by default), in the same forms as a
                population's ``init``: a number, ``[n_post]``, ``[B, n_post]``, or a distribution
                ``(n_post, generator) -> Tensor[n_post]`` drawn per copy from the copy's noise
                generator (after all population draws, in the order of projections, then fields,
                then copies). E.g. the COBA benchmark's initial conductances
                (:func:`~spikeforge.circuits.builders.coba`).

        Returns:
            the :class:`Projection`.

        Raises:
            ParameterError: unknown names, several rules, p outside [0, 1], negative or off-grid
                delays, weights against Dale's law, a synapse target the neuron lacks, ``init``
                naming a field the synapse does not have.
            ShapeError: weight, delay or init tensors of the wrong shape.
        """
        self._check_building("connect")
        src = self._population(pre, "pre")
        dst = self._population(post, "post", neurons_only=True)
        given = [r for r in (rule, p, in_degree, out_degree) if r is not None]
        if len(given) > 1:
            raise ParameterError("give at most one of rule, p, in_degree and out_degree")
        if p is not None:
            rule = Bernoulli(p)
        elif in_degree is not None:
            rule = FixedInDegree(in_degree)
        elif out_degree is not None:
            rule = FixedOutDegree(out_degree)
        elif rule is None:
            rule = AllToAll()
        if not isinstance(rule, Rule):
            raise ParameterError(f"rule must be a connection rule object (e.g. Bernoulli(0.1)), got {rule!r}")
        synapse = synapse if synapse is not None else syn.DeltaSynapse()
        if not isinstance(synapse, syn.Synapse):
            raise ParameterError(f"synapse must be a spikeforge.circuits synapse object, got {synapse!r}")
        assert dst.module is not None
        fields = dst.module.init_state((1,), dtype=self.dtype, device=self.device)._fields
        if isinstance(synapse, syn.DeltaSynapse) and synapse.target not in fields:
            raise ParameterError(
                f"DeltaSynapse target {synapse.target!r} is not a state field of {dst.name!r} {list(fields)}"
            )
        if isinstance(synapse, (syn.ExpConductance, syn.AlphaConductance)) and "v" not in fields:
            raise ParameterError(
                f"conductance synapses need a membrane 'v' in {dst.name!r}, whose state has {list(fields)}"
            )
        tau_mem = getattr(dst.module, "tau_mem", None)
        syn.coefficients(synapse, dst.module, tau_mem, self.dt, torch.float64)  # checks dt against tau
        if storage not in (None, "dense", "sparse"):
            raise ParameterError(f"storage must be None, 'dense' or 'sparse', got {storage!r}")
        syn_init = dict(init or {})
        for key, value in syn_init.items():
            if key not in synapse.state_names:
                raise ParameterError(
                    f"init names {key!r}, not a state field of {type(synapse).__name__} "
                    f"{list(synapse.state_names)}"
                )
            if not callable(value):
                self._expand_state_value(f"init[{key!r}]", value, (dst.n,))
        if plasticity is not None:
            self._check_rule(plasticity, learnable)
        elif modulator is not None:
            raise ParameterError("modulator is only used by a plastic projection; give plasticity= too")
        if name is None:
            base = f"{src.name}->{dst.name}"
            name, k = base, 2
            while name in self.projections or name in self._groups:
                name, k = f"{base}#{k}", k + 1
        name = self._check_name(name)
        ctx = _Context(
            src.n,
            dst.n,
            src.name == dst.name,
            bool(autapses),
            self.generator,
            src.positions,
            dst.positions,
            src.name,
            dst.name,
        )
        pre_idx, post_idx = rule.pairs(ctx)
        w, _ = resolve_values("weight", weight, pre_idx, post_idx, src.n, dst.n, self.generator)
        d_ms, drawn = resolve_values("delay", delay, pre_idx, post_idx, src.n, dst.n, self.generator)
        d_steps = delay_steps(d_ms, self.dt, drawn)
        if src.sign > 0 and w.numel() and float(w.min()) < 0:
            raise ParameterError(
                f"weight from excitatory {src.name!r} must be >= 0 (Dale's law), got min {float(w.min())!r}"
            )
        if src.sign < 0 and w.numel() and float(w.max()) > 0:
            raise ParameterError(
                f"weight from inhibitory {src.name!r} must be <= 0 (Dale's law), got max {float(w.max())!r}"
            )
        gain_t = None
        if gain is not None:
            gain_t = torch.as_tensor(gain, dtype=torch.float64).reshape(-1)
            if gain_t.numel() != self._B:
                raise ShapeError(f"gain must be [B={self._B}], got shape {list(torch.as_tensor(gain).shape)}")
            if bool((gain_t < 0).any()) or not bool(torch.isfinite(gain_t).all()):
                raise ParameterError(
                    f"gain must be finite and >= 0 (it must not flip a weight's sign), got {gain!r}"
                )
        if storage is None:
            storage = (
                "dense"
                if (isinstance(rule, AllToAll) or plasticity is not None)
                and src.n * dst.n <= _DENSE_AUTO_LIMIT
                else "sparse"
            )
        proj = Projection(
            name=name,
            pre=src.name,
            post=dst.name,
            n_pre=src.n,
            n_post=dst.n,
            pre_idx=pre_idx,
            post_idx=post_idx,
            weight=w,
            delay=d_steps,
            synapse=synapse,
            sign=src.sign,
            dt=self.dt,
            storage=storage,
            learnable=bool(learnable),
            gain=gain_t,
            dtype=self.dtype,
            device=self.device,
            plasticity=plasticity,
            modulator=modulator,
        )
        self.projections[name] = proj
        if syn_init:
            self._syn_init[name] = syn_init
        return proj

    def _check_rule(self, rule: Any, learnable: bool) -> None:
        if not (callable(getattr(rule, "init_state", None)) and callable(getattr(rule, "step", None))):
            raise ParameterError(
                f"plasticity must be a plasticity rule with init_state and step (e.g. "
                f"sf.plasticity.STDP(dt={self.dt})), got {rule!r}"
            )
        if learnable:
            raise ParameterError(
                "a projection is either learnable (trained by an optimizer) or plastic (learns by a "
                "local rule during run), not both"
            )
        rdt = getattr(rule, "dt", None)
        if isinstance(rdt, (int, float)) and not math.isclose(float(rdt), self.dt, rel_tol=1e-9):
            raise ParameterError(
                f"the plasticity rule has dt={rdt} ms but the network's dt is {self.dt} ms; build the "
                f"rule with dt={self.dt}"
            )
        if getattr(rule, "batch_reduce", None) == "none":
            raise ParameterError(
                "a plastic projection has one weight matrix for all batch copies; build the rule with "
                "batch_reduce='mean' or 'sum', not 'none'"
            )

    def set_modulator(self, projection: str | Projection, value: Any) -> None:
        """Set the modulator (third factor: reward, dopamine, error) of a plastic projection from
        the next step on: a number, a tensor the rule accepts (e.g. ``[B]`` per copy), a callable
        ``t_ms -> value``, or None. A value that is not a callable is saved in ``state_dict``.

        Raises:
            ParameterError: not a plastic projection of this network.
        """
        name = projection.name if isinstance(projection, Projection) else projection
        if not isinstance(name, str) or name not in self.projections:
            raise ParameterError(
                f"projection must name a projection of this network {list(self.projections)}, got {name!r}"
            )
        proj = self._proj(name)
        if not proj.plastic:
            raise ParameterError(f"projection {name!r} is not plastic (connect it with plasticity=...)")
        if isinstance(value, Tensor):
            value = value.detach().to(self.device)
        proj.modulator = value

    def plasticity_state(self, projection: str | Projection) -> Any:
        """The current state of a plastic projection's rule (its NamedTuple: traces, tags, ...),
        with the batch axis ``B`` (size 1 for an unbatched network)."""
        name = projection.name if isinstance(projection, Projection) else projection
        if not isinstance(name, str) or name not in self.projections or not self._proj(name).plastic:
            raise ParameterError(f"projection must name a plastic projection of this network, got {name!r}")
        return self._ensure_state().plastic[name]

    def _init_rule_state(self, proj: Projection) -> Any:
        rule = proj.plasticity
        shape = (self._B,)
        try:
            st = rule.init_state(shape, proj.n_pre, proj.n_post, dtype=self.dtype, device=self.device)
        except TypeError:
            st = rule.init_state(shape, proj.n_pre, proj.n_post)
        return _map_tensors(
            st,
            lambda t: (
                t.to(dtype=self.dtype, device=self.device) if t.is_floating_point() else t.to(self.device)
            ),
        )

    def _proj(self, name: str) -> Projection:
        return cast(Projection, self.projections[name])

    def _projs(self) -> list[Projection]:
        return [cast(Projection, p) for p in self.projections.values()]

    # ================================================================== monitors
    def _source_for_record(self, ref: Any) -> Population:
        return self._population(ref, "name")

    def record_spikes(self, name: PopRef) -> SpikeMonitor:
        """Record the spikes of a population or input group (see :class:`SpikeMonitor`)."""
        pop = self._source_for_record(name)
        mon = SpikeMonitor(pop.name, pop.n, self.dt, self.batch)
        self._monitors.append(mon)
        return mon

    def record_rate(self, name: PopRef) -> RateMonitor:
        """Record the population rate of every step (see :class:`RateMonitor`)."""
        pop = self._source_for_record(name)
        mon = RateMonitor(pop.name, pop.n, self.dt, self.batch)
        self._monitors.append(mon)
        return mon

    def record_state(
        self, name: PopRef | Projection, var: str, indices: Any = None, interval: float | None = None
    ) -> StateMonitor:
        """Record a state variable of chosen neurons (see :class:`StateMonitor`).

        Args:
            name: a population (variables: its state fields, e.g. ``"v"``) or a projection (its
                synaptic state per target neuron: ``"g"``, and ``"h"`` for alpha kernels).
            var: the variable.
            indices: neuron indices (of the target population for a projection); None: all.
            interval: ms between samples, a multiple of dt (default dt).

        Raises:
            ParameterError: unknown name or variable, indices out of range, bad interval.
        """
        if isinstance(name, Projection):
            name = name.name
        pname = name.name if isinstance(name, Population) else name
        if isinstance(pname, str) and pname in self.projections:
            proj = self._proj(pname)
            allowed = proj.synapse.state_names
            n = proj.n_post
        else:
            pop = self._population(pname, "name", neurons_only=True)
            assert pop.module is not None
            allowed = pop.module.init_state((1,), dtype=self.dtype, device=self.device)._fields
            n = pop.n
        if var not in allowed:
            raise ParameterError(f"var must be one of {list(allowed)} for {pname!r}, got {var!r}")
        idx = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ParameterError(f"indices must be in [0, {n}), got range [{idx.min()}, {idx.max()}]")
        every = 1
        if interval is not None:
            every = int(round(float(interval) / self.dt))
            if every < 1 or abs(every * self.dt - float(interval)) > 1e-9 * max(1.0, float(interval)):
                raise ParameterError(
                    f"interval must be a positive multiple of dt={self.dt} ms, got {interval!r}"
                )
        mon = StateMonitor(pname, var, idx, every, self.dt, self.batch)
        self._monitors.append(mon)
        return mon

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

    # ================================================================== state
    @property
    def t(self) -> float:
        """Current time in ms (``step_count * dt``)."""
        return (self._sim.step if self._sim is not None else 0) * self.dt

    @property
    def step_count(self) -> int:
        """Steps simulated so far."""
        return self._sim.step if self._sim is not None else 0

    def _expand_state_value(self, what: str, value: Any, shape: tuple[int, ...]) -> Tensor:
        t = torch.as_tensor(value, dtype=self.dtype, device=self.device)
        n = math.prod(shape)
        if t.dim() == 0:
            return t.expand(self._B, *shape).clone()
        if t.numel() == n and (t.dim() == 1 or tuple(t.shape) == shape):
            return t.reshape(1, *shape).expand(self._B, *shape).clone()
        if t.shape[0] == self._B and t[0].numel() == n:
            return t.reshape(self._B, *shape).clone()
        raise ShapeError(f"{what} must be a scalar, [n={n}] or [B={self._B}, n], got shape {list(t.shape)}")

    def _initial_value(
        self, what: str, spec: Any, shape: tuple[int, ...], n: int, gens: list[torch.Generator], dtype: Any
    ) -> Tensor:
        """``[B, *shape]`` initial values of a state field from an ``init`` entry: a value, or a
        distribution ``(n, generator) -> Tensor[n]`` drawn per copy."""
        if not callable(spec):
            return self._expand_state_value(what, spec, shape).to(dtype).contiguous()
        rows = []
        for gen in gens:
            r = spec(n, gen)
            if not isinstance(r, Tensor) or r.numel() != n:
                raise ShapeError(f"{what} must return a tensor [n={n}]")
            rows.append(r.reshape(shape))
        return torch.stack(rows).to(dtype=dtype, device=self.device).contiguous()

    def _ensure_state(self) -> _Sim:
        if self._sim is not None:
            return self._sim
        sim = _Sim()
        sim.noise = _Noise(self.noise_seeds, self.device)
        for pop in self._groups.values():
            if pop.kind != "neurons":
                continue
            assert pop.module is not None
            state = pop.module.init_state((self._B,), dtype=self.dtype, device=self.device)
            values = {f: getattr(state, f).detach().clone().contiguous() for f in state._fields}
            for key, spec in pop.init.items():
                values[key] = self._initial_value(
                    f"init[{key!r}] of {pop.name!r}",
                    spec,
                    pop.shape,
                    pop.n,
                    sim.noise.gens,
                    values[key].dtype,
                )
            sim.neurons[pop.name] = type(state)(**values)
        for proj in self._projs():
            pname = proj.name
            shape = (self._B, proj.n_post)
            init = self._syn_init.get(pname, {})
            sim.syn[pname] = [
                self._initial_value(
                    f"init[{f!r}] of {pname!r}",
                    init[f],
                    (proj.n_post,),
                    proj.n_post,
                    sim.noise.gens,
                    self.dtype,
                )
                if f in init
                else torch.zeros(shape, dtype=self.dtype, device=self.device)
                for f in proj.synapse.state_names
            ]
            sim.ring[pname] = torch.zeros(
                self._B, proj.max_delay_steps + 1, proj.n_post, dtype=self.dtype, device=self.device
            )
            if proj.plastic:
                sim.plastic[pname] = self._init_rule_state(proj)
        self._sim = sim
        return sim

    def state(self, name: PopRef | Projection) -> Any:
        """A copy of the current state of a population (its NamedTuple, fields ``[B, *shape]``, or
        ``[*shape]`` unbatched) or of a projection (a dict ``{"g": ..., "h": ...}`` ``[B, n_post]``).
        Differentiable when the run was (PyTorch path with gradients)."""
        sim = self._ensure_state()
        if isinstance(name, Projection):
            name = name.name
        key = name.name if isinstance(name, Population) else name
        if isinstance(key, str) and key in self.projections:
            proj = self._proj(key)
            out = dict(zip(proj.synapse.state_names, sim.syn[key]))  # type: ignore[union-attr, arg-type]
            return out if self.batch is not None else {k: v[0] for k, v in out.items()}
        pop = self._population(key, "name", neurons_only=True)
        st = sim.neurons[pop.name]
        return st if self.batch is not None else type(st)(*(f[0] for f in st))

    def set_state(self, name: PopRef | Projection, field: str, value: Any) -> None:
        """Set one state variable of a population or a projection, before a run or between runs
        (Brian2's ``group.v = ...``).

        The first call creates the simulation state (drawing the ``init`` distributions), after
        which the network's structure is fixed: add populations, inputs and projections first
        (monitors may still be added). A run then starts from the values set; ``state(name)``
        reads them back. Values set this way are not redrawn; to give every copy its own random
        draw, use ``init`` of :meth:`add_population` or :meth:`connect` instead.

        Args:
            name: a population (its state fields, e.g. ``"v"``, ``"i"``, ``"ref"`` of a LIF) or a
                projection (its synaptic state, ``"g"``, and ``"h"`` for alpha kernels, one value
                per target neuron).
            field: the state variable.
            value: a number, a tensor ``[n]`` (every copy) or ``[B, n]`` (batched networks), with
                ``n`` the population size (its shape also works) or the projection's ``n_post``.

        Raises:
            ParameterError: an unknown population or projection, or a field it does not have.
            ShapeError: a value of the wrong shape.

        Example:
            >>> import spikeforge as sf
            >>> from spikeforge.circuits import Network, ExpConductance
            >>> net = Network(dt=0.1, seed=0)
            >>> _ = net.add_population("exc", sf.neurons.LIF(3, v_leak=-60.0, v_reset=-60.0, v_th=-50.0,
            ...     integrator="euler", dt=0.1))
            >>> _ = net.connect("exc", "exc", weight=0.5, synapse=ExpConductance(tau=5.0, e_rev=0.0))
            >>> net.set_state("exc", "v", [-60.0, -55.0, -51.0])
            >>> net.set_state("exc->exc", "g", 0.2)
            >>> [round(g, 6) for g in net.state("exc->exc")["g"].tolist()]
            [0.2, 0.2, 0.2]
        """
        sim = self._ensure_state()
        key = name.name if isinstance(name, (Population, Projection)) else name
        if isinstance(key, str) and key in self.projections:
            proj = self._proj(key)
            names = proj.synapse.state_names
            if field not in names:
                raise ParameterError(
                    f"field of projection {key!r} ({type(proj.synapse).__name__}) must be one of "
                    f"{list(names)}, got {field!r}"
                )
            k = names.index(field)
            new = self._expand_state_value(f"value of {field!r}", value, (proj.n_post,)).contiguous()
            sim.syn[key] = [new if j == k else t for j, t in enumerate(sim.syn[key])]
            return
        if isinstance(key, str) and key not in self._groups:
            raise ParameterError(
                f"name must be a population {[p.name for p in self._neuron_pops()]} or a projection "
                f"{list(self.projections.keys())} of this network, got {key!r}"
            )
        pop = self._population(key, "name", neurons_only=True)
        st = sim.neurons[pop.name]
        if field not in st._fields:
            raise ParameterError(
                f"field of population {pop.name!r} ({type(pop.module).__name__}) must be one of "
                f"{list(st._fields)}, got {field!r}"
            )
        old = getattr(st, field)
        new = self._expand_state_value(f"value of {field!r}", value, pop.shape).to(old.dtype).contiguous()
        sim.neurons[pop.name] = st._replace(**{field: new})

    def get_extra_state(self) -> dict[str, Any]:
        """Everything that is not a parameter or buffer: the simulation state (neuron and synaptic
        states, ring buffers, step), the noise generators and the monitors' records."""
        out: dict[str, Any] = {"version": _STATE_VERSION, "initialized": self._sim is not None}
        if self._sim is not None:
            sim = self._sim
            out["step"] = sim.step
            out["neurons"] = {
                k: {f: getattr(s, f).detach().clone() for f in s._fields} for k, s in sim.neurons.items()
            }
            out["syn"] = {k: [t.detach().clone() for t in v] for k, v in sim.syn.items()}
            out["ring"] = {k: v.detach().clone() for k, v in sim.ring.items()}
            out["noise"] = sim.noise.state()
            out["plastic"] = {k: [t.detach().clone() for t in _leaves(v)] for k, v in sim.plastic.items()}
        out["modulators"] = {
            p.name: p.modulator.clone() if isinstance(p.modulator, Tensor) else p.modulator
            for p in self._projs()
            if p.plastic and not callable(p.modulator)
        }
        out["monitors"] = [
            (type(m).__name__, m.source, getattr(m, "var", None), monitor_state(m)) for m in self._monitors
        ]
        return out

    def set_extra_state(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
            raise ParameterError("not a spikeforge.circuits.Network state (or from another version)")
        mons = state.get("monitors", [])
        if len(mons) != len(self._monitors) or any(
            (kind, src, var) != (type(m).__name__, m.source, getattr(m, "var", None))
            for (kind, src, var, _), m in zip(mons, self._monitors)
        ):
            raise ParameterError(
                "the saved monitors differ from this network's: add the same monitors in the same order "
                f"before loading (saved: {[(k, s, v) for k, s, v, _ in mons]})"
            )
        for (_, _, _, data), m in zip(mons, self._monitors):
            load_monitor_state(m, data)
        for k, value in state.get("modulators", {}).items():
            if k in self.projections and not callable(self._proj(k).modulator):
                self._proj(k).modulator = value.to(self.device) if isinstance(value, Tensor) else value
        if not state["initialized"]:
            self._sim = None
            return
        sim = self._ensure_state()
        sim.step = int(state["step"])
        for k, fields in state["neurons"].items():
            cur = sim.neurons[k]
            sim.neurons[k] = type(cur)(
                **{f: fields[f].to(getattr(cur, f).device).clone() for f in cur._fields}
            )
        for k, ts in state["syn"].items():
            sim.syn[k] = [t.to(self.device).clone() for t in ts]
        for k, t in state["ring"].items():
            sim.ring[k] = t.to(self.device).clone()
        sim.noise.load(state["noise"])
        saved = state.get("plastic", {})
        for k in sim.plastic:
            if k not in saved:
                raise ParameterError(f"the saved state has no plasticity state for projection {k!r}")
            template = self._init_rule_state(self._proj(k))
            leaves = [t.to(self.device).clone() for t in saved[k]]
            sim.plastic[k] = _rebuild(template, iter(leaves), k)

    # ================================================================== running
    def run(self, duration: float, *, progress: bool | None = None) -> None:
        """Advance the network by ``duration`` ms (a multiple of dt), continuing from where the
        last run stopped.

        Args:
            duration: ms, >= 0.
            progress: show a tqdm progress bar: None (default) shows it only when the run is still
                going after 2 s; True always; False never.

        Raises:
            ParameterError: negative duration or one that is not a multiple of dt; with
                ``compiled=True``, a network the compiled kernel does not support.
        """
        if (
            isinstance(duration, bool)
            or not isinstance(duration, (int, float))
            or not (math.isfinite(duration) and duration >= 0)
        ):
            raise ParameterError(f"duration must be a finite number >= 0 ms, got {duration!r}")
        n_steps = int(round(duration / self.dt))
        if abs(n_steps * self.dt - duration) > 1e-6 * self.dt:
            raise ParameterError(f"duration must be a multiple of dt={self.dt} ms, got {duration!r}")
        sim = self._ensure_state()
        if n_steps == 0:
            return
        need_grad = torch.is_grad_enabled() and self._requires_grad()
        use_kernel, why = self._kernel_usable(need_grad)
        if self.compiled is True and not use_kernel:
            raise ParameterError(f"compiled=True but the compiled kernel cannot run this network: {why}")
        bar = None
        if progress is not False:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=n_steps, unit="step", delay=0.0 if progress else 2.0, desc="spikeforge", leave=False
            )
        t0 = time.perf_counter()
        try:
            if use_kernel:
                self._run_kernel(sim, n_steps, bar)
            else:
                self._run_torch(sim, n_steps, bar)
        finally:
            if bar is not None:
                bar.close()
        self.last_run_info = {
            "path": "compiled" if use_kernel else "torch",
            "steps": n_steps,
            "seconds": time.perf_counter() - t0,
            "why_not_compiled": why,
        }

    def _requires_grad(self) -> bool:
        if any(p.requires_grad for p in self.parameters()):
            return True
        if self._sim is not None:
            for st in self._sim.neurons.values():
                if any(isinstance(f, Tensor) and f.requires_grad for f in st):
                    return True
        return False

    def _kernel_usable(self, need_grad: bool) -> tuple[bool, str]:
        if self.compiled is False:
            return False, "compiled=False"
        if need_grad:
            return False, "gradients are needed (parameters or states require grad)"
        if self.device.type != "cpu":
            return False, f"the kernel runs on the CPU, the network is on {self.device}"
        if self.dtype not in (torch.float32, torch.float64):
            return False, f"dtype {self.dtype} (the kernel supports float32 and float64)"
        for pop in self._groups.values():
            if pop.kind != "neurons":
                continue
            m = pop.module
            if type(m) is not LIF:
                return False, f"population {pop.name!r} is a {type(m).__name__} (the kernel runs LIF)"
            if not _spike_forward_is_heaviside(m.surrogate):  # type: ignore[union-attr]
                return False, f"population {pop.name!r} has a custom spike function"
        for proj in self._projs():
            if proj.plastic:
                return False, f"projection {proj.name!r} is plastic (plasticity runs on the PyTorch path)"
            s = proj.synapse
            if isinstance(s, syn.DeltaSynapse) and s.target not in ("v", "i"):
                return False, f"projection {proj.name!r} jumps {s.target!r}"
        for drv in self._drives:
            if drv.field not in ("v", "i"):
                return False, f"Poisson input {drv.name!r} jumps {drv.field!r}"
        try:
            from . import _kernel  # noqa: F401
        except ImportError:
            return False, "numba is not installed (pip install numba)"
        return True, ""

    # ------------------------------------------------------------------ shared pieces
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

    def _inputs_chunk(
        self, sim: _Sim, s0: int, s1: int
    ) -> tuple[dict[str, Tensor], dict[str, tuple[Tensor, Tensor, Tensor]], list[tuple[str, Tensor]]]:
        groups = [g.group for g in self._input_groups() if isinstance(g.group, PoissonGroup)]
        poisson = sim.noise.spikes(s0, s1, groups, self._drives, self.dt, self.dtype)  # type: ignore[arg-type]
        sources = {
            g.name: g.group.events(s0, s1) for g in self._input_groups() if isinstance(g.group, SpikeSource)
        }
        t = torch.arange(s0, s1, dtype=torch.float64) * self.dt
        currents = [(c.target, c.values(t, self.dtype).to(self.device)) for c in self._currents]
        return poisson, sources, currents  # type: ignore[return-value]

    def _record_spike_chunk(self, source: str, steps: np.ndarray, b: np.ndarray, i: np.ndarray) -> None:
        for m in self._monitors:
            if isinstance(m, SpikeMonitor) and m.source == source:
                m._append(steps, b, i)

    # ------------------------------------------------------------------ PyTorch path
    def _stepper(self, pop: Population, grad: bool) -> Callable[[Tensor, Any], tuple[Tensor, Any]]:
        """The population's pure step function with its parameters bound. Without gradients the
        spike function is the plain Heaviside step (the surrogate's forward value, without the
        autograd overhead)."""
        m = pop.module
        if type(m) is LIF or (isinstance(m, LIF) and type(m).step is LIF.step):
            lp = self._params(pop)
            kw = m._settings()  # type: ignore[union-attr]
            if not grad and _spike_forward_is_heaviside(kw["spike_fn"]):
                kw["spike_fn"] = heaviside
            return lambda x, st: lif_step(x, st, lp, **kw)
        if isinstance(m, ALIF) and type(m).step is ALIF.step:
            ap = self._params(pop)
            akw = m._settings()
            if not grad and _spike_forward_is_heaviside(akw["spike_fn"]):
                akw["spike_fn"] = heaviside
            return lambda x, st: alif_step(x, st, ap, **akw)
        if isinstance(m, Izhikevich) and type(m).step is Izhikevich.step:
            ip = self._params(pop)
            ikw = dict(dt=m.dt, spike_fn=m.surrogate, integrator=m.integrator, detach_reset=m.detach_reset)
            return lambda x, st: izhikevich_step(x, st, ip, **ikw)  # type: ignore[arg-type]
        if isinstance(m, ProbabilisticNeuron) and type(m).step is ProbabilisticNeuron.step:
            return self._probabilistic_stepper(pop, m)
        if pop.batch_params:
            raise ParameterError(
                f"batch_params need a LIF, ALIF, Izhikevich or ProbabilisticNeuron population, "
                f"{pop.name!r} is {type(m).__name__}"
            )
        if isinstance(getattr(m, "generator", None), torch.Generator):
            raise ParameterError(
                f"population {pop.name!r}: {type(m).__name__} draws from its own generator, which the "
                f"network cannot save or split by copy; use a model the network supports"
            )
        assert m is not None
        return m.step

    def _probabilistic_stepper(
        self, pop: Population, m: ProbabilisticNeuron
    ) -> Callable[[Tensor, Any], tuple[Tensor, Any]]:
        """Stochastic neurons draw from the copy's neuron stream, copy by copy, so that copy ``b``
        equals an unbatched network with that copy's noise seed (the module's own generator is
        not used)."""
        assert self._sim is not None
        gens = self._sim.noise.neuron_gens
        params = self._params(pop)
        kw = dict(dt=m.dt, estimator=m.estimator, deterministic=m.is_deterministic, ste_variant=m.ste_variant)
        B = self._B

        def step(x: Tensor, st: Any) -> tuple[Tensor, Any]:
            zs, states = [], []
            for b in range(B):
                pb = params._replace(**{k: v[b : b + 1] for k, v in pop.batch_params.items()})
                sb = type(st)(*(f[b : b + 1] for f in st))
                z, sb = probabilistic_step(x[b : b + 1], sb, pb, generator=gens[b], **kw)  # type: ignore[arg-type]
                zs.append(z)
                states.append(sb)
            if B == 1:
                return zs[0], states[0]
            return torch.cat(zs), type(st)(*(torch.cat(f) for f in zip(*states)))

        return step

    def _run_torch(self, sim: _Sim, n_steps: int, bar: Any) -> None:
        B = self._B
        grad = torch.is_grad_enabled() and self._requires_grad()
        pops = self._neuron_pops()
        inputs = self._input_groups()
        steppers = {p.name: self._stepper(p, grad) for p in pops}
        coefs = self._coefficients()
        order = self._channel_order()
        projs = {k: self._proj(k) for k in order}
        weights = {k: p.weight for k, p in projs.items()}
        delay_groups = {
            k: _delay_groups(p, weights[k]) for k, p in projs.items() if p.shared_delay_steps() < 0
        }
        gains = {k: p.gain.reshape(B, 1) for k, p in projs.items() if p.gain is not None}
        plastic = [k for k in order if projs[k].plastic]
        group_idx = {k: _group_synapses(projs[k]) for k in plastic if k in delay_groups}
        by_post: dict[str, list[str]] = {p.name: [k for k in order if projs[k].post == p.name] for p in pops}
        state_mons = [(mi, sm) for mi, sm in enumerate(self._monitors) if isinstance(sm, StateMonitor)]
        spike_sources = {m.source for m in self._monitors if isinstance(m, (SpikeMonitor, RateMonitor))}
        end = sim.step + n_steps
        while sim.step < end:
            s0 = sim.step
            s1 = min(end, s0 + _CHUNK)
            C = s1 - s0
            poisson, sources, currents = self._inputs_chunk(sim, s0, s1)
            src_dense: dict[str, Tensor] = {}
            for grp in inputs:
                if grp.kind == "poisson":
                    src_dense[grp.name] = poisson[grp.name]
                else:
                    st, sb, si = sources[grp.name]
                    dense = torch.zeros(C, B, grp.n, dtype=torch.bool, device=self.device)
                    dense[(st - s0).to(self.device), sb.to(self.device), si.to(self.device)] = True
                    src_dense[grp.name] = dense
            rec: dict[str, Tensor] = {
                n: torch.zeros(C, B, self._groups[n].n, dtype=torch.bool, device=self.device)
                for n in spike_sources
                if self._groups[n].kind == "neurons"
            }
            samples: dict[int, list[tuple[int, np.ndarray]]] = {k: [] for k, _ in state_mons}
            neurons = dict(sim.neurons)
            syns = {k: list(v) for k, v in sim.syn.items()}
            rings = {k: list(sim.ring[k].unbind(1)) for k in order}
            pending = {k: (sim.ring[k].detach().abs().sum((0, 2)) > 0).tolist() for k in order}
            for s in range(s0, s1):
                ti = s - s0
                # 1. deliver
                for k in order:
                    slots = rings[k]
                    slot = s % len(slots)
                    if not pending[k][slot]:
                        continue
                    pending[k][slot] = False
                    acc = slots[slot]
                    if grad:
                        slots[slot] = torch.zeros_like(acc)
                    else:
                        acc = acc.clone()
                        slots[slot].zero_()
                    if k in gains:
                        acc = acc * gains[k]
                    proj = projs[k]
                    co = coefs[k]
                    if co.kind == syn.KIND_DELTA:
                        target = proj.synapse.target  # type: ignore[attr-defined]
                        st = neurons[proj.post]
                        f = getattr(st, target)
                        neurons[proj.post] = st._replace(**{target: f + acc.reshape(f.shape)})
                    elif co.kind in (syn.KIND_EXP, syn.KIND_EXP_COND):
                        syns[k][0] = syns[k][0] + acc
                    else:
                        syns[k][1] = syns[k][1] + co.jump * acc
                # 2. sample
                for mi, sm in state_mons:
                    if s % sm.every == 0:
                        samples[mi].append((s, self._sample(sm, neurons, syns)))
                # 3. input, 4. neurons
                spikes: dict[str, Tensor] = {}
                for pop in pops:
                    x = torch.zeros(B, pop.n, dtype=self.dtype, device=self.device)
                    for target, values in currents:
                        if target == pop.name:
                            x = x + values[ti if values.shape[0] > 1 else 0]
                    for k in by_post[pop.name]:
                        co = coefs[k]
                        if co.kind == syn.KIND_DELTA:
                            continue
                        g = syns[k][0]
                        if co.kind == syn.KIND_EXP:
                            x = x + co.c1 * g
                            syns[k][0] = g * co.decay
                        elif co.kind == syn.KIND_EXP_COND:
                            v_m = neurons[pop.name].v.reshape(B, pop.n)
                            x = x + g * (co.e_rev - v_m)
                            syns[k][0] = g * co.decay
                        else:
                            h = syns[k][1]
                            if co.kind == syn.KIND_ALPHA:
                                x = x + (co.c1 * g + co.c2 * h)
                            else:
                                v_m = neurons[pop.name].v.reshape(B, pop.n)
                                x = x + g * (co.e_rev - v_m)
                            syns[k][0] = co.decay * g + co.coupling * h
                            syns[k][1] = co.decay * h
                    z, neurons[pop.name] = steppers[pop.name](x.reshape(B, *pop.shape), neurons[pop.name])
                    zf = z.reshape(B, pop.n)
                    spikes[pop.name] = zf
                    if pop.name in rec:
                        rec[pop.name][ti] = zf.detach() > 0
                for g_ in inputs:
                    spikes[g_.name] = src_dense[g_.name][ti].to(self.dtype)
                # 5. schedule (the spiking neurons of each source found once per step)
                nz: dict[str, tuple[Tensor, Tensor] | None] = {}
                if not grad:
                    for name, z in spikes.items():
                        b_i, n_i = torch.nonzero(z, as_tuple=True)
                        nz[name] = (b_i, n_i) if b_i.numel() else None
                for k in order:
                    proj = projs[k]
                    z = spikes[proj.pre]
                    if not grad and nz[proj.pre] is None:
                        continue
                    if proj.shared_delay_steps() == 0:
                        self._direct(
                            proj,
                            coefs[k],
                            z,
                            weights[k],
                            gains.get(k),
                            neurons,
                            syns[k],
                            grad,
                            nz.get(proj.pre),
                        )
                    else:
                        self._schedule(
                            proj,
                            z,
                            weights[k],
                            rings[k],
                            sim.ring[k],
                            s,
                            grad,
                            delay_groups.get(k),
                            pending[k],
                            nz.get(proj.pre),
                        )
                # 5b. Poisson inputs (as delay-0 delta synapses, after the projections)
                for drv in self._drives:
                    st = neurons[drv.target]
                    f = getattr(st, drv.field)
                    neurons[drv.target] = st._replace(
                        **{drv.field: f + poisson[drv.name][ti].reshape(f.shape)}
                    )
                # 6. learn (after the spikes of this step went out with the old weights)
                for k in plastic:
                    proj = projs[k]
                    w_rule = weights[k] if proj.storage == "dense" else proj.to_dense()
                    with torch.no_grad():
                        dw, sim.plastic[k] = proj.plasticity.step(
                            spikes[proj.pre].detach(),
                            spikes[proj.post].detach(),
                            w_rule.detach(),
                            sim.plastic[k],
                            modulator=proj.modulator_at(s * self.dt),
                        )
                    proj.apply_plastic_update(dw, inplace=not grad)
                    weights[k] = proj.weight
                    if k in group_idx:
                        delay_groups[k] = [
                            (d, pre, post, _gather(proj, weights[k], idx))
                            for (d, pre, post, _), idx in zip(delay_groups[k], group_idx[k])
                        ]
            # 7. record (per chunk)
            steps_arr = np.arange(s0, s1)
            for name in spike_sources:
                dense = rec[name] if name in rec else src_dense[name]
                t_r, b_r, i_r = (a.cpu().numpy() for a in torch.nonzero(dense, as_tuple=True))
                self._record_spike_chunk(name, t_r + s0, b_r, i_r)
                counts = dense.sum(-1).cpu().numpy()
                for m in self._monitors:
                    if isinstance(m, RateMonitor) and m.source == name:
                        m._append(steps_arr, counts)
            for mi, sm in state_mons:
                if samples[mi]:
                    sm._append(np.array([s for s, _ in samples[mi]]), np.stack([v for _, v in samples[mi]]))
            sim.neurons = neurons
            sim.syn = syns
            if grad:
                for k in order:
                    sim.ring[k] = torch.stack(rings[k], 1)
            sim.step = s1
            if bar is not None:
                bar.update(C)

    def _sample(self, m: StateMonitor, neurons: dict[str, Any], syns: dict[str, list[Tensor]]) -> np.ndarray:
        B = self._B
        idx = torch.as_tensor(m.indices, device=self.device)
        if m.source in self.projections:
            proj = self._proj(m.source)
            t = syns[m.source][proj.synapse.state_names.index(m.var)]  # type: ignore[union-attr]
        else:
            t = getattr(neurons[m.source], m.var)
        return t.detach().reshape(B, -1)[:, idx].to(torch.float64).cpu().numpy()

    def _events(
        self, proj: Projection, z: Tensor, w: Tensor, nz: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The synapses of the neurons that spiked: ``(copy, synapse, post, weight)``, in the
        kernel's order (by copy, presynaptic neuron, then synapse)."""
        b_idx, pre_idx = nz if nz is not None else torch.nonzero(z, as_tuple=True)
        indptr = proj.indptr
        starts = indptr[pre_idx]
        counts = indptr[pre_idx + 1] - starts
        total = int(counts.sum()) if counts.numel() else 0
        offsets = torch.cumsum(counts, 0) - counts
        # the segment (spiking neuron) of each synapse, without repeat_interleave (slow on a busy
        # multi-threaded CPU): mark each segment start, then a running sum
        seg = torch.zeros(total + 1, dtype=torch.int64, device=z.device)
        seg.index_add_(0, offsets, torch.ones_like(offsets))
        seg = torch.cumsum(seg[:total], 0) - 1
        syn_idx = torch.arange(total, device=z.device) - offsets[seg] + starts[seg]
        bb = b_idx[seg]
        post = proj.post_idx[syn_idx].to(torch.int64)
        vals = w[syn_idx] if w.dim() else w.expand(total)
        return bb, syn_idx, post, vals

    def _direct(
        self,
        proj: Projection,
        co: syn.SynapseCoefficients,
        z: Tensor,
        w: Tensor,
        gain: Tensor | None,
        neurons: dict[str, Any],
        states: list[Tensor],
        grad: bool,
        nz: tuple[Tensor, Tensor] | None = None,
    ) -> None:
        """Phase 5 for a projection with all delays 0: add the weights straight into the target
        state (Brian2's ``on_pre``), which is read first in the next step, after its delivery."""
        B = self._B
        if co.kind == syn.KIND_DELTA:
            field = proj.synapse.target  # type: ignore[attr-defined]
            st = neurons[proj.post]
            target = getattr(st, field).reshape(B, proj.n_post)
        else:
            field = ""
            target = states[1 if co.kind in (syn.KIND_ALPHA, syn.KIND_ALPHA_COND) else 0]
        jump = co.jump
        if proj.storage == "dense" or grad:
            if proj.storage == "dense":
                contrib = z @ w.t()
            else:
                pre, post = proj.pre_indices.to(z.device), proj.post_indices.to(z.device)
                wv = w.expand(pre.numel()) if w.dim() == 0 else w
                contrib = torch.zeros_like(target).index_add(1, post, z[:, pre] * wv)
            scale = gain * jump if gain is not None else (jump if jump != 1.0 else None)
            new = target + (contrib * scale if scale is not None else contrib)
        else:
            bb, _, post, vals = self._events(proj, z, w, nz)
            if gain is not None:
                vals = (gain.reshape(-1) * jump)[bb] * vals
            elif jump != 1.0:
                vals = jump * vals
            new = target.index_put_((bb, post), vals, accumulate=True)
        if co.kind == syn.KIND_DELTA:
            neurons[proj.post] = st._replace(**{field: new.reshape(getattr(st, field).shape)})
        elif co.kind in (syn.KIND_ALPHA, syn.KIND_ALPHA_COND):
            states[1] = new
        else:
            states[0] = new

    def _schedule(
        self,
        proj: Projection,
        z: Tensor,
        w: Tensor,
        slots: list[Tensor],
        ring: Tensor,
        s: int,
        grad: bool,
        groups: list[tuple[int, Tensor, Tensor, Tensor]] | None,
        pending: list[bool],
        nz: tuple[Tensor, Tensor] | None = None,
    ) -> None:
        """Phase 5 for one projection: add ``w * z[pre]`` at each synapse's arrival slot."""
        L = len(slots)
        base = (s + 1) % L
        sd = proj.shared_delay_steps()
        if proj.storage == "dense" and groups is None:
            slot = (base + sd) % L
            contrib = z @ w.t() if w.dim() == 2 else z.sum(-1, keepdim=True) * w
            slots[slot] = slots[slot] + contrib if grad else slots[slot].add_(contrib)
            pending[slot] = True
            return
        if grad or proj.storage == "dense":
            # all synapses, grouped by delay (differentiable in z and w)
            if groups is None:
                pre, post = proj.pre_indices.to(z.device), proj.post_indices.to(z.device)
                wv = w.expand(pre.numel()) if w.dim() == 0 else w
                groups = [(sd, pre, post, wv)]
            for d, pre, post, wv in groups:
                slot = (base + d) % L
                contrib = torch.zeros_like(slots[slot]).index_add(1, post, z[:, pre] * wv)
                slots[slot] = slots[slot] + contrib if grad else slots[slot].add_(contrib)
                pending[slot] = True
            return
        # event-driven: only the rows of neurons that spiked
        bb, syn_idx, post, vals = self._events(proj, z, w, nz)
        if vals.numel() == 0:
            return
        if sd >= 0:
            slot = (base + sd) % L
            slots[slot].index_put_((bb, post), vals, accumulate=True)
            pending[slot] = True
        else:
            sl = (base + proj.delay_steps[syn_idx].to(torch.int64)) % L
            ring.index_put_((bb, sl, post), vals, accumulate=True)
            for k in torch.unique(sl).tolist():
                pending[k] = True

    # ------------------------------------------------------------------ compiled path
    def _pack(self, sim: _Sim) -> _Packed:
        """Flat buffers for the kernel, with the simulation state moved into them (the state
        tensors become views of the buffers). Reused while the state tensors stay those views."""
        packed = self._packed
        if packed is not None and packed.valid(sim):
            return packed
        B, dtype = self._B, self.dtype
        pops = self._neuron_pops()
        order = self._channel_order()
        N = sum(p.n for p in pops)
        projs = [self._proj(k) for k in order]
        NG = sum(p.n_post for p in projs)
        NH = sum(p.n_post for p in projs if len(p.synapse.state_names) > 1)
        NR = sum(p.n_post * (p.max_delay_steps + 1) for p in projs)
        packed = _Packed(
            V=torch.zeros(B, max(N, 1), dtype=dtype),
            I=torch.zeros(B, max(N, 1), dtype=dtype),
            REF=torch.zeros(B, max(N, 1), dtype=torch.int32),
            GS=torch.zeros(B, max(NG, 1), dtype=dtype),
            HS=torch.zeros(B, max(NH, 1), dtype=dtype),
            R=torch.zeros(B, max(NR, 1), dtype=dtype),
        )
        with torch.no_grad():
            off = 0
            for pop in pops:
                st = sim.neurons[pop.name]
                views = []
                for buf, f in ((packed.V, st.v), (packed.I, st.i), (packed.REF, st.ref)):
                    view = buf[:, off : off + pop.n].view(B, *pop.shape)
                    view.copy_(f.detach())
                    views.append(view)
                sim.neurons[pop.name] = type(st)(*views)
                packed.pop_off[pop.name] = off
                off += pop.n
            goff = hoff = roff = 0
            for proj in projs:
                n, L = proj.n_post, proj.max_delay_steps + 1
                old = sim.syn[proj.name]
                views = [packed.GS[:, goff : goff + n]]
                packed.ch_off[proj.name] = [goff, -1, roff]
                goff += n
                if len(old) > 1:
                    views.append(packed.HS[:, hoff : hoff + n])
                    packed.ch_off[proj.name][1] = hoff
                    hoff += n
                for v, o in zip(views, old):
                    v.copy_(o.detach())
                sim.syn[proj.name] = views
                ring = packed.R[:, roff : roff + L * n].view(B, L, n)
                ring.copy_(sim.ring[proj.name].detach())
                sim.ring[proj.name] = ring
                roff += L * n
        packed.remember(sim)
        self._packed = packed
        return packed

    def _csr(self, order: list[str], npdt: Any) -> tuple[np.ndarray, ...]:
        """All projections' CSR in one set of arrays (cached while weights and delays are unchanged)."""
        projs = [self._proj(k) for k in order]
        key = tuple(
            (
                id(p),
                p.weight.data_ptr(),
                p.weight._version,
                p.delay_steps.data_ptr(),
                p.delay_steps._version,
                np.dtype(npdt).str,
            )
            for p in projs
        )
        if self._csr_cache is not None and self._csr_cache[0] == key:
            return self._csr_cache[1]  # type: ignore[no-any-return]
        ips, posts, ws, ds = [], [], [], []
        ip_off, has_w, nsyn = [], [], 0
        rows = 0
        for p in projs:
            ip, po, wv, dv = p.csr_arrays(np.dtype(npdt))
            ip_off.append(rows)
            rows += ip.size
            ips.append(ip + nsyn)
            posts.append(po)
            has_w.append(wv.size > 0)
            ws.append(wv if wv.size else np.zeros(po.size, npdt))
            ds.append(dv if dv.size else np.zeros(po.size, np.int16))
            nsyn += po.size
        any_w = any(has_w)
        any_d = any(p.shared_delay_steps() < 0 for p in projs)
        out = (
            np.concatenate(ips) if ips else np.zeros(1, np.int64),
            np.concatenate(posts) if posts else np.zeros(1, np.int32),
            np.concatenate(ws).astype(npdt, copy=False) if any_w else np.zeros(1, npdt),
            np.concatenate(ds).astype(np.int16, copy=False) if any_d else np.zeros(1, np.int16),
            np.array(ip_off, np.int64),
        )
        self._csr_cache = (key, out)
        return out

    def _run_kernel(self, sim: _Sim, n_steps: int, bar: Any) -> None:
        from . import _kernel

        B = self._B
        npdt = np.float32 if self.dtype == torch.float32 else np.float64
        pops = self._neuron_pops()
        inputs = self._input_groups()
        P, G = len(pops), len(inputs)
        pop_index = {p.name: k for k, p in enumerate(pops)}
        src_index = {p.name: k for k, p in enumerate(pops + inputs)}
        S = P + G
        order = self._channel_order()
        C = len(order)
        with torch.no_grad():
            packed = self._pack(sim)
            # populations and parameters
            pop_meta = np.zeros((P, 6), np.int64)
            prm_parts: list[np.ndarray] = []
            prm_meta = np.zeros((7 * max(P, 1), 2), np.int64)
            prm_off = 0
            for k, pop in enumerate(pops):
                m = pop.module
                assert isinstance(m, LIF)
                lp: LIFParams = self._params(pop)
                kk, alpha = lif_coefficients(lp, self.dt, m.integrator)
                n_ref = refractory_steps(lp.t_ref, self.dt)
                pvalues = [
                    kk,
                    alpha if alpha is not None else torch.zeros(()),
                    lp.v_leak,
                    lp.r,
                    lp.v_th,
                    lp.v_reset,
                    n_ref,
                ]
                arrays = [
                    _as_bn(t.detach().to(self.dtype), B, pop.shape).cpu().numpy().astype(npdt)
                    for t in pvalues
                ]
                shared = all(a.shape[1] == 1 for a in arrays)
                for q, a in enumerate(arrays):
                    if not shared:
                        a = np.ascontiguousarray(np.broadcast_to(a, (a.shape[0], pop.n)))
                    prm_meta[7 * k + q] = (prm_off, a.shape[1] if a.shape[0] > 1 else 0)
                    prm_parts.append(a.reshape(-1))
                    prm_off += a.size
                pop_meta[k] = (
                    pop.n,
                    packed.pop_off[pop.name],
                    int(alpha is not None),
                    int(m.reset == "subtract"),
                    int(bool((n_ref > 0).any())),
                    int(shared),
                )
            prm = np.concatenate(prm_parts) if prm_parts else np.zeros(1, npdt)
            # channels
            coefs = self._coefficients()
            ch_meta = np.zeros((C, 14), np.int64)
            ch_val = np.zeros((C, 5), npdt)
            ch_gain = np.ones((C, B), npdt)
            coef_parts: list[np.ndarray] = []
            coef_meta = np.zeros((2 * max(C, 1), 3), np.int64)
            coef_off = 0
            indptr, post, wl, dl, ip_off = self._csr(order, npdt)
            for c, name in enumerate(order):
                proj = self._proj(name)
                co = coefs[name]
                goff, hoff, roff = packed.ch_off[name]
                target = getattr(proj.synapse, "target", "v")
                has_w = proj.weight.dim() > 0
                ch_meta[c] = (
                    pop_index[proj.post],
                    co.kind,
                    proj.max_delay_steps + 1,
                    src_index[proj.pre],
                    0 if target == "v" else 1,
                    proj.shared_delay_steps(),
                    int(has_w),
                    0,
                    goff,
                    hoff,
                    roff,
                    ip_off[c],
                    proj.n_post,
                    int(proj.shared_delay_steps() == 0),
                )
                ch_val[c] = (co.decay, co.coupling, co.jump, co.e_rev, 0.0 if has_w else proj.shared_weight())
                if proj.gain is not None:
                    ch_gain[c] = proj.gain.cpu().numpy()
                for q, t in enumerate((co.c1, co.c2)):
                    a = t.cpu().numpy().astype(npdt)
                    coef_meta[2 * c + q] = (
                        coef_off,
                        a.shape[1] if a.shape[0] > 1 else 0,
                        1 if a.shape[1] > 1 else 0,
                    )
                    coef_parts.append(a.reshape(-1))
                    coef_off += a.size
            coef = np.concatenate(coef_parts) if coef_parts else np.zeros(1, npdt)
            V, I, REF = packed.V.numpy(), packed.I.numpy(), packed.REF.numpy()
            GS, HS, R = packed.GS.numpy(), packed.HS.numpy(), packed.R.numpy()
            spk = np.zeros((B, V.shape[1]), np.int32)
            spk_n = np.zeros((B, max(P, 1)), np.int64)
            xb = np.zeros(_kernel._BLOCK, npdt)
            zb = np.zeros(_kernel._BLOCK, np.bool_)
            # monitors
            mon_src = np.zeros(max(S, 1), np.uint8)
            for m_ in self._monitors:
                if isinstance(m_, SpikeMonitor):
                    mon_src[src_index[m_.source]] = 1
            sizes = [p.n for p in pops + inputs]
            mon_total = int(sum(sizes[k] for k in range(S) if mon_src[k]))
            cap = max(4 * mon_total, 1 << 16)
            state_mons = [m_ for m_ in self._monitors if isinstance(m_, StateMonitor)]
            cols = []
            for mi, sm in enumerate(state_mons):
                if sm.source in self.projections:
                    goff, hoff, _ = packed.ch_off[sm.source]
                    kind, base = (3, goff) if sm.var == "g" else (4, hoff)
                else:
                    kind = {"v": 0, "i": 1, "ref": 2}[sm.var]
                    base = packed.pop_off[sm.source]
                for col, j in enumerate(sm.indices):
                    cols.append((mi, kind, base + int(j), col))
            sm_cols = np.array(cols, np.int64).reshape(-1, 4)
            rate_sources = {m_.source for m_ in self._monitors if isinstance(m_, RateMonitor)}
            end = sim.step + n_steps
            out_step = np.zeros((B, cap), np.int64)
            out_src = np.zeros((B, cap), np.int32)
            out_idx = np.zeros((B, cap), np.int32)
            while sim.step < end:
                s0 = sim.step
                s1 = min(end, s0 + _CHUNK)
                n_chunk = s1 - s0
                poisson, sources, currents = self._inputs_chunk(sim, s0, s1)
                ext_ptr, ext_id = _external_events(inputs, poisson, sources, s0, n_chunk, B)
                cur_meta = np.zeros((len(currents), 5), np.int64)
                cur_parts = []
                off = 0
                for q, (target, values) in enumerate(currents):
                    vals = values.cpu().to(self.dtype)
                    cs, bs, ns = vals.shape
                    cur_meta[q] = (
                        pop_index[target],
                        off,
                        bs * ns if cs > 1 else 0,
                        ns if bs > 1 else 0,
                        1 if ns > 1 else 0,
                    )
                    cur_parts.append(vals.reshape(-1).numpy().astype(npdt))
                    off += vals.numel()
                cur_data = np.concatenate(cur_parts) if cur_parts else np.zeros(1, npdt)
                pin_meta = np.zeros((len(self._drives), 4), np.int64)
                pin_parts = []
                off = 0
                for q, drv in enumerate(self._drives):
                    pin_meta[q] = (pop_index[drv.target], 0 if drv.field == "v" else 1, off, drv.n_target)
                    pin_parts.append(poisson[drv.name].cpu().reshape(-1).numpy().astype(npdt, copy=False))
                    off += pin_parts[-1].size
                pin_data = np.concatenate(pin_parts) if pin_parts else np.zeros(1, npdt)
                sm_meta = np.zeros((len(state_mons), 4), np.int64)
                off = 0
                for mi, sm in enumerate(state_mons):
                    first = -(-s0 // sm.every) * sm.every
                    rows = len(range(first, s1, sm.every))
                    sm_meta[mi] = (sm.every, len(sm.indices), off, 0)
                    off += rows * B * len(sm.indices)
                out_state = np.zeros(max(off, 1), np.float64)
                out_counts = np.zeros((n_chunk, B, max(S, 1)), np.int32)
                done = 0
                recorded: list[tuple[np.ndarray, ...]] = []
                while done < n_chunk:
                    out_n = np.zeros(B, np.int64)
                    k = _kernel.run_steps(
                        s0 + done,
                        n_chunk - done,
                        done,
                        B,
                        pop_meta,
                        V,
                        I,
                        REF,
                        prm,
                        prm_meta,
                        ch_meta,
                        ch_val,
                        ch_gain,
                        coef,
                        coef_meta,
                        GS,
                        HS,
                        R,
                        indptr,
                        post,
                        wl,
                        dl,
                        G,
                        ext_ptr,
                        ext_id,
                        cur_meta,
                        cur_data,
                        pin_meta,
                        pin_data,
                        mon_src,
                        mon_total,
                        out_step,
                        out_src,
                        out_idx,
                        out_n,
                        out_counts,
                        sm_meta,
                        sm_cols,
                        out_state,
                        spk,
                        spk_n,
                        xb,
                        zb,
                    )
                    for b in range(B):
                        cnt = int(out_n[b])
                        if cnt:
                            recorded.append(
                                (
                                    out_step[b, :cnt].copy(),
                                    np.full(cnt, b, np.int64),
                                    out_src[b, :cnt].copy(),
                                    out_idx[b, :cnt].copy(),
                                )
                            )
                    done += k
                    if k == 0:
                        cap *= 2
                        out_step = np.zeros((B, cap), np.int64)
                        out_src = np.zeros((B, cap), np.int32)
                        out_idx = np.zeros((B, cap), np.int32)
                    sim.step = s0 + done
                    if bar is not None:
                        bar.update(k)
                if recorded:
                    st_, b_, sr_, ix_ = (np.concatenate(a) for a in zip(*recorded))
                    order_ = np.lexsort((ix_, b_, st_))
                    st_, b_, sr_, ix_ = st_[order_], b_[order_], sr_[order_], ix_[order_]
                    for m_ in self._monitors:
                        if isinstance(m_, SpikeMonitor):
                            sel = sr_ == src_index[m_.source]
                            if sel.any():
                                m_._append(st_[sel], b_[sel], ix_[sel])
                for name in rate_sources:
                    counts = out_counts[:, :, src_index[name]].astype(np.int64)
                    for m_ in self._monitors:
                        if isinstance(m_, RateMonitor) and m_.source == name:
                            m_._append(np.arange(s0, s1), counts)
                for mi, sm in enumerate(state_mons):
                    rows = int(sm_meta[mi, 3])
                    if rows:
                        first = -(-s0 // sm.every) * sm.every
                        block = out_state[sm_meta[mi, 2] : sm_meta[mi, 2] + rows * B * len(sm.indices)]
                        sm._append(
                            np.arange(first, first + rows * sm.every, sm.every),
                            block.reshape(rows, B, len(sm.indices)).copy(),
                        )


class _Packed:
    """The kernel's flat buffers; the simulation state tensors are views of them."""

    def __init__(self, **buffers: Tensor) -> None:
        self.V, self.I, self.REF = buffers["V"], buffers["I"], buffers["REF"]
        self.GS, self.HS, self.R = buffers["GS"], buffers["HS"], buffers["R"]
        self.pop_off: dict[str, int] = {}
        self.ch_off: dict[str, list[int]] = {}
        self._views: list[Tensor] = []

    def _current(self, sim: _Sim) -> list[Tensor]:
        out: list[Tensor] = []
        for name in self.pop_off:
            out.extend(sim.neurons[name])
        for name in self.ch_off:
            out.extend(sim.syn[name])
            out.append(sim.ring[name])
        return out

    def remember(self, sim: _Sim) -> None:
        self._views = self._current(sim)

    def valid(self, sim: _Sim) -> bool:
        cur = self._current(sim)
        return len(cur) == len(self._views) and all(a is b for a, b in zip(cur, self._views))


# ---------------------------------------------------------------------------------------------
# helpers


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


def _group_synapses(proj: Projection) -> list[Tensor]:
    """For each group of :func:`_delay_groups` (same order), the indices that read its weights
    from the current weight tensor: flat ``post * n_pre + pre`` (dense) or synapse indices."""
    d = proj.delays()
    steps = torch.round(d / proj.dt).to(torch.int64)
    out = []
    for k in torch.unique(steps).tolist():
        idx = torch.nonzero(steps == k).reshape(-1)
        if proj.storage == "dense":
            idx = proj.post_indices[idx] * proj.n_pre + proj.pre_indices[idx]
        out.append(idx.to(proj.delay_steps.device))
    return out


def _gather(proj: Projection, w: Tensor, idx: Tensor) -> Tensor:
    return w.reshape(-1)[idx.to(w.device)]


def _map_tensors(st: Any, fn: Callable[[Tensor], Tensor]) -> Any:
    """Apply ``fn`` to every tensor of a (nested) NamedTuple, tuple, list or dict state."""
    if isinstance(st, Tensor):
        return fn(st)
    if isinstance(st, tuple) and hasattr(st, "_fields"):
        return type(st)(*(_map_tensors(v, fn) for v in st))
    if isinstance(st, (tuple, list)):
        return type(st)(_map_tensors(v, fn) for v in st)
    if isinstance(st, dict):
        return {k: _map_tensors(v, fn) for k, v in st.items()}
    return st


def _leaves(st: Any) -> list[Tensor]:
    """The tensors of a (nested) rule state, depth first (the order :func:`_rebuild` reads)."""
    out: list[Tensor] = []
    _map_tensors(st, lambda t: out.append(t) or t)  # type: ignore[func-returns-value]
    return out


def _rebuild(template: Any, leaves: Any, name: str) -> Any:
    """A rule state shaped as ``template`` with its tensors taken from ``leaves`` in order."""

    def take(t: Tensor) -> Tensor:
        try:
            v = next(leaves)
        except StopIteration:
            raise ParameterError(f"the saved plasticity state of {name!r} does not match its rule") from None
        if tuple(v.shape) != tuple(t.shape):
            raise ParameterError(
                f"the saved plasticity state of {name!r} has a tensor {list(v.shape)} where its rule "
                f"has {list(t.shape)}"
            )
        return v.to(t.dtype)

    return _map_tensors(template, take)


def _delay_groups(proj: Projection, w: Tensor) -> list[tuple[int, Tensor, Tensor, Tensor]]:
    """Synapses grouped by delay: ``(steps, pre, post, weight)`` per distinct delay."""
    pre, post = proj.pre_indices, proj.post_indices
    d = proj.delays()
    steps = torch.round(d / proj.dt).to(torch.int64)
    wv = proj.weights() if w.dim() else w.expand(pre.numel())
    out = []
    for k in torch.unique(steps).tolist():
        sel = (steps == k).to(pre.device)
        out.append((int(k), pre[sel].to(w.device), post[sel].to(w.device), wv[sel.to(wv.device)]))
    return out


def _external_events(
    inputs: list[Population],
    poisson: dict[str, Tensor],
    sources: dict[str, tuple[Tensor, Tensor, Tensor]],
    s0: int,
    C: int,
    B: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Input-group spikes of a chunk as a CSR over (step, copy, group): ``ext_ptr``, ``ext_id``."""
    G = len(inputs)
    if G == 0:
        return np.zeros(max(C * B, 1) + 1, np.int64), np.zeros(1, np.int32)
    keys, ids = [], []
    for g, pop in enumerate(inputs):
        if pop.kind == "poisson":
            t_i, b_i, i_i = torch.nonzero(poisson[pop.name].cpu(), as_tuple=True)
        else:
            st, b_i, i_i = sources[pop.name]
            t_i = st - s0
        keys.append((t_i * B + b_i) * G + g)
        ids.append(i_i)
    key = torch.cat(keys)
    idx = torch.cat(ids)
    order = torch.argsort(key, stable=True)
    counts = torch.bincount(key, minlength=C * B * G)
    ptr = np.zeros(C * B * G + 1, np.int64)
    ptr[1:] = torch.cumsum(counts, 0).numpy()
    return ptr, idx[order].to(torch.int32).numpy() if idx.numel() else np.zeros(1, np.int32)
