"""``spikeforge.pynn`` as a PyNN backend: one PyNN script, run on spikeforge and on pyNN.nest."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import spikeforge.pynn as sfsim
from spikeforge.errors import ParameterError, UnsupportedExportError


def _script(sim: Any, **setup: Any) -> dict[str, list[np.ndarray]]:
    """A PyNN script (written for PyNN, nothing of spikeforge): sources, three cell types, four
    connectors, both receptor types, a current; returns the spike times per population."""
    sim.setup(timestep=0.1, **setup)
    src = sim.Population(
        2, sim.SpikeSourceArray(spike_times=[[5.0, 9.0, 30.0, 31.5], [7.0, 20.0, 45.0]]), label="src"
    )
    curr = sim.Population(
        3, sim.IF_curr_exp(tau_m=10.0, cm=0.5, v_thresh=-55.0, tau_syn_E=3.0, tau_syn_I=6.0), label="curr"
    )
    curr.initialize(v=np.array([-65.0, -60.0, -58.0]))
    alpha = sim.Population(
        2, sim.IF_curr_alpha(tau_m=15.0, cm=1.0, i_offset=1.05, tau_refrac=2.0), label="alpha"
    )
    izh = sim.Population(2, sim.Izhikevich(a=0.02, b=0.2, c=-65.0, d=8.0, i_offset=0.005), label="izh")
    conn = [(0, 0, 2.0, 1.0), (0, 1, 3.0, 2.0), (1, 2, 4.0, 0.5), (1, 0, 1.5, 3.0)]
    sim.Projection(
        src, curr, sim.FromListConnector(conn, column_names=["weight", "delay"]), receptor_type="excitatory"
    )
    sim.Projection(
        curr,
        curr,
        sim.AllToAllConnector(allow_self_connections=False),
        sim.StaticSynapse(weight=-1.0, delay=0.8),
        receptor_type="inhibitory",
    )
    sim.Projection(curr, alpha, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.8, delay=1.0))
    sim.Projection(src, izh, sim.OneToOneConnector(), sim.StaticSynapse(weight=10.0, delay=1.0))
    for p in (curr, alpha, izh):
        p.record("spikes")
    sim.run(100.0)
    out = {}
    for p in (curr, alpha, izh):
        trains = p.get_data().segments[0].spiketrains
        out[p.label] = [
            np.asarray(st.magnitude) for st in sorted(trains, key=lambda s: s.annotations["source_index"])
        ]
    sim.end()
    return out


def test_a_pynn_script_gives_nests_spikes() -> None:
    nest = pytest.importorskip("pyNN.nest", reason="needs PyNN and NEST: pip install 'spikeforge[pynn]'")
    ours = _script(sfsim)
    theirs = _script(nest, spike_precision="on_grid", min_delay=0.1)
    total = 0
    for name in ours:
        for a, b in zip(ours[name], theirs[name]):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-9, err_msg=name)
            total += len(a)
    assert total >= 8
    assert all(len(t) > 0 for t in ours["alpha"] + ours["izh"])


def test_fixed_probability_and_poisson_source() -> None:
    pytest.importorskip("neo", reason="get_data needs neo (installed with PyNN)")
    sfsim.setup(timestep=0.1)
    noise = sfsim.Population(50, sfsim.SpikeSourcePoisson(rate=50.0))
    cells = sfsim.Population(20, sfsim.IF_cond_exp(tau_refrac=2.0, v_thresh=-55.0))
    prj = sfsim.Projection(
        noise, cells, sfsim.FixedProbabilityConnector(0.3), sfsim.StaticSynapse(weight=0.05, delay=0.5)
    )
    noise.record("spikes")
    cells.record(["spikes", "v"])
    sfsim.run(500.0)
    rate = sum(len(t) for t in noise.spike_times()) / 50 / 0.5
    assert 40.0 < rate < 60.0  # 50 Hz, 1250 spikes: 5 sigma is 14%
    assert sfsim.get_current_time() == 500.0
    block = cells.get_data()
    assert block.segments[0].analogsignals[0].shape == (5000, 20)
    assert sum(len(s) for s in block.segments[0].spiketrains) > 0
    assert prj.label
    sfsim.end()


def test_bad_input_is_named() -> None:
    sfsim.end()  # no simulation state, whatever ran before
    with pytest.raises(ParameterError, match="setup"):
        sfsim.Population(1, sfsim.IF_curr_exp())
    sfsim.setup(timestep=0.1)
    with pytest.raises(ParameterError, match="IF_curr_exp has no parameters \\['tau_mem'\\]"):
        sfsim.IF_curr_exp(tau_mem=10.0)
    p = sfsim.Population(1, sfsim.IF_curr_exp())
    with pytest.raises(UnsupportedExportError, match="gsyn_exc"):
        p.record("gsyn_exc")
    with pytest.raises(UnsupportedExportError, match="synapse type"):
        sfsim.Projection(p, p, sfsim.AllToAllConnector(), synapse_type=object())  # type: ignore[arg-type]
    sfsim.Projection(p, p, sfsim.AllToAllConnector(), sfsim.StaticSynapse(weight=1.0, delay=0.0))
    with pytest.raises(ParameterError, match="delays must be >= timestep"):
        sfsim.run(1.0)
    sfsim.end()


@pytest.mark.parametrize(
    ("cell", "receptor", "weight", "message"),
    [
        ("IF_curr_exp", "inhibitory", 0.5, "current-based inhibitory synapses .* must be <= 0"),
        ("IF_curr_exp", "excitatory", -0.5, "excitatory synapses .* must be >= 0"),
        ("IF_cond_exp", "inhibitory", -0.01, "conductance-based synapses .* must be >= 0"),
    ],
)
def test_weight_signs_follow_pynns_convention(cell: str, receptor: str, weight: float, message: str) -> None:
    """A weight whose sign contradicts its receptor (PyNN's ``check_weights``) is refused by name,
    not run with the wrong sign (a positive inhibitory weight onto a current-based cell would
    excite)."""
    sfsim.end()
    sfsim.setup(timestep=0.1)
    src = sfsim.Population(1, sfsim.SpikeSourceArray(spike_times=[1.0]), label="src")
    post = sfsim.Population(1, getattr(sfsim, cell)(), label="post")
    sfsim.Projection(
        src,
        post,
        sfsim.OneToOneConnector(),
        sfsim.StaticSynapse(weight=weight, delay=1.0),
        receptor_type=receptor,
    )
    with pytest.raises(ParameterError, match=message):
        sfsim.run(5.0)
    sfsim.end()
    sfsim.setup(timestep=0.1)  # the same projection with the sign PyNN expects runs
    src = sfsim.Population(1, sfsim.SpikeSourceArray(spike_times=[1.0]), label="src")
    post = sfsim.Population(1, getattr(sfsim, cell)(), label="post")
    sfsim.Projection(
        src,
        post,
        sfsim.OneToOneConnector(),
        sfsim.StaticSynapse(weight=-weight, delay=1.0),
        receptor_type=receptor,
    )
    assert sfsim.run(5.0) == pytest.approx(5.0)
    sfsim.end()
