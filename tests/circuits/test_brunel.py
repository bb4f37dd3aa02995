"""Brunel (2000) regimes: rates against the mean-field theory of the paper, irregularity, and
synchrony (membrane-potential chi, population-rate spectrum).

The networks are scaled to a quarter (N_E = 2500, C_E = 250, J = 0.4 mV, keeping J C_E and the
external drive of the paper; see ``builders.brunel``), simulated for 500 ms, analysed after a
100 ms transient. At this size the stronger fluctuations blur the fast regimes (AI and SI fast
show slow rate fluctuations, ISI CV > 1), but every regime keeps its signature:

=========  ======================================================================================
SR         regular (mean ISI CV < 0.3) at the rate of the noise-free drive (see below)
AI         irregular (CV > 0.8), rate within 20 % of the mean-field rate, weakest synchrony
SI fast    irregular, a population rhythm above 100 Hz (180 Hz in the paper)
SI slow    irregular at a low rate, a population rhythm of 10-50 Hz with the largest prominence
           and the largest chi of membrane potentials
=========  ======================================================================================

The mean-field rate is the self-consistent solution of Brunel's eqs. (4)-(7) (Siegert's formula
for the LIF with white noise), solved here with scipy: an independent reference.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import erfcx

from spikeforge.analysis import cv_isi, synchrony_chi
from spikeforge.analysis.synchrony import oscillation_peak, population_spectrum
from spikeforge.circuits import builders

pytestmark = pytest.mark.slow

SCALE, DURATION, SKIP = 0.25, 500.0, 100.0


def mean_field_rate_hz(g: float, eta: float, c_e: int, j: float) -> float:
    """Brunel (2000) stationary rate: nu = phi(mu(nu), sigma(nu)) with
    mu = C_E J tau (eta nu_thr + nu (1 - g gamma)), sigma^2 = C_E J^2 tau (eta nu_thr + nu (1 + g^2 gamma)),
    1 / phi = t_ref + tau sqrt(pi) int_{(V_r - mu)/sigma}^{(theta - mu)/sigma} e^{u^2} (1 + erf u) du."""
    tau, theta, v_r, t_ref, gamma = 20.0, 20.0, 10.0, 2.0, 0.25
    nu_thr = theta / (j * c_e * tau)

    def phi(nu: float) -> float:
        mu = c_e * j * tau * (eta * nu_thr + nu * (1 - g * gamma))
        sigma = np.sqrt(c_e * j * j * tau * (eta * nu_thr + nu * (1 + g * g * gamma)))
        integral = quad(lambda u: erfcx(-u), (v_r - mu) / sigma, (theta - mu) / sigma, limit=200)[0]
        return 1.0 / (t_ref + tau * np.sqrt(np.pi) * integral)

    return 1000.0 * brentq(lambda nu: phi(nu) - nu, 1e-6, 1.0 / t_ref - 1e-6)


@pytest.fixture(scope="module")
def regimes() -> dict[str, dict[str, float]]:
    out = {}
    for regime in ("SR", "AI", "SI_fast", "SI_slow"):
        net = builders.brunel(regime, scale=SCALE, seed=0)
        n = net.neurons["exc"].n
        mon = net.record_spikes("exc")
        vm = net.record_state("exc", "v", indices=list(range(100)))
        net.run(DURATION, progress=False)
        keep = mon.t >= SKIP
        t, i = mon.t[keep], mon.i[keep]
        trains = [t[i == k] for k in range(n)]
        f, p = population_spectrum(
            t, n_neurons=n, t_start=SKIP, t_stop=DURATION, bin_ms=0.5, segment_ms=100.0
        )
        slow = oscillation_peak(f, p, f_min=5.0, f_max=500.0)
        fast = oscillation_peak(f, p, f_min=50.0, f_max=500.0)
        rate = t.size / n / ((DURATION - SKIP) / 1000.0)
        out[regime] = {
            "rate": rate,
            "cv": float(np.mean([cv_isi(tr) for tr in trains if tr.size >= 3])),
            "chi_v": synchrony_chi(vm.values[int(SKIP / net.dt) :]),
            "peak_hz": slow.frequency_hz,
            "prominence": slow.prominence,
            "fast_peak_hz": fast.frequency_hz,
            "fast_prominence": fast.prominence,
            "c_e": net.projections["exc->exc"].n_synapses // n,
            "j": float(net.projections["exc->exc"].weights()[0]),
        }
    return out


def sr_rate_hz(g: float = 3.0, eta: float = 2.0, c_e: int = 250, j: float = 0.4, dt: float = 0.1) -> float:
    """The SR regime's rate in the noise-free limit: after the spike step and t_ref (inputs lost,
    v held at V_r) v climbs to theta under the mean drive mu(nu), so
    1 / nu = t_ref + dt + tau ln((mu - V_r) / (mu - theta)), solved self-consistently."""
    tau, theta, v_r, t_ref, gamma = 20.0, 20.0, 10.0, 2.0, 0.25
    nu_thr = theta / (j * c_e * tau)

    def isi(nu: float) -> float:
        mu = c_e * j * tau * (eta * nu_thr + nu * (1 - g * gamma))
        return t_ref + dt + tau * np.log((mu - v_r) / (mu - theta))

    return 1000.0 * brentq(lambda nu: nu * isi(nu) - 1.0, 1e-3, 1.0 / (t_ref + dt))


def test_sr_regular_at_the_noise_free_rate(regimes):
    """Regular firing at the rate the mean drive gives (about 312 Hz; the refractory limit
    1 / (t_ref + dt) is 476 Hz: inputs during refractoriness are lost, as in Brunel's model)."""
    sr = regimes["SR"]
    assert sr["cv"] < 0.3
    assert sr["rate"] == pytest.approx(sr_rate_hz(), rel=0.05)


@pytest.mark.parametrize("regime", ["AI", "SI_fast", "SI_slow"])
def test_irregular_regimes(regimes, regime):
    assert regimes[regime]["cv"] > 0.6
    assert regimes[regime]["rate"] < 0.25 * regimes["SR"]["rate"]


def test_ai_rate_matches_mean_field(regimes):
    ai = regimes["AI"]
    assert ai["c_e"] == 250 and ai["j"] == pytest.approx(0.4)
    g, eta = builders.BRUNEL_REGIMES["AI"]
    nu = mean_field_rate_hz(g, eta, ai["c_e"], ai["j"])
    assert 30.0 < nu < 60.0
    assert ai["rate"] == pytest.approx(nu, rel=0.2)
    assert ai["cv"] > 0.8


def test_si_slow_rhythm_and_synchrony(regimes):
    slow, ai = regimes["SI_slow"], regimes["AI"]
    assert 10.0 <= slow["peak_hz"] <= 50.0
    assert slow["prominence"] > 40.0
    assert slow["prominence"] > 2 * max(regimes[r]["prominence"] for r in ("AI", "SI_fast"))
    assert slow["chi_v"] > 1.5 * ai["chi_v"]
    assert slow["rate"] < 0.6 * ai["rate"]  # the lowest rate of the four
    g, eta = builders.BRUNEL_REGIMES["SI_slow"]
    assert slow["rate"] == pytest.approx(mean_field_rate_hz(g, eta, slow["c_e"], slow["j"]), rel=0.35)


def test_si_fast_rhythm_above_100_hz(regimes):
    fast = regimes["SI_fast"]
    assert 100.0 <= fast["fast_peak_hz"] <= 250.0
    assert fast["fast_prominence"] > 4.0  # noise alone: < 3
    assert fast["rate"] > regimes["AI"]["rate"]  # stronger drive (eta = 4)
