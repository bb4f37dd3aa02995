"""Three-factor rules: exactly no change without the third factor, eligibility decay with tau_e,
the error-modulated readout (the delta rule as a three-factor rule), and distal reward with
reward-modulated STDP (Izhikevich 2007, scaled down)."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.errors import ShapeError
from spikeforge.plasticity import (
    STDP,
    EligibilityTrace,
    RewardModulatedSTDP,
    ThreeFactor,
    ThreeFactorParams,
    ThreeFactorState,
    TripletSTDP,
    three_factor_step,
)

F64 = torch.float64


def random_activity(gen, steps, batch, n_pre, n_post, p=0.2):
    pre = (torch.rand(steps, batch, n_pre, generator=gen) < p).to(F64)
    post = (torch.rand(steps, batch, n_post, generator=gen) < p).to(F64)
    return pre, post


def test_no_change_when_modulator_or_gate_is_zero(gen):
    rule = ThreeFactor(tau_pre=20.0, tau_e=200.0, lr=0.5, batch_reduce="none").double()
    pre, post = random_activity(gen, 60, 3, 5, 4)
    w = torch.randn(4, 5, generator=gen, dtype=F64)
    m = torch.randn(3, 4, generator=gen, dtype=F64)
    m[:, 1] = 0.0  # no error for neuron 1
    g = torch.rand(3, generator=gen, dtype=F64)
    g[2] = 0.0  # sample 2 not attended
    state = None
    for t in range(60):
        dw, state = rule.step(pre[t], post[t], w, state, modulator=m, gate=g)
        assert torch.equal(dw[:, 1], torch.zeros_like(dw[:, 1]))
        assert torch.equal(dw[2], torch.zeros_like(dw[2]))
        d0, _ = rule.step(pre[t], post[t], w, state, modulator=0.0)
        dg, _ = rule.step(pre[t], post[t], w, state, modulator=m, gate=0.0)
        dn, _ = rule.step(pre[t], post[t], w, state)  # no modulator this step
        assert torch.equal(d0, torch.zeros_like(d0)) and torch.equal(dg, torch.zeros_like(dg))
        assert torch.equal(dn, torch.zeros_like(dn))
    assert state.e.abs().sum() > 0 and dw.abs().sum() > 0  # eligible, and learning where M G != 0
    # the wrapped-rule form and reward-modulated STDP
    for wrapped in (
        EligibilityTrace(STDP(), tau_e=100.0),
        EligibilityTrace(TripletSTDP(), tau_e=100.0),
        RewardModulatedSTDP(),
    ):
        wrapped = wrapped.double()
        s = None
        for t in range(60):
            dw, s = wrapped.step(pre[t], post[t], w, s, modulator=0.0)
            assert torch.equal(dw, torch.zeros_like(dw))


def test_eligibility_decays_with_tau_e():
    tau_e, lr, dt = 250.0, 0.1, 0.5
    rule = ThreeFactor(tau_pre=1e9, tau_e=tau_e, lr=lr, dt=dt).double()  # a pre trace that does not decay
    w = torch.zeros(1, 1, dtype=F64)
    one, zero = torch.ones(1, dtype=F64), torch.zeros(1, dtype=F64)
    dw, state = rule.step(one, one, w)  # one coincidence: e = 1
    assert state.e.item() == 1.0
    for k in range(1, 401):
        dw, state = rule.step(zero, zero, w, state, modulator=1.0)
        expected = lr * math.exp(-k * dt / tau_e)
        assert dw.item() == pytest.approx(expected, rel=1e-12)
    # EligibilityTrace around STDP: the same decay of the STDP change
    er = EligibilityTrace(STDP(a_plus=1.0, a_minus=1.0, dt=dt), tau_e=tau_e, lr=lr).double()
    _, s = er.step(one, zero, w)
    _, s = er.step(zero, one, w, s)  # post dt after pre: e = exp(-dt/20)
    e0 = math.exp(-dt / 20.0)
    assert s.e.item() == pytest.approx(e0, rel=1e-14)
    for k in range(1, 201):
        dw, s = er.step(zero, zero, w, s, modulator=2.0)
        assert dw.item() == pytest.approx(2.0 * lr * e0 * math.exp(-k * dt / tau_e), rel=1e-12)


def test_functional_equals_module(gen):
    rule = ThreeFactor(tau_pre=15.0, tau_e=80.0, lr=0.3, post_fn=torch.sqrt, batch_reduce="sum").double()
    pre, post = random_activity(gen, 30, 2, 3, 2)
    w = torch.zeros(2, 3, dtype=F64)
    s1 = None
    s2 = ThreeFactorState(torch.zeros(2, 3, dtype=F64), torch.zeros(2, 2, 3, dtype=F64))
    p = ThreeFactorParams(*(torch.tensor(v, dtype=F64) for v in (15.0, 80.0, 0.3)))
    for t in range(30):
        m = torch.randn(2, 2, generator=gen, dtype=F64)
        d1, s1 = rule.step(pre[t], post[t], w, s1, modulator=m, gate=0.5)
        d2, s2 = three_factor_step(
            pre[t], post[t], s2, p, dt=1.0, modulator=m, gate=0.5, post_fn=torch.sqrt, batch_reduce="sum"
        )
        assert torch.equal(d1, d2)


def test_error_modulated_readout_learns_a_target(gen):
    """With f(post) = 1, e is the low-pass filter of the inputs and M_i = target_i - y_i: the rule
    is the delta rule, online, and the readout converges to the target."""
    n_pre, n_post, steps = 8, 3, 3000
    rule = ThreeFactor(tau_pre=10.0, tau_e=1.0, lr=0.02, post_fn=torch.ones_like).double()
    w_true = torch.randn(n_post, n_pre, generator=gen, dtype=F64)
    w = torch.zeros(n_post, n_pre, dtype=F64)
    pre = (torch.rand(steps, n_pre, generator=gen) < 0.1).to(F64)
    state, x = None, torch.zeros(n_pre, dtype=F64)
    errors = []
    for t in range(steps):
        x = x * math.exp(-1 / 10.0) + pre[t]
        err = w_true @ x - w @ x
        errors.append(err.abs().mean().item())
        dw, state = rule.step(pre[t], torch.zeros(n_post, dtype=F64), w, state, modulator=err)
        w = rule.apply_update(w, dw)
    early, late = sum(errors[:200]) / 200, sum(errors[-200:]) / 200
    assert late < 0.05 * early
    assert torch.allclose(w, w_true, atol=0.05)


def test_distal_reward():
    """Izhikevich 2007, scaled down: 100 inputs onto 10 neurons, all firing as Poisson at 1 Hz. In
    each 1.5 s trial the synapse 0 -> 0 gets a pre-post pairing (5 ms), and a reward (dopamine)
    arrives 1 s later, when the tag has decayed to 37%. The other 999 synapses see only chance
    pairings, which the reward follows at random. After 25 trials the rewarded synapse has grown
    far above the others, which stay within their bounds around where they started."""
    gen = torch.Generator().manual_seed(7)
    n_pre, n_post, trial, n_trials, rate = 100, 10, 1500, 16, 1e-3
    rule = RewardModulatedSTDP(
        tau_c=1000.0, tau_d=200.0, a_plus=1.0, a_minus=1.5, lr=5e-3, w_min=0.0, w_max=4.0
    )
    w = torch.full((n_post, n_pre), 1.0)
    steps = trial * n_trials
    pre = (torch.rand(steps, n_pre, generator=gen) < rate).float()
    post = (torch.rand(steps, n_post, generator=gen) < rate).float()
    reward = torch.zeros(steps)
    for k in range(n_trials):
        t0 = k * trial + 100
        pre[t0, 0] = 1.0
        post[t0 + 5, 0] = 1.0
        reward[t0 + 5 + 1000] = 0.5  # dopamine, 1 s after the pairing
    state = None
    for t in range(steps):
        dw, state = rule.step(pre[t], post[t], w, state, modulator=reward[t] if reward[t] > 0 else None)
        w = rule.apply_update(w, dw)
    rewarded = w[0, 0].item()
    others = torch.cat([w.flatten()[1:]])
    z = (rewarded - others.mean().item()) / others.std().item()
    print(
        f"\ndistal reward: rewarded synapse {rewarded:.3f}, others mean {others.mean().item():.3f} "
        f"(sd {others.std().item():.3f}, max {others.max().item():.3f}); "
        f"ratio {rewarded / others.mean().item():.2f}, "
        f"{z:.1f} sd above"
    )
    assert rewarded > 2.5
    assert rewarded > others.max().item() + 1.0
    assert z > 10
    assert others.min().item() >= 0.0 and others.max().item() <= 4.0
    assert abs(others.mean().item() - 1.0) < 0.2


def test_modulator_shapes(gen):
    """Global, per-sample and per-neuron modulators broadcast as documented."""
    pre, post = random_activity(gen, 20, 3, 5, 4)
    w = torch.zeros(4, 5, dtype=F64)
    per_sample = EligibilityTrace(STDP(batch_reduce="none"), tau_e=100.0, batch_reduce="sum").double()
    reduced = EligibilityTrace(STDP(batch_reduce="sum"), tau_e=100.0).double()
    s1 = s2 = None
    for t in range(20):
        _, s1 = per_sample.step(pre[t], post[t], w, s1)
        _, s2 = reduced.step(pre[t], post[t], w, s2)
    assert s1.e.shape == (3, 4, 5) and s2.e.shape == (4, 5)
    assert torch.allclose(s1.e.sum(0), s2.e, rtol=1e-12, atol=1e-15)
    zs = torch.zeros(3, 5, dtype=F64), torch.zeros(3, 4, dtype=F64)
    m_sample = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    dw, _ = per_sample.step(*zs, w, s1, modulator=m_sample)
    expected = (m_sample[:, None, None] * s1.e * math.exp(-1 / 100)).sum(0)
    assert torch.allclose(dw, expected, rtol=1e-12, atol=1e-15)
    m_neuron = torch.tensor([1.0, 0.0, -1.0, 2.0], dtype=F64)
    dw1, _ = per_sample.step(*zs, w, s1, modulator=m_neuron)
    dw2, _ = reduced.step(*zs, w, s2, modulator=m_neuron)
    assert torch.allclose(dw1, dw2, rtol=1e-12, atol=1e-15)
    assert torch.equal(dw1[1], torch.zeros(5, dtype=F64))
    with pytest.raises(ShapeError, match="batch_reduce='none'"):
        reduced.step(*zs, w, s2, modulator=m_sample)
