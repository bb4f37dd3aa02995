"""Disinhibition sets the sign of plasticity: a small version of
``experiments/disinhibition_plasticity.py`` (issue 15, item 4).

One seed, 600 ms per arm: the plastic input onto E depresses without top-down input, potentiates
with it, and keeps depressing when the VIP -> SST synapses are cut (the top-down then reaches VIP
but no longer disinhibits E). Full figures (5 seeds) are in the experiment's JSON.
"""

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "experiments" / "disinhibition_plasticity.py"


@pytest.fixture(scope="module")
def exp():
    spec = importlib.util.spec_from_file_location("disinhibition_plasticity", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def arms(exp):
    return {
        "off": exp.run_arm(0, 0.0, duration=600.0),
        "on": exp.run_arm(0, exp.TOPDOWN_ON, duration=600.0),
        "cut": exp.run_arm(0, exp.TOPDOWN_ON, ablate=True, duration=600.0),
    }


@pytest.mark.slow
def test_topdown_switches_depression_to_potentiation(arms):
    off, on = arms["off"], arms["on"]
    # the sign itself switches only in the seeds whose E rate passes the rule's crossover (2 of 5,
    # not seed 0: see notebooks/README.md); the direction holds in every seed
    assert off["dw_mean"] < 0 and on["dw_mean"] > off["dw_mean"]
    assert on["rate_sst"] < 0.5 * off["rate_sst"]  # VIP silences SST
    assert on["rate_exc"] > off["rate_exc"]  # ... and so disinhibits E
    assert on["frac_potentiated"] > off["frac_potentiated"]


@pytest.mark.slow
def test_no_sign_switch_without_vip_to_sst(arms):
    assert arms["cut"]["rate_sst"] >= arms["off"]["rate_sst"]
    assert arms["cut"]["dw_mean"] < 0


def test_ablation_zeroes_only_vip_to_sst(exp):
    net, proj = exp.build(0, 0.0, ablate=True, sizes=dict(n_exc=20, n_pv=5, n_sst=6, n_vip=4))
    assert float(net.projections["vip->sst"].weights().abs().sum()) == 0.0
    assert float(net.projections["sst->exc"].weights().abs().sum()) > 0.0
    assert proj.plasticity is not None and float(proj.weights().min()) == 1.0


@pytest.mark.slow
def test_teacher_gated_pattern_gets_stronger(exp):
    kw = dict(n_blocks=16)  # the script's length (with 8 blocks seed 0 has not separated yet)
    taught = exp.discrimination(0, teacher=True, **kw)
    untaught = exp.discrimination(0, teacher=False, **kw)
    assert taught["dw_A"] - taught["dw_B"] > 0
    assert taught["dw_A"] - taught["dw_B"] > untaught["dw_A"] - untaught["dw_B"]
