"""Bad input at the command line (issue 16): one line and exit code 2 for a user's mistake, no
traceback (``--debug`` shows it), and any model ``spikeforge train`` makes goes through
``spikeforge export`` with its own dt and sizes."""

from __future__ import annotations

import pytest
import torch

from spikeforge.cli import main


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


# ---------------------------------------------------------------- the cases
def test_export_of_a_trained_model_keeps_its_dt_and_sizes(tmp_path, capsys):
    """What `train ndigits --bin-ms 20 --hidden 64` writes, without the training: exported to
    NIR with dt 20 ms (not the demo's 10) and the same spikes."""
    nir = pytest.importorskip("nir")
    from spikeforge.commands import feedforward_snn
    from spikeforge.hardware import from_nir
    from spikeforge.modelfile import save_model

    model = feedforward_snn([200, 64, 10], dt=20.0, seed=3)
    save_model(model, tmp_path / "model.pt", data={"dataset": "ndigits", "bin_ms": 20.0})
    out = tmp_path / "m.nir"
    assert main(["export", str(tmp_path / "model.pt"), "--out", str(out)]) == 0
    graph = nir.read(out)
    assert float(graph.metadata["dt_ms"]) == 20.0 and float(graph.metadata["dt"]) == pytest.approx(0.02)
    exported = from_nir(out)
    x = (torch.rand(15, 4, 200, generator=torch.Generator().manual_seed(0)) < 0.3).to(
        torch.get_default_dtype()
    )
    with torch.no_grad():
        ref = model(x * 3.0)[0]
        assert torch.equal(exported(x * 3.0)[0], ref) and ref.sum() > 0


@pytest.mark.slow
def test_train_then_export_gives_the_trained_accuracy(tmp_path, capsys):
    """The acceptance run of issue 16, one epoch: train at 20 ms bins with 64 hidden neurons,
    export to NIR, and the NIR model classifies the test set exactly as the trained one."""
    nir = pytest.importorskip("nir")
    from spikeforge import data
    from spikeforge.hardware import from_nir

    args = ["train", "ndigits", "--bin-ms", "20", "--hidden", "64", "--epochs", "1", "--no-progress"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("test accuracy: "))
    trained = float(line.removeprefix("test accuracy: ").removesuffix("%"))
    assert main(["export", str(tmp_path / "model.pt"), "--out", str(tmp_path / "m.nir")]) == 0
    assert float(nir.read(tmp_path / "m.nir").metadata["dt_ms"]) == 20.0
    model = from_nir(tmp_path / "m.nir")
    test = data.NDigits("test", n_time_bins=15, flatten=True)
    x, y = data.pad_collate([test[i] for i in range(len(test))])
    with torch.no_grad():
        acc = float((model(x)[0].sum(0).argmax(-1) == y).double().mean())
    assert round(100 * acc, 1) == trained


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "ndigits", "--lr", "-1"], "lr must be a finite number > 0"),
        (["train", "ndigits", "--lr", "nan"], "lr must be a finite number > 0"),
        (["train", "ndigits", "--bin-ms", "1000"], "at most the sample duration"),
        (["train", "ndigits", "--epochs", "0"], "epochs must be an int >= 1"),
        (["train", "ndigits", "--batch-size", "0"], "batch_size must be an int >= 1"),
        (["train", "ndigits", "--hidden", "0"], "sizes must list"),
        (["simulate", "cuba", "--duration", "1e300"], "one run takes at most"),
        (["simulate", "cuba", "--duration", "inf"], "duration must be a finite number"),
        (["simulate", "cuba", "--n", "0"], "n must be an int"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(tmp_path, capsys, argv, message):
    assert main([*argv, "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err
    _no_traceback(err)


# ---------------------------------------------------------------- more of our own
def test_unwritable_output_folder_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["tour", "--out", str(blocker / "sub")]) == 2
    _no_traceback(capsys.readouterr().err)


def test_internal_error_is_one_line_with_exit_1_and_debug_shows_it(tmp_path, capsys, monkeypatch):
    import spikeforge.tour

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(spikeforge.tour, "neuron_tour", broken)
    assert main(["tour", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "internal error (RuntimeError: a bug)" in err and "--debug" in err
    _no_traceback(err)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["--debug", "tour", "--out", str(tmp_path)])


def test_debug_reraises_user_errors(tmp_path):
    from spikeforge.errors import ParameterError

    with pytest.raises(ParameterError, match="lr must be"):
        main(["--debug", "train", "ndigits", "--lr", "-1", "--out", str(tmp_path)])


def test_export_of_a_corrupt_model_file_exits_2(tmp_path, capsys):
    from spikeforge.commands import feedforward_snn
    from spikeforge.modelfile import save_model

    path = save_model(feedforward_snn([200, 8, 10], dt=20.0), tmp_path / "model.pt")
    obj = torch.load(path, weights_only=True)
    obj["state_dict"]["0.weight"][0, 0] += 1.0
    torch.save(obj, path)
    assert main(["export", str(path), "--out", str(tmp_path / "x.nir")]) == 2
    err = capsys.readouterr().err
    assert "checksum" in err
    _no_traceback(err)
    assert not (tmp_path / "x.nir").exists()


def test_export_of_a_bare_state_dict_of_the_demo_network_still_works(tmp_path):
    pytest.importorskip("nir")
    from spikeforge.demo import build_demo_model

    torch.save(build_demo_model().state_dict(), tmp_path / "model.pt")
    assert main(["export", str(tmp_path / "model.pt"), "--out", str(tmp_path / "m.nir")]) == 0
