"""The event representation: numpy structured arrays with fields x, y, t (microseconds) and p.

One event stream is a 1-D structured array of :data:`EVENT_DTYPE`:

==========  =========  ==========================================================
field       dtype      meaning
==========  =========  ==========================================================
``x``       int16      pixel column, or the channel of audio-like data (SHD)
``y``       int16      pixel row (0 for audio-like data)
``t``       int64      time in **microseconds**, as in the file formats and tonic
``p``       int8       polarity: 1 = ON (brightness up), 0 = OFF
==========  =========  ==========================================================

A sensor is described by ``sensor_size = (W, H, P)`` as in tonic: ``x < W``, ``y < H`` and
``P`` polarity channels (2 for cameras, 1 for audio-like data, whose events all have ``p = 1``).
Arrays from tonic (whose dtypes differ: ``int`` or ``bool`` fields, SHD without ``y``) convert
with :func:`as_events`.

    >>> import numpy as np
    >>> from spikeforge.data import as_events, make_events
    >>> ev = make_events(x=[1, 2], y=[0, 3], t=[5, 9], p=[1, 0])
    >>> ev.dtype.names
    ('x', 'y', 't', 'p')
    >>> tonic_like = np.array([(4, 120, 1)], dtype=[("t", int), ("x", int), ("p", int)])
    >>> as_events(tonic_like, sensor_size=(700, 1, 1)).tolist()   # y filled with 0
    [(120, 0, 4, 1)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._events import EVENT_DTYPE, make_events
from ..errors import DTypeError, ParameterError, ShapeError, SpikeforgeError

__all__ = ["EVENT_DTYPE", "EventFileError", "make_events", "as_events", "check_sensor_size"]


class EventFileError(SpikeforgeError, ValueError):
    """An event file is truncated, corrupt, empty or not in the expected format (the message names
    the file and the problem)."""


def check_sensor_size(sensor_size: Sequence[int], *, name: str = "sensor_size") -> tuple[int, int, int]:
    """Validate a sensor size ``(W, H, P)`` (tonic's order: x extent, y extent, polarities).

    Args:
        sensor_size: three positive ints; ``P`` is 1 or 2.
        name: the argument's name in error messages.

    Returns:
        ``(W, H, P)`` as ints.

    Raises:
        ParameterError: not three positive ints, or ``P`` not 1 or 2.

    Example:
        >>> check_sensor_size((34, 34, 2))
        (34, 34, 2)
    """
    try:
        vals = tuple(sensor_size)
    except TypeError:
        raise ParameterError(
            f"{name} must be a tuple (W, H, P) of positive ints, got {sensor_size!r}"
        ) from None
    if len(vals) != 3 or any(
        isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0 for v in vals
    ):
        raise ParameterError(f"{name} must be a tuple (W, H, P) of positive ints, got {sensor_size!r}")
    w, h, p = (int(v) for v in vals)
    if p not in (1, 2):
        raise ParameterError(f"{name}[2] (polarity channels P) must be 1 or 2, got {p}")
    return w, h, p


def as_events(events: Any, sensor_size: Sequence[int] | None = None, *, name: str = "events") -> np.ndarray:
    """Check an event array and return it as :data:`EVENT_DTYPE` (a copy only when needed).

    Accepts any 1-D structured array with integer fields ``x`` and ``t`` and optionally ``y``
    (missing: 0) and ``p`` (missing: 1; bools and -1/+1 accepted), such as tonic's.

    Args:
        events: the event array.
        sensor_size: ``(W, H, P)``; when given, every event must lie on the sensor
            (``x < W``, ``y < H``).
        name: what to call the array in error messages (a file name, for example).

    Returns:
        A 1-D array of :data:`EVENT_DTYPE`.

    Raises:
        DTypeError: not a structured array, or fields missing or not integers.
        ShapeError: not 1-D, or events outside the sensor.
        ParameterError: negative coordinates or times, or invalid polarities.

    Example:
        >>> ev = make_events([0, 40], [0, 0], [0, 1], [1, 1])
        >>> as_events(ev, sensor_size=(34, 34, 2))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        spikeforge.errors.ShapeError: events: 1 event(s) lie outside the sensor (W, H) = (34, 34): ...
    """
    arr = events
    if not isinstance(arr, np.ndarray) or arr.dtype.names is None:
        raise DTypeError(
            f"{name} must be a numpy structured array with fields x, y, t, p, got "
            f"{type(arr).__name__}{'' if not isinstance(arr, np.ndarray) else ' of dtype ' + str(arr.dtype)}"
        )
    if arr.ndim != 1:
        raise ShapeError(f"{name} must be a 1-D event array, got shape {list(arr.shape)}")
    fields = arr.dtype.names
    missing = [f for f in ("x", "t") if f not in fields]
    if missing:
        raise DTypeError(f"{name} lacks the field(s) {missing}; it has {list(fields)}")
    if arr.dtype != EVENT_DTYPE:
        for f in ("x", "y", "t"):
            if f in fields and not (np.issubdtype(arr.dtype[f], np.integer) or arr.dtype[f] == np.bool_):
                raise DTypeError(
                    f"{name}[{f!r}] must hold integers ({'microseconds' if f == 't' else 'pixels'}), "
                    f"got dtype {arr.dtype[f]}"
                )
        try:
            arr = make_events(
                arr["x"],
                arr["y"] if "y" in fields else 0,
                arr["t"],
                arr["p"] if "p" in fields else 1,
            )
        except (ParameterError, DTypeError, ShapeError) as e:
            raise type(e)(f"{name}: {e}") from None
    elif arr.size:
        if int(arr["x"].min()) < 0 or int(arr["y"].min()) < 0:
            raise ParameterError(f"{name}: x and y must be >= 0")
        if int(arr["t"].min()) < 0:
            raise ParameterError(f"{name}: t must be >= 0 us, got a minimum of {int(arr['t'].min())}")
        if int(arr["p"].min()) < 0 or int(arr["p"].max()) > 1:
            raise ParameterError(f"{name}: p must be 0 or 1")
    if sensor_size is not None and arr.size:
        w, h, _ = check_sensor_size(sensor_size)
        outside = (arr["x"] >= w) | (arr["y"] >= h)
        if outside.any():
            raise ShapeError(
                f"{name}: {int(outside.sum())} event(s) lie outside the sensor (W, H) = ({w}, {h}): "
                f"x up to {int(arr['x'].max())}, y up to {int(arr['y'].max())}"
            )
    return arr
