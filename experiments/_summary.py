"""The summary block the experiments' JSON shares: a list of per-seed values as mean, spread, range.

Used by ``continual_learning.py``; the older scripts (``dcls_delays.py``, ``motion_delays.py``,
``meta_neuron.py``) still carry their own copy of ``stats``.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def stats(xs: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "sd", "min", "max", "per_seed"}`` of per-seed values (sd is the sample standard
    deviation, 0 for a single value)."""
    xs = [float(x) for x in xs]
    if not xs:
        raise ValueError("stats needs at least one value")
    return {
        "mean": statistics.fmean(xs),
        "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0,
        "min": min(xs),
        "max": max(xs),
        "per_seed": xs,
    }


def pm(d: dict[str, Any], scale: float = 1.0, digits: int = 2) -> str:
    """``"mean ± sd"`` of a :func:`stats` block, both multiplied by ``scale``."""
    return f"{scale * d['mean']:.{digits}f} ± {scale * d['sd']:.{digits}f}"
