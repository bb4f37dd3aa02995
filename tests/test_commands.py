"""`spikeforge train` and `spikeforge simulate`, through spikeforge.commands."""

import numpy as np
import pytest

from spikeforge.commands import simulate_command, train_command
from spikeforge.data import make_events, write_shd
from spikeforge.errors import ParameterError


def test_train_on_the_embedded_digits(tmp_path):
    accuracy, history = train_command("ndigits", epochs=1, out=tmp_path, progress=False)
    assert accuracy > 0.5  # chance is 0.1
    assert len(history) == 1
    for name in ("model.pt", "learning_curve.png", "checkpoints/last.pt"):
        assert (tmp_path / name).is_file(), name


def test_train_reads_shd_files_from_a_root_folder(tmp_path):
    rng = np.random.default_rng(0)

    def sample(label):  # class k fires channels 100k..100k+50 early
        t = rng.integers(0, 100_000, 300)
        x = 100 * label + rng.integers(0, 50, 300)
        return make_events(x=x, y=np.zeros_like(x), t=np.sort(t), p=np.ones_like(x))

    labels = [k % 2 for k in range(40)]
    for split in ("train", "test"):
        write_shd(tmp_path / f"shd_{split}.h5", [sample(k) for k in labels], labels)
    accuracy, _ = train_command(
        "shd", root=str(tmp_path), epochs=3, out=tmp_path / "out", hidden=(32,), bin_ms=20.0, progress=False
    )
    assert accuracy >= 0.9


def test_train_errors_name_the_argument(tmp_path):
    with pytest.raises(ParameterError, match="dataset"):
        train_command("mnist", out=tmp_path)
    with pytest.raises(ParameterError, match="--root"):
        train_command("shd", out=tmp_path)
    with pytest.raises(FileNotFoundError, match="shd_train.h5"):
        train_command("shd", root=str(tmp_path), out=tmp_path)
    with pytest.raises(ParameterError, match="epochs"):
        train_command("ndigits", epochs=0, out=tmp_path)


def test_simulate_cuba_runs_and_saves_a_raster(tmp_path):
    rates = simulate_command("cuba", duration=100.0, n=1000, out=tmp_path, progress=False)
    assert set(rates) == {"exc", "inh"}
    assert all(0.1 < r < 200 for r in rates.values())
    assert (tmp_path / "cuba_raster.png").stat().st_size > 10_000
    with pytest.raises(ParameterError, match="builder"):
        simulate_command("brian", out=tmp_path)


@pytest.mark.parametrize("builder, n", [("brunel-ai", 1250), ("izhikevich2003", 500), ("coba", 4000)])
def test_simulate_other_builders(tmp_path, builder, n):
    rates = simulate_command(builder, duration=50.0, n=n, out=tmp_path, progress=False)
    assert {"exc", "inh"} <= set(rates)
    assert all(0.0 < r < 600.0 for r in rates.values())
