"""``spikeforge.pynn`` pieces that PyNN's example scripts use: ``run(callbacks=...)``,
``Projection.get`` of one name without address (plain values), per-neuron parameter lists,
``initial_values``, spike times as a function of the indices, ``Assembly.get_data`` with
membranes, ``write_data``, ``num_processes``/``rank``."""

from __future__ import annotations

import numpy as np
import pytest

import spikeforge.pynn as sim


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
