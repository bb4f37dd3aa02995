"""The command line and the README's demo (the neuron tour)."""

import pytest

from spikeforge.cli import main


def test_tour_saves_a_figure(tmp_path, capsys):
    assert main(["tour", "--out", str(tmp_path)]) == 0
    png = tmp_path / "neuron_tour.png"
    assert png.is_file() and png.stat().st_size > 20_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = capsys.readouterr().out
    for model in ("LIF", "ALIF", "Izhikevich RS", "probabilistic neuron"):
        assert model in text


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit) as exc:
        main(["fly"])
    assert exc.value.code == 2


def test_demo_trains_and_reports(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--epochs", "2", "--no-progress"]) == 0
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if x.startswith("test accuracy: "))
    accuracy = float(line.removeprefix("test accuracy: ").removesuffix("%"))
    assert 70.0 < accuracy <= 100.0  # chance is 10%; two epochs reach about 90%
    for name in ("learning_curve.png", "raster.png", "model.pt", "model.nir", "checkpoints/last.pt"):
        assert (tmp_path / name).is_file(), name
    assert f"nir: {tmp_path / 'model.nir'}" in text.splitlines()  # the path is printed
    # model.nir is the trained network: it runs with the spikes of model.pt on test digits
    pytest.importorskip("nir")
    import torch

    from spikeforge import data
    from spikeforge.demo import build_demo_model
    from spikeforge.hardware import from_nir

    trained = build_demo_model()
    trained.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True)["state_dict"])
    exported = from_nir(tmp_path / "model.nir")
    assert exported[1].dt == trained[1].dt == 10.0
    test = data.NDigits("test", n_time_bins=30, flatten=True)
    x, _ = data.pad_collate([test[i] for i in range(40)])
    with torch.no_grad():
        ref = trained(x)[0]
        assert torch.equal(exported(x)[0], ref)
    assert ref.sum() > 0


def test_export_the_demo_model_to_nir_and_back(tmp_path, capsys):
    nir = pytest.importorskip("nir")
    import torch

    from spikeforge.demo import build_demo_model
    from spikeforge.hardware import from_nir

    model = build_demo_model(seed=3)
    torch.save(model.state_dict(), tmp_path / "model.pt")
    out = tmp_path / "model.nir"
    assert main(["export", str(tmp_path / "model.pt"), "--target", "nir", "--out", str(out)]) == 0
    again = from_nir(nir.read(str(out)))
    x = (torch.rand(30, 4, 200, generator=torch.Generator().manual_seed(0)) < 0.2).float()
    assert torch.equal(model(x)[0], again(x)[0])
    assert main(["export", str(out), "--out", str(tmp_path / "b.nir"), "--importer", "norse"]) == 0


def test_export_to_chip_targets(tmp_path, capsys):
    """--target xylo-audio2 / loihi2: the check report is printed and saved, and the integer
    parameters written are those of quantize(); --strict fails on violations; chips without an
    integer form and unknown targets are clear errors."""
    import json

    import numpy as np
    import torch

    from spikeforge.demo import build_demo_model
    from spikeforge.hardware import quantize

    model = build_demo_model(seed=3)
    torch.save(model.state_dict(), tmp_path / "model.pt")
    for target in ("xylo-audio2", "loihi2"):
        out = tmp_path / f"{target}.npz"
        force = ["--force"] if target == "xylo-audio2" else []  # 200 inputs: refused without --force
        args = ["export", str(tmp_path / "model.pt"), "--target", target, "--out", str(out), *force]
        assert main(args) == 0
        text = capsys.readouterr().out
        assert f"check against {target}" in text and f"wrote {out}" in text
        params = np.load(out)
        expected = quantize(model, target).integer_parameters()
        assert set(params.files) == set(expected)
        for key, value in expected.items():
            assert np.array_equal(params[key], value), key
        info = json.loads((tmp_path / f"{target}.npz.json").read_text())
        assert info["check"]["target"] == target
    xylo = json.loads((tmp_path / "xylo-audio2.npz.json").read_text())
    assert not xylo["check"]["ok"] and any("16" in v for v in xylo["check"]["violations"])
    assert (
        main(
            [
                "export",
                str(tmp_path / "model.pt"),
                "--target",
                "xylo-audio2",
                "--strict",
                "--out",
                str(tmp_path / "s.npz"),
            ]
        )
        == 2
    )
    assert "--strict" in capsys.readouterr().err and not (tmp_path / "s.npz").exists()
    assert (
        main(["export", str(tmp_path / "model.pt"), "--target", "speck", "--out", str(tmp_path / "x")]) == 2
    )
    captured = capsys.readouterr()
    assert "check against speck" in captured.out and "no integer form" in captured.err
    assert main(["export", "model.pt", "--target", "tpu", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "'tpu'" in err and "xylo-audio2" in err
    assert not (tmp_path / "x").exists()


def test_export_a_nir_file_keeps_its_dt(tmp_path, capsys):
    """A .nir input is re-exported at its own dt (here 1 ms, not the demo's 10 ms), also as a
    preset graph; what a preset cannot run (an LI readout) is a clear error."""
    nir = pytest.importorskip("nir")
    import torch

    import spikeforge as sf
    from spikeforge.hardware import from_nir, to_nir

    net = sf.Sequential(torch.nn.Linear(4, 6), sf.neurons.LIF(6, tau_mem=5.0, dt=1.0))
    nir.write(tmp_path / "a.nir", to_nir(net))
    out = tmp_path / "sub" / "b.nir"  # the folder is created
    assert main(["export", str(tmp_path / "a.nir"), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert from_nir(out)[1].dt == 1.0
    assert main(["export", str(out), "--out", str(tmp_path / "c.nir"), "--importer", "snntorch"]) == 0
    assert "snntorch" in capsys.readouterr().out
    assert nir.read(str(tmp_path / "c.nir")).metadata["importer"] == "snntorch"
    readout = sf.Sequential(*net, torch.nn.Linear(6, 2), sf.neurons.LI(2, dt=1.0))
    nir.write(tmp_path / "li.nir", to_nir(readout))
    assert (
        main(["export", str(tmp_path / "li.nir"), "--out", str(tmp_path / "d.nir"), "--importer", "norse"])
        == 2
    )
    assert "cannot run a leaky integrator" in capsys.readouterr().err


def test_export_of_a_file_that_is_not_the_demo_model(tmp_path, capsys):
    import torch

    pytest.importorskip("nir")
    torch.save({"weight": torch.zeros(3)}, tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    torch.save([1, 2], tmp_path / "list.pt")
    cases = {
        "other.pt": "not the demo network's state_dict",
        "junk.pt": "neither a .nir file nor a state_dict",
        "list.pt": "not a state_dict",
        "missing.pt": "no such file",
    }
    for name, message in cases.items():
        assert main(["export", str(tmp_path / name), "--out", str(tmp_path / "x.nir")]) == 2, name
        assert message in capsys.readouterr().err, name
    assert not (tmp_path / "x.nir").exists()


def test_train_and_simulate_commands_run(tmp_path, capsys):
    assert main(["train", "ndigits", "--epochs", "1", "--out", str(tmp_path / "t"), "--no-progress"]) == 0
    assert "test accuracy: " in capsys.readouterr().out
    assert main(["train", "shd", "--out", str(tmp_path / "s")]) == 2
    assert "--root" in capsys.readouterr().err
    assert (
        main(
            [
                "simulate",
                "cuba",
                "--duration",
                "50",
                "--n",
                "800",
                "--out",
                str(tmp_path / "c"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert (tmp_path / "c" / "cuba_raster.png").is_file()
