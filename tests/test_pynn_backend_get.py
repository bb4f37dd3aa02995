"""spikeforge.pynn: ``Projection.get`` before the first run (it builds the network; recording can
still be asked for, as PyNN's ``inhomogeneous_network.py`` does) and distance expressions for
weights and delays, against pyNN.nest where installed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import spikeforge.pynn as sfp
from spikeforge.errors import ParameterError


def _distance_network(sim: Any) -> Any:
    Grid2D = pytest.importorskip("pyNN.space").Grid2D if sim is not sfp else sfp.Grid2D  # noqa: N806
    sim.setup(timestep=0.1, min_delay=0.1) if sim is not sfp else sim.setup(timestep=0.1)
    src = sim.Population(4, sim.SpikeSourceArray(spike_times=[1.0]))
    cells = sim.Population(9, sim.IF_curr_exp(), structure=Grid2D(dx=100.0, dy=50.0))
    return sim.Projection(
        src, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight="1/(1+d)", delay="0.1 + d/100")
    )


def test_get_before_run_then_record_and_run() -> None:
    """get before run draws the synapses once: the same after the run; record after get works."""
    sfp.setup(timestep=0.1)
    src = sfp.Population(3, sfp.SpikeSourceArray(spike_times=[[1.0], [2.0], [3.0]]))
    cells = sfp.Population(3, sfp.IF_curr_exp())
    prj = sfp.Projection(
        src, cells, sfp.FixedProbabilityConnector(0.5), sfp.StaticSynapse(weight=5.0, delay=1.0)
    )
    before = prj.get("weight", format="list")
    cells.record("spikes")
    sfp.run(20.0)
    assert prj.get("weight", format="list") == before
    spiking = {j for _, j, _ in before}
    trains = cells.get_data().segments[0].spiketrains
    assert {k for k, t in enumerate(trains) if len(t)} == spiking
    with pytest.raises(ParameterError, match="record.*t = 20.0"):
        cells.record("v")
    sfp.end()


def test_distance_expression_errors_name_the_value() -> None:
    sfp.setup(timestep=0.1)
    a = sfp.Population(2, sfp.SpikeSourceArray(spike_times=[1.0]))
    b = sfp.Population(2, sfp.IF_curr_exp())
    prj = sfp.Projection(a, b, sfp.AllToAllConnector(), sfp.StaticSynapse(weight="1/d"))
    with pytest.raises(ParameterError, match="weight='1/d'.*non-finite"):
        prj.get("weight")
    sfp.end()
    sfp.setup(timestep=0.1)
    a = sfp.Population(2, sfp.SpikeSourceArray(spike_times=[1.0]))
    prj = sfp.Projection(a, a, sfp.AllToAllConnector(), sfp.StaticSynapse(weight="open('x')"))
    with pytest.raises(ParameterError, match="not an expression of the distance d"):
        prj.get("weight")
    sfp.end()


def test_distance_expressions_equal_pynn_nest() -> None:
    """Weights and delays from expressions in d: the arrays pyNN.nest gives (float32 in NEST)."""
    nest_sim = pytest.importorskip("pyNN.nest", reason="needs PyNN and NEST: pip install 'spikeforge[pynn]'")
    theirs = _distance_network(nest_sim)
    w_nest, d_nest = theirs.get(["weight", "delay"], format="array")
    nest_sim.end()
    ours = _distance_network(sfp)
    w, d = ours.get(["weight", "delay"], format="array")
    sfp.end()
    assert np.nanmin(w) < 0.01 < np.nanmax(w)
    np.testing.assert_allclose(w, w_nest, rtol=1e-6)
    np.testing.assert_allclose(d, d_nest, rtol=0, atol=1e-9)


def test_mean_spike_count_and_describe() -> None:
    sfp.setup(timestep=0.1)
    src = sfp.Population(2, sfp.SpikeSourceArray(spike_times=[[1.0, 2.0], [3.0]]), label="in")
    src.record("spikes")
    sfp.run(5.0)
    assert src.mean_spike_count() == 1.5
    assert src.describe().splitlines() == [
        "Population 'in' of 2 SpikeSourceArray cells, recording spikes",
        "  spike_times = [[1.0, 2.0], [3.0]]",
    ]
    sfp.end()
