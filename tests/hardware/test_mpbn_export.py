"""MPBN models export to NIR by folding: the graph carries the folded per-neuron thresholds, and
the file read back with ``from_nir`` spikes as the MPBN model does in eval mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.errors import UnsupportedExportError
from spikeforge.hardware import fold_mpbn, from_nir, to_nir
from spikeforge.neurons import MPBNLIF

nir = pytest.importorskip("nir")


def _mpbn_net(gen: torch.Generator, *, syn: bool, dtype: torch.dtype) -> sf.Sequential:
    layers: list[nn.Module] = []
    for n_in, n_out in ((12, 20), (20, 6)):
        lin = nn.Linear(n_in, n_out)
        with torch.no_grad():
            lin.weight.copy_(2.0 * torch.randn(n_out, n_in, generator=gen) / n_in**0.5)
            lin.bias.copy_(0.1 * torch.randn(n_out, generator=gen))
        neuron = MPBNLIF(
            n_out,
            tau_mem=5.0 + 15.0 * torch.rand(n_out, generator=gen),
            tau_syn=4.0 if syn else None,
            v_reset=-10.0,  # below every folded threshold: from_nir asks v_reset < v_threshold
            momentum=None,  # one training call sets the running statistics to that call's
        )
        with torch.no_grad():
            neuron.gamma.copy_(0.5 + torch.rand(n_out, generator=gen))
            neuron.beta.copy_(0.2 * torch.randn(n_out, generator=gen))
        layers += [lin, neuron]
    net = sf.Sequential(*layers).to(dtype)
    with torch.no_grad():  # running statistics from the data (training mode)
        net((torch.rand(150, 16, 12, generator=gen) < 0.3).to(dtype))
    return net.eval()


@pytest.mark.parametrize("syn", [False, True])
def test_export_folds_and_round_trips(tmp_path, gen, syn):
    net = _mpbn_net(gen, syn=syn, dtype=torch.float64)
    graph = to_nir(net, dt=1.0)
    kind = nir.CubaLIF if syn else nir.LIF
    for name in ("1", "3"):
        node = graph.nodes[name]
        assert isinstance(node, kind)
        expected = net[int(name)].folded_threshold().numpy()
        np.testing.assert_array_equal(node.v_threshold, expected)
        assert len(np.unique(node.v_threshold)) == node.v_threshold.size  # per-neuron
    path = tmp_path / "mpbn.nir"
    nir.write(path, graph)
    back = from_nir(path)
    x = (torch.rand(150, 4, 12, generator=gen, dtype=torch.float64) < 0.3).double()
    with torch.no_grad():
        ref = net(x)[0]
        assert 0.02 < float(ref.mean()) < 0.6
        assert torch.equal(back(x)[0], ref)
    assert isinstance(net[1], MPBNLIF)  # exporting does not change the model


def test_float32_export_equals_the_folded_model(tmp_path, gen):
    net = _mpbn_net(gen, syn=True, dtype=torch.float32)
    path = tmp_path / "mpbn32.nir"
    nir.write(path, to_nir(net, dt=1.0))
    x = (torch.rand(150, 4, 12, generator=gen) < 0.3).float()
    with torch.no_grad():
        assert torch.equal(from_nir(path)(x)[0], fold_mpbn(net)(x)[0])


def test_export_refuses_negative_gamma_naming_the_neuron(gen):
    net = _mpbn_net(gen, syn=False, dtype=torch.float32)
    with torch.no_grad():
        net[3].gamma[2] = -0.1
    with pytest.raises(UnsupportedExportError, match=r"module '3'.*neuron 2"):
        to_nir(net, dt=1.0)
