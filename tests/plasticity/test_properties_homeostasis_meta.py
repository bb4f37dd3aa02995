r"""Property-based tests (Hypothesis) of the homeostasis rules and of the metaplastic optimizers,
over dt, time constants, target rates, spike trains and optimizer settings (issue 16, item 4).

References, written here from the docstrings in Python floats (float64):

- the rate filter has the closed form :math:`r(t) = u + (r_0 - u) e^{-t/\tau_r}` for a constant
  drive ``u = s/dt`` (any dt: a bug that drops dt in the decay or in ``s/dt`` shows at dt != 1);
- :class:`SynapticScaling`: :math:`\Delta w = \eta\,\Delta t\,(1 - r/r^*)\,w` after the filter;
  :class:`ThresholdAdaptation`: :math:`\Delta\theta = \eta\,\Delta t\,(r/r^* - 1)`, loops over a
  random spike train;
- :class:`Metaplastic`: Adam's moments, the factor :math:`1 - \tanh^2(mW)` where
  ``sign(W) m_t > 0`` (1-D parameters only with ``meta_1d``); ``m = 0`` is bitwise
  :class:`torch.optim.Adam`;
- :class:`CLASSP`: :math:`u = [|g| > \theta]`, :math:`S \mathrel{+}= u|g|^p`,
  :math:`w \mathrel{-}= \mathrm{lr}\,u g/(\epsilon + S)^{1/p}`;
- :class:`FastSlow`: after each step :math:`W = W_s + (1-\lambda_d)(W - W_s)`; consolidation
  :math:`W_s \mathrel{+}= \lambda (W - W_s)`, :math:`W = W_s`.
"""

from __future__ import annotations

import math

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikeforge.plasticity import CLASSP, FastSlow, Metaplastic, SynapticScaling, ThresholdAdaptation
from spikeforge.plasticity.homeostasis import rate_step

F64 = torch.float64
FAST = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

dts = st.floats(min_value=0.05, max_value=3.0)
taus = st.floats(min_value=5.0, max_value=500.0)
trains = st.lists(st.booleans(), min_size=1, max_size=40)


@FAST
@given(dt=dts, tau=taus, r0=st.floats(0.0, 0.2), frac=st.floats(0.0, 1.0), steps=st.integers(1, 200))
def test_rate_filter_equals_its_closed_form(dt, tau, r0, frac, steps):
    """A constant spike fraction per step is a constant drive ``u = frac/dt`` spikes per ms."""
    rate = torch.tensor([r0], dtype=F64)
    for _ in range(steps):
        rate = rate_step(torch.tensor([frac], dtype=F64), rate, torch.tensor(tau, dtype=F64), dt)
    u = frac / dt
    exact = u + (r0 - u) * math.exp(-steps * dt / tau)
    assert abs(float(rate) - exact) <= 1e-12 * (1 + abs(u) + r0)


def _filter(r: float, s: float, dt: float, tau: float) -> float:
    a = math.exp(-dt / tau)
    return r * a + (1 - a) * s / dt


@FAST
@given(
    dt=dts,
    tau=taus,
    target=st.floats(1e-3, 0.1),
    lr=st.floats(1e-5, 1e-2),
    train=trains,
    w=st.floats(-2.0, 2.0),
)
def test_synaptic_scaling_follows_its_rule(dt, tau, target, lr, train, w):
    rule = SynapticScaling(target_rate=target, tau_rate=tau, lr=lr, dt=dt).double()
    weights = torch.tensor([[w, 2 * w]], dtype=F64)
    state, r = None, target  # init_rate defaults to the target
    for s in train:
        post = torch.tensor([float(s)], dtype=F64)
        dw, state = rule.step(torch.zeros(2, dtype=F64), post, weights, state)
        r = _filter(r, float(s), dt, tau)
        want = lr * dt * (1 - r / target) * w
        assert abs(float(dw[0, 0]) - want) <= 1e-12 * (1 + abs(want))
        assert abs(float(dw[0, 1]) - 2 * want) <= 1e-12 * (1 + abs(want))  # multiplicative: ratios kept
        assert abs(float(state.rate[0]) - r) <= 1e-12 * (1 + r)


@FAST
@given(dt=dts, tau=taus, target=st.floats(1e-3, 0.1), lr=st.floats(1e-4, 1.0), train=trains)
def test_threshold_adaptation_follows_its_rule(dt, tau, target, lr, train):
    ip = ThresholdAdaptation(1, target_rate=target, tau_rate=tau, lr=lr, dt=dt).double()
    state, r = None, target
    for s in train:
        dtheta, state = ip.step(torch.tensor([float(s)], dtype=F64), state)
        r = _filter(r, float(s), dt, tau)
        want = lr * dt * (r / target - 1)
        assert abs(float(dtheta[0]) - want) <= 1e-12 * (1 + abs(want))
        assert (float(dtheta[0]) > 0) == (r > target) or abs(r - target) < 1e-12


grads = st.lists(st.lists(st.floats(-2.0, 2.0), min_size=3, max_size=3), min_size=1, max_size=6)


@settings(FAST, max_examples=20)
@given(
    lr=st.floats(1e-4, 0.1),
    m=st.floats(0.0, 2.0),
    b1=st.floats(0.0, 0.95),
    b2=st.floats(0.5, 0.9999),
    w0=st.lists(st.floats(-2.0, 2.0), min_size=3, max_size=3),
    gs=grads,
    one_d=st.booleans(),
)
def test_metaplastic_follows_adam_with_the_attenuation(lr, m, b1, b2, w0, gs, one_d):
    eps = 1e-8
    shape = (3,) if one_d else (1, 3)
    p = torch.nn.Parameter(torch.tensor(w0, dtype=F64).reshape(shape))
    opt = Metaplastic([p], lr=lr, m=m, betas=(b1, b2), eps=eps)  # meta_1d=False: 1-D gets plain Adam
    w, mo, vo = list(w0), [0.0] * 3, [0.0] * 3
    for t, g in enumerate(gs, start=1):
        p.grad = torch.tensor(g, dtype=F64).reshape(shape)
        opt.step()
        for i in range(3):
            mo[i] = b1 * mo[i] + (1 - b1) * g[i]
            vo[i] = b2 * vo[i] + (1 - b2) * g[i] ** 2
            numer = mo[i]
            if not one_d and math.copysign(1.0, w[i]) * mo[i] > 0 and w[i] != 0:
                numer = (1 - math.tanh(m * w[i]) ** 2) * mo[i]
            denom = math.sqrt(vo[i]) / math.sqrt(1 - b2**t) + eps
            w[i] -= lr / (1 - b1**t) * numer / denom
        assert torch.allclose(p.detach().flatten(), torch.tensor(w, dtype=F64), rtol=1e-9, atol=1e-12)


@FAST
@given(lr=st.floats(1e-4, 0.1), b1=st.floats(0.0, 0.95), b2=st.floats(0.5, 0.9999), gs=grads)
def test_metaplastic_with_m_zero_is_adam_bitwise(lr, b1, b2, gs):
    p = torch.nn.Parameter(torch.tensor([[0.5, -1.0, 2.0]], dtype=F64))
    q = torch.nn.Parameter(p.detach().clone())
    meta = Metaplastic([p], lr=lr, m=0.0, betas=(b1, b2))
    adam = torch.optim.Adam([q], lr=lr, betas=(b1, b2), foreach=False)
    for g in gs:
        p.grad = torch.tensor([g], dtype=F64)
        q.grad = p.grad.clone()
        meta.step()
        adam.step()
    assert torch.equal(p.detach(), q.detach())


@FAST
@given(
    lr=st.floats(1e-3, 1.0),
    theta=st.floats(0.0, 1.0),
    power=st.floats(0.5, 3.0),
    eps=st.floats(1e-8, 1e-2),
    gs=grads,
)
def test_classp_follows_its_rule(lr, theta, power, eps, gs):
    p = torch.nn.Parameter(torch.zeros(3, dtype=F64))
    opt = CLASSP([p], lr=lr, threshold=theta, power=power, eps=eps)
    w, acc = [0.0] * 3, [0.0] * 3
    for g in gs:
        p.grad = torch.tensor(g, dtype=F64)
        opt.step()
        for i in range(3):
            if abs(g[i]) > theta:
                acc[i] += abs(g[i]) ** power
                w[i] -= lr * g[i] / (eps + acc[i]) ** (1 / power)
        assert torch.allclose(p.detach(), torch.tensor(w, dtype=F64), rtol=1e-9, atol=1e-12)
    assert torch.allclose(
        opt.learning_rates(p), torch.tensor([lr / (eps + a) ** (1 / power) for a in acc], dtype=F64)
    )


@FAST
@given(
    decay=st.floats(0.0, 1.0),
    lam=st.floats(0.0, 1.0),
    lr=st.floats(1e-3, 1.0),
    gs=grads,
    consolidate_every=st.integers(1, 4),
)
def test_fast_slow_follows_its_rule(decay, lam, lr, gs, consolidate_every):
    p = torch.nn.Parameter(torch.tensor([0.3, -0.2, 1.0], dtype=F64))
    opt = FastSlow(torch.optim.SGD([p], lr=lr), fast_decay=decay, consolidation=lam)
    w, slow = [0.3, -0.2, 1.0], [0.3, -0.2, 1.0]
    for k, g in enumerate(gs, start=1):
        p.grad = torch.tensor(g, dtype=F64)
        opt.step()
        w = [s + (1 - decay) * (wi - lr * gi - s) for wi, gi, s in zip(w, g, slow)]
        if k % consolidate_every == 0:
            opt.consolidate()
            slow = [s + lam * (wi - s) for wi, s in zip(w, slow)]
            w = list(slow)
        assert torch.allclose(p.detach(), torch.tensor(w, dtype=F64), rtol=1e-12, atol=1e-12)
        assert torch.allclose(opt.slow(p), torch.tensor(slow, dtype=F64), rtol=1e-12, atol=1e-12)
