"""Our Xylo integer simulation against SynSense's own simulator, xylosim (``xylosim.v2``, the core
of Xylo Audio 2, Audio 3 and IMU): the spikes, synaptic currents and membrane potentials of every
neuron at every step are equal, on random integer networks (saturation, multi-spike hidden
neurons, clipped input counts, three-layer chains through the recurrent weights), on quantized
float networks, and on a small network trained on NDigits reduced to the chip's 16 inputs and
8 outputs with the chip's subtractive reset (a model that fits: ``check`` passes, ``quantize``
does not warn), over the whole test split; and a model trained and exported from the command line."""

from __future__ import annotations

import warnings

import pytest
import torch

import spikeforge as sf
from spikeforge import data
from spikeforge.commands import feedforward_snn
from spikeforge.errors import ParameterError, ShapeError
from spikeforge.hardware import QuantizedModel, quantize
from spikeforge.hardware.intsim import IntTrace
from spikeforge.hardware.xylo_vendor import run_xylosim
from spikeforge.training import Trainer

pytest.importorskip(
    "xylosim",
    reason="xylosim (SynSense's Xylo simulator) is a test-time extra: pip install 'spikeforge[vendor]'",
)


def _assert_equal_traces(ours: list[IntTrace], theirs: list[IntTrace]) -> None:
    assert len(ours) == len(theirs)
    for k, (a, b) in enumerate(zip(ours, theirs)):
        for field in IntTrace._fields:
            x, y = getattr(a, field), getattr(b, field)
            assert x.shape == y.shape, (k, field, x.shape, y.shape)
            bad = (x != y).nonzero()
            assert bad.numel() == 0, f"layer {k} {field}: first differences at [t, b, n] {bad[:3].tolist()}"


def _random_layer(gen: torch.Generator, n_out: int, n_in: int, th_max: int) -> dict[str, torch.Tensor]:
    w = torch.randint(-128, 128, (n_out, n_in), generator=gen)
    return {
        "weight": w * (torch.rand(n_out, n_in, generator=gen) < 0.6),
        "dash_mem": torch.randint(1, 16, (n_out,), generator=gen),
        "dash_syn": torch.randint(1, 16, (n_out,), generator=gen),
        "threshold": torch.randint(1, th_max, (n_out,), generator=gen),
        "bias": torch.randint(-300, 300, (n_out,), generator=gen),
    }


@pytest.mark.parametrize("seed", range(8))
def test_random_integer_networks_equal_xylosim(seed):
    gen = torch.Generator().manual_seed(seed)
    n_layers = 2 + seed % 2  # three layers use the recurrent weights between two hidden blocks
    n_hidden = int(torch.randint(4, 40, (1,), generator=gen))
    sizes = [16] + [n_hidden] * (n_layers - 1) + [8]
    th_max = [60, 600, 6000, 30000][seed % 4]
    layers = [_random_layer(gen, sizes[i + 1], sizes[i], th_max) for i in range(n_layers)]
    shifts = [int(torch.randint(0, 8, (1,), generator=gen)) for _ in range(n_layers)]
    high = [1, 4, 40][seed % 3]  # 40: input counts above 15 (clipped) and large partial sums
    x = torch.randint(0, high + 1, (50, 3, 16), generator=gen) * (torch.rand(50, 3, 16, generator=gen) < 0.3)
    q = QuantizedModel("xylo-audio2", "chip", layers, shifts)
    _, ours = q(x.double())
    _assert_equal_traces(ours, run_xylosim(q, x))
    assert ours[-1].spikes.sum() > 0 or ours[0].spikes.sum() > 0


def test_saturating_partial_sums_are_exercised_and_equal():
    """Strong same-signed weights at shift 7: partial sums leave the 16-bit range inside a step
    while the step's total does not, the case the summed-then-saturated reading got wrong."""
    gen = torch.Generator().manual_seed(11)
    hid = _random_layer(gen, 12, 16, 30000)
    hid["weight"] = torch.where(torch.arange(16) < 8, 120, -120).expand(12, 16).clone()
    out = _random_layer(gen, 8, 12, 30000)
    q = QuantizedModel("xylo-imu", "chip", [hid, out], [7, 5])
    x = torch.randint(0, 3, (40, 2, 16), generator=gen)
    _, ours = q(x.double())
    theirs = run_xylosim(q, x)
    _assert_equal_traces(ours, theirs)
    events = x[..., None, :] * hid["weight"] * 2**7  # [T, B, n_out, n_in], xylosim's order
    partial, total = events.cumsum(-1), events.sum(-1)
    assert bool(((partial.amax(-1) >= 2**15) & (total.abs() < 2**15)).any())


@pytest.mark.parametrize("target", ["xylo-audio2", "xylo-audio3", "xylo-imu"])
@pytest.mark.parametrize("tau_syn", [None, 30.0])
def test_quantized_float_networks_equal_xylosim(target, tau_syn):
    gen = torch.Generator().manual_seed(3)
    layers = []
    for a, b in [(16, 48), (48, 24), (24, 8)]:
        lin = torch.nn.Linear(a, b)
        with torch.no_grad():
            lin.weight.copy_(2.5 * (0.3 + torch.randn(b, a, generator=gen)) / a**0.5)
            lin.bias.copy_(0.05 * torch.randn(b, generator=gen))
        layers += [lin, sf.neurons.LIF(b, tau_mem=25.0, tau_syn=tau_syn, dt=5.0)]
    net = sf.Sequential(*layers)
    x = (torch.rand(60, 4, 16, generator=gen) < 0.25).double() * 2
    q = quantize(net, target, calibration=x)
    _, ours = q(x)
    _assert_equal_traces(ours, run_xylosim(q, x))
    assert all(int(t.spikes.sum()) > 0 for t in ours)


def _ndigits16(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """NDigits on the chip's 16 inputs and 8 outputs: digits 0-7, polarities summed, the central
    8x8 pixels summed in 2x2 blocks, counts clipped to the 15 an input channel takes per step."""
    ds = data.NDigits(split, n_time_bins=15)
    x, y = data.pad_collate([ds[i] for i in range(len(ds))])
    keep = y < 8
    x = x[:, keep].sum(2)[..., 1:9, 1:9]
    steps, batch = x.shape[:2]
    x = x.reshape(steps, batch, 4, 2, 4, 2).sum((3, 5)).reshape(steps, batch, 16).clamp(max=15)
    return x, y[keep]


@pytest.mark.slow
def test_ndigits_network_on_the_chip_equals_xylosim(capsys):
    x_train, y_train = _ndigits16("train")
    x_test, y_test = _ndigits16("test")
    model = feedforward_snn([16, 64, 8], dt=20.0, tau_mem=40.0, seed=0, reset="subtract")
    trainer = Trainer(
        model, torch.optim.Adam(model.parameters(), lr=1e-2), readout="spike_count", seed=0, progress=False
    )
    pairs = torch.utils.data.TensorDataset(x_train.transpose(0, 1), y_train)
    loader = torch.utils.data.DataLoader(
        pairs,
        batch_size=64,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
        collate_fn=lambda b: (torch.stack([s for s, _ in b], 1), torch.stack([label for _, label in b])),
    )
    trainer.fit(loader, 3)
    model.eval()
    with torch.no_grad():
        ref, _ = model(x_test)
    assert sf.hardware.check(model, "xylo-audio2").ok  # a model that fits the chip: no warning below
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        q = quantize(model, "xylo-audio2", calibration=x_train[:, :64])
    out, ours = q(x_test)
    theirs = run_xylosim(q, x_test)
    _assert_equal_traces(ours, theirs)
    acc_float = float((ref.sum(0).argmax(-1) == y_test).float().mean())
    acc_chip = float((out.sum(0).argmax(-1) == y_test).float().mean())
    print(
        f"NDigits-16, 288 test samples: float {100 * acc_float:.1f}%, Xylo (= xylosim) {100 * acc_chip:.1f}%"
    )
    # measured: float 85.1 %, chip 75.0 % (chance 12.5 %). The float LIF fires at most once a step,
    # the chip floor(v / threshold) times (40 % of its hidden spiking events are several spikes),
    # which a model trained with single spikes does not expect: an open quantization gap, not a
    # disagreement with xylosim (the traces above are equal)
    assert acc_float > 0.5 and acc_chip > 0.6
    assert int(ours[0].spikes.max()) > 1  # hidden neurons fire several spikes in a step


def test_run_xylosim_rejects_what_it_cannot_run():
    gen = torch.Generator().manual_seed(0)
    layers = [_random_layer(gen, 5, 16, 100), _random_layer(gen, 8, 5, 100)]
    x = torch.zeros(4, 16)
    with pytest.raises(ParameterError, match="timing='model'"):
        run_xylosim(QuantizedModel("xylo-audio2", "model", layers, [0, 0]), x)
    with pytest.raises(ParameterError, match="loihi2"):
        run_xylosim(QuantizedModel("loihi2", "chip", layers, [0, 0]), x)
    with pytest.raises(ParameterError, match="1 layer"):
        run_xylosim(QuantizedModel("xylo-audio2", "chip", layers[:1], [0]), x)
    with pytest.raises(ShapeError, match=r"\[T, B, 16\]"):
        run_xylosim(QuantizedModel("xylo-audio2", "chip", layers, [0, 0]), torch.zeros(4, 15))
    traces = run_xylosim(QuantizedModel("xylo-audio2", "chip", layers, [0, 0]), x)
    assert traces[0].spikes.shape == (5, 1, 5) and traces[1].spikes.shape == (5, 1, 8)


@pytest.mark.parametrize(
    ("v", "threshold", "spikes", "left"), [(50, 50, 1, 0), (50, 51, 0, 50), (50, 3, 16, 2)]
)
def test_xylosim_resets_by_subtracting_the_threshold(v, threshold, spikes, left):
    """What the vendor's neuron does on a spike, run (the reading behind check's Xylo reset rule):
    v >= threshold fires, floor(v / threshold) spikes in one step, v keeps the remainder."""
    from xylosim import v2

    syn_in, syn_rec, syn_out = [[v2.XyloSynapse(0, 0, 2 * v)]], [[]], [[v2.XyloSynapse(0, 0, 1)]]
    # dash_syn 1 halves the current in its step of arrival: v = 2v / 2 after step 0
    layer = v2.XyloLayer(
        syn_in,
        syn_rec,
        syn_out,
        [[]],
        [threshold],
        [1000],
        False,
        [0],
        [0],
        0,
        0,
        0,
        [15],
        [15],
        [[1]],
        [[15]],
        "t",
    )
    layer.evolve([[1]])
    assert layer.rec_recurrent_spikes == [[spikes]] and layer.rec_v_mem == [[left]]
    del layer
    q = QuantizedModel(
        "xylo-audio2",
        "chip",
        [
            {
                "weight": torch.tensor([[2 * v]]),
                "dash_mem": torch.tensor([15]),
                "dash_syn": torch.tensor([1]),
                "threshold": torch.tensor([threshold]),
                "bias": torch.tensor([0]),
            },
            _random_layer(torch.Generator().manual_seed(0), 8, 1, 100),
        ],
        [0, 0],
    )
    _, ours = q(torch.ones(1, 1, 1))
    assert int(ours[0].spikes[0, 0, 0]) == spikes and int(ours[0].voltage[0, 0, 0]) == left


@pytest.mark.slow
def test_cli_trains_a_model_that_exports_to_xylo_and_runs_equal_in_xylosim(tmp_path, capsys):
    """End to end, as a user: ``train ndigits16 --reset subtract`` -> ``export --target
    xylo-audio2`` fits (exit 0, no --force) -> the written integer parameters run in xylosim
    with the same spikes, currents and membranes as in spikeforge, on the NDigits-16 test set."""
    import json

    import numpy as np

    from spikeforge.cli import main
    from spikeforge.commands import _ndigits16

    train = ["train", "ndigits16", "--hidden", "24", "--epochs", "1", "--reset", "subtract", "--no-progress"]
    assert main([*train, "--out", str(tmp_path / "t")]) == 0
    out = tmp_path / "x.npz"
    assert (
        main(["export", str(tmp_path / "t" / "model.pt"), "--target", "xylo-audio2", "--out", str(out)]) == 0
    )
    assert "check against xylo-audio2: fits" in capsys.readouterr().out
    info = json.loads((tmp_path / "x.npz.json").read_text())
    assert info["forced"] is False
    with np.load(out) as params:
        q = QuantizedModel.from_integer_parameters("xylo-audio2", dict(params), timing=info["timing"])
    test = _ndigits16("test", 30)
    x = test.tensors[0][:64].transpose(0, 1)  # [T, B, 16]
    _, ours = q(x)
    _assert_equal_traces(ours, run_xylosim(q, x))
    assert int(ours[0].spikes.sum()) > 0 and int(ours[1].spikes.sum()) > 0
