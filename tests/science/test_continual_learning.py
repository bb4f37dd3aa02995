"""Fast/slow weights and CLASSP beside Metaplastic and plain training on permuted digits, a small
version of ``experiments/continual_learning.py`` (issue 15, item 3). Full figures (5 seeds) are in
``experiments/results/continual_learning.json``.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")

_PATH = Path(__file__).resolve().parents[2] / "experiments" / "continual_learning.py"

# a tiny sequence for the wiring checks: 2 tasks, 2 epochs of 256 images, 16 hidden units
TINY = dict(n_tasks=2, epochs=2, hidden=16, steps=4, n_train=256, n_val=64, batch=32)


@pytest.fixture(scope="module")
def exp():
    spec = importlib.util.spec_from_file_location("continual_learning", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def data(exp):
    return exp.load_digits_tensors()


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors: one thread avoids the spinning of two on a loaded machine (restored after)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_every_arm_gets_the_same_tuning_effort(exp):
    sizes = {arm: len(exp.GRIDS[arm]) for arm in exp.ARMS}
    assert set(sizes.values()) == {9}, sizes
    assert not set(exp.TUNING_SEEDS) & set(range(5))  # tuning seeds are not reported seeds


def test_test_set_is_fixed_and_apart_from_training(exp, data):
    x, _ = data
    test, pool = exp.split(len(x))
    assert len(test) == exp.N_TEST and len(set(test.tolist()) | set(pool.tolist())) == len(x)
    assert torch.equal(exp.split(len(x))[0], test)
    draw = exp.task_draw(3, pool, exp.FULL)
    used = set(draw["train"].tolist()) | set(draw["val"].tolist())
    assert not used & set(test.tolist())
    assert not set(draw["train"].tolist()) & set(draw["val"].tolist())
    assert torch.equal(draw["perms"][0], torch.arange(64))
    for p in draw["perms"]:
        assert torch.equal(p.sort().values, torch.arange(64))
    assert len({tuple(p.tolist()) for p in draw["perms"]}) == exp.FULL.n_tasks


def test_measures_of_a_known_matrix(exp):
    r = np.array([[0.9, 0.1, 0.1], [0.6, 0.8, 0.1], [0.5, 0.4, 0.7]])
    m = exp.measures(r)
    assert m["earlier"] == pytest.approx(0.45)
    assert m["newest"] == pytest.approx(0.7)
    assert m["plasticity_loss"] == pytest.approx(0.2)
    assert m["forgetting"] == pytest.approx(((0.9 - 0.5) + (0.8 - 0.4)) / 2)
    assert m["earlier_curve"] == pytest.approx([0.6, 0.45])
    assert m["newest_curve"] == pytest.approx([0.9, 0.8, 0.7])
    assert m["final_mean"] == pytest.approx(1.6 / 3)


def test_arms_that_reduce_to_adam_give_the_same_run(exp, data):
    """Metaplastic with m = 0 and FastSlow with no decay and full consolidation are Adam: the same
    initial weights, batches and sequence give the same accuracies (the arms differ only in the
    optimizer)."""
    setting = exp.Setting(**TINY)
    plain = exp.run("plain", {"lr": 1e-2}, 7, setting=setting, data=data)
    meta = exp.run("metaplastic", {"lr": 1e-2, "m": 0.0}, 7, setting=setting, data=data)
    fs = exp.run(
        "fast_slow", {"lr": 1e-2, "fast_decay": 0.0, "consolidation": 1.0}, 7, setting=setting, data=data
    )
    assert meta["R"] == plain["R"]
    assert np.allclose(fs["R"], plain["R"], atol=1e-6)
    assert plain["R"][0][0] > 0.3  # it learned something (chance 0.1)


def test_consolidation_and_threshold_act(exp, data):
    """FastSlow with consolidation 0 keeps nothing of a task; CLASSP with a threshold above every
    gradient moves nothing: both stay at the untrained network's accuracy."""
    setting = exp.Setting(**TINY)
    untrained = exp.run("plain", {"lr": 0.0}, 7, setting=setting, data=data)
    fs = exp.run(
        "fast_slow", {"lr": 3e-3, "fast_decay": 0.0, "consolidation": 0.0}, 7, setting=setting, data=data
    )
    frozen = exp.run("classp", {"lr": 3e-2, "threshold": 1e3}, 7, setting=setting, data=data)
    assert fs["R"] == untrained["R"]
    assert frozen["R"] == untrained["R"]
    moving = exp.run("classp", {"lr": 3e-2, "threshold": 0.0}, 7, setting=setting, data=data)
    assert moving["R"][0][0] > untrained["R"][0][0] + 0.1


def test_direction_on_a_small_sequence(exp, data):
    """The effects of the 5-seed run, on a small version (3 tasks, 64 hidden units, 4 epochs of 512
    images, seed 0) with the tuned settings of the committed JSON: every method keeps more of the
    earlier tasks than plain Adam; Metaplastic and fast/slow weights learn the newest task worse,
    CLASSP (tuned to threshold 0, i.e. AdaGrad) better."""
    import json

    results = _PATH.parent / "results" / "continual_learning.json"
    configs = json.loads(results.read_text())["configs"]
    r = {arm: exp.run(arm, configs[arm], 0, setting=exp.SMALL, data=data) for arm in exp.ARMS}
    for arm in ("metaplastic", "fast_slow", "classp"):
        assert r[arm]["earlier"] > r["plain"]["earlier"] + 0.02, (
            arm,
            r[arm]["earlier"],
            r["plain"]["earlier"],
        )
    assert r["fast_slow"]["newest"] < r["plain"]["newest"] - 0.02
    assert r["metaplastic"]["newest"] < r["plain"]["newest"]
    assert r["classp"]["newest"] > r["plain"]["newest"]
