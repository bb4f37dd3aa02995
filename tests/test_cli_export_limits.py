"""``spikeforge export --target CHIP`` refuses a model that breaks the chip's limits (exit code 2,
the report on stdout, a one-line reason on stderr, nothing written) unless ``--force``; and
``quantize`` warns in Python for the same model."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

import spikeforge as sf
from spikeforge.cli import main
from spikeforge.demo import build_demo_model
from spikeforge.hardware import quantize


@pytest.fixture
def demo_pt(tmp_path):
    """The demo network (200 inputs, 10 outputs): too wide for Xylo's 16 inputs and 8 outputs."""
    path = tmp_path / "model.pt"
    torch.save(build_demo_model(seed=3).state_dict(), path)
    return path


def _small_net() -> sf.Sequential:
    """16 inputs, 8 outputs, 32 hidden LIF neurons: fits Xylo Audio 2."""
    gen = torch.Generator().manual_seed(0)
    lin1, lin2 = torch.nn.Linear(16, 32), torch.nn.Linear(32, 8)
    with torch.no_grad():
        for lin in (lin1, lin2):
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=gen) / lin.in_features**0.5)
            lin.bias.zero_()
    lif1 = sf.neurons.LIF(32, dt=10.0, reset="subtract")
    return sf.Sequential(lin1, lif1, lin2, sf.neurons.LIF(8, dt=10.0, reset="subtract"))


def test_a_model_that_does_not_fit_is_refused_and_nothing_is_written(demo_pt, tmp_path, capsys):
    out = tmp_path / "x.npz"
    assert main(["export", str(demo_pt), "--target", "xylo-audio2", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert "check against xylo-audio2: 4 violation(s)" in captured.out
    assert "200 input channels exceed xylo-audio2's 16" in captured.out
    err = captured.err.strip()
    assert err.startswith("spikeforge export: the model does not fit xylo-audio2: 4 violation(s)")
    assert "nothing was written" in err and "--force" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert not out.exists() and not (tmp_path / "x.npz.json").exists()


def test_force_writes_the_parameters_and_records_it(demo_pt, tmp_path, capsys):
    out = tmp_path / "x.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the CLI prints the violations once, no Python warning
        assert main(["export", str(demo_pt), "--target", "xylo-audio2", "--out", str(out), "--force"]) == 0
    text = capsys.readouterr().out
    assert "--force: writing despite 4 violation(s)" in text and f"wrote {out}" in text
    info = json.loads((tmp_path / "x.npz.json").read_text())
    assert info["forced"] is True and not info["check"]["ok"]
    assert out.stat().st_size > 0


def test_a_model_that_fits_is_written_without_force(demo_pt, tmp_path, capsys):
    out = tmp_path / "l.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["export", str(demo_pt), "--target", "loihi2", "--out", str(out)]) == 0
    assert "check against loihi2: fits" in capsys.readouterr().out
    info = json.loads((tmp_path / "l.npz.json").read_text())
    assert info["forced"] is False and info["check"]["ok"] and out.is_file()


def test_contradicting_flags_and_chips_without_integer_form(demo_pt, tmp_path, capsys):
    args = ["export", str(demo_pt), "--target", "xylo-audio2", "--out", str(tmp_path / "y.npz")]
    assert main([*args, "--strict", "--force"]) == 2
    assert "--strict and --force" in capsys.readouterr().err
    # --strict (the default behaviour now) still refuses, and says so
    assert main([*args, "--strict"]) == 2
    assert "--strict: the model does not fit" in capsys.readouterr().err
    # no integer form: --force cannot help, and the error says what is missing
    speck = ["export", str(demo_pt), "--target", "speck", "--out", str(tmp_path / "s.npz"), "--force"]
    assert main(speck) == 2
    assert "no integer form" in capsys.readouterr().err
    assert not any(tmp_path.glob("*.npz*"))


def test_help_names_force(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["export", "--help"])
    assert exc.value.code == 0
    assert "--force" in capsys.readouterr().out


def test_quantize_warns_for_a_model_that_does_not_fit():
    with pytest.warns(UserWarning, match=r"does not fit xylo-audio2 \(4 violation\(s\).*200 input channels"):
        quantize(build_demo_model(seed=0), "xylo-audio2")
    with warnings.catch_warnings(record=True) as seen:  # once: not again per layer, nor per run
        warnings.simplefilter("always")
        q = quantize(build_demo_model(seed=0), "xylo-audio2")
        q(torch.zeros(3, 2, 200))
    assert [str(w.message)[:40] for w in seen] == ["quantize: the model does not fit xylo-au"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quantize(_small_net(), "xylo-audio2")  # fits: no warning


def test_a_reset_to_value_is_refused_on_xylo_with_what_to_change(tmp_path, capsys):
    """16 inputs and 8 outputs fit Xylo; the reset to v_reset does not (Xylo subtracts its
    threshold), and the report says how to train a model that fits."""
    from spikeforge.modelfile import save_model

    net = _small_net()
    for i in (1, 3):
        net[i].reset = "to_value"
    path = save_model(net, tmp_path / "model.pt")
    out = tmp_path / "x.npz"
    assert main(["export", str(path), "--target", "xylo-audio2", "--out", str(out)]) == 2
    text = capsys.readouterr().out
    assert "2 violation(s)" in text and "--reset subtract" in text and "v_th - v_leak" in text
    assert not out.exists()
    net[1].reset = net[3].reset = "subtract"
    assert main(["export", str(save_model(net, path)), "--target", "xylo-audio2", "--out", str(out)]) == 0


def test_train_rejects_an_unknown_reset(tmp_path, capsys):
    from spikeforge.commands import train_command
    from spikeforge.errors import ParameterError

    with pytest.raises(ParameterError, match="reset must be 'to_value' or 'subtract', got 'zero'"):
        train_command("ndigits16", reset="zero", out=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(SystemExit):
        main(["train", "ndigits16", "--reset", "zero"])
    assert "invalid choice: 'zero'" in capsys.readouterr().err
