"""Recursive least squares (``RLSReadout``, FORCE's rule) against the closed-form weighted ridge
regression it computes online: after N steps from W0 with P(0) = I/alpha,
W_N = argmin sum_t lam^(N-t) g_t |s_t - W x_t|^2 + lam^N alpha |W - W0|^2."""

from __future__ import annotations

import pytest
import torch

from spikeforge.errors import ParameterError, ShapeError
from spikeforge.plasticity import RLSReadout, RLSState

F64 = torch.float64


def ridge(x, s, g, w0, alpha, lam):
    """The closed form, one learner: x [N, n], s [N, m], g [N], w0 [m, n]."""
    n_steps, n = x.shape
    c = lam ** torch.arange(n_steps - 1, -1, -1, dtype=F64) * g  # sample weights
    a = x.T @ (c[:, None] * x) + lam**n_steps * alpha * torch.eye(n, dtype=F64)
    b = x.T @ (c[:, None] * s) + lam**n_steps * alpha * w0.T
    return torch.linalg.solve(a, b).T


def run(rule, x, s, g, w0):
    """Online, one step per sample; x [N, *batch, n], s [N, *batch, m], g [N, *batch] or None."""
    w, state = w0.clone(), None
    for t in range(x.shape[0]):
        y = rule.output(w, x[t])
        dw, state = rule.step(x[t], y, w, state, target=s[t], gate=None if g is None else g[t])
        w = w + dw
    return w, state


@pytest.mark.parametrize("lam", [1.0, 0.97])
def test_equals_weighted_ridge_regression(gen, lam):
    n_steps, n, m, alpha = 60, 7, 3, 0.3
    x = torch.randn(n_steps, n, generator=gen, dtype=F64)
    s = torch.randn(n_steps, m, generator=gen, dtype=F64)
    g = torch.rand(n_steps, generator=gen, dtype=F64)
    g[::4] = 0.0  # closed gate: the sample does not count, and no forgetting either
    w0 = torch.randn(m, n, generator=gen, dtype=F64)
    w, state = run(RLSReadout(alpha=alpha, forgetting=lam), x, s, g, w0)
    open_steps = g > 0
    ref = ridge(x[open_steps], s[open_steps], g[open_steps], w0, alpha, lam)
    torch.testing.assert_close(w, ref, rtol=1e-9, atol=1e-10)
    # P is the inverse of the weighted correlation matrix plus the regulariser
    k = int(open_steps.sum())
    c = lam ** torch.arange(k - 1, -1, -1, dtype=F64) * g[open_steps]
    a = x[open_steps].T @ (c[:, None] * x[open_steps]) + lam**k * alpha * torch.eye(n, dtype=F64)
    torch.testing.assert_close(state.p, torch.linalg.inv(a), rtol=1e-8, atol=1e-10)


def test_batch_elements_are_separate_learners(gen):
    n_steps, b, n, m = 40, 3, 5, 2
    x = torch.randn(n_steps, b, n, generator=gen, dtype=F64)
    s = torch.randn(n_steps, b, m, generator=gen, dtype=F64)
    g = (torch.rand(n_steps, b, generator=gen, dtype=F64) < 0.7).to(F64)
    w0 = torch.zeros(b, m, n, dtype=F64)
    w, _ = run(RLSReadout(alpha=2.0), x, s, g, w0)
    for i in range(b):
        keep = g[:, i] > 0
        ref = ridge(x[keep, i], s[keep, i], g[keep, i], w0[i], 2.0, 1.0)
        torch.testing.assert_close(w[i], ref, rtol=1e-9, atol=1e-10)


def test_float32_close_to_float64(gen):
    x = torch.randn(100, 6, generator=gen, dtype=F64)
    s = x @ torch.randn(6, 1, generator=gen, dtype=F64)
    w64, _ = run(RLSReadout(alpha=1.0), x, s, None, torch.zeros(1, 6, dtype=F64))
    w32, _ = run(RLSReadout(alpha=1.0), x.float(), s.float(), None, torch.zeros(1, 6))
    torch.testing.assert_close(w32.double(), w64, rtol=1e-4, atol=1e-4)


def test_converged_rule_adapts_slowly_and_a_reset_restores_it(gen):
    """The point FORCE is criticised for: after many samples P is small, so a changed target is
    learned slowly; a fresh state (the reset) learns it at once."""
    n = 4
    rule = RLSReadout(alpha=1.0)
    x = torch.randn(2000, n, generator=gen, dtype=F64)
    w_a, w_b = torch.randn(1, n, generator=gen, dtype=F64), torch.randn(1, n, generator=gen, dtype=F64)
    w, state = torch.zeros(1, n, dtype=F64), None
    for t in range(1000):
        dw, state = rule.step(x[t], rule.output(w, x[t]), w, state, target=w_a @ x[t])
        w = w + dw
    kept = (w.clone(), state)
    errors = {}
    for name, (w, state) in {"no reset": kept, "reset": (kept[0], None)}.items():
        for t in range(1000, 1020):  # 20 samples of the new target
            dw, state = rule.step(x[t], rule.output(w, x[t]), w, state, target=w_b @ x[t])
            w = w + dw
        errors[name] = float((w - w_b).norm() / (w_a - w_b).norm())
    assert errors["reset"] < 0.1 < 0.5 < errors["no reset"], errors


def test_no_target_and_closed_gate_change_nothing(gen):
    rule = RLSReadout(alpha=0.5)
    x = torch.randn(4, generator=gen, dtype=F64)
    w = torch.randn(2, 4, generator=gen, dtype=F64)
    state = rule.init_state((), 4, dtype=F64)
    dw, s1 = rule.step(x, rule.output(w, x), w, state)
    assert bool((dw == 0).all()) and torch.equal(s1.p, state.p)
    dw, s2 = rule.step(x, rule.output(w, x), w, state, target=torch.ones(2), gate=0.0)
    assert bool((dw == 0).all()) and torch.equal(s2.p, state.p)
    dw, s3 = rule.step(x, rule.output(w, x), w, state, modulator=torch.ones(2))
    assert bool((dw != 0).all()) and not torch.equal(s3.p, state.p)


def test_bad_parameters_and_shapes():
    with pytest.raises(ParameterError, match="alpha"):
        RLSReadout(alpha=0.0)
    with pytest.raises(ParameterError, match="forgetting"):
        RLSReadout(forgetting=1.5)
    with pytest.raises(ParameterError, match="forgetting"):
        RLSReadout(forgetting=0.0)
    rule = RLSReadout()
    with pytest.raises(ShapeError, match="w must be"):  # a batch needs one w per element
        rule.step(torch.ones(2, 3), torch.zeros(2, 1), torch.zeros(1, 3), target=1.0)
    with pytest.raises(ShapeError, match="state.p"):
        rule.step(torch.ones(3), torch.zeros(1), torch.zeros(1, 3), RLSState(torch.eye(4)), target=1.0)
    with pytest.raises(ShapeError, match="gate"):
        rule.step(torch.ones(3), torch.zeros(1), torch.zeros(1, 3), target=1.0, gate=torch.ones(2))
    with pytest.raises(ParameterError, match="gate"):
        rule.step(torch.ones(3), torch.zeros(1), torch.zeros(1, 3), target=1.0, gate=2.0)
    with pytest.raises(ShapeError, match="error"):
        rule.step(torch.ones(3), torch.zeros(2), torch.zeros(2, 3), target=torch.ones(3))
