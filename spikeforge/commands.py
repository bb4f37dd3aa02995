"""What ``spikeforge train`` and ``spikeforge simulate`` do (the command line calls these).

>>> from spikeforge.commands import train_command
>>> result = train_command("ndigits", epochs=1, out="out/train")     # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from . import data
from .errors import ParameterError
from .modelfile import save_model
from .neurons import LIF
from .plasticity import LearnableDelay
from .sequential import Sequential
from .surrogate import FastSigmoid
from .training import DelayAnnealing, History, Trainer, delay_param_groups, make_loader

__all__ = ["DATASETS", "BUILDERS", "train_command", "simulate_command"]

# dataset name -> (inputs, classes, test split name)
DATASETS: dict[str, tuple[int, int, str]] = {
    "ndigits": (200, 10, "test"),
    "ndigits16": (16, 8, "test"),
    "nmnist": (2 * 34 * 34, 10, "test"),
    "shd": (700, 20, "test"),
    "ssc": (700, 35, "test"),
    "dvs-gesture": (2 * 32 * 32, 11, "test"),
}
_DURATION_MS = {"ndigits": 300.0, "nmnist": 300.0, "shd": 1000.0, "ssc": 1000.0, "dvs-gesture": 1500.0}
_DURATION_MS["ndigits16"] = _DURATION_MS["ndigits"]
# builder name -> (function name in spikeforge.circuits.builders, fixed keyword arguments)
_BUILDER_SPECS: dict[str, tuple[str, dict[str, Any]]] = {
    "cuba": ("cuba", {}),
    "coba": ("coba", {}),
    "izhikevich2003": ("izhikevich2003", {}),
    "brunel-sr": ("brunel", {"regime": "SR"}),
    "brunel-ai": ("brunel", {"regime": "AI"}),
    "brunel-si-fast": ("brunel", {"regime": "SI_fast"}),
    "brunel-si-slow": ("brunel", {"regime": "SI_slow"}),
}
BUILDERS = tuple(_BUILDER_SPECS)


def _datasets(name: str, root: str | None, bin_ms: float) -> tuple[Any, ...]:
    """Train and test datasets of dense ``[T, features]`` tensors for ``name``."""
    duration_us = int(round(_DURATION_MS[name] * 1000))
    bin_us = int(round(bin_ms * 1000))
    if name == "ndigits16":
        steps = int(round(_DURATION_MS[name] / bin_ms))
        return (_ndigits16("train", steps), _ndigits16("test", steps))
    if name == "ndigits":
        steps = int(round(_DURATION_MS[name] / bin_ms))
        return tuple(data.NDigits(split, n_time_bins=steps, flatten=True) for split in ("train", "test"))
    if root is None:
        raise ParameterError(f"dataset {name!r} is read from local files: give --root FOLDER")
    if name == "nmnist":

        def frames(ev: np.ndarray) -> torch.Tensor:
            return data.to_frames(ev, (34, 34, 2), bin_us=bin_us, duration_us=duration_us, crop=True).flatten(
                1
            )

        return tuple(data.NMNIST(root, split, transform=frames) for split in ("train", "test"))
    if name in ("shd", "ssc"):

        def channels(ev: np.ndarray) -> torch.Tensor:
            return data.to_channels(ev, 700, bin_us=bin_us, duration_us=duration_us, crop=True)

        cls = data.SHD if name == "shd" else data.SSC
        return tuple(cls(root, split, transform=channels) for split in ("train", "test"))

    def pooled(ev: np.ndarray) -> torch.Tensor:  # DVS Gesture: 128x128 summed to 32x32
        f = data.to_frames(ev, (128, 128, 2), bin_us=bin_us, duration_us=duration_us, crop=True)
        return f.reshape(f.shape[0], 2, 32, 4, 32, 4).sum((3, 5)).flatten(1)

    return tuple(data.DVSGesture(root, split, transform=pooled) for split in ("train", "test"))


def _ndigits16(split: Literal["train", "test"], steps: int) -> torch.utils.data.TensorDataset:
    """NDigits in the size of Xylo Audio 2 (16 inputs, 8 outputs): digits 0-7, the two polarities
    summed, the central 8x8 pixels summed in 2x2 blocks (16 channels), counts clipped to 15 per
    step (what a Xylo input channel takes); samples ``([T, 16], label)``."""
    x, y = data.NDigits(split, n_time_bins=steps).tensors()  # [T, N, 2, 10, 10]
    keep = y < 8
    x = x[:, keep].sum(2)[..., 1:9, 1:9]
    x = x.reshape(steps, -1, 4, 2, 4, 2).sum((3, 5)).reshape(steps, -1, 16).clamp(max=15)
    return torch.utils.data.TensorDataset(x.transpose(0, 1).contiguous(), y[keep])


def _linear(n_in: int, n_out: int, generator: torch.Generator) -> nn.Linear:
    layer = nn.Linear(n_in, n_out)
    bound = 2.0 / math.sqrt(n_in)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.zero_()
    return layer


def feedforward_snn(
    sizes: list[int],
    *,
    dt: float,
    tau_mem: float = 20.0,
    seed: int = 0,
    max_delay: float | None = None,
    reset: Literal["to_value", "subtract"] = "to_value",
) -> Sequential:
    """``Linear -> LIF`` per layer for ``sizes = [n_in, hidden..., n_out]``, seeded weights;
    ``reset`` is the LIF's (``"subtract"`` is what Xylo's neurons do).

    With ``max_delay`` (ms, a multiple of ``dt``), every connection but the last (the readout) is a
    :class:`~spikeforge.plasticity.LearnableDelay` with delays drawn uniformly in
    ``[0, max_delay]`` (DCLS), and the same initial weights as the ``Linear`` it replaces.
    """
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise ParameterError(f"sizes must list at least an input and an output size >= 1, got {sizes!r}")
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    pairs = list(zip(sizes[:-1], sizes[1:]))
    for k, (n_in, n_out) in enumerate(pairs):
        lin = _linear(n_in, n_out, gen)
        conn: nn.Module = lin
        if max_delay is not None and k < len(pairs) - 1:
            conn = LearnableDelay(n_in, n_out, max_delay=max_delay, dt=dt, bias=True, generator=gen)
            with torch.no_grad():
                conn.weight.copy_(lin.weight)
                assert conn.bias is not None
                conn.bias.zero_()
        layers += [conn, LIF(n_out, tau_mem=tau_mem, dt=dt, reset=reset, surrogate=FastSigmoid(10.0))]
    return Sequential(*layers)


def train_command(
    dataset: str,
    *,
    root: str | None = None,
    epochs: int = 10,
    out: str | Path = "out/train",
    hidden: tuple[int, ...] = (128,),
    bin_ms: float = 10.0,
    batch_size: int = 32,
    lr: float = 5e-3,
    seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    delays: float | None = None,
    delay_lr_scale: float = 100.0,
    sigma_start: float | None = None,
    sigma_end: float | None = None,
    sigma_fraction: float = 0.5,
    reset: Literal["to_value", "subtract"] = "to_value",
) -> tuple[float, History]:
    """Train a feedforward LIF network on ``dataset``; returns (test accuracy, history).

    With ``delays`` (the maximum delay in ms, a multiple of ``bin_ms``) the hidden connections
    learn one delay per synapse in the DCLS manner (:mod:`spikeforge.training.delays`): the
    delays in an Adam group of learning rate ``delay_lr_scale * lr``, their Gaussian width
    annealed from ``sigma_start`` (default ``delays / 3``) to ``sigma_end`` (default half a bin)
    over the first ``sigma_fraction`` of the epochs, and rounded to whole bins at the end (the
    saved model and the reported accuracy use the integer delays).

    ``dataset`` ``"ndigits16"`` is NDigits in Xylo Audio 2's size (16 inputs, digits 0-7 on 8
    outputs); trained with ``reset="subtract"`` (Xylo lowers the membrane by the threshold on a
    spike) and ``bin_ms`` at most ``tau_mem / 2**0.5`` (Xylo's bit-shift decay needs
    ``round(log2(20 ms / bin_ms)) >= 1``), the model exports to ``xylo-audio2`` without
    ``--force``.

    Saves ``learning_curve.png``, ``model.pt`` (the weights with their description: sizes, dt =
    ``bin_ms``, neuron parameters, the dataset's binning; see :mod:`spikeforge.modelfile`, read it
    back with ``spikeforge.modelfile.load``) and checkpoints (``checkpoints/last.pt``) in ``out``.
    """
    if dataset not in DATASETS:
        raise ParameterError(f"dataset must be one of {sorted(DATASETS)}, got {dataset!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ParameterError(f"epochs must be an int >= 1, got {epochs!r}")
    if not (bin_ms > 0 and bin_ms <= _DURATION_MS.get(dataset, math.inf)):
        raise ParameterError(
            f"bin_ms must be > 0 ms and at most the sample duration "
            f"({_DURATION_MS.get(dataset, math.inf):g} ms for {dataset}), got {bin_ms!r}"
        )
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
        raise ParameterError(f"lr must be a finite number > 0, got {lr!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError(f"batch_size must be an int >= 1, got {batch_size!r}")
    annealing: DelayAnnealing | None = None
    if delays is not None:
        if isinstance(delays, bool) or not isinstance(delays, (int, float)) or not delays > 0:
            raise ParameterError(f"delays (the maximum delay) must be a number of ms > 0, got {delays!r}")
        if not hidden:
            raise ParameterError("delays needs at least one hidden layer (the readout has no delays)")
        annealing = DelayAnnealing(sigma_start=sigma_start, sigma_end=sigma_end, fraction=sigma_fraction)
    elif (sigma_start, sigma_end, sigma_fraction, delay_lr_scale) != (None, None, 0.5, 100.0):
        raise ParameterError("the sigma and delay learning-rate options need delays (--delays MAX_MS)")
    if reset not in ("to_value", "subtract"):
        raise ParameterError(f"reset must be 'to_value' or 'subtract', got {reset!r}")
    n_in, n_classes, _ = DATASETS[dataset]
    model = feedforward_snn([n_in, *hidden, n_classes], dt=bin_ms, seed=seed, max_delay=delays, reset=reset)
    params: Any = (
        model.parameters()
        if delays is None
        else delay_param_groups(model, lr=lr, delay_lr_scale=delay_lr_scale)
    )
    train, test = _datasets(dataset, root, bin_ms)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(
        model,
        torch.optim.Adam(params, lr=lr),
        readout="spike_count",
        seed=seed,
        progress=progress,
        checkpoint_dir=out / "checkpoints",
        delay_annealing=annealing,
    )
    train_loader = make_loader(train, batch_size, shuffle=True, seed=seed, collate_fn=data.pad_collate)
    test_loader = make_loader(test, 128, shuffle=False, seed=seed, collate_fn=data.pad_collate)
    last = out / "checkpoints" / "last.pt"
    history = trainer.fit(
        train_loader, epochs, val_loader=test_loader, resume=last if resume and last.exists() else None
    )
    accuracy = float(trainer.evaluate(test_loader)["accuracy"])
    history.plot(
        out / "learning_curve.png", title=f"{dataset}, LIF {'-'.join(map(str, [n_in, *hidden, n_classes]))}"
    )
    save_model(
        model,
        out / "model.pt",
        data={
            "dataset": dataset,
            "bin_ms": bin_ms,
            "duration_ms": _DURATION_MS[dataset],
            "n_classes": n_classes,
            **({} if delays is None else {"max_delay_ms": delays}),
        },
    )
    print(f"test accuracy: {100 * accuracy:.1f}%")
    print(f"saved {out / 'model.pt'}, {out / 'learning_curve.png'}")
    return accuracy, history


def simulate_command(
    builder: str,
    *,
    duration: float = 1000.0,
    out: str | Path = "out/simulate",
    seed: int = 0,
    n: int | None = None,
    progress: bool = True,
    export_pynn: str | Path | None = None,
) -> dict[str, float]:
    """Build a circuit with ``builder``, run it for ``duration`` ms, save a raster plot.

    Builders: ``cuba``, ``coba``, ``izhikevich2003`` and ``brunel-sr`` / ``-ai`` / ``-si-fast`` /
    ``-si-slow`` (Brunel 2000 regimes). ``n`` is the total number of neurons (builder default
    if None). Returns the mean rate (Hz) per population; prints them.

    ``export_pynn``: also write the circuit, before it runs, as a standalone PyNN script there
    (:meth:`~spikeforge.circuits.Network.to_pynn_script`, ``duration`` as its default). PyNN's
    shortest delay is one step, so ``cuba`` and ``coba`` (delay 0 by default) are then built with
    ``delay = dt``, which is printed; a circuit PyNN cannot express is an error naming the part.
    """
    from .circuits import builders

    if builder not in BUILDERS:
        raise ParameterError(f"builder must be one of {list(BUILDERS)}, got {builder!r}")
    if not duration > 0:
        raise ParameterError(f"duration must be > 0 ms, got {duration!r}")
    func, fixed = _BUILDER_SPECS[builder]
    make: Callable[..., Any] = getattr(builders, func)
    size: dict[str, Any] = {}
    if n is not None:  # total size; Brunel and Izhikevich 2003 take their excitatory share
        size = {"n": n} if func in ("cuba", "coba") else {"n_exc": int(round(0.8 * n))}
        if func == "izhikevich2003":
            size["n_inh"] = n - size["n_exc"]
    extra: dict[str, Any] = {}
    if export_pynn is not None and func in ("cuba", "coba"):
        extra = {"delay": 0.1}  # the builders' dt
        print(f"{builder}: delay = dt = 0.1 ms for PyNN (its shortest delay; the builder's default is 0)")
    net = make(seed=seed, **fixed, **size, **extra)
    if export_pynn is not None:
        print(f"saved {net.to_pynn_script(export_pynn, duration=duration)}")
    monitors = {name: net.record_spikes(name) for name in net.population_names}
    net.run(duration, progress=progress)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rates: dict[str, float] = {}
    for name, mon in monitors.items():
        rates[name] = float(mon.count.mean() / (duration / 1000.0))
        print(f"{name}: {rates[name]:.2f} Hz mean rate, {int(mon.count.sum())} spikes")
    _raster(monitors, out / f"{builder}_raster.png", title=f"{builder}, {duration:g} ms")
    print(f"saved {out / f'{builder}_raster.png'}")
    return rates


def _raster(monitors: dict[str, Any], path: Path, *, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 5), constrained_layout=True)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    offset = 0
    for name, mon in monitors.items():
        ax.scatter(mon.t, mon.i + offset, s=0.5, label=name)
        offset += mon.n
    ax.set(xlabel="time (ms)", ylabel="neuron", title=title)
    ax.legend(loc="upper right", markerscale=10)
    fig.savefig(path, dpi=110)
