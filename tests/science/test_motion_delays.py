"""Heterogeneous delays detect motion: a small version of ``experiments/motion_delays.py``
(issue 15, item 2).

The stimulus leaves the direction of a bar only in the time order of its events (a dark bar moving
left gives the time-reversed events of a bright bar moving right), so a layer without delays
cannot tell opposite directions apart and one with heterogeneous delays can. Full figures (5
seeds, 12 x 12 px) are in ``experiments/results/motion_delays.json``.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from spikeforge.data import to_frames
from spikeforge.encoders import emulate_events
from spikeforge.plasticity import delayed_linear

_PATH = Path(__file__).resolve().parents[2] / "experiments" / "motion_delays.py"


@pytest.fixture(scope="module")
def exp():
    spec = importlib.util.spec_from_file_location("motion_delays", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _events(exp, direction, bright, offset, size=8, steps=20, speed=1.0):
    frames = exp.bar_frames(direction, speed, bright, offset, size=size, steps=steps)
    ev = emulate_events(frames, np.arange(steps + 1) * 1000, threshold=exp.THRESHOLD, eps=0.0)
    return to_frames(
        ev, (size, size, 2), bin_us=1000, duration_us=steps * 1000, binary=True, dtype=torch.float64
    )


@pytest.mark.parametrize("direction", [0, 2])
@pytest.mark.parametrize("speed", [1.0, 2.0])
def test_dark_bar_left_is_bright_bar_right_reversed_in_time(exp, direction, speed):
    right = _events(exp, direction, True, 0.7, speed=speed)
    left = _events(exp, direction + 4, False, -0.7, speed=speed)
    assert right.sum() > 50
    assert torch.equal(right.flip(0), left)
    assert not torch.equal(right, left)  # the same events, not the same order


def test_no_delay_layer_cannot_tell_time_reversed_inputs_apart(exp):
    right = _events(exp, 0, True, 0.3).reshape(20, 1, -1)
    left = _events(exp, 4, False, -0.3).reshape(20, 1, -1)
    g = torch.Generator().manual_seed(0)
    n_in = right.shape[-1]
    scores = {}
    for arm in ("no_delay", "hetero"):
        layer = exp.DelayLayer(n_in, 8, exp.make_mask(arm, n_in, 8, exp.N_TAPS, g)).double()
        with torch.no_grad():
            layer.weight.normal_(0.0, 1.0, generator=g)
            scores[arm] = [torch.sigmoid(layer(x)).sum(0) for x in (right, left)]  # expected counts
    torch.testing.assert_close(scores["no_delay"][0], scores["no_delay"][1])
    assert (scores["hetero"][0] - scores["hetero"][1]).abs().max() > 0.1


def test_delay_layer_is_spikeforge_delayed_linear_on_kept_synapses(exp):
    """The experiment's layer, pruned, equals ``delayed_linear`` (integer delays, ``shift``) over
    its kept synapses, each an input copy with its own delay."""
    g = torch.Generator().manual_seed(1)
    n_in, n_out, steps = 6, 3, 15
    layer = exp.DelayLayer(n_in, n_out, exp.make_mask("hetero", n_in, n_out, exp.N_TAPS, g)).double()
    with torch.no_grad():
        layer.weight.normal_(generator=g)
        layer.bias.normal_(generator=g)
    layer = layer.pruned(0.3)
    x = (torch.rand(steps, 2, n_in, generator=g, dtype=torch.float64) < 0.3).double()
    c_idx, j_idx, k_idx = layer.mask.nonzero(as_tuple=True)
    weight = torch.zeros(n_out, len(c_idx), dtype=torch.float64)
    weight[c_idx, torch.arange(len(c_idx))] = layer.weight.detach()[c_idx, j_idx, k_idx]
    delay = k_idx.double().expand(n_out, -1)
    ref = delayed_linear(
        x[..., j_idx], weight, delay, sigma=0.0, n_taps=exp.N_TAPS, bias=layer.bias.detach(), method="shift"
    )
    with torch.no_grad():
        torch.testing.assert_close(layer(x), ref, rtol=1e-12, atol=1e-12)


def test_pruning_keeps_the_largest_weights_of_each_unit(exp):
    g = torch.Generator().manual_seed(2)
    layer = exp.DelayLayer(5, 4, exp.make_mask("hetero", 5, 4, exp.N_TAPS, g))
    with torch.no_grad():
        layer.weight.normal_(generator=g)
    kept = layer.pruned(0.1)
    per_unit = kept.mask.reshape(4, -1).sum(1)
    assert per_unit.tolist() == [5.0] * 4  # 10 % of 50 synapses per unit
    w = layer.weight.detach().abs().reshape(4, -1)
    m = kept.mask.reshape(4, -1).bool()
    for c in range(4):
        assert w[c][m[c]].min() >= w[c][~m[c]].max()
    assert torch.equal(layer.mask, torch.ones_like(layer.mask))  # the original is untouched


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors: one thread avoids the spinning of two on a loaded machine (restored after)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_delays_detect_direction_small(exp):
    r = exp.run_seed(0, prune=(0.1,), **exp.SMALL)
    assert r["hetero"]["test"] >= 0.9
    assert r["no_delay"]["test"] <= 0.65  # about half: the axis but not the sense of the motion
    assert r["random_delay"]["test"] > r["no_delay"]["test"] + 0.2
    pruned = r["hetero"]["pruned"]["0.1"]  # the no-delay layer's budget
    assert pruned["test_fine_tuned"] > r["no_delay"]["test"] + 0.2
    assert pruned["test_bias_refit"] > r["no_delay"]["test"] + 0.2  # weights as pruned, biases refitted
