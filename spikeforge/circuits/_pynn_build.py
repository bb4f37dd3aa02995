"""Build a PyNN network from a plain description (the second half of
:mod:`spikeforge.circuits.pynn_export`).

This module imports nothing of spikeforge (only numpy and the standard library): its source is
copied verbatim into the scripts that ``Network.to_pynn_script`` writes, so that the same code
builds the network in ``Network.to_pynn`` and in a standalone script.

The description is a dict of plain values (JSON) plus a dict of numpy arrays. A parameter value
is either a number or the string ``"@key"``, which names an array of ``arrays``. Units are
PyNN's: ms, mV, nA, nF, µS, Hz.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FORMAT = "spikeforge-pynn/1"


class PyNNNetwork:
    """The PyNN objects of an exported network.

    Attributes:
        sim: the PyNN backend module (``pyNN.nest``, ...).
        populations: PyNN ``Population`` per spikeforge population or input group name (a Poisson
            input of ``add_poisson_input`` is a ``SpikeSourcePoisson`` population of its name).
        projections: PyNN ``Projection`` per spikeforge projection name; a current-based
            projection with weights of both signs becomes two, ``"name:excitatory"`` and
            ``"name:inhibitory"``; a Poisson input's projection has the input's name.
        current_sources: the ``StepCurrentSource`` s of time-varying currents.
        time_offset: ms added to every spike time by the export (PyNN stamps a spike at the end
            of the step in which the threshold was crossed, spikeforge at its start): subtract it
            from PyNN's spike times to compare them with spikeforge's.
        description: the description the network was built from.
    """

    def __init__(self, sim: Any, description: dict[str, Any]) -> None:
        self.sim = sim
        self.description = description
        self.populations: dict[str, Any] = {}
        self.projections: dict[str, Any] = {}
        self.current_sources: list[Any] = []
        self.time_offset = float(description["time_offset"])

    def spike_times(self, name: str) -> list[np.ndarray]:
        """Spike times (ms, spikeforge's convention: ``time_offset`` subtracted) of each neuron of
        population ``name``, recorded with ``populations[name].record("spikes")``."""
        block = self.populations[name].get_data("spikes", clear=False)
        trains = block.segments[-1].spiketrains
        out = [np.empty(0) for _ in range(self.populations[name].size)]
        for k, st in enumerate(trains):
            idx = st.annotations.get("source_index", k)
            out[int(idx)] = np.asarray(st.magnitude, dtype=np.float64) - self.time_offset
        return out


def _value(v: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(v, str) and v.startswith("@"):
        return np.asarray(arrays[v[1:]])
    return v


def _values(d: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    return {k: _value(v, arrays) for k, v in d.items()}


def _spike_times(sim: Any, spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> list[Any]:
    times = np.asarray(arrays[spec["times"][1:]], dtype=np.float64)
    counts = np.asarray(arrays[spec["counts"][1:]], dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return [sim.Sequence(times[bounds[k] : bounds[k + 1]]) for k in range(len(counts))]


def nest_first_step_problem(description: dict[str, Any], arrays: dict[str, np.ndarray]) -> str | None:
    """Why pyNN.nest cannot run ``description``, or None: pyNN.nest sends a ``SpikeSourceArray``'s
    spikes through a parrot neuron one ``min_delay`` (= dt) earlier, so a spike on spikeforge's
    first step (PyNN's stamp dt) would be emitted at 0 ms, which NEST refuses. ``to_pynn`` and the
    exported script both refuse such a network for NEST with this message."""
    dt = float(description["dt"])
    for pop in description["populations"]:
        if "spike_times" not in pop:
            continue
        times = np.asarray(arrays[pop["spike_times"]["times"][1:]], dtype=np.float64)
        if len(times) and float(times.min()) < 1.5 * dt:
            return (
                f"spike source {pop['name']!r}: a spike on the first step (t = 0 ms); pyNN.nest "
                f"emits a SpikeSourceArray's spikes one step (dt = {dt} ms) early and NEST cannot "
                "emit one at 0 ms: move it to t >= dt"
            )
    return None


def _synapse(sim: Any, spec: dict[str, Any], post: Any) -> Any:
    if spec["type"] == "static":
        return sim.StaticSynapse()
    timing = sim.SpikePairRule(**spec["timing"])
    wd_spec = dict(spec["weight_dependence"])
    wd_type = wd_spec.pop("type")
    scale = getattr(post.celltype, "receptor_scale", None)
    if getattr(sim, "__name__", "") == "pyNN.nest" and scale is not None:
        # pyNN.nest 0.13 scales the weights onto IF_curr_delta and Izhikevich cells (mV) by
        # receptor_scale but not the STDP bound w_max: scale it here
        wd_spec["w_max"] = wd_spec["w_max"] * scale
    wd = getattr(sim, wd_type)(**wd_spec)
    # pyNN.nest 0.13 drops mu_plus and mu_minus of GutigWeightDependence (its __init__ passes
    # only w_min and w_max on): set them again
    for key in ("mu_plus", "mu_minus"):
        if key in wd_spec and key in wd.parameter_space.keys():
            wd.parameter_space.update(**{key: wd_spec[key]})
    # PyNN's default dendritic_delay_fraction (1) unless spikeforge's rule gives one
    extra = {k: spec[k] for k in ("dendritic_delay_fraction",) if k in spec}
    return sim.STDPMechanism(timing_dependence=timing, weight_dependence=wd, weight=0.0, delay=None, **extra)


def _nest_initialize(p: Any, n: int, initial: dict[str, Any]) -> None:
    """Set initial values in NEST directly: pyNN.nest 0.13 loses some (``IF_curr_delta`` has no
    variable map, so ``v`` is dropped; scaled variables such as ``gsyn_exc``, µS, reach NEST's
    ``g_ex``, nS, unscaled)."""
    cell = p.celltype
    names = getattr(cell, "variable_map", {"v": "V_m"})
    scale = getattr(cell, "scale_factors", {})
    for var, value in initial.items():
        native = names.get(var, var)
        v = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)) / float(scale.get(var, 1.0))
        try:
            p.node_collection.set({native: [float(x) for x in v]})
        except Exception as e:  # NEST's own error type
            raise ValueError(
                f"population {p.label!r}: NEST cannot set the initial value of {native} ({var}): {e}"
            ) from e


def _nest_grid_generators(sim: Any) -> None:
    """With pyNN.nest on the grid (``spike_precision="on_grid"``, whoever called ``setup``), make
    NEST's spike generators grid-constrained: pyNN.nest makes them precise, and a precise generator
    fires a time such as 4.6 ms one step late (NEST converts it to tics with a rounding error past
    the step), where spikeforge and the grid-constrained generator fire it on its step."""
    if getattr(getattr(sim, "simulator", None), "state", None) is None:
        return
    if getattr(sim.simulator.state, "spike_precision", "") != "on_grid":
        return
    import nest

    nest.SetDefaults("spike_generator", {"precise_times": False})


def build(
    sim: Any,
    description: dict[str, Any],
    arrays: dict[str, np.ndarray],
    *,
    setup: bool = True,
    **setup_kwargs: Any,
) -> PyNNNetwork:
    """Create the populations and projections of ``description`` in the PyNN backend ``sim``.

    Args:
        sim: a PyNN backend module (``pyNN.nest``, ``pyNN.brian2``, ``pyNN.spiNNaker``, ...).
        description: the network (see :func:`spikeforge.circuits.pynn_export.describe`).
        arrays: the arrays the description names with ``"@key"``.
        setup: call ``sim.setup(timestep=dt, **setup_kwargs)`` first; with False the caller has
            called it, with the network's ``dt`` as the timestep.
        setup_kwargs: further arguments of ``sim.setup`` (``min_delay``, ``threads``, ...).

    Returns:
        the :class:`PyNNNetwork`.
    """
    if description.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} description: format {description.get('format')!r}")
    dt = float(description["dt"])
    if setup:
        # the shortest delay spikeforge exports is one step; an explicit min_delay also keeps
        # pyNN.nest's SpikeSourceArray (spike generator -> parrot neuron) exact: "auto" moves its
        # spikes by the network's shortest delay
        setup_kwargs.setdefault("min_delay", dt)
        if getattr(sim, "__name__", "") == "pyNN.nest":
            # NEST's grid-constrained models (iaf_psc_exp, ...) integrate as spikeforge does; PyNN's
            # default for NEST is the off-grid ones (iaf_psc_exp_ps, spike times between steps)
            setup_kwargs.setdefault("spike_precision", "on_grid")
        sim.setup(timestep=dt, **setup_kwargs)
    if getattr(sim, "__name__", "") == "pyNN.nest":
        _nest_grid_generators(sim)
    if not setup:
        step = float(sim.get_time_step())
        if abs(step - dt) > 1e-9 * dt:
            raise ValueError(
                f"the PyNN simulator was set up with timestep={step} ms but the network's dt is "
                f"{dt} ms; call sim.setup(timestep={dt}) or pass setup=True"
            )
    net = PyNNNetwork(sim, description)
    for pop in description["populations"]:
        cell = getattr(sim, pop["cell"])
        params = _values(pop["params"], arrays)
        if pop["cell"] == "SpikeSourceArray":
            params = {"spike_times": _spike_times(sim, pop["spike_times"], arrays)}
        p = sim.Population(int(pop["n"]), cell(**params), label=pop["name"])
        initial = _values(pop.get("initial", {}), arrays)
        if initial:
            p.initialize(**initial)
            if getattr(sim, "__name__", "") == "pyNN.nest":
                _nest_initialize(p, int(pop["n"]), initial)
        if "positions" in pop:
            p.positions = np.asarray(arrays[pop["positions"][1:]], dtype=np.float64)
        net.populations[pop["name"]] = p
    for sc in description.get("step_currents", []):
        cells = net.populations[sc["target"]]
        if sc.get("indices") is not None:
            cells = cells[[int(i) for i in arrays[sc["indices"][1:]]]]
        source = sim.StepCurrentSource(
            times=[float(t) for t in arrays[sc["times"][1:]]],
            amplitudes=[float(a) for a in arrays[sc["amplitudes"][1:]]],
        )
        source.inject_into(cells)
        net.current_sources.append(source)
    for proj in description["projections"]:
        conn = np.asarray(arrays[proj["connections"][1:]], dtype=np.float64)
        if conn.shape[0] == 0:
            continue  # PyNN cannot make an empty projection
        connector = sim.FromListConnector(conn, column_names=["weight", "delay"])
        net.projections[proj["name"]] = sim.Projection(
            net.populations[proj["pre"]],
            net.populations[proj["post"]],
            connector,
            synapse_type=_synapse(sim, proj["synapse"], net.populations[proj["post"]]),
            receptor_type=proj["receptor_type"],
            label=proj["name"],
        )
    return net
