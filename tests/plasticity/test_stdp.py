"""Pair STDP: the closed-form window, an independent event-driven reference, the order of
operations within a step (simultaneous spikes), bounds, batching, and norse's STDP functional.

The reference (``event_driven_reference``) is written from the definition of the rule, not from
the implementation: for each synapse and each step with a spike it sums the exponentials over the
earlier spikes of the other side (all-to-all) or takes the latest one (nearest), with Python floats.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch

from spikeforge.errors import ParameterError
from spikeforge.plasticity import (
    STDP,
    STDPParams,
    STDPState,
    apply_weight_update,
    stdp_init_state,
    stdp_step,
)

F64 = torch.float64


def params64(
    a_plus=0.01,
    a_minus=0.0105,
    tau_plus=20.0,
    tau_minus=20.0,
    w_min=0.0,
    w_max=1.0,
    mu_plus=0.0,
    mu_minus=0.0,
) -> STDPParams:
    return STDPParams(
        *(
            torch.tensor(v, dtype=F64)
            for v in (a_plus, a_minus, tau_plus, tau_minus, w_min, w_max, mu_plus, mu_minus)
        )
    )


# ---------------------------------------------------------------------------------------------
# the window


@pytest.mark.parametrize("tau_plus,tau_minus", [(20.0, 20.0), (16.8, 33.7)])
def test_pair_window_matches_closed_form(tau_plus, tau_minus):
    """One pre and one post spike per batch element, delta t = t_post - t_pre in [-100, 100] ms."""
    a_plus, a_minus = 0.01, 0.0105
    rule = STDP(
        tau_plus=tau_plus, tau_minus=tau_minus, a_plus=a_plus, a_minus=a_minus, batch_reduce="none"
    ).double()
    lags = torch.arange(-100, 101)
    t0, steps = 110, 330
    pre = torch.zeros(steps, len(lags), 1, dtype=F64)
    post = torch.zeros(steps, len(lags), 1, dtype=F64)
    pre[t0, :, 0] = 1.0
    post[t0 + lags, torch.arange(len(lags)), 0] = 1.0
    w = torch.full((1, 1), 0.5, dtype=F64)
    total = torch.zeros(len(lags), dtype=F64)
    state = None
    for t in range(steps):
        dw, state = rule.step(pre[t], post[t], w, state)  # w fixed: additive, so no effect
        total += dw[:, 0, 0]
    lag = lags.to(F64)
    expected = torch.where(
        lag > 0,
        a_plus * torch.exp(-lag / tau_plus),
        torch.where(lag < 0, -a_minus * torch.exp(lag / tau_minus), torch.zeros_like(lag)),
    )
    nz = lags != 0
    rel = ((total[nz] - expected[nz]).abs() / expected[nz].abs()).max().item()
    inner = (lags.abs() <= 50) & nz
    rel50 = ((total[inner] - expected[inner]).abs() / expected[inner].abs()).max().item()
    print(f"\nSTDP window tau+={tau_plus} tau-={tau_minus}: max relative error {rel:.2e} over [-100, 100] ms")
    assert rel50 < 0.02  # the acceptance bound of the issue
    assert rel < 1e-6  # papers.md 5(a); exact integration gives ~1e-14
    assert total[lags == 0].item() == 0.0  # simultaneous spikes do not pair
    # fitted time constants (log-linear least squares on each side)
    for side, tau in ((lags > 0, tau_plus), (lags < 0, tau_minus)):
        x, y = lag[side], total[side].abs().log()
        slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
        fitted = 1.0 / abs(slope.item())
        assert abs(fitted - tau) / tau < 0.05
        assert abs(fitted - tau) / tau < 1e-9


def test_simultaneous_spikes_pair_only_with_earlier_ones():
    """Pins the order decay -> depress -> potentiate -> increment."""
    p = params64(a_plus=1.0, a_minus=2.0, tau_plus=10.0, tau_minus=10.0)
    w = torch.full((1, 1), 0.5, dtype=F64)
    s = stdp_init_state((), 1, 1, dtype=F64)
    one, zero = torch.ones(1, dtype=F64), torch.zeros(1, dtype=F64)
    dw, s = stdp_step(one, one, w, s, p, dt=1.0)  # t = 0: both spike, nothing earlier
    assert dw.item() == 0.0
    assert s.x_pre.item() == 1.0 and s.y_post.item() == 1.0
    dw, s = stdp_step(zero, zero, w, s, p, dt=1.0)  # t = 1
    assert dw.item() == 0.0
    dw, s = stdp_step(one, one, w, s, p, dt=1.0)  # t = 2: pairs with t = 0 both ways
    expected = 1.0 * math.exp(-2 / 10) - 2.0 * math.exp(-2 / 10)
    assert dw.item() == pytest.approx(expected, rel=1e-14)
    dw, s = stdp_step(zero, one, w, s, p, dt=3.0)  # t = 5: post pairs with pre at 0 and 2
    assert dw.item() == pytest.approx(math.exp(-5 / 10) + math.exp(-3 / 10), rel=1e-14)


@pytest.mark.parametrize("same_step", ["potentiate", "both"])
def test_same_step_pairs(same_step):
    """``same_step="potentiate"``: a pre and a post spike of one step pair as dt = 0+ (Brian2's
    on_pre-before-on_post order); ``"both"`` also depresses (norse)."""
    p = params64(a_plus=1.0, a_minus=2.0, tau_plus=10.0, tau_minus=10.0)
    w = torch.full((1, 1), 0.5, dtype=F64)
    one, zero = torch.ones(1, dtype=F64), torch.zeros(1, dtype=F64)
    s = stdp_init_state((), 1, 1, dtype=F64)
    dw, s = stdp_step(one, one, w, s, p, dt=1.0, same_step=same_step)  # t = 0: only the same-step pair
    assert dw.item() == (1.0 if same_step == "potentiate" else 1.0 - 2.0)
    dw, s = stdp_step(zero, zero, w, s, p, dt=1.0, same_step=same_step)
    dw, s = stdp_step(one, one, w, s, p, dt=1.0, same_step=same_step)  # t = 2: earlier pairs too
    earlier = 1.0 * math.exp(-2 / 10) - 2.0 * math.exp(-2 / 10)
    assert dw.item() == pytest.approx(earlier + (1.0 if same_step == "potentiate" else -1.0), rel=1e-14)
    rule = STDP(a_plus=1.0, a_minus=2.0, tau_plus=10.0, tau_minus=10.0, same_step=same_step).double()
    dw, _ = rule.step(one, one, w)
    assert dw.item() == (1.0 if same_step == "potentiate" else -1.0)
    with pytest.raises(ParameterError, match="same_step"):
        STDP(same_step="after")


def test_nearest_pairing_resets_traces():
    p = params64(a_plus=1.0, a_minus=1.0, tau_plus=10.0, tau_minus=10.0)
    w = torch.full((1, 1), 0.5, dtype=F64)
    s = stdp_init_state((), 1, 1, dtype=F64)
    one, zero = torch.ones(1, dtype=F64), torch.zeros(1, dtype=F64)
    for pairing, expected in (
        ("all_to_all", math.exp(-2 / 10) + math.exp(-1 / 10)),
        ("nearest", math.exp(-1 / 10)),
    ):
        s = stdp_init_state((), 1, 1, dtype=F64)
        _, s = stdp_step(one, zero, w, s, p, dt=1.0, pairing=pairing)  # pre at 0
        _, s = stdp_step(one, zero, w, s, p, dt=1.0, pairing=pairing)  # pre at 1
        dw, s = stdp_step(zero, one, w, s, p, dt=1.0, pairing=pairing)  # post at 2
        assert dw.item() == pytest.approx(expected, rel=1e-14), pairing


# ---------------------------------------------------------------------------------------------
# against an event-driven reference


def f_plus(w: float, p: dict) -> float:
    return max(p["w_max"] - w, 0.0) ** p["mu_plus"] if p["mu_plus"] != 0 else 1.0


def f_minus(w: float, p: dict) -> float:
    return max(w - p["w_min"], 0.0) ** p["mu_minus"] if p["mu_minus"] != 0 else 1.0


def event_driven_reference(pre_times, post_times, w0, p, steps, dt, pairing, bound):
    """Pure Python. ``pre_times[b][j]`` and ``post_times[b][i]``: sorted spike steps. The weight
    is shared by the batch; each step's change is the batch mean, applied with hard or soft bounds."""
    n_batch = len(pre_times)
    n_post, n_pre = len(w0), len(w0[0])
    w = [row[:] for row in w0]
    pre_at = [[set(tr) for tr in b] for b in pre_times]
    post_at = [[set(tr) for tr in b] for b in post_times]
    event_steps = sorted({t for b in pre_times + post_times for tr in b for t in tr})
    span = p["w_max"] - p["w_min"]
    for t in event_steps:
        now = t * dt
        change = [[0.0] * n_pre for _ in range(n_post)]
        for b in range(n_batch):
            for i in range(n_post):
                for j in range(n_pre):
                    c = 0.0
                    if t in pre_at[b][j]:
                        earlier = [s for s in post_times[b][i] if s < t]
                        if pairing == "nearest":
                            earlier = earlier[-1:]
                        c -= (
                            p["a_minus"]
                            * f_minus(w[i][j], p)
                            * sum(math.exp(-(now - s * dt) / p["tau_minus"]) for s in earlier)
                        )
                    if t in post_at[b][i]:
                        earlier = [s for s in pre_times[b][j] if s < t]
                        if pairing == "nearest":
                            earlier = earlier[-1:]
                        c += (
                            p["a_plus"]
                            * f_plus(w[i][j], p)
                            * sum(math.exp(-(now - s * dt) / p["tau_plus"]) for s in earlier)
                        )
                    change[i][j] += c / n_batch
        for i in range(n_post):
            for j in range(n_pre):
                d, wij = change[i][j], w[i][j]
                if bound == "soft":
                    d = d * (p["w_max"] - wij) / span if d > 0 else d * (wij - p["w_min"]) / span
                w[i][j] = min(max(wij + d, p["w_min"]), p["w_max"])
    return w


def spike_trains(gen: torch.Generator, steps: int, batch: int, n: int, rate: float) -> torch.Tensor:
    return (torch.rand(steps, batch, n, generator=gen, dtype=F64) < rate).to(F64)


def add_edge_cases(pre: torch.Tensor, post: torch.Tensor) -> None:
    """Simultaneous pre and post spikes, a burst on consecutive steps, a post burst."""
    pre[10, :, :] = 1.0
    post[10, :, :] = 1.0  # everyone at once
    pre[40:45, 0, 0] = 1.0  # pre burst
    post[42, 0, :] = 1.0
    post[60:64, 1 % post.shape[1], 1] = 1.0  # post burst
    pre[61, :, 2] = 1.0
    pre[-1], post[-1] = 1.0, 1.0  # both at the very last step


CASES = [
    dict(weight_dependence="additive", pairing="all_to_all", bound="hard"),
    dict(weight_dependence="additive", pairing="nearest", bound="hard"),
    dict(weight_dependence="multiplicative", pairing="all_to_all", bound="hard"),
    dict(weight_dependence="soft", mu_plus=0.3, mu_minus=0.8, pairing="all_to_all", bound="hard"),
    dict(weight_dependence="soft", mu_plus=0.5, mu_minus=0.5, pairing="nearest", bound="soft"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_matches_event_driven_reference(case, gen):
    steps, batch, n_pre, n_post, dt = 300, 2, 4, 3, 0.5
    kw = dict(tau_plus=16.8, tau_minus=33.7, a_plus=0.03, a_minus=0.035, w_min=-0.2, w_max=1.3)
    rule = STDP(**kw, **case, dt=dt).double()
    pre = spike_trains(gen, steps, batch, n_pre, 0.04)
    post = spike_trains(gen, steps, batch, n_post, 0.04)
    add_edge_cases(pre, post)
    w = -0.2 + 1.5 * torch.rand(n_post, n_pre, generator=gen, dtype=F64)
    w0 = w.tolist()
    state = None
    for t in range(steps):
        dw, state = rule.step(pre[t], post[t], w, state)
        w = rule.apply_update(w, dw)
    p = dict(kw, mu_plus=float(rule.mu_plus), mu_minus=float(rule.mu_minus))
    pre_times = [[torch.nonzero(pre[:, b, j]).flatten().tolist() for j in range(n_pre)] for b in range(batch)]
    post_times = [
        [torch.nonzero(post[:, b, i]).flatten().tolist() for i in range(n_post)] for b in range(batch)
    ]
    ref = torch.tensor(
        event_driven_reference(pre_times, post_times, w0, p, steps, dt, case["pairing"], case["bound"]),
        dtype=F64,
    )
    err = (w - ref).abs().max().item()
    print(
        f"\n{case}: max |w - w_ref| = {err:.2e}, "
        f"weights moved by up to {(ref - torch.tensor(w0, dtype=F64)).abs().max().item():.3f}"
    )
    assert err < 1e-12
    assert bool((w >= -0.2).all() and (w <= 1.3).all())


@pytest.mark.parametrize("bound", ["hard", "soft"])
@pytest.mark.parametrize("weight_dependence", ["additive", "multiplicative", "soft"])
def test_weights_stay_in_bounds(weight_dependence, bound, gen):
    rule = STDP(
        a_plus=0.4, a_minus=0.5, w_min=0.1, w_max=0.9, weight_dependence=weight_dependence, bound=bound
    )
    w = 0.1 + 0.8 * torch.rand(6, 5, generator=gen)
    pre = (torch.rand(400, 5, generator=gen) < 0.2).float()
    post = (torch.rand(400, 6, generator=gen) < 0.2).float()
    state, lo, hi = None, 1.0, 0.0
    for t in range(400):
        dw, state = rule.step(pre[t], post[t], w, state)
        w = rule.apply_update(w, dw)
        lo, hi = min(lo, w.min().item()), max(hi, w.max().item())
    assert lo >= 0.1 and hi <= 0.9
    assert hi - lo > 0.3  # the weights did move


# ---------------------------------------------------------------------------------------------
# module, batching, modulator, gradients


def test_module_equals_functional_bitwise(gen):
    rule = STDP(
        weight_dependence="soft", mu_plus=0.7, mu_minus=0.2, pairing="nearest", batch_reduce="sum", dt=0.25
    )
    pre = (torch.rand(50, 3, 4, generator=gen) < 0.2).float()
    post = (torch.rand(50, 3, 2, generator=gen) < 0.2).float()
    w = torch.rand(2, 4, generator=gen)
    s1, s2 = None, stdp_init_state((3,), 4, 2)
    p = STDPParams(*(t.float() for t in rule.params()))
    for t in range(50):
        d1, s1 = rule.step(pre[t], post[t], w, s1)
        d2, s2 = stdp_step(pre[t], post[t], w, s2, p, dt=0.25, pairing="nearest", batch_reduce="sum")
        assert torch.equal(d1, d2)
    assert isinstance(s1, STDPState) and torch.equal(s1.x_pre, s2.x_pre) and torch.equal(s1.y_post, s2.y_post)


def test_batch_element_equals_unbatched_run(gen):
    rule = STDP(weight_dependence="multiplicative", batch_reduce="none").double()
    pre = (torch.rand(80, 3, 4, generator=gen) < 0.1).to(F64)
    post = (torch.rand(80, 3, 2, generator=gen) < 0.1).to(F64)
    w = torch.rand(2, 4, generator=gen, dtype=F64)
    sb, s1 = None, None
    for t in range(80):
        db, sb = rule.step(pre[t], post[t], w, sb)
        d1, s1 = rule.step(pre[t, 1], post[t, 1], w, s1)
        assert db.shape == (3, 2, 4)
        assert torch.allclose(db[1], d1, rtol=0, atol=1e-15)
    mean_rule = STDP(weight_dependence="multiplicative", batch_reduce="mean").double()
    dm, _ = mean_rule.step(pre[3], post[3], w, sb)
    dn, _ = rule.step(pre[3], post[3], w, sb)
    assert torch.allclose(dm, dn.mean(0), rtol=0, atol=1e-15)


def test_modulator_scales_the_change(gen):
    rule = STDP().double()
    pre = (torch.rand(3, 4, generator=gen) < 0.5).to(F64)
    post = (torch.rand(3, 2, generator=gen) < 0.5).to(F64)
    w = torch.rand(2, 4, generator=gen, dtype=F64)
    state = STDPState(torch.rand(3, 4, generator=gen, dtype=F64), torch.rand(3, 2, generator=gen, dtype=F64))
    dw, _ = rule.step(pre, post, w, state)
    dw2, _ = rule.step(pre, post, w, state, modulator=2.0)
    assert torch.allclose(dw2, 2 * dw, rtol=1e-15, atol=0)
    m = torch.tensor([1.0, 0.0, -1.0], dtype=F64)  # one per sample
    dwm, _ = rule.step(pre, post, w, state, modulator=m)
    per, _ = STDP(batch_reduce="none").double().step(pre, post, w, state)
    assert torch.allclose(dwm, (per * m[:, None, None]).mean(0), rtol=0, atol=1e-16)


def test_no_grad_unless_differentiable():
    w = torch.full((1, 1), 0.5, requires_grad=True)
    state = STDPState(torch.ones(1), torch.zeros(1))
    dw, _ = STDP(weight_dependence="multiplicative").step(torch.zeros(1), torch.ones(1), w, state)
    assert not dw.requires_grad
    dw, _ = STDP(weight_dependence="multiplicative", differentiable=True).step(
        torch.zeros(1), torch.ones(1), w, state
    )
    dw.sum().backward()
    # dw = a_plus * exp(-1/20) * (w_max - w): d/dw = -a_plus * exp(-1/20)
    assert w.grad.item() == pytest.approx(-0.01 * math.exp(-1 / 20), rel=1e-6)


def test_apply_weight_update_does_not_write_w():
    p = params64(w_min=0.0, w_max=1.0)
    w = torch.tensor([[0.5, 0.95]], dtype=F64)
    before = w.clone()
    new = apply_weight_update(w, torch.tensor([[0.2, 0.2]], dtype=F64), p)
    assert torch.equal(w, before)
    assert new.tolist() == [[0.7, 1.0]]
    soft = apply_weight_update(w, torch.tensor([[0.2, -0.2]], dtype=F64), p, bound="soft")
    assert soft[0].tolist() == pytest.approx([0.5 + 0.2 * 0.5, 0.95 - 0.2 * 0.95], rel=1e-15)


def test_state_dict_holds_the_parameters():
    rule = STDP(tau_plus=12.0, a_minus=0.02)
    sd = rule.state_dict()
    assert sd["tau_plus"].item() == 12.0 and sd["a_minus"].item() == 0.02
    other = STDP()
    other.load_state_dict(sd)
    assert other.tau_plus.item() == 12.0


# ---------------------------------------------------------------------------------------------
# norse


def norse_mapping(tau_plus, tau_minus, a_plus, a_minus, dt, **extra):
    """Our parameters -> norse ``STDPParameters`` (see the stdp module docstring)."""
    from norse.torch.functional.stdp import STDPParameters

    inv_pre = (1.0 - math.exp(-dt / tau_plus)) / dt
    inv_post = (1.0 - math.exp(-dt / tau_minus)) / dt
    return STDPParameters(
        a_pre=torch.tensor(1.0 / (dt * inv_pre), dtype=F64),
        a_post=torch.tensor(1.0 / (dt * inv_post), dtype=F64),
        tau_pre_inv=torch.tensor(inv_pre, dtype=F64),
        tau_post_inv=torch.tensor(inv_post, dtype=F64),
        eta_plus=a_plus,
        eta_minus=a_minus,
        **extra,
    )


@pytest.mark.reference
@pytest.mark.parametrize("weight_dependence", ["additive", "soft"])
def test_norse_gives_the_same_dw(weight_dependence, gen):
    pytest.importorskip("norse")
    from norse.torch.functional.stdp import STDPState as NorseState
    from norse.torch.functional.stdp import stdp_step_linear

    steps, batch, n_pre, n_post, dt = 400, 3, 5, 4, 1.0
    kw = dict(tau_plus=20.0, tau_minus=25.0, a_plus=0.01, a_minus=0.012)
    if weight_dependence == "additive":
        ours = STDP(**kw, batch_reduce="sum", bound="none", dt=dt).double()
        norse_p = norse_mapping(**kw, dt=dt, stdp_algorithm="additive", hardbound=False)
    else:
        ours = STDP(
            **kw, weight_dependence="soft", mu_plus=0.5, mu_minus=0.5, batch_reduce="sum", bound="none", dt=dt
        ).double()
        norse_p = norse_mapping(**kw, dt=dt, stdp_algorithm="multiplicative_pow", mu=0.5, hardbound=False)
    pre = spike_trains(gen, steps, batch, n_pre, 0.05)
    post = spike_trains(gen, steps, batch, n_post, 0.05)
    add_edge_cases(pre, post)
    w = 0.3 + 0.4 * torch.rand(n_post, n_pre, generator=gen, dtype=F64)
    ns = NorseState(torch.zeros(batch, n_pre, dtype=F64), torch.zeros(batch, n_post, dtype=F64))
    state, worst, n_coincident = None, 0.0, 0
    both = copy.deepcopy(ours)
    both.same_step = "both"
    state_both = None
    for t in range(steps):
        dw, state = ours.step(pre[t], post[t], w, state)
        w_norse, ns = stdp_step_linear(pre[t], post[t], w, ns, norse_p, dt=dt)
        dw_norse = w_norse - w
        # norse also pairs the spikes of the same step: (A+ f+ - A- f-) post ⊗ pre
        f_p = (1.0 - w) ** 0.5 if weight_dependence == "soft" else 1.0
        f_m = w**0.5 if weight_dependence == "soft" else 1.0
        same_step = (kw["a_plus"] * f_p - kw["a_minus"] * f_m) * torch.einsum("bi,bj->ij", post[t], pre[t])
        n_coincident += int(torch.einsum("bi,bj->ij", post[t], pre[t]).sum())
        worst = max(worst, (dw_norse - (dw + same_step)).abs().max().item())
        dw_both, state_both = both.step(pre[t], post[t], w, state_both)  # same_step="both": norse's dw
        worst = max(worst, (dw_norse - dw_both).abs().max().item())
        assert torch.allclose(ns.t_pre, state.x_pre, rtol=1e-13, atol=1e-15)  # traces after increment
        assert torch.allclose(ns.t_post, state.y_post, rtol=1e-13, atol=1e-15)
        w = w + dw
    print(
        f"\nnorse ({weight_dependence}): max |dw_norse - (dw + same-step term)| = {worst:.2e} "
        f"over {steps} steps, "
        f"{n_coincident} same-step pairs"
    )
    assert n_coincident > 0
    assert worst < 1e-14


@pytest.mark.reference
def test_norse_equal_without_same_step_spikes(gen):
    """Pre spikes only on even steps and post spikes only on odd ones: norse's weight trajectory
    (with its hard bounds) equals ours."""
    pytest.importorskip("norse")
    from norse.torch.functional.stdp import STDPState as NorseState
    from norse.torch.functional.stdp import stdp_step_linear

    steps, batch, n_pre, n_post, dt = 600, 2, 6, 3, 0.5
    kw = dict(tau_plus=16.8, tau_minus=33.7, a_plus=0.02, a_minus=0.021)
    ours = STDP(**kw, batch_reduce="sum", dt=dt).double()
    norse_p = norse_mapping(**kw, dt=dt, stdp_algorithm="additive", hardbound=True, w_min=0.0, w_max=1.0)
    pre = spike_trains(gen, steps, batch, n_pre, 0.1)
    post = spike_trains(gen, steps, batch, n_post, 0.1)
    pre[1::2] = 0.0
    post[0::2] = 0.0
    w = torch.rand(n_post, n_pre, generator=gen, dtype=F64)
    w_n = w.clone()
    ns = NorseState(torch.zeros(batch, n_pre, dtype=F64), torch.zeros(batch, n_post, dtype=F64))
    state = None
    for t in range(steps):
        dw, state = ours.step(pre[t], post[t], w, state)
        w = ours.apply_update(w, dw)
        w_n, ns = stdp_step_linear(pre[t], post[t], w_n, ns, norse_p, dt=dt)
    err = (w - w_n).abs().max().item()
    print(f"\nnorse trajectory without same-step spikes: max |w - w_norse| = {err:.2e}")
    assert err < 1e-12
