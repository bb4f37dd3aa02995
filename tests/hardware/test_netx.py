"""lava-dl netx HDF5: the real networks shipped with lava-dl read with the right parameters, run as
an independent numpy Loihi CUBA simulation does, and write back to identical datasets; spikeforge
models round-trip with the same spikes."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.errors import MissingDependencyError, UnsupportedExportError
from spikeforge.hardware import read_netx, write_netx
from spikeforge.plasticity import FixedDelay

h5py = pytest.importorskip("h5py")

DATA = Path(__file__).parent / "data"
TINY = DATA / "lava_dl_tiny.net"
NTIDIGITS = DATA / "lava_dl_ntidigits.net"


def _datasets(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
        )
    return out


@pytest.mark.parametrize(("path", "num_layers"), [(TINY, None), (NTIDIGITS, 5)])
def test_real_files_write_back_identically(tmp_path, path, num_layers):
    """read -> write gives every dataset of the read layers back: values, dtype and shape."""
    model = read_netx(path, num_layers=num_layers)
    out = tmp_path / "again.net"
    write_netx(model, out)
    original, again = _datasets(path), _datasets(out)
    if num_layers is not None:
        original = {k: v for k, v in original.items() if not k.startswith(f"layer/{num_layers}")}
    assert sorted(original) == sorted(again)
    for key, value in original.items():
        other = again[key]
        assert np.asarray(value).dtype == np.asarray(other).dtype, key
        assert np.shape(value) == np.shape(other), key
        assert np.array_equal(value, other), key
    # and a second read gives the same model
    back = read_netx(out)
    for a, b in zip(model.state_dict().items(), back.state_dict().items()):
        assert a[0] == b[0] and torch.equal(a[1], b[1]), a[0]


def test_tiny_parameters():
    model = read_netx(TINY)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["NetxInput", "LIF", "Conv2d", "LIF", "Conv2d", "LIF"]
    raw = _datasets(TINY)
    conv = model[2]
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride) == (3, 24, (5, 5), (2, 2))
    np.testing.assert_array_equal(conv.weight.detach().numpy(), raw["layer/1/weight"][..., 0] / 64)
    np.testing.assert_array_equal(conv.bias.detach().numpy(), raw["layer/1/bias"] / 64)
    lif = model[3]
    assert lif.shape == (24, 6, 6) and not lif.has_syn  # iDecay = 4096: no current state
    assert float(lif.v_th) == raw["layer/1/neuron/vThMant"] / 64 == 25 / 64
    k = raw["layer/1/neuron/vDecay"] / 4096
    assert float(lif.tau_mem) == pytest.approx(-1.0 / math.log(1 - k), rel=1e-6)
    out, _ = model(torch.rand(10, 2, 3, 16, 16))
    assert out.shape == (10, 2, 36, 1, 1)


def _loihi_reference(raw: dict[str, np.ndarray], layers: list[int], x: np.ndarray) -> np.ndarray:
    """Loihi's CUBA dense layers in float numpy (lava-dl slayer cuba.Neuron, netx delays):
    u = (1 - iDecay/4096) u + W s[t - d_j], v = (1 - vDecay/4096) v + u, spike v > vThMant, v = 0."""
    s = x
    for li in layers:
        w = raw[f"layer/{li}/weight"].astype(np.float64)
        d = raw[f"layer/{li}/delay"].astype(int) if f"layer/{li}/delay" in raw else np.zeros(w.shape[0], int)
        du = raw[f"layer/{li}/neuron/iDecay"] / 4096
        dv = raw[f"layer/{li}/neuron/vDecay"] / 4096
        th = raw[f"layer/{li}/neuron/vThMant"]
        steps, batch = s.shape[:2]
        drive = s @ w.T  # [T, B, out]
        u = np.zeros((batch, w.shape[0]))
        v = np.zeros_like(u)
        out = np.zeros((steps, batch, w.shape[0]))
        for t in range(steps):
            delayed = np.where(t - d >= 0, drive[np.clip(t - d, 0, None), :, np.arange(w.shape[0])].T, 0.0)
            u = (1 - du) * u + delayed
            v = (1 - dv) * v + u
            out[t] = v > th
            v = np.where(out[t] > 0, 0.0, v)
        s = out
    return s


def test_ntidigits_runs_as_a_numpy_loihi_simulation(gen):
    model = read_netx(NTIDIGITS, num_layers=5, dtype=torch.float64)
    assert [type(m).__name__ for m in model] == [
        "Flatten", "Linear", "FixedDelay", "LIF", "Linear", "FixedDelay", "LIF", "Linear", "LIF",
    ]  # fmt: skip
    raw = _datasets(NTIDIGITS)
    assert torch.equal(model[2].steps, torch.as_tensor(raw["layer/2/delay"]).long())
    # layer by layer, each driven by the reference's input spikes (float rounding of k*r*i against
    # u flips rare spikes, which a deep run would then amplify)
    s = (torch.rand(150, 3, 64, generator=gen, dtype=torch.float64) < 0.2).double().numpy()
    blocks = {2: model[1:4], 3: model[4:7], 4: model[7:9]}
    for li, block in blocks.items():
        ref = _loihi_reference(raw, [li], s)
        with torch.no_grad():
            out, _ = sf.Sequential(*block)(torch.as_tensor(s))
        assert ref.sum() > 20, li
        flips = np.abs(out.numpy() - ref).sum() / ref.sum()
        assert flips < 0.002, (li, flips)
        s = ref


def test_unsupported_layer_is_named():
    with pytest.raises(UnsupportedExportError, match=r"layer 5 \('average'\)"):
        read_netx(NTIDIGITS)


def _grid_model(gen: torch.Generator, syn: bool) -> sf.Sequential:
    """A model whose parameters lie on netx's grid (even integer weights / 64, integer decays)."""
    layers: list[nn.Module] = []
    for n_in, n_out in ((16, 24), (24, 8)):
        lin = nn.Linear(n_in, n_out, bias=not syn)
        with torch.no_grad():
            lin.weight.copy_(2 * torch.randint(-30, 40, (n_out, n_in), generator=gen) / 64)
            if lin.bias is not None:
                lin.bias.copy_(2 * torch.randint(-5, 10, (n_out,), generator=gen) / 64)
        v_decay = torch.randint(200, 1500, (n_out,), generator=gen).double()
        k = v_decay / 4096
        lif = sf.neurons.LIF(
            n_out,
            tau_mem=-1.0 / torch.log1p(-k),
            tau_syn=(-1.0 / torch.log1p(-torch.full((n_out,), 1024.0) / 4096)) if syn else None,
            v_th=torch.randint(40, 120, (n_out,), generator=gen) / 64,
            r=1.0 / k,
        )
        layers += [lin, lif]
    return sf.Sequential(*layers).double()


@pytest.mark.parametrize("syn", [False, True])
def test_spikeforge_model_round_trips(tmp_path, gen, syn):
    model = _grid_model(gen, syn)
    path = tmp_path / "model.net"
    write_netx(model, path)
    raw = _datasets(path)
    assert raw["layer/1/type"][0] == b"dense" and raw["layer/1/neuron/type"] == b"CUBA"
    np.testing.assert_array_equal(raw["layer/1/weight"], model[0].weight.detach().numpy() * 64)
    assert raw["layer/1/neuron/iDecay"] == (1024 if syn else 4096)
    back = read_netx(path, dtype=torch.float64)
    x = (torch.rand(100, 4, 16, generator=gen, dtype=torch.float64) < 0.3).double()
    with torch.no_grad():
        a, b = model(x)[0], back(x)[0]
    assert 0.02 < float(a.mean()) < 0.95
    assert torch.equal(a, b)


def test_write_folds_k_times_r_into_the_weights(tmp_path):
    lif = sf.neurons.LIF(2, tau_mem=10.0, r=1.0)  # v += k * i, not i: weights scale by k
    lin = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    write_netx(sf.Sequential(lin, lif), tmp_path / "k.net")
    k = 1 - math.exp(-0.1)
    raw = _datasets(tmp_path / "k.net")
    assert raw["layer/1/neuron/vDecay"] == round(4096 * k)
    np.testing.assert_array_equal(raw["layer/1/weight"], np.full((2, 3), 2 * round(64 * k / 2), np.float32))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"reset": "subtract"}, "subtract"), ({"v_leak": 0.1}, "v_leak"), ({"t_ref": 2.0}, "t_ref")],
)
def test_write_refuses_what_loihi_cannot_run(tmp_path, kwargs, match):
    model = sf.Sequential(nn.Linear(3, 2), sf.neurons.LIF(2, **kwargs))
    with pytest.raises(UnsupportedExportError, match=match):
        write_netx(model, tmp_path / "x.net")


def test_write_refuses_bias_with_synaptic_current(tmp_path):
    model = sf.Sequential(nn.Linear(3, 2), sf.neurons.LIF(2, tau_syn=5.0))
    with pytest.raises(UnsupportedExportError, match="bias"):
        write_netx(model, tmp_path / "x.net")


def test_missing_h5py_gives_an_install_hint(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(MissingDependencyError, match="pip install"):
        read_netx(TINY)
    with pytest.raises(MissingDependencyError, match="h5py"):
        write_netx(sf.Sequential(nn.Linear(2, 2), sf.neurons.LIF(2)), tmp_path / "x.net")


def test_fixed_delay_is_written(tmp_path, gen):
    model = _grid_model(gen, syn=True)
    layers = list(model)
    delays = torch.randint(0, 5, (24,), generator=gen).double()
    model = sf.Sequential(layers[0], FixedDelay(delays, dt=1.0), *layers[1:]).double()
    write_netx(model, tmp_path / "d.net")
    raw = _datasets(tmp_path / "d.net")
    np.testing.assert_array_equal(raw["layer/1/delay"], delays.numpy())
    back = read_netx(tmp_path / "d.net", dtype=torch.float64)
    x = (torch.rand(60, 2, 16, generator=gen, dtype=torch.float64) < 0.3).double()
    with torch.no_grad():
        assert torch.equal(model(x)[0], back(x)[0])
