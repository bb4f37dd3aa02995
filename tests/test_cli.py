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


def test_export_to_a_chip_target_is_a_clear_error(tmp_path, capsys):
    assert main(["export", "model.pt", "--target", "loihi2", "--out", str(tmp_path / "x")]) == 2
    assert "chip targets are not built yet" in capsys.readouterr().err


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
