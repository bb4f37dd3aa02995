"""The ``spikeforge`` command line.

```text
spikeforge demo [--out DIR]                  train an SNN on the embedded event digits (the main job)
spikeforge train DATASET [--root DIR] ...    train a feedforward LIF network on an event dataset
                 [--delays MAX_MS ...]       ... with learned delays (DCLS: --delay-lr-scale, --sigma-*)
                                             (ndigits16 --reset subtract: a model that fits Xylo)
spikeforge simulate BUILDER [--duration MS]  run a circuit builder and save a raster plot [--export-pynn PATH]
spikeforge export MODEL --target nir --out PATH [--importer snntorch|norse] [--metrics]
spikeforge export MODEL --target loihi2|xylo-audio2|xylo-audio3|xylo-imu|speck|... --out PATH [--force]
                 [--metrics]                 (refuses a model that breaks the chip's limits unless --force;
                                             --metrics: NeuroBench figures and energy per inference)
spikeforge tour [--out DIR]                  simulate each neuron model and save a figure
```
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import MissingDependencyError, ParameterError, SpikeforgeError, UnsupportedExportError

if TYPE_CHECKING:
    import torch

CHIP_TARGETS = ("loihi2", "xylo-audio2", "xylo-audio3", "xylo-imu", "speck", "spinnaker2", "brainscales2")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spikeforge", description="spikeforge: spiking networks in PyTorch")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train an SNN on the embedded event digits (NDigits)")
    demo.add_argument("--out", default="out", help="output folder (default: out)")
    demo.add_argument("--epochs", type=int, default=10, help="training epochs (default: 10)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the weights and data order (default: 0)")
    demo.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")

    from .commands import BUILDERS, DATASETS

    train = sub.add_parser("train", help="train a feedforward LIF network on an event dataset")
    train.add_argument("dataset", choices=sorted(DATASETS), help="dataset (ndigits is embedded)")
    train.add_argument("--root", default=None, help="folder holding the dataset's files")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--hidden", type=int, nargs="+", default=[128], help="hidden layer sizes")
    train.add_argument("--bin-ms", type=float, default=10.0, help="time bin = LIF dt in ms")
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--lr", type=float, default=5e-3)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default="out/train")
    train.add_argument("--resume", action="store_true")
    train.add_argument("--no-progress", action="store_true")
    train.add_argument(
        "--delays",
        type=float,
        default=None,
        metavar="MAX_MS",
        help="learn one delay per hidden synapse in [0, MAX_MS] (DCLS; a multiple of --bin-ms)",
    )
    train.add_argument(
        "--delay-lr-scale", type=float, default=100.0, help="delay learning rate / --lr (default: 100)"
    )
    train.add_argument("--sigma-start", type=float, default=None, help="initial delay width, ms (MAX_MS/3)")
    train.add_argument("--sigma-end", type=float, default=None, help="final delay width, ms (half a bin)")
    train.add_argument(
        "--sigma-fraction", type=float, default=0.5, help="part of the epochs the width decays over (0.5)"
    )
    train.add_argument(
        "--reset",
        choices=("to_value", "subtract"),
        default="to_value",
        help="LIF reset: to v_reset (default) or subtract the threshold (Xylo's; with dataset ndigits16 "
        "the model exports to xylo-audio2)",
    )

    sim = sub.add_parser("simulate", help="run a circuit builder and save a raster plot")
    sim.add_argument("builder", choices=BUILDERS)
    sim.add_argument("--duration", type=float, default=1000.0, help="simulated time in ms")
    sim.add_argument("--n", type=int, default=None, help="network size (builder default if omitted)")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--out", default="out/simulate")
    sim.add_argument("--no-progress", action="store_true")
    sim.add_argument(
        "--export-pynn", default=None, metavar="PATH", help="also write it as a standalone PyNN script"
    )

    export = sub.add_parser("export", help="export a trained model (the demo's model.pt, or a .nir file)")
    export.add_argument(
        "model", help="model.pt written by `spikeforge train` or `spikeforge demo`, or a .nir file"
    )
    export.add_argument(
        "--target",
        default="nir",
        help=f"nir (default) or a chip: {', '.join(CHIP_TARGETS)} (check, quantize, integer parameters)",
    )
    export.add_argument(
        "--out",
        required=True,
        help="output .nir file; for a chip, a .npz of integer parameters (a .json report beside it), or a "
        "lava-dl netx .net/.h5 file for loihi2",
    )
    export.add_argument(
        "--force",
        action="store_true",
        help="chip targets: write the integer parameters even when the model breaks the chip's limits "
        "(by default such a model is refused: exit code 2, nothing written)",
    )
    export.add_argument(
        "--strict", action="store_true", help="chip targets: refuse a model that breaks the limits (default)"
    )
    export.add_argument(
        "--metrics",
        action="store_true",
        help="print NeuroBench's figures (footprint, connection and activation sparsity, synaptic "
        "operations and membrane updates per sample) on the NDigits test split for a 200-input model "
        "(NDigits-16 for a 16-input one), else on seeded random spikes, and for a chip target the "
        "energy per inference from its published energy per operation (with sources; or why none); "
        "saved in the chip target's JSON report",
    )
    export.add_argument(
        "--importer",
        choices=("snntorch", "norse"),
        default=None,
        help="write a graph that this tool's NIR importer runs with spikeforge's spikes "
        "(default: the faithful graph)",
    )

    tour = sub.add_parser("tour", help="simulate each neuron model and save a figure of its behaviour")
    tour.add_argument("--out", default="out", help="folder for the figure (default: out)")
    tour.add_argument("--seed", type=int, default=0, help="seed of the torch.Generator (default: 0)")
    return parser


def _export(
    model_path: str,
    target: str,
    out: str,
    importer: str | None,
    strict: bool = False,
    force: bool = False,
    metrics: bool = False,
) -> Path:
    """``spikeforge export``: the demo's ``model.pt`` or a ``.nir`` file, written as NIR or for a chip.

    A ``.nir`` input keeps its own dt (the graph's metadata); a ``model.pt`` of ``spikeforge
    train`` or ``demo`` carries its sizes and dt (see :mod:`spikeforge.modelfile`); a bare
    state_dict is taken as the demo network's (dt = 10 ms)."""
    if target != "nir":
        if target not in CHIP_TARGETS:
            raise ParameterError(
                f"--target must be 'nir' or one of {', '.join(CHIP_TARGETS)}, got {target!r}"
            )
        if importer is not None:
            raise ParameterError(f"--importer applies to --target nir only, got --target {target!r}")
        if strict and force:
            raise ParameterError("--strict and --force contradict each other: pass one of them")
        return _export_chip(model_path, target, out, strict, force, metrics)
    try:
        import nir
    except ImportError as e:
        raise MissingDependencyError("export needs the nir package: pip install 'spikeforge[nir]'") from e
    from .hardware import to_nir

    model = _load_any(model_path)
    if metrics:
        _metrics(model)
    # dt=None: every neuron's own step (the .nir graph's, or the model file's description)
    from .plasticity import LearnableDelay

    first = next(iter(model.children()), None)  # a delay layer does not say its input shape itself
    shape = {"input_shape": (first.n_in,)} if isinstance(first, LearnableDelay) else {}
    graph = to_nir(model, dt=None, importer=importer, **shape)  # type: ignore[arg-type]
    dest = Path(out)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        nir.write(dest, graph)
    except OSError as e:
        raise ParameterError(f"--out {out!r}: cannot write the NIR file ({e})") from e
    print(f"wrote {dest}" + (f" (a graph for {importer}'s NIR importer)" if importer else ""))
    return dest


def _load_any(model_path: str) -> torch.nn.Module:
    """The model of ``MODEL``: a ``.nir`` file (needs nir) or the demo's ``model.pt``."""
    src = Path(model_path)
    if not src.is_file():
        raise ParameterError(f"MODEL {model_path!r}: no such file")
    if src.suffix == ".nir":
        from .hardware import from_nir

        return from_nir(src)
    return _load_demo_model(src)


def _metrics(model: torch.nn.Module, target: str | None = None) -> dict[str, object]:
    """Print and return :func:`~spikeforge.hardware.benchmark_figures` of ``model``: on the 360
    NDigits test samples (30 steps) when its first Linear takes NDigits' 200 inputs, else on 16
    samples of 100 steps of Bernoulli(0.1) spikes from a generator seeded 0. With a chip
    ``target``, also the energy per inference from the chip's published energy per operation
    (:func:`~spikeforge.hardware.energy_estimate`), or why there is none."""
    import torch

    from .hardware import benchmark_figures

    first = next((m for m in model.modules() if isinstance(m, torch.nn.Linear)), None)
    if first is None:
        raise ParameterError("--metrics needs a model whose first connection is a Linear layer")
    if first.in_features == 200:
        from . import data
        from .demo import N_TIME_BINS

        test = data.NDigits("test", n_time_bins=N_TIME_BINS, flatten=True)
        x, _ = data.pad_collate([test[i] for i in range(len(test))])
        source = f"the {x.shape[1]} NDigits test samples"
    elif first.in_features == 16:  # the Xylo-sized NDigits of `spikeforge train ndigits16`
        from .commands import _ndigits16
        from .demo import N_TIME_BINS

        x = _ndigits16("test", N_TIME_BINS).tensors[0].transpose(0, 1)
        source = f"the {x.shape[1]} NDigits-16 test samples"
    else:
        gen = torch.Generator().manual_seed(0)
        x = (torch.rand(100, 16, first.in_features, generator=gen) < 0.1).to(first.weight.dtype)
        source = "16 samples of Bernoulli(0.1) spikes, 100 steps, seed 0"
    figures = benchmark_figures(model, x.to(first.weight.dtype))
    print(f"{figures} -- on {source}")
    out: dict[str, object] = {**figures.to_dict(), "input": source}
    if target is not None:
        try:
            energy = figures.energy(target)
        except ParameterError as e:  # no published figure for this chip: say so, export anyway
            print(f"energy per inference: not estimated: {e}")
            out["energy"] = {"target": target, "not_estimated": str(e)}
        else:
            print(energy)
            out["energy"] = energy.to_dict()
    return out


def _export_chip(
    model_path: str, target: str, out: str, strict: bool, force: bool = False, metrics: bool = False
) -> Path:
    """Check the model against ``target`` (the report is printed and saved as JSON beside
    ``out``), quantize it where an integer simulation exists, and write the integer parameters:
    a ``.npz`` (``layer{i}_weight``, thresholds, decays, shifts), or for ``loihi2`` with a
    ``.net`` / ``.h5`` path, lava-dl's netx HDF5 through :func:`spikeforge.hardware.write_netx`.

    A model that breaks the chip's limits is refused (a :class:`ParameterError`, nothing written)
    unless ``force``; the JSON report then records ``"forced": true``."""
    import json
    import warnings

    import numpy as np

    from .hardware import check, quantize
    from .hardware.quantize import INTSIM_TARGETS

    model = _load_any(model_path)
    report = check(model, target)
    print(report)
    figures = _metrics(model, target) if metrics else None
    netx = target == "loihi2" and Path(out).suffix in (".net", ".h5")
    if not netx and target not in INTSIM_TARGETS:
        raise UnsupportedExportError(
            f"--target {target}: no integer form is built for this chip (available: "
            f"{', '.join(INTSIM_TARGETS)}); the check above lists what does not fit"
        )
    if not report.ok and not force:
        raise ParameterError(
            f"{'--strict: ' if strict else ''}the model does not fit {target}: "
            f"{len(report.violations)} violation(s), listed above; nothing was written. Change the "
            "model, or pass --force to write its integer parameters anyway"
        )
    if not report.ok:
        print(f"--force: writing despite {len(report.violations)} violation(s)")
    dest = Path(out)
    info: dict[str, object] = {"check": report.to_dict(), "model": str(model_path), "forced": not report.ok}
    if figures is not None:
        info["neurobench"] = figures
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if netx:
            from .hardware import write_netx

            try:
                write_netx(model, dest)
            except NotImplementedError as e:
                if isinstance(e, UnsupportedExportError):
                    raise
                raise UnsupportedExportError(
                    "the lava-dl netx writer is not available in this version; write the integer "
                    "parameters with --out PATH.npz"
                ) from e
            info["netx"] = str(dest)
        else:
            with warnings.catch_warnings():  # the violations are printed above
                warnings.simplefilter("ignore", UserWarning)
                qmodel = quantize(model, target)
            params = qmodel.integer_parameters()
            with open(dest, "wb") as fh:
                np.savez(fh, **params)  # type: ignore[arg-type]
            info["integer_parameters"] = sorted(params)
            info["timing"] = qmodel.timing
            info["latency_steps"] = qmodel.latency
        report_path = dest.with_name(dest.name + ".json")
        report_path.write_text(json.dumps(info, indent=2))
    except OSError as e:
        raise ParameterError(f"--out {out!r}: cannot write ({e})") from e
    print(f"wrote {dest} and {report_path}")
    return dest


def _load_demo_model(path: Path) -> torch.nn.Module:
    """The model of ``path``: a model file that describes itself (``spikeforge train`` and
    ``demo``, see :mod:`spikeforge.modelfile`), rebuilt with its own sizes and dt; or a bare
    ``state_dict`` of the demo network (dt = 10 ms), as older versions of ``demo`` saved it."""
    import torch

    from .demo import build_demo_model
    from .modelfile import MODEL_FORMAT, ModelFileError, load_model

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises pickle, zip and runtime errors of many kinds
        raise ParameterError(
            f"MODEL {str(path)!r} is neither a .nir file nor a state_dict or model file "
            f"saved with torch.save ({type(e).__name__}: {e})"
        ) from e
    if isinstance(state, Mapping) and state.get("format") == MODEL_FORMAT:
        try:
            return load_model(path)[0]
        except ModelFileError as e:
            raise ParameterError(f"MODEL {str(path)!r}: {e}") from None
    model = build_demo_model()
    if not isinstance(state, Mapping):
        raise ParameterError(f"MODEL {str(path)!r} holds a {type(state).__name__}, not a state_dict")
    try:
        model.load_state_dict(state)
    except (RuntimeError, SpikeforgeError) as e:  # sf.Sequential names the key that does not fit
        raise ParameterError(
            f"MODEL {str(path)!r} is not the demo network's state_dict (Linear(200, 128) -> LIF -> "
            f"Linear(128, 10) -> LIF, the model.pt that `spikeforge demo` writes); export other models "
            f"from Python with spikeforge.hardware.to_nir. Loading it said: {e}"
        ) from e
    return model


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import train_demo

            result = train_demo(
                args.out,
                epochs=args.epochs,
                seed=args.seed,
                progress=not args.no_progress,
                resume=args.resume,
            )
            return 0 if result.test_accuracy > 0 else 1
        if args.command == "train":
            from .commands import train_command

            train_command(
                args.dataset,
                root=args.root,
                epochs=args.epochs,
                out=args.out,
                hidden=tuple(args.hidden),
                bin_ms=args.bin_ms,
                batch_size=args.batch_size,
                lr=args.lr,
                seed=args.seed,
                resume=args.resume,
                progress=not args.no_progress,
                delays=args.delays,
                delay_lr_scale=args.delay_lr_scale,
                sigma_start=args.sigma_start,
                sigma_end=args.sigma_end,
                sigma_fraction=args.sigma_fraction,
                reset=args.reset,
            )
        elif args.command == "simulate":
            from .commands import simulate_command

            simulate_command(
                args.builder,
                duration=args.duration,
                n=args.n,
                seed=args.seed,
                out=args.out,
                progress=not args.no_progress,
                export_pynn=args.export_pynn,
            )
        elif args.command == "export":
            _export(args.model, args.target, args.out, args.importer, args.strict, args.force, args.metrics)
        elif args.command == "tour":
            from .tour import neuron_tour

            path = neuron_tour(args.out, seed=args.seed)
            print(f"figure saved to {path}")
    except (SpikeforgeError, OSError) as e:  # a user's mistake: bad values, files, folders
        if args.debug:
            raise
        print(f"spikeforge {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"spikeforge {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug of ours: one line, the traceback with --debug
        if args.debug:
            raise
        print(
            f"spikeforge {args.command}: internal error ({type(e).__name__}: {e}); rerun with "
            f"--debug for the traceback and report it",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
