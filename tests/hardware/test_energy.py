"""``energy_estimate``: energy per inference from NeuroBench-style counts and a chip's published
energy per operation. The arithmetic is checked against a hand computation from the cited
figures (Davies et al. 2018, Table 2, for the first Loihi: 23.6 pJ per synaptic spike op, 81 / 52
pJ per active / inactive neuron update; Tang et al. 2023, Table 3, for SpiNNaker2: 10 pJ per
synaptic operation); targets without a published figure are refused with the reason."""

from __future__ import annotations

import json
import math

import pytest
import torch

import spikeforge as sf
from spikeforge.cli import main
from spikeforge.errors import ParameterError
from spikeforge.hardware import energy_estimate
from spikeforge.hardware.energy import energy_figures
from spikeforge.hardware.targets import TARGET_NAMES

PJ = 1e-12


def test_loihi2_by_hand_from_the_first_loihis_figures():
    syn, active, steps = 12345.5, 678.25, 2000.0  # per-sample averages need not be whole
    e = energy_estimate("loihi2", synaptic_ops=syn, membrane_updates=active, neuron_steps=steps)
    by_hand = syn * 23.6 * PJ + active * 81 * PJ + (steps - active) * 52 * PJ
    assert e.joules == pytest.approx(by_hand, rel=1e-12)
    assert [t.operation for t in e.terms] == ["synaptic_op", "neuron_update_active", "neuron_update_inactive"]
    assert e.unpriced == ()
    # every number carries its source, and the estimate says they are another generation's
    assert all("Davies et al." in t.source and "Table 2" in t.source for t in e.terms)
    assert e.same_chip is False and "first Loihi" in e.caveat and "Loihi 2" in e.caveat
    assert "NOT of loihi2" in str(e) and f"{by_hand * 1e9:.4g} nJ" in str(e)


def test_loihi2_without_neuron_steps_and_with_macs_lists_what_is_unpriced():
    e = energy_estimate("loihi2", synaptic_ops=100, membrane_updates=10, macs=7)
    assert e.joules == pytest.approx(100 * 23.6 * PJ + 10 * 81 * PJ, rel=1e-12)
    unpriced = {op: n for op, n, _ in e.unpriced}
    assert unpriced == {"neuron_update_inactive": None, "mac": 7.0}
    assert "lower bound" in str(e)
    json.dumps(e.to_dict())  # JSON-ready: no NaN, no objects


def test_spinnaker2_by_hand_synaptic_operations_only():
    e = energy_estimate("spinnaker2", synaptic_ops=5000, membrane_updates=300, neuron_steps=900)
    assert e.joules == pytest.approx(5000 * 10 * PJ, rel=1e-12)
    assert [t.operation for t in e.terms] == ["synaptic_op"]
    assert "Tang et al." in e.terms[0].source and "Hoppner" in e.terms[0].source
    assert {op for op, _, _ in e.unpriced} == {"neuron_update_active", "neuron_update_inactive"}
    assert "secondary source" in e.caveat and e.same_chip


@pytest.mark.parametrize("target", ["xylo-audio2", "xylo-audio3", "xylo-imu", "speck", "brainscales2"])
def test_targets_without_a_published_figure_are_refused_with_the_reason(target):
    with pytest.raises(ParameterError, match=f"no energy estimate for target '{target}'") as info:
        energy_estimate(target, synaptic_ops=10)
    assert "loihi2, spinnaker2" in str(info.value)  # what is available
    assert "publish" in str(info.value) or "analog" in str(info.value)  # why not
    with pytest.raises(ParameterError, match=target):
        energy_figures(target)


def test_every_target_is_priced_or_refused_with_a_reason():
    for name in TARGET_NAMES:
        try:
            figures = energy_figures(name)
        except ParameterError as e:
            assert "no source was looked up" not in str(e), name
        else:
            assert figures and all(f.joules > 0 and f.source for f in figures)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"synaptic_ops": -1.0}, "synaptic_ops must be finite and >= 0, got -1.0"),
        ({"synaptic_ops": math.nan}, "synaptic_ops must be finite"),
        ({"synaptic_ops": 1.0, "membrane_updates": math.inf}, "membrane_updates must be finite"),
        ({"synaptic_ops": "10"}, "synaptic_ops must be a number of operations, got '10'"),
        ({"synaptic_ops": True}, "synaptic_ops must be a number"),
        ({"synaptic_ops": 1.0, "macs": -2}, "macs must be finite and >= 0"),
        (
            {"synaptic_ops": 1.0, "membrane_updates": 5, "neuron_steps": 4},
            "neuron_steps .* >= membrane_updates",
        ),
    ],
)
def test_bad_counts_are_refused(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        energy_estimate("loihi2", **kwargs)


def test_numpy_counts_are_numbers():
    import numpy as np

    e = energy_estimate("spinnaker2", synaptic_ops=np.int64(3), membrane_updates=np.float32(1.0))
    assert e.joules == pytest.approx(3 * 10 * PJ, rel=1e-12)


def test_unknown_target_lists_the_names():
    with pytest.raises(ParameterError, match="target must be one of"):
        energy_estimate("truenorth", synaptic_ops=1.0)


def test_benchmark_figures_energy_prices_the_measured_counts():
    gen = torch.Generator().manual_seed(4)
    net = sf.Sequential(
        torch.nn.Linear(10, 20), sf.neurons.LIF(20, dt=1.0), torch.nn.Linear(20, 5), sf.neurons.LIF(5, dt=1.0)
    )
    x = (torch.rand(40, 3, 10, generator=gen) < 0.3).float()
    fig = sf.hardware.benchmark_figures(net, x)
    assert fig.neuron_steps == 40 * 25 and fig.effective_acs > 0 and fig.effective_macs == 0
    e = fig.energy("loihi2")
    assert e.joules == pytest.approx(
        fig.effective_acs * 23.6 * PJ
        + fig.membrane_updates * 81 * PJ
        + (fig.neuron_steps - fig.membrane_updates) * 52 * PJ,
        rel=1e-12,
    )
    with pytest.raises(ParameterError, match="xylo-audio2"):
        fig.energy("xylo-audio2")


def test_export_to_xylo_with_metrics_says_why_there_is_no_energy_and_still_writes(tmp_path, capsys):
    from spikeforge.modelfile import save_model

    net = sf.Sequential(torch.nn.Linear(16, 8), sf.neurons.LIF(8, tau_mem=10.0, reset="subtract", dt=1.0))
    save_model(net, tmp_path / "m.pt")
    out = tmp_path / "x.npz"
    assert (
        main(["export", str(tmp_path / "m.pt"), "--target", "xylo-audio2", "--out", str(out), "--metrics"])
        == 0
    )
    text = capsys.readouterr().out
    assert "NeuroBench figures (288 samples)" in text and "on the 288 NDigits-16 test samples" in text
    assert "energy per inference: not estimated: no energy estimate for target 'xylo-audio2'" in text
    info = json.loads((tmp_path / "x.npz.json").read_text())
    assert "Bos and Muir" in info["neurobench"]["energy"]["not_estimated"] and out.is_file()
