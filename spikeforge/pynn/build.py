"""The spikeforge :class:`~spikeforge.circuits.Network` built from a script's populations and
projections at its first ``run`` (exact integration, float64).

The helpers take a :class:`~spikeforge.pynn.projections.Projection` as ``prj`` (typed ``Any``: this
module does not import ``projections``, which builds the network through it when
``Projection.get`` is called before the first run, so imports run one way)."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch

from ..circuits import AlphaConductance, AlphaSynapse, DeltaSynapse, ExpConductance, ExpSynapse, Network
from ..circuits.inputs import PoissonGroup, SpikeSource
from ..circuits.projection import Explicit
from ..errors import ParameterError, UnsupportedExportError
from ..neurons import LIF
from ..neurons import Izhikevich as _IzhikevichNeuron
from .cells import Izhikevich
from .currents import NoisyCurrentSource
from .populations import Population, population_parts
from .sources import (
    SpikeSourceArray,
    SpikeSourceGamma,
    SpikeSourceInhGamma,
    SpikeSourcePoisson,
    constant_rate,
    rate_function,
)
from .state import SimulationState, current
from .synapses import STDPMechanism

__all__: list[str] = []


def _lif_kwargs(p: dict[str, Any], dt: float) -> dict[str, Any]:
    return dict(
        tau_mem=p["tau_m"],
        r=p["tau_m"] / p["cm"],
        v_leak=p["v_rest"],
        v_th=p["v_thresh"],
        v_reset=p["v_reset"],
        t_ref=refractory_time(p["tau_refrac"], dt),
        dt=dt,
    )


def refractory_time(tau_refrac: Any, dt: float) -> Any:
    """``tau_refrac`` (ms) rounded up to whole steps, as NEST counts them (``Time::get_steps`` of
    the time in tics: 0.1 ms at dt = 0.25 ms is one step, 0.35 ms at dt = 0.1 ms four), where
    spikeforge's LIF holds ``round(t_ref / dt)`` steps.

    Example:
        >>> [round(refractory_time(t, dt) / dt) for t, dt in ((0.35, 0.1), (0.1, 0.25), (2.0, 0.1))]
        [4, 1, 20]
    """
    steps = np.ceil(np.round(np.asarray(tau_refrac, dtype=np.float64) / dt, 9))
    return steps * dt if steps.ndim else float(steps) * dt


_EXPRESSION_NAMES: dict[str, Any] = {
    name: getattr(np, name)
    for name in ("exp", "sqrt", "log", "sin", "cos", "tan", "abs", "minimum", "maximum")
} | {"pi": np.pi, "e": np.e}


def _synapse_values(prj: Any, name: str, value: Any, pre: np.ndarray, post: np.ndarray) -> np.ndarray:
    """One ``weight`` or ``delay`` per synapse: a number, or (PyNN's distance expressions) a string
    in ``d``, the distance (µm, the projection's ``space``) between the cells, e.g. ``"1/(1+d)"``
    (delays rounded to whole steps, as NEST does).

    Example:
        >>> import spikeforge.pynn as sim
        >>> _ = sim.setup(timestep=0.1)
        >>> a = sim.Population(2, sim.SpikeSourceArray(spike_times=[1.0]), structure=sim.Line(dx=10.0))
        >>> b = sim.Population(1, sim.IF_curr_exp())
        >>> prj = sim.Projection(a, b, sim.AllToAllConnector(), sim.StaticSynapse(weight="1/(1+d)"))
        >>> prj.get("weight", format="list")
        [(0, 0, 1.0), (1, 0, 0.09090909090909091)]
        >>> sim.end()
    """
    if not isinstance(value, str):
        return np.full(len(pre), float(value))
    d = prj.space.distances(prj.pre.positions, prj.post.positions)[pre, post]
    try:
        out = eval(value, {"__builtins__": {}, **_EXPRESSION_NAMES}, {"d": d})  # noqa: S307 - PyNN's
    except Exception as exc:  # noqa: BLE001 - any error of the user's expression
        raise ParameterError(
            f"projection {prj.label!r}: {name}={value!r} is not an expression of the distance d "
            f"(numpy functions {sorted(_EXPRESSION_NAMES)}): {exc}"
        ) from exc
    values = np.broadcast_to(np.asarray(out, dtype=np.float64), d.shape).copy()
    if not np.isfinite(values).all():
        raise ParameterError(f"projection {prj.label!r}: {name}={value!r} gives non-finite values")
    if name == "delay":  # on the time grid, as NEST rounds them (and drawn delays here)
        dt = current().dt
        values = np.round(values / dt) * dt
    return values


def _one_value(pop: Population, name: str) -> float:
    """A synapse parameter of ``pop``: one value for all its neurons (spikeforge's synapses hold one)."""
    values = np.unique(np.asarray(pop.parameters[name], dtype=np.float64))
    if len(values) > 1:
        raise UnsupportedExportError(
            f"population {pop.label!r}: {name} differs between neurons ({values.tolist()}); spikeforge.pynn "
            "takes one synaptic time constant and reversal potential per population and receptor"
        )
    return float(values[0])


def _synapse(prj: Any, target: Population) -> Any:
    """The spikeforge synapse of ``prj`` onto the cells of ``target``."""
    c = target.celltype
    suffix = "E" if prj.receptor_type == "excitatory" else "I"
    if c.synapse == "delta":
        return DeltaSynapse()
    if c.synapse in ("exp", "alpha"):
        tau = _one_value(target, f"tau_syn_{suffix}")
        return (ExpSynapse if c.synapse == "exp" else AlphaSynapse)(tau=tau)
    if c.synapse in ("cond_exp", "cond_alpha"):
        kind = ExpConductance if c.synapse == "cond_exp" else AlphaConductance
        return kind(tau=_one_value(target, f"tau_syn_{suffix}"), e_rev=_one_value(target, f"e_rev_{suffix}"))
    raise UnsupportedExportError(
        f"projection {prj.label!r}: {type(c).__name__} ({target.label!r}) cannot be a target"
    )


def _check_weight_signs(prj: Any, target: Population, w: np.ndarray) -> None:
    """PyNN's sign convention (``pyNN.standardmodels.base.check_weights``): weights onto
    conductance-based cells and excitatory receptors are >= 0, onto current-based inhibitory
    receptors <= 0 (the sign is the weight's; the receptor only picks the time constant)."""
    if not len(w):
        return
    conductance = target.celltype.synapse in ("cond_exp", "cond_alpha")
    if (conductance or prj.receptor_type == "excitatory") and float(w.min()) < 0:
        raise ParameterError(
            f"projection {prj.label!r}: weights onto {'conductance-based' if conductance else 'excitatory'} "
            f"synapses of {target.label!r} must be >= 0 (PyNN's convention), got min {float(w.min())!r}"
        )
    if not conductance and prj.receptor_type == "inhibitory" and float(w.max()) > 0:
        raise ParameterError(
            f"projection {prj.label!r}: weights onto current-based inhibitory synapses of "
            f"{target.label!r} must be <= 0 (PyNN's convention), got max {float(w.max())!r}"
        )


def build_network(st: SimulationState) -> Network:
    dt = st.dt
    net = Network(dt=dt, seed=st.seed, dtype=torch.float64)
    for pop in st.populations:
        c, p = pop.celltype, pop.parameters
        if isinstance(c, SpikeSourcePoisson):
            pop.rate_history[:] = [(0.0, pop.rate_parameters())]
            rate = constant_rate(pop.rate_history[0][1], "rate")  # a function once set between runs
            group = net.add_poisson(
                pop.label, pop.size, rate if rate is not None else rate_function(pop.rate_history, "rate")
            ).group
            pop.network_group = cast(PoissonGroup, group)
            continue
        if isinstance(c, SpikeSourceGamma):
            _add_gamma_source(net, pop)
            continue
        if isinstance(c, SpikeSourceInhGamma):
            net.add_poisson(pop.label, pop.size, c.rate(p))
            continue
        if isinstance(c, SpikeSourceArray):
            source = net.add_spike_source(pop.label, pop.size, [], [])
            pop.network_source = cast(SpikeSource, source.group)
            pop.network_source.steps, pop.network_source.b, pop.network_source.i = pop.events_from(0.0, dt)
            continue
        if isinstance(c, Izhikevich):
            module: Any = _IzhikevichNeuron(
                pop.size, a=p["a"], b=p["b"], c=p["c"], d=p["d"], dt=dt, integrator="euler"
            )
            current = 1000.0 * np.asarray(p["i_offset"], dtype=np.float64)
        else:
            module = LIF(pop.size, **_lif_kwargs(p, dt))
            current = np.asarray(p["i_offset"], dtype=np.float64)
        init = {k: np.asarray(v, dtype=np.float64) for k, v in pop.initial.items() if k in ("v", "u")}
        net.add_population(pop.label, module, init=init)
        if bool((current != 0).any()):
            i_offset = torch.as_tensor(np.broadcast_to(current, (pop.size,)).copy())
            net.add_current(f"{pop.label}:i_offset", pop.label, i_offset)
        scale = 1000.0 if isinstance(c, Izhikevich) else 1.0
        for k, (source, indices) in enumerate(pop.sources):
            kind = type(source).__name__
            if isinstance(source, NoisyCurrentSource):  # [C, n]: one value per neuron
                f = source.noise(scale, dt, pop.size, net.generator)
            else:
                f = source.current(scale, dt)
            if indices is not None:  # a view: only its neurons
                mask = torch.zeros(pop.size, dtype=torch.float64)
                mask[torch.as_tensor(indices)] = 1.0
                f = _masked(f, mask)
            net.add_current(f"{pop.label}:{kind}{k}", pop.label, f)
    gen = net.generator
    for prj in st.projections:
        same = prj.pre is prj.post
        if getattr(prj.connector, "uses_positions", False):
            out = prj.connector.pairs_in_space(prj.pre.positions, prj.post.positions, prj.space, same, gen)
        else:
            out = prj.connector.pairs(prj.pre.size, prj.post.size, same, gen)
        pre_all, post_all = np.asarray(out[0]), np.asarray(out[1])
        weight_all = (
            out[2]
            if len(out) > 2 and out[2] is not None
            else _synapse_values(prj, "weight", prj.synapse.weight, pre_all, post_all)
        )
        d0 = prj.synapse.delay if prj.synapse.delay is not None else dt
        delay_all = (
            out[3]
            if len(out) > 3 and out[3] is not None
            else _synapse_values(prj, "delay", d0, pre_all, post_all)
        )
        for key, value in prj._set.items():
            new = value[pre_all, post_all] if isinstance(value, np.ndarray) else np.full(len(pre_all), value)
            if key == "weight":
                weight_all = new
            else:
                delay_all = new
        if len(pre_all) and float(np.min(delay_all)) < dt - 1e-9:
            raise ParameterError(f"projection {prj.label!r}: delays must be >= timestep = {dt} ms")
        pre_parts, post_parts = population_parts(prj.pre), population_parts(prj.post)
        for a, oa, map_a in pre_parts:
            for b, ob, map_b in post_parts:
                na, nb = len(map_a), len(map_b)
                keep = (pre_all >= oa) & (pre_all < oa + na) & (post_all >= ob) & (post_all < ob + nb)
                if len(pre_parts) * len(post_parts) > 1 and not keep.any():
                    continue
                name = (
                    prj.label
                    if len(pre_parts) * len(post_parts) == 1
                    else f"{prj.label}[{a.label}->{b.label}]"
                )
                _check_weight_signs(prj, b, weight_all[keep])
                if isinstance(prj.synapse, STDPMechanism):
                    wd = prj.synapse.weight_dependence
                    w_keep = weight_all[keep]
                    if len(w_keep) and not (wd.w_min <= w_keep.min() and w_keep.max() <= wd.w_max):
                        raise ParameterError(
                            f"projection {prj.label!r}: STDP weights must lie in [w_min, w_max] = "
                            f"[{wd.w_min}, {wd.w_max}], got [{w_keep.min()}, {w_keep.max()}]"
                        )
                for sub_name, sel, rule in _plastic_groups(prj, name, keep, delay_all, dt):
                    prj._parts.append((sub_name, oa, ob, map_a, map_b))
                    net.connect(
                        a.label,
                        b.label,
                        rule=Explicit(
                            torch.as_tensor(map_a[pre_all[sel] - oa]),
                            torch.as_tensor(map_b[post_all[sel] - ob]),
                        ),
                        weight=torch.as_tensor(weight_all[sel], dtype=torch.float64),
                        delay=torch.as_tensor(delay_all[sel], dtype=torch.float64),
                        synapse=_synapse(prj, b),
                        storage="sparse",
                        name=sub_name,
                        plasticity=rule,
                    )
    for pop in st.populations:
        if "spikes" in pop.recorded:
            pop._monitors["spikes"] = net.record_spikes(pop.label)
        if "v" in pop.recorded:
            pop._monitors["v"] = net.record_state(pop.label, "v")
    return net


def _plastic_groups(
    prj: Any, name: str, keep: np.ndarray, delays: np.ndarray, dt: float
) -> list[tuple[str, np.ndarray, Any]]:
    """The network projections of one part of a PyNN projection: ``(name, synapses, rule)``. A
    static one is one projection; a plastic one is one per distinct delay (in steps, ascending),
    each with its rule, since the rule's dendritic delay is ``dendritic_delay_fraction`` times the
    delay (NEST's, per synapse) and a rule has one; named ``"{name}[delay K steps]"`` when there
    are several (a network name has no ".")."""
    if not isinstance(prj.synapse, STDPMechanism):
        return [(name, keep, None)]
    steps = np.round(np.asarray(delays, dtype=np.float64) / dt).astype(np.int64)
    groups = np.unique(steps[keep])
    if len(groups) <= 1:
        d = float(groups[0]) * dt if len(groups) else dt
        return [(name, keep, prj.synapse.rule(dt, d))]
    out = []
    for k in groups.tolist():
        out.append((f"{name}[delay {k} steps]", keep & (steps == k), prj.synapse.rule(dt, k * dt)))
    return out


def _add_gamma_source(net: Network, pop: Population) -> None:
    """A ``SpikeSourceGamma``: a counter per neuron (a non-leaky LIF that spikes at ``alpha`` and
    subtracts it) driven by a Poisson count of rate ``beta`` per step, started at a uniform phase."""
    alpha = torch.as_tensor(
        np.broadcast_to(np.asarray(pop.parameters["alpha"], dtype=np.float64), (pop.size,)).copy()
    )
    counter = LIF(
        pop.size, tau_mem=1e30, v_leak=0.0, v_th=alpha - 0.5, v_reset=-0.5, reset="subtract", dt=net.dt
    )

    def phase(n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.floor(torch.rand(n, generator=generator, dtype=torch.float64) * alpha)

    net.add_population(pop.label, counter, init={"v": phase})
    pop.rate_history[:] = [(0.0, pop.rate_parameters())]
    rate = constant_rate(pop.rate_history[0][1], "beta")
    rate_of_t = rate if rate is not None else rate_function(pop.rate_history, "beta")
    net.add_poisson_input(f"{pop.label}:events", pop.label, 1, rate_of_t, 1.0)


def _masked(f: Any, mask: torch.Tensor) -> Any:
    def value(t: torch.Tensor) -> torch.Tensor:
        out = f(t)
        return (out if out.dim() == 2 else out.reshape(-1, 1)) * mask

    return value
