"""``spikeforge train --delays``: the DCLS recipe from the command line (issue 15, item 1)."""

from __future__ import annotations

import pytest
import torch

from spikeforge import data
from spikeforge.cli import main
from spikeforge.modelfile import load_model
from spikeforge.plasticity import LearnableDelay


@pytest.mark.slow  # NDigits is built and one epoch trained: ~8 s of CPU
def test_train_with_learned_delays_saves_integer_delays(tmp_path, capsys):
    out = tmp_path / "t"
    argv = [
        "train",
        "ndigits",
        "--epochs",
        "1",
        "--hidden",
        "8",
        "--bin-ms",
        "30",
        "--delays",
        "60",
        "--sigma-start",
        "30",
        "--sigma-end",
        "15",
        "--delay-lr-scale",
        "50",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    model, info = load_model(out / "model.pt")
    layer = model[0]
    assert isinstance(layer, LearnableDelay) and not isinstance(model[2], LearnableDelay)
    assert float(layer.sigma) == 0.0 and info["data"]["max_delay_ms"] == 60.0
    d = layer.delay.detach()
    assert float(d.min()) >= 0.0 and float(d.max()) <= 2.0  # clamped to [0, 60 ms] = [0, 2] bins
    # the reported accuracy is that of the saved model, with its delays rounded to whole bins
    test = data.NDigits("test", n_time_bins=10, flatten=True)
    x, y = data.pad_collate([test[i] for i in range(len(test))])
    with torch.no_grad():
        acc = float((model(x.to(layer.weight.dtype))[0].sum(0).argmax(-1) == y).double().mean())
    assert f"test accuracy: {100 * acc:.1f}%" in printed


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--delays", "55"], "max_delay must be a multiple of dt"),
        (["--delays", "-10"], "delays (the maximum delay) must be a number of ms > 0"),
        (["--delays", "nan"], "delays (the maximum delay) must be a number of ms > 0"),
        (["--sigma-end", "1"], "need delays (--delays MAX_MS)"),
        (["--delays", "50", "--sigma-fraction", "0"], "fraction must be in (0, 1]"),
        (["--delays", "50", "--sigma-start", "1", "--sigma-end", "2"], "sigma_end must be <= sigma_start"),
        (["--delays", "50", "--delay-lr-scale", "0"], "delay_lr_scale must be a finite number > 0"),
    ],
)
def test_bad_delay_options_exit_2_with_one_line(tmp_path, capsys, extra, message):
    assert main(["train", "ndigits", *extra, "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_a_model_with_learned_delays_round_trips_and_export_says_why_not(tmp_path, capsys):
    from spikeforge.commands import feedforward_snn
    from spikeforge.modelfile import save_model

    model = feedforward_snn([5, 4, 3], dt=2.0, seed=0, max_delay=8.0)
    model[0].set_sigma(0.0)
    path = save_model(model, tmp_path / "model.pt", data={"bin_ms": 2.0})
    again, _ = load_model(path)
    x = (torch.rand(12, 2, 5, generator=torch.Generator().manual_seed(0)) < 0.4).float()
    assert torch.equal(again(x)[0], model(x)[0]) and float(again[0].sigma) == 0.0
    assert torch.equal(again[0].delay, model[0].delay)
    pytest.importorskip("nir")
    assert main(["export", str(path), "--out", str(tmp_path / "m.nir")]) == 2
    err = capsys.readouterr().err
    assert "per-synapse delays have no NIR node" in err and "Traceback" not in err
