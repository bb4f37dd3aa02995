"""A Song-Miller-Abbott-style STDP run (additive pair STDP, hard bounds, depression slightly
dominant) as one PyNN script on ``spikeforge.pynn`` and on ``pyNN.nest``: the final weight histogram
of spikeforge against NEST's own spread over input seeds (issue 14, point 2).

A smaller configuration than Song, Miller & Abbott's, so that it runs in seconds: 200 inputs at 75
Hz (the drive of 1000 at 15 Hz) onto one ``IF_curr_exp`` cell (exact integration in both, so the
neuron is spike-for-spike NEST's), A+ = 0.03 w_max per pairing (3x the paper's, so that the
weights spread within 5 s), A- = 1.05 A+, tau+ = tau- = 20 ms, dt = delay = 0.1 ms. The inputs are
the same spike trains in both simulators (drawn by numpy, given as ``SpikeSourceArray``s), so only
the plasticity differs; three input seeds give NEST's spread.

What it finds (this machine, loaded; NEST 3.10, PyNN 0.13; about 8 s for the six runs): NEST
ends at 34-41 Hz with weights piled at 0 and a second mode at w_max (histogram in tenths of w_max,
seed 1: [49 35 24 17 11 10 9 14 18 13]); spikeforge on the same inputs ends at 4-67 Hz with fewer
weights near w_max (seeds 1-3: [26 30 26 30 15 19 17 12 14 11], [44 30 29 30 22 16 9 13 5 2],
[47 41 25 22 12 13 19 12 8 1]); 1-Wasserstein distance to NEST's pooled weights 0.049-0.054 w_max
against NEST's own 0.034: outside NEST's spread, so that test is a strict xfail (it fails the day
it passes, to be turned into a plain test). The neuron is not the cause (with static synapses the
output spikes are NEST's). The learning rules' conventions are, as the open-loop test shows: with
the same pre and post spikes (plastic synapses too weak to matter, the cell driven by an input of
its own) every spikeforge weight change is the event-driven all-to-all pair rule with the post
spike where it is (to 1e-4 of a pairing), and every NEST change is the same rule with the post
spike seen one delay later (``stdp_synapse`` takes the whole delay as dendritic: a pair at lag
``t`` changes the weight as spikeforge's at ``t - d``; same-step pairs potentiate) and its
potentiation applied at the synapse's next pre spike (within 2%). At 107 Hz out and 75 Hz in, d =
0.1 ms, that makes NEST's mean change per 2 s -11.3 A+ w_max against spikeforge's -7.3: the shift
moves each potentiation by ``exp(-d/tau)`` and each depression by ``exp(d/tau)``, 0.5% of terms
that are about 40 times their difference. Closing it needs ``plasticity.STDP`` to pair the post spike
after a dendritic delay (rescaling the amplitudes by ``exp(-+d/tau)`` in ``spikeforge.pynn`` brings
the open-loop means to -10.5 against -11.3 but does not bring the closed-loop histograms into
NEST's spread).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

import spikeforge.pynn as sfsim

pytestmark = [pytest.mark.reference, pytest.mark.slow]
logging.getLogger("PyNN").setLevel(logging.ERROR)

N, RATE, T, DT, W_MAX, A_PLUS, RATIO = 200, 75.0, 5000.0, 0.1, 0.015, 0.03, 1.05
SEEDS = (1, 2, 3)


def _inputs(seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Poisson trains of RATE Hz on the grid (ms, written as decimals: a time such as 156 * 0.1 =
    15.600000000000001 lands one step later in NEST than 15.6) and the initial weights (nA)."""
    rng = np.random.default_rng(seed)
    trains = []
    for _ in range(N):
        t = np.cumsum(rng.exponential(1000.0 / RATE, size=int(RATE * T / 1000 * 1.5) + 30))
        t = np.unique(np.round(np.round(t[t < T] / DT) * DT, 6))
        trains.append(t[t >= 1.0])
    return trains, rng.uniform(0.0, W_MAX, N)


def _run(sim: Any, seed: int, **setup: Any) -> tuple[np.ndarray, float]:
    """Final weights / w_max and the output rate (Hz) over the last fifth of the run."""
    sim.setup(timestep=DT, min_delay=DT, **setup)
    trains, w0 = _inputs(seed)
    src = sim.Population(N, sim.SpikeSourceArray(spike_times=trains))
    cell = sim.Population(
        1,
        sim.IF_curr_exp(cm=0.2, tau_m=10.0, v_rest=-74.0, v_thresh=-54.0, v_reset=-60.0, tau_refrac=DT),
        initial_values={"v": -60.0},
    )
    stdp = sim.STDPMechanism(
        timing_dependence=sim.SpikePairRule(
            tau_plus=20.0, tau_minus=20.0, A_plus=A_PLUS, A_minus=RATIO * A_PLUS
        ),
        weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=W_MAX),
        weight=0.5 * W_MAX,
        delay=DT,
    )
    conns = [(i, 0, float(w0[i]), DT) for i in range(N)]
    prj = sim.Projection(src, cell, sim.FromListConnector(conns, column_names=["weight", "delay"]), stdp)
    cell.record("spikes")
    sim.run(T)
    w = np.asarray(prj.get("weight", format="array"), dtype=np.float64).reshape(-1) / W_MAX
    spikes = np.asarray(cell.get_data().segments[0].spiketrains[0].magnitude)
    sim.end()
    return w, float(np.sum(spikes > 0.8 * T)) / (0.2 * T) * 1000.0


def wasserstein(a: np.ndarray, b: np.ndarray) -> float:
    """1-Wasserstein distance between two samples (in w_max)."""
    q = (np.arange(1000) + 0.5) / 1000
    return float(np.mean(np.abs(np.quantile(a, q) - np.quantile(b, q))))


def test_wasserstein_of_known_samples() -> None:
    a = np.linspace(0.0, 1.0, 501)
    assert wasserstein(a, a + 0.25) == pytest.approx(0.25, abs=1e-9)
    assert wasserstein(np.zeros(10), np.ones(30)) == pytest.approx(1.0)


@pytest.mark.xfail(
    strict=True,
    reason="spikeforge's weights end outside NEST's spread (W1 0.049-0.054 against 0.034 w_max); "
    "the conventions that differ are listed in the module docstring",
)
def test_song_miller_abbott_weights_within_nests_spread() -> None:
    """Each spikeforge histogram lies as close to NEST's pooled weights (1-Wasserstein) as NEST's
    own runs lie to the pool of the other seeds, with 25% slack; the rates within NEST's range
    widened by half its width + 5 Hz; NEST's own result is bimodal (both end fifths above the middle)."""
    nest = pytest.importorskip("pyNN.nest", reason="needs PyNN and NEST: pip install 'spikeforge[pynn]'")
    theirs = [_run(nest, s, spike_precision="on_grid") for s in SEEDS]
    ours = [_run(sfsim, s) for s in SEEDS]
    nest_w = [w for w, _ in theirs]
    spread = max(
        wasserstein(nest_w[k], np.concatenate([w for j, w in enumerate(nest_w) if j != k]))
        for k in range(len(SEEDS))
    )
    pool = np.concatenate(nest_w)
    for w, _ in theirs:
        h = np.histogram(np.clip(w, 0, 1), bins=5, range=(0, 1))[0]
        assert h[0] > h[2] and h[4] > h[2] * 0.6, h
    lo, hi = min(r for _, r in theirs), max(r for _, r in theirs)
    for w, rate in ours:
        assert wasserstein(w, pool) <= 1.25 * spread, (wasserstein(w, pool), spread)
        assert lo - 0.5 * (hi - lo) - 5.0 <= rate <= hi + 0.5 * (hi - lo) + 5.0, (rate, lo, hi)


def _open_loop(sim: Any, **setup: Any) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The inputs of seed 1 for 2 s onto the cell through plastic synapses too weak to matter
    (w_max = 1e-6 nA), the cell driven by a strong static input of its own: both simulators see the
    same pre and post spikes. Returns the weight changes in units of A+ w_max, the post spikes and
    the input trains (PyNN's stamps, ms)."""
    t_end, w_max, a_plus = 2000.0, 1e-6, 1e-3
    sim.setup(timestep=DT, min_delay=DT, **setup)
    trains = [t[t < t_end] for t in _inputs(1)[0]]
    drive_t = np.round(np.round(np.cumsum(np.random.default_rng(101).exponential(25.0, 100)) / DT) * DT, 6)
    src = sim.Population(N, sim.SpikeSourceArray(spike_times=trains))
    drive = sim.Population(1, sim.SpikeSourceArray(spike_times=drive_t[(drive_t >= 1.0) & (drive_t < t_end)]))
    cell = sim.Population(
        1,
        sim.IF_curr_exp(cm=0.2, tau_m=10.0, v_rest=-74.0, v_thresh=-54.0, v_reset=-60.0, tau_refrac=2.0),
        initial_values={"v": -74.0},
    )
    stdp = sim.STDPMechanism(
        timing_dependence=sim.SpikePairRule(
            tau_plus=20.0, tau_minus=20.0, A_plus=a_plus, A_minus=RATIO * a_plus
        ),
        weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=w_max),
        weight=0.5 * w_max,
        delay=DT,
    )
    conns = [(i, 0, 0.5 * w_max, DT) for i in range(N)]
    prj = sim.Projection(src, cell, sim.FromListConnector(conns, column_names=["weight", "delay"]), stdp)
    sim.Projection(drive, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=5.0, delay=DT))
    cell.record("spikes")
    sim.run(t_end)
    w = np.asarray(prj.get("weight", format="array"), dtype=np.float64).reshape(-1) / w_max
    post = np.asarray(cell.get_data().segments[0].spiketrains[0].magnitude)
    sim.end()
    return (w - 0.5) / a_plus, post, trains


def pair_stdp(pre: np.ndarray, post: np.ndarray, shift: float, lazy: bool) -> float:
    """All-to-all pair STDP, event by event (A+ = 1, A- = RATIO, tau 20 ms): each post spike,
    seen ``shift`` ms later, potentiates with every earlier pre spike and each pre spike depresses
    with every earlier (shifted) post spike; ``lazy``: the potentiation of a post spike counts only
    once a pre spike follows it (NEST applies it at the synapse's next pre spike)."""
    seen = post + shift
    lag = seen[:, None] - pre[None, :]  # [post, pre]
    potentiate = np.where(lag > 1e-9, np.exp(-lag / 20.0), 0.0)
    if lazy:
        potentiate = potentiate * (seen[:, None] <= pre.max(initial=-np.inf) + 1e-9)
    depress = np.where(lag < -1e-9, np.exp(lag / 20.0), 0.0)
    return float(potentiate.sum() - RATIO * depress.sum())


def test_open_loop_weight_changes_are_each_simulators_pair_rule() -> None:
    """Given the same pre and post spikes, every synapse's weight change in spikeforge equals the
    event-driven pair rule with the post spike where it is (same-step pairs skipped), and NEST's the
    same rule with the post spike seen one delay later and its potentiation applied at the next pre
    spike; the two conventions differ by more than the agreement of either, so each reference is
    the one that fits its simulator. The difference is what moves the closed-loop run."""
    nest = pytest.importorskip("pyNN.nest", reason="needs PyNN and NEST: pip install 'spikeforge[pynn]'")
    ours, post, trains = _open_loop(sfsim)
    theirs, nest_post, _ = _open_loop(nest, spike_precision="on_grid")
    # the same post spikes, but for a few one step apart (each rule takes its simulator's)
    assert len(post) == len(nest_post) > 50
    assert np.abs(post - nest_post).max() <= DT + 1e-9 and np.mean(np.abs(post - nest_post) > 1e-9) < 0.03
    ref_sf = np.array([pair_stdp(t, post, 0.0, lazy=False) for t in trains])
    ref_nest = np.array([pair_stdp(t, nest_post, DT, lazy=True) for t in trains])
    print(
        f"\nopen loop: mean dw/A+ spikeforge {ours.mean():.3f} (its rule {ref_sf.mean():.3f}), NEST "
        f"{theirs.mean():.3f} (its rule {ref_nest.mean():.3f}); max |spikeforge - its rule| "
        f"{np.abs(ours - ref_sf).max():.4f}, max |NEST - its rule| {np.abs(theirs - ref_nest).max():.4f}, "
        f"max |spikeforge - NEST| {np.abs(ours - theirs).max():.3f}"
    )
    assert np.abs(ours - ref_sf).max() < 1e-3  # to the float rounding of 2 s of pairings
    # NEST: within 2% of its typical change (a few pairings at the boundaries count otherwise)
    assert np.abs(theirs - ref_nest).mean() < 0.25 and np.abs(theirs - ref_nest).max() < 1.5
    assert np.abs(ours - theirs).mean() > 10 * np.abs(theirs - ref_nest).mean()
