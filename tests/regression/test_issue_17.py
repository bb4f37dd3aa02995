"""Issue 17: the vendors' simulators against our integer simulation.

Xylo: xylosim saturates the 16-bit synaptic current after every synaptic event
(``XyloIAFNeuron::receiveSpike``), presynaptic neurons in ascending order; we used to add the
step's summed input and saturate once, which differs whenever a partial sum leaves the range."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from spikeforge.errors import UnsupportedExportError
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


# Loihi 2: lava's bit-accurate Dense and LIF models (lava-nc/lava, src/lava/proc/dense/models.py,
# src/lava/proc/lif/models.py, src/lava/utils/weightutils.py) compute in numpy int32 and use the
# weights after clip_weights/truncate_weights; we computed in int64 with the weights as given.


def _loihi(weight: list[list[int]], weight_exp: int) -> QuantizedModel:
    n = len(weight)
    layer = {
        "weight": torch.tensor(weight),
        "du": torch.full((n,), 4095),
        "dv": torch.full((n,), 0),
        "vth": torch.full((n,), 2**17 - 1),
        "bias_mant": torch.zeros(n, dtype=torch.int64),
        "bias_exp": torch.zeros(n, dtype=torch.int64),
    }
    return QuantizedModel("loihi2", "model", [layer], [weight_exp])


def test_loihi_activation_wraps_like_int32():
    # 254 * 1100 = 279400; << 7 = 35763200; << 6 = 2288844800 wraps to 2288844800 - 2**32 =
    # -2006122496 in int32; lava's 24-bit wrap then adds 2**24 once: -1989345280.
    _, (trace,) = _loihi([[254]], 7)(torch.tensor([[1100.0]]))
    assert int(trace.current[0, 0, 0]) == -2006122496 + 2**24


def test_loihi_weights_are_clipped_and_truncated_as_lava_does():
    # mixed signs: 3 -> 2 and -3 -> -4 (the low bit floored); all <= 0: -300 -> -255
    _, (mixed,) = _loihi([[3, -3]], 0)(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert mixed.current[:, 0, 0].tolist() == [2 << 6, -4 << 6]
    _, (inhibitory,) = _loihi([[-300]], 0)(torch.tensor([[1.0]]))
    assert int(inhibitory.current[0, 0, 0]) == -255 << 6


def test_loihi_per_neuron_delays_shift_each_neurons_input():
    """netx's per-neuron delays (a FixedDelay between Linear and LIF, as read_netx builds them)
    reach lava's DelayDense: neuron j receives its input delay[j] steps later. Without bias and
    from rest, its spikes are those of the undelayed network shifted by delay[j]."""
    import spikeforge as sf
    from spikeforge.hardware import quantize

    gen = torch.Generator().manual_seed(4)
    lin = torch.nn.Linear(6, 4, bias=False)
    with torch.no_grad():
        lin.weight.copy_(1.5 * (0.5 + torch.randn(4, 6, generator=gen)))
    steps = torch.tensor([0, 1, 3, 7])

    def net(delayed: bool) -> sf.Sequential:
        mods: list[torch.nn.Module] = [lin]
        if delayed:
            mods.append(sf.plasticity.FixedDelay(2.0 * steps.double(), dt=2.0))
        return sf.Sequential(*mods, sf.neurons.LIF(4, tau_mem=20.0, tau_syn=10.0, dt=2.0))

    x = (torch.rand(60, 3, 6, generator=gen) < 0.3).double()
    q_plain, q_delayed = quantize(net(False), "loihi2"), quantize(net(True), "loihi2")
    assert q_delayed.layer(0)["delay"].tolist() == steps.tolist()
    plain, _ = q_plain(x)
    delayed, _ = q_delayed(x)
    assert plain.sum() > 10
    for j, d in enumerate(steps.tolist()):
        assert torch.equal(delayed[d:, :, j], plain[: 60 - d, :, j]) and not delayed[:d, :, j].any()
    with pytest.raises(UnsupportedExportError, match="no synaptic delays"):
        quantize(net(True), "xylo-audio2")
