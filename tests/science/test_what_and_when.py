"""What and when: a small version of ``experiments/what_and_when.py`` (issue 15, item 6).

One seed (1), a 200-neuron reservoir, 60 trials before and 40 after the swap, fixed settings
(eta 0.05, consolidation every 20 trials; FORCE alpha 100; no tuning): the directions the
5-seed run shows (its JSON is ``experiments/results/what_and_when.json``):
FORCE without a reset adapts to the swap more slowly than with one, and more slowly than the
three-factor rule; the three-factor readout's amplitudes follow the probabilities before the swap;
the online and offline weight changes of the three-factor rule are nearly anti-parallel, the
changes after a probability-only and a timing-only switch are not; with all of the reservoir noise
fresh on every trial no timing is left to read.
"""

import importlib.util
from pathlib import Path

import pytest
import torch

_PATH = Path(__file__).resolve().parents[2] / "experiments" / "what_and_when.py"


@pytest.fixture(scope="module")
def exp():
    spec = importlib.util.spec_from_file_location("what_and_when", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def small(exp):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = exp.Config(n=200, n1=60, n2=40)
        data = exp.make_data((1,), cfg)
        runs = exp.learn("three_factor", data, cfg, [(0.05, 20.0)], n_branch=40)
        runs.update(exp.learn("force", data, cfg, [(100.0,)]))
        runs.update(exp.learn("rls_forgetting", data, cfg, [(100.0, 0.9995)]))
    finally:
        torch.set_num_threads(before)
    return exp, cfg, runs, {a: exp.summarise(a, runs[a], cfg, (1,)) for a in exp.ARMS}


def test_task_and_probes(exp):
    """The swap exchanges the cues' times and probabilities in pairs; the expected target peaks at
    each cue's time with its probability."""
    assert sorted(exp.PHASE1.probs) == sorted(exp.PHASE2.probs) and len(set(exp.PHASE1.probs)) >= 4
    assert all(exp.PHASE2.times[i] == exp.PHASE1.times[i ^ 1] for i in range(4))
    tp, amp = exp.peaks(exp.expected(exp.PHASE1))
    assert torch.equal(tp, torch.tensor(exp.PHASE1.times, dtype=tp.dtype))
    torch.testing.assert_close(amp, torch.tensor(exp.PHASE1.probs, dtype=amp.dtype))


def test_noise_is_fresh_per_trial_and_the_cue_stream_is_not(exp):
    cues = torch.tensor([0, 0, 1])
    a = exp.reservoir(0, cues, 1, n=100, fresh=0.1)
    b = exp.reservoir(0, cues, 1, n=100, fresh=0.1)
    assert torch.equal(a, b)  # seeded
    assert not torch.equal(a[:, 0], a[:, 1])  # two trials of the same cue differ
    frozen = exp.reservoir(0, cues, 1, n=100, fresh=0.0)
    post = exp.steps_time() > 0
    assert int(frozen[post].sum()) > 0
    # the same draws before the cue (only fresh noise there), different after it: f is used
    assert torch.equal(frozen[~post], a[~post]) and not torch.equal(frozen[post], a[post])


@pytest.mark.slow
def test_direction_of_the_effects(small):
    exp, cfg, runs, res = small
    err = {a: res[a]["error_first20_after_swap"]["mean"] for a in exp.ARMS}
    print("\nerror in the first 20 trials after the swap:", err)
    # FORCE without a reset adapts more slowly than with the reset, and than the three-factor rule
    assert err["force"] > 1.2 * err["force_reset"]  # 1.5 here
    assert err["force"] > 1.1 * err["three_factor"]  # 1.25 here; 1.33 over the 5 seeds of the full run
    # before the swap both learners are the same FORCE; its amplitudes and the three-factor's
    # follow the probabilities
    torch.testing.assert_close(
        torch.tensor(res["force"]["probe_error_curve"]["mean"][: cfg.n1]),
        torch.tensor(res["force_reset"]["probe_error_curve"]["mean"][: cfg.n1]),
    )
    assert res["three_factor"]["corr_phase1"]["mean"] > 0.8
    assert res["force"]["corr_phase1"]["mean"] > 0.8
    # FORCE without a reset still answers the old task after the swap: its amplitudes against the
    # new probabilities are anti-correlated; the reset and the three-factor rule follow the swap
    assert res["force"]["corr_phase2"]["mean"] < 0.0
    assert res["force_reset"]["corr_phase2"]["mean"] > 0.5
    assert res["three_factor"]["corr_phase2"]["mean"] > 0.5
    # |cos(what, when)|: the consolidation changes nearly undo the online ones (anti-parallel), while
    # the changes from a probability-only and a timing-only switch are far from parallel
    tf = res["three_factor"]
    assert tf["cos_what_when_signed"]["phase1"][0] < -0.5
    assert tf["cos_what_when_branches"]["mean"] < 0.5
    # the closed form of FORCE equals the RLSReadout rule run over the first trials
    assert runs["force"]["rls_check"] < 1e-9


@pytest.mark.slow
def test_fresh_noise_leaves_no_timing(exp):
    torch.set_num_threads(1)
    frozen = exp.ridge_bound(0, 0.0, n=200, n_trials=80)
    fresh = exp.ridge_bound(0, 1.0, n=200, n_trials=80)
    print("\nridge readout R2, frozen / fresh:", frozen["r2"], fresh["r2"])
    assert frozen["r2"] > 0.3 > 0.1 > fresh["r2"]
    # where the peaks land depends on the last bits of the machine's arithmetic at this small size
    # (seed 0: within 50 ms on the machine that wrote the test, 210 ms on a Sapphire Rapids one,
    # whose fresh-noise readout misses by 280 ms): only the order is asserted
    assert frozen["max_timing_error_ms"] < fresh["max_timing_error_ms"]
