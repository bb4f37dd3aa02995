"""A Song-Miller-Abbott-style STDP run (additive pair STDP, hard bounds, depression slightly
dominant) as one PyNN script on ``spikeforge.pynn`` and on ``pyNN.nest``: the final weight histogram
of spikeforge against NEST's own spread over input seeds (issue 14, point 2).

A smaller configuration than Song, Miller & Abbott's, so that it runs in seconds: 200 inputs at 75
Hz (the drive of 1000 at 15 Hz) onto one ``IF_curr_exp`` cell (exact integration in both, so the
neuron is spike-for-spike NEST's), A+ = 0.03 w_max per pairing (3x the paper's, so that the
weights spread within 5 s), A- = 1.05 A+, tau+ = tau- = 20 ms, dt = delay = 0.1 ms. The inputs are
the same spike trains in both simulators (drawn by numpy, given as ``SpikeSourceArray``s), so only
the plasticity differs; three input seeds give NEST's spread.

What it finds (this machine, loaded; NEST 3.10, PyNN 0.13). The learning rules now agree:
``spikeforge.pynn`` maps PyNN's default ``dendritic_delay_fraction = 1`` to ``STDP(dendritic_delay=
delay)``, NEST's ``stdp_synapse`` convention (the post spike reaches the synapse one delay after it
is emitted), and open loop (the same pre and post spikes in both: plastic synapses too weak to
matter, the cell driven by an input of its own) every spikeforge weight change is the event-driven
all-to-all pair rule with the post spike one delay late to 3e-12 of a pairing, and NEST's the same
rule with one more thing: a post spike's potentiation is applied at the synapse's next pre spike,
so the weights read at the end lack the potentiation of the post spikes after each synapse's last
pre spike (4.0 A+ w_max per synapse on average at 107 Hz out, 75 Hz in, 2 s: NEST's mean change
-11.3 against spikeforge's -7.25, and -11.29 once that pending potentiation is taken off
spikeforge's; per synapse within 0.16 A+ w_max on average, 1.1 at most, where a few post spikes
lie one step apart). The dendritic delay itself hardly moves the mean (-7.250 to -7.255), but moves
each synapse's change by 1.5 on average.

Closed loop the histograms are still outside NEST's spread, so that test stays a strict xfail (it
fails the day it passes). NEST ends at 34-41 Hz with weights piled at 0 and a second mode at w_max
(histogram in tenths of w_max, seeds 1-3: [49 23 28 20 19 12 15 10 12 12], [64 24 19 22 11 9 11 14
15 11], [43 26 27 24 14 16 19 12 10 9]); spikeforge with the dendritic delay (1.4 s for its three
runs on the compiled kernel, about 130 s on the PyTorch engine, the same result) ends at 1, 0 and
44 Hz with fewer weights near w_max ([48 35 27 19 19 21 13 9 6 3], [50 46 23 21 17 18 12 10 1 2],
[41 41 28 20 15 15 17 15 5 3]); 1-Wasserstein distance to NEST's pooled weights 0.049, 0.079 and
0.044 w_max against a limit of 1.25 x NEST's own 0.034 = 0.042 (before the dendritic delay:
0.049-0.054, rates 4-67 Hz).
Two conventions remain, both outside the rule: (1) NEST's synapse updates the weight at a pre spike
(pending potentiation, then this spike's depression) and transmits the spike with the new weight,
spikeforge transmits the weight of the step before it learns (Brian2's order for ``on_pre = "v +=
w; ..."``); with the learning moved before the transmission (a local experiment, not in spikeforge)
the three seeds end at 40, 37 and 49 Hz, W1 0.035, 0.022 and 0.059: two of three inside. (2) NEST's
weights are read without the potentiation still pending at the end (above): NEST's means are 0.37,
0.35 and 0.37 w_max, spikeforge's in that experiment 0.40, 0.38 and 0.42.
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
    reason="spikeforge's weights end outside NEST's spread (W1 0.044-0.079 against a limit of 0.042 "
    "w_max); the conventions that still differ (the weight a spike carries, NEST's pending "
    "potentiation at readout) are in the module docstring",
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


def test_open_loop_weight_changes_equal_nests() -> None:
    """Given the same pre and post spikes, every synapse's weight change in spikeforge (PyNN's
    default dendritic_delay_fraction = 1: the post spike seen one delay late) equals the
    event-driven pair rule with the post spike one delay late, and NEST's the same rule with its
    potentiation applied at the next pre spike; so spikeforge's change less the potentiation NEST
    still holds at the end equals NEST's, far closer than without the dendritic delay."""
    nest = pytest.importorskip("pyNN.nest", reason="needs PyNN and NEST: pip install 'spikeforge[pynn]'")
    ours, post, trains = _open_loop(sfsim)
    theirs, nest_post, _ = _open_loop(nest, spike_precision="on_grid")
    # the same post spikes, but for a few one step apart (each rule takes its simulator's)
    assert len(post) == len(nest_post) > 50
    assert np.abs(post - nest_post).max() <= DT + 1e-9 and np.mean(np.abs(post - nest_post) > 1e-9) < 0.03
    ref_sf = np.array([pair_stdp(t, post, DT, lazy=False) for t in trains])
    pending = ref_sf - np.array([pair_stdp(t, post, DT, lazy=True) for t in trains])
    ref_nest = np.array([pair_stdp(t, nest_post, DT, lazy=True) for t in trains])
    undelayed = np.array([pair_stdp(t, post, 0.0, lazy=False) for t in trains])
    gap = np.abs(theirs - (ours - pending))
    print(
        f"\nopen loop: mean dw/A+ spikeforge {ours.mean():.3f} (its rule {ref_sf.mean():.3f}, less NEST's "
        f"pending potentiation {(ours - pending).mean():.3f}), NEST {theirs.mean():.3f} (its rule "
        f"{ref_nest.mean():.3f}); max |spikeforge - its rule| {np.abs(ours - ref_sf).max():.2e}, "
        f"|NEST - (spikeforge - pending)| mean {gap.mean():.3f} max {gap.max():.3f}, "
        f"without the delay mean {np.abs(ours - undelayed).mean():.3f}"
    )
    assert np.abs(ours - ref_sf).max() < 1e-9  # float rounding of 2 s of pairings
    # NEST: within 2% of its typical change of its rule (a few pairings at the boundaries differ)
    assert np.abs(theirs - ref_nest).mean() < 0.25 and np.abs(theirs - ref_nest).max() < 1.5
    # NEST's change is spikeforge's, to the post spikes one step apart and NEST's boundary terms
    assert gap.mean() < 0.25 and gap.max() < 1.5
    assert np.abs(ours - undelayed).mean() > 5 * gap.mean()  # the dendritic delay is what closed it
