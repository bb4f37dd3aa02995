"""``spikeforge.pynn`` pieces that PyNN's example scripts use: ``run(callbacks=...)``,
``Projection.get`` of one name without address (plain values), per-neuron parameter lists,
``initial_values``, spike times as a function of the indices, ``Assembly.get_data`` with
membranes, ``write_data``, ``num_processes``/``rank``, ``PopulationView`` (against pyNN.nest)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import spikeforge.pynn as sim
from spikeforge.errors import UnsupportedExportError


def test_callbacks_are_called_at_the_times_they_ask_for() -> None:
    sim.setup(timestep=0.1)
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=lambda i: [[1.0 + k] for k in i]))
    cell = sim.Population(1, sim.IF_curr_exp())
    prj = sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(0.5, 1.0))
    calls: list[float] = []

    def every_3ms(t: float) -> float:
        calls.append(t)
        return t + 3.0

    def once(t: float) -> float:
        calls.append(-t)
        return 1e9

    assert sim.run(10.0, callbacks=[every_3ms, once]) == pytest.approx(10.0)
    assert calls[:2] == [0.0, -0.0] and [round(c, 6) for c in calls[2:]] == [3.0, 6.0, 9.0]
    assert prj.get("weight", format="list", with_address=False) == [0.5, 0.5]
    assert prj.get(["weight"], format="list", with_address=False) == [(0.5,), (0.5,)]
    assert sim.num_processes() == 1 and sim.rank() == 0
    sim.end()


def test_per_neuron_parameters_and_initial_values(tmp_path) -> None:
    pytest.importorskip("neo", reason="get_data needs neo (installed with PyNN)")
    sim.setup(timestep=0.1)
    a = sim.Population(
        2, sim.IF_curr_exp(tau_m=[10.0, 20.0], i_offset=[0.0, 1.0]), initial_values={"v": [-65.0, -55.0]}
    )
    b = sim.Population(2, sim.Izhikevich(i_offset=[0.0, 0.002]), initial_values={"v": [-70.0, -67.0]})
    both = a + b
    both.record("v")
    sim.run(5.0)
    v = np.asarray(both.get_data().segments[0].filter(name="v")[0].magnitude)
    assert v.shape == (50, 4)
    np.testing.assert_allclose(v[0], [-65.0, -55.0, -70.0, -67.0], atol=2.0)
    # cell 0 of a has no current and starts at rest: it stays; cell 1 (1 nA, 20 ms) rises
    assert abs(v[-1, 0] + 65.0) < 1e-9 and v[-1, 1] > v[0, 1]
    both.write_data(str(tmp_path / "out" / "v.pkl"))
    assert (tmp_path / "out" / "v.pkl").stat().st_size > 0
    sim.end()


def _view_script(sim_: Any, **setup: Any) -> tuple[list[np.ndarray], list[Any]]:
    """Views as a projection's source and target (out of order), a DC current into a view, data of
    a view."""
    sim_.setup(timestep=0.1, **setup)
    src = sim_.Population(4, sim_.SpikeSourceArray(spike_times=[[5.0, 6.0], [20.0], [30.0, 31.0], [50.0]]))
    cells = sim_.Population(5, sim_.IF_curr_exp(tau_m=10.0, cm=0.25, tau_refrac=2.0, v_thresh=-58.0))
    cells.initialize(v=np.array([-65.0, -65.0, -65.0, -60.0, -60.0]))  # pyNN.nest 0.13: not on views
    prj = sim_.Projection(
        src[[2, 0]], cells[[4, 1]], sim_.OneToOneConnector(), sim_.StaticSynapse(weight=0.6, delay=1.0)
    )
    sim_.DCSource(amplitude=0.3, start=10.0, stop=60.0).inject_into(cells[2:3])
    cells.record("spikes")
    sim_.run(70.0)
    trains = [np.asarray(t.magnitude) for t in cells[1:5].get_data().segments[0].spiketrains]
    out = trains, sorted(prj.get("weight", format="list"))
    sim_.end()
    return out


def test_population_views_give_nests_spikes() -> None:
    nest = pytest.importorskip("pyNN.nest", reason="needs PyNN and NEST: pip install 'spikeforge[pynn]'")
    ours, weights = _view_script(sim)
    theirs, nest_weights = _view_script(nest, spike_precision="on_grid", min_delay=0.1)
    assert len(ours) == len(theirs) == 4
    for a, b in zip(ours, theirs):
        assert len(a) == len(b)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    # cells 1 (from source 0), 2 (the current) and 4 (from source 2) fire; cell 3 does not
    assert [len(t) > 0 for t in ours] == [True, True, False, True]
    assert weights == nest_weights == [(0, 0, 0.6), (1, 1, 0.6)]
    sim.setup(timestep=0.1)
    pop = sim.Population(3, sim.IF_curr_exp())
    pop[1:3].initialize(v=-60.0)  # spikeforge.pynn initializes views (pyNN.nest 0.13 cannot)
    assert pop.initial["v"].tolist() == [-65.0, -60.0, -60.0]
    with pytest.raises(UnsupportedExportError, match="single cells"):
        pop[0]
    sim.end()
