"""``spikeforge.pynn``: ``Population.set`` / ``get`` (also on views and assemblies, and between runs
for spike sources) and ``ACSource``, each run by one PyNN script on spikeforge and on pyNN.nest."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

import spikeforge.pynn as sfsim
from spikeforge.errors import ParameterError, UnsupportedExportError

logging.getLogger("PyNN").setLevel(logging.ERROR)


def _nest() -> Any:
    return pytest.importorskip("pyNN.nest", reason="needs PyNN and NEST: pip install 'spikeforge[pynn]'")


def _trains(pop: Any) -> list[np.ndarray]:
    trains = pop.get_data().segments[0].spiketrains
    return [np.asarray(t.magnitude) for t in sorted(trains, key=lambda s: s.annotations["source_index"])]


def _same_spikes(ours: dict[str, list[np.ndarray]], theirs: dict[str, list[np.ndarray]]) -> None:
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert len(ours[name]) == len(theirs[name]), name
        for k, (a, b) in enumerate(zip(ours[name], theirs[name])):
            assert a.shape == b.shape, (name, k, a, b)
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-9, err_msg=f"{name}[{k}]")


def _times(x: Any) -> list[float]:
    """Spike times from what pyNN.nest's get returns for one neuron (a Sequence, or an array of one)."""
    parts = [np.asarray(getattr(y, "value", y), dtype=np.float64).reshape(-1) for y in np.atleast_1d(x)]
    return np.concatenate(parts).tolist()


def _set_script(sim: Any, dt: float, **setup: Any) -> tuple[dict[str, list[np.ndarray]], dict[str, Any]]:
    """Parameters set per neuron (lists, functions of the index), on a view and on an assembly,
    then read back; the cells are driven by i_offset and by spike sources whose times are set."""
    sim.setup(timestep=dt, **setup)
    a = sim.Population(4, sim.IF_curr_exp(), label="a")
    b = sim.Population(3, sim.IF_curr_alpha(), label="b")
    izh = sim.Population(2, sim.Izhikevich(), label="izh")
    src = sim.Population(3, sim.SpikeSourceArray(), label="src")
    a.set(tau_m=[8.0, 10.0, 12.0, 15.0], cm=0.5, v_thresh=-56.0, tau_refrac=2.0)
    a.set(i_offset=lambda i: 0.3 + 0.1 * i)
    a[2:].set(v_rest=[-64.0, -63.0])
    a[1:3].set(tau_refrac=lambda i: 1.0 + i)  # the view's own indices: 1.0 and 2.0 ms
    b.set(tau_m=15.0, v_thresh=-58.0, tau_syn_E=2.5, i_offset=np.array([0.0, 0.5, 0.8]))
    (a + b).set(v_reset=-62.0)
    izh.set(a=[0.02, 0.1], d=[8.0, 2.0], i_offset=0.012)
    src.set(spike_times=[np.array([4.0, 9.0]), np.array([6.0]), np.array([])])
    src[2:].set(spike_times=[12.0, 20.0])
    sim.Projection(src, a, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.6, delay=1.0))
    sim.Projection(src, b, sim.OneToOneConnector(), sim.StaticSynapse(weight=0.8, delay=0.5))
    for pop in (a, b, izh):
        pop.record("spikes")
    got = {
        "tau_m": a.get("tau_m"),
        "cm": a.get("cm"),
        "view": a[1:3].get(["i_offset", "v_rest", "tau_refrac"]),
        "assembly": (a + b).get("v_reset"),
        "assembly_tau": (a + b).get("tau_m"),
        "izh": izh.get(["a", "b"]),
        "src": src.get("spike_times"),
    }
    sim.run(60.0)
    out = {name: _trains(pop) for name, pop in (("a", a), ("b", b), ("izh", izh))}
    sim.end()
    return out, got


@pytest.mark.parametrize("dt", [0.1, 0.25])
def test_population_set_gives_nests_spikes_and_get_reads_back_what_nest_reads(dt: float) -> None:
    nest = _nest()
    ours, got = _set_script(sfsim, dt)
    theirs, nest_got = _set_script(nest, dt, spike_precision="on_grid", min_delay=dt)
    _same_spikes(ours, theirs)
    assert sum(len(t) for ts in ours.values() for t in ts) >= 20
    assert all(len(t) > 0 for t in ours["a"] + ours["izh"])
    for key, value in got.items():  # what pyNN.nest's get returns, up to its types
        expected = nest_got[key]
        if key == "src":
            assert len(value) == len(expected)
            for v, e in zip(value, expected):  # NEST's round trip through its grid: 1 ulp
                np.testing.assert_allclose(v, _times(e), rtol=1e-12)
        elif isinstance(expected, list):
            for v, e in zip(value, expected):
                np.testing.assert_allclose(v, e, rtol=1e-12)
                assert np.ndim(v) == np.ndim(e), key
        else:
            np.testing.assert_allclose(value, expected, rtol=1e-12)
            assert np.ndim(value) == np.ndim(expected), key  # a float where all are equal


def _between_runs_script(sim: Any, **setup: Any) -> dict[str, Any]:
    """A run callback changes the rate of Poisson sources and the times of a spike source."""
    sim.setup(timestep=0.1, **setup)
    poisson = sim.Population(200, sim.SpikeSourcePoisson(rate=5.0), label="poisson")
    array = sim.Population(2, sim.SpikeSourceArray(spike_times=[3.0, 250.0]), label="array")
    cell = sim.Population(1, sim.IF_curr_exp(tau_m=10.0, cm=0.25, v_thresh=-60.0), label="cell")
    sim.Projection(array, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=1.0, delay=1.0))
    rates = {100.0: 40.0, 200.0: 0.0, 300.0: 20.0}

    def change(t: float) -> float:
        rate = rates.get(round(t, 6))
        if rate is not None:
            poisson.set(rate=rate)
            array.set(spike_times=[[t - 50.0, t + 5.0, t + 5.5], [t + 7.0]])  # the past one is dropped
        return t + 100.0

    for pop in (poisson, array, cell):
        pop.record("spikes")
    sim.run(400.0, callbacks=[change])
    out = {"poisson": _trains(poisson), "array": _trains(array), "cell": _trains(cell)}
    sim.end()
    return out


def test_set_between_runs_gives_nests_rates_and_spikes() -> None:
    """Rates 5, 40, 0, 20 Hz over the four 100 ms windows (counts within 5 sigma of the expected
    count, in both; the first ms of each window left out: a new rate acts from the step starting at
    the time of ``set``, in NEST through its parrot neurons one step later); the spike source's
    new times, and the cell they drive, exactly as in NEST."""
    nest = _nest()
    ours = _between_runs_script(sfsim, rng_seed=3)
    theirs = _between_runs_script(nest, rng_seed=3, spike_precision="on_grid", min_delay=0.1)
    _same_spikes({k: ours[k] for k in ("array", "cell")}, {k: theirs[k] for k in ("array", "cell")})
    assert [len(t) for t in ours["array"]] == [7, 4]  # 3; then t + 5, t + 5.5 and t + 7 at 100, 200, 300
    for k, rate in enumerate([5.0, 40.0, 0.0, 20.0]):
        window = (100.0 * k + 1.0, 100.0 * (k + 1))

        def count(trains: list[np.ndarray], w: tuple[float, float] = window) -> int:
            return sum(int(((t > w[0]) & (t <= w[1])).sum()) for t in trains)

        expected = 200 * rate * 0.099
        for c in (count(ours["poisson"]), count(theirs["poisson"])):
            assert abs(c - expected) <= 5 * np.sqrt(expected) + 1e-9, (k, c, expected)


def _ac_script(sim: Any, dt: float, **setup: Any) -> dict[str, list[np.ndarray]]:
    sim.setup(timestep=dt, **setup)
    lif = sim.Population(3, sim.IF_curr_exp(tau_m=10.0, cm=0.25, tau_refrac=1.0, v_thresh=-60.0), label="lif")
    izh = sim.Population(1, sim.Izhikevich(), label="izh")
    sim.ACSource(start=10.0, stop=80.0, amplitude=0.6, offset=0.1, frequency=40.0, phase=30.0).inject_into(
        lif
    )
    lif[1:].inject(sim.ACSource(start=20.5, stop=60.0, amplitude=0.2, frequency=125.0, phase=-90.0))
    izh.inject(sim.ACSource(start=5.0, amplitude=0.01, offset=0.008, frequency=20.0))
    lif.record("spikes")
    izh.record("spikes")
    sim.run(100.0)
    out = {"lif": _trains(lif), "izh": _trains(izh)}
    sim.end()
    return out


@pytest.mark.parametrize("dt", [0.1, 0.25])
def test_ac_source_gives_nests_spikes(dt: float) -> None:
    nest = _nest()
    ours = _ac_script(sfsim, dt)
    theirs = _ac_script(nest, dt, spike_precision="on_grid", min_delay=dt)
    _same_spikes(ours, theirs)
    assert all(len(t) >= 3 for t in ours["lif"] + ours["izh"])
    assert min(t.min() for t in ours["lif"]) > 10.0 and max(t.max() for t in ours["lif"]) < 85.0
    assert not np.array_equal(ours["lif"][1], ours["lif"][0])  # the view's second current counts


def test_set_and_get_bad_input_is_named() -> None:
    sfsim.setup(timestep=0.1)
    cells = sfsim.Population(3, sfsim.IF_curr_exp(), label="cells")
    with pytest.raises(ParameterError, match=r"IF_curr_exp has no parameters \['tau'\]; it takes"):
        cells.set(tau=3.0)
    with pytest.raises(
        ParameterError, match=r"tau_m must be one number or 3 \(one per neuron\), got shape \[2\]"
    ):
        cells.set(tau_m=[1.0, 2.0])
    with pytest.raises(ParameterError, match="tau_m must be finite"):
        cells.set(tau_m=[1.0, np.nan, 2.0])
    with pytest.raises(ParameterError, match="has no parameters \\['nonsense'\\]"):
        cells.get("nonsense")
    with pytest.raises(ParameterError, match="alpha must be a whole number >= 1"):
        sfsim.SpikeSourceGamma(alpha=1.5)
    gamma = sfsim.Population(2, sfsim.SpikeSourceGamma(), label="gamma")
    with pytest.raises(UnsupportedExportError, match=r"\(SpikeSourceGamma\) records 'spikes' only"):
        gamma.record("v")
    with pytest.raises(ParameterError, match="alpha must be a whole number >= 1"):
        gamma.set(alpha=[2.0, 0.0])
    src = sfsim.Population(2, sfsim.SpikeSourceArray(), label="src")
    with pytest.raises(ParameterError, match="spike_times has 3 trains for 2 neurons"):
        src.set(spike_times=[[1.0], [2.0], [3.0]])
    other = sfsim.Population(2, sfsim.IF_cond_exp(), label="other")
    sfsim.Projection(src, other, sfsim.OneToOneConnector(), sfsim.StaticSynapse(weight=0.01, delay=1.0))
    other[1:].set(tau_syn_E=2.0)
    with pytest.raises(UnsupportedExportError, match=r"tau_syn_E differs between neurons \(\[2.0, 5.0\]\)"):
        sfsim.run(1.0)
    other.set(tau_syn_E=2.0)
    sfsim.run(1.0)
    with pytest.raises(UnsupportedExportError, match=r"sets \['tau_m'\] of IF_curr_exp before the first run"):
        cells.set(tau_m=12.0)
    src.set(spike_times=[[5.0], [6.0]])  # a spike source takes new times between runs
    with pytest.raises(ParameterError, match="ACSource: frequency must be >= 0 Hz"):
        sfsim.ACSource(frequency=-1.0)
    sfsim.end()


def _gamma_script(sim: Any, seed: int, **setup: Any) -> list[np.ndarray]:
    sim.setup(timestep=0.25, rng_seed=seed, **setup)
    src = sim.Population(300, sim.SpikeSourceGamma(alpha=3, beta=60.0), label="gamma")
    src.record("spikes")
    sim.run(1000.0)
    out = _trains(src)
    sim.end()
    return out


def _gamma_stats(trains: list[np.ndarray]) -> tuple[float, float, float]:
    """(rate in Hz, CV of the intervals, fraction of intervals below 10 ms)."""
    isi = np.concatenate([np.diff(t) for t in trains])
    rate = sum(len(t) for t in trains) / len(trains) / 1.0
    return rate, float(isi.std() / isi.mean()), float(np.mean(isi < 10.0))


def test_gamma_source_matches_nests_and_the_gamma_process() -> None:
    """alpha = 3, beta = 60 Hz: rate beta / alpha = 20 Hz, CV 1/sqrt(3) = 0.577 and P(ISI < 10 ms)
    = 1 - exp(-0.6)(1 + 0.6 + 0.18) = 0.023 (a Poisson train of the same rate: CV 1, 0.18); ours
    within 5 sigma of these and of NEST's gamma_sup_generator over two seeds."""
    nest = _nest()
    ours = [_gamma_stats(_gamma_script(sfsim, seed)) for seed in (1, 2)]
    theirs = [_gamma_stats(_gamma_script(nest, seed, min_delay=0.25)) for seed in (1, 2)]
    n_spikes = 300 * 20.0 * 1.0
    p_short = 1 - np.exp(-0.6) * (1 + 0.6 + 0.18)
    for rate, cv, short in ours + theirs:
        assert abs(rate - 20.0) < 5 * np.sqrt(n_spikes) / 300.0, rate
        assert abs(cv - 1 / np.sqrt(3)) < 0.03, cv
        assert abs(short - p_short) < 5 * np.sqrt(p_short / n_spikes), short
    assert abs(np.mean([s[1] for s in ours]) - np.mean([s[1] for s in theirs])) < 0.03


def _refractory_script(sim: Any, tau_refrac: float, dt: float, **setup: Any) -> list[np.ndarray]:
    sim.setup(timestep=dt, min_delay=dt, **setup)
    cells = [
        sim.Population(2, kind(tau_refrac=tau_refrac, tau_m=10.0, cm=0.25, v_thresh=-60.0))
        for kind in (sim.IF_curr_exp, sim.IF_curr_alpha)
    ]
    for pop in cells:
        pop.set(i_offset=[1.0, 0.7])
        pop.record("spikes")
    sim.run(30.0)
    out = [t for pop in cells for t in _trains(pop)]
    sim.end()
    return out


@pytest.mark.parametrize(
    ("tau_refrac", "dt"), [(0.1, 0.25), (0.3, 0.25), (0.35, 0.1), (0.3, 0.1), (2.0, 0.1)]
)
def test_refractory_time_rounds_up_to_whole_steps_as_in_nest(tau_refrac: float, dt: float) -> None:
    """NEST holds ``ceil(tau_refrac / dt)`` steps (counted in tics: 0.35 ms at 0.1 ms is 4 steps,
    where ``round(0.35 / 0.1)`` in floats is 3; 0.1 ms at 0.25 ms is one step, not 0)."""
    nest = _nest()
    ours = _refractory_script(sfsim, tau_refrac, dt)
    theirs = _refractory_script(nest, tau_refrac, dt, spike_precision="on_grid")
    _same_spikes({"cells": ours}, {"cells": theirs})
    assert all(len(t) >= 5 for t in ours)
