"""``spikeforge.pynn``: ``DCSource`` and the ``FixedNumberPre``/``FixedNumberPost`` connectors, each
run by one PyNN script on spikeforge and on pyNN.nest."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest
import torch

import spikeforge.pynn as sfsim
from spikeforge.errors import ParameterError, UnsupportedExportError

logging.getLogger("PyNN").setLevel(logging.ERROR)


def _nest() -> Any:
    return pytest.importorskip("pyNN.nest", reason="needs PyNN and NEST: pip install 'spikeforge[pynn]'")


def _trains(pop: Any) -> list[np.ndarray]:
    trains = pop.get_data().segments[0].spiketrains
    return [np.asarray(t.magnitude) for t in sorted(trains, key=lambda s: s.annotations["source_index"])]


def _dc_script(sim: Any, dt: float, stop: float, **setup: Any) -> dict[str, list[np.ndarray]]:
    """DC steps into LIF and Izhikevich cells, by inject_into and by Population.inject."""
    sim.setup(timestep=dt, **setup)
    lif = sim.Population(2, sim.IF_curr_exp(tau_m=10.0, cm=0.5, tau_refrac=2.0, v_thresh=-55.0), label="lif")
    lif.initialize(v=np.array([-65.0, -60.0]))
    izh = sim.Population(1, sim.Izhikevich(a=0.02, b=0.2, c=-65.0, d=2.0), label="izh")
    sim.DCSource(amplitude=1.2, start=10.0, stop=stop).inject_into(lif)
    lif.inject(sim.DCSource(amplitude=-0.4, start=30.0))  # to the end of the run
    izh.inject(sim.DCSource(amplitude=0.01, start=5.0, stop=50.0))
    lif.record("spikes")
    izh.record("spikes")
    sim.run(90.0)
    out = {"lif": _trains(lif), "izh": _trains(izh)}
    sim.end()
    return out


@pytest.mark.parametrize(("dt", "stop"), [(0.1, 54.2), (0.25, 54.75)])
def test_dc_source_gives_nests_spikes(dt: float, stop: float) -> None:
    """``stop`` is the start of the step in which the first cell would cross threshold again: the
    current is off in that step (in NEST too), so that spike does not happen."""
    nest = _nest()
    ours = _dc_script(sfsim, dt, stop)
    theirs = _dc_script(nest, dt, stop, spike_precision="on_grid", min_delay=dt)
    for name in ours:
        for a, b in zip(ours[name], theirs[name]):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-9, err_msg=name)
    assert all(len(t) >= 3 for t in ours["lif"] + ours["izh"])
    # the currents switch on and off: no spikes before a source starts or long after it stops
    assert min(t.min() for t in ours["lif"]) > 10.0 and ours["izh"][0].min() > 5.0
    assert ours["lif"][0].max() < stop and ours["izh"][0].max() < 55.0


def _fixed_number_script(sim: Any, **setup: Any) -> dict[str, list[np.ndarray]]:
    """Sources with identical trains, so that a cell's input depends only on how many sources it
    has: FixedNumberPre gives every cell n of them (all alike), FixedNumberPost from one source
    reaches n cells (n alike, the others silent)."""
    sim.setup(timestep=0.1, **setup)
    times = [5.0, 6.0, 20.0, 21.0, 22.0, 40.0]
    src = sim.Population(20, sim.SpikeSourceArray(spike_times=times), label="src")
    one = sim.Population(1, sim.SpikeSourceArray(spike_times=times), label="one")
    cell = sim.IF_curr_exp(tau_m=10.0, cm=0.25, tau_refrac=2.0, v_thresh=-58.0, tau_syn_E=2.0)
    pre_cells = sim.Population(10, cell, label="pre_cells")
    post_cells = sim.Population(12, cell, label="post_cells")
    sim.Projection(src, pre_cells, sim.FixedNumberPreConnector(5), sim.StaticSynapse(weight=0.2, delay=1.0))
    sim.Projection(one, post_cells, sim.FixedNumberPostConnector(4), sim.StaticSynapse(weight=1.0, delay=0.5))
    pre_cells.record("spikes")
    post_cells.record("spikes")
    sim.run(60.0)
    out = {"pre_cells": _trains(pre_cells), "post_cells": _trains(post_cells)}
    sim.end()
    return out


def test_fixed_number_connectors_give_nests_spikes() -> None:
    nest = _nest()
    ours = _fixed_number_script(sfsim)
    theirs = _fixed_number_script(nest, spike_precision="on_grid", min_delay=0.1)
    # FixedNumberPre: every cell has 5 inputs, so every cell fires NEST's train
    assert len(ours["pre_cells"][0]) >= 2
    for a, b in zip(ours["pre_cells"], theirs["pre_cells"]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    # FixedNumberPost: 4 of the 12 cells fire (which ones is each simulator's draw), alike
    for trains in (ours["post_cells"], theirs["post_cells"]):
        assert sum(len(t) > 0 for t in trains) == 4
    fired = [t for t in ours["post_cells"] if len(t)]
    nest_fired = [t for t in theirs["post_cells"] if len(t)]
    for a, b in zip(fired, nest_fired):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


@pytest.mark.parametrize("replace", [False, True])
def test_fixed_number_pairs(replace: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    pre, post = sfsim.FixedNumberPreConnector(5, with_replacement=replace).pairs(20, 30, False, gen)
    assert np.array_equal(np.bincount(post, minlength=30), np.full(30, 5))
    assert pre.min() >= 0 and pre.max() < 20
    if not replace:  # five distinct sources per target
        assert all(len(set(pre[post == j])) == 5 for j in range(30))
    pre, post = sfsim.FixedNumberPostConnector(7, with_replacement=replace).pairs(20, 30, False, gen)
    assert np.array_equal(np.bincount(pre, minlength=20), np.full(20, 7))
    assert post.min() >= 0 and post.max() < 30
    # recurrent, no self-connections: n = all others is allowed and gives exactly the others
    conn = sfsim.FixedNumberPreConnector(9, allow_self_connections=False, with_replacement=replace)
    pre, post = conn.pairs(10, 10, True, gen)
    assert not np.any(pre == post)
    if not replace:
        assert len(set(zip(pre.tolist(), post.tolist()))) == 90
    pre, post = sfsim.FixedNumberPostConnector(3, allow_self_connections=False).pairs(10, 10, True, gen)
    assert not np.any(pre == post) and np.array_equal(np.bincount(pre, minlength=10), np.full(10, 3))
    # the draw covers every source (not always the first ones)
    pre, _ = sfsim.FixedNumberPreConnector(2, with_replacement=replace).pairs(20, 200, False, gen)
    assert len(np.unique(pre)) == 20


def test_bad_input_is_named() -> None:
    with pytest.raises(ParameterError, match="FixedNumberPreConnector: n must be an int >= 0, got -1"):
        sfsim.FixedNumberPreConnector(-1)
    with pytest.raises(ParameterError, match="FixedNumberPostConnector: n must be an int >= 0, got 2.5"):
        sfsim.FixedNumberPostConnector(2.5)  # type: ignore[arg-type]
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(ParameterError, match="n = 10 .* there are 9 \\(self-connections excluded\\)"):
        sfsim.FixedNumberPreConnector(10, allow_self_connections=False).pairs(10, 10, True, gen)
    with pytest.raises(AttributeError, match="spikeforge.pynn does not implement PyNN.s HH_cond_exp"):
        _ = sfsim.HH_cond_exp  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="has no attribute 'Nonsense'"):
        _ = sfsim.Nonsense  # type: ignore[attr-defined]
    with pytest.raises(ParameterError, match="amplitude must be a finite number, got nan"):
        sfsim.DCSource(amplitude=float("nan"))
    with pytest.raises(ParameterError, match="start <= stop"):
        sfsim.DCSource(start=10.0, stop=5.0)
    sfsim.setup(timestep=0.1)
    src = sfsim.Population(1, sfsim.SpikeSourcePoisson(rate=5.0), label="noise")
    with pytest.raises(UnsupportedExportError, match="'noise': a current cannot be injected into a spike"):
        sfsim.DCSource().inject_into(src)
    cells = sfsim.Population(1, sfsim.IF_curr_exp())
    with pytest.raises(UnsupportedExportError, match="current source ACSource"):
        cells.inject(type("ACSource", (), {})())  # type: ignore[arg-type]
    sfsim.run(1.0)
    with pytest.raises(ParameterError, match="inject before"):
        cells.inject(sfsim.DCSource())
    sfsim.end()


def _assembly_script(sim: Any, **setup: Any) -> dict[tuple[str, int], np.ndarray]:
    """An assembly of two cell types as target (FromList with assembly indices) and as source,
    recorded and read through the assembly."""
    sim.setup(timestep=0.1, **setup)
    src = sim.Population(
        3, sim.SpikeSourceArray(spike_times=[[5.0, 6.0, 30.0], [12.0, 13.0], [20.0, 40.0, 41.0]]), label="src"
    )
    a = sim.Population(2, sim.IF_curr_exp(tau_m=10.0, cm=0.25, v_thresh=-58.0, tau_refrac=2.0), label="a")
    b = sim.Population(3, sim.IF_curr_alpha(tau_m=12.0, cm=0.25, v_thresh=-58.0, tau_syn_E=1.0), label="b")
    iz = sim.Population(1, sim.Izhikevich(), label="iz")
    ab = a + b
    conn = [
        (0, 0, 1.5, 1.0),
        (1, 1, 1.5, 2.0),
        (0, 2, 1.0, 1.0),
        (1, 3, 1.2, 0.5),
        (2, 4, 1.5, 1.5),
        (2, 0, 1.5, 1.0),
    ]
    sim.Projection(src, ab, sim.FromListConnector(conn, column_names=["weight", "delay"]))
    sim.Projection(ab, iz, sim.AllToAllConnector(), sim.StaticSynapse(weight=8.0, delay=1.0))
    ab.inject(sim.DCSource(amplitude=0.05, start=0.0))
    everything = ab + iz
    everything.record("spikes")
    sim.run(60.0)
    trains = everything.get_data().segments[0].spiketrains
    out = {
        (t.annotations["source_population"], int(t.annotations["source_index"])): np.asarray(t)
        for t in trains
    }
    sim.end()
    return out


def test_assembly_gives_nests_spikes() -> None:
    nest = _nest()
    ours = _assembly_script(sfsim)
    theirs = _assembly_script(nest, spike_precision="on_grid", min_delay=0.1)
    assert (
        sorted(ours)
        == sorted(theirs)
        == sorted([("a", 0), ("a", 1), ("b", 0), ("b", 1), ("b", 2), ("iz", 0)])
    )
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=0, atol=1e-9, err_msg=str(key))
    assert all(len(t) > 0 for t in ours.values())


def test_assembly_bad_input() -> None:
    sfsim.setup(timestep=0.1)
    a = sfsim.Population(2, sfsim.IF_curr_exp(), label="a")
    with pytest.raises(ParameterError, match="a population appears twice"):
        _ = a + a
    with pytest.raises(
        ParameterError, match="Assembly takes spikeforge.pynn populations or assemblies, got int"
    ):
        sfsim.Assembly(a, 3)  # type: ignore[arg-type]
    with pytest.raises(
        ParameterError,
        match="the postsynaptic population must be a Population, a PopulationView or an Assembly",
    ):
        sfsim.Projection(a, [a], sfsim.AllToAllConnector())  # type: ignore[arg-type]
    src = sfsim.Population(1, sfsim.SpikeSourcePoisson(rate=5.0), label="noise")
    sfsim.Projection(a, a + src, sfsim.AllToAllConnector())
    with pytest.raises(UnsupportedExportError, match="SpikeSourcePoisson \\('noise'\\) cannot be a target"):
        sfsim.run(1.0)
    sfsim.end()
