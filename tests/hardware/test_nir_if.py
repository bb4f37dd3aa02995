"""NIR ``IF`` (integrate-and-fire without leak): spikeforge's ``IF`` exports and imports back
bitwise, norse's importer runs the norse preset with the same spikes, and norse's ``IAFCell``
exports import with the same spikes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.errors import UnsupportedExportError
from spikeforge.hardware import from_nir, to_nir

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # nirtorch.load, used by norse
    pytest.mark.filterwarnings("ignore:.*requires_grad.*:UserWarning"),
]

nir = pytest.importorskip("nir")


def _net(gen: torch.Generator, dt: float = 0.5) -> sf.Sequential:
    lin1, lin2 = nn.Linear(20, 16), nn.Linear(16, 6, bias=False)
    with torch.no_grad():
        for lin in (lin1, lin2):
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=gen) * 0.6)
        lin1.bias.copy_(torch.rand(16, generator=gen) * 0.1)
    v_th = 0.8 + 0.4 * torch.rand(16, generator=gen)
    return sf.Sequential(
        lin1,
        sf.neurons.IF(16, v_th=v_th, v_reset=-0.1, r=0.7, dt=dt),
        lin2,
        sf.neurons.IF(6, v_th=1.0, v_reset=0.2, r=1.3, dt=dt),
    )


def _via_file(graph, tmp_path):
    path = tmp_path / "if.nir"
    nir.write(path, graph)
    return nir.read(path)


def test_round_trip_is_bitwise_and_r_is_per_second(tmp_path, gen, make_input):
    net = _net(gen)
    x = make_input(gen)
    with torch.no_grad():
        ref, _ = net(x)
    assert 0.02 < float(ref.mean()) < 0.6
    graph = _via_file(to_nir(net), tmp_path)
    node = graph.nodes["1"]
    assert type(node).__name__ == "IF"
    torch.testing.assert_close(torch.as_tensor(node.r), torch.full((16,), 0.7 / 0.0005))  # R = r / dt
    back = from_nir(graph)
    assert isinstance(back[1], sf.neurons.IF)
    assert torch.equal(back[1].r, net[1].r.expand(16)) and torch.equal(back[1].v_th, net[1].v_th)
    with torch.no_grad():
        assert torch.equal(back(x)[0], ref)
    # without the metadata the ODE reading R * dt gives r to rounding, and the same spikes
    plain = nir.NIRGraph(nodes=graph.nodes, edges=graph.edges)
    for n in plain.nodes.values():
        n.metadata = {}
    with torch.no_grad():
        assert torch.equal(from_nir(plain, dt=0.5)(x)[0], ref)


def test_norse_preset_runs_with_the_same_spikes(tmp_path, gen, make_input, run_stepwise):
    norse = pytest.importorskip("norse.torch")
    net = _net(gen, dt=1.0)
    x = make_input(gen)
    with torch.no_grad():
        ref, _ = net(x)
    graph = _via_file(to_nir(net, importer="norse"), tmp_path)
    assert torch.equal(run_stepwise(norse.from_nir(graph), x), ref)
    with torch.no_grad():  # and spikeforge reads the preset back (a jump of R x per step)
        assert torch.equal(from_nir(graph)(x)[0], ref)


def test_norse_iaf_export_imports_with_the_same_spikes(gen, make_input, run_stepwise):
    norse = pytest.importorskip("norse.torch")
    from norse.torch import IAFCell, IAFParameters

    lin1, lin2 = nn.Linear(20, 12, bias=False), nn.Linear(12, 5, bias=False)
    with torch.no_grad():
        lin1.weight.copy_(torch.randn(12, 20, generator=gen) * 0.5)
        lin2.weight.copy_(torch.randn(5, 12, generator=gen) * 0.8)
    p1 = IAFParameters(v_th=0.5 + torch.rand(12, generator=gen))
    net = norse.SequentialState(lin1, IAFCell(p1), lin2, IAFCell(IAFParameters(v_th=torch.full((5,), 0.7))))
    x = make_input(gen)
    ref = run_stepwise(net, x)
    assert 0.01 < float(ref.mean()) < 0.6
    graph = norse.to_nir(net, torch.zeros(1, 20))
    model = from_nir(graph, source="norse")
    assert isinstance(model[1], sf.neurons.IF)
    with torch.no_grad():
        assert torch.equal(model(x)[0], ref)


def test_what_nir_or_an_importer_cannot_run_is_refused(gen):
    net = _net(gen)
    with pytest.raises(UnsupportedExportError, match="Leaky"):
        to_nir(net, importer="snntorch")
    sub = sf.Sequential(nn.Linear(3, 2), sf.neurons.IF(2, reset="subtract"))
    with pytest.raises(UnsupportedExportError, match="subtract"):
        to_nir(sub)
