"""NEST 3.10 against spikeforge on the time grid: ``IF_curr_delta`` with ``i_offset`` in
``spikeforge.pynn`` against NEST's ``iaf_psc_delta``, refractory periods that are not whole steps
through ``Network.to_pynn``, and spike times given as floats just off the grid."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import spikeforge as sf
import spikeforge.pynn as sfp
from spikeforge.circuits import Network

nest = pytest.importorskip("nest", reason="needs NEST: pip install 'spikeforge[pynn]'")
pynn_nest = pytest.importorskip("pyNN.nest", reason="needs PyNN and NEST: pip install 'spikeforge[pynn]'")

pytestmark = [pytest.mark.reference, pytest.mark.filterwarnings("ignore::UserWarning")]


def _nest_delta(dt: float, t_ref: float, i_offset: float, v0: float, duration: float) -> np.ndarray:
    """NEST's ``iaf_psc_delta`` (grid-constrained, exact for a constant current) with PyNN's
    default ``IF_curr_delta`` parameters, started at ``v0`` (pyNN.nest cannot set it)."""
    nest.ResetKernel()
    nest.set_verbosity("M_ERROR")
    nest.resolution = dt
    params = dict(E_L=-65.0, V_reset=-65.0, V_th=-50.0, C_m=1000.0, tau_m=20.0, t_ref=t_ref)
    n = nest.Create("iaf_psc_delta", params=dict(params, I_e=1000.0 * i_offset, V_m=v0))
    rec = nest.Create("spike_recorder")
    nest.Connect(n, rec)
    nest.Simulate(duration)
    return np.sort(np.asarray(rec.get("events")["times"], dtype=np.float64))


@pytest.mark.parametrize("dt", [0.1, 0.25])
@pytest.mark.parametrize(
    ("t_ref", "i_offset", "v0"), [(2.0, 10.0, -65.0), (0.35, 10.0, -60.0), (0.1, 2.0, -65.0)]
)
def test_if_curr_delta_i_offset_spikes_identical_to_iaf_psc_delta(
    dt: float, t_ref: float, i_offset: float, v0: float
) -> None:
    """Every spike identical to NEST's ``iaf_psc_delta``: the constant current acts from the first
    step, the refractory period is ``ceil(tau_refrac / dt)`` steps (0.35 ms at dt = 0.1 is 4 steps,
    0.1 ms at 0.25 is 1), both stamp a spike at the end of its step. (pyNN.nest itself uses the
    off-grid ``iaf_psc_delta_ps`` unless ``spike_precision='on_grid'`` and starts v at NEST's
    -70 mV whatever ``initialize`` says; see docs/coming-from/nest-pynn.md.)"""
    duration = 40.0
    sfp.setup(timestep=dt)
    p = sfp.Population(1, sfp.IF_curr_delta(i_offset=i_offset, tau_refrac=t_ref))
    p.initialize(v=v0)
    p.record("spikes")
    sfp.run(duration)
    ours = np.asarray(p.get_data().segments[0].spiketrains[0].magnitude, dtype=np.float64)
    sfp.end()
    theirs = _nest_delta(dt, t_ref, i_offset, v0, duration)
    assert len(theirs) >= 3
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    ("dt", "t_ref", "dtype"),
    [
        (0.1, 0.35, torch.float64),
        (0.1, 0.15, torch.float64),
        (0.1, 0.15, torch.float32),
        (0.1, 0.25, torch.float64),
        (0.25, 0.3, torch.float64),
        (0.25, 0.1, torch.float64),
        (0.25, 0.375, torch.float64),
        (0.25, 0.625, torch.float32),
    ],
)
def test_export_refractory_not_whole_steps_spikes_identical(
    dt: float, t_ref: float, dtype: torch.dtype
) -> None:
    """A LIF whose ``t_ref / dt`` is not whole (spikeforge holds ``round(t_ref / dt)`` steps, NEST
    ``ceil``): the export writes spikeforge's whole steps, so NEST gives the same spikes. In
    float32, 0.15 ms at dt = 0.1 is 1.50000006 steps, held as 2 (float64: 1.4999999999999998, 1)."""
    net = Network(dt=dt, seed=0, dtype=dtype)
    lif = sf.neurons.LIF(1, tau_mem=10.0, v_leak=-65.0, v_th=-50.0, v_reset=-70.0, t_ref=t_ref, dt=dt)
    net.add_population("n", lif)
    net.add_current("bias", "n", 400.0)
    h = net.to_pynn(pynn_nest)
    h.populations["n"].record("spikes")
    pynn_nest.run(50.0)
    theirs = h.spike_times("n")[0]
    pynn_nest.end()
    rec = net.record_spikes("n")
    net.run(50.0, progress=False)
    ours = np.sort(np.asarray(rec.t, dtype=np.float64))
    assert len(ours) >= 20
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-9)


@pytest.mark.parametrize("dt", [0.1, 0.25])
@pytest.mark.parametrize("own_setup", [False, True])
def test_export_spike_source_times_on_the_grid(dt: float, own_setup: bool) -> None:
    """Spike-source spikes on steps whose time ``step * dt`` carries a rounding error (156 * 0.1 =
    15.600000000000001), on the second step and on the last one of the run, reach NEST on the same
    step as in spikeforge, also when the caller set pyNN.nest up (its spike generators are then
    precise and fired such times one step late). Delta synapses: each is one dt earlier in NEST
    (see test_nest_reference)."""
    duration = 41.0
    last = round(duration / dt) - 3  # the neuron fires on the last step of the run (ours)
    steps = np.concatenate([np.arange(1, last - 1, 5), [last]])  # holds 156
    assert 156 in steps
    net = Network(dt=dt, seed=0, dtype=torch.float64)
    net.add_spike_source("src", 1, steps * dt, np.zeros(len(steps), dtype=np.int64))
    lif = sf.neurons.LIF(1, tau_mem=10.0, v_leak=-65.0, v_th=-50.0, v_reset=-70.0, t_ref=0.0, dt=dt)
    net.add_population("n", lif)
    net.connect("src", "n", weight=30.0, delay=dt)
    if own_setup:
        pynn_nest.setup(timestep=dt, spike_precision="on_grid", min_delay=dt)
        h = net.to_pynn(pynn_nest, setup=False)
        assert nest.GetDefaults("spike_generator")["precise_times"] is False  # also for a caller's setup
    else:
        h = net.to_pynn(pynn_nest)
    for name in ("src", "n"):
        h.populations[name].record("spikes")
    pynn_nest.run(duration)
    theirs = {name: h.spike_times(name)[0] for name in ("src", "n")}
    pynn_nest.end()
    recs = {name: net.record_spikes(name) for name in ("src", "n")}
    net.run(duration, progress=False)
    ours = {name: np.sort(np.asarray(recs[name].t, dtype=np.float64)) for name in ("src", "n")}
    assert len(ours["n"]) == len(steps)
    np.testing.assert_allclose(theirs["src"], ours["src"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(theirs["n"] + dt, ours["n"], rtol=0, atol=1e-9)


def test_export_refuses_a_source_spike_on_the_first_step_for_nest() -> None:
    """pyNN.nest cannot emit a spike-source spike on the first step: a clear error, not NEST's."""
    net = Network(dt=0.1, seed=0, dtype=torch.float64)
    net.add_spike_source("src", 2, np.array([0.0, 1.0]), np.array([1, 0]))
    with pytest.raises(sf.errors.UnsupportedExportError, match="'src'.*first step"):
        net.to_pynn(pynn_nest)


def test_script_refuses_a_source_spike_on_the_first_step_for_nest(tmp_path) -> None:
    """The script of ``to_pynn_script``, run on NEST without spikeforge, refuses the same network
    with the same message (exit status 2), not NEST's BadProperty."""
    net = Network(dt=0.1, seed=0, dtype=torch.float64)
    net.add_spike_source("src", 2, np.array([0.0, 1.0]), np.array([1, 0]))
    script = net.to_pynn_script(tmp_path / "net.py", duration=5.0)
    run = subprocess.run(
        [sys.executable, "-I", str(script), "--simulator", "nest"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr[-2000:]
    assert "spike source 'src': a spike on the first step (t = 0 ms)" in run.stderr
    assert "BadProperty" not in run.stderr
