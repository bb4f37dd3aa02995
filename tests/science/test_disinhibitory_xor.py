"""Disinhibition-gated plasticity learns XOR: a small version of ``experiments/disinhibitory_xor.py``
(issue 15, item 4). Full figures (10 seeds, two tasks, five arms) are in
``experiments/results/disinhibitory_xor.json``.
"""

import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

_PATH = Path(__file__).resolve().parents[2] / "experiments" / "disinhibitory_xor.py"


@pytest.fixture(scope="module")
def exp():
    spec = importlib.util.spec_from_file_location("disinhibitory_xor", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors: one thread avoids the spinning of two on a loaded machine (restored after)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_topdown_sets_the_sign_of_the_rate_change(exp):
    d = exp.sign_demo(9)
    err, intact, nodep, cut = (torch.tensor(d[k]) for k in ("error", "intact", "no_depression", "cut"))
    pos, neg = err > 0, err < 0
    assert bool((intact[pos] > 0).all()) and bool((intact[neg] < 0).all())
    assert float(intact[err == 0].abs().max()) < 1e-12
    # linearised at the fixed point (v = u - r_S, phi' = sigmoid(5 v)): a top-down step d raises
    # the E rate by d * phi' / (1 + phi') (w_SE = w_ES = w_VS = 1): small steps match it
    u = torch.full((1,), 1.5, dtype=exp.DTYPE)
    r_e, r_s = exp.settle(u, torch.full_like(u, exp.CIRCUIT["t0"]))
    k = torch.sigmoid(exp.CIRCUIT["sharpness"] * (u - r_s))
    small = exp.sign_demo(41)
    i = small["error"].index(min(small["error"], key=lambda e: abs(e - 0.05)))
    d = exp.BETA_OUT * small["error"][i]
    assert small["intact"][i] == pytest.approx(float(d * k / (1 + k)), rel=2e-2)
    assert float(r_e) == pytest.approx(small["rate_at_baseline"])
    assert bool((nodep[neg] == 0).all()) and torch.allclose(nodep[pos], intact[pos])
    assert float(cut.abs().max()) == 0.0


def test_local_output_update_follows_the_negative_gradient(exp):
    """At the output the rule's dW is a (scaled) descent direction of the squared error."""
    w = exp.init_weights(0)
    x, y = exp.xor_task(64, torch.Generator().manual_seed(0))
    xb, y1h = exp.encode(x)[None], F.one_hot(y, 2).to(exp.DTYPE)[None]
    w1, w2, fb = w["w1"][None], w["w2"][None], w["B"][None]
    _, d2 = exp.local_update(w1, w2, fb, xb, y1h, "output_only")
    w2r = w2.clone().requires_grad_()
    _, r_o = exp.forward(w1, w2r, xb)
    (g2,) = torch.autograd.grad(0.5 * ((r_o - y1h) ** 2).sum(-1).mean(), (w2r,))
    cos = float(F.cosine_similarity(d2.flatten(), -g2.flatten(), dim=0))
    assert cos > 0.95
    d1_cut, d2_cut = exp.local_update(w1, w2, fb, xb, y1h, "cut")
    assert float(d1_cut.abs().max()) == 0.0 and float(d2_cut.abs().max()) == 0.0


def test_without_depression_weights_only_grow(exp):
    """Top-down that can only disinhibit gives only potentiation (inputs are non-negative rates)."""
    w = exp.init_weights(1)
    x, y = exp.xor_task(64, torch.Generator().manual_seed(2))
    xb, y1h = exp.encode(x)[None], F.one_hot(y, 2).to(exp.DTYPE)[None]
    args = (w["w1"][None], w["w2"][None], w["B"][None], xb, y1h)
    d1, _ = exp.local_update(*args, "no_depression", 0.5)
    _, d2 = exp.local_update(*args, "no_depression", 0.0)  # hidden top-down off: output cells alone
    assert float(d1.min()) >= 0.0 and float(d2.min()) >= 0.0 and float(d2.max()) > 0.0
    # every output should be silent: the intact circuit depresses, the one without depression does nothing
    zeros = (*args[:4], torch.zeros_like(y1h))
    _, i2 = exp.local_update(*zeros, "disinhibition", 0.0)
    _, n2 = exp.local_update(*zeros, "no_depression", 0.0)
    assert float(i2.max()) <= 0.0 and float(i2.min()) < 0.0
    assert float(n2.abs().max()) == 0.0


def test_xor_is_not_additive(exp):
    """No read-out of the input code alone solves the task: a hidden layer is needed."""
    x, y = exp.xor_task(4000, torch.Generator().manual_seed(1))
    z = exp.encode(x)
    w = torch.linalg.lstsq(z, (2.0 * y - 1.0).to(z.dtype)[:, None]).solution
    acc = float(((z @ w)[:, 0] > 0).eq(y.bool()).double().mean())
    assert acc < 0.6


def test_disinhibition_learns_xor_and_the_cut_does_not(exp):
    seeds = [0, 1, 2]
    setting = exp.SMALL_SETTINGS["xor"]["disinhibition"]
    dis = exp.train("xor", "disinhibition", seeds, [setting], **exp.SMALL)
    cut = exp.train("xor", "cut", seeds, [setting], **(exp.SMALL | {"epochs": 1}))  # it never moves
    for k, s in enumerate(seeds):  # nothing moves
        start = exp.init_weights(s)
        assert torch.equal(cut["w1"][k], start["w1"]) and torch.equal(cut["w2"][k], start["w2"])
        assert not torch.equal(dis["w1"][k], start["w1"])
    assert float(cut["acc"].mean()) < 0.6  # the initial networks: about chance
    assert float(dis["acc"].min()) > 0.7
    assert float(dis["acc"].mean()) > float(cut["acc"].mean()) + 0.2
