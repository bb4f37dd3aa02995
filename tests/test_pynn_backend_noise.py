"""spikeforge.pynn's ``NoisyCurrentSource``: NEST's ``noise_generator`` semantics (a normal value
per neuron every ``dt`` of the source, held), its statistics, and the membrane statistics of
pyNN.nest (the random numbers themselves cannot be NEST's)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import spikeforge.pynn as sfp
from spikeforge.errors import ParameterError


def _values(src: sfp.NoisyCurrentSource, dt: float, n: int, t: np.ndarray, seed: int = 0) -> np.ndarray:
    f = src.noise(1.0, dt, n, torch.Generator().manual_seed(seed))
    return f(torch.as_tensor(t, dtype=torch.float64)).numpy()


@pytest.mark.parametrize(("dt", "every"), [(0.1, 1.0), (0.25, None), (0.25, 0.75)])
def test_values_are_normal_held_over_dt_and_zero_outside(dt: float, every: float | None) -> None:
    n, mean, stdev = 4000, 0.3, 0.7
    src = sfp.NoisyCurrentSource(mean=mean, stdev=stdev, dt=every, start=2.0, stop=8.0)
    t = np.arange(round(10.0 / dt)) * dt
    x = _values(src, dt, n, t)
    steps = round((every or dt) / dt)
    k = np.round(t / dt).astype(int) // steps
    on = (t >= 2.0 - 1e-9) & (t < 8.0 - 1e-9)
    assert (x[~on] == 0).all()
    for j in np.unique(k[on]):
        rows = x[on & (k == j)]
        assert (rows == rows[0]).all()  # held over the interval
        assert abs(rows[0].mean() - mean) < 5 * stdev / np.sqrt(n)
        assert abs(rows[0].std() / stdev - 1) < 5 * np.sqrt(0.5 / n)
    first = [x[on & (k == j)][0] for j in np.unique(k[on])]
    corr = np.corrcoef(first[0], first[1])[0, 1]
    assert abs(corr) < 5 / np.sqrt(n)  # a new draw every interval
    # the same values whatever the order and chunks in which times are asked for
    f = src.noise(1.0, dt, n, torch.Generator().manual_seed(0))
    late = f(torch.as_tensor(t[len(t) // 2 :])).numpy()
    early = f(torch.as_tensor(t[: len(t) // 2])).numpy()
    np.testing.assert_array_equal(np.concatenate([early, late]), x)


def test_bad_values_are_named() -> None:
    with pytest.raises(ParameterError, match="stdev=-1"):
        sfp.NoisyCurrentSource(stdev=-1.0)
    with pytest.raises(ParameterError, match="dt=0.15 ms must be a whole number of simulation steps"):
        _values(sfp.NoisyCurrentSource(dt=0.15), 0.1, 2, np.zeros(1))


def _membrane(sim: Any, dt: float, every: float | None, n: int, duration: float) -> np.ndarray:
    sim.setup(timestep=dt, **({"spike_precision": "on_grid"} if sim is not sfp else {}))
    cells = sim.Population(n, sim.IF_curr_exp(v_thresh=1000.0, tau_m=10.0))
    sim.NoisyCurrentSource(mean=0.4, stdev=1.5, dt=every, start=5.0).inject_into(cells)
    cells.record("v")
    sim.run(duration)
    v = np.asarray(cells.get_data().segments[0].analogsignals[0].magnitude, dtype=np.float64)
    sim.end()
    return v


@pytest.mark.parametrize(("dt", "every"), [(0.1, 1.0), (0.25, None)])
def test_membrane_mean_and_variance_match_pynn_nest(dt: float, every: float | None) -> None:
    """1000 cells without threshold: the mean and the variance over cells of v at 5 times equal
    pyNN.nest's within 5 sigma of the sampling error."""
    nest_sim = pytest.importorskip("pyNN.nest", reason="needs PyNN and NEST: pip install 'spikeforge[pynn]'")
    n, duration = 1000, 60.0
    theirs = _membrane(nest_sim, dt, every or dt, n, duration)  # pyNN.nest 0.13 fails on dt=None
    ours = _membrane(sfp, dt, every, n, duration)
    assert ours.shape[1] == theirs.shape[1] == n
    for t in (10.0, 20.0, 30.0, 45.0, 59.0):
        k = round(t / dt)
        a, b = ours[k], theirs[k]
        sd = np.sqrt((a.var() + b.var()) / n)
        assert abs(a.mean() - b.mean()) < 5 * sd, (t, a.mean(), b.mean())
        assert abs(a.var() / b.var() - 1) < 5 * np.sqrt(4.0 / n), (t, a.var(), b.var())
    assert ours[round(59.0 / dt)].std() > 1.0  # the noise shows
