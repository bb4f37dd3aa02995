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
    demo = sub.add_parser("demo", help="simulate each neuron model and save a figure of its behaviour")
    demo.add_argument("--out", default="out", help="folder for the figure (default: out)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the torch.Generator (default: 0)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from .tour import neuron_tour

        path = neuron_tour(args.out, seed=args.seed)
        print(f"figure saved to {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
