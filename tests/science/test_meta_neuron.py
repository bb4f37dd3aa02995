"""The meta neuron: searched fixed intrinsics and LZ complexity features, a small version of
``experiments/meta_neuron.py`` (issue 15, item 5). Full figures (5 seeds) are in
``experiments/results/meta_neuron.json``.
"""

import importlib.util
from pathlib import Path

import pytest
import torch

_PATH = Path(__file__).resolve().parents[2] / "experiments" / "meta_neuron.py"


@pytest.fixture(scope="module")
def exp():
    spec = importlib.util.spec_from_file_location("meta_neuron", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bench(exp):
    return exp.load_benchmark()


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors: one thread avoids the spinning of two on a loaded machine (restored after)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_search_costs_what_the_learnable_arm_trains(exp):
    plan = exp.search_plan(600, 12)
    assert plan["sample_passes"] == plan["learnable_sample_passes"] == 7200
    assert plan["candidates"] * plan["epochs_each"] * (600 - plan["validation"]) == 7200


def test_candidates_start_with_the_defaults_and_stay_in_range(exp, bench):
    cands = exp.candidates("meta", bench, torch.Generator().manual_seed(0))
    assert len(cands) == exp.N_CANDIDATES
    assert cands[0] == bench.default_intrinsics("meta")
    for c in cands[1:]:
        assert set(c) == set(bench.LEARNABLE["meta"])
        for name, v in c.items():
            low, high, _ = exp.RANGES[name]
            assert low <= v <= high


def test_default_intrinsics_reproduce_the_benchmark(bench):
    kw = dict(n_train=40, n_test=40, epochs=1, n_hidden=8)
    for kind in ("LIF", "meta"):
        plain = bench.run_arm(kind, True, 0, **kw)
        explicit = bench.run_arm(kind, True, 0, intrinsics=bench.default_intrinsics(kind), **kw)
        assert plain == explicit
    other = bench.run_arm("LIF", True, 0, intrinsics={"tau_mem": 3.0}, **kw)
    assert other["tau_mem"] < 5.0  # the start value is used (20 ms by default)


def test_lz_task_rates_do_not_depend_on_the_class(exp):
    x, y = exp.lz_task(600, torch.Generator().manual_seed(0))
    rates = [float(x[:, y == c].mean()) for c in range(3)]
    assert max(rates) - min(rates) < 0.1 * min(rates)
    assert 0.06 < min(rates)  # about the mean of the drawn rates, 80 Hz


def test_lz_features_classify_where_rates_do_not(exp):
    r = exp.lz_seed(0, n=240, steps=300)
    inp = r["input"]
    assert inp["rate"] < 0.5  # chance is 1/3
    assert inp["lz"] > inp["rate"] + 0.3
    assert inp["rate+lz"] >= inp["lz"]
    assert r["meta_one_to_one"]["lz"] > r["meta_one_to_one"]["rate"]


@pytest.mark.slow
def test_searched_fixed_intrinsics_beat_the_default_start_lif(exp, bench):
    r = exp.intrinsics_seed(0, bench, kinds=("LIF",), n_train=300, n_test=300, epochs=6)["LIF"]
    assert r["fixed_searched"]["test"] > r["fixed_default"]["test"] + 0.1
    assert r["search"]["best"] != bench.default_intrinsics("LIF")
