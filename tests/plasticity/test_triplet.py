"""Triplet STDP: the Sjöström et al. 2001 pairing-frequency protocol (as Pfister & Gerstner 2006
fit it), the reduction to the pair rule, an event-driven reference, and the published presets.

Pairing protocol: 60 pairs at frequency rho, each a pre and a post spike delta t = t_post - t_pre
apart. Because the traces are integrated exactly, the step functions are called only at spike
times with ``dt`` = the time since the previous event (an event-driven run); a test checks that
this equals a run on a 0.5 ms grid.
"""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.plasticity import (
    TRIPLET_PRESETS,
    STDPParams,
    TripletParams,
    TripletSTDP,
    stdp_init_state,
    stdp_step,
    triplet_init_state,
    triplet_step,
)

F64 = torch.float64
FREQS = [0.1, 1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0]  # Hz


def triplet_params(preset: str = "visual_cortex_all_to_all", **over) -> TripletParams:
    values = dict(tau_plus=16.8, tau_minus=33.7, w_min=0.0, w_max=1.0)
    values.update({k: v for k, v in TRIPLET_PRESETS[preset].items() if k != "pairing"})
    values.update(over)
    return TripletParams(*(torch.tensor(float(values[f]), dtype=F64) for f in TripletParams._fields))


def pairing_events(delta_t: float, freq_hz: float, n_pairs: int = 60) -> list[tuple[float, bool, bool]]:
    """(time ms, pre, post) of the protocol, sorted; pairs start every 1000/freq ms."""
    period = 1000.0 / freq_hz
    events: dict[float, list[bool]] = {}
    for k in range(n_pairs):
        t_pre = k * period + max(0.0, -delta_t)
        t_post = t_pre + delta_t
        events.setdefault(round(t_pre, 9), [False, False])[0] = True
        events.setdefault(round(t_post, 9), [False, False])[1] = True
    return sorted((t, a, b) for t, (a, b) in events.items())


def run_events(step, state, params, events, pairing="all_to_all") -> float:
    w = torch.full((1, 1), 0.5, dtype=F64)
    total = torch.zeros((1, 1), dtype=F64)
    last = 0.0
    for t, is_pre, is_post in events:
        pre = torch.tensor([float(is_pre)], dtype=F64)
        post = torch.tensor([float(is_post)], dtype=F64)
        dw, state = step(pre, post, w, state, params, dt=max(t - last, 1e-3), pairing=pairing)
        total += dw
        last = t
    return total.item()


def triplet_dw(params: TripletParams, delta_t: float, freq: float, pairing: str = "all_to_all") -> float:
    return run_events(
        triplet_step, triplet_init_state((), 1, 1, dtype=F64), params, pairing_events(delta_t, freq), pairing
    )


def test_sjostrom_frequency_dependence():
    p = triplet_params("visual_cortex_all_to_all")
    minus = [triplet_dw(p, -10.0, f) for f in FREQS]
    plus = [triplet_dw(p, +10.0, f) for f in FREQS]
    print("\ntriplet (visual cortex, all-to-all), 60 pairings, total dw:")
    for f, a, b in zip(FREQS, minus, plus):
        print(f"  {f:5.1f} Hz   dt=-10 ms: {a:+.4e}   dt=+10 ms: {b:+.4e}")
    assert minus[0] < 0  # post-pre at low frequency: depression
    assert minus[-1] > 0  # ... turns into potentiation at 50 Hz
    assert all(b2 > b1 for b1, b2 in zip(plus, plus[1:]))  # pre-post: grows with frequency
    assert plus[-1] > 100 * plus[0]
    # the pair rule cannot do this: its dt=-10 result is negative at every frequency
    pair = triplet_params("visual_cortex_all_to_all", a3_plus=0.0, a3_minus=0.0)
    minus_pair = [triplet_dw(pair, -10.0, f) for f in FREQS]
    print("  pair rule (A3 = 0), dt=-10 ms:", " ".join(f"{v:+.3e}" for v in minus_pair))
    assert all(v < 0 for v in minus_pair)


@pytest.mark.parametrize("freq", [0.1, 20.0, 50.0])
@pytest.mark.parametrize("delta_t", [-10.0, 10.0])
def test_without_triplet_terms_equals_pair_rule_bitwise(delta_t, freq):
    tp = triplet_params("visual_cortex_all_to_all", a3_plus=0.0, a3_minus=0.0)
    pp = STDPParams(
        tp.a2_plus,
        tp.a2_minus,
        tp.tau_plus,
        tp.tau_minus,
        tp.w_min,
        tp.w_max,
        *(torch.zeros((), dtype=F64),) * 2,
    )
    events = pairing_events(delta_t, freq)
    w = torch.full((1, 1), 0.5, dtype=F64)
    ts, ss = triplet_init_state((), 1, 1, dtype=F64), stdp_init_state((), 1, 1, dtype=F64)
    last = 0.0
    for t, a, b in events:
        pre, post = torch.tensor([float(a)], dtype=F64), torch.tensor([float(b)], dtype=F64)
        d1, ts = triplet_step(pre, post, w, ts, tp, dt=max(t - last, 1e-3))
        d2, ss = stdp_step(pre, post, w, ss, pp, dt=max(t - last, 1e-3))
        assert torch.equal(d1, d2)
        last = t
    # and batched, with several synapses
    gen = torch.Generator().manual_seed(3)
    pre = (torch.rand(100, 4, 3, generator=gen) < 0.2).to(F64)
    post = (torch.rand(100, 4, 2, generator=gen) < 0.2).to(F64)
    w = torch.rand(2, 3, generator=gen, dtype=F64)
    ts, ss = triplet_init_state((4,), 3, 2, dtype=F64), stdp_init_state((4,), 3, 2, dtype=F64)
    for t in range(100):
        d1, ts = triplet_step(pre[t], post[t], w, ts, tp, dt=1.0, batch_reduce="sum")
        d2, ss = stdp_step(pre[t], post[t], w, ss, pp, dt=1.0, batch_reduce="sum")
        assert torch.equal(d1, d2)


def test_event_driven_equals_fixed_grid():
    """The module on a 0.5 ms grid gives the event-driven result (20 Hz, dt = +10 ms)."""
    rule = TripletSTDP.from_preset("hippocampal", dt=0.5, bound="none").double()
    events = pairing_events(10.0, 20.0)
    steps = int(events[-1][0] / 0.5) + 2
    pre = torch.zeros(steps, 1, dtype=F64)
    post = torch.zeros(steps, 1, dtype=F64)
    for t, a, b in events:
        pre[int(round(t / 0.5))] += float(a)
        post[int(round(t / 0.5))] += float(b)
    w = torch.full((1, 1), 0.5, dtype=F64)
    total, state = 0.0, None
    for k in range(steps):
        dw, state = rule.step(pre[k], post[k], w, state)
        total += dw.item()
    expected = triplet_dw(triplet_params("hippocampal"), 10.0, 20.0)
    assert total == pytest.approx(expected, rel=1e-12)


def reference_triplet(pre_times, post_times, p: dict, pairing: str, dt: float) -> float:
    """Pure Python, one synapse: total change of the additive triplet rule (traces read before
    their own increment; spikes of the same step do not pair)."""

    def trace(times, now, tau):
        earlier = [s for s in times if s < now]
        if pairing == "nearest":
            earlier = earlier[-1:]
        return sum(math.exp(-(now - s) * dt / tau) for s in earlier)

    total = 0.0
    for t in sorted(set(pre_times) | set(post_times)):
        if t in pre_times:
            total -= trace(post_times, t, p["tau_minus"]) * (
                p["a2_minus"] + p["a3_minus"] * trace(pre_times, t, p["tau_x"])
            )
        if t in post_times:
            total += trace(pre_times, t, p["tau_plus"]) * (
                p["a2_plus"] + p["a3_plus"] * trace(post_times, t, p["tau_y"])
            )
    return total


@pytest.mark.parametrize("preset", ["visual_cortex_all_to_all", "visual_cortex_nearest", "hippocampal"])
def test_matches_event_driven_reference(preset, gen):
    rule = TripletSTDP.from_preset(preset, batch_reduce="none", dt=1.0).double()
    steps, batch, n_pre, n_post = 400, 2, 3, 2
    pre = (torch.rand(steps, batch, n_pre, generator=gen) < 0.05).to(F64)
    post = (torch.rand(steps, batch, n_post, generator=gen) < 0.05).to(F64)
    pre[20, :, :], post[20, :, :] = 1.0, 1.0  # simultaneous
    post[30:34, 0, 0] = 1.0  # burst
    pre[33, 0, 0] = 1.0
    w = torch.full((n_post, n_pre), 0.5, dtype=F64)
    total = torch.zeros(batch, n_post, n_pre, dtype=F64)
    state = None
    for t in range(steps):
        dw, state = rule.step(pre[t], post[t], w, state)
        total += dw
    p = {k: float(v) for k, v in zip(TripletParams._fields, rule.params())}
    worst = 0.0
    for b in range(batch):
        for i in range(n_post):
            for j in range(n_pre):
                ref = reference_triplet(
                    torch.nonzero(pre[:, b, j]).flatten().tolist(),
                    torch.nonzero(post[:, b, i]).flatten().tolist(),
                    p,
                    rule.pairing,
                    1.0,
                )
                worst = max(worst, abs(total[b, i, j].item() - ref))
    assert worst < 1e-12


def test_presets_hold_the_published_values():
    vc = TripletSTDP.from_preset("visual_cortex_all_to_all")
    got = {
        k: round(getattr(vc, k).item(), 12)
        for k in ("tau_plus", "tau_minus", "tau_x", "tau_y", "a2_plus", "a3_plus", "a2_minus", "a3_minus")
    }
    assert got == dict(
        tau_plus=16.8,
        tau_minus=33.7,
        tau_x=101.0,
        tau_y=125.0,
        a2_plus=5e-10,
        a3_plus=6.2e-3,
        a2_minus=7e-3,
        a3_minus=2.3e-4,
    )
    hc = TripletSTDP.from_preset("hippocampal")
    got = {
        k: round(getattr(hc, k).item(), 12)
        for k in ("tau_x", "tau_y", "a2_plus", "a3_plus", "a2_minus", "a3_minus")
    }
    assert got == dict(
        tau_x=946.0, tau_y=27.0, a2_plus=6.1e-3, a3_plus=6.7e-3, a2_minus=1.6e-3, a3_minus=1.4e-3
    )
    assert TripletSTDP.from_preset("visual_cortex_nearest").pairing == "nearest"
    assert TripletSTDP.from_preset("visual_cortex_nearest").tau_x.item() == 714.0
    assert TripletSTDP.from_preset("hippocampal", w_max=2.0).w_max.item() == 2.0
    assert TripletSTDP().tau_y.item() == 125.0  # defaults: the visual-cortex all-to-all fit
