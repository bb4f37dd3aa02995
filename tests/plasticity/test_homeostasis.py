"""Homeostasis: the rate filter, synaptic scaling and threshold adaptation drive rates to target."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge import units
from spikeforge.neurons import LIF
from spikeforge.neurons.lif import lif_step
from spikeforge.plasticity import STDP, SynapticScaling, ThresholdAdaptation, rate_step

F64 = torch.float64


def test_rate_filter_is_exact_for_a_constant_rate():
    tau, dt = 50.0, 0.5
    rate = torch.zeros(1, dtype=F64)
    for k in range(1, 300):
        rate = rate_step(torch.full((1,), 0.1, dtype=F64), rate, torch.tensor(tau, dtype=F64), dt)
        # a constant count 0.1 per step is a rate 0.2 per ms: r(t) = 0.2 (1 - exp(-t / tau))
        assert rate.item() == pytest.approx(0.2 * (1 - math.exp(-k * dt / tau)), rel=1e-12)


def test_synaptic_scaling_reaches_the_target_rate_and_keeps_ratios(gen):
    """A Poisson neuron whose rate is proportional to its summed input weight."""
    target = 20 * units.Hz
    rule = SynapticScaling(target_rate=target, tau_rate=100.0, lr=5e-4, init_rate=0.0).double()
    w = torch.tensor([[0.2, 0.6, 1.2, 0.4], [1.0, 2.0, 0.5, 0.5]], dtype=F64)  # rates 0.06 and 0.12 per ms
    ratio0 = w / w.sum(1, keepdim=True)
    state, rates = None, []
    for _ in range(8000):
        p = 0.025 * w.sum(1)  # spikes per ms
        post = (torch.rand(2, generator=gen, dtype=F64) < p).to(F64)
        dw, state = rule.step(torch.zeros(4, dtype=F64), post, w, state)
        w = rule.apply_update(w, dw)
        rates.append(p)
    final = torch.stack(rates[-3000:]).mean(0)
    assert torch.allclose(final, torch.full((2,), target, dtype=F64), rtol=0.15)
    assert torch.allclose(w / w.sum(1, keepdim=True), ratio0, rtol=1e-12)  # multiplicative


def test_threshold_adaptation_brings_a_lif_to_the_target_rate():
    target = 50 * units.Hz  # 0.05 per ms
    lif = LIF(3, tau_mem=10.0, v_th=1.0).double()
    params = lif.params()
    ip = ThresholdAdaptation(3, target_rate=target, tau_rate=50.0, lr=0.005)
    x = torch.tensor([1.5, 3.0, 6.0], dtype=F64)  # three drives, three natural rates
    state, ip_state, theta = lif.init_state(dtype=F64), None, torch.zeros(3, dtype=F64)
    spikes = []
    for _ in range(6000):
        z, state = lif_step(x, state, params._replace(v_th=params.v_th + theta), dt=1.0)
        dtheta, ip_state = ip.step(z, ip_state)
        theta = theta + dtheta
        spikes.append(z)
    rate = torch.stack(spikes[-3000:]).mean(0)  # per ms
    assert torch.allclose(rate, torch.full((3,), target, dtype=F64), rtol=0.1)
    assert theta[2] > theta[1] > theta[0]


def test_scaling_stabilises_stdp_driven_growth(gen):
    """A LIF neuron driven by 50 Poisson inputs under potentiation-dominated STDP: alone, the
    weights run up to w_max and the rate far above the target; with synaptic scaling added the rate
    settles near the target."""
    n_pre, steps, target = 50, 4000, 10 * units.Hz
    lif = LIF(1, tau_mem=10.0, v_th=1.0).double()
    params = lif.params()
    pre_all = (torch.rand(steps, n_pre, generator=gen, dtype=F64) < 20 * units.Hz).to(F64)
    result = {}
    for use_scaling in (False, True):
        stdp = STDP(a_plus=0.01, a_minus=0.006, w_max=2.0).double()
        scaling = SynapticScaling(target_rate=target, tau_rate=300.0, lr=2e-3).double()
        w = torch.full((1, n_pre), 0.8, dtype=F64)
        state, s1, s2, spikes = lif.init_state(dtype=F64), None, None, []
        for t in range(steps):
            pre = pre_all[t]
            z, state = lif_step(w @ pre, state, params, dt=1.0)
            dw, s1 = stdp.step(pre, z, w, s1)
            if use_scaling:
                ds, s2 = scaling.step(pre, z, w, s2)
                dw = dw + ds
            w = stdp.apply_update(w, dw)
            spikes.append(z.item())
        result[use_scaling] = sum(spikes[-1500:]) / 1500
    print(
        f"\nSTDP alone: rate {result[False] * 1000:.1f} Hz; "
        f"with scaling: {result[True] * 1000:.1f} Hz (target 10 Hz)"
    )
    assert result[False] > 2 * target
    assert abs(result[True] - target) < 0.5 * target
