r"""Export a :class:`~spikeforge.circuits.Network` to PyNN (NEST, SpiNNaker, BrainScaleS-2, ...).

:meth:`Network.to_pynn(sim) <spikeforge.circuits.Network.to_pynn>` builds the network inside a
PyNN backend module (``pyNN.nest``, ``pyNN.brian2``, ``pyNN.spiNNaker``, ...) and
:meth:`Network.to_pynn_script(path) <spikeforge.circuits.Network.to_pynn_script>` writes a
standalone PyNN script that builds the same (numpy and PyNN only, no spikeforge). Both go through
:func:`describe`, which turns the network into a plain description, and the builder of
``_pynn_build`` (copied into the script), so both build the same network.

**What maps, and how** (PyNN units: mV, ms, nA, nF, µS, Hz):

=========================================  ====================================================
spikeforge                                 PyNN
=========================================  ====================================================
``LIF`` (no ``tau_syn``), ``ExpSynapse``   ``IF_curr_exp`` (two receptors: ``tau_syn_E`` for
                                           the positive weights, ``tau_syn_I`` the negative)
``LIF``, ``AlphaSynapse``                  ``IF_curr_alpha``
``LIF`` (no ``tau_syn``), ``DeltaSynapse``  ``IF_curr_delta`` (weights in mV)
``LIF`` with ``tau_syn``, ``DeltaSynapse``  ``IF_curr_exp`` with ``tau_syn_E = tau_syn_I =
(target ``"i"``)                           tau_syn``
``LIF``, ``ExpConductance``                ``IF_cond_exp`` (excitatory receptor: the higher
                                           ``e_rev``)
``LIF``, ``AlphaConductance``              ``IF_cond_alpha``
``Izhikevich``, ``DeltaSynapse``           ``Izhikevich`` (``v_peak = 30`` mV)
``add_poisson`` (constant rates)           ``SpikeSourcePoisson`` (rate in Hz)
``add_spike_source``                       ``SpikeSourceArray``
``add_poisson_input``                      a ``SpikeSourcePoisson`` of rate ``n * rate`` per
                                           target neuron, one to one, delay ``dt``
``add_current`` (constant)                 ``i_offset`` of the target cells
``add_current`` (``TimedArray``)           ``StepCurrentSource`` (one per distinct column)
population ``positions``                   ``Population.positions`` (3-D, zeros appended)
projections                                ``FromListConnector``: the same synapses, weights
                                           and delays (nothing is redrawn)
``plasticity=STDP(...)``                   ``STDPMechanism(SpikePairRule, *WeightDependence)``
=========================================  ====================================================

**Units.** The network LIF is :math:`\tau_{mem}\dot v = (v_{leak} - v) + r\,x`, PyNN's
:math:`c_m \dot v = (c_m/\tau_m)(v_{rest} - v) + I`. With :math:`c_m = \tau_{mem}/r` (nF, so the
membrane resistance is :math:`r` MΩ) the input ``x`` is the current in nA: weights, synaptic
states and currents keep their values. A conductance ``g`` (relative to the leak, as in
:mod:`spikeforge.circuits.synapses`) is :math:`r\,g\,c_m/\tau_m = g` µS, again the same value.
Izhikevich's input ``I`` (mV/ms) is ``i_offset = I / 1000`` nA (PyNN scales nA to NEST's pA,
which NEST's ``izhikevich`` adds as mV/ms); its delta weights are mV. The refractory period is
the whole steps spikeforge holds, ``round(t_ref / dt) * dt`` (NEST and
``spikeforge.pynn`` round ``tau_refrac`` up to whole steps, which keeps it). STDP: spikeforge's
:math:`\Delta w = A_+ (w_{max} - w)^{\mu_+}` is PyNN's (NEST's ``stdp_synapse``)
:math:`\Delta w = A_+^{PyNN} w_{max}^{1 - \mu_+} (w_{max} - w)^{\mu_+}`, so
:math:`A_\pm^{PyNN} = A_\pm / w_{max}^{1 - \mu_\pm}`. A rule with spike delays
(``dendritic_delay``, ``axonal_delay``) exports as ``dendritic_delay_fraction = dendritic_delay /
delay`` (the projection's one delay, the sum of the two); one without them as PyNN's default 1,
NEST's convention (the post spike seen one delay late: a pair at lag ``t`` learns as
spikeforge's at ``t + delay``).

**Time conventions.** spikeforge stamps a spike with the start of the step in which the
threshold was crossed, NEST with its end, one ``dt`` later; the export adds ``dt`` to the times of
spike sources so that every event acts on the same step, and
:attr:`PyNNNetwork.time_offset <spikeforge.circuits._pynn_build.PyNNNetwork.time_offset>` (= dt)
is what to subtract from PyNN's spike times. A delay ``d`` acts in both on the step
``d / dt`` after the spike's own, so delays keep their values; PyNN's shortest delay is one step,
and a delay of 0 (spikeforge: "acts on the next step") is refused. A Poisson input's trains are
exported with delay ``dt``: with a constant rate, a Poisson train one step later is the same
process.

**Integration.** The export maps the equations; each simulator integrates them its own way. A
``LIF`` with the exact integrator and ``ExpSynapse``/``AlphaSynapse`` (or ``DeltaSynapse``)
inputs is integrated exactly by both (the propagator of ``iaf_psc_exp``, ``iaf_psc_alpha``,
``iaf_psc_delta``), so the spikes agree to round-off; the Euler integrator, a ``LIF`` with
``tau_syn`` (current held over the step) and conductances (held over the step; NEST: adaptive
Runge-Kutta) agree in distribution. Izhikevich with the Euler integrator is NEST's ``izhikevich``
step for step. With delta synapses the membranes agree, but NEST tests the threshold right after
a jump and spikeforge after integrating the next step, so a spike caused by a jump is one step
earlier in NEST. spikeforge's threshold is :math:`v > v_{th}`, NEST's :math:`v \ge v_{th}`. A
spike arriving at a refractory neuron through a delta synapse is lost in both.
``tests/reference/test_nest_reference.py`` checks all of this against NEST 3.10.

**pyNN.nest specifics** (handled by the builder): NEST's grid-constrained models
(``spike_precision="on_grid"``), ``min_delay = dt``, spike generators without precise times, and
initial values set in NEST directly (pyNN.nest 0.13 drops ``v`` of ``IF_curr_delta`` and does not
scale ``gsyn_exc``/``gsyn_inh``), ``GutigWeightDependence``'s exponents set again (pyNN.nest
0.13 drops them), and the STDP bound ``w_max`` onto ``IF_curr_delta``/``Izhikevich`` cells given
in mV like their weights (pyNN.nest 0.13 leaves it in pA; it also reads those weights back a
thousand times too small: read them from NEST, ``projection.nest_connections.get("weight")``).

NEST cannot set initial synaptic currents of ``iaf_psc_exp``: exporting a
nonzero initial ``ExpSynapse`` state to NEST fails with a ``ValueError``.

**Refused**, with :class:`~spikeforge.errors.UnsupportedExportError` naming the part: ALIF (its
adaptive threshold is none of PyNN's adapting cells: ``EIF_cond_exp_isfa_ista`` adapts by a
current and has an exponential spike, ``IF_cond_exp_gsfa_grr`` by conductances), other neuron
models, ``reset="subtract"``, several kinds of synapse (or more than two time constants or
reversal potentials) onto one population, synapses a standard cell lacks (exponential synapses
onto a ``LIF`` with ``tau_syn``, delta synapses onto other fields), negative conductances, delays
below one step, time-varying rates (PyNN's ``SpikeSourceInhGamma``, the form they would take, runs on
NEST 2's ``inh_gamma_generator``, which NEST 3 no longer has), time-varying currents other than a
``TimedArray`` or nonzero before ``2 dt`` (a NEST current source starts two steps late at the
earliest), currents onto a ``LIF`` with ``tau_syn``, rules
other than ``STDP`` (and STDP with ``pairing="nearest"``, ``bound="soft"`` or ``"none"``, or
a soft weight dependence with ``w_min != 0``), batched networks (``batch > 1``, per-copy gains
or parameters) and networks that have already run.

The inverse direction, PyNN scripts run on spikeforge, is :mod:`spikeforge.pynn`.
"""

from __future__ import annotations

import base64
import inspect
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import ParameterError, UnsupportedExportError
from ..neurons.alif import ALIF
from ..neurons.izhikevich import Izhikevich
from ..neurons.lif import LIF, refractory_steps
from . import _pynn_build
from . import synapses as syn
from .inputs import PoissonGroup, SpikeSource, TimedArray

if TYPE_CHECKING:
    # the description and its state; not .network, which imports this module for Network.to_pynn
    from .state import _StateMixin as Network

__all__ = ["describe", "to_pynn", "to_pynn_script", "PyNNNetwork"]

PyNNNetwork = _pynn_build.PyNNNetwork
_KINDS = {
    syn.ExpSynapse: "exp",
    syn.AlphaSynapse: "alpha",
    syn.ExpConductance: "cond_exp",
    syn.AlphaConductance: "cond_alpha",
}


@dataclass
class _Channel:
    """One input onto a population: a projection or a Poisson input."""

    name: str
    pre: str
    kind: str  # "delta:<field>", "exp", "alpha", "cond_exp", "cond_alpha"
    tau: float
    e_rev: float
    pre_idx: np.ndarray
    post_idx: np.ndarray
    w: np.ndarray
    d: np.ndarray  # ms
    synapse: dict[str, Any]
    g0: np.ndarray | None  # initial synaptic state per target neuron (g), or None


class _Arrays:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def add(self, key: str, a: np.ndarray) -> str:
        k, i = key, 2
        while k in self.arrays:
            k, i = f"{key}#{i}", i + 1
        self.arrays[k] = np.ascontiguousarray(a)
        return "@" + k

    def value(self, key: str, t: Any, n: int) -> float | str:
        """A number when all ``n`` values are equal, else a named array."""
        a = np.asarray(torch.as_tensor(t).detach().cpu().double())
        a = np.broadcast_to(a.reshape(-1) if a.size == n else a, (n,)).copy()  # 2-D populations: flat
        if n == 0 or bool((a == a[0]).all()):
            return float(a[0]) if n else 0.0
        return self.add(key, a)


def _grid_times(steps: np.ndarray, dt: float) -> np.ndarray:
    """The times (ms) of whole ``steps`` of ``dt`` ms, as the nearest float to the decimal time
    (``156 * 0.1`` is 15.600000000000001, one rounding error past the step: a precise NEST spike
    generator, pyNN.nest's default, fires it one step late). Rounded to 1e-9 ms, far below NEST's
    tic (1e-3 ms by default).

    Example:
        >>> import numpy as np
        >>> _grid_times(np.array([156, 3]), 0.1).tolist(), (156 * 0.1, 3 * 0.1)
        ([15.6, 0.3], (15.600000000000001, 0.30000000000000004))
    """
    return np.round(np.asarray(steps, dtype=np.float64) * dt, 9)


def _refrac(m: LIF, dt: float) -> torch.Tensor:
    """``tau_refrac`` (ms) of an exported LIF: the whole steps it holds, counted as its step does
    (:func:`~spikeforge.neurons.lif.refractory_steps` on ``t_ref`` in its own dtype), times dt."""
    return refractory_steps(m.params().t_ref, dt).double() * dt


def _np(t: Any) -> np.ndarray:
    return np.asarray(torch.as_tensor(t).detach().cpu().double().numpy())


def describe(net: Network) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The PyNN description of ``net``: a dict of plain values and the arrays it names.

    Args:
        net: a network that has not run yet (its initial state, drawn from its ``init``
            distributions or set with ``set_state``, is exported).

    Returns:
        ``(description, arrays)``, what :func:`~spikeforge.circuits._pynn_build.build` takes.

    Raises:
        UnsupportedExportError: a part PyNN cannot express (see the module docstring), named.

    Example:
        >>> from spikeforge.circuits import builders
        >>> net = builders.cuba(n=50, p=0.2, delay=0.1, seed=0)
        >>> description, arrays = describe(net)
        >>> [(p["name"], p["cell"], p["params"]["cm"]) for p in description["populations"]]
        [('exc', 'IF_curr_exp', 20.0), ('inh', 'IF_curr_exp', 20.0)]
        >>> [p["receptor_type"] for p in description["projections"]]
        ['excitatory', 'inhibitory', 'excitatory', 'inhibitory']
    """
    if net._B != 1:
        raise UnsupportedExportError(
            f"to_pynn exports one network; this one has batch={net.batch} copies (build it with batch=None)"
        )
    if net._sim is not None and net._sim.step > 0:
        raise UnsupportedExportError(
            f"to_pynn exports a network before it runs; this one has run {net._sim.step} steps (its "
            f"spikes in flight and refractory counts have no PyNN form); export it before net.run"
        )
    fresh = net._sim is None
    try:
        return _describe(net)
    finally:
        if fresh:
            net._sim = None  # the initial state was drawn only to read it: the network stays buildable


def _describe(net: Network) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    dt = float(net.dt)
    arrays = _Arrays()
    channels: dict[str, list[_Channel]] = {p: [] for p in net.population_names}
    for proj in net._projs():
        channels[proj.post].append(_projection_channel(net, proj))
    extra_sources: list[dict[str, Any]] = []
    for drv in net._drives:
        if callable(drv.rate):
            raise UnsupportedExportError(
                f"Poisson input {drv.name!r}: a time-varying rate has no PyNN form that NEST 3 runs "
                "(SpikeSourceInhGamma needs NEST 2's inh_gamma_generator); give a constant rate"
            )
        n_t = drv.n_target
        rate = np.broadcast_to(_np(drv.rate).reshape(-1), (n_t,)) * drv.n
        extra_sources.append(
            {
                "name": drv.name,
                "n": n_t,
                "cell": "SpikeSourcePoisson",
                "params": {"rate": arrays.value(f"{drv.name}.rate", torch.as_tensor(rate * 1000.0), n_t)},
            }
        )
        idx = np.arange(n_t)
        channels[drv.target].append(
            _Channel(
                drv.name,
                drv.name,
                f"delta:{drv.field}",
                0.0,
                0.0,
                idx,
                idx,
                np.full(n_t, drv.weight),
                np.full(n_t, dt),
                {"type": "static"},
                None,
            )
        )
    currents: dict[str, np.ndarray] = {p: np.zeros(net._groups[p].n) for p in net.population_names}
    step_currents: list[dict[str, Any]] = []
    for cur in net._currents:
        if callable(cur.current):
            step_currents += _step_currents(net, cur, arrays)
            continue
        currents[cur.target] = currents[cur.target] + np.broadcast_to(
            _np(cur.current).reshape(-1), (net._groups[cur.target].n,)
        )

    pops: list[dict[str, Any]] = []
    projs: list[dict[str, Any]] = []
    for group in net._groups.values():
        if group.kind == "neurons":
            pop, receptors = _neuron_population(net, group.name, channels[group.name], currents, arrays)
            pops.append(pop)
            for ch in channels[group.name]:
                for receptor, sel, suffix in receptors[ch.name]:
                    name = ch.name + suffix
                    conn = np.stack([ch.pre_idx[sel], ch.post_idx[sel], ch.w[sel], ch.d[sel]], axis=1)
                    projs.append(
                        {
                            "name": name,
                            "pre": ch.pre,
                            "post": group.name,
                            "receptor_type": receptor,
                            "connections": arrays.add(f"{name}.connections", conn),
                            "synapse": ch.synapse,
                        }
                    )
        elif group.kind == "poisson":
            assert isinstance(group.group, PoissonGroup)
            rate = group.group.rate
            if callable(rate):
                raise UnsupportedExportError(
                    f"Poisson group {group.name!r}: a time-varying rate has no PyNN form that NEST 3 "
                    "runs (SpikeSourceInhGamma needs NEST 2's inh_gamma_generator); give a constant rate"
                )
            hz = np.broadcast_to(_np(rate).reshape(-1), (group.n,)) * 1000.0
            pops.append(
                {
                    "name": group.name,
                    "n": group.n,
                    "cell": "SpikeSourcePoisson",
                    "params": {"rate": arrays.value(f"{group.name}.rate", hz, group.n)},
                }
            )
        else:
            assert isinstance(group.group, SpikeSource)
            src = group.group
            steps, idx = src.steps.numpy(), src.i.numpy()
            order = np.lexsort((steps, idx))
            times = _grid_times(steps[order] + 1, dt)  # PyNN's stamp: the end of the step
            counts = np.bincount(idx, minlength=group.n)
            pops.append(
                {
                    "name": group.name,
                    "n": group.n,
                    "cell": "SpikeSourceArray",
                    "params": {},
                    "spike_times": {
                        "times": arrays.add(f"{group.name}.times", times),
                        "counts": arrays.add(f"{group.name}.counts", counts),
                    },
                }
            )
    for pop in pops:
        positions = getattr(net._groups[pop["name"]], "positions", None)
        if positions is not None:
            pos = _np(positions).reshape(pop["n"], -1)
            if pos.shape[1] > 3:
                raise UnsupportedExportError(
                    f"population {pop['name']!r}: positions of {pos.shape[1]} dimensions; PyNN's have 3"
                )
            pos3 = np.zeros((3, pop["n"]))
            pos3[: pos.shape[1]] = pos.T
            pop["positions"] = arrays.add(f"{pop['name']}.positions", pos3)
    description = {
        "format": _pynn_build.FORMAT,
        "dt": dt,
        "time_offset": dt,
        "populations": pops + extra_sources,
        "projections": projs,
        "step_currents": step_currents,
    }
    return description, arrays.arrays


def _step_currents(net: Network, cur: Any, arrays: _Arrays) -> list[dict[str, Any]]:
    """A :class:`~spikeforge.circuits.TimedArray` current as PyNN ``StepCurrentSource`` s (one per
    distinct column, injected into the neurons that have it): row ``r`` holds over the steps that
    start in ``[r * dt_table, (r + 1) * dt_table)``, so its time is the first such step's start,
    where a ``StepCurrentSource`` switches too (NEST: ``step_current_generator``)."""
    dt = float(net.dt)
    f = cur.current
    if not isinstance(f, TimedArray):
        raise UnsupportedExportError(
            f"current {cur.name!r}: a time-varying current maps to PyNN as a TimedArray (to "
            f"StepCurrentSource); {type(f).__name__} has no PyNN form"
        )
    group = net._groups[cur.target]
    m = group.module
    if isinstance(m, LIF) and m.has_syn:
        raise UnsupportedExportError(
            f"current {cur.name!r}: a current onto a LIF with tau_syn is added to its synaptic current "
            "every step, which no PyNN current source does; give the LIF no tau_syn"
        )
    values = _np(f.values)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[1] not in (1, group.n):
        raise UnsupportedExportError(
            f"current {cur.name!r}: a TimedArray of shape {list(values.shape)}; PyNN takes [T] or [T, n] "
            "(one network, not a batch)"
        )
    scale = 1e-3 if isinstance(m, Izhikevich) else 1.0  # Izhikevich: mV/ms to nA, as i_offset
    rows = np.arange(values.shape[0])
    times = np.ceil(rows * f.dt / dt - 1e-9) * dt  # the first step starting in the row
    early = rows[(rows * f.dt < 2 * dt)]  # rows acting before 2 dt
    if bool(np.any(values[early] != 0)):
        raise UnsupportedExportError(
            f"current {cur.name!r} is nonzero before 2 dt = {2 * dt:g} ms; NEST (through pyNN.nest) "
            "starts a current source two steps late at the earliest: start it at 0 and switch it on later, "
            "or give a constant part as a constant current"
        )
    columns, which = np.unique(values.T, axis=0, return_inverse=True)
    out = []
    for k, column in enumerate(columns):
        if not bool(np.any(column != 0)):
            continue
        entry: dict[str, Any] = {
            "target": cur.target,
            "times": arrays.add(f"{cur.name}.times", times),
            "amplitudes": arrays.add(f"{cur.name}.amplitudes", column * scale),
            "indices": None,
        }
        if len(columns) > 1:
            entry["indices"] = arrays.add(f"{cur.name}.indices", np.flatnonzero(which.reshape(-1) == k))
        out.append(entry)
    return out


def _projection_channel(net: Network, proj: Any) -> _Channel:
    s = proj.synapse
    if isinstance(s, syn.DeltaSynapse):
        kind, tau, e_rev = f"delta:{s.target}", 0.0, 0.0
    else:
        kind, tau, e_rev = _KINDS[type(s)], float(s.tau), float(getattr(s, "e_rev", 0.0))
    w = _np(proj.weights())
    if proj.gain is not None:
        w = w * float(proj.gain.reshape(-1)[0])
    d = _np(proj.delays())
    steps = np.round(d / net.dt)
    if w.size and steps.min() < 1:
        raise UnsupportedExportError(
            f"projection {proj.name!r}: delay {float(d.min())!r} ms is below one step (dt={net.dt} "
            "ms), PyNN's shortest delay; spikeforge's delay d acts as PyNN's delay d, so connect "
            f"with delay >= {net.dt}"
        )
    synapse: dict[str, Any] = {"type": "static"}
    if proj.plasticity is not None:
        synapse = _stdp(proj)
    g0 = None
    if proj.name in net._syn_init:
        st = net.state(proj.name)
        g0 = _np(st["g"]).reshape(-1)
        if "h" in st and bool(np.any(_np(st["h"]) != 0)):
            raise UnsupportedExportError(
                f"projection {proj.name!r}: an initial alpha-kernel state h != 0 has no PyNN form"
            )
        if not bool(np.any(g0 != 0)):
            g0 = None
    return _Channel(
        proj.name,
        proj.pre,
        kind,
        tau,
        e_rev,
        _np(proj.pre_indices).astype(np.int64),
        _np(proj.post_indices).astype(np.int64),
        w,
        steps * net.dt,
        synapse,
        g0,
    )


def stdp_amplitude_scale(w_max: float, mu: float) -> float:
    """spikeforge's STDP amplitude over PyNN's (``SpikePairRule``), :math:`w_{max}^{1 - \\mu}`.

    spikeforge's :math:`A (w_{max} - w)^{\\mu}` is PyNN's :math:`A^{PyNN} w_{max}^{1-\\mu}
    (w_{max} - w)^{\\mu}` (NEST's ``stdp_synapse``): ``A = A_pynn * stdp_amplitude_scale(w_max, mu)``.
    Used by the export and by :mod:`spikeforge.pynn`.

    Example:
        >>> stdp_amplitude_scale(0.5, 0.0)  # additive: A = A_pynn * w_max
        0.5
    """
    return float(w_max) ** (1.0 - float(mu))


def _stdp(proj: Any) -> dict[str, Any]:
    from ..plasticity.stdp import STDP

    rule = proj.plasticity
    if type(rule) is not STDP:
        raise UnsupportedExportError(
            f"projection {proj.name!r}: plasticity {type(rule).__name__} has no PyNN form; only STDP "
            "(STDPMechanism with SpikePairRule) maps"
        )
    if rule.pairing != "all_to_all":
        raise UnsupportedExportError(
            f"projection {proj.name!r}: STDP pairing={rule.pairing!r}; PyNN's SpikePairRule pairs all "
            "spikes (pairing='all_to_all')"
        )
    if rule.bound != "hard":
        raise UnsupportedExportError(
            f"projection {proj.name!r}: STDP bound={rule.bound!r}; PyNN clips at w_min and w_max "
            "(bound='hard'); use weight_dependence='multiplicative' or 'soft' for soft bounds"
        )
    p = {k: float(getattr(rule, k)) for k in ("a_plus", "a_minus", "tau_plus", "tau_minus", "w_min", "w_max")}
    mu_p, mu_m = float(rule.mu_plus), float(rule.mu_minus)
    if p["w_max"] <= 0:
        raise UnsupportedExportError(
            f"projection {proj.name!r}: STDP w_max={p['w_max']!r}; PyNN's weight dependences need "
            "w_max > 0 (positive weights)"
        )
    wd: dict[str, Any] = {"w_min": p["w_min"], "w_max": p["w_max"]}
    if rule.weight_dependence == "additive":
        wd["type"] = "AdditiveWeightDependence"
    elif rule.weight_dependence == "multiplicative":
        wd["type"] = "MultiplicativeWeightDependence"
    else:
        if p["w_min"] != 0:
            raise UnsupportedExportError(
                f"projection {proj.name!r}: a soft STDP weight dependence with w_min={p['w_min']!r}; "
                "PyNN's GutigWeightDependence is defined relative to w_max with w_min = 0"
            )
        wd.update(type="GutigWeightDependence", mu_plus=mu_p, mu_minus=mu_m)
    timing = {
        "tau_plus": p["tau_plus"],
        "tau_minus": p["tau_minus"],
        "A_plus": p["a_plus"] / stdp_amplitude_scale(p["w_max"], mu_p),
        "A_minus": p["a_minus"] / stdp_amplitude_scale(p["w_max"], mu_m),
    }
    out: dict[str, Any] = {"type": "stdp", "timing": timing, "weight_dependence": wd}
    fraction = _dendritic_delay_fraction(proj, rule)
    if fraction is not None:
        out["dendritic_delay_fraction"] = fraction
    return out


def _dendritic_delay_fraction(proj: Any, rule: Any) -> float | None:
    """PyNN's ``dendritic_delay_fraction`` of an STDP rule with spike delays: its dendritic delay
    over the projection's one delay, which must be the sum of the rule's dendritic and axonal
    delays (PyNN splits the delay in two). None for a rule without spike delays: the export then
    writes PyNN's default 1 (NEST's convention), a pair at lag ``t`` learning as spikeforge's at
    ``t + delay``."""
    axonal, dendritic = rule.spike_delays
    if axonal == 0 and dendritic == 0:
        return None
    steps = np.unique(np.round(_np(proj.delays()) / proj.dt).astype(np.int64))
    spikes = f"STDP dendritic_delay={rule.dendritic_delay:g} ms, axonal_delay={rule.axonal_delay:g} ms"
    if len(steps) > 1:
        raise UnsupportedExportError(
            f"projection {proj.name!r}: {spikes} and delays from {steps.min() * proj.dt:g} to "
            f"{steps.max() * proj.dt:g} ms; PyNN's dendritic_delay_fraction is a fraction of each "
            "synapse's delay, one rule delay per projection is a constant fraction only for one delay: "
            "give the projection one delay"
        )
    total = int(steps[0]) if len(steps) else axonal + dendritic
    if axonal + dendritic != total:
        raise UnsupportedExportError(
            f"projection {proj.name!r}: {spikes} ({dendritic} + {axonal} steps) but a delay of "
            f"{total * proj.dt:g} ms ({total} steps); PyNN splits the delay into dendritic and axonal "
            "parts (dendritic_delay_fraction), so dendritic_delay + axonal_delay must equal the delay"
        )
    return dendritic / total


def _single(values: set[Any], what: str, pop: str, names: list[str]) -> Any:
    if len(values) > 1:
        raise UnsupportedExportError(
            f"population {pop!r}: its {what} inputs ({', '.join(names)}) have different time constants or "
            f"reversal potentials {sorted(values)}; a PyNN standard cell has one per receptor type"
        )
    return next(iter(values), None)


def _neuron_population(
    net: Network,
    name: str,
    chans: list[_Channel],
    currents: dict[str, np.ndarray],
    arrays: _Arrays,
) -> tuple[dict[str, Any], dict[str, list[tuple[str, np.ndarray, str]]]]:
    """The cell type, parameters and initial values of a population, and the receptor of each
    input (``[(receptor, synapse selection, name suffix)]`` per channel)."""
    group = net._groups[name]
    m = group.module
    n = group.n
    if group.batch_params:
        raise UnsupportedExportError(
            f"population {name!r}: per-copy parameters (batch_params) have no PyNN form; export one copy"
        )
    kinds = sorted({c.kind for c in chans})
    state = net.state(name)
    receptors: dict[str, list[tuple[str, np.ndarray, str]]] = {}
    if isinstance(m, ALIF):
        raise UnsupportedExportError(
            f"population {name!r}: ALIF has no PyNN standard cell; its adaptive threshold is neither "
            "EIF_cond_exp_isfa_ista (adaptation current, exponential spike) nor IF_cond_exp_gsfa_grr "
            "(adaptation conductances)"
        )
    if isinstance(m, Izhikevich):
        return _izhikevich(net, name, m, chans, kinds, state, currents, arrays)
    if type(m) is not LIF:
        raise UnsupportedExportError(
            f"population {name!r}: {type(m).__name__} has no PyNN standard cell (LIF and Izhikevich map)"
        )
    if m.reset != "to_value":
        raise UnsupportedExportError(
            f"population {name!r}: LIF(reset={m.reset!r}); PyNN's cells reset to v_reset (reset='to_value')"
        )
    p = m.params(torch.float64)
    r = _np(p.r).reshape(-1)
    if bool(np.any(np.broadcast_to(r, (n,)) <= 0)):
        raise UnsupportedExportError(
            f"population {name!r}: LIF r must be > 0 for PyNN (c_m = tau_mem / r), got min {float(r.min())!r}"
        )
    params: dict[str, Any] = {
        "v_rest": arrays.value(f"{name}.v_rest", p.v_leak, n),
        "v_reset": arrays.value(f"{name}.v_reset", p.v_reset, n),
        "v_thresh": arrays.value(f"{name}.v_thresh", p.v_th, n),
        "tau_m": arrays.value(f"{name}.tau_m", p.tau_mem, n),
        "cm": arrays.value(f"{name}.cm", p.tau_mem / p.r, n),
        # the whole steps the LIF holds (its own count, in its own dtype); NEST rounds tau_refrac
        # up to whole steps, which leaves a whole number of steps unchanged
        "tau_refrac": arrays.value(f"{name}.tau_refrac", _refrac(m, net.dt), n),
    }
    i_off = currents[name]
    initial: dict[str, Any] = {"v": arrays.value(f"{name}.v", state.v, n)}
    if bool(np.any(_np(state.ref) != 0)):
        raise UnsupportedExportError(f"population {name!r}: refractory at the start; PyNN cannot set that")
    names = [c.name for c in chans]
    if m.has_syn:
        if kinds and kinds != ["delta:i"]:
            raise UnsupportedExportError(
                f"population {name!r}: a LIF with tau_syn takes its synaptic input as DeltaSynapse('i') "
                f"(IF_curr_exp); its inputs are {kinds} ({', '.join(names)})"
            )
        if bool(np.any(i_off != 0)):
            raise UnsupportedExportError(
                f"population {name!r}: a current onto a LIF with tau_syn is added to its synaptic current "
                "every step, which no PyNN current source does; give the LIF no tau_syn"
            )
        cell = "IF_curr_exp"
        tau_s = arrays.value(f"{name}.tau_syn", p.tau_syn, n)
        params.update(tau_syn_E=tau_s, tau_syn_I=tau_s)
        i0 = _np(state.i).reshape(-1)
        if bool(np.any(i0 != 0)):
            initial["isyn_exc"] = arrays.value(f"{name}.isyn_exc", np.maximum(i0, 0.0), n)
            initial["isyn_inh"] = arrays.value(f"{name}.isyn_inh", np.minimum(i0, 0.0), n)
        for c in chans:
            receptors[c.name] = _by_sign(c)
    else:
        params["i_offset"] = arrays.value(f"{name}.i_offset", i_off, n)
        if len(kinds) > 1:
            raise UnsupportedExportError(
                f"population {name!r}: no PyNN standard cell takes several kinds of synapse {kinds} "
                f"({', '.join(names)}); use one kind per target population"
            )
        kind = kinds[0] if kinds else "exp"
        if kind.startswith("delta:"):
            if kind != "delta:v":
                raise UnsupportedExportError(
                    f"population {name!r}: DeltaSynapse(target={kind[6:]!r}) onto a LIF without tau_syn; "
                    "PyNN's IF_curr_delta jumps v (DeltaSynapse('v'))"
                )
            cell = "IF_curr_delta"
            for c in chans:
                receptors[c.name] = _by_sign(c)
        elif kind in ("exp", "alpha"):
            cell = "IF_curr_exp" if kind == "exp" else "IF_curr_alpha"
            tau = {"excitatory": set(), "inhibitory": set()}  # type: dict[str, set[float]]
            who = {"excitatory": [], "inhibitory": []}  # type: dict[str, list[str]]
            init = {"excitatory": np.zeros(n), "inhibitory": np.zeros(n)}
            for c in chans:
                receptors[c.name] = _by_sign(c)
                for rec, sel, _ in receptors[c.name]:
                    if sel.any():
                        tau[rec].add(c.tau)
                        who[rec].append(c.name)
                if c.g0 is not None:
                    if len(receptors[c.name]) > 1:
                        raise UnsupportedExportError(
                            f"projection {c.name!r}: an initial synaptic state with weights of both signs "
                            "(two PyNN receptors) cannot be split"
                        )
                    init[receptors[c.name][0][0]] += c.g0
            t_e = _single(tau["excitatory"], "excitatory", name, who["excitatory"])
            t_i = _single(tau["inhibitory"], "inhibitory", name, who["inhibitory"])
            t_e = t_e if t_e is not None else (t_i if t_i is not None else 5.0)
            t_i = t_i if t_i is not None else t_e
            params.update(tau_syn_E=t_e, tau_syn_I=t_i)
            if kind == "exp":
                for rec, key in (("excitatory", "isyn_exc"), ("inhibitory", "isyn_inh")):
                    if bool(np.any(init[rec] != 0)):
                        initial[key] = arrays.value(f"{name}.{key}", init[rec], n)
            elif any(c.g0 is not None for c in chans):
                raise UnsupportedExportError(
                    f"population {name!r}: an initial alpha-synapse state has no PyNN form"
                )
        else:
            cell = "IF_cond_exp" if kind == "cond_exp" else "IF_cond_alpha"
            pairs = sorted({(c.e_rev, c.tau) for c in chans}, reverse=True)
            if len(pairs) > 2:
                raise UnsupportedExportError(
                    f"population {name!r}: {len(pairs)} different (e_rev, tau) of conductance inputs "
                    f"{pairs} ({', '.join(names)}); PyNN's {cell} has two receptor types"
                )
            exc, inh = pairs[0], pairs[-1]
            params.update(e_rev_E=exc[0], tau_syn_E=exc[1], e_rev_I=inh[0], tau_syn_I=inh[1])
            init = {"excitatory": np.zeros(n), "inhibitory": np.zeros(n)}
            for c in chans:
                if c.w.size and float(c.w.min()) < 0:
                    raise UnsupportedExportError(
                        f"projection {c.name!r}: negative conductances (min weight {float(c.w.min())!r}) "
                        "have no PyNN form; conductance weights are >= 0, inhibition comes from e_rev"
                    )
                rec = "excitatory" if (c.e_rev, c.tau) == exc else "inhibitory"
                receptors[c.name] = [(rec, np.ones(c.w.size, dtype=bool), "")]
                if c.g0 is not None:
                    init[rec] += c.g0
            if kind == "cond_exp":
                for rec, key in (("excitatory", "gsyn_exc"), ("inhibitory", "gsyn_inh")):
                    if bool(np.any(init[rec] != 0)):
                        initial[key] = arrays.value(f"{name}.{key}", init[rec], n)
            elif any(c.g0 is not None for c in chans):
                raise UnsupportedExportError(
                    f"population {name!r}: an initial alpha-conductance state has no PyNN form"
                )
    return {"name": name, "n": n, "cell": cell, "params": params, "initial": initial}, receptors


def _by_sign(c: _Channel) -> list[tuple[str, np.ndarray, str]]:
    """PyNN receptors of a current-based input: excitatory for weights >= 0, inhibitory (negative
    weights, as PyNN wants them for current-based cells) for the rest; two projections when both."""
    neg = c.w < 0
    if not neg.any():
        return [("excitatory", ~neg, "")]
    if neg.all():
        return [("inhibitory", neg, "")]
    return [("excitatory", ~neg, ":excitatory"), ("inhibitory", neg, ":inhibitory")]


def _izhikevich(
    net: Network,
    name: str,
    m: Izhikevich,
    chans: list[_Channel],
    kinds: list[str],
    state: Any,
    currents: dict[str, np.ndarray],
    arrays: _Arrays,
) -> tuple[dict[str, Any], dict[str, list[tuple[str, np.ndarray, str]]]]:
    n = net._groups[name].n
    p = m.params(torch.float64)
    if not bool(np.all(_np(p.v_peak) == 30.0)):
        raise UnsupportedExportError(
            f"population {name!r}: Izhikevich v_peak={float(_np(p.v_peak).reshape(-1)[0])!r} mV; PyNN's "
            "Izhikevich cell spikes at 30 mV"
        )
    if kinds and kinds != ["delta:v"]:
        raise UnsupportedExportError(
            f"population {name!r}: PyNN's Izhikevich cell takes delta synapses onto v (DeltaSynapse('v')); "
            f"its inputs are {kinds} ({', '.join(c.name for c in chans)})"
        )
    params = {
        "a": arrays.value(f"{name}.a", p.a, n),
        "b": arrays.value(f"{name}.b", p.b, n),
        "c": arrays.value(f"{name}.c", p.c, n),
        "d": arrays.value(f"{name}.d", p.d, n),
        "i_offset": arrays.value(f"{name}.i_offset", currents[name] / 1000.0, n),
    }
    initial = {"v": arrays.value(f"{name}.v", state.v, n), "u": arrays.value(f"{name}.u", state.u, n)}
    receptors = {c.name: _by_sign(c) for c in chans}
    return {"name": name, "n": n, "cell": "Izhikevich", "params": params, "initial": initial}, receptors


def to_pynn(net: Network, sim: Any, *, setup: bool = True, **setup_kwargs: Any) -> PyNNNetwork:
    """Build ``net`` in the PyNN backend ``sim`` (see the module docstring for the mapping).

    Args:
        net: the network (not yet run).
        sim: a PyNN backend module, e.g. ``pyNN.nest``.
        setup: call ``sim.setup(timestep=net.dt, **setup_kwargs)`` first (default); with False,
            ``sim`` must already be set up with ``timestep=net.dt``.
        setup_kwargs: further arguments of ``sim.setup``.

    Returns:
        a :class:`PyNNNetwork` with ``.populations[name]`` and ``.projections[name]``.

    Raises:
        UnsupportedExportError: a part of the network PyNN cannot express, named.
        ParameterError: ``sim`` is not a PyNN backend module.
    """
    if not all(hasattr(sim, a) for a in ("setup", "Population", "Projection", "FromListConnector")):
        raise ParameterError(f"sim must be a PyNN backend module such as pyNN.nest, got {sim!r}")
    description, arrays = describe(net)
    if getattr(sim, "__name__", "") == "pyNN.nest":
        problem = _pynn_build.nest_first_step_problem(description, arrays)
        if problem:
            raise UnsupportedExportError(problem)
    return _pynn_build.build(sim, description, arrays, setup=setup, **setup_kwargs)


_SCRIPT_MAIN = """

def _load():
    import base64, io, json, zlib

    description = json.loads(DESCRIPTION)
    raw = zlib.decompress(base64.b64decode(ARRAYS))
    with np.load(io.BytesIO(raw)) as f:
        arrays = {k: f[k] for k in f.files}
    return description, arrays


def main(argv=None):
    import argparse
    import importlib

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulator", default="nest", help="PyNN backend: nest, brian2, spiNNaker, ...")
    parser.add_argument("--duration", type=float, default=DURATION, help="ms (default %(default)s)")
    parser.add_argument("--out", default=None, help="write the spike times of every population to this .npz")
    args = parser.parse_args(argv)
    description, arrays = _load()
    if args.simulator == "nest":
        problem = nest_first_step_problem(description, arrays)
        if problem:
            parser.error(problem)
    sim = importlib.import_module(f"pyNN.{args.simulator}")
    net = build(sim, description, arrays)
    for pop in net.populations.values():
        pop.record("spikes")
    sim.run(args.duration)
    spikes = {}
    for name in net.populations:
        trains = net.spike_times(name)
        count = sum(len(t) for t in trains)
        rate = 1000.0 * count / max(len(trains), 1) / args.duration if args.duration > 0 else 0.0
        print(f"{name}: {count} spikes, {rate:.2f} Hz per neuron")
        spikes[name + ".t"] = np.concatenate(trains) if trains else np.empty(0)
        index = [np.full(len(t), k) for k, t in enumerate(trains)]
        spikes[name + ".i"] = np.concatenate(index) if index else np.empty(0)
    if args.out:
        np.savez(args.out, **spikes)
    sim.end()


if __name__ == "__main__":
    main()
"""


def to_pynn_script(net: Network, path: str | Path, *, duration: float = 1000.0) -> Path:
    """Write a standalone PyNN script that builds ``net`` (numpy and PyNN only, no spikeforge).

    ``python script.py --simulator nest --duration 1000 --out spikes.npz`` builds the network,
    records the spikes of every population, runs it and prints the rates (spike times as
    spikeforge stamps them, PyNN's minus ``time_offset``). The arrays (connections, per-neuron
    parameters) are embedded, compressed, so the script is one file.

    Args:
        net: the network (not yet run).
        path: the script to write (``.py``).
        duration: default simulated time of the script in ms.

    Returns:
        the path written.

    Raises:
        UnsupportedExportError: a part of the network PyNN cannot express, named.
        ParameterError: a duration that is not a finite number >= 0.

    The script refuses ``--simulator nest`` (exit status 2, the message of ``to_pynn``) for a
    network that ``to_pynn(pyNN.nest)`` refuses: a spike-source spike on the first step.

    Example:
        >>> import tempfile, pathlib
        >>> from spikeforge.circuits import builders
        >>> net = builders.cuba(n=50, p=0.2, delay=0.1, seed=0)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = net.to_pynn_script(pathlib.Path(d) / "cuba.py", duration=200.0)
        ...     print(path.read_text().splitlines()[0].strip('"'))
        PyNN network exported by spikeforge (dt = 0.1 ms): exc (IF_curr_exp, 40), inh (IF_curr_exp, 10).
    """
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not duration >= 0:
        raise ParameterError(f"duration must be a number >= 0 ms, got {duration!r}")
    if not math.isfinite(duration):
        raise ParameterError(f"duration must be finite, got {duration!r}")
    import zlib

    description, arrays = describe(net)
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    blob = base64.b64encode(zlib.compress(buf.getvalue(), 9)).decode("ascii")
    lines = [blob[k : k + 100] for k in range(0, len(blob), 100)]
    builder = inspect.getsource(_pynn_build)
    builder = builder.split('"""', 2)[2]  # drop the module docstring, keep the code
    populations = ", ".join(f"{p['name']} ({p['cell']}, {p['n']})" for p in description["populations"])
    header = (
        f'"""PyNN network exported by spikeforge (dt = {description["dt"]} ms): {populations}.\n\n'
        "Run: python this_script.py --simulator nest --duration MS [--out spikes.npz]\n"
        "Needs numpy and PyNN with a backend (pyNN.nest, pyNN.spiNNaker, ...), not spikeforge.\n"
        "Spike times printed and saved are PyNN's minus time_offset (= dt): spikeforge's stamps.\n"
        '"""\n'
    )
    body = (
        header
        + builder
        + "\n\nDURATION = "
        + repr(float(duration))
        + "\nDESCRIPTION = "
        + repr(json.dumps(description, indent=1))
        + "\nARRAYS = (\n"
        + "\n".join(f'    "{ln}"' for ln in lines)
        + "\n)\n"
        + _SCRIPT_MAIN
    )
    out = Path(path)
    out.write_text(body)
    return out
