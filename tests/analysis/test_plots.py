"""Plots: each returns the Axes it drew on, with the data in it; matplotlib is imported lazily."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import matplotlib
import numpy as np
import pytest
import torch

import spikeforge.analysis as sfa
from spikeforge.errors import ShapeError

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_importing_analysis_does_not_import_matplotlib():
    code = textwrap.dedent(
        """
        import sys
        import spikeforge.analysis
        assert "matplotlib" not in sys.modules, "matplotlib imported"
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_raster_draws_every_spike_on_given_or_new_axes():
    times = torch.tensor([1.0, 5.0, 7.5, 9.0])
    idx = np.array([0, 2, 1, 2])
    ax = sfa.raster(times, idx)
    assert isinstance(ax, Axes)
    np.testing.assert_allclose(ax.collections[0].get_offsets(), np.c_[times.numpy(), idx])
    fig, (a1, a2) = plt.subplots(1, 2)
    assert sfa.raster(times, idx, ax=a2, c="r") is a2
    assert not a1.collections and a2.get_xlabel() == "time (ms)"
    with pytest.raises(ShapeError, match="same length"):
        sfa.raster(times, idx[:2])


def test_rate_and_isi_plots():
    rng = np.random.default_rng(0)
    train = np.cumsum(rng.exponential(20.0, 500))
    ax = sfa.plot_population_rate(train, n_neurons=1, bin_ms=100.0, t_stop=5000.0)
    heights = ax.patches[0].get_data()[0]
    _, rate = sfa.population_rate(train, n_neurons=1, bin_ms=100.0, t_stop=5000.0)
    np.testing.assert_allclose(heights, rate / 1e-3)  # shown in Hz
    assert isinstance(sfa.plot_rate_distribution(rng.random(50) * 0.05), Axes)
    assert sfa.plot_isi_histogram(train, bin_ms=5.0).get_xlabel() == "inter-spike interval (ms)"


def test_spectrum_weight_matrix_and_curves():
    w = np.random.default_rng(1).standard_normal((60, 60)) / np.sqrt(60)
    ax = sfa.plot_spectrum(w)
    assert ax.collections[0].get_offsets().shape == (60, 2)
    assert len(ax.get_lines()) == 1  # the circular-law circle
    ax = sfa.plot_weight_matrix(w)
    lo, hi = ax.images[0].get_clim()
    assert lo == -hi  # diverging colours centred on 0
    ax = sfa.plot_learning_curve({"a": [1.0, 0.5, 0.25], "b": [1.0, 0.8, 0.6]}, steps=[0, 10, 20])
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    assert ax.get_yscale() == "log"
    ax = sfa.plot_kernel_alignment([1.0, 0.9, 0.85])
    assert ax.get_ylim()[1] == pytest.approx(1.05)


def test_learning_curve_accepts_a_training_history():
    from spikeforge.training import History

    h = History()
    for e, loss in enumerate([0.9, 0.5, 0.3], start=1):
        h.append(epoch=e, step=e * 10, train_loss=loss, train_accuracy=0.5, val_loss=loss + 0.1,
                 val_accuracy=None, wall_time=1.0)  # fmt: skip
    ax = sfa.plot_learning_curve(h)
    assert [line.get_label() for line in ax.get_lines()] == ["train_loss", "val_loss"]
