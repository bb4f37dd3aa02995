"""spikeforge -> NIR -> spikeforge is exact: the same spikes and the same final state, bitwise,
through ``nir.write`` / ``nir.read`` (STYLE.md section 6, item 12)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.errors import ParameterError
from spikeforge.hardware import NIRGraphModule, from_nir, to_nir

nir = pytest.importorskip("nir")


@torch.no_grad()
def _assert_same_run(a: nn.Module, b: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Same spikes and the same final state of every layer, bitwise."""
    out_a, states_a = a(x)
    out_b, states_b = b(x)
    assert out_a.dtype == out_b.dtype == x.dtype
    assert torch.equal(out_a, out_b)
    for sa, sb in zip(states_a, states_b):
        assert (sa is None) == (sb is None)
        if sa is not None:
            for fa, fb in zip(sa, sb):
                assert torch.equal(fa, fb)
    return out_a


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("syn", [False, True])
@pytest.mark.parametrize("integrator", ["exact", "euler"])
def test_round_trip_through_file_is_bitwise(tmp_path, gen, dtype, syn, integrator, make_net, make_input):
    net = make_net(gen, syn=syn, dtype=dtype, integrator=integrator, v_leak=0.05, v_reset=-0.1)
    x = make_input(gen, dtype=dtype)
    path = tmp_path / "net.nir"
    nir.write(path, to_nir(net, dt=1.0))
    net2 = from_nir(path)
    assert isinstance(net2, sf.Sequential)
    out = _assert_same_run(net, net2, x)
    assert 0.02 < float(out.mean()) < 0.5  # the comparison is not vacuous
    # parameters are bitwise the same, in the same dtype
    for lif, lif2 in zip(net[1::2], net2[1::2]):
        p, p2 = lif.params(), lif2.params()
        for name in ("tau_mem", "tau_syn", "v_leak", "v_th", "v_reset", "r"):
            a, b = getattr(p, name), getattr(p2, name)
            if a is None:
                assert b is None
                continue
            assert b.dtype == dtype
            assert torch.equal(a.expand_as(b), b), name
        assert lif2.dt == 1.0 and lif2.integrator == integrator


def test_learnable_parameters_export_their_constrained_values(gen, make_input):
    """Learnable time constants and thresholds (softplus-parametrised) export as their values;
    the imported model holds them as buffers and runs the same."""
    lif = sf.neurons.LIF(20, tau_mem=12.0, tau_syn=4.0, learnable=("tau_mem", "tau_syn", "v_th", "r"))
    with torch.no_grad():
        for p in lif.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    x = 3.0 * make_input(gen)
    back = from_nir(to_nir(lif))
    with torch.no_grad():
        assert torch.equal(lif(x)[0], back(x)[0])
        assert lif(x)[0].sum() > 0


def test_round_trip_in_memory_and_other_dt(gen, make_net, make_input):
    net = make_net(gen, syn=True, dt=0.25)
    graph = to_nir(net)  # dt taken from the neurons
    assert graph.metadata["dt"] == 0.25e-3
    x = make_input(gen)
    _assert_same_run(net, from_nir(graph), x)
    # the graph is continuous-time: it can be simulated at another dt
    coarse = from_nir(graph, dt=1.0)
    assert all(m.dt == 1.0 for m in coarse if isinstance(m, sf.neurons.LIF))


def test_graph_contents(gen, make_net):
    net = make_net(gen, syn=True, dtype=torch.float64, sizes=(4, 3))
    lif = net[1]
    graph = to_nir(net, dt=1.0)
    assert list(graph.nodes) == ["input", "0", "1", "output"]
    assert graph.edges == [("input", "0"), ("0", "1"), ("1", "output")]
    meta = graph.metadata
    assert meta["producer"] == "spikeforge" and meta["time_unit"] == "s"
    assert meta["dt"] == 1e-3 and meta["dt_ms"] == 1.0
    assert meta["integrator"] == "exact" and meta["reset"] == "to_value" and meta["initial_state"] == "rest"
    node = graph.nodes["1"]
    assert isinstance(node, nir.CubaLIF)
    np.testing.assert_array_equal(node.tau_mem, (lif.tau_mem / 1000.0).numpy())  # seconds
    np.testing.assert_array_equal(node.tau_syn, (lif.tau_syn / 1000.0).numpy())
    np.testing.assert_array_equal(node.metadata["tau_ms"], lif.tau_mem.numpy())
    np.testing.assert_array_equal(node.metadata["v_init"], np.broadcast_to(lif.v_leak.numpy(), (3,)))
    np.testing.assert_array_equal(node.metadata["i_init"], np.zeros(3))
    # w_in makes the ODE's jump 1: (1 - alpha) * w_in = 1
    alpha = torch.exp(-1.0 / lif.tau_syn)
    np.testing.assert_allclose(node.w_in * (1 - alpha.numpy()), 1.0, rtol=1e-14)
    assert isinstance(graph.nodes["0"], nir.Affine)
    plain = to_nir(sf.Sequential(nn.Linear(4, 3, bias=False), sf.neurons.LIF(3)), dt=1.0)
    assert isinstance(plain.nodes["0"], nir.Linear) and isinstance(plain.nodes["1"], nir.LIF)


def test_single_neuron_module_and_skipped_modules(gen):
    lif = sf.neurons.LIF(5, tau_mem=7.0, tau_syn=3.0)
    x = 2.0 * torch.rand(50, 3, 5, generator=gen)
    back = from_nir(to_nir(lif, dt=1.0))
    assert torch.equal(lif(x)[0], back(x)[0])
    net = sf.Sequential(nn.Dropout(0.0), nn.Linear(5, 4), nn.Identity(), sf.neurons.LIF(4))
    assert list(to_nir(net).nodes) == ["input", "1", "3", "output"]


def test_conv_pool_flatten_round_trip(tmp_path, gen):
    conv = torch.nn.utils.skip_init(nn.Conv2d, 2, 4, 3, padding=1)
    conv1 = torch.nn.utils.skip_init(nn.Conv1d, 4, 3, 3, stride=2)
    lin = torch.nn.utils.skip_init(nn.Linear, 3 * 7, 5)
    for m, gain in ((conv, 1.0), (conv1, 0.3), (lin, 3.0)):
        with torch.no_grad():
            m.weight.copy_(gain * (0.3 + torch.randn(m.weight.shape, generator=gen)))
            m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
    net = sf.Sequential(
        conv,
        sf.neurons.LIF((4, 8, 8), tau_mem=5.0),
        nn.AvgPool2d(2, divisor_override=1),  # sum pooling
        nn.Flatten(start_dim=2),  # [C, H*W] = [4, 16]
        conv1,
        sf.neurons.LIF((3, 7), tau_mem=5.0, tau_syn=2.0),
        nn.Flatten(),
        lin,
        sf.neurons.LIF(5),
    )
    graph = to_nir(net, dt=1.0, input_shape=(2, 8, 8))
    assert isinstance(graph.nodes["2"], nir.SumPool2d)
    assert (graph.nodes["3"].start_dim, graph.nodes["3"].end_dim) == (1, -1)  # no batch dim in NIR
    path = tmp_path / "conv.nir"
    nir.write(path, graph)
    back = from_nir(path)
    x = (torch.rand(30, 2, 2, 8, 8, generator=gen) < 0.4).to(conv.weight.dtype)
    out = _assert_same_run(net, back, x)
    assert 0.01 < float(out.mean()) < 0.5
    avg = sf.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4, 2), sf.neurons.LIF(2))
    g_avg = to_nir(avg, input_shape=(1, 4, 4))
    assert isinstance(g_avg.nodes["0"], nir.AvgPool2d)
    x = torch.rand(10, 2, 1, 4, 4, generator=gen)
    _assert_same_run(avg, from_nir(g_avg), x)
    with pytest.raises(ParameterError, match="input_shape"):
        to_nir(net, dt=1.0)


def _recurrent_graph() -> tuple:
    """input -> Affine -> CubaLIF <-> Linear (recurrent), CubaLIF -> Affine -> LIF -> output."""
    f64 = np.float64
    rng = np.random.default_rng(7)
    w_in = 6.0 * (0.25 + rng.standard_normal((30, 20))) / 20**0.5
    b_in = 0.1 * rng.standard_normal(30)
    w_rec = 0.8 * rng.standard_normal((30, 30)) / 30**0.5
    w_out = 10.0 * (0.25 + rng.standard_normal((10, 30))) / 30**0.5
    tau_mem = (5.0 + 20.0 * rng.random(30)) * 1e-3
    tau_syn = (2.0 + 4.0 * rng.random(30)) * 1e-3
    nodes = {
        "input": nir.Input(input_type=np.array([20])),
        "in": nir.Affine(weight=w_in, bias=b_in),
        "rec": nir.CubaLIF(
            tau_mem=tau_mem,
            tau_syn=tau_syn,
            r=np.ones(30),
            v_leak=np.zeros(30),
            v_threshold=np.ones(30),
            v_reset=np.zeros(30),
            w_in=np.full(30, 1.5),
        ),
        "w_rec": nir.Linear(weight=w_rec),
        "out": nir.Affine(weight=w_out, bias=np.zeros(10, dtype=f64)),
        "lif": nir.LIF(
            tau=np.full(10, 0.01),
            r=np.ones(10),
            v_leak=np.zeros(10),
            v_threshold=np.ones(10),
            v_reset=np.zeros(10),
        ),
        "output": nir.Output(output_type=np.array([10])),
    }
    edges = [
        ("input", "in"),
        ("in", "rec"),
        ("rec", "w_rec"),
        ("w_rec", "rec"),
        ("rec", "out"),
        ("out", "lif"),
    ]
    edges.append(("lif", "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), (
        w_in,
        b_in,
        w_rec,
        w_out,
        tau_mem,
        tau_syn,
    )


def _numpy_reference(x: np.ndarray, params: tuple, dt_ms: float) -> np.ndarray:
    """An independent numpy simulation of the recurrent graph (exact integrator, NIR reading:
    the synapse jumps by w_in * (1 - alpha) * input)."""
    w_in, b_in, w_rec, w_out, tau_mem, tau_syn = params
    k1, a1 = 1 - np.exp(-dt_ms / (tau_mem * 1e3)), np.exp(-dt_ms / (tau_syn * 1e3))
    k2 = 1 - np.exp(-dt_ms / 10.0)
    steps, batch = x.shape[:2]
    v1, i1, z1 = np.zeros((batch, 30)), np.zeros((batch, 30)), np.zeros((batch, 30))
    v2 = np.zeros((batch, 10))
    out = np.zeros((steps, batch, 10))
    for t in range(steps):
        drive = x[t] @ w_in.T + b_in + z1 @ w_rec.T
        i1 = a1 * i1 + 1.5 * (1 - a1) * drive
        v1 = v1 + k1 * (i1 - v1)
        z1 = (v1 > 1.0).astype(float)
        v1 = np.where(z1 > 0, 0.0, v1)
        v2 = v2 + k2 * (z1 @ w_out.T - v2)
        z2 = v2 > 1.0
        v2 = np.where(z2, 0.0, v2)
        out[t] = z2
    return out


@torch.no_grad()
def test_recurrent_graph_matches_numpy_and_round_trips(tmp_path, gen):
    graph, params = _recurrent_graph()
    model = from_nir(graph, dt=1.0, dtype=torch.float64)
    assert isinstance(model, NIRGraphModule)
    assert model.back_edges == {("w_rec", "rec")}
    x = (torch.rand(100, 4, 20, generator=gen, dtype=torch.float64) < 0.3).double()
    out, _ = model(x)
    ref = _numpy_reference(x.numpy(), params, 1.0)
    assert 0.02 < float(out.mean()) < 0.5
    assert np.array_equal(out.numpy(), ref)
    # chunked run = one run
    first, state = model(x[:40])
    rest, _ = model(x[40:], state)
    assert torch.equal(torch.cat([first, rest]), out)
    # NIRGraphModule -> NIR -> file -> spikeforge is exact
    path = tmp_path / "rec.nir"
    nir.write(path, to_nir(model))
    back = from_nir(path)
    assert isinstance(back, NIRGraphModule)
    assert torch.equal(back(x)[0], out)


def test_dt_must_match_the_neurons(gen, make_net):
    net = make_net(gen, syn=False)
    with pytest.raises(ParameterError, match="dt=0.5"):
        to_nir(net, dt=0.5)
    with pytest.raises(ParameterError, match="dt"):
        to_nir(nn.Sequential(nn.Linear(3, 2)))
    with pytest.raises(ParameterError, match="importer"):
        to_nir(net, importer="loihi")  # type: ignore[arg-type]


def test_import_needs_dt_without_metadata(gen):
    graph = nir.NIRGraph.from_list(
        nir.Affine(weight=np.ones((3, 2)), bias=np.zeros(3)),
        nir.LIF(tau=np.full(3, 0.02), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3)),
    )
    with pytest.raises(ParameterError, match="dt"):
        from_nir(graph)
    model = from_nir(graph, dt=0.5)
    lif = model[1]
    assert lif.dt == 0.5 and lif.integrator == "exact"
    assert torch.allclose(lif.tau_mem, torch.full((3,), 20.0, dtype=torch.float64))


def test_import_leaves_global_rng_alone(gen, make_net):
    graph = to_nir(make_net(gen, syn=True))
    before = torch.random.get_rng_state()
    from_nir(graph)
    assert torch.equal(before, torch.random.get_rng_state())
