"""``Network.to_pynn``: ``TimedArray`` currents become PyNN ``StepCurrentSource`` s and population
positions PyNN ``positions``; in NEST (pyNN.nest) the spikes are those of spikeforge."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import Network, TimedArray
from spikeforge.errors import UnsupportedExportError

sim = pytest.importorskip("pyNN.nest", reason="needs PyNN and NEST: pip install 'spikeforge[pynn]'")

pytestmark = [pytest.mark.reference, pytest.mark.filterwarnings("ignore::UserWarning")]


def _trains(net: Network, duration: float) -> tuple[dict, dict]:
    names = net.population_names
    h = net.to_pynn(sim)
    for p in names:
        h.populations[p].record("spikes")
    sim.run(duration)
    nest_trains = {p: h.spike_times(p) for p in names}
    sim.end()
    recs = {p: net.record_spikes(p) for p in names}
    net.run(duration, progress=False)
    ours = {}
    for p in names:
        t, i = np.asarray(recs[p].t), np.asarray(recs[p].i)
        ours[p] = [np.sort(t[i == k]) for k in range(net.neurons[p].n)]
    return nest_trains, ours


@pytest.mark.parametrize(("dt", "table_dt"), [(0.1, 5.0), (0.25, 2.6)])
def test_timed_array_currents_give_nests_spikes(dt: float, table_dt: float) -> None:
    """Per-neuron rows (two distinct columns and a silent one) onto a LIF, one shared row onto an
    Izhikevich neuron; table_dt = 2.6 at dt = 0.25 puts row boundaries between steps."""
    net = Network(dt=dt, seed=0, dtype=torch.float64)
    lif = sf.neurons.LIF(3, tau_mem=10.0, v_leak=-65.0, v_th=-50.0, v_reset=-70.0, t_ref=2.0, r=10.0, dt=dt)
    net.add_population("lif", lif, positions=torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]))
    izh = sf.neurons.Izhikevich(1, dt=dt, integrator="euler")
    net.add_population("izh", izh)
    gen = torch.Generator().manual_seed(1)
    rows = 40
    a = 1.2 + 2.0 * torch.rand(rows, generator=gen, dtype=torch.float64)
    b = 1.5 + 2.0 * torch.rand(rows, generator=gen, dtype=torch.float64)
    a[0] = b[0] = 0.0  # NEST starts a source at 2 dt at the earliest
    net.add_current("steps", "lif", TimedArray(torch.stack([a, b, torch.zeros(rows)], 1), dt=table_dt))
    net.add_current("izh_steps", "izh", TimedArray(12.0 * a, dt=table_dt))
    nest_t, ours = _trains(net, rows * table_dt)
    for p in ("lif", "izh"):
        for k, (x, y) in enumerate(zip(ours[p], nest_t[p])):
            assert len(x) == len(y), (p, k, x, y)
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-9)
    assert min(len(ours["lif"][0]), len(ours["lif"][1]), len(ours["izh"][0])) >= 5
    assert len(ours["lif"][2]) == 0


def test_positions_and_refusals() -> None:
    net = Network(dt=0.1, seed=0, dtype=torch.float64)
    net.add_population("grid", sf.neurons.LIF((2, 3), dt=0.1))  # a 2-D population: grid positions
    net.add_population("line", sf.neurons.LIF(2, dt=0.1), positions=torch.tensor([[1.0], [2.5]]))
    h = net.to_pynn(sim)
    np.testing.assert_array_equal(
        h.populations["grid"].positions[:2], [[0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2]]
    )
    np.testing.assert_array_equal(h.populations["line"].positions, [[1.0, 2.5], [0.0, 0.0], [0.0, 0.0]])
    sim.end()
    early = Network(dt=0.1, seed=0, dtype=torch.float64)
    early.add_population("n", sf.neurons.LIF(1, dt=0.1))
    early.add_current("c", "n", TimedArray(torch.tensor([1.0, 0.0]), dt=1.0))
    with pytest.raises(UnsupportedExportError, match="nonzero before 2 dt = 0.2 ms"):
        early.to_pynn(sim)
    func = Network(dt=0.1, seed=0, dtype=torch.float64)
    func.add_population("n", sf.neurons.LIF(1, dt=0.1))
    func.add_current("c", "n", lambda t: torch.sin(t))
    with pytest.raises(UnsupportedExportError, match="maps to PyNN as a TimedArray"):
        func.to_pynn(sim)
