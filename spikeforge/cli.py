"""The ``spikeforge`` command line.

spikeforge demo [--out DIR]     a tour that simulates each neuron model and saves a figure
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spikeforge", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train an SNN on the embedded event digits (NDigits)")
    demo.add_argument("--out", default="out", help="output folder (default: out)")
    demo.add_argument("--epochs", type=int, default=10, help="training epochs (default: 10)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the weights and data order (default: 0)")
    demo.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    tour = sub.add_parser("tour", help="simulate each neuron model and save a figure of its behaviour")
    tour.add_argument("--out", default="out", help="folder for the figure (default: out)")
    tour.add_argument("--seed", type=int, default=0, help="seed of the torch.Generator (default: 0)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from .demo import train_demo

        result = train_demo(
            args.out, epochs=args.epochs, seed=args.seed, progress=not args.no_progress, resume=args.resume
        )
        return 0 if result.test_accuracy > 0 else 1
    if args.command == "tour":
        from .tour import neuron_tour

        path = neuron_tour(args.out, seed=args.seed)
        print(f"figure saved to {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
