"""The main job in one call: train a spiking network on the embedded event dataset.

``spikeforge demo`` (the README's first command) runs :func:`train_demo`: the 1,797 8x8
scikit-learn digits turned into events by the event-camera emulator (three saccades,
:class:`spikeforge.data.NDigits`, no download), a two-layer LIF network trained by BPTT with
surrogate gradients and a spike-count cross-entropy, then the test accuracy, a learning curve and
a raster plot of the trained network.

    >>> from spikeforge.demo import train_demo
    >>> result = train_demo("out", epochs=10)      # doctest: +SKIP
    test accuracy: 96.7%
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from . import data
from .commands import feedforward_snn
from .modelfile import save_model
from .sequential import Sequential
from .training import History, Trainer, make_loader
from .training.metrics import predict

__all__ = ["DemoResult", "build_demo_model", "train_demo"]

N_TIME_BINS = 30  # 300 ms samples in 10 ms bins
DT = 300.0 / N_TIME_BINS  # ms per step


@dataclass
class DemoResult:
    """What :func:`train_demo` produced."""

    test_accuracy: float  # fraction in [0, 1]
    seconds: float  # wall time of data preparation and training
    history: History
    model: Sequential
    files: dict[str, Path]


def build_demo_model(n_in: int = 200, n_hidden: int = 128, n_out: int = 10, *, seed: int = 0) -> Sequential:
    """The demo network: ``Linear -> LIF -> Linear -> LIF``, weights drawn from a seeded generator.

    LIF: tau_mem 20 ms, dt 10 ms, threshold 1, reset to 0, fast-sigmoid surrogate of slope 10.
    """
    return feedforward_snn([n_in, n_hidden, n_out], dt=DT, tau_mem=20.0, seed=seed)


def train_demo(
    out_dir: str | Path = "out",
    *,
    epochs: int = 10,
    seed: int = 0,
    progress: bool = True,
    resume: bool = False,
) -> DemoResult:
    """Train the demo network on NDigits; save the learning curve, a raster plot, the weights and
    the trained network as a NIR graph.

    Args:
        out_dir: folder for ``learning_curve.png``, ``raster.png``, ``model.pt`` (the weights with
            their description, see :mod:`spikeforge.modelfile`), ``model.nir`` (the faithful NIR
            graph of :func:`spikeforge.hardware.to_nir`, written when nir is installed) and
            checkpoints. Each file's path is printed.
        epochs: training epochs (about 4 s each on two CPU cores).
        seed: seed of the weight initialisation and the data order.
        progress: show a tqdm progress bar.
        resume: continue from ``out_dir/checkpoints`` if a checkpoint is there.

    Returns:
        A :class:`DemoResult`; the test accuracy is also printed as ``test accuracy: NN.N%``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    train = data.NDigits("train", n_time_bins=N_TIME_BINS, flatten=True)
    test = data.NDigits("test", n_time_bins=N_TIME_BINS, flatten=True)
    model = build_demo_model(seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    checkpoints = out / "checkpoints"
    trainer = Trainer(
        model,
        optimizer,
        readout="spike_count",
        seed=seed,
        progress=progress,
        checkpoint_dir=checkpoints,
    )
    train_loader = make_loader(train, 32, shuffle=True, seed=seed, collate_fn=data.pad_collate)
    test_loader = make_loader(test, 128, shuffle=False, seed=seed, collate_fn=data.pad_collate)
    last = checkpoints / "last.pt"
    history = trainer.fit(
        train_loader,
        epochs,
        val_loader=test_loader,
        resume=last if resume and last.exists() else None,
    )
    accuracy = float(trainer.evaluate(test_loader)["accuracy"])
    seconds = time.perf_counter() - start
    print(f"test accuracy: {100 * accuracy:.1f}%")
    print(f"time: {seconds:.1f} s for {epochs} epochs on {len(train)} training samples")

    files = {
        "learning_curve": history.plot(out / "learning_curve.png", title="NDigits, LIF 200-128-10"),
        "raster": _raster_plot(model, test, out / "raster.png"),
        "model": out / "model.pt",
    }
    save_model(model, files["model"], data={"dataset": "ndigits", "bin_ms": DT, "duration_ms": 300.0})
    try:
        import nir

        from .hardware import to_nir

        files["nir"] = out / "model.nir"
        nir.write(files["nir"], to_nir(model, dt=DT, importer=None))
    except ImportError:
        print("model.nir not written: NIR export needs nir (pip install 'spikeforge[nir]')")
    for name, path in files.items():
        print(f"{name}: {path}")
    return DemoResult(accuracy, seconds, history, model, files)


def _raster_plot(model: Sequential, dataset: data.NDigits, path: Path) -> Path:
    """Input events, hidden spikes and output spikes of the trained network for one test digit."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x, label = dataset[0]
    with torch.no_grad():
        h = model[0](x)
        z_hidden, _ = model[1](h.unsqueeze(1))
        z_out, _ = model[3](model[2](z_hidden))
    fig = Figure(figsize=(8, 7), constrained_layout=True)
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [2, 2, 1]})
    times = torch.arange(x.shape[0]) * DT
    for ax, spikes, name in (
        (axes[0], x, "input (ON/OFF pixels)"),
        (axes[1], z_hidden[:, 0], "hidden LIF"),
        (axes[2], z_out[:, 0], "output LIF (digit)"),
    ):
        t_idx, n_idx = torch.nonzero(spikes, as_tuple=True)
        ax.scatter(times[t_idx], n_idx, s=4, marker="|", c="k")
        ax.set_ylabel(name)
    counts = z_out[:, 0].sum(0)
    predicted = int(predict(z_out, readout="spike_count")[0])  # as the accuracy counts it
    axes[2].axhspan(predicted - 0.5, predicted + 0.5, color="tab:orange", alpha=0.25, lw=0)
    axes[2].axhspan(int(label) - 0.5, int(label) + 0.5, fill=False, ec="tab:green", lw=1.5)
    axes[2].set_ylim(-0.5, z_out.shape[-1] - 0.5)
    axes[2].set_xlabel("time (ms)")
    verdict = "right" if predicted == int(label) else "wrong"
    axes[0].set_title(
        f"test digit: true {int(label)} (green box), predicted {predicted} (orange, {verdict}); "
        f"output spike counts {counts.int().tolist()}",
        fontsize=9,
    )
    fig.savefig(path, dpi=110)
    return path
