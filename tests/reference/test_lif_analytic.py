r"""LIF against closed-form solutions (papers.md section 1, STYLE.md section 6, items 1 and 2).

Subthreshold, constant current :math:`I`, from rest:

.. math:: v(t) = v_{leak} + r I (1 - e^{-t/\tau_{mem}})

The exact integrator reproduces it to rounding at every dt; forward Euler converges with order 1.

Firing with constant current: after a reset the membrane relaxes from ``v_reset`` towards
:math:`v_\infty = v_{leak} + r I`, so the interspike interval is

.. math:: T = t_{ref} + \tau_{mem} \ln\frac{v_\infty - v_{reset}}{v_\infty - v_{th}}

when :math:`v_\infty > v_{th}`, and there are no spikes otherwise. In the discrete model a spike
is in the step whose end-of-step membrane exceeds ``v_th``, and the neuron is then held for
``round(t_ref/dt)`` whole steps; so with the exact integrator an ISI lasts
``round(t_ref/dt) + floor(T_free/dt) + 1`` steps (``T_free`` the free-relaxation part of T), which
is within one dt of the analytic period.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikeforge.neurons import LIF

F64 = torch.float64


def _t(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=F64)


# ----------------------------------------------------------------------------- subthreshold


def _subthreshold_run(dt: float, integrator: str, t_end: float = 16.0):
    tau, v_leak, r, current = 10.0, -0.25, 2.0, 0.3  # v_inf = 0.35 < v_th = 1
    lif = LIF(
        1,
        tau_mem=_t(tau),
        v_leak=_t(v_leak),
        r=_t(r),
        v_th=_t(1.0),
        v_reset=_t(-1.0),
        dt=dt,
        integrator=integrator,
    ).double()
    steps = round(t_end / dt)
    res = lif.scan(torch.full((steps, 1), current, dtype=F64), record=True)
    assert res.output.sum() == 0
    t = dt * torch.arange(1, steps + 1, dtype=F64)  # trace[j] is v at the end of step j: t = (j+1) dt
    exact = v_leak + r * current * -torch.expm1(-t / tau)
    return res.trace.v[:, 0], exact


@pytest.mark.parametrize("k", range(0, -9, -1))
def test_exact_integrator_matches_analytic_solution(k):
    v, exact = _subthreshold_run(2.0**k, "exact")
    assert (v - exact).abs().max().item() <= 1e-12
    assert exact[-1] > 0.2  # 1.6 time constants: the test covers most of the rise to v_inf = 0.35


def test_euler_converges_with_order_one():
    dts = [2.0**k for k in range(0, -9, -1)]
    errors = []
    for dt in dts:
        v, exact = _subthreshold_run(dt, "euler")
        errors.append((v[-1] - exact[-1]).abs().item())  # error at t = 16 ms
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert 0.9 <= slope <= 1.1, (slope, errors)


# ----------------------------------------------------------------------------- f-I curve

TAU = 10.0
SUPRA = [1.05, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0]  # v_inf / v_th
SUB = [0.5, 0.99, 1.0]  # v_inf <= v_th: no spikes (1.0: v approaches threshold from below)
CONFIGS = {
    "rest0": dict(v_leak=0.0, v_reset=0.0, r=1.0),
    "shifted": dict(v_leak=-0.5, v_reset=-0.25, r=2.0),
}


def _free_period(v_inf: float, v_reset: float, v_th: float) -> float:
    return TAU * math.log((v_inf - v_reset) / (v_inf - v_th))


@pytest.mark.parametrize(
    "dt,config", [(1.0, "rest0"), (0.1, "rest0"), (0.01, "rest0"), (1.0, "shifted"), (0.1, "shifted")]
)
def test_f_i_curve_matches_analytic_rate(dt, config):
    cfg = CONFIGS[config]
    v_leak, v_reset, r, v_th = cfg["v_leak"], cfg["v_reset"], cfg["r"], 1.0
    v_infs = [f * v_th for f in SUPRA + SUB] * 2
    t_refs = [0.0] * (len(SUPRA) + len(SUB)) + [2.0] * (len(SUPRA) + len(SUB))
    n = len(v_infs)
    currents = torch.tensor([(vi - v_leak) / r for vi in v_infs], dtype=F64)
    lif = LIF(
        n,
        tau_mem=_t(TAU),
        v_leak=_t(v_leak),
        v_reset=_t(v_reset),
        r=_t(r),
        v_th=_t(v_th),
        t_ref=torch.tensor(t_refs, dtype=F64),
        dt=dt,
    ).double()
    duration = 400.0
    steps = round(duration / dt)
    spikes, _ = lif(currents.expand(steps, n))

    for j, (v_inf, t_ref) in enumerate(zip(v_infs, t_refs)):
        idx = spikes[:, j].nonzero().flatten()
        if v_inf <= v_th:
            assert idx.numel() == 0, f"spikes below rheobase: v_inf={v_inf}"
            continue
        free = _free_period(v_inf, v_reset, v_th)
        period = t_ref + free
        assert idx.numel() >= 10, (v_inf, t_ref, idx.numel())
        isi = torch.diff(idx).to(F64) * dt
        # every interval, and so their mean, is within one time step of the analytic period
        assert (isi - period).abs().max().item() <= dt + 1e-9, (v_inf, t_ref, isi.unique(), period)
        assert abs(isi.mean().item() - period) <= dt + 1e-9
        # the discrete model lags the continuous one: the spike is at the end of its step
        assert (isi >= period - 1e-9).all()
        # exactly the predicted number of steps, unless free/dt is an integer up to rounding
        ratio = free / dt
        if abs(ratio - round(ratio)) > 1e-6:
            expected_steps = round(t_ref / dt) + math.floor(ratio) + 1
            assert torch.all(torch.diff(idx) == expected_steps), (v_inf, t_ref, expected_steps)
        if dt == 0.01:  # papers.md 1(a): rate within 2% at dt = 0.01 ms
            rate = 1.0 / isi.mean().item()
            assert abs(rate * period - 1.0) <= 0.02


def test_no_spikes_below_rheobase_for_long_runs():
    """Just below and exactly at rheobase, 2 s of simulation never fire (v only approaches v_th)."""
    v_infs = torch.tensor([0.9, 0.999, 0.999999, 1.0], dtype=F64)
    for integrator in ("exact", "euler"):
        lif = LIF(4, tau_mem=_t(TAU), v_th=_t(1.0), dt=0.5, integrator=integrator).double()
        res = lif.scan(v_infs.expand(4000, 4), record=True)
        assert res.output.sum() == 0, integrator
        assert (res.trace.v[-1] <= 1.0).all()
        assert res.trace.v[-1, 0] == pytest.approx(0.9, abs=1e-12)
