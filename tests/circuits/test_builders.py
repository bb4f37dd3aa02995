"""Builders: Brunel regime signatures, COBA activity, Izhikevich 2003 rhythms, determinism, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeforge.analysis import cv_isi
from spikeforge.circuits import builders
from spikeforge.errors import ParameterError


def _run(net, pop: str, duration: float):
    mon = net.record_spikes(pop)
    net.run(duration, progress=False)
    return mon.t, mon.i, net.neurons[pop].n


def _rate_hz(t, n, duration, skip):
    return float((t >= skip).sum()) / n / ((duration - skip) / 1000.0)


def _mean_cv(t, i, n, skip):
    cvs = [cv_isi(t[(i == k) & (t >= skip)]) for k in range(n) if ((i == k) & (t >= skip)).sum() >= 3]
    return float(np.mean(cvs))


def test_brunel_ai_vs_sr_signatures():
    out = {}
    for regime in ("SR", "AI"):
        net = builders.brunel(regime, scale=0.05, seed=0)
        t, i, n = _run(net, "exc", 300.0)
        out[regime] = (_rate_hz(t, n, 300.0, 100.0), _mean_cv(t, i, n, 100.0))
    (rate_sr, cv_sr), (rate_ai, cv_ai) = out["SR"], out["AI"]
    assert cv_sr < 0.3  # regular: refractory-limited firing
    assert cv_ai > 0.8  # irregular
    assert rate_sr > 2 * rate_ai > 0


def test_brunel_scale_01_ai_more_irregular_than_sr():
    out = {}
    for regime in ("SR", "AI"):
        net = builders.brunel(regime, scale=0.1, seed=0)  # N_E = 1000, C_E = 100
        assert net.neurons["exc"].n == 1000
        t, i, n = _run(net, "exc", 300.0)
        out[regime] = (_rate_hz(t, n, 300.0, 100.0), _mean_cv(t, i, n, 100.0))
    (rate_sr, cv_sr), (rate_ai, cv_ai) = out["SR"], out["AI"]
    assert cv_ai > cv_sr + 0.5
    assert 200.0 < rate_sr < 1000.0 / 2.1  # high, below the refractory limit (inputs lost in it)
    assert 5.0 < rate_ai < 150.0


def test_brunel_deterministic_at_scale_01():
    runs = []
    for _ in range(2):
        t, i, _ = _run(builders.brunel("AI", scale=0.1, seed=3), "exc", 100.0)
        runs.append((t, i))
    assert runs[0][0].size > 0
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_brunel_external_input_is_split():
    net = builders.brunel("SI_fast", scale=0.05, seed=0, max_p_ext=0.1, external="group")
    n = net.neurons["exc"].n + net.neurons["inh"].n
    # eta * theta / (J * tau) = 4 * 20 / (2 * 20) = 2 spikes per ms per neuron: 0.2 per step -> K = 2
    assert net.projections["ext->exc"].n_synapses + net.projections["ext->inh"].n_synapses == 2 * n
    assert net.projections["exc->exc"].n_synapses == 500 * 50


def test_brunel_bad_regime():
    with pytest.raises(ParameterError, match="regime"):
        builders.brunel("XY", scale=0.05)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"'SR'.*'AI'.*'SI_fast'.*'SI_slow'"):
        builders.brunel("ai", scale=0.05)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="scale"):
        builders.brunel("AI", scale=1e-4)


def test_coba_sustained_rate():
    net = builders.coba(4000, seed=0)
    t, i, n = _run(net, "exc", 500.0)
    rate = _rate_hz(t, n, 500.0, 200.0)
    assert 2.0 < rate < 60.0
    assert t.max() > 450.0  # activity sustained to the end


def test_coba_1000_neurons_sustained():
    # 1000 neurons with the benchmark's mean in-degree (80); with p = 0.02 they fall silent
    net = builders.coba(1000, seed=0, p=0.08)
    t, _, n = _run(net, "exc", 200.0)
    rate = _rate_hz(t, n, 200.0, 100.0)
    assert 1.0 < rate < 100.0
    assert t.max() > 180.0


def test_coba_initial_membranes_uniform_between_reset_and_threshold():
    v = torch.cat([builders.coba(1000, seed=0).state(pop).v for pop in ("exc", "inh")])
    assert float(v.min()) >= -60.0 and float(v.max()) < -50.0  # Vr + rand() * (Vt - Vr)
    assert abs(float(v.mean()) + 55.0) < 0.5


def test_izhikevich2003_rate_and_rhythm():
    net = builders.izhikevich2003(seed=0)
    t, _, n = _run(net, "exc", 1000.0)
    rate = _rate_hz(t, n, 1000.0, 0.0)
    assert 2.0 < rate < 40.0
    r = np.bincount(t.astype(int), minlength=1000)[:1000].astype(float)
    f = np.fft.rfftfreq(1000, d=1e-3)
    p = np.abs(np.fft.rfft(r - r.mean())) ** 2
    band = (f >= 4) & (f <= 80)
    peak = f[band][np.argmax(p[band])]
    # the alpha rhythm: over seeds 0-5 the peak of this 1 s spectrum (1 Hz bins) is at 7-9 Hz
    # (7-8 with the counter-based noise, 8-9 with the earlier torch.randn blocks)
    assert 7 <= peak <= 13 or 30 <= peak <= 50, peak


def test_izhikevich2003_matches_published_loop():
    n_e, n_i, steps = 80, 20, 200
    rng = np.random.default_rng(1)
    thal = np.concatenate([5 * rng.standard_normal((steps, n_e)), 2 * rng.standard_normal((steps, n_i))], 1)
    net = builders.izhikevich2003(n_e, n_i, seed=3, thalamic=thal, dtype=torch.float64)
    S = np.zeros((n_e + n_i, n_e + n_i))
    S[:n_e, :n_e] = net.projections["exc->exc"].to_dense().numpy()
    S[n_e:, :n_e] = net.projections["exc->inh"].to_dense().numpy()
    S[:n_e, n_e:] = net.projections["inh->exc"].to_dense().numpy()
    S[n_e:, n_e:] = net.projections["inh->inh"].to_dense().numpy()
    a, b, c, d = (
        torch.cat([net.neurons["exc"].params()[k], net.neurons["inh"].params()[k]]).numpy() for k in range(4)
    )
    me, mi = net.record_spikes("exc"), net.record_spikes("inh")
    net.run(float(steps), progress=False)
    v = -65.0 * np.ones(n_e + n_i)
    u = b * v
    ref = []
    fired = np.zeros(n_e + n_i, bool)
    for k in range(steps):  # the published loop; spikes found at the end of the step
        current = thal[k] + S[:, fired].sum(1)
        v = v + 0.5 * (0.04 * v**2 + 5 * v + 140 - u + current)
        v = v + 0.5 * (0.04 * v**2 + 5 * v + 140 - u + current)
        u = u + a * (b * v - u)
        fired = v >= 30
        ref += [(k, j) for j in np.nonzero(fired)[0]]
        v[fired] = c[fired]
        u[fired] = u[fired] + d[fired]
    ours = sorted(
        [(int(round(s)), int(j)) for s, j in zip(me.t, me.i)]
        + [(int(round(s)), int(j) + n_e) for s, j in zip(mi.t, mi.i)]
    )
    assert len(ref) > 20
    assert ours == sorted(ref)


@pytest.mark.parametrize(
    "build",
    [
        lambda: builders.brunel("AI", scale=0.02, seed=5),
        lambda: builders.coba(200, seed=5),
        lambda: builders.izhikevich2003(40, 10, seed=5),
        lambda: builders.winner_take_all(3, 20, seed=5),
        lambda: builders.reservoir(60, 20, 2, seed=5, input_rate=0.1),
        lambda: builders.disinhibitory(40, 10, 10, 10, seed=5, topdown_rate=0.02),
    ],
    ids=["brunel", "coba", "izhikevich2003", "wta", "reservoir", "disinhibitory"],
)
def test_deterministic_under_seed(build):
    runs = []
    for _ in range(2):
        net = build()
        mon = net.record_spikes("exc")
        net.run(50.0, progress=False)
        runs.append((mon.t.copy(), mon.i.copy()))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][0].size > 0


def test_winner_take_all_strongest_input_wins():
    net = builders.winner_take_all(3, 30, seed=0, rates=[0.06, 0.03, 0.03])
    t, i, _ = _run(net, "exc", 400.0)
    counts = np.bincount(i[t > 100] // 30, minlength=3)
    assert counts[0] > counts[1:].max()


def test_disinhibition_raises_exc_rate():
    rates = []
    for td in (0.0, 0.08):
        net = builders.disinhibitory(seed=0, topdown_rate=td)
        ms = net.record_spikes("sst")
        t, _, n = _run(net, "exc", 300.0)
        rates.append((_rate_hz(t, n, 300.0, 50.0), _rate_hz(ms.t, 30, 300.0, 50.0)))
    (e0, s0), (e1, s1) = rates
    assert s1 < s0
    assert e1 > e0
