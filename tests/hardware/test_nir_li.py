r"""Leaky integrators (:class:`spikeforge.neurons.LI`) through NIR: ``LI`` (no synapse) and
``CubaLI`` (with ``tau_syn``) export and import exactly, match the NIR ODE, run inside graphs that
are not chains, and give clear errors where a peer's importer cannot run them (snntorch 1.0 and
norse 1.1.0 have no LI import; norse drops the node without a word)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.errors import ParameterError, ShapeError, UnsupportedExportError
from spikeforge.hardware import NIRGraphModule, from_nir, to_nir

nir = pytest.importorskip("nir")


def _net(gen: torch.Generator, *, syn: bool, dtype: torch.dtype, integrator: str) -> sf.Sequential:
    """Linear -> LIF -> Linear -> LI readout, per-neuron time constants."""
    lin1 = torch.nn.utils.skip_init(nn.Linear, 20, 30, dtype=dtype)
    lin2 = torch.nn.utils.skip_init(nn.Linear, 30, 10, dtype=dtype)
    with torch.no_grad():
        lin1.weight.copy_(6.0 * (0.25 + torch.randn(30, 20, generator=gen, dtype=dtype)) / 20**0.5)
        lin1.bias.copy_(0.1 * torch.randn(30, generator=gen, dtype=dtype))
        lin2.weight.copy_(torch.randn(10, 30, generator=gen, dtype=dtype) / 30**0.5)
        lin2.bias.copy_(0.1 * torch.randn(10, generator=gen, dtype=dtype))
    return sf.Sequential(
        lin1,
        sf.neurons.LIF(30, tau_mem=10.0, dt=1.0, integrator=integrator).to(dtype),
        lin2,
        sf.neurons.LI(
            10,
            tau_mem=5.0 + 20.0 * torch.rand(10, generator=gen, dtype=dtype),
            tau_syn=(2.0 + 6.0 * torch.rand(10, generator=gen, dtype=dtype)) if syn else None,
            v_leak=0.1 * torch.randn(10, generator=gen, dtype=dtype),
            r=1.3,
            dt=1.0,
            integrator=integrator,  # type: ignore[arg-type]
        ).to(dtype),
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("syn", [False, True], ids=["LI", "CubaLI"])
@pytest.mark.parametrize("integrator", ["exact", "euler"])
def test_li_round_trip_through_file_is_bitwise(tmp_path, gen, make_input, dtype, syn, integrator):
    net = _net(gen, syn=syn, dtype=dtype, integrator=integrator)
    path = tmp_path / "li.nir"
    graph = to_nir(net, dt=1.0)
    assert isinstance(graph.nodes["3"], nir.CubaLI if syn else nir.LI)
    nir.write(path, graph)
    back = from_nir(path)
    assert isinstance(back, sf.Sequential) and isinstance(back[3], sf.neurons.LI)
    li, li2 = net[3], back[3]
    assert li2.has_syn == syn and li2.integrator == integrator and li2.dt == 1.0
    for name in ("tau_mem", "tau_syn", "v_leak", "r"):
        if name == "tau_syn" and not syn:
            continue
        a, b = getattr(li, name), getattr(li2, name)
        assert b.dtype == dtype and torch.equal(a.expand_as(b), b), name
    x = make_input(gen, dtype=dtype)
    with torch.no_grad():
        (v, states), (v2, states2) = net(x), back(x)
    assert v.dtype == v2.dtype == dtype
    assert torch.equal(v, v2)  # the membrane itself, bitwise
    for sa, sb in zip(states, states2):  # every layer's final state (None for Linear)
        assert (sa is None) == (sb is None)
        for fa, fb in zip(sa or (), sb or ()):
            assert torch.equal(fa, fb)
    assert float(v.std()) > 0.05  # the readout moves: the comparison is not vacuous


def test_li_graph_contents(gen):
    net = _net(gen, syn=True, dtype=torch.float64, integrator="exact")
    li = net[3]
    node = to_nir(net, dt=1.0).nodes["3"]
    assert isinstance(node, nir.CubaLI)
    np.testing.assert_array_equal(node.tau_mem, (li.tau_mem / 1000.0).numpy())  # seconds
    np.testing.assert_array_equal(node.tau_syn, (li.tau_syn / 1000.0).numpy())
    np.testing.assert_array_equal(node.r, li.r.expand(10).numpy())
    np.testing.assert_array_equal(node.v_leak, li.v_leak.numpy())
    alpha = torch.exp(-1.0 / li.tau_syn).numpy()
    np.testing.assert_allclose(node.w_in * (1 - alpha), 1.0, rtol=1e-14)  # the jump is the input
    np.testing.assert_array_equal(node.metadata["tau_ms"], li.tau_mem.numpy())
    np.testing.assert_array_equal(node.metadata["v_init"], li.v_leak.numpy())
    np.testing.assert_array_equal(node.metadata["i_init"], np.zeros(10))
    li_plain = sf.neurons.LI(4, tau_mem=8.0, v_leak=-0.5, r=2.0, dt=0.5)
    plain = to_nir(li_plain).nodes["0"]
    assert isinstance(plain, nir.LI) and not hasattr(plain, "v_threshold")
    np.testing.assert_array_equal(plain.tau, (li_plain.tau_mem / 1000.0).expand(4).numpy())
    np.testing.assert_allclose(plain.tau, 8e-3, rtol=1e-7)
    assert to_nir(sf.neurons.LI(4), dt=1.0).metadata["integrator"] == "exact"


def _li_chain(node, n: int = 3):
    nodes = {
        "input": nir.Input(input_type=np.array([n])),
        "li": node,
        "output": nir.Output(output_type=np.array([n])),
    }
    return nir.NIRGraph(nodes=nodes, edges=[("input", "li"), ("li", "output")], type_check=False)


@pytest.mark.parametrize("dt", [2.0**-k for k in range(0, 9, 2)])
def test_imported_li_matches_the_analytic_ode(dt):
    r"""NIR LI with a constant input current, float64, from rest: :math:`v(t) = v_{leak} +
    r I (1 - e^{-t/\tau})` to 1e-12 at every step (the exact integrator is exact here)."""
    tau_s, r, v_leak, current = np.array([0.02, 0.005, 0.1]), np.array([2.0, 0.5, 1.0]), 0.3, 0.7
    graph = _li_chain(nir.LI(tau=tau_s, r=r, v_leak=np.full(3, v_leak)))
    model = from_nir(graph, dt=dt, dtype=torch.float64)
    assert isinstance(model[0], sf.neurons.LI)
    steps = int(round(50.0 / dt))
    with torch.no_grad():
        v, _ = model(torch.full((steps, 1, 3), current, dtype=torch.float64))
    t = dt * torch.arange(1, steps + 1, dtype=torch.float64)[:, None]
    tau_ms = torch.as_tensor(tau_s * 1e3)
    expected = v_leak + torch.as_tensor(r) * current * -torch.expm1(-t / tau_ms)
    assert float((v[:, 0] - expected).abs().max()) < 1e-12


def test_imported_cubali_matches_a_numpy_reference(gen):
    """NIR CubaLI read as its ODE with the input held over each step (exact integrator): the
    synapse jumps by ``w_in * (1 - alpha) * x``, then the membrane relaxes towards
    ``v_leak + r * i``; an independent numpy loop."""
    tau_mem, tau_syn = np.array([0.02, 0.01, 0.004]), np.array([0.005, 0.002, 0.008])
    r, v_leak, w_in = np.array([1.0, 2.0, 0.5]), np.array([0.0, -0.2, 0.1]), np.array([1.0, 3.0, 0.5])
    node = nir.CubaLI(tau_mem=tau_mem, tau_syn=tau_syn, r=r, v_leak=v_leak, w_in=w_in)
    model = from_nir(_li_chain(node), dt=0.5, dtype=torch.float64)
    x = torch.rand(200, 2, 3, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        v, _ = model(x)
    k, a = -np.expm1(-0.5 / (tau_mem * 1e3)), np.exp(-0.5 / (tau_syn * 1e3))
    vr, ir = np.broadcast_to(v_leak, (2, 3)).copy(), np.zeros((2, 3))
    ref = np.zeros(x.shape)
    for t, xt in enumerate(x.numpy()):
        ir = a * ir + w_in * (1 - a) * xt
        vr = vr + k * (v_leak + r * ir - vr)
        ref[t] = vr
    np.testing.assert_allclose(v.numpy(), ref, rtol=1e-12, atol=1e-13)


@torch.no_grad()
def test_li_in_a_graph_that_is_not_a_chain(tmp_path, gen):
    """input -> Affine -> LIF -> Linear -> LI and input -> Affine -> LI (the LI sums both):
    a NIRGraphModule, checked against numpy, that exports back and re-imports bitwise."""
    rng = np.random.default_rng(3)
    wa, ba = 6.0 * (0.25 + rng.standard_normal((8, 5))) / 5**0.5, 0.1 * rng.standard_normal(8)
    wb = rng.standard_normal((4, 8)) / 8**0.5
    wc, bc = rng.standard_normal((4, 5)) / 5**0.5, np.zeros(4)
    nodes = {
        "input": nir.Input(input_type=np.array([5])),
        "a": nir.Affine(weight=wa, bias=ba),
        "lif": nir.LIF(
            tau=np.full(8, 0.01),
            r=np.ones(8),
            v_leak=np.zeros(8),
            v_threshold=np.ones(8),
            v_reset=np.zeros(8),
        ),
        "b": nir.Linear(weight=wb),
        "c": nir.Affine(weight=wc, bias=bc),
        "li": nir.LI(tau=np.full(4, 0.03), r=np.full(4, 2.0), v_leak=np.zeros(4)),
        "output": nir.Output(output_type=np.array([4])),
    }
    edges = [("input", "a"), ("a", "lif"), ("lif", "b"), ("b", "li"), ("input", "c"), ("c", "li")]
    edges.append(("li", "output"))
    model = from_nir(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), dt=1.0, dtype=torch.float64)
    assert isinstance(model, NIRGraphModule) and isinstance(model.module("li"), sf.neurons.LI)
    x = (torch.rand(60, 3, 5, generator=gen, dtype=torch.float64) < 0.3).double()
    v, _ = model(x)
    k1, k2 = -np.expm1(-1.0 / 10.0), -np.expm1(-1.0 / 30.0)
    v1, v2 = np.zeros((3, 8)), np.zeros((3, 4))
    ref = np.zeros(v.shape)
    for t, xt in enumerate(x.numpy()):
        v1 = v1 + k1 * (xt @ wa.T + ba - v1)
        z = (v1 > 1.0).astype(float)
        v1 = np.where(z > 0, 0.0, v1)
        v2 = v2 + k2 * (2.0 * (z @ wb.T + xt @ wc.T + bc) - v2)
        ref[t] = v2
    np.testing.assert_allclose(v.numpy(), ref, rtol=1e-12, atol=1e-12)
    path = tmp_path / "branch.nir"
    nir.write(path, to_nir(model))
    assert isinstance(nir.read(path).nodes["li"], nir.LI)
    assert torch.equal(from_nir(path)(x)[0], v)


@pytest.mark.parametrize("importer", ["snntorch", "norse"])
@pytest.mark.parametrize("syn", [False, True], ids=["LI", "CubaLI"])
def test_presets_refuse_li(gen, importer, syn):
    net = _net(gen, syn=syn, dtype=torch.float32, integrator="exact")
    with pytest.raises(UnsupportedExportError, match=f"'3' \\(LI, position 3\\).*{importer}.*LI") as info:
        to_nir(net, dt=1.0, importer=importer)
    assert ("silently drops" in str(info.value)) == (importer == "norse")
    to_nir(net[:2], dt=1.0, importer=importer)  # the spiking part alone is fine


def test_malformed_li_nodes_give_clear_errors(tmp_path):
    def li(**over):
        p = dict(tau=np.full(3, 0.02), r=np.ones(3), v_leak=np.zeros(3))
        p.update(over)
        return nir.LI(**p)

    with pytest.raises(ParameterError, match="'li' \\(LI\\): tau contains NaN"):
        from_nir(_li_chain(li(tau=np.array([0.02, np.nan, 0.02]))), dt=1.0)
    with pytest.raises(ParameterError, match="'li' \\(LI\\): tau must be > 0"):
        from_nir(_li_chain(li(tau=np.array([0.02, -0.01, 0.02]))), dt=1.0)
    with pytest.raises(ParameterError, match="'li' \\(LI\\): v_leak contains infinite"):
        from_nir(_li_chain(li(v_leak=np.array([0.0, np.inf, 0.0]))), dt=1.0)
    bad_shape = li()
    bad_shape.r = np.ones(4)  # nir checks shapes only at construction
    with pytest.raises(ShapeError, match="'li'.*r has shape \\[4\\]"):
        from_nir(_li_chain(bad_shape), dt=1.0)
    cubali = nir.CubaLI(
        tau_mem=np.full(3, 0.02),
        tau_syn=np.full(3, 0.005),
        r=np.ones(3),
        v_leak=np.zeros(3),
        metadata={"i_init": np.ones(3)},
    )
    with pytest.raises(UnsupportedExportError, match="'li'.*i_init"):
        from_nir(_li_chain(cubali), dt=1.0)
    cubali.metadata = {}
    cubali.tau_syn = np.array([0.005, 0.0, 0.005])
    with pytest.raises(ParameterError, match="'li' \\(CubaLI\\): tau_syn must be > 0"):
        from_nir(_li_chain(cubali), dt=1.0)
    # the same through a file: nir.read rebuilds the node, spikeforge checks it
    path = tmp_path / "nan.nir"
    nir.write(path, _li_chain(li(r=np.array([1.0, np.nan, 1.0]))))
    with pytest.raises(ParameterError, match="'li' \\(LI\\): r contains NaN"):
        from_nir(path, dt=1.0)


# ------------------------------------------------------------------ peers


@pytest.fixture
def float32_default() -> Iterator[None]:
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_default_dtype(before)


@pytest.mark.reference
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # nirtorch.load, used by norse
def test_evidence_peers_cannot_import_li(float32_default):
    """Why the presets refuse an LI layer: snntorch 1.0 raises on the node, and norse 1.1.0 builds
    the graph without it (its output is the Affine layer's, not a membrane)."""
    snn_import = pytest.importorskip("snntorch.import_nir")
    norse = pytest.importorskip("norse.torch")
    graph = nir.NIRGraph.from_list(
        nir.Affine(weight=np.ones((3, 2), dtype=np.float32), bias=np.zeros(3, dtype=np.float32)),
        nir.LI(tau=np.full(3, 0.01), r=np.ones(3), v_leak=np.zeros(3)),
    )
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(ValueError, match="Unknown node type"):
        snn_import.import_from_nir(graph)
    module = norse.from_nir(graph)
    with torch.no_grad():
        out, _ = module(torch.ones(1, 2))
    assert torch.equal(out, torch.full((1, 3), 2.0))  # W @ x: the LI node was dropped
    assert not any("li" in name.lower() for name, _ in module.named_children() if name != "affine")


@pytest.mark.reference
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_norse_li_export_imports_with_the_same_membrane(gen, make_input, float32_default):
    """norse ``LIBoxCell`` exported by ``norse.torch.to_nir`` (NIR ``LI``, ``tau = dt / tau_mem_inv``,
    ``r = 1``, forward Euler at 1 ms) reads back as an :class:`~spikeforge.neurons.LI` whose
    membrane follows norse's to float32 rounding (norse computes ``dt*tau_inv*((v_leak - v) + x)``,
    spikeforge ``v + k*((v_leak + x) - v)``)."""
    norse = pytest.importorskip("norse.torch")
    from norse.torch import LIBoxCell, LIFBoxCell
    from norse.torch.functional.leaky_integrator_box import LIBoxParameters
    from norse.torch.functional.lif_box import LIFBoxParameters

    lin1, lin2 = nn.Linear(20, 30), nn.Linear(30, 10)
    with torch.no_grad():
        lin1.weight.copy_(6.0 * (0.25 + torch.randn(30, 20, generator=gen)) / 20**0.5)
        lin1.bias.zero_()
        lin2.weight.copy_(torch.randn(10, 30, generator=gen) / 30**0.5)
        lin2.bias.copy_(0.1 * torch.randn(10, generator=gen))
    net = norse.SequentialState(
        lin1,
        LIFBoxCell(
            LIFBoxParameters(
                tau_mem_inv=torch.full((30,), 100.0), v_leak=torch.zeros(30), v_th=torch.ones(30)
            )
        ),
        lin2,
        LIBoxCell(
            LIBoxParameters(
                tau_mem_inv=1.0 / (0.005 + 0.02 * torch.rand(10, generator=gen)), v_leak=0.1 * torch.ones(10)
            )
        ),
    )
    x = make_input(gen)
    outs, state = [], None
    with torch.no_grad():
        for t in range(x.shape[0]):
            v, state = net(x[t], state)
            outs.append(v)
    ref = torch.stack(outs)
    graph = norse.to_nir(net, torch.zeros(1, 20))
    assert isinstance(graph.nodes["3"], nir.LI)
    model = from_nir(graph, source="norse")
    assert isinstance(model[3], sf.neurons.LI) and model[3].integrator == "euler" and model[3].dt == 1.0
    with torch.no_grad():
        v, _ = model(x)
    assert float(ref.std()) > 0.05
    # one flipped hidden spike would move the membrane by far more than this
    torch.testing.assert_close(v, ref, rtol=1e-5, atol=1e-6)
