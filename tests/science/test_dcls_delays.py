"""Learned delays beat fixed random delays beat none: a small version of
``experiments/dcls_delays.py`` (issue 15, item 1).

One seed, 512 training samples, 20 epochs, the same learning rate for every arm: on the
three-pair timing task with 4 hidden units, no delays stay near chance (1/8), the fixed random
draw detects some of the pair orders, and learning the same draw's delays with the Trainer's DCLS
recipe detects nearly all; rounding the learned delays to whole steps costs a few points at most. The
5-seed figures, with the learning rates tuned per arm, are in ``experiments/results/dcls_delays.json``;
those of the harder 4-pair task (10 seeds) in ``experiments/results/dcls_delays_pairs4.json``.
"""

import importlib.util
from pathlib import Path

import pytest
import torch

_PATH = Path(__file__).resolve().parents[2] / "experiments" / "dcls_delays.py"


@pytest.fixture(scope="module")
def exp():
    spec = importlib.util.spec_from_file_location("dcls_delays", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", ["pairs3", "pairs4", "onehot"])
def test_timing_is_the_only_cue(exp, name):
    task = exp.TASKS.get(name, exp.Task("onehot", (3, 6, 11), "onehot"))
    x, y = exp.timing_task(400, torch.Generator().manual_seed(0), task)
    assert x.shape == (400, task.steps, task.n_in) and set(y.tolist()) == set(range(task.n_classes))
    assert torch.equal(x.sum(1), torch.ones(400, task.n_in))  # one spike per channel, every class
    for p, lag in enumerate(task.lags):  # pair p: the channel of bit p (onehot: label p) leads by its lag
        t = x[:, :, 2 * p : 2 * p + 2].argmax(1)  # [n, 2] spike times
        first_leads = ((y >> p) & 1) == 0 if task.code == "bits" else y == p
        assert torch.equal(
            torch.where(first_leads, t[:, 1] - t[:, 0], t[:, 0] - t[:, 1]), torch.full((400,), lag)
        )
    assert task.steps - task.max_delay - max(task.lags) >= 1  # every onset range is non-empty


def test_unknown_code_is_refused(exp):
    with pytest.raises(ValueError, match="task.code"):
        exp.timing_task(4, torch.Generator().manual_seed(0), exp.Task("x", (3,), "gray"))


def test_arms_share_weights_and_the_random_draw(exp):
    nets = {a: exp.build(a, 4, seed=3) for a in exp.ARMS}
    w = [nets[a][0].weight for a in exp.ARMS]
    assert torch.equal(w[0], w[1]) and torch.equal(w[1], w[2])
    assert float(nets["none"][0].delay.abs().sum()) == 0.0
    assert torch.equal(nets["random"][0].delay, nets["learned"][0].delay)
    assert not nets["random"][0].delay.requires_grad and nets["learned"][0].delay.requires_grad
    assert float(nets["random"][0].sigma) == 0.0 and float(nets["learned"][0].sigma) > 0.0


def test_oracle_delays_detect_the_order(exp):
    """Delays that compensate one order's lag make a unit fire for that order only: the task is
    solvable by coincidence detection with integer delays, with the network of every arm."""
    net = exp.build("random", 4, seed=0)
    layer = net[0]
    with torch.no_grad():
        layer.delay.zero_()
        layer.weight.zero_()
        for p, lag in enumerate(exp.LAGS):  # unit p: channel 2p leads by lag (bit p = 0)
            layer.delay[p, 2 * p] = float(lag)
            layer.weight[p, 2 * p : 2 * p + 2] = 1.5  # v jumps by (1 - e^-1/2) w = 0.59 per spike
    x, y = exp.timing_task(256, torch.Generator().manual_seed(1))
    with torch.no_grad():
        counts = net[1](layer(x.transpose(0, 1))[0])[0].sum(0)  # [B, 4] hidden spike counts
    for p in range(exp.P):
        fired = counts[:, p] > 0
        assert torch.equal(fired, ((y >> p) & 1) == 0)


@pytest.mark.slow
def test_learned_beats_random_beats_none(exp):
    torch.set_num_threads(1)
    acc = {a: exp.run_arm(a, 0, 1e-2, epochs=20, n_train=512, n_eval=512) for a in exp.ARMS}
    none, rand, learned = (acc[a]["acc"] for a in exp.ARMS)
    assert none < 0.35  # chance is 0.125
    assert none + 0.1 < rand < learned - 0.1
    # seed 0 of this short run depends on the machine's floating-point paths (above 0.8 where the
    # test was written, 0.76 on a Sapphire Rapids CPU, seeds 1-3 there 0.87-0.92); the full run's
    # figures are in its JSON
    assert learned > 0.7
    # rounding to integer delays: under 2 points in the full run (its JSON); this short run spends
    # fewer epochs at the final width and rounds less cleanly (3.3 points for seed 0)
    assert 100 * (acc["learned"]["acc_unrounded"] - learned) < 5.0
    d = torch.tensor(acc["learned"]["delays_ms"])
    assert float(d.min()) >= 0 and float(d.max()) <= exp.MAX_DELAY and torch.equal(d, d.round())


@pytest.mark.slow
def test_harder_task_direction(exp):
    """The 4-pair, 16-class task (``--task pairs4``, H = 5), small: tuning seed 100, 512 samples,
    20 epochs, lr 1e-2 for every arm (0.05 / 0.18 / 0.65 when written). Random delays stay far
    from solving it; learning the same draw's delays does much better."""
    torch.set_num_threads(1)
    task = exp.TASKS["pairs4"]
    acc = {
        a: exp.run_arm(a, 100, 1e-2, hidden=task.hidden, epochs=20, n_train=512, n_eval=512, task=task)
        for a in exp.ARMS
    }
    none, rand, learned = (acc[a]["acc"] for a in exp.ARMS)
    assert none < 0.15  # chance is 1/16
    assert none + 0.05 < rand < learned - 0.2
    assert learned > 0.5
    assert 100 * (acc["learned"]["acc_unrounded"] - learned) < 5.0
