"""Issue 17: the vendors' simulators against our integer simulation.

Xylo: xylosim saturates the 16-bit synaptic current after every synaptic event
(``XyloIAFNeuron::receiveSpike``), presynaptic neurons in ascending order; we used to add the
step's summed input and saturate once, which differs whenever a partial sum leaves the range."""

from __future__ import annotations

import importlib.util

import torch

from spikeforge.hardware import QuantizedModel


def _one_neuron() -> QuantizedModel:
    layer = {
        "weight": torch.tensor([[120, 0, -120]]),  # << 7: +15360, 0, -15360 per spike
        "dash_mem": torch.tensor([15]),
        "dash_syn": torch.tensor([15]),
        "threshold": torch.tensor([30000]),
        "bias": torch.tensor([0]),
    }
    return QuantizedModel("xylo-audio2", "model", [layer], [7])


def test_xylo_synaptic_current_saturates_after_each_event():
    # 3 spikes of +15360 reach 15360, 30720, then 32767 (saturated); 2 of -15360 leave 2047;
    # the decay removes max(2047 >> 15, 1) = 1. Summing first would give 46080 - 30720 = 15360.
    x = torch.tensor([[3.0, 0.0, 2.0]])
    _, (trace,) = _one_neuron()(x)
    assert int(trace.current[0, 0, 0]) == 2046
    assert int(trace.voltage[0, 0, 0]) == 2046


def test_the_pinned_case_is_what_xylosim_computes():
    if importlib.util.find_spec("xylosim") is None:
        import pytest

        pytest.skip(
            "xylosim (SynSense's Xylo simulator) is a test-time extra: pip install 'spikeforge[vendor]'"
        )
    from spikeforge.hardware.xylo_vendor import run_xylosim

    hid = _one_neuron().layer(0)
    out = {k: v.clone() for k, v in hid.items()}
    out["weight"] = torch.tensor([[1]])
    q = QuantizedModel("xylo-audio2", "chip", [hid, out], [7, 0])
    (trace, _) = run_xylosim(q, torch.tensor([[3.0, 0.0, 2.0]]))
    assert int(trace.current[0, 0, 0]) == 2046
