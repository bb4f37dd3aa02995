"""What NIR cannot represent, and malformed or hostile NIR graphs and files: each gives a clear
spikeforge error naming the module or node, never a crash or a silently wrong model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.errors import ParameterError, ShapeError, UnsupportedExportError
from spikeforge.hardware import from_nir, to_nir

nir = pytest.importorskip("nir")
h5py = pytest.importorskip("h5py")


# ------------------------------------------------------------------ export: not representable


@pytest.mark.parametrize(
    "module, match",
    [
        (sf.neurons.Izhikevich(4), "Izhikevich"),
        (sf.neurons.ProbabilisticNeuron(4), "ProbabilisticNeuron.*stochastic"),
        (sf.neurons.ALIF(4), "ALIF.*adaptive threshold"),
        (sf.neurons.LIF(4, reset="subtract"), "subtract"),
        (sf.neurons.LIF(4, t_ref=2.0), "refractory"),
        (nn.ReLU(), "ReLU"),
        (nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"), "padding_mode"),
        (nn.AvgPool2d(2, ceil_mode=True), "ceil_mode"),
    ],
)
def test_unrepresentable_modules_raise_naming_them(module, match):
    net = (
        sf.Sequential(nn.Linear(4, 4), module) if not isinstance(module, (nn.Conv2d, nn.AvgPool2d)) else None
    )
    if net is None:
        net = sf.Sequential(module)
        with pytest.raises(UnsupportedExportError, match=match):
            to_nir(net, dt=1.0, input_shape=(1, 4, 4))
        return
    with pytest.raises(UnsupportedExportError, match=match) as info:
        to_nir(net, dt=1.0)
    assert "'1'" in str(info.value)  # the module's name in the Sequential


def test_shape_mismatch_in_model():
    with pytest.raises(ShapeError, match="receives"):
        to_nir(sf.Sequential(nn.Linear(4, 5), sf.neurons.LIF(3)))


# ------------------------------------------------------------------ import: malformed graphs


def _lif(n: int = 3, **over):
    p = dict(
        tau=np.full(n, 0.02), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n)
    )
    p.update(over)
    return nir.LIF(**p)


def _graph(nodes: dict, edges: list) -> object:
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _chain(*mid, n_in: int = 2, n_out: int = 3):
    nodes = {"input": nir.Input(input_type=np.array([n_in]))}
    names = []
    for i, node in enumerate(mid):
        nodes[f"n{i}"] = node
        names.append(f"n{i}")
    nodes["output"] = nir.Output(output_type=np.array([n_out]))
    chain = ["input", *names, "output"]
    return _graph(nodes, list(zip(chain[:-1], chain[1:])))


def _affine(n_out: int = 3, n_in: int = 2, **over):
    p = dict(weight=np.ones((n_out, n_in)), bias=np.zeros(n_out))
    p.update(over)
    return nir.Affine(**p)


def test_valid_chain_imports():
    model = from_nir(_chain(_affine(), _lif()), dt=1.0)
    out, _ = model(torch.ones(5, 2, 2, dtype=torch.float64))
    assert out.shape == (5, 2, 3)


def test_missing_node():
    g = _chain(_affine(), _lif())
    g.edges.append(("n1", "ghost"))
    with pytest.raises(ParameterError, match="'ghost'.*not in the graph"):
        from_nir(g, dt=1.0)
    del g.nodes["n0"]
    g.edges.remove(("n1", "ghost"))
    with pytest.raises(ParameterError, match="'n0'"):
        from_nir(g, dt=1.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("field", ["tau", "v_threshold", "r"])
def test_nan_and_inf_parameters(bad, field):
    values = np.full(3, 0.02 if field == "tau" else 1.0)
    values[1] = bad
    with pytest.raises(ParameterError, match=f"'n1'.*{field}.*(NaN|infinite)"):
        from_nir(_chain(_affine(), _lif(**{field: values})), dt=1.0)


def test_nan_weight():
    w = np.ones((3, 2))
    w[0, 0] = np.nan
    with pytest.raises(ParameterError, match="'n0'.*weight.*NaN"):
        from_nir(_chain(_affine(weight=w), _lif()), dt=1.0)


def test_out_of_range_parameters():
    with pytest.raises(ParameterError, match="tau must be > 0"):
        from_nir(_chain(_affine(), _lif(tau=np.array([0.02, -0.01, 0.02]))), dt=1.0)
    with pytest.raises(ParameterError, match="v_reset must be < v_threshold"):
        from_nir(_chain(_affine(), _lif(v_reset=np.full(3, 2.0))), dt=1.0)


def test_wrong_shapes():
    with pytest.raises(ShapeError, match="expects input \\[4\\].*receives \\[2\\]"):
        from_nir(_chain(_affine(n_in=4), _lif()), dt=1.0)
    lif = _lif()
    lif.v_threshold = np.ones(4)  # nir checks shapes only at construction
    with pytest.raises(ShapeError, match="v_threshold has shape \\[4\\]"):
        from_nir(_chain(_affine(), lif), dt=1.0)
    with pytest.raises(ShapeError, match="bias"):
        from_nir(_chain(_affine(bias=np.zeros(5)), _lif()), dt=1.0)
    with pytest.raises(ShapeError, match="Output node.*declares shape \\[7\\]"):
        from_nir(_chain(_affine(), _lif(), n_out=7), dt=1.0)
    with pytest.raises(ShapeError, match="weight must be 2-D"):
        from_nir(_chain(nir.Affine(weight=np.ones((2, 3, 2)), bias=np.zeros(3)), _lif()), dt=1.0)
    conv = nir.Conv2d(
        input_shape=None,
        weight=np.ones((2, 5, 3, 3)),
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=np.zeros(2),
    )
    g = _chain(conv, n_out=2)
    g.nodes["input"] = nir.Input(input_type=np.array([3, 8, 8]))
    with pytest.raises(ShapeError, match="receives \\[3, 8, 8\\]"):
        from_nir(g, dt=1.0)


def test_unknown_and_unsupported_node_types():
    from dataclasses import dataclass

    @dataclass(eq=False)
    class Mystery(nir.NIRNode):
        gain: np.ndarray

        def __post_init__(self):
            self.input_type = {"input": np.array([3])}
            self.output_type = {"output": np.array([3])}

    with pytest.raises(UnsupportedExportError, match="'n1'.*Mystery"):
        from_nir(_chain(_affine(), Mystery(gain=np.ones(3))), dt=1.0)
    with pytest.raises(UnsupportedExportError, match="'n1' is a NIR I\\b.*integrator"):
        from_nir(_chain(_affine(), nir.I(r=np.ones(3))), dt=1.0)
    with pytest.raises(ParameterError, match="'n1' \\(IF\\).*v_reset must be < v_th"):
        from_nir(_chain(_affine(), nir.IF(r=np.ones(3), v_threshold=np.zeros(3))), dt=1.0)
    with pytest.raises(ParameterError, match="'n1' \\(IF\\).*finite"):
        from_nir(_chain(_affine(), nir.IF(r=np.full(3, np.nan), v_threshold=np.ones(3))), dt=1.0)
    with pytest.raises(ParameterError, match="'n1' \\(Delay\\).*whole number of steps"):
        from_nir(_chain(_affine(), nir.Delay(delay=np.full(3, 1.5e-3))), dt=1.0)
    # a stateless custom node can be mapped explicitly
    model = from_nir(
        _chain(_affine(), Mystery(gain=np.ones(3)), _lif()),
        dt=1.0,
        extra_map={Mystery: lambda node: nn.Identity()},
    )
    assert isinstance(model[1], nn.Identity)


def test_graph_structure_errors():
    g = _chain(_affine(), _lif())
    g.nodes["input2"] = nir.Input(input_type=np.array([2]))
    g.edges.append(("input2", "n0"))
    with pytest.raises(UnsupportedExportError, match="exactly one Input"):
        from_nir(g, dt=1.0)
    g = _chain(_affine(), _lif())
    g.nodes["orphan"] = _lif()
    with pytest.raises(ParameterError, match="not connected to the input"):
        from_nir(g, dt=1.0)
    g = _chain(_affine(), _lif())
    g.edges.remove(("n1", "output"))
    g.edges.append(("n1", "n0"))  # a cycle that never reaches the output
    g.nodes["n0"] = _affine(n_in=3)
    with pytest.raises((ParameterError, ShapeError)):
        from_nir(g, dt=1.0)
    g = _chain(_affine(), _lif())
    g.edges.append(("n0", "n1"))
    with pytest.raises(ParameterError, match="more than once"):
        from_nir(g, dt=1.0)
    with pytest.raises(ParameterError, match="nir.NIRGraph"):
        from_nir(_lif(), dt=1.0)
    with pytest.raises(ParameterError, match="nir.NIRGraph"):
        from_nir(42, dt=1.0)


def test_bad_metadata(make_net, gen):
    graph = to_nir(make_net(gen, syn=False))
    graph.metadata["dt"] = float("nan")
    with pytest.raises(ParameterError, match="metadata dt"):
        from_nir(graph)
    graph.metadata["dt"] = "soon"
    with pytest.raises(ParameterError, match="metadata dt"):
        from_nir(graph)
    graph.metadata["dt"] = 1e-3
    graph.metadata["integrator"] = "rk4"
    with pytest.raises(ParameterError, match="integrator"):
        from_nir(graph)
    graph.metadata["integrator"] = "exact"
    graph.metadata["reset"] = "subtract"
    with pytest.raises(UnsupportedExportError, match="subtract"):
        from_nir(graph)
    graph.metadata["reset"] = "to_value"
    graph.nodes["1"].metadata["v_init"] = np.full(30, 0.5)
    with pytest.raises(UnsupportedExportError, match="initial state"):
        from_nir(graph)
    with pytest.raises(ParameterError, match="dt must be"):
        from_nir(graph, dt=-1.0)
    with pytest.raises(ParameterError, match="source"):
        from_nir(graph, source="brian2")  # type: ignore[arg-type]


def test_tampered_tau_hint_is_ignored(make_net, gen):
    """The exact-ms hint in the node metadata is used only when it reproduces the node's tau."""
    net = make_net(gen, syn=False, heterogeneous=False)
    graph = to_nir(net)
    graph.nodes["1"].metadata["tau_ms"] = np.full(30, 99.0, dtype=np.float32)
    lif = from_nir(graph)[1]
    assert torch.allclose(lif.tau_mem, torch.full((30,), 10.0, dtype=lif.tau_mem.dtype))


# ------------------------------------------------------------------ import: hostile files


def _write(tmp_path, make_net, gen, name="net.nir"):
    path = tmp_path / name
    nir.write(path, to_nir(make_net(gen, syn=True)))
    return path


def test_file_errors(tmp_path, make_net, gen):
    with pytest.raises(ParameterError, match="no NIR file"):
        from_nir(tmp_path / "missing.nir")
    junk = tmp_path / "junk.nir"
    junk.write_bytes(b"\x89HDF not really" * 10)
    with pytest.raises(ParameterError, match="not an HDF5 NIR file"):
        from_nir(junk)
    empty = tmp_path / "empty.nir"
    with h5py.File(empty, "w") as f:
        f.create_dataset("version", data="1.0")
    with pytest.raises(ParameterError, match="no 'node' group"):
        from_nir(empty)


def test_file_with_unknown_node_type(tmp_path, make_net, gen):
    path = _write(tmp_path, make_net, gen)
    with h5py.File(path, "r+") as f:
        del f["node/nodes/1/type"]
        f["node/nodes/1"].create_dataset("type", data="QuantumLIF", dtype=h5py.string_dtype())
    with pytest.raises(UnsupportedExportError, match="'1'.*QuantumLIF"):
        from_nir(path)


def test_file_with_nan_and_missing_fields(tmp_path, make_net, gen):
    path = _write(tmp_path, make_net, gen)
    with h5py.File(path, "r+") as f:
        w = f["node/nodes/0/weight"][()]
        w[3, 4] = np.nan
        del f["node/nodes/0/weight"]
        f["node/nodes/0"].create_dataset("weight", data=w)
    with pytest.raises(ParameterError, match="'0'.*weight.*NaN"):
        from_nir(path)
    path = _write(tmp_path, make_net, gen, "missing.nir")
    with h5py.File(path, "r+") as f:
        del f["node/nodes/1/tau_mem"]
    with pytest.raises(ParameterError, match="not a well-formed NIR file"):
        from_nir(path)


def test_file_with_inconsistent_shapes(tmp_path, make_net, gen):
    path = _write(tmp_path, make_net, gen)
    with h5py.File(path, "r+") as f:
        del f["node/nodes/1/v_threshold"]
        f["node/nodes/1"].create_dataset("v_threshold", data=np.ones(7, dtype=np.float32))
    with pytest.raises(ShapeError):
        from_nir(path)
    path = _write(tmp_path, make_net, gen, "w.nir")
    with h5py.File(path, "r+") as f:
        del f["node/nodes/2/weight"]
        f["node/nodes/2"].create_dataset("weight", data=np.ones((10, 31), dtype=np.float32))
    with pytest.raises(ShapeError, match="'2'.*expects input \\[31\\]"):
        from_nir(path)


def test_file_with_missing_edge_target(tmp_path, make_net, gen):
    path = _write(tmp_path, make_net, gen)
    with h5py.File(path, "r+") as f:
        edges = f["node/edges"][()]
        edges[0] = (b"input", b"nowhere")
        del f["node/edges"]
        f["node"].create_dataset("edges", data=edges)
    with pytest.raises(ParameterError, match="'nowhere'"):
        from_nir(path)


def test_deeply_nested_file(tmp_path):
    path = tmp_path / "deep.nir"
    with h5py.File(path, "w") as f:
        group = f.create_group("node")
        for _ in range(40):
            group.create_dataset("type", data="NIRGraph", dtype=h5py.string_dtype())
            group.create_dataset("edges", data=np.zeros((0, 2), dtype="S1"))
            group = group.create_group("nodes").create_group("g")
    with pytest.raises(ParameterError, match="deeper than"):
        from_nir(path)
