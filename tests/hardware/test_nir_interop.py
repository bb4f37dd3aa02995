r"""spikeforge <-> NIR <-> snntorch 1.0 and norse 1.1.0, spike for spike.

Each importer's convention was read from its source (``snntorch/import_nir.py``,
``snntorch/export_nir.py``, ``norse/torch/utils/import_nir.py``, ``export_nir.py``); the presets
of :func:`spikeforge.hardware.to_nir` undo it, and ``from_nir(source=...)`` reads the peers'
exports. All comparisons are in float32 (both importers build float32 modules) on random spike
inputs, T = 100 steps, batch 4, and require identical spike trains (``torch.equal``).
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from spikeforge.errors import UnsupportedExportError
from spikeforge.hardware import NIRGraphModule, from_nir, to_nir

pytestmark = [
    pytest.mark.reference,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # nirtorch.load, used by norse
    pytest.mark.filterwarnings("ignore:.*requires_grad.*:UserWarning"),
]

nir = pytest.importorskip("nir")


def _run_snntorch(graph, x: torch.Tensor) -> torch.Tensor:
    """snntorch's importer (``import_from_nir``), one call per step; a fresh import starts at rest."""
    from snntorch.import_nir import import_from_nir

    with contextlib.redirect_stdout(io.StringIO()):  # the importer prints
        module = import_from_nir(graph)
    with torch.no_grad():
        return torch.stack([module(x[t])[0] for t in range(x.shape[0])])


def _run_norse(graph, x: torch.Tensor) -> torch.Tensor:
    """norse's importer (``norse.torch.from_nir``, its default dt = 1e-3 s), one call per step."""
    import norse.torch as norse

    module = norse.from_nir(graph)
    outs, state = [], None
    with torch.no_grad():
        for t in range(x.shape[0]):
            z, state = module(x[t], state)
            outs.append(z)
    return torch.stack(outs)


RUNNERS = {"snntorch": _run_snntorch, "norse": _run_norse}


@pytest.fixture
def float32_default() -> Iterator[None]:
    """snntorch and norse are float32 libraries: build their models in float32 whatever the
    suite's default dtype (restored afterwards)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_default_dtype(before)


def _via_file(graph, tmp_path):
    path = tmp_path / "graph.nir"
    nir.write(path, graph)
    return nir.read(path)


@pytest.mark.parametrize("importer", ["snntorch", "norse"])
@pytest.mark.parametrize("syn", [False, True], ids=["LIF", "CubaLIF"])
@pytest.mark.parametrize("heterogeneous", [False, True], ids=["uniform", "per-neuron"])
@pytest.mark.parametrize("integrator", ["exact", "euler"])
def test_preset_runs_with_the_same_spikes(
    tmp_path, gen, make_net, make_input, importer, syn, heterogeneous, integrator
):
    pytest.importorskip("snntorch" if importer == "snntorch" else "norse.torch")
    if importer == "snntorch" or syn:
        kw = dict(v_leak=0.1, v_reset=0.1, v_th=1.1)  # the presets shift a common v_leak = v_reset to 0
    else:  # norse's LIF preset rescales the membrane by r and shifts it by v_reset
        kw = dict(v_leak=0.1, v_reset=-0.2, r=1.3)
    net = make_net(gen, syn=syn, heterogeneous=heterogeneous, integrator=integrator, **kw)
    x = make_input(gen)
    with torch.no_grad():
        ref, _ = net(x)
    assert 0.01 < float(ref.mean()) < 0.5
    graph = _via_file(to_nir(net, dt=1.0, importer=importer), tmp_path)
    out = RUNNERS[importer](graph, x)
    assert out.shape == ref.shape
    assert torch.equal(out, ref)
    # the preset graph is still a valid description: spikeforge reads it back (Euler at the
    # importer's step, recorded in its metadata) with the same spikes
    with torch.no_grad():
        assert torch.equal(from_nir(graph)(x)[0], ref)


def test_snntorch_preset_graph_values(gen, make_net):
    """What the snntorch preset writes, for one uniform layer (see the module docstring)."""
    pytest.importorskip("snntorch")
    net = make_net(gen, syn=True, heterogeneous=False, sizes=(3, 2), v_leak=0.1, v_reset=0.1, v_th=1.1)
    lif = net[1]
    graph = to_nir(net, dt=1.0, importer="snntorch")
    node = graph.nodes["1"]
    k = -np.expm1(-1.0 / 10.0)
    alpha = np.exp(-1.0 / 5.0)
    np.testing.assert_allclose(node.tau_mem, 1e-4 / k, rtol=1e-6)
    np.testing.assert_allclose(node.tau_syn, 1e-4 / (1 - alpha), rtol=1e-6)
    np.testing.assert_allclose(node.r * 1e-4 / node.tau_mem, 1.0, rtol=1e-12)  # snntorch's w_scale
    np.testing.assert_allclose(node.w_in * 1e-4 / node.tau_syn, 1.0, rtol=1e-12)
    np.testing.assert_allclose(node.v_threshold, (1.1 - 0.1) / (k * float(lif.r)), rtol=1e-6)
    assert not node.v_leak.any() and not node.v_reset.any()
    assert graph.metadata["dt"] == 1e-4 and graph.metadata["integrator"] == "euler"
    assert graph.metadata["source_dt_ms"] == 1.0


def test_presets_refuse_what_the_importer_cannot_run(gen, make_net):
    net = make_net(gen, syn=False, v_leak=0.2, v_reset=0.0)
    with pytest.raises(UnsupportedExportError, match="v_leak == v_reset"):
        to_nir(net, importer="snntorch")
    to_nir(net, importer="norse")  # norse's LIF starts at v_leak: fine
    with pytest.raises(UnsupportedExportError, match="v_leak == v_reset"):
        to_nir(make_net(gen, syn=True, v_leak=0.2), importer="norse")
    conv = nn.Sequential(nn.Conv1d(2, 3, 3), nn.Flatten(), nn.Linear(6, 2))
    for importer in ("snntorch", "norse"):
        with pytest.raises(UnsupportedExportError, match="Conv1d"):
            to_nir(conv, dt=1.0, input_shape=(2, 4), importer=importer)
        with pytest.raises(UnsupportedExportError, match="Flatten"):
            to_nir(
                nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), dt=1.0, input_shape=(2, 2), importer=importer
            )
    with pytest.raises(UnsupportedExportError, match="SumPool2d"):
        to_nir(
            nn.Sequential(nn.AvgPool2d(2, divisor_override=1)),
            dt=1.0,
            input_shape=(1, 2, 2),
            importer="snntorch",
        )
    with pytest.raises(UnsupportedExportError, match="AvgPool2d"):
        to_nir(nn.Sequential(nn.AvgPool2d(2)), dt=1.0, input_shape=(1, 2, 2), importer="norse")
    # per-neuron thresholds need a preceding Linear layer to fold into
    from spikeforge.neurons import LIF

    with pytest.raises(UnsupportedExportError, match="one threshold per layer"):
        to_nir(LIF(3, tau_mem=torch.tensor([5.0, 10.0, 20.0])), importer="snntorch")


# ------------------------------------------------------------------ peers' exports -> spikeforge


def _linear(n_in: int, n_out: int, gen: torch.Generator, gain: float) -> nn.Linear:
    lin = torch.nn.utils.skip_init(nn.Linear, n_in, n_out)
    with torch.no_grad():
        lin.weight.copy_(gain * (0.25 + torch.randn(n_out, n_in, generator=gen)) / n_in**0.5)
        lin.bias.copy_(0.1 * torch.randn(n_out, generator=gen))
    return lin


def _step_snntorch(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.stack([net(x[t]) for t in range(x.shape[0])])


def test_snntorch_export_imports_with_the_same_spikes(tmp_path, gen, make_input, float32_default):
    r"""snntorch ``Leaky`` and ``Synaptic`` (zero reset) exported by ``export_to_nir`` are forward
    Euler at dt = 0.1 ms: ``beta = 1 - dt/tau`` and ``r = tau/dt``, ``w_in = tau_syn/dt``.

    ``Synaptic`` uses ``reset_delay=False``: with the default ``reset_delay=True`` its zero reset
    also discards the input of the step after a spike (a one-step refractory period), which the
    export does not record (snntorch's own importer rebuilds it with ``reset_delay=False``).
    """
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    beta = 0.8 + 0.15 * torch.rand(30, generator=gen)
    net = nn.Sequential(
        _linear(20, 30, gen, 3.0),
        snn.Leaky(beta=beta, threshold=torch.ones(30), init_hidden=True, reset_mechanism="zero"),
        _linear(30, 10, gen, 0.3),
        snn.Synaptic(
            alpha=torch.full((10,), 0.8),
            beta=torch.full((10,), 0.9),
            threshold=torch.ones(10),
            init_hidden=True,
            reset_mechanism="zero",
            reset_delay=False,
        ),
    )
    x = make_input(gen)
    with contextlib.redirect_stdout(io.StringIO()):
        graph = export_to_nir(net, torch.zeros(1, 20), ignore_dims=[0])
    ref = _step_snntorch(net, x)
    assert 0.01 < float(ref.mean()) < 0.6
    model = from_nir(_via_file(graph, tmp_path), source="snntorch")
    assert model[1].dt == 0.1 and model[1].integrator == "euler"
    with torch.no_grad():
        assert torch.equal(model(x)[0], ref)


def test_snntorch_recurrent_export_imports_with_the_same_spikes(tmp_path, gen, make_input, float32_default):
    """An ``RLeaky`` layer is exported as a LIF <-> Linear cycle; spikeforge runs it as a
    :class:`NIRGraphModule` whose recurrent edge carries the previous step's spikes."""
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    rleaky = snn.RLeaky(
        beta=0.9,
        threshold=1.0,
        linear_features=30,
        init_hidden=True,
        reset_mechanism="zero",
        reset_delay=False,
    )
    with torch.no_grad():
        rleaky.recurrent.weight.copy_(0.5 * torch.randn(30, 30, generator=gen) / 30**0.5)
        rleaky.recurrent.bias.zero_()
    net = nn.Sequential(
        _linear(20, 30, gen, 3.0),
        rleaky,
        _linear(30, 10, gen, 1.0),
        snn.Leaky(
            beta=torch.full((10,), 0.9), threshold=torch.ones(10), init_hidden=True, reset_mechanism="zero"
        ),
    )
    x = make_input(gen)
    with contextlib.redirect_stdout(io.StringIO()):
        graph = export_to_nir(net, torch.zeros(1, 20), ignore_dims=[0])
    ref = _step_snntorch(net, x)
    assert 0.01 < float(ref.mean()) < 0.6
    model = from_nir(_via_file(graph, tmp_path), source="snntorch")
    assert isinstance(model, NIRGraphModule) and len(model.back_edges) == 1
    with torch.no_grad():
        assert torch.equal(model(x)[0], ref)


def test_norse_export_imports_with_the_same_spikes(tmp_path, gen, make_input, float32_default, run_stepwise):
    r"""norse ``LIFBoxCell`` (-> NIR LIF) and ``LIFCell`` (-> CubaLIF), exported by
    ``norse.torch.to_nir``: forward Euler at dt = 1 ms, ``r = 1``, the current jumps by the input
    (``w_in = 1``), and the written ``tau`` is ``dt / tau_mem_inv``, so the true time constant
    is ``tau / dt``. ``v_reset`` is not exported; these cells use the default 0."""
    norse = pytest.importorskip("norse.torch")
    from norse.torch import LIFBoxCell, LIFCell, LIFParameters
    from norse.torch.functional.lif_box import LIFBoxParameters

    p1 = LIFBoxParameters(
        tau_mem_inv=1.0 / (0.005 + 0.02 * torch.rand(30, generator=gen)),
        v_leak=0.1 * torch.ones(30),
        v_th=torch.ones(30),
        v_reset=torch.zeros(30),
    )
    p2 = LIFParameters(
        tau_syn_inv=torch.full((10,), 200.0),
        tau_mem_inv=torch.full((10,), 100.0),
        v_leak=torch.zeros(10),
        v_th=torch.full((10,), 0.5),
        v_reset=torch.zeros(10),
    )
    net = norse.SequentialState(
        _linear(20, 30, gen, 6.0), LIFBoxCell(p1), _linear(30, 10, gen, 1.0), LIFCell(p2)
    )
    x = make_input(gen)
    graph = norse.to_nir(net, torch.zeros(1, 20))  # norse records the sample's batch dim in Input
    ref = run_stepwise(net, x)
    assert 0.01 < float(ref.mean()) < 0.6
    model = from_nir(graph, source="norse")
    with torch.no_grad():
        assert torch.equal(model(x)[0], ref)


# ------------------------------------------------------------------ what the peers get wrong


def test_evidence_norse_round_trip_writes_tau_times_dt(float32_default):
    """norse 1.1.0 writes ``tau = dt / tau_mem_inv`` (1e-5 s for a 10 ms neuron) and reads it back
    as ``tau_mem_inv = 1 / tau``: its own round trip runs a neuron 1000 times too fast."""
    norse = pytest.importorskip("norse.torch")
    from norse.torch import LIFBoxCell
    from norse.torch.functional.lif_box import LIFBoxParameters

    net = norse.SequentialState(
        nn.Linear(2, 3), LIFBoxCell(LIFBoxParameters(tau_mem_inv=torch.tensor(100.0)))
    )
    graph = norse.to_nir(net, torch.zeros(2))
    assert float(graph.nodes["1"].tau) == pytest.approx(1e-5)  # the true tau is 1e-2 s
    cell = dict(norse.from_nir(graph).named_children())["1"]
    assert float(cell.p.tau_mem_inv) == pytest.approx(1e5)


def test_evidence_peers_misread_the_faithful_graph(gen, make_net, make_input):
    """The faithful graph (exact continuous-time parameters) is what NIR specifies, but snntorch
    discretises it at its fixed 1e-4 s and rejects a CubaLIF whose r is not tau/dt, and norse
    runs it with Euler and ignores r: hence the presets."""
    pytest.importorskip("snntorch")
    pytest.importorskip("norse.torch")
    net = make_net(gen, syn=False, heterogeneous=False)
    x = make_input(gen)
    with torch.no_grad():
        ref = net(x)[0]
    graph = to_nir(net, dt=1.0)
    assert not torch.equal(_run_snntorch(graph, x), ref)
    logging.disable(logging.WARNING)
    try:
        assert not torch.equal(_run_norse(graph, x), ref)
    finally:
        logging.disable(logging.NOTSET)
    with pytest.raises(AssertionError, match="r not supported"):
        _run_snntorch(to_nir(make_net(gen, syn=True), dt=1.0), x)
