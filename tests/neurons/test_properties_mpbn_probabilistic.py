r"""Property-based tests (Hypothesis) of the MPBN LIF and of the probabilistic meta neuron, over
dt, time constants, normalisation statistics, release probabilities and temperatures (issue 16,
item 4).

The references are loops written here from the module docstrings, in float64:

- MPBN: the LIF membrane :math:`v \leftarrow v_{leak} + (v - v_{leak}) e^{-dt/\tau} + r x (1 -
  e^{-dt/\tau})`, the spike :math:`\gamma (v - \mu)/\sqrt{\sigma^2 + \epsilon} + \beta > \theta`
  (batch mean and biased variance of the step in training mode, the running ones in eval mode),
  the reset of the *raw* membrane to ``v_reset``; the running statistics after one training call
  with ``momentum=1`` are the mean and unbiased variance of all ``B*T`` pre-reset membranes;
- the probabilistic neuron: ``u = rand(2, *batch, n)`` per step from the same generator
  (release first), release ``u0 < q``, the exact membrane with the released current, spike
  ``u1 < sigmoid((v - v_th)/T)``, the reset, and ``log_prob`` as the sum of the Bernoulli
  log-probabilities of every draw; in deterministic mode the expected current ``q x`` and
  spikes where ``v > v_th``; with no input the spike count is Binomial(N, p) (5 sigma).
"""

from __future__ import annotations

import math

import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from spikeforge.neurons import MPBNLIF
from spikeforge.neurons.probabilistic import ProbabilisticNeuron

F64 = torch.float64
FAST = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

dts = st.floats(min_value=0.1, max_value=2.0)
taus = st.floats(min_value=2.0, max_value=40.0)
MARGIN = 1e-7  # spike decisions this close to the threshold depend on rounding: skipped


def _mpbn_reference(x, *, dt, tau, v_reset, gamma, beta, theta, eps, train, mean=None, var=None):
    """The docstring's loop; returns spikes, pre-reset membranes and the smallest |y - theta|."""
    k = 1.0 - math.exp(-dt / tau)
    v = torch.zeros(x.shape[1:], dtype=F64)
    spikes, pre, closest = [], [], math.inf
    for t in range(x.shape[0]):
        v = v + k * (x[t] - v)  # v_leak = 0, r = 1
        if train:
            mu, s2 = v.mean(0), v.var(0, unbiased=False)
        else:
            mu, s2 = mean, var
        y = gamma * (v - mu) / torch.sqrt(s2 + eps) + beta
        closest = min(closest, float((y - theta).abs().min()))
        z = (y > theta).to(F64)
        pre.append(v)
        spikes.append(z)
        v = torch.where(z > 0, torch.full_like(v, v_reset), v)
    return torch.stack(spikes), torch.stack(pre), closest


@FAST
@given(
    dt=dts,
    tau=taus,
    theta=st.floats(min_value=-0.25, max_value=1.5),
    gamma=st.floats(min_value=0.2, max_value=3.0),
    beta=st.floats(min_value=-1.0, max_value=1.0),
    seed=st.integers(0, 2**16),
)
def test_mpbn_training_mode_normalizes_each_step_with_its_batch_statistics(dt, tau, theta, gamma, beta, seed):
    g = torch.Generator().manual_seed(seed)
    x = 3 * torch.rand(12, 6, 3, generator=g, dtype=F64)
    eps = 1e-5
    layer = MPBNLIF(3, tau_mem=tau, v_th=theta, v_reset=-0.6, dt=dt, momentum=1.0, eps=eps).double()
    with torch.no_grad():
        layer.gamma.fill_(gamma)
        layer.beta.fill_(beta)
    z_ref, pre, closest = _mpbn_reference(
        x, dt=dt, tau=tau, v_reset=-0.6, gamma=gamma, beta=beta, theta=theta, eps=eps, train=True
    )
    assume(closest > MARGIN)
    z, _ = layer(x)
    assert torch.equal(z.detach(), z_ref)
    # running statistics (momentum 1): mean and unbiased variance of all B*T pre-reset membranes
    flat = pre.reshape(-1, 3)
    assert torch.allclose(layer.running_mean, flat.mean(0), rtol=0, atol=1e-12)
    assert torch.allclose(layer.running_var, flat.var(0, unbiased=True), rtol=1e-10, atol=1e-12)


@FAST
@given(
    dt=dts,
    tau=taus,
    theta=st.floats(min_value=-0.25, max_value=1.5),
    gamma=st.floats(min_value=0.2, max_value=3.0),
    beta=st.floats(min_value=-1.0, max_value=1.0),
    mean=st.floats(min_value=0.0, max_value=2.0),
    var=st.floats(min_value=0.01, max_value=2.0),
    seed=st.integers(0, 2**16),
)
def test_mpbn_eval_mode_uses_running_statistics_and_folds_exactly(
    dt, tau, theta, gamma, beta, mean, var, seed
):
    g = torch.Generator().manual_seed(seed)
    x = 3 * torch.rand(20, 4, 2, generator=g, dtype=F64)
    eps = 1e-5
    layer = MPBNLIF(2, tau_mem=tau, v_th=theta, v_reset=-0.6, dt=dt, eps=eps).double().eval()
    with torch.no_grad():
        layer.gamma.fill_(gamma)
        layer.beta.fill_(beta)
        layer.running_mean.fill_(mean)
        layer.running_var.fill_(var)
    m, s2 = torch.tensor(mean, dtype=F64), torch.tensor(var, dtype=F64)
    z_ref, pre, closest = _mpbn_reference(
        x,
        dt=dt,
        tau=tau,
        v_reset=-0.6,
        gamma=gamma,
        beta=beta,
        theta=theta,
        eps=eps,
        train=False,
        mean=m,
        var=s2,
    )
    assume(closest > MARGIN)
    z, _ = layer(x)
    assert torch.equal(z, z_ref)
    assert layer.running_mean.eq(mean).all() and layer.running_var.eq(var).all()  # eval: not updated
    # the folded raw threshold, from the inequality solved by hand
    want = mean + (theta - beta) * math.sqrt(var + eps) / gamma
    assert abs(float(layer.folded_threshold()[0]) - want) <= 1e-12 * (1 + abs(want))
    assert torch.equal(layer.fold()(x)[0], z_ref)


def _prob_reference(x, gen, *, dt, tau, v_leak, v_th, v_reset, r, temp, q):
    k = 1.0 - math.exp(-dt / tau)
    v = torch.full(x.shape[1:], v_leak, dtype=F64)
    logp = torch.zeros_like(v)
    spikes = []
    for t in range(x.shape[0]):
        u = torch.rand((2, *v.shape), generator=gen, dtype=F64)
        m = (u[0] < q).to(F64)
        logp = logp + m * math.log(q) + ((1 - m) * math.log1p(-q) if q < 1 else 0.0)
        v = v + k * (v_leak + r * m * x[t] - v)
        p = torch.sigmoid((v - v_th) / temp)
        z = (u[1] < p).to(F64)
        logp = logp + z * torch.log(p) + (1 - z) * torch.log1p(-p)
        spikes.append(z)
        v = torch.where(z > 0, torch.full_like(v, v_reset), v)
    return torch.stack(spikes), v, logp


@settings(FAST, max_examples=15)
@given(
    dt=dts,
    tau=taus,
    q=st.floats(min_value=0.05, max_value=1.0),
    temp=st.floats(min_value=0.05, max_value=1.0),
    v_leak=st.floats(min_value=-0.5, max_value=0.5),
    r=st.floats(min_value=0.2, max_value=3.0),
    seed=st.integers(0, 2**16),
)
def test_probabilistic_sampling_follows_its_documented_draws(dt, tau, q, temp, v_leak, r, seed):
    x = torch.rand(10, 4, 3, generator=torch.Generator().manual_seed(seed + 1), dtype=F64)
    v_th, v_reset = 1.0, -0.2
    kw = dict(tau_mem=tau, v_leak=v_leak, v_th=v_th, v_reset=v_reset, r=r, temperature=temp, release=q)
    neuron = ProbabilisticNeuron(3, dt=dt, generator=torch.Generator().manual_seed(seed), **kw).double()
    z, state = neuron(x)
    z_ref, v_ref, logp_ref = _prob_reference(
        x, torch.Generator().manual_seed(seed), dt=dt, tau=tau, v_leak=v_leak, v_th=v_th, v_reset=v_reset,
        r=r, temp=temp, q=q,
    )  # fmt: skip
    assert torch.equal(z.detach(), z_ref)
    assert torch.allclose(state.v.detach(), v_ref, rtol=0, atol=1e-12)
    assert torch.allclose(state.log_prob.detach(), logp_ref, rtol=1e-10, atol=1e-10)


@FAST
@given(
    dt=dts,
    tau=taus,
    q=st.floats(min_value=0.05, max_value=1.0),
    current=st.floats(min_value=0.0, max_value=4.0),
    r=st.floats(min_value=0.2, max_value=3.0),
)
def test_probabilistic_deterministic_mode_is_lif_with_the_expected_current(dt, tau, q, current, r):
    v_th, v_reset = 1.0, 0.0
    neuron = (
        ProbabilisticNeuron(1, tau_mem=tau, v_th=v_th, v_reset=v_reset, r=r, release=q, dt=dt).double().eval()
    )
    steps = min(400, max(5, round(4 * tau / dt)))
    z, _ = neuron(torch.full((steps, 1), current, dtype=F64))
    k = 1.0 - math.exp(-dt / tau)
    v, want, closest = 0.0, [], math.inf
    for _ in range(steps):
        v = v + k * (r * q * current - v)
        closest = min(closest, abs(v - v_th))
        want.append(1.0 if v > v_th else 0.0)
        v = v_reset if v > v_th else v
    assume(closest > 1e-9)
    assert z[:, 0].tolist() == want


@settings(FAST, max_examples=10)
@given(
    gap=st.floats(min_value=-2.0, max_value=2.0),  # (v_leak - v_th) / T
    temp=st.floats(min_value=0.05, max_value=1.0),
    seed=st.integers(0, 2**16),
)
def test_probabilistic_spike_count_is_binomial_at_rest(gap, temp, seed):
    """No input and dt >> tau_mem: v is back at v_leak every step, each draw fires with p = sigmoid(gap)."""
    v_th = 1.0
    gen = torch.Generator().manual_seed(seed)
    neuron = ProbabilisticNeuron(
        50,
        tau_mem=1.0,
        dt=50.0,
        v_th=v_th,
        v_leak=v_th + gap * temp,
        v_reset=0.0,
        temperature=temp,
        generator=gen,
    ).double()
    z, _ = neuron(torch.zeros(2, 20, 50, dtype=F64))  # 2 steps of 20 x 50 draws
    n, p = z.numel(), 1.0 / (1.0 + math.exp(-gap))
    assert abs(float(z.sum()) - n * p) <= 5 * math.sqrt(n * p * (1 - p)) + 1
