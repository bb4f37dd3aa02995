r"""Clock-driven simulation of networks of populations, inputs and projections.

A :class:`Network` holds neuron populations (any module of :mod:`spikeforge.neurons`), input
groups (:mod:`spikeforge.circuits.inputs`), projections (:mod:`spikeforge.circuits.projection`,
kinetics from :mod:`spikeforge.circuits.synapses`) and monitors
(:mod:`spikeforge.circuits.monitors`), and advances them with a fixed step ``dt`` (ms). Step
``k`` goes from :math:`t_k = k\,\Delta t` to :math:`t_{k+1}`; time is the integer step count,
never an accumulated float.

**Order of operations.** The seven phases of a step (deliver, sample, input, neurons, schedule,
learn, record), how they follow Brian2's schedule, and what becomes of a jump of ``v`` on a held
neuron are written once, in :mod:`spikeforge.circuits.schedule`: the contract every engine meets.

**Randomness.** ``seed`` seeds the structure generator (:attr:`Network.generator`: connection
rules, weight and delay distributions). Each batch copy has its own noise seed ``noise_seed[b]``
(by default derived from ``seed`` and ``b``). The Poisson groups, the Poisson inputs and
Gaussian currents (:class:`~spikeforge.circuits.builders.GaussianCurrent`) draw counter-based
random numbers (Philox4x32-10, :mod:`spikeforge.circuits._philox`), and so do stochastic neurons
(``ProbabilisticNeuron``, a release and a spike stream per population): each draw is a pure
function of the copy's seed, the stream, the step and the neuron, computed alike by the PyTorch
engine and inside the compiled kernel, so both engines give the same spikes, and their only
state is the step count. A generator seeded with ``noise_seed[b]`` draws the copy's
initial-state distributions. So a run split anywhere equals one run bitwise, copy ``b``
of a batched network equals an unbatched one built with the same ``seed`` and
``noise_seed=noise_seed[b]``, the generator states are in ``state_dict()``, and the global RNG is
never used.

**Execution paths.** Without gradients on the CPU, networks of LIF, ALIF, Izhikevich, IF and
ProbabilisticNeuron populations run in a compiled kernel (:mod:`spikeforge.circuits._kernel`,
numba): many steps per call, event-driven propagation, no allocation per step. Everything else
(other neuron models such as ``LI`` or a module of one's own, CUDA, gradients, numba absent) runs the
PyTorch path, step by step; ``last_run_info["why_not_compiled"]`` names the reason. Both give
the same spikes (up to floating-point summation order); ``compiled=False`` forces the PyTorch
path, ``compiled=True`` requires the kernel.
Plastic projections learn in the kernel too (:mod:`spikeforge.circuits._kernel_plastic`) when their
rule is ``STDP``, ``TripletSTDP``, ``RewardModulatedSTDP``, ``EligibilityTrace`` (around STDP or
TripletSTDP), ``ThreeFactor`` (without ``post_fn``) or ``SynapticScaling``, with scalar parameters
and a modulator that is not a callable; any other rule runs the PyTorch path, and
``last_run_info["why_not_compiled"]`` says which.

**Plasticity.** ``connect(pre, post, weight=..., plasticity=rule)`` makes a projection learn during
:meth:`Network.run` with any :class:`~spikeforge.plasticity.PlasticityRule` (``STDP``,
``TripletSTDP``, ``RewardModulatedSTDP``, ``ThreeFactor``, ``SynapticScaling``, ...; the rule's
``dt`` must be the network's). The weights are shared by the batch copies; the rule's
``batch_reduce`` (``"mean"`` or ``"sum"``, not ``"none"``) combines the copies' changes. The
plastic weights are the projection's ``w`` buffer and the rule state (traces, tags) is part of the
simulation state, so ``state_dict``/``load_state_dict`` keep both and a run split in two equals
one run. With sparse storage, a rule that takes ``synapses=`` (``STDP``, ``TripletSTDP``: traces per
neuron) works at the synapses, and as these rules are event-driven (no change without a pre- or
postsynaptic spike), only at those of the neurons that spiked in the step, as Brian2 does (the
first step of a run takes every synapse). STDP on 2000 neurons at p = 0.02: 0.55 ms per step
against 17.4 ms through the dense layout; 10,000 neurons (2 million synapses, 100 Hz): 3.7 ms.
``RewardModulatedSTDP`` keeps its tags per synapse there (every synapse, every step). Other
rules see the dense ``[n_post, n_pre]`` matrix (multapses summed) and change it at the synapses.
The third factor of modulated rules comes from ``connect(..., modulator=...)`` (a number,
a tensor, or a callable ``t_ms -> value`` evaluated once per step) or from
:meth:`Network.set_modulator` (a value used from the next step on, saved in ``state_dict``).

**Code layout.** Imports run one way. :class:`Network` (this module: building, monitors, ``run``)
is the description, with parts in ``_populations`` (population handles, checks, lookups),
:mod:`~spikeforge.circuits.state` (the simulation state: tensors, noise generators, ``state_dict``)
and ``_plastic`` (plasticity attachment). The engines of :mod:`spikeforge.circuits.engines`
(``torch``: the PyTorch path; ``compiled``: packing for and calling the numba kernels of ``_kernel``,
``_kernel_models`` and ``_kernel_plastic``), behind one interface
(:class:`~spikeforge.circuits.engines.base.Engine`), import the description's parts and the
state, never this module; :meth:`Network.run` asks
:func:`~spikeforge.circuits.engines.choose.choose_engine` which engine runs the network.
``_events`` selects the synapses of the neurons that spiked, for propagation and plasticity.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from .._checks import as_shape, check_dt, check_state_dict
from ..errors import ParameterError, ShapeError
from ..neurons.base import NeuronModule
from . import synapses as syn
from ._plastic import _PlasticMixin
from ._populations import PopRef, Population, Sign, _bad_n
from .inputs import CurrentInput, PoissonGroup, PoissonInput, SpikeSource, as_indices
from .monitors import RateMonitor, SpikeMonitor, StateMonitor
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
    resolve_values,
)
from .state import _derived_seed

if TYPE_CHECKING:
    from .engines.base import Engine

__all__ = ["Network", "Population"]


MAX_RUN_STEPS = 2**31 - 1  # one run's steps: beyond it a typo (run(1e300)) would run for ever
#: the most threads ``Network.run(..., threads=n)`` takes (each part holds its own scratch rows)
MAX_THREADS = 256


def _check_representable(name: str, t: torch.Tensor, dtype: torch.dtype) -> None:
    """``t`` is finite and fits ``dtype`` (a float64 weight of 1e39 would become inf in float32)."""
    if not t.numel():
        return
    if not bool(torch.isfinite(t).all()):
        raise ParameterError(f"{name} must be finite, got a non-finite value ({float(t.abs().max())!r})")
    top = float(t.abs().max())
    if top > torch.finfo(dtype).max:
        raise ParameterError(
            f"{name} must fit the network's dtype {dtype} (|{name}| <= {torch.finfo(dtype).max:.4g}), "
            f"got {top!r}"
        )


class Network(_PlasticMixin):
    r"""A network of neuron populations, input groups and projections, simulated with a fixed step.

    See :mod:`spikeforge.circuits.schedule` for the order of operations and the module docstring
    for the randomness.

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
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63
        ):
            raise ParameterError(f"seed must be an int in [0, 2**63) or None, got {seed!r}")
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
        self.noise_seeds = [int(s) for s in seeds]
        self.neurons = nn.ModuleDict()
        self.projections = nn.ModuleDict()
        self._groups = {}
        self._syn_init = {}
        self._currents = []
        self._drives = []
        self._monitors = []
        self._monitor_start = []
        self._sim = None
        self._engines = {}
        self.last_run_info = {}

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
        noise generators). The rate of each train is checked as a Poisson group's is (``rate * dt
        <= 1``, so ``rate=12`` meant as Hz is caught), but the drawn count is not limited to ``n``.
        It runs on both execution paths.

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
            ParameterError: an unknown population, ``n`` not a positive int, a negative rate or
                one above ``1/dt`` per train (as :meth:`add_poisson`), a non-finite weight, a synapse
                other than a ``DeltaSynapse`` or one whose target is not a state field of the
                population.

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
        _check_representable("weight", w, self.dtype)
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
        idx = np.arange(n) if indices is None else as_indices("indices", indices).numpy()
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ParameterError(f"indices must be in [0, {n}), got range [{idx.min()}, {idx.max()}]")
        every = 1
        if interval is not None:
            if (
                isinstance(interval, bool)
                or not isinstance(interval, (int, float))
                or not (math.isfinite(interval) and 0 < interval / self.dt < 2**62)
            ):
                raise ParameterError(
                    f"interval must be a positive multiple of dt={self.dt} ms, got {interval!r}"
                )
            every = int(round(float(interval) / self.dt))
            if every < 1 or abs(every * self.dt - float(interval)) > 1e-9 * max(1.0, float(interval)):
                raise ParameterError(
                    f"interval must be a positive multiple of dt={self.dt} ms, got {interval!r}"
                )
        mon = StateMonitor(pname, var, idx, every, self.dt, self.batch)
        self._monitors.append(mon)
        return mon

    def run(
        self,
        duration: float,
        *,
        progress: bool | None = None,
        threads: int = 1,
        engine: Engine | None = None,
    ) -> None:
        """Advance the network by ``duration`` ms (a multiple of dt), continuing from where the
        last run stopped.

        Args:
            duration: ms, >= 0.
            progress: show a tqdm progress bar: None (default) shows it only when the run is still
                going after 2 s; True always; False never.
            threads: CPU threads of the compiled engine, 1 to 256 (default 1: no
                thread pool is started). More splits every population and the targets of every
                projection into ``threads`` contiguous parts, run by numba's threads (at most
                ``numba.config.NUMBA_NUM_THREADS`` at once, the number of cores by default); every
                count gives the same spikes and states, bit for bit. It pays off on large
                networks and idle cores (CUBA at 64,000 neurons: see ``benchmarks/circuits.py``);
                install TBB (``pip install 'spikeforge[threads]'``) for cheap parallel regions
                (see :mod:`spikeforge.circuits._kernel_threads`, which also says why numba's
                OpenMP layer is avoided beside NEST). ``last_run_info["threads"]`` reports it;
                the PyTorch engine ignores it (None there: ``torch.set_num_threads`` sets its
                threads).
            engine: an engine object that must run this network (for example
                ``TritonEngine(interpret=True)`` of :mod:`spikeforge.circuits.engines.gpu`, which
                runs the GPU kernels on the CPU in Triton's interpreter); None (default) lets
                :func:`~spikeforge.circuits.engines.choose.choose_engine` choose.

        Raises:
            ParameterError: negative duration or one that is not a multiple of dt; ``threads`` not
                an int from 1 to 256; with ``compiled=True``, a network the
                compiled kernel does not support; an ``engine`` that cannot run it.

        Example:
            >>> import spikeforge as sf
            >>> net = sf.circuits.Network(dt=0.1, seed=0)
            >>> _ = net.add_population("x", sf.neurons.LIF(1000, dt=0.1))
            >>> _ = net.add_poisson_input("in", "x", n=100, rate=300 * sf.units.Hz, weight=0.1)
            >>> _ = net.connect("x", "x", p=0.02, weight=0.05)
            >>> rec = net.record_spikes("x")
            >>> net.run(20.0, progress=False, threads=2)  # the same spikes as on one thread
            >>> net.last_run_info["threads"], rec.num_spikes > 0
            (2, True)
        """
        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
            raise ParameterError(f"threads must be an int from 1 to {MAX_THREADS}, got {threads!r}")
        if (
            isinstance(duration, bool)
            or not isinstance(duration, (int, float))
            or not (math.isfinite(duration) and duration >= 0)
        ):
            raise ParameterError(f"duration must be a finite number >= 0 ms, got {duration!r}")
        if duration / self.dt > MAX_RUN_STEPS:
            raise ParameterError(
                f"duration={duration!r} ms is {duration / self.dt:.3g} steps of dt={self.dt} ms; one run "
                f"takes at most {MAX_RUN_STEPS} steps ({MAX_RUN_STEPS * self.dt:g} ms): split it into "
                f"several runs"
            )
        n_steps = int(round(duration / self.dt))
        if abs(n_steps * self.dt - duration) > 1e-6 * self.dt:
            raise ParameterError(f"duration must be a multiple of dt={self.dt} ms, got {duration!r}")
        sim = self._ensure_state()
        if n_steps == 0:
            return
        from .engines.choose import choose_engine

        engine, why = choose_engine(self, self._engines, engine)
        bar = None
        if progress is not False:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=n_steps, unit="step", delay=0.0 if progress else 2.0, desc="spikeforge", leave=False
            )
        t0 = time.perf_counter()
        try:
            engine.prepare(self, sim, threads=threads)
            engine.advance(n_steps, None if bar is None else bar.update)
        finally:
            if bar is not None:
                bar.close()
        self.last_run_info = {
            "path": engine.name,
            "steps": n_steps,
            "seconds": time.perf_counter() - t0,
            "why_not_compiled": why,
            "threads": engine.threads_used,
        }

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        """Load a :meth:`state_dict` (weights, parameters, the simulation state mid-run, monitors).

        Everything is checked before anything is loaded: the keys (with ``strict``), every
        tensor's shape and dtype kind, and the simulation state's shapes (a state saved from a
        network of other sizes or batch is refused, naming the part), so a bad state leaves the
        network as it was.

        Raises:
            ParameterError: missing or unexpected keys, non-finite values, another version.
            ShapeError: a tensor whose shape differs from this network's.
            DTypeError: a tensor of another kind (integer where float, or the reverse).
        """
        check_state_dict(self, state_dict, "Network.load_state_dict", strict=strict)
        if "_extra_state" in state_dict:
            self._check_extra_state(state_dict["_extra_state"])
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def to_pynn(self, sim: Any, *, setup: bool = True, **setup_kwargs: Any) -> Any:
        """Build this network in a PyNN backend (``pyNN.nest``, ``pyNN.spiNNaker``, ...), after
        ``sim.setup(timestep=self.dt, **setup_kwargs)``; see :mod:`spikeforge.circuits.pynn_export`
        for the mapping, the units and what is refused.

        Returns:
            a :class:`~spikeforge.circuits.pynn_export.PyNNNetwork` with ``.populations[name]``
            and ``.projections[name]`` (PyNN objects).

        Raises:
            UnsupportedExportError: a part PyNN cannot express, named.
        """
        from .pynn_export import to_pynn

        return to_pynn(self, sim, setup=setup, **setup_kwargs)

    def to_pynn_script(self, path: Any, *, duration: float = 1000.0) -> Any:
        """Write a standalone PyNN script building this network (numpy and PyNN only); see
        :func:`spikeforge.circuits.pynn_export.to_pynn_script`. Returns the path written."""
        from .pynn_export import to_pynn_script

        return to_pynn_script(self, path, duration=duration)
