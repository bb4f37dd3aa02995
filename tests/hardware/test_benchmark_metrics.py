"""``benchmark_figures`` equals NeuroBench 2.3.0's own ``Benchmark`` (footprint, connection
sparsity, activation sparsity, effective MACs and ACs, dense synaptic operations, membrane
updates) on two models:
the demo network pruned by 30% on NDigits event counts (MACs in the first layer, ACs after), and
a three-layer CUBA network with a sparse middle layer on binary spikes (ACs only); and
``spikeforge export --metrics`` prints the figures."""

from __future__ import annotations

import json

import pytest
import torch

import spikeforge as sf
from spikeforge import data
from spikeforge.cli import main
from spikeforge.demo import build_demo_model
from spikeforge.errors import ShapeError
from spikeforge.hardware import benchmark_figures, neurobench_adaptor
from spikeforge.hardware.benchmark_metrics import NeuronSpikes, NeuronStep


def _pruned_demo() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    model = build_demo_model(seed=1)
    with torch.no_grad():
        keep = torch.rand(model[0].weight.shape, generator=torch.Generator().manual_seed(0)) > 0.3
        model[0].weight.mul_(keep)
    test = data.NDigits("test", n_time_bins=30, flatten=True)
    x, y = data.pad_collate([test[i] for i in range(48)])
    return model, x, y


def _cuba_net() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(2)
    layers: list[torch.nn.Module] = []
    for a, b in [(24, 40), (40, 30), (30, 6)]:
        lin = torch.nn.Linear(a, b)
        with torch.no_grad():
            lin.weight.copy_(3 * (0.3 + torch.randn(b, a, generator=gen)) / a**0.5)
        layers += [lin, sf.neurons.LIF(b, tau_mem=20.0, tau_syn=8.0, dt=2.0)]
    with torch.no_grad():
        layers[2].weight.mul_(torch.rand(30, 40, generator=gen) > 0.5)  # type: ignore[operator]
    x = (torch.rand(50, 32, 24, generator=gen) < 0.15).float()
    return sf.Sequential(*layers), x, torch.zeros(32, dtype=torch.long)


def _neurobench(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    pytest.importorskip("neurobench", reason="neurobench is a test-time tool: make test installs it")
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint
    from neurobench.metrics.workload import ActivationSparsity, MembraneUpdates, SynapticOperations
    from neurobench.models import TorchModel

    nb_model = TorchModel(neurobench_adaptor(model))
    nb_model.add_activation_module(NeuronSpikes)
    pairs = torch.utils.data.TensorDataset(x.transpose(0, 1), y)
    loader = torch.utils.data.DataLoader(pairs, batch_size=16)  # equal batches
    metrics = [[Footprint, ConnectionSparsity], [ActivationSparsity, SynapticOperations]]
    results = Benchmark(nb_model, loader, [], [], metrics).run(quiet=True)
    # membranes: NeuroBench reads them from snntorch neurons called once per step
    stepped = TorchModel(neurobench_adaptor(model, membranes=True))
    stepped.add_activation_module(NeuronStep)
    workload = [ActivationSparsity, SynapticOperations, MembraneUpdates]
    per_step = Benchmark(stepped, loader, [], [], [[], workload]).run(quiet=True)
    return {**results, "per_step": per_step}


@pytest.mark.parametrize("build", [_pruned_demo, _cuba_net], ids=["demo-ndigits", "cuba-spikes"])
def test_figures_equal_neurobench(build):
    model, x, y = build()
    ours = benchmark_figures(model, x)
    theirs = _neurobench(model, x, y)
    assert ours.footprint_bytes == theirs["Footprint"]
    assert ours.connection_sparsity == theirs["ConnectionSparsity"]
    assert ours.activation_sparsity == pytest.approx(theirs["ActivationSparsity"], rel=1e-12)
    ops = theirs["SynapticOperations"]
    assert ours.effective_macs == pytest.approx(ops["Effective_MACs"], rel=1e-12)
    assert ours.effective_acs == pytest.approx(ops["Effective_ACs"], rel=1e-12)
    assert ours.dense_synops == pytest.approx(ops["Dense"], rel=1e-12)
    stepped = theirs["per_step"]  # the same model run one step per call: the same figures
    assert ours.activation_sparsity == pytest.approx(stepped["ActivationSparsity"], rel=1e-12)
    assert ours.effective_acs == pytest.approx(stepped["SynapticOperations"]["Effective_ACs"], rel=1e-12)
    assert ours.effective_macs == pytest.approx(stepped["SynapticOperations"]["Effective_MACs"], rel=1e-12)
    assert ours.membrane_updates == pytest.approx(stepped["MembraneUpdates"], rel=1e-12)
    neurons = sum(m.n for m in model.modules() if isinstance(m, sf.neurons.LIF))
    steps = x.shape[0]
    assert neurons < ours.membrane_updates < 0.999 * neurons * steps  # some membranes stay put
    # the figures are not trivial: some spikes, some pruned weights, some accumulates
    assert 0.5 < ours.activation_sparsity < 1.0 and ours.connection_sparsity > 0.1
    assert ours.effective_acs > 0 and ours.samples == x.shape[1]


def test_figures_by_hand():
    """One Linear(3, 2) with a zero weight, then a LIF: the counts worked out on paper."""
    lin = torch.nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [3.0, 4.0, 5.0]]))
    net = sf.Sequential(lin, sf.neurons.LIF(2, v_th=0.5, dt=1.0, tau_mem=2.0))
    x = torch.tensor([[[1.0, 1.0, 0.0]], [[0.0, 0.0, 1.0]]])  # T=2, B=1
    fig = benchmark_figures(net, x)
    # step 0: inputs 0,1 -> (w00, w10) + (w11) = 3 ops; step 1: input 2 -> w02, w12 = 2 ops
    assert fig.effective_acs == 5 and fig.effective_macs == 0 and fig.dense_synops == 12
    assert fig.connection_sparsity == round(1 / 6, 4)
    assert fig.footprint_bytes == sum(
        p.numel() * p.element_size() for p in [*net.parameters(), *net.buffers()]
    )
    analog = benchmark_figures(net, 0.5 * x)  # non-spike input: multiply-accumulates
    assert analog.effective_macs == 5 and analog.effective_acs == 0
    with pytest.raises(ShapeError, match=r"\[T, B, \.\.\.\]"):
        benchmark_figures(net, x[:, 0])


def test_export_prints_the_figures(tmp_path, capsys):
    torch.save(build_demo_model(seed=3).state_dict(), tmp_path / "model.pt")
    out = tmp_path / "l.npz"
    assert (
        main(["export", str(tmp_path / "model.pt"), "--target", "loihi2", "--out", str(out), "--metrics"])
        == 0
    )
    text = capsys.readouterr().out
    assert "NeuroBench figures (360 samples): footprint 108120 B" in text
    assert "on the 360 NDigits test samples" in text
    info = json.loads((tmp_path / "l.npz.json").read_text())
    assert info["neurobench"]["samples"] == 360 and info["neurobench"]["dense_synops"] == 30 * (
        200 * 128 + 128 * 10
    )
    # beside them, the energy per inference from the first Loihi's published figures, saying so
    assert "energy per inference on loihi2:" in text and "NOT of loihi2" in text
    assert "Davies et al." in text and "Table 2" in text
    energy = info["neurobench"]["energy"]
    nb = info["neurobench"]
    assert nb["neuron_steps"] == 30 * (128 + 10)
    assert energy["joules"] == pytest.approx(
        nb["effective_acs"] * 23.6e-12
        + nb["membrane_updates"] * 81e-12
        + (nb["neuron_steps"] - nb["membrane_updates"]) * 52e-12,
        rel=1e-12,
    )
    assert energy["unpriced"][0][0] == "mac" and energy["unpriced"][0][1] == nb["effective_macs"] > 0


def test_export_to_nir_prints_the_figures_on_seeded_spikes(tmp_path, capsys):
    nir = pytest.importorskip("nir")
    from spikeforge.hardware import to_nir

    net = sf.Sequential(torch.nn.Linear(20, 12), sf.neurons.LIF(12, dt=1.0))
    nir.write(tmp_path / "a.nir", to_nir(net, dt=1.0))
    args = ["export", str(tmp_path / "a.nir"), "--out", str(tmp_path / "b.nir"), "--metrics"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "NeuroBench figures (16 samples)" in text and "(dense 24000.0)" in text  # 100 x 20 x 12
    assert "Bernoulli(0.1) spikes, 100 steps, seed 0" in text and (tmp_path / "b.nir").is_file()


def test_membrane_updates_by_hand_and_through_a_graph():
    """Two LIF neurons, T = 4: neuron 0 gets input at step 1 only (its membrane moves from step 1
    on, the leak keeps it moving), neuron 1 none (it stays at rest 0 after step 0). NeuroBench's
    count: 2 at step 0, then 1 per step for neuron 0 = 5. The same model as a NIRGraphModule
    (which calls ``step``) counts the same."""
    from spikeforge.hardware import NIRGraphModule

    lin = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(2))
    lif = sf.neurons.LIF(2, dt=1.0, tau_mem=5.0)
    net = sf.Sequential(lin, lif)
    x = torch.zeros(4, 1, 2)
    x[1, 0, 0] = 1.0
    assert benchmark_figures(net, x).membrane_updates == 5
    assert benchmark_figures(net, x).neuron_steps == 8  # 2 neurons x 4 steps, changed or not
    two = benchmark_figures(net, torch.cat([x, x], 1))
    assert two.membrane_updates == 5 and two.neuron_steps == 8  # per sample
    graph = NIRGraphModule(
        modules={"lin": lin, "lif": lif},
        edges=[("input", "lin"), ("lin", "lif"), ("lif", "output")],
        input_name="input",
        output_name="output",
        order=["input", "lin", "lif", "output"],
        back_edges=set(),
        shapes={"input": (2,), "lin": (2,), "lif": (2,), "output": (2,)},
        input_shape=(2,),
    )
    fig = benchmark_figures(graph, x)
    assert fig.membrane_updates == 5 and fig.activation_sparsity == 1.0  # no spike: all 8 outputs zero
    assert fig.neuron_steps == 8  # counted through ``step`` too
    assert fig.effective_acs == 1 and fig.dense_synops == 16
    x[2, 0, 1] = 30.0  # neuron 1 fires at step 2
    assert benchmark_figures(graph, x).activation_sparsity == 1 - 1 / 8
    assert benchmark_figures(net, x).activation_sparsity == 1 - 1 / 8
    assert "forward" not in lif.__dict__ and "step" not in lif.__dict__  # nothing left behind
