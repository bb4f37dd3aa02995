"""Plots of the analyses: rasters, rate and ISI histograms, spectra, weight matrices, learning and
kernel-alignment curves.

Each function draws on ``ax`` (a new figure's axes when ``ax`` is None) and returns the
``matplotlib.axes.Axes``, so plots compose into the user's own figures. matplotlib is imported
inside the functions: ``import spikeforge.analysis`` does not import it. No function changes
matplotlib's global state (backend, style, rcParams). Times are shown in ms and rates in Hz
(the data stay in ms and spikes/ms, :mod:`spikeforge.units`).

Example:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from spikeforge.analysis import raster
    >>> ax = raster(np.array([1.0, 5.0, 7.5]), np.array([0, 2, 1]))
    >>> ax.get_xlabel()
    'time (ms)'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MissingDependencyError, ParameterError, ShapeError
from ..units import Hz
from ._common import as_array, as_matrix
from .connectivity import circular_law, eigenvalues
from .isi import isi_histogram
from .rates import population_rate

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "raster",
    "plot_population_rate",
    "plot_rate_distribution",
    "plot_isi_histogram",
    "plot_spectrum",
    "plot_weight_matrix",
    "plot_learning_curve",
    "plot_kernel_alignment",
]


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - matplotlib is a dependency
        raise MissingDependencyError("plots need matplotlib: pip install matplotlib") from e
    _, new = plt.subplots()
    return new


def _label(ax: Axes, xlabel: str, ylabel: str) -> None:
    """Name the axes where they have no name yet: a helper drawing on shared axes leaves the
    labels the caller (or another population's plot) set alone."""
    if not ax.get_xlabel():
        ax.set_xlabel(xlabel)
    if not ax.get_ylabel():
        ax.set_ylabel(ylabel)


def raster(
    times_ms: Any, indices: Any, ax: Axes | None = None, *, offset: int = 0, **scatter_kw: Any
) -> Axes:
    """Spike raster: one dot per spike, time against neuron index.

    Several populations share one axes with ``offset`` (the first row of this one), and each
    call's ``label=`` names its population in the legend; axis labels already set are kept.

    Args:
        times_ms: spike times in ms, 1-D (numpy or torch).
        indices: neuron index of each spike, 1-D, same length.
        ax: axes to draw on (default: a new figure).
        offset: added to every index (an int), to stack populations on one axes.
        **scatter_kw: passed to ``ax.scatter`` (default a small black marker).

    Returns:
        The axes.

    Raises:
        ShapeError: arrays not 1-D or of different lengths.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from spikeforge.analysis import raster, spike_events
        >>> spikes = np.random.default_rng(0).random((200, 30)) < 0.02   # [T, n], 1 ms steps
        >>> ax = raster(*spike_events(spikes, dt=1.0))
        >>> ax.get_ylabel()
        'neuron'
        >>> _ = ax.set_ylabel("exc (0-29) | inh (30-)")
        >>> ax = raster([5.0], [0], ax=ax, offset=30, label="inh")  # stacked; the label is kept
        >>> ax.get_ylabel(), ax.collections[-1].get_offsets()[0].tolist()
        ('exc (0-29) | inh (30-)', [5.0, 30.0])
    """
    t = as_array("times_ms", times_ms, ndim=1)
    i = as_array("indices", indices, ndim=1)
    if t.shape != i.shape:
        raise ShapeError(f"times_ms and indices must have the same length, got {t.size} and {i.size}")
    ax = _axes(ax)
    kw: dict[str, Any] = {"s": 2.0, "c": "k", "marker": "|" if t.size < 5000 else ".", "linewidths": 0.8}
    kw.update(scatter_kw)
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)):
        raise ParameterError(f"offset must be an int (a row index), got {offset!r}")
    ax.scatter(t, i + int(offset), **kw)
    _label(ax, "time (ms)", "neuron")
    return ax


def plot_population_rate(
    times_ms: Any,
    *,
    n_neurons: int,
    bin_ms: float = 5.0,
    t_start: float = 0.0,
    t_stop: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Population rate histogram over time (see :func:`~spikeforge.analysis.population_rate`), in Hz.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> ax = plot_population_rate([1.0, 2.0, 12.0], n_neurons=10, bin_ms=5.0, t_stop=20.0)
        >>> ax.get_ylabel()
        'population rate (Hz)'
    """
    edges, rate = population_rate(
        times_ms, n_neurons=n_neurons, bin_ms=bin_ms, t_start=t_start, t_stop=t_stop
    )
    ax = _axes(ax)
    ax.stairs(rate / Hz, edges, fill=True, alpha=0.7)
    _label(ax, "time (ms)", "population rate (Hz)")
    return ax


def plot_rate_distribution(rates: Any, *, bins: int = 30, ax: Axes | None = None) -> Axes:
    """Histogram of per-neuron firing rates (given per ms, as
    :func:`~spikeforge.analysis.firing_rates` returns them; shown in Hz).

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> ax = plot_rate_distribution(np.array([0.01, 0.02, 0.02, 0.05]))
        >>> ax.get_xlabel()
        'firing rate (Hz)'
    """
    r = as_array("rates", rates, ndim=1)
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ParameterError(f"bins must be an int >= 1, got {bins!r}")
    ax = _axes(ax)
    ax.hist(r / Hz, bins=bins, color="0.4")
    _label(ax, "firing rate (Hz)", "neurons")
    return ax


def plot_isi_histogram(
    spike_times_ms: Any, *, bin_ms: float = 1.0, max_ms: float | None = None, ax: Axes | None = None
) -> Axes:
    """ISI density (see :func:`~spikeforge.analysis.isi_histogram`), one train or a list pooled.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> ax = plot_isi_histogram(np.cumsum(np.full(20, 5.0)), bin_ms=1.0)
        >>> ax.get_xlabel()
        'inter-spike interval (ms)'
    """
    edges, density = isi_histogram(spike_times_ms, bin_ms=bin_ms, max_ms=max_ms)
    ax = _axes(ax)
    ax.stairs(density, edges, fill=True, alpha=0.7)
    _label(ax, "inter-spike interval (ms)", "density (1/ms)")
    return ax


def plot_spectrum(W: Any, *, circle: bool = True, ax: Axes | None = None) -> Axes:
    """Eigenvalues of a square matrix in the complex plane, with the circular-law disc.

    Args:
        W: square matrix ``[n, n]``.
        circle: draw the circle of radius :math:`\\sqrt{n\\,\\mathrm{Var}(W_{ij})}` predicted by
            the circular law (see :func:`~spikeforge.analysis.circular_law`).
        ax: axes to draw on.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> ax = plot_spectrum(np.random.default_rng(0).standard_normal((50, 50)) / np.sqrt(50))
        >>> ax.get_xlabel()
        'Re λ'
    """
    if circle:
        fit = circular_law(W)
        ev, radius = fit.eigenvalues, fit.predicted_radius
    else:
        ev, radius = eigenvalues(W), 0.0
    ax = _axes(ax)
    ax.scatter(ev.real, ev.imag, s=6, c="k", alpha=0.7, label="eigenvalues")
    if circle:
        phi = np.linspace(0.0, 2.0 * np.pi, 256)
        ax.plot(radius * np.cos(phi), radius * np.sin(phi), "r-", lw=1.0, label="circular law")
    ax.set_aspect("equal")
    _label(ax, "Re λ", "Im λ")
    return ax


def plot_weight_matrix(
    W: Any, *, ax: Axes | None = None, cmap: str = "RdBu_r", colorbar: bool = True
) -> Axes:
    """A weight matrix ``W[post, pre]`` as an image, diverging colours centred on 0.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> ax = plot_weight_matrix(np.array([[0.0, 1.0], [-2.0, 0.5]]))
        >>> ax.get_xlabel(), ax.get_ylabel()
        ('presynaptic', 'postsynaptic')
    """
    w = as_matrix("W", W)
    lim = float(np.abs(w).max()) or 1.0
    ax = _axes(ax)
    im = ax.imshow(w, cmap=cmap, vmin=-lim, vmax=lim, interpolation="nearest", aspect="auto")
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label="weight")
    _label(ax, "presynaptic", "postsynaptic")
    return ax


def _curves(name: str, curves: Any) -> dict[str, np.ndarray]:
    if isinstance(curves, Mapping):
        items = list(curves.items())
    elif hasattr(curves, "train_loss"):  # spikeforge.training.History
        items = [(k, getattr(curves, k)) for k in ("train_loss", "val_loss") if getattr(curves, k, None)]
    else:
        items = [("", curves)]
    out = {str(k): as_array(f"{name}[{k!r}]" if k else name, v, ndim=1) for k, v in items}
    if not out or any(v.size == 0 for v in out.values()):
        raise ParameterError(f"{name} must hold at least one non-empty curve")
    return out


def plot_learning_curve(
    curves: Any, *, steps: Any = None, log: bool = True, ax: Axes | None = None, ylabel: str = "loss"
) -> Axes:
    """Loss (or any metric) against training step.

    Args:
        curves: one curve (1-D), a dict ``{label: curve}``, or a
            :class:`spikeforge.training.History` (its ``train_loss`` and ``val_loss``).
        steps: x values shared by all curves (default 0, 1, 2, ...).
        log: logarithmic y axis.
        ax: axes to draw on.
        ylabel: y-axis label.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> ax = plot_learning_curve({"rank 1": [1.0, 0.5, 0.2], "full": [1.0, 0.7, 0.4]})
        >>> len(ax.get_lines())
        2
    """
    data = _curves("curves", curves)
    ax = _axes(ax)
    for label, y in data.items():
        x = np.arange(y.size) if steps is None else as_array("steps", steps, ndim=1)
        if x.size != y.size:
            raise ShapeError(f"steps has {x.size} values but the curve {label!r} has {y.size}")
        ax.plot(x, y, label=label or None)
    if log:
        ax.set_yscale("log")
    _label(ax, "step" if steps is None else "training step", ylabel)
    if any(data):
        ax.legend(frameon=False)
    return ax


def plot_kernel_alignment(
    curves: Any, *, steps: Any = None, ax: Axes | None = None, ylabel: str = "kernel alignment"
) -> Axes:
    """Kernel alignment (or kernel distance) over training, one curve per condition.

    Args:
        curves: one curve or a dict ``{label: curve}`` of values, e.g.
            :func:`~spikeforge.analysis.kernel_alignment` of ``K_0`` with ``K_t`` at each step.
        steps: x values shared by all curves.
        ax: axes to draw on.
        ylabel: y-axis label.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> ax = plot_kernel_alignment({"rank 1": [1.0, 0.8, 0.7]}, steps=[0, 50, 100])
        >>> [float(v) for v in ax.get_ylim()]
        [0.0, 1.05]
    """
    ax = plot_learning_curve(curves, steps=steps, log=False, ax=ax, ylabel=ylabel)
    lo = min(float(line.get_ydata().min()) for line in ax.get_lines())  # type: ignore[union-attr]
    ax.set_ylim(min(0.0, lo), 1.05)
    return ax
