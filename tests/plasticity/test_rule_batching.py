"""Every plasticity rule is batched sample by sample: with ``batch_reduce="sum"`` the change of a
batch is, at every step, the sum of the changes each sample makes on its own (with its own
traces and modulator; R-STDP's tag is one for the batch, driven by one dopamine level, which the
sum leaves linear), and a rule run twice on the same inputs gives the same result (bitwise). The
CUDA counterparts are in ``test_plasticity_cuda.py``."""

from __future__ import annotations

import pytest
import torch

from spikeforge.plasticity import (
    STDP,
    EligibilityTrace,
    ErrorGatedReadout,
    RewardModulatedSTDP,
    SynapticScaling,
    ThreeFactor,
    TripletSTDP,
)

F64 = torch.float64

GLOBAL_MODULATOR = {"rstdp", "scaling"}  # one dopamine level (R-STDP), no third factor (scaling)

RULES = {
    "stdp_soft": lambda: STDP(weight_dependence="soft", mu_plus=0.3, mu_minus=0.7, batch_reduce="sum"),
    "stdp_nearest": lambda: STDP(pairing="nearest", same_step="both", batch_reduce="sum"),
    "triplet": lambda: TripletSTDP.from_preset("hippocampal", batch_reduce="sum"),
    "eligibility": lambda: EligibilityTrace(STDP(batch_reduce="none"), tau_e=200.0, batch_reduce="sum"),
    "three_factor": lambda: ThreeFactor(lr=0.05, batch_reduce="sum"),
    "rstdp": lambda: RewardModulatedSTDP(lr=0.01, batch_reduce="sum"),
    "scaling": lambda: SynapticScaling(target_rate=0.01, lr=1e-3, batch_reduce="sum"),
    "readout": lambda: ErrorGatedReadout(lr=0.05, tau_baseline=300.0, batch_reduce="sum"),
}


def _inputs(gen: torch.Generator, batch: int = 3, steps: int = 60):
    pre = (torch.rand(steps, batch, 6, generator=gen) < 0.15).to(F64)
    post = (torch.rand(steps, batch, 4, generator=gen) < 0.15).to(F64)
    mod = torch.rand(steps, batch, generator=gen, dtype=F64) - 0.3
    return pre, post, mod


@pytest.mark.parametrize("name", list(RULES))
def test_a_batch_changes_as_the_sum_of_its_samples(name, gen):
    pre, post, mod = _inputs(gen)
    w = torch.rand(4, 6, generator=gen, dtype=F64)
    batched, singles = RULES[name]().double(), [RULES[name]().double() for _ in range(pre.shape[1])]
    s_batch, s_single = None, [None] * pre.shape[1]
    moved = 0.0
    for t in range(pre.shape[0]):
        m = float(mod[t, 0]) if name in GLOBAL_MODULATOR else mod[t]
        dw, s_batch = batched.step(pre[t], post[t], w, s_batch, modulator=m)
        total = torch.zeros_like(w)
        for b, rule in enumerate(singles):
            m_b = m if name in GLOBAL_MODULATOR else mod[t, b : b + 1]
            dw_b, s_single[b] = rule.step(
                pre[t, b : b + 1], post[t, b : b + 1], w, s_single[b], modulator=m_b
            )
            total += dw_b
        torch.testing.assert_close(dw, total, rtol=1e-12, atol=1e-15)
        moved += float(dw.abs().sum())
    assert moved > 0  # the rule changed something


@pytest.mark.parametrize("name", list(RULES))
def test_a_rule_run_twice_gives_the_same_weights(name, gen):
    pre, post, mod = _inputs(gen)
    w0 = torch.rand(4, 6, generator=gen, dtype=F64)
    runs = []
    for _ in range(2):
        rule, w, state = RULES[name]().double(), w0.clone(), None
        for t in range(pre.shape[0]):
            m = float(mod[t, 0]) if name in GLOBAL_MODULATOR else mod[t]
            dw, state = rule.step(pre[t], post[t], w, state, modulator=m)
            w = rule.apply_update(w, dw) if hasattr(rule, "apply_update") else w + dw
        runs.append(w)
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], w0)
