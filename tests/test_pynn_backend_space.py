"""``spikeforge.pynn``: positions (``Line``, ``Grid2D``, ``Grid3D``, ``Population.positions``,
``Space``), ``DistanceDependentProbabilityConnector``, ``StepCurrentSource``, ``Projection.set``
and ``SpikeSourceInhGamma``, each against pyNN.nest (or PyNN's own code) where it runs."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest
import torch

import spikeforge.pynn as sfsim
from spikeforge.errors import ParameterError, UnsupportedExportError

logging.getLogger("PyNN").setLevel(logging.ERROR)


def _nest() -> Any:
    return pytest.importorskip("pyNN.nest", reason="needs PyNN and NEST: pip install 'spikeforge[pynn]'")


def _trains(pop: Any) -> list[np.ndarray]:
    trains = pop.get_data().segments[0].spiketrains
    return [np.asarray(t.magnitude) for t in sorted(trains, key=lambda s: s.annotations["source_index"])]


def _assert_same_trains(ours: list[np.ndarray], theirs: list[np.ndarray]) -> None:
    assert len(ours) == len(theirs)
    for k, (a, b) in enumerate(zip(ours, theirs)):
        assert len(a) == len(b), (k, a, b)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    ("structure", "n"),
    [("Line", 7), ("Grid2D", 12), ("Grid2D", 16), ("Grid3D", 24), ("Grid3D", 8)],
)
def test_structures_place_neurons_as_pynn_does(structure: str, n: int) -> None:
    space = pytest.importorskip("pyNN.space", reason="needs PyNN")
    kwargs: dict[str, Any] = {
        "Line": {"dx": 2.5, "x0": 1.0, "y": -3.0},
        "Grid2D": {"aspect_ratio": 0.75 if n == 12 else 1.0, "dx": 2.0, "dy": 0.5, "x0": 1.0, "z": 4.0},
        "Grid3D": {
            "aspect_ratioXY": 2.0 if n == 24 else 1.0,
            "aspect_ratioXZ": 4 / 3 if n == 24 else 1.0,
            "dz": 3.0,
            "z0": -1.0,
        },
    }[structure]
    ours = getattr(sfsim, structure)(**kwargs).positions(n)
    theirs = getattr(space, structure)(**kwargs).generate_positions(n)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("aspect_ratio", [1.0, 0.75, 2.0, 0.5, 4 / 3, 1 / 3, 1.25])
def test_grid2d_refuses_the_sizes_pynn_refuses(aspect_ratio: float) -> None:
    """For n = 1..150: where PyNN's ``Grid2D`` places n neurons it places them as ours does;
    where it raises (12 neurons at aspect ratio 1: sqrt(12) is not whole) or places a grid of
    another size (3 neurons at 0.75: 2 positions), ours raises a ParameterError that names n, the
    aspect ratio and the nearest sizes that fit."""
    space = pytest.importorskip("pyNN.space", reason="needs PyNN")
    placed = refused = 0
    for n in range(1, 151):
        try:
            theirs = space.Grid2D(aspect_ratio=aspect_ratio).generate_positions(n)
        except Exception:  # PyNN raises a bare Exception("Invalid size: ...")
            theirs = None
        if theirs is not None and theirs.shape == (3, n):
            np.testing.assert_array_equal(sfsim.Grid2D(aspect_ratio=aspect_ratio).positions(n), theirs)
            placed += 1
        else:
            with pytest.raises(ParameterError, match=rf"Grid2D: {n} neurons .*aspect_ratio={aspect_ratio!r}"):
                sfsim.Grid2D(aspect_ratio=aspect_ratio).positions(n)
            refused += 1
    assert placed >= 2 and refused > 100  # 1.25: 20 and 80 neurons (5 x 4, 10 x 8)


def test_grid2d_error_names_the_sizes_that_fit() -> None:
    """A population of 12 on a square grid is refused when it is created, with the sizes that
    would fit; a bad aspect ratio is refused at once."""
    sfsim.setup(timestep=0.1)
    fit = r"Grid2D: 12 neurons .*aspect_ratio=1.0.*nearest sizes that fit: 9 or 16"
    with pytest.raises(ParameterError, match=fit):
        sfsim.Population(12, sfsim.IF_curr_exp(), structure=sfsim.Grid2D())
    with pytest.raises(ParameterError, match=r"nearest sizes that fit: 8 or 18"):  # 2 x 4 or 3 x 6
        sfsim.Population(12, sfsim.IF_curr_exp(), structure=sfsim.Grid2D(aspect_ratio=0.5))
    assert sfsim.Population(12, sfsim.IF_curr_exp(), structure=sfsim.Grid2D(aspect_ratio=0.75)).size == 12
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ParameterError, match="aspect_ratio must be a finite number > 0"):
            sfsim.Grid2D(aspect_ratio=bad)


def test_space_distances_as_pynn() -> None:
    space = pytest.importorskip("pyNN.space", reason="needs PyNN")
    gen = np.random.default_rng(0)
    a, b = gen.uniform(0, 10, (3, 5)), gen.uniform(0, 10, (3, 4))
    for kw in [
        {},
        {"axes": "xy"},
        {"axes": "z", "scale_factor": 2.0, "offset": 1.5},
        {"periodic_boundaries": ((0, 10), (0, 10), None)},
    ]:
        ours = sfsim.Space(**kw).distances(a, b)
        theirs = space.Space(**kw).distances(a.T, b.T).reshape(5, 4)
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def _distance_script(
    sim: Any, expression: str, seed: int, pynn_space: bool = False, **setup: Any
) -> dict[str, Any]:
    """Grids of different spacing on a torus; ``pynn_space``: PyNN's own ``Grid2D`` and ``Space``
    (a PyNN script imports them from ``pyNN.space``), else the simulator module's."""
    sim.setup(timestep=0.1, **setup)
    geometry: Any = pytest.importorskip("pyNN.space") if pynn_space else sim
    cell = sim.IF_curr_exp()
    pre = sim.Population(64, cell, structure=geometry.Grid2D(dx=1.0, dy=1.0), label="pre")
    post = sim.Population(
        48, cell, structure=geometry.Grid2D(aspect_ratio=0.75, dx=1.5, dy=1.0), label="post"
    )
    rng = {}
    if sim is not sfsim:
        from pyNN.random import NumpyRNG

        rng = {"rng": NumpyRNG(seed=seed)}
    space = geometry.Space(periodic_boundaries=((0, 8), (0, 8), None))
    prj = sim.Projection(
        pre,
        post,
        sim.DistanceDependentProbabilityConnector(expression, **rng),
        sim.StaticSynapse(weight=0.1, delay=1.0),
        space=space,
    )
    rec = sim.Projection(
        pre, pre, sim.DistanceDependentProbabilityConnector("d < 1.5", allow_self_connections=False, **rng)
    )
    sim.run(0.0)
    pairs = {(int(i), int(j)) for i, j, *_ in prj.get("weight", format="list")}
    rec_pairs = {(int(i), int(j)) for i, j, *_ in rec.get("weight", format="list")}
    d = space.distances(pre.positions.T, post.positions.T).reshape(64, 48) if pynn_space else None
    sim.end()
    return {"pairs": pairs, "rec": rec_pairs, "distances": d}


def test_distance_dependent_deterministic_profile_gives_nests_synapses() -> None:
    """With probabilities 0 or 1 (``d < r``) the synapses do not depend on the draw: the same set
    as pyNN.nest's, periodic boundaries, grids of different spacing and self-connections
    excluded included."""
    nest = _nest()
    ours = _distance_script(sfsim, "d < 2.6", 0)
    theirs = _distance_script(nest, "d < 2.6", 0, True, spike_precision="on_grid", min_delay=0.1)
    assert _distance_script(sfsim, "d < 2.6", 0, True)["pairs"] == ours["pairs"]  # pyNN.space objects
    assert ours["pairs"] == theirs["pairs"] and 200 < len(ours["pairs"]) < 64 * 48 / 2
    # an 8x8 grid without torus, d < 1.5: 2 x 112 side and 2 x 98 diagonal neighbours
    assert ours["rec"] == theirs["rec"] and len(ours["rec"]) == 420
    assert all(i != j for i, j in ours["rec"])


def test_distance_dependent_counts_within_nests_spread() -> None:
    """``exp(-d / 1.5)``: over 8 seeds each, the number of synapses (and their mean distance) of
    spikeforge.pynn lie within NEST's spread, and both means within 3 standard errors of the
    expectation ``sum p(d)``."""
    nest = _nest()
    expr = "exp(-d / 1.5)"
    ours = [_distance_script(sfsim, expr, s, True, rng_seed=s) for s in range(8)]
    theirs = [
        _distance_script(nest, expr, s, True, spike_precision="on_grid", min_delay=0.1) for s in range(8)
    ]
    d = ours[0]["distances"]
    p = np.exp(-d / 1.5)
    expected, sd = p.sum(), np.sqrt((p * (1 - p)).sum())
    counts = {
        name: np.array([len(r["pairs"]) for r in runs]) for name, runs in (("ours", ours), ("nest", theirs))
    }
    for name, c in counts.items():
        assert abs(c.mean() - expected) < 3 * sd / np.sqrt(len(c)), (name, c, expected)
    lo, hi = counts["nest"].min() - sd, counts["nest"].max() + sd
    assert lo <= counts["ours"].mean() <= hi
    mean_d = {
        name: np.mean([np.mean([d[i, j] for i, j in r["pairs"]]) for r in runs])
        for name, runs in (("ours", ours), ("nest", theirs))
    }
    assert abs(mean_d["ours"] - mean_d["nest"]) < 0.05 * mean_d["nest"]
    assert len({frozenset(r["pairs"]) for r in ours}) == 8  # the seeds draw differently


def _step_script(
    sim: Any, dt: float, times: list[float], amps: list[float], **setup: Any
) -> list[np.ndarray]:
    sim.setup(timestep=dt, **setup)
    lif = sim.Population(2, sim.IF_curr_exp(tau_m=10.0, cm=0.5, tau_refrac=2.0, v_thresh=-55.0), label="lif")
    lif.initialize(v=np.array([-65.0, -60.0]))
    izh = sim.Population(1, sim.Izhikevich(), label="izh")
    sim.StepCurrentSource(times=times, amplitudes=amps).inject_into(lif)
    izh.inject(sim.StepCurrentSource(times=times, amplitudes=[0.01 * a for a in amps]))
    lif.record("spikes")
    izh.record("spikes")
    sim.run(80.0)
    out = _trains(lif) + _trains(izh)
    sim.end()
    return out


@pytest.mark.parametrize("dt", [0.1, 0.25])
@pytest.mark.parametrize(
    ("times", "amps"),
    [([10.0, 20.0, 30.3, 50.0], [1.2, 0.3, 1.5, 0.0]), ([5.0, 12.04, 12.06, 33.0], [0.2, 0.9, 1.3, 0.5])],
)
def test_step_current_source_gives_nests_spikes(dt: float, times: list[float], amps: list[float]) -> None:
    """Times on and off the grid (12.04 and 12.06 round to one step at dt 0.25: the last amplitude
    holds); NEST's current cannot start before 2 dt, so the times here are later."""
    nest = _nest()
    ours = _step_script(sfsim, dt, times, amps)
    _assert_same_trains(ours, _step_script(nest, dt, times, amps, spike_precision="on_grid", min_delay=dt))
    assert all(len(t) >= 3 for t in ours)
    assert min(t.min() for t in ours) > times[0]


def test_step_current_source_by_hand() -> None:
    src = sfsim.StepCurrentSource(times=[1.0, 2.0, 2.04], amplitudes=[3.0, 4.0, 5.0])
    f = src.current(2.0, 0.1)
    t = torch.tensor([0.0, 0.9, 1.0, 1.9, 2.0, 2.1, 50.0], dtype=torch.float64)
    assert f(t).tolist() == [0.0, 0.0, 6.0, 6.0, 10.0, 10.0, 10.0]  # 2.0 and 2.04 share a step
    assert sfsim.StepCurrentSource().current(1.0, 0.1)(t).tolist() == [0.0] * 7
    with pytest.raises(ParameterError, match="strictly increasing"):
        sfsim.StepCurrentSource(times=[2.0, 1.0], amplitudes=[1.0, 2.0])
    with pytest.raises(ParameterError, match="same length, got 2 and 1"):
        sfsim.StepCurrentSource(times=[1.0, 2.0], amplitudes=[1.0])


def _set_script(sim: Any, **setup: Any) -> tuple[list[np.ndarray], list[Any]]:
    sim.setup(timestep=0.1, **setup)
    src = sim.Population(3, sim.SpikeSourceArray(spike_times=[5.0, 6.0, 20.0, 40.0]), label="src")
    cells = sim.Population(2, sim.IF_curr_exp(tau_m=10.0, cm=0.25, tau_refrac=2.0, v_thresh=-58.0), label="c")
    prj = sim.Projection(src, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.01, delay=1.0))
    prj.set(weight=np.array([[0.3, 0.0], [0.3, 0.05], [0.2, 0.1]]))
    prj.set(delay=2.5)
    cells.record("spikes")
    sim.run(60.0)
    out = _trains(cells), sorted(prj.get(["delay"], format="list"))
    sim.end()
    return out


def test_projection_set_gives_nests_spikes() -> None:
    nest = _nest()
    ours, delays = _set_script(sfsim)
    theirs, nest_delays = _set_script(nest, spike_precision="on_grid", min_delay=0.1)
    _assert_same_trains(ours, theirs)
    assert len(ours[0]) >= 2 and len(ours[1]) == 0  # the second cell's weights are too weak
    assert delays == nest_delays and {d for *_, d in delays} == {2.5}


def test_inh_gamma_with_shape_one_is_an_inhomogeneous_poisson_process() -> None:
    """Rates 20, 0 and 100 Hz (b = 1 / rate s) in bins from 0, 200 and 300 ms, started at 100 ms:
    the counts in each window are Poisson with the window's rate (4 standard deviations)."""
    sfsim.setup(timestep=0.1, rng_seed=3)
    src = sfsim.Population(
        200,
        sfsim.SpikeSourceInhGamma(
            a=[1.0, 1.0, 1.0], b=[0.05, 1e9, 0.01], tbins=[0.0, 200.0, 300.0], start=100.0
        ),
    )
    src.record("spikes")
    sfsim.run(500.0)
    t = np.concatenate(_trains(src)) - 0.1  # PyNN's stamp is the end of the step
    sfsim.end()
    for lo, hi, hz in [(0.0, 100.0, 0.0), (100.0, 200.0, 20.0), (200.0, 300.0, 0.0), (300.0, 500.0, 100.0)]:
        n = int(((t >= lo) & (t < hi)).sum())
        mean = 200 * hz * (hi - lo) / 1000
        assert abs(n - mean) <= 4 * np.sqrt(mean) + 1e-9, (lo, hi, n, mean)


def test_refusals_name_what_is_missing() -> None:
    sfsim.setup(timestep=0.1)
    sfsim.Population(2, sfsim.SpikeSourceInhGamma(a=[2.0], b=[0.1], tbins=[0.0]))
    with pytest.raises(UnsupportedExportError, match=r"shape a = \[2.0\]; spikeforge.pynn runs a = 1"):
        sfsim.run(1.0)
    sfsim.setup(timestep=0.1)
    with pytest.raises(UnsupportedExportError, match="fill_order='random'"):
        sfsim.Grid2D(fill_order="random")
    with pytest.raises(UnsupportedExportError, match="'NoMutual' is not supported"):
        sfsim.DistanceDependentProbabilityConnector("d < 1", allow_self_connections="NoMutual")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="negative probability"):
        sfsim.DistanceDependentProbabilityConnector("1 - d")
    with pytest.raises(AttributeError, match="does not implement PyNN's RandomStructure"):
        _ = sfsim.RandomStructure  # type: ignore[attr-defined]
    pop = sfsim.Population(4, sfsim.IF_curr_exp())
    with pytest.raises(ParameterError, match=r"positions must be a finite \[3, 4\] array"):
        pop.positions = np.zeros((2, 4))
    pop.positions = np.arange(12.0).reshape(3, 4)
    assert pop.positions[0].tolist() == [0.0, 1.0, 2.0, 3.0]
    prj = sfsim.Projection(pop, pop, sfsim.AllToAllConnector())
    with pytest.raises(ParameterError, match=r"an \[n_pre, n_post\] = \[4, 4\] array"):
        prj.set(weight=np.ones(3))
    with pytest.raises(UnsupportedExportError, match="attribute 'tau_syn'"):
        prj.set(tau_syn=1.0)
    sfsim.run(0.0)
    with pytest.raises(UnsupportedExportError, match="before the first run"):
        prj.set(weight=1.0)
    with pytest.raises(ParameterError, match="rng_seed must be an int >= 0"):
        sfsim.setup(timestep=0.1, rng_seed=-1)
    sfsim.end()
