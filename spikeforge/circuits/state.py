"""The simulation state of a :class:`~spikeforge.circuits.Network`, an object of its own
(``_Sim``: neuron and synaptic states, ring buffers, rule states, noise generators, the step)
that an engine receives in ``prepare(network, state)`` and advances
(:mod:`spikeforge.circuits.engines`): its creation (initial values, noise generators), reading
and setting it between runs, and ``state_dict`` save and restore
(``get_extra_state``/``set_extra_state``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import ParameterError, ShapeError
from . import _philox as philox
from ._populations import PopRef, Population, _NetworkBase
from ._rule_delays import with_delay_lines
from .inputs import PoissonGroup, PoissonInput, poisson_counts
from .monitors import load_monitor_state, monitor_state
from .projection import Projection

_STATE_VERSION = 3  # 2: counter-based Poisson draws; 3: and stochastic neurons (no generator state)


class _Sim:
    """The simulation state of a network (created on first use)."""

    def __init__(self) -> None:
        self.step = 0
        self.neurons: dict[str, Any] = {}  # name -> state NamedTuple, fields [B, *shape]
        self.syn: dict[str, list[Tensor]] = {}  # projection -> [g] or [g, h], each [B, n_post]
        self.ring: dict[str, Tensor] = {}  # projection -> [B, L, n_post]
        self.plastic: dict[str, Any] = {}  # plastic projection -> its rule's state
        # population with a refractory count -> [B, n] bool: v was held, or reset to a value, in
        # the last step, so that a jump of v arriving now is lost (Brian2 applies it in that step)
        self.held: dict[str, Tensor] = {}
        self.noise: _Noise


class _Noise:
    """Per-copy noise: torch generators for the initial-state distributions, and the
    counter-based draws of Poisson groups, Poisson inputs and stochastic neurons
    (:mod:`spikeforge.circuits._philox`: a pure function of the copy's seed, the stream and the
    step, so their only state is the network's step count)."""

    def __init__(self, seeds: Sequence[int], device: torch.device) -> None:
        self.device = device
        self.seeds = [int(s) for s in seeds]
        self.gens = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]

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
        values added by each Poisson input, ``[s1 - s0, B, n_target]`` (see inputs.py)."""
        out = {g.name: self.group_spikes(k, g, s0, s1, dt, dtype) for k, g in enumerate(groups)}
        out.update({d.name: self.drive_values(k, d, s0, s1, dt, dtype) for k, d in enumerate(drives)})
        return out

    def group_spikes(
        self, k: int, grp: PoissonGroup, s0: int, s1: int, dt: float, dtype: torch.dtype
    ) -> Tensor:
        """Spikes ``[s1 - s0, B, n]`` of the ``k``-th Poisson group: ``u < rate * dt``, ``u`` the
        uniforms (network dtype) of its stream."""
        strm = philox.stream(philox.KIND_POISSON_GROUP, k)
        parts = []
        for a, b in _slices(s0, s1, len(self.seeds) * grp.n):
            p = grp.probabilities(torch.arange(a, b, dtype=torch.float64) * dt, dtype).to(self.device)
            u = philox.uniform(self.seeds, strm, torch.arange(a, b), grp.n, dtype, self.device)
            parts.append(u < p)
        return torch.cat(parts) if len(parts) > 1 else parts[0]

    def drive_values(
        self, k: int, drv: PoissonInput, s0: int, s1: int, dt: float, dtype: torch.dtype
    ) -> Tensor:
        """``count * weight`` ``[s1 - s0, B, n_target]`` (network dtype) of the ``k``-th Poisson
        input: counts by inversion of float64 uniforms of its stream (:func:`poisson_counts`)."""
        strm = philox.stream(philox.KIND_POISSON_INPUT, k)
        parts = []
        for a, b in _slices(s0, s1, len(self.seeds) * drv.n_target):
            lam = drv.means(torch.arange(a, b, dtype=torch.float64) * dt).to(self.device)
            u = philox.uniform(self.seeds, strm, torch.arange(a, b), drv.n_target, torch.float64, self.device)
            parts.append(poisson_counts(lam, u).to(dtype).mul_(drv.weight))
        return torch.cat(parts) if len(parts) > 1 else parts[0]

    def state(self) -> dict[str, Any]:
        """The copies' noise seeds (the draws' only other input is the step count)."""
        return {"seeds": list(self.seeds)}

    def load(self, state: dict[str, Any]) -> None:
        if len(state["seeds"]) != len(self.seeds):
            raise ParameterError(
                f"the saved state has {len(state['seeds'])} batch copies, this network {len(self.seeds)}"
            )


def _slices(s0: int, s1: int, per_step: int) -> list[tuple[int, int]]:
    """Steps ``[s0, s1)`` in slices of at most about 2**20 draws (bounded memory)."""
    size = max(1, (1 << 20) // max(per_step, 1))
    return [(a, min(a + size, s1)) for a in range(s0, s1, size)]


def _derived_seed(seed: int, b: int) -> int:
    return int(np.random.SeedSequence([seed, 0x5EED, b]).generate_state(1, dtype=np.uint64)[0] >> 1)


class _StateMixin(_NetworkBase):
    """Creating, reading, setting, saving and restoring the simulation state."""

    _sim: _Sim | None  # created on first use (run, state, set_state, load_state_dict)

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
            if "ref" in state._fields:
                sim.held[pop.name] = torch.zeros(self._B, pop.n, dtype=torch.bool, device=self.device)
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

    def _init_rule_state(self, proj: Projection) -> Any:
        rule = proj.plasticity
        shape = (self._B,)
        kw: dict[str, Any] = dict(dtype=self.dtype, device=self.device)
        if proj.storage == "sparse" and getattr(rule, "takes_synapses", False):
            kw["n_synapses"] = proj.n_synapses  # the rule works at the synapses (see engines/torch.py)
        try:
            st = rule.init_state(shape, proj.n_pre, proj.n_post, **kw)
        except TypeError:
            st = rule.init_state(shape, proj.n_pre, proj.n_post)
        st = _map_tensors(
            st,
            lambda t: (
                t.to(dtype=self.dtype, device=self.device) if t.is_floating_point() else t.to(self.device)
            ),
        )
        # a rule with spike delays: the spikes on their way to it (see _rule_delays.py)
        return with_delay_lines(rule, st, self._B, proj.n_pre, proj.n_post, self.dtype, self.device)

    def state(self, name: PopRef | Projection) -> Any:
        """A copy of the current state of a population (its NamedTuple, fields ``[B, *shape]``, or
        ``[*shape]`` unbatched) or of a projection (a dict ``{"g": ..., "h": ...}`` ``[B, n_post]``).
        Differentiable when the run was (the PyTorch engine with gradients)."""
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
            out["held"] = {k: v.clone() for k, v in sim.held.items()}
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

    def _check_extra_state(self, state: Any) -> None:
        """Raise, naming the part, unless ``state`` (from :meth:`get_extra_state`) fits this
        network: its version, monitors, and every state tensor's shape and plasticity state.
        Changes nothing, so that a bad state is refused before anything is loaded."""
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
        if not state.get("initialized"):
            return
        before = self._sim
        try:
            sim = self._ensure_state()

            def same(what: str, saved: Any, mine: Tensor) -> None:
                if not isinstance(saved, Tensor) or tuple(saved.shape) != tuple(mine.shape):
                    got = list(saved.shape) if isinstance(saved, Tensor) else type(saved).__name__
                    raise ShapeError(
                        f"Network.load_state_dict: the saved {what} is {got}, this network's is "
                        f"{list(mine.shape)} (a state saved from a network of other sizes or batch)"
                    )

            saved_pops = state.get("neurons", {})
            if set(saved_pops) != set(sim.neurons):
                raise ParameterError(
                    f"Network.load_state_dict: the saved neuron states are for {sorted(saved_pops)}, "
                    f"this network has {sorted(sim.neurons)}"
                )
            for k, cur in sim.neurons.items():
                for f in cur._fields:
                    same(f"state {f!r} of population {k!r}", saved_pops[k].get(f), getattr(cur, f))
            # synaptic states and delay buffers are made by the engines at the first run: compare
            # the ones this network has already
            for k, ts in sim.syn.items():
                for a, b in zip(state.get("syn", {}).get(k, ()), ts):
                    same(f"synaptic state of {k!r}", a, b)
            for k, t in sim.ring.items():
                if k in state.get("ring", {}):
                    same(f"delay buffer of {k!r}", state["ring"][k], t)
            for k, t in state.get("held", {}).items():
                if k in sim.held:
                    same(f"held flags of {k!r}", t, sim.held[k])
            saved = state.get("plastic", {})
            for k in sim.plastic:
                if k not in saved:
                    raise ParameterError(f"the saved state has no plasticity state for projection {k!r}")
                _rebuild(self._init_rule_state(self._proj(k)), iter(saved[k]), k)
        finally:
            self._sim = before

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self._check_extra_state(state)
        mons = state.get("monitors", [])
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
        for k, t in state.get("held", {}).items():
            sim.held[k] = t.to(self.device).clone()
        sim.noise.load(state["noise"])
        saved = state.get("plastic", {})
        for k in sim.plastic:
            template = self._init_rule_state(self._proj(k))
            leaves = [t.to(self.device).clone() for t in saved[k]]
            sim.plastic[k] = _rebuild(template, iter(leaves), k)


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
