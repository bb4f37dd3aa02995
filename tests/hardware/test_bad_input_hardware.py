"""Bad input to export and quantization (issue 16): NaN never becomes INT64_MIN, corrupt files
are typed errors, and a model file carries its own dt and sizes through export."""

from __future__ import annotations

import pytest
import torch

import spikeforge as sf
from spikeforge.errors import ParameterError, ShapeError
from spikeforge.hardware import quantize
from spikeforge.modelfile import ModelFileError, load_model, save_model


def _model(fill: float | None = None, dt: float = 1.0, hidden: int = 4) -> sf.Sequential:
    g = torch.Generator().manual_seed(0)
    net = sf.Sequential(
        torch.nn.Linear(3, hidden),
        sf.neurons.LIF(hidden, dt=dt),
        torch.nn.Linear(hidden, 2),
        sf.neurons.LIF(2, dt=dt),
    )
    with torch.no_grad():
        for lin in (net[0], net[2]):
            lin.weight.copy_(torch.rand(lin.weight.shape, generator=g))
        if fill is not None:
            net[2].weight[1, 0] = fill
    return net


# ---------------------------------------------------------------- the cases
@pytest.mark.parametrize("target", ["xylo-audio2", "loihi2"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_do_not_quantize_to_int64_min(target, bad):
    with pytest.raises(ParameterError, match=r"quantize: layer 1 weight must be finite"):
        quantize(_model(bad), target)


def test_nan_parameter_of_a_neuron_is_refused():
    net = _model()
    net[1]._buffers["v_leak"] = torch.tensor(float("nan"))  # bypassing the checks, as a bad file would
    with pytest.raises(ParameterError, match=r"layer 0 v_leak must be finite"):
        quantize(net, "xylo-audio2")


def test_quantized_model_refuses_nan_input():
    q = quantize(_model(), "xylo-audio2")
    with pytest.raises(ParameterError, match="finite spike counts"):
        q(torch.full((3, 1, 3), float("nan")))
    with pytest.raises(ShapeError):
        q(torch.ones(3, 1, 5))


# ---------------------------------------------------------------- model files
@pytest.mark.parametrize(("dt", "hidden"), [(20.0, 64), (0.5, 7)])
def test_model_file_round_trip_keeps_dt_sizes_and_spikes(tmp_path, dt, hidden):
    net = _model(dt=dt, hidden=hidden)
    path = save_model(net, tmp_path / "m.pt", data={"bin_ms": dt})
    again, info = load_model(path)
    assert again[1].dt == dt and again[0].out_features == hidden and info["data"]["bin_ms"] == dt
    x = (torch.rand(10, 2, 3, generator=torch.Generator().manual_seed(1)) < 0.5).to(torch.get_default_dtype())
    assert torch.equal(again(x)[0], net(x)[0])
    assert sf.load(path)[3].dt == dt


def test_model_file_keeps_neuron_parameters(tmp_path):
    net = sf.Sequential(
        torch.nn.Linear(3, 2),
        sf.neurons.LIF(
            2, dt=2.0, tau_mem=torch.tensor([5.0, 9.0]), tau_syn=3.0, v_th=0.7, t_ref=4.0, reset="subtract"
        ),
    )
    again = sf.load(save_model(net, tmp_path / "m.pt"))
    lif = again[1]
    assert lif.tau_mem.tolist() == [5.0, 9.0] and float(lif.tau_syn) == 3.0 and float(lif.t_ref) == 4.0
    assert lif.reset == "subtract" and lif.has_syn


def test_corrupt_model_file_fails_its_checksum(tmp_path):
    path = save_model(_model(), tmp_path / "m.pt")
    obj = torch.load(path, weights_only=True)
    obj["state_dict"]["0.weight"][0, 0] += 1.0
    torch.save(obj, path)
    with pytest.raises(ModelFileError, match="checksum"):
        load_model(path)


def test_model_file_of_a_newer_version_and_unknown_layers(tmp_path):
    path = save_model(_model(), tmp_path / "m.pt")
    obj = torch.load(path, weights_only=True)
    torch.save({**obj, "version": 99}, tmp_path / "new.pt")
    with pytest.raises(ModelFileError, match="version 99"):
        load_model(tmp_path / "new.pt")
    layers = [dict(obj["layers"][0], type="Conv9d"), *obj["layers"][1:]]
    torch.save({**obj, "layers": layers}, tmp_path / "conv.pt")
    with pytest.raises(ModelFileError, match="unknown type 'Conv9d'"):
        load_model(tmp_path / "conv.pt")


def test_model_file_with_invalid_neuron_parameters(tmp_path):
    path = save_model(_model(), tmp_path / "m.pt")
    obj = torch.load(path, weights_only=True)
    obj["layers"][1]["params"]["tau_mem"] = -5.0
    torch.save(obj, path)
    with pytest.raises(ModelFileError, match="tau_mem must be > 0"):
        load_model(path)


def test_model_file_that_is_not_one(tmp_path):
    (tmp_path / "junk.pt").write_text("junk")
    with pytest.raises(ModelFileError, match="junk.pt: not a readable torch file"):
        load_model(tmp_path / "junk.pt")
    torch.save({"w": torch.zeros(2)}, tmp_path / "sd.pt")
    with pytest.raises(ModelFileError, match="not a spikeforge model file"):
        load_model(tmp_path / "sd.pt")


def test_read_netx_of_a_non_hdf5_file(tmp_path):
    pytest.importorskip("h5py")
    from spikeforge.hardware import read_netx

    (tmp_path / "x.net").write_text("junk")
    with pytest.raises(ParameterError, match="x.net' is not a readable HDF5 netx file"):
        read_netx(tmp_path / "x.net")


def test_from_nir_of_a_junk_file(tmp_path):
    pytest.importorskip("nir")
    from spikeforge.hardware import from_nir

    (tmp_path / "j.nir").write_text("junk")
    with pytest.raises(ParameterError, match="not an HDF5 NIR file"):
        from_nir(tmp_path / "j.nir")
