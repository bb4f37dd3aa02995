r"""``quantize``: the integer simulation against an independent pure-Python implementation of the
documented Xylo (xylosim) and Loihi 2 (lava PyLifModelBitAcc / PyDenseModelBitAcc) formulas,
bit for bit; the parameter mapping; and the accuracy of the quantized demo network."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge import data
from spikeforge.demo import N_TIME_BINS, build_demo_model
from spikeforge.errors import ParameterError, UnsupportedExportError
from spikeforge.hardware import QuantizedModel, quantize
from spikeforge.training import Trainer, make_loader

# ----------------------------------------------------------------------------- references


def _sat16(x: int) -> int:
    return max(-32768, min(32767, x))


def _xylo_dec(x: int, dash: int) -> int:
    dv = x >> dash  # Python's >> on int is an arithmetic (floor) shift, as C++ on int16
    if dv == 0 and x > 0:
        dv = 1
    return dv


def ref_xylo_layer(s, w, shift, dash_mem, dash_syn, th, bias, max_in, max_out):
    """xylosim XyloLayer/XyloIAFNeuron, one neuron and one spike at a time, Python ints."""
    steps, batch, n_in = s.shape
    n_out = w.shape[0]
    spikes = np.zeros((steps, batch, n_out), dtype=np.int64)
    isyn_tr, v_tr = np.zeros_like(spikes), np.zeros_like(spikes)
    for b in range(batch):
        for j in range(n_out):
            isyn = v = 0
            for t in range(steps):
                for i in range(n_in):  # xylosim saturates after every event (receiveSpike)
                    for _ in range(min(int(s[t, b, i]), max_in)):
                        isyn = _sat16(isyn + int(w[j, i]) * (1 << shift))
                isyn -= _xylo_dec(isyn, int(dash_syn[j]))
                dv = _sat16(-_xylo_dec(v, int(dash_mem[j])) + isyn)
                dv = _sat16(dv + int(bias[j]))
                v = _sat16(v + dv)
                n = 0
                while v >= int(th[j]) and n < max_out:
                    n += 1
                    v -= int(th[j])
                spikes[t, b, j], isyn_tr[t, b, j], v_tr[t, b, j] = n, isyn, v
    return spikes, isyn_tr, v_tr


def _lava_decay(x: int, d: int) -> int:
    p = x * (4096 - d)
    return (1 if p > 0 else -1 if p < 0 else 0) * (abs(p) >> 12)


def ref_loihi_layer(s, w, wexp, du, dv, vth, bmant, bexp):
    """lava PyDenseModelBitAcc (without its one-step buffer) + PyLifModelBitAcc, Python ints."""
    steps, batch, n_in = s.shape
    n_out = w.shape[0]
    top = 1 << 23
    spikes = np.zeros((steps, batch, n_out), dtype=np.int64)
    u_tr, v_tr = np.zeros_like(spikes), np.zeros_like(spikes)
    for b in range(batch):
        for j in range(n_out):
            u = v = 0
            for t in range(steps):
                a = sum(int(w[j, i]) * int(s[t, b, i]) for i in range(n_in))
                a = a << wexp if wexp > 0 else a >> -wexp
                c = _lava_decay(u, int(du[j]) + 1) + (a << 6)
                wrapped = c - 2 * top if c > top else c
                u = c + 2 * top if wrapped <= -top else wrapped
                v = _lava_decay(v, int(dv[j])) + u + (int(bmant[j]) << int(bexp[j]))
                v = max(-top + 1, min(top - 1, v))
                z = v > (int(vth[j]) << 6)
                if z:
                    v = 0
                spikes[t, b, j], u_tr[t, b, j], v_tr[t, b, j] = int(z), u, v
    return spikes, u_tr, v_tr


def _spikes(gen, steps, batch, n, high):
    return torch.randint(0, high + 1, (steps, batch, n), generator=gen) * (
        torch.rand(steps, batch, n, generator=gen) < 0.4
    )


# ----------------------------------------------------------------------------- bit accuracy


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_xylo_integer_simulation_matches_the_reference_bit_for_bit(seed):
    gen = torch.Generator().manual_seed(seed)
    n_in, n_out, steps, batch = 6, 5, 40, 3
    w = torch.randint(-128, 128, (n_out, n_in), generator=gen)
    shift = [0, 3, 7][seed]  # shift 7 drives the 16-bit saturation
    layer = {
        "weight": w,
        "dash_mem": torch.randint(1, 16, (n_out,), generator=gen),
        "dash_syn": torch.randint(1, 16, (n_out,), generator=gen),
        "threshold": torch.randint(1, 3000, (n_out,), generator=gen),
        "bias": torch.randint(-200, 200, (n_out,), generator=gen),
    }
    s = _spikes(gen, steps, batch, n_in, 20)  # counts above 15 are clipped by the input layer
    q = QuantizedModel("xylo-audio2", "model", [layer], [shift])
    out, (trace,) = q(s.double())
    ref = ref_xylo_layer(
        s.numpy(),
        w.numpy(),
        shift,
        *(layer[k].numpy() for k in ("dash_mem", "dash_syn", "threshold", "bias")),
        15,
        1,
    )
    assert np.array_equal(trace.spikes.numpy(), ref[0])
    assert np.array_equal(trace.current.numpy(), ref[1])
    assert np.array_equal(trace.voltage.numpy(), ref[2])
    assert np.array_equal(out.numpy(), ref[0])
    assert ref[0].sum() > 0 and (ref[2] < 0).any()
    if shift == 7:
        assert (np.abs(ref[1]) == 32767).any() or (ref[1] == -32768).any()  # saturation exercised


def test_xylo_hidden_layers_fire_several_spikes_and_arrive_one_step_later():
    gen = torch.Generator().manual_seed(5)
    hid = {
        "weight": torch.randint(20, 128, (4, 3), generator=gen),
        "dash_mem": torch.full((4,), 2),
        "dash_syn": torch.full((4,), 1),
        "threshold": torch.full((4,), 40),
        "bias": torch.zeros(4, dtype=torch.int64),
    }
    out_l = {
        "weight": torch.randint(-30, 60, (2, 4), generator=gen),
        "dash_mem": torch.full((2,), 3),
        "dash_syn": torch.full((2,), 2),
        "threshold": torch.full((2,), 50),
        "bias": torch.zeros(2, dtype=torch.int64),
    }
    s = _spikes(gen, 25, 2, 3, 3)
    chip = QuantizedModel("xylo-audio2", "chip", [hid, out_l], [2, 1])
    out, (h, o) = chip(s.double())
    assert chip.latency == 1 and h.spikes.shape[0] == 26
    ref_h = ref_xylo_layer(
        s.numpy(),
        hid["weight"].numpy(),
        2,
        *(hid[k].numpy() for k in ("dash_mem", "dash_syn", "threshold", "bias")),
        15,
        31,
    )
    assert np.array_equal(h.spikes[:25].numpy(), ref_h[0]) and ref_h[0].max() > 1  # multi-spike
    delayed = np.concatenate([np.zeros_like(h.spikes[:1].numpy()), h.spikes[:-1].numpy()])
    ref_o = ref_xylo_layer(
        delayed,
        out_l["weight"].numpy(),
        1,
        *(out_l[k].numpy() for k in ("dash_mem", "dash_syn", "threshold", "bias")),
        31,
        1,
    )
    assert np.array_equal(o.spikes.numpy(), ref_o[0]) and ref_o[0].max() == 1
    assert np.array_equal(out.numpy(), ref_o[0][1:])  # latency-compensated readout


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loihi2_integer_simulation_matches_the_reference_bit_for_bit(seed):
    gen = torch.Generator().manual_seed(10 + seed)
    n_in, n_out, steps, batch = 7, 5, 40, 3
    w = 2 * torch.randint(-128, 128, (n_out, n_in), generator=gen)
    wexp = [-3, 2, 7][seed]  # 7 with many inputs overflows u: the 24-bit wrap is exercised
    layer = {
        "weight": w,
        "du": torch.randint(0, 4096, (n_out,), generator=gen),
        "dv": torch.randint(0, 4096, (n_out,), generator=gen),
        "vth": torch.randint(1, 2**17, (n_out,), generator=gen),
        "bias_mant": torch.randint(-4096, 4096, (n_out,), generator=gen),
        "bias_exp": torch.randint(0, 8, (n_out,), generator=gen),
    }
    s = _spikes(gen, steps, batch, n_in, 3)
    q = QuantizedModel("loihi2", "model", [layer], [wexp])
    out, (trace,) = q(s.float())
    ref = ref_loihi_layer(
        s.numpy(), w.numpy(), wexp, *(layer[k].numpy() for k in ("du", "dv", "vth", "bias_mant", "bias_exp"))
    )
    assert np.array_equal(trace.spikes.numpy(), ref[0])
    assert np.array_equal(trace.current.numpy(), ref[1])
    assert np.array_equal(trace.voltage.numpy(), ref[2])
    assert np.array_equal(out.numpy(), ref[0])
    assert (ref[2] != 0).any()
    # chip timing: lava's Dense answers one step later
    chip = QuantizedModel("loihi2", "chip", [layer], [wexp])
    _, (tr_chip,) = chip(s.float())
    shifted = torch.cat([torch.zeros_like(s[:1]), s])
    ref_chip = ref_loihi_layer(
        shifted.numpy(),
        w.numpy(),
        wexp,
        *(layer[k].numpy() for k in ("du", "dv", "vth", "bias_mant", "bias_exp")),
    )
    assert np.array_equal(tr_chip.spikes.numpy(), ref_chip[0])


# ----------------------------------------------------------------------------- mapping


def _net(tau_syn=None):
    gen = torch.Generator().manual_seed(3)
    lin = torch.nn.Linear(6, 4)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(4, 6, generator=gen))
        lin.bias.copy_(0.05 * torch.randn(4, generator=gen))
    return sf.Sequential(lin, sf.neurons.LIF(4, tau_mem=20.0, tau_syn=tau_syn, v_th=1.0, dt=10.0))


def test_loihi2_parameters_follow_the_documented_mapping():
    net = _net(tau_syn=15.0)
    q = quantize(net, "loihi2")
    p = q.layer(0)
    k = 1 - math.exp(-10.0 / 20.0)
    alpha = math.exp(-10.0 / 15.0)
    assert int(p["dv"][0]) == round(4096 * k)
    assert int(p["du"][0]) == round(4096 * (1 - alpha)) - 1
    e = q.shifts[0]
    w_eff = k * net[0].weight.detach().double()
    s = 127 * 2 ** (e + 7) / float(w_eff.abs().max())
    assert s * 1.0 <= 2**21 < 2 * s  # the largest exponent with 4x headroom
    assert torch.equal(p["weight"], 2 * torch.round(w_eff * s / 2 ** (e + 7)).long())
    assert int(p["weight"].abs().max()) == 254 and bool((p["weight"] % 2 == 0).all())
    assert int(p["vth"][0]) == round(s / 64)
    assert int(quantize(_net(), "loihi2").layer(0)["du"][0]) == 4095  # no tau_syn: u cleared each step


def test_xylo_decays_follow_rockpool():
    q = quantize(_net(tau_syn=40.0), "xylo-imu")
    p = q.layer(0)
    assert int(p["dash_mem"][0]) == round(math.log2(20.0 / 10.0)) == 1
    assert int(p["dash_syn"][0]) == round(math.log2(40.0 / 10.0)) == 2
    assert int(p["weight"].abs().max()) == 127
    assert int(quantize(_net(), "xylo-audio3").layer(0)["dash_syn"][0]) == 1  # fastest synapse
    params = q.integer_parameters()
    assert set(params) >= {"layer0_weight", "layer0_threshold", "layer0_weight_shift"}


def _chain_net(sizes, seed):
    gen = torch.Generator().manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        lin = torch.nn.Linear(a, b)
        with torch.no_grad():
            lin.weight.copy_(3 * (0.2 + torch.randn(b, a, generator=gen)) / a**0.5)
            lin.bias.zero_()
        layers += [lin, sf.neurons.LIF(b, tau_mem=20.0, dt=10.0)]
    return sf.Sequential(*layers)


def test_xylo_calibration_matches_the_float_layer_at_least_as_well_as_the_default():
    net = _chain_net((12, 16, 4), 7)
    gen = torch.Generator().manual_seed(8)
    x = (torch.rand(30, 64, 12, generator=gen) < 0.3).double()
    with torch.no_grad():
        hidden = net[1](net[0](x.float()))[0]

    def hidden_error(q):
        _, traces = q(x)
        return float(((traces[0].spikes.sum(0).double() - hidden.sum(0).double()) ** 2).mean())

    default = quantize(net, "xylo-audio2", timing="model")
    calibrated = quantize(net, "xylo-audio2", timing="model", calibration=x)
    assert hidden_error(calibrated) <= hidden_error(default)
    with pytest.raises(sf.errors.ShapeError, match="calibration"):
        quantize(net, "xylo-audio2", calibration=x[..., :5])


def test_xylo_hidden_to_hidden_layers_share_one_weight_shift():
    q = quantize(_chain_net((10, 12, 40, 9, 3), 4), "xylo-audio2")
    assert q.shifts[1] == q.shifts[2]
    assert q.latency == 3 and q.n_layers == 4


def test_errors_name_the_problem():
    with pytest.raises(UnsupportedExportError, match="speck"):
        quantize(_net(), "speck")
    with pytest.raises(ParameterError, match="xylo-audio2"):
        quantize(_net(), "xylo")
    with pytest.raises(UnsupportedExportError, match="the module after '0' is ALIF"):
        quantize(sf.Sequential(torch.nn.Linear(3, 2), sf.neurons.ALIF(2)), "loihi2")
    with pytest.raises(ParameterError, match="timing"):
        quantize(_net(), "loihi2", timing="fast")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- the demo task


def test_quantized_demo_network_loses_at_most_two_points(capsys):
    """The demo network trained one epoch (as tests/hardware/test_demo_export.py does), run on the
    360 NDigits test samples in float, and quantized for Loihi 2 and Xylo Audio 2 (chip timing,
    latency-compensated readout)."""
    torch.set_num_threads(2)
    train = data.NDigits("train", n_time_bins=N_TIME_BINS, flatten=True)
    test = data.NDigits("test", n_time_bins=N_TIME_BINS, flatten=True)
    model = build_demo_model(seed=0)
    trainer = Trainer(
        model, torch.optim.Adam(model.parameters(), lr=5e-3), readout="spike_count", seed=0, progress=False
    )
    trainer.fit(make_loader(train, 32, shuffle=True, seed=0, collate_fn=data.pad_collate), 1)
    model.eval()
    x, labels = data.pad_collate([test[i] for i in range(len(test))])
    assert x.shape[1] == 360

    def accuracy(out: torch.Tensor) -> float:
        return float((out.sum(0).argmax(-1) == labels).float().mean())

    with torch.no_grad():
        ref, _ = model(x)
    acc_float = accuracy(ref)
    assert acc_float > 0.5
    figures = {"float": acc_float}
    for target in ("loihi2", "xylo-audio2"):
        q = quantize(model, target)
        out, traces = q(x)
        figures[target] = accuracy(out)
        assert traces[-1].spikes.sum() > 0
    print(" ".join(f"{k}: {100 * v:.1f}%" for k, v in figures.items()))
    for target in ("loihi2", "xylo-audio2"):
        assert figures[target] >= acc_float - 0.02, figures
