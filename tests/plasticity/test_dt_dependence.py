"""What a step of 1 ms hid (issue 16's surviving mutants): a rule whose result is an integral over
time gives the same answer at any dt."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.plasticity import RewardModulatedSTDP


def _rstdp_total_dw(dt: float, t_end: float = 400.0) -> float:
    """Sum of dw for one pre-before-post pairing (0 ms, 10 ms) and one dopamine release at 20 ms."""
    rule = RewardModulatedSTDP(lr=1e-2, dt=dt, tau_c=100.0, tau_d=50.0)
    w = torch.full((1, 1), 1.0, dtype=torch.float64)
    state, total = None, 0.0
    for k in range(int(round(t_end / dt))):
        t = k * dt
        pre = torch.tensor([1.0 if abs(t) < 1e-9 else 0.0], dtype=torch.float64)
        post = torch.tensor([1.0 if abs(t - 10.0) < 1e-9 else 0.0], dtype=torch.float64)
        release = 1.0 if abs(t - 20.0) < 1e-9 else 0.0
        dw, state = rule.step(pre, post, w, state, modulator=release)
        total += float(dw.sum())
    return total


def test_reward_modulated_stdp_integrates_c_times_d_over_time():
    """dw/dt = lr c d (Izhikevich 2007): the summed change is an integral, the same at every dt,
    and close to lr c(20) d0 / (1/tau_c + 1/tau_d) with c(20) = c0 exp(-10/tau_c)."""
    totals = {dt: _rstdp_total_dw(dt) for dt in (1.0, 0.5, 0.25)}
    assert totals[1.0] > 0
    assert totals[0.5] == pytest.approx(totals[1.0], rel=0.03)
    assert totals[0.25] == pytest.approx(totals[1.0], rel=0.03)
    c0 = 1.0 * math.exp(-10.0 / 20.0)  # a_plus * x_pre(10 ms), tau_plus = 20 ms
    c20 = c0 * math.exp(-10.0 / 100.0)
    analytic = 1e-2 * c20 * 1.0 / (1 / 100.0 + 1 / 50.0) * (1 - math.exp(-380.0 * (1 / 100.0 + 1 / 50.0)))
    assert totals[0.25] == pytest.approx(analytic, rel=0.03)
