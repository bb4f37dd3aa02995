"""NIR ``Delay`` nodes: an element-wise :class:`~spikeforge.plasticity.FixedDelay` exports as
``Delay(delay = steps * dt / 1000 s)`` and imports back, through ``nir.write``/``nir.read``, with
identical outputs; an independent numpy simulation of the delayed network agrees; malformed Delay
nodes and what NIR cannot carry give clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.errors import ParameterError, ShapeError, UnsupportedExportError
from spikeforge.hardware import from_nir, to_nir
from spikeforge.plasticity import FixedDelay, LearnableDelay

nir = pytest.importorskip("nir")
pytest.importorskip("h5py")

DT = 0.5  # ms


def _model(dtype: torch.dtype, seed: int = 0) -> sf.Sequential:
    gen = torch.Generator().manual_seed(seed)
    lin1, lin2 = nn.Linear(6, 5), nn.Linear(5, 4)
    with torch.no_grad():
        for lin in (lin1, lin2):
            lin.weight.uniform_(-0.2, 1.0, generator=gen)
            lin.bias.uniform_(0.0, 0.1, generator=gen)
    return sf.Sequential(
        lin1,
        FixedDelay(torch.tensor([0.0, 1.0, 3.0, 7.0, 2.0]) * DT, dt=DT),
        sf.neurons.LIF(5, tau_mem=torch.tensor([2.0, 3.0, 5.0, 8.0, 4.0]), v_th=1.0, dt=DT),
        lin2,
        FixedDelay(torch.tensor([4.0, 0.0, 9.0, 1.0]) * DT, dt=DT),
        sf.neurons.LIF(4, tau_mem=3.0, v_th=1.0, dt=DT),
    ).to(dtype)


def _input(dtype: torch.dtype) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return (torch.rand(60, 3, 6, generator=gen) < 0.4).to(dtype) * 4.0


def _numpy_reference(model: sf.Sequential, x: np.ndarray) -> np.ndarray:
    """The delayed network written out by hand: Linear, y_i[t] = x_i[t - d_i], exact LIF (r = 1,
    v_leak = v_reset = 0, spike when v > v_th, reset to 0)."""
    out = x
    for m in model:
        if isinstance(m, nn.Linear):
            out = out @ m.weight.detach().double().numpy().T + m.bias.detach().double().numpy()
        elif isinstance(m, FixedDelay):
            steps = m.steps.numpy()
            delayed = np.zeros_like(out)
            for i, d in enumerate(steps):
                delayed[d:, ..., i] = out[: out.shape[0] - d, ..., i]
            out = delayed
        else:
            k = np.exp(-DT / m.tau_mem.detach().double().numpy())
            v = np.zeros(out.shape[1:])
            spikes = np.zeros_like(out)
            for t in range(out.shape[0]):
                v = v * k + out[t] * (1.0 - k)
                spikes[t] = v > 1.0
                v = np.where(spikes[t] > 0, 0.0, v)
            out = spikes
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_delay_round_trip_through_a_file_is_exact(tmp_path, dtype):
    model = _model(dtype)
    graph = to_nir(model, dt=DT)
    delay_nodes = [n for n in graph.nodes.values() if isinstance(n, nir.Delay)]
    assert len(delay_nodes) == 2
    np.testing.assert_allclose(delay_nodes[0].delay, np.array([0, 1, 3, 7, 2]) * DT / 1000.0, rtol=1e-12)
    path = tmp_path / "delayed.nir"
    nir.write(path, graph)
    back = from_nir(path, dt=DT, dtype=dtype)
    assert [type(m).__name__ for m in back] == [type(m).__name__ for m in model]
    assert torch.equal(back[1].steps, model[1].steps) and torch.equal(back[4].steps, model[4].steps)
    x = _input(dtype)
    with torch.no_grad():
        out, _ = model(x)
        out_back, _ = back(x)
    assert out.sum() > 0
    assert torch.equal(out, out_back)


def test_delayed_network_matches_an_independent_numpy_simulation():
    model = _model(torch.float64)
    x = _input(torch.float64)
    with torch.no_grad():
        ours, _ = from_nir(to_nir(model, dt=DT), dt=DT)(x)
    ref = _numpy_reference(model, x.numpy())
    assert ref.sum() > 10
    np.testing.assert_array_equal(ours.numpy(), ref)
    # the delays matter: without them the spikes differ
    undelayed = sf.Sequential(model[0], model[2], model[3], model[5])
    with torch.no_grad():
        assert not torch.equal(undelayed(x)[0], ours)


def test_a_model_may_start_with_a_delay(gen):
    model = sf.Sequential(FixedDelay(torch.tensor([2.0, 0.0, 1.0]), dt=1.0), sf.neurons.LIF(3, dt=1.0))
    back = from_nir(to_nir(model, dt=1.0), dt=1.0)
    x = torch.rand(40, 2, 3, generator=gen) * 6.0  # drive well above threshold: the neurons fire
    out = model(x)[0]
    assert out.sum() > 0 and torch.equal(out, back(x)[0])


def test_export_refusals_are_clear():
    learnable = sf.Sequential(LearnableDelay(3, 4, max_delay=5.0, dt=1.0), sf.neurons.LIF(4))
    with pytest.raises(UnsupportedExportError, match="LearnableDelay.*rounded_delays"):
        to_nir(learnable, dt=1.0, input_shape=(3,))
    synaptic = FixedDelay(torch.ones(3, 4), dt=1.0)
    with pytest.raises(UnsupportedExportError, match="synaptic delays"):
        to_nir(sf.Sequential(synaptic, sf.neurons.LIF(3)), dt=1.0, input_shape=(4,))
    elementwise = sf.Sequential(nn.Linear(2, 3), FixedDelay(torch.ones(3), dt=1.0), sf.neurons.LIF(3))
    with pytest.raises(UnsupportedExportError, match="snntorch importer cannot run a NIR Delay"):
        to_nir(elementwise, dt=1.0, importer="snntorch")
    other_dt = sf.Sequential(nn.Linear(2, 3), FixedDelay(torch.ones(3), dt=0.5), sf.neurons.LIF(3))
    with pytest.raises(UnsupportedExportError, match="dt=0.5 ms"):
        to_nir(other_dt, dt=1.0)


def _chain(*mid):
    nodes = {"input": nir.Input(input_type=np.array([2]))}
    for i, node in enumerate(mid):
        nodes[f"n{i}"] = node
    nodes["output"] = nir.Output(output_type=np.array([3]))
    names = ["input", *(f"n{i}" for i in range(len(mid))), "output"]
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), type_check=False)


def _affine():
    return nir.Affine(weight=np.ones((3, 2)), bias=np.zeros(3))


@pytest.mark.parametrize(
    "delay, error, match",
    [
        (np.array([1e-3, -1e-3, 0.0]), ParameterError, "negative delays"),
        (np.array([1e-3, np.nan, 0.0]), ParameterError, "NaN"),
        (np.array([1e-3, 2.5e-4, 0.0]), ParameterError, r"delay\[1\].*whole number of steps"),
        (np.array([1e-3, 0.0]), ShapeError, "shape"),
    ],
)
def test_malformed_delay_nodes_raise(delay, error, match):
    with pytest.raises(error, match=match):
        from_nir(_chain(_affine(), nir.Delay(delay=delay)), dt=1.0)


def test_delay_outside_a_chain_is_refused():
    nodes = {
        "input": nir.Input(input_type=np.array([3])),
        "a": nir.Affine(weight=np.eye(3), bias=np.zeros(3)),
        "d": nir.Delay(delay=np.full(3, 1e-3)),
        "lif": nir.LIF(
            tau=np.full(3, 0.02),
            r=np.ones(3),
            v_leak=np.zeros(3),
            v_threshold=np.ones(3),
            v_reset=np.zeros(3),
        ),
        "output": nir.Output(output_type=np.array([3])),
    }
    edges = [("input", "a"), ("a", "d"), ("d", "lif"), ("lif", "a"), ("lif", "output")]
    with pytest.raises(UnsupportedExportError, match="'d' is a Delay inside a graph that is not a chain"):
        from_nir(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), dt=1.0)
