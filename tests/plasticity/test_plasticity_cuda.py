"""Every rule on CUDA gives the CPU result (float64, to rounding)."""

from __future__ import annotations

import pytest
import torch

from spikeforge.plasticity import (
    STDP,
    EligibilityTrace,
    ErrorGatedReadout,
    FixedDelay,
    LearnableDelay,
    Metaplastic,
    RewardModulatedSTDP,
    SynapticScaling,
    ThreeFactor,
    TripletSTDP,
)

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
F64 = torch.float64


def run_rule(rule, pre, post, w, device, modulator=None):
    rule = rule.to(device)
    w = w.to(device)
    state = None
    for t in range(pre.shape[0]):
        m = None if modulator is None else modulator[t].to(device)
        dw, state = rule.step(pre[t].to(device), post[t].to(device), w, state, modulator=m)
        w = rule.apply_update(w, dw)
    return w.cpu()


RULES = [
    lambda: STDP(weight_dependence="soft", mu_plus=0.3, mu_minus=0.7),
    lambda: STDP(pairing="nearest", batch_reduce="sum"),
    lambda: TripletSTDP.from_preset("hippocampal"),
    lambda: EligibilityTrace(STDP(batch_reduce="none"), tau_e=200.0),
    lambda: ThreeFactor(lr=0.05),
    lambda: RewardModulatedSTDP(lr=0.01),
    lambda: SynapticScaling(target_rate=0.01, lr=1e-3),
    lambda: STDP(same_step="potentiate"),
    lambda: ErrorGatedReadout(lr=0.05, tau_baseline=300.0),
]


@pytest.mark.parametrize("make", RULES)
def test_rules_match_cpu(make, gen):
    pre = (torch.rand(80, 3, 6, generator=gen) < 0.1).to(F64)
    post = (torch.rand(80, 3, 4, generator=gen) < 0.1).to(F64)
    mod = torch.rand(80, generator=gen, dtype=F64)
    w = torch.rand(4, 6, generator=gen, dtype=F64)
    cpu = run_rule(make().double(), pre, post, w, "cpu", mod)
    gpu = run_rule(make().double(), pre, post, w, "cuda", mod)
    assert torch.allclose(cpu, gpu, rtol=1e-12, atol=1e-14)


def test_delays_and_optimizer_match_cpu(gen):
    x = (torch.rand(30, 2, 3, generator=gen) < 0.3).to(F64)
    layer = LearnableDelay(3, 4, max_delay=6.0, sigma=1.0, generator=gen).double()
    y_cpu, _ = layer(x)
    y_gpu, _ = layer.to("cuda")(x.cuda())
    assert torch.allclose(y_cpu, y_gpu.cpu(), rtol=1e-12, atol=1e-14)
    fixed = FixedDelay(torch.tensor([[0.0, 2.0, 5.0]] * 4), weight=torch.rand(4, 3, generator=gen, dtype=F64))
    assert torch.allclose(fixed(x)[0], fixed.to("cuda")(x.cuda())[0].cpu(), rtol=1e-12, atol=1e-14)
    p_cpu = torch.nn.Parameter(torch.randn(5, 5, generator=gen, dtype=F64))
    p_gpu = torch.nn.Parameter(p_cpu.detach().cuda())
    o_cpu, o_gpu = Metaplastic([p_cpu], lr=0.01, m=1.3), Metaplastic([p_gpu], lr=0.01, m=1.3)
    for _ in range(5):
        g = torch.randn(5, 5, generator=gen, dtype=F64)
        p_cpu.grad, p_gpu.grad = g, g.cuda()
        o_cpu.step()
        o_gpu.step()
    assert torch.allclose(p_cpu, p_gpu.cpu(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "make",
    [lambda: STDP(weight_dependence="soft"), lambda: TripletSTDP(), lambda: RewardModulatedSTDP(lr=0.01)],
)
def test_rules_at_sparse_synapses_match_cpu(make, gen):
    from spikeforge.plasticity import Synapses

    post_i, pre_i = torch.nonzero(torch.rand(4, 6, generator=gen) < 0.5, as_tuple=True)
    pre = (torch.rand(60, 3, 6, generator=gen) < 0.2).to(F64)
    post = (torch.rand(60, 3, 4, generator=gen) < 0.2).to(F64)
    w0 = torch.rand(post_i.numel(), generator=gen, dtype=F64)
    out = []
    for device in ("cpu", "cuda"):
        rule, w, state = make().double().to(device), w0.to(device), None
        syn = Synapses(post_i.to(device), pre_i.to(device))
        for t in range(pre.shape[0]):
            dw, state = rule.step(pre[t].to(device), post[t].to(device), w, state, synapses=syn)
            w = rule.apply_update(w, dw)
        out.append(w.cpu())
    assert torch.allclose(out[0], out[1], rtol=1e-12, atol=1e-14)
