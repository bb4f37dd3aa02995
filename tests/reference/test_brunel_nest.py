"""Brunel (2000) AI network: spikeforge against NEST 3.10 (``iaf_psc_delta`` and
``poisson_generator``, the model of NEST's ``brunel_delta_nest.py``).

The network is :func:`spikeforge.circuits.builders.brunel` at ``scale=0.2`` (2,000 excitatory and
500 inhibitory neurons, in-degrees 200 and 50, J = 0.5 mV), and NEST gets the same model from
``benchmarks/brunel_nest.py`` (:func:`build_nest`, one thread). The connectivity and the Poisson
drive are drawn by each simulator from its own generator, so spikes cannot be compared one by one:
the mean rate and ISI CV of the excitatory neurons (over 50-250 ms, after the start from uniform
membranes) of spikeforge, averaged over 3 seeds, must lie in the range NEST spans over 5 seeds,
widened by one standard deviation of NEST's values.

Figures (this machine, loaded): NEST over 6 seeds 45.9-53.9 Hz (sd 2.7), CV 0.80-0.87 (sd 0.024);
spikeforge 43.8-49.7 Hz, CV 0.82-0.89. What the bounds catch: spikeforge with g = 4.5 (10 % less
inhibition) fires at 68.7 Hz, with g = 5.5 at 36.6 Hz, with a delay of 1.4 ms instead of 1.5 at
40.6 Hz and CV 0.77.
"""

from __future__ import annotations

import importlib.util
import pathlib
import statistics
from typing import Any

import pytest

from spikeforge.circuits import builders

pytestmark = [pytest.mark.reference, pytest.mark.slow]

SCALE, DURATION, T0 = 0.2, 250.0, 50.0
NEST_SEEDS, SF_SEEDS = range(5), range(3)


def _bench() -> Any:
    path = pathlib.Path(__file__).parents[2] / "benchmarks" / "brunel_nest.py"
    spec = importlib.util.spec_from_file_location("brunel_nest_bench", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_brunel_ai_rate_and_cv_within_nest_spread():
    nest = pytest.importorskip("nest", reason="NEST is an optional extra: pip install 'spikeforge[nest]'")
    bench = _bench()
    nest_stats = []
    for seed in NEST_SEEDS:
        net = bench.build_nest(nest, SCALE, seed, threads=1)
        nest.Simulate(DURATION)
        t, i = bench.nest_spikes(nest, net)
        nest_stats.append(bench.rate_cv(t, i, net["n_e"], T0, DURATION))
    sf_stats = []
    for seed in SF_SEEDS:
        net = builders.brunel("AI", scale=SCALE, seed=seed)
        rec = net.record_spikes("exc")
        net.run(DURATION, progress=False)
        sf_stats.append(bench.rate_cv(rec.t, rec.i, net.neurons["exc"].n, T0, DURATION))
    for q, name in ((0, "rate (Hz)"), (1, "ISI CV")):
        ref = [s[q] for s in nest_stats]
        sd = statistics.stdev(ref)
        lo, hi = min(ref) - sd, max(ref) + sd
        ours = statistics.mean(s[q] for s in sf_stats)
        assert lo <= ours <= hi, (
            f"{name}: spikeforge {ours:.3f}, NEST over seeds {ref} (allowed [{lo:.3f}, {hi:.3f}])"
        )
