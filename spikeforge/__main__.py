"""``python -m spikeforge``: the command line (see :mod:`spikeforge.cli`)."""

from .cli import main

raise SystemExit(main())
