"""The event record shared by the event-camera emulator and the event datasets.

An event stream is a 1-D numpy structured array with the fields of :data:`EVENT_DTYPE`, the
fields that tonic and the published file formats use:

- ``x``, ``y``: pixel column and row (``int16``); audio-like data (SHD) put the channel in ``x``
  and 0 in ``y``;
- ``t``: time in **microseconds** (``int64``), as in the file formats;
- ``p``: polarity (``int8``), 1 for ON (brightness up) and 0 for OFF.

This module is at the base layer (it imports nothing of ours but the errors), so that both
``spikeforge.encoders`` and ``spikeforge.data`` can build events; users import it through
:mod:`spikeforge.data`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import DTypeError, ParameterError, ShapeError

__all__ = ["EVENT_DTYPE", "make_events"]

EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
"""Fields ``x``, ``y`` (pixel), ``t`` (microseconds) and ``p`` (1 = ON, 0 = OFF)."""

_XY_MAX = int(np.iinfo(np.int16).max)


def _as_int_field(name: str, values: Any, n: int | None) -> np.ndarray:
    a = np.asarray(values)
    if a.ndim > 1:
        raise ShapeError(f"{name} must be 1-D or a scalar, got shape {list(a.shape)}")
    if a.dtype == np.bool_ or a.size == 0:  # no events: np.asarray([]) is float64, no fraction to lose
        a = a.astype(np.int64)
    if not np.issubdtype(a.dtype, np.integer):
        raise DTypeError(
            f"{name} must hold integers, got dtype {a.dtype}; convert explicitly, for example "
            f"np.floor({name}).astype(np.int64)"
        )
    if a.ndim == 1 and n is not None and a.shape[0] != n:
        raise ShapeError(f"{name} has {a.shape[0]} entries but x has {n}")
    return a


def make_events(x: Any, y: Any, t: Any, p: Any) -> np.ndarray:
    """Build an event array of :data:`EVENT_DTYPE` from its columns.

    Args:
        x: pixel columns (or channels), integers in ``[0, 32767]``; 1-D, length N.
        y: pixel rows, integers in ``[0, 32767]``; 1-D of length N or a scalar.
        t: times in microseconds, integers >= 0; 1-D of length N or a scalar.
        p: polarities: 0/1, bools, or -1/+1 (``-1`` is stored as 0, OFF); 1-D of length N or a
            scalar.

    Returns:
        A 1-D structured array of length N with fields ``x``, ``y``, ``t``, ``p``, in the given
        order (not sorted).

    Raises:
        DTypeError: a column does not hold integers (or bools).
        ShapeError: columns of different lengths.
        ParameterError: negative coordinates or times, coordinates beyond int16, or polarities
            other than 0/1 or -1/+1.

    Example:
        >>> ev = make_events([0, 3], [1, 2], [10, 250], [1, -1])
        >>> ev["p"].tolist(), ev["t"].tolist()
        ([1, 0], [10, 250])
    """
    xa = _as_int_field("x", x, None)
    n = int(xa.shape[0]) if xa.ndim == 1 else 1
    if xa.ndim == 0:
        xa = xa.reshape(1)
    cols = {"x": xa}
    for name, v in (("y", y), ("t", t), ("p", p)):
        a = _as_int_field(name, v, n)
        cols[name] = np.broadcast_to(a, (n,))
    for name in ("x", "y"):
        a = cols[name]
        if a.size and (int(a.min()) < 0 or int(a.max()) > _XY_MAX):
            raise ParameterError(
                f"{name} must be in [0, {_XY_MAX}], got values in [{int(a.min())}, {int(a.max())}]"
            )
    if cols["t"].size and int(cols["t"].min()) < 0:
        raise ParameterError(f"t must be >= 0 us, got a minimum of {int(cols['t'].min())}")
    pa = cols["p"]
    if pa.size:
        values = set(np.unique(pa).tolist())
        if values <= {0, 1}:
            pass
        elif values <= {-1, 1}:
            pa = (pa > 0).astype(np.int8)
        else:
            raise ParameterError(f"p must hold 0/1 or -1/+1 polarities, got values {sorted(values)[:6]}")
    out = np.empty(n, dtype=EVENT_DTYPE)
    out["x"] = cols["x"]
    out["y"] = cols["y"]
    out["t"] = cols["t"]
    out["p"] = pa
    return out
