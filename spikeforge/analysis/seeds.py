"""Results over seeds: the summary every comparison reports (mean, sample spread, range and the
per-seed values, so that orderings seed by seed can be read back), and its ``mean ± sd`` text."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from ..errors import ParameterError

__all__ = ["seed_summary", "mean_sd"]


def seed_summary(values: Sequence[float]) -> dict[str, Any]:
    """Summary of one measure over seeds.

    Args:
        values: one finite value per seed (any unit; the summary keeps it).

    Returns:
        ``{"mean", "sd", "min", "max", "per_seed"}``: ``sd`` is the sample standard deviation
        (``n - 1``), 0.0 for a single seed (no spread measured); ``per_seed`` the values as floats,
        in the order given.

    Raises:
        ParameterError: no values, or a value that is not a finite real number.

    Example:
        >>> from spikeforge.analysis import seed_summary, mean_sd
        >>> s = seed_summary([0.90, 0.80, 1.00])
        >>> round(s["mean"], 6), round(s["sd"], 6), s["min"], s["per_seed"]
        (0.9, 0.1, 0.8, [0.9, 0.8, 1.0])
        >>> mean_sd(s, scale=100, digits=1)
        '90.0 ± 10.0'
    """
    try:
        xs = [float(v) for v in values]
    except (TypeError, ValueError) as e:
        raise ParameterError(f"values must be real numbers, one per seed, got {values!r}") from e
    if not xs:
        raise ParameterError("values must hold at least one value (one per seed), got none")
    bad = [x for x in xs if not math.isfinite(x)]
    if bad:
        raise ParameterError(f"values must be finite, got {bad[0]!r} among {len(xs)} values")
    return {
        "mean": statistics.fmean(xs),
        "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0,
        "min": min(xs),
        "max": max(xs),
        "per_seed": xs,
    }


def mean_sd(summary: dict[str, Any], scale: float = 1.0, digits: int = 2) -> str:
    """``"mean ± sd"`` of a :func:`seed_summary`, both multiplied by ``scale`` (e.g. 100 for a
    fraction in percent) and written with ``digits`` decimals.

    Example:
        >>> from spikeforge.analysis import mean_sd
        >>> mean_sd({"mean": 0.5, "sd": 0.25})
        '0.50 ± 0.25'
    """
    if not (isinstance(summary, dict) and "mean" in summary and "sd" in summary):
        raise ParameterError(f"summary must be a seed_summary dict with 'mean' and 'sd', got {summary!r}")
    return f"{scale * summary['mean']:.{digits}f} ± {scale * summary['sd']:.{digits}f}"
