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
    for name in ("learning_curve.png", "raster.png", "model.pt", "checkpoints/last.pt"):
        assert (tmp_path / name).is_file(), name
