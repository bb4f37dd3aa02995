"""The event representation: construction, conversion of tonic-style arrays, validation."""

from __future__ import annotations

import numpy as np
import pytest

from spikeforge.data import EVENT_DTYPE, as_events, check_sensor_size, make_events
from spikeforge.errors import DTypeError, ParameterError, ShapeError


def test_dtype_has_the_tonic_fields_in_microseconds():
    assert EVENT_DTYPE.names == ("x", "y", "t", "p")
    assert EVENT_DTYPE["t"] == np.int64


def test_make_events_broadcasts_scalars_and_maps_signed_polarity():
    ev = make_events([3, 4, 5], 0, [10, 20, 30], [-1, 1, -1])
    assert ev.dtype == EVENT_DTYPE
    assert ev["y"].tolist() == [0, 0, 0]
    assert ev["p"].tolist() == [0, 1, 0]
    assert make_events([1, 2], [0, 0], [0, 0], [True, False])["p"].tolist() == [1, 0]
    assert len(make_events(np.zeros(0, int), 0, 0, 1)) == 0


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (([0.5], [0], [0], [1]), DTypeError, "x must hold integers"),
        (([0], [0], [1.0], [1]), DTypeError, "t must hold integers"),
        (([0, 1], [0, 1, 2], [0, 1], [1, 1]), ShapeError, "y has 3 entries"),
        (([-1], [0], [0], [1]), ParameterError, "x must be in"),
        (([0], [0], [-5], [1]), ParameterError, "t must be >= 0"),
        (([0, 1], [0, 0], [0, 0], [0, 2]), ParameterError, "p must hold"),
        (([0, 1, 2], [0, 0, 0], [0, 0, 0], [0, -1, 1]), ParameterError, "p must hold"),
        (([[0]], [0], [0], [1]), ShapeError, "1-D"),
    ],
)
def test_make_events_rejects_bad_columns(args, error, match):
    with pytest.raises(error, match=match):
        make_events(*args)


def test_as_events_converts_tonic_dtypes():
    tonic_nmnist = np.array([(1, 2, 30, 1)], dtype=[("x", int), ("y", int), ("t", int), ("p", int)])
    tonic_dvs = np.array(
        [(1, 2, True, 30)], dtype=[("x", np.int16), ("y", np.int16), ("p", bool), ("t", np.int64)]
    )
    tonic_shd = np.array([(30, 1, 1)], dtype=[("t", int), ("x", int), ("p", int)])
    assert as_events(tonic_nmnist).tolist() == [(1, 2, 30, 1)]
    assert as_events(tonic_dvs).tolist() == [(1, 2, 30, 1)]
    assert as_events(tonic_shd).tolist() == [(1, 0, 30, 1)]
    ev = make_events([1], [2], [3], [1])
    assert as_events(ev) is ev  # no copy when already ours


def test_as_events_checks_type_shape_fields_and_sensor():
    with pytest.raises(DTypeError, match="structured array"):
        as_events(np.zeros((3, 4)))
    with pytest.raises(DTypeError, match="structured array"):
        as_events([(1, 2, 3, 1)])
    with pytest.raises(DTypeError, match=r"lacks the field\(s\) \['t'\]"):
        as_events(np.zeros(2, dtype=[("x", int), ("y", int)]))
    with pytest.raises(DTypeError, match="microseconds"):
        as_events(np.zeros(2, dtype=[("x", int), ("t", float)]))
    with pytest.raises(ShapeError, match="1-D"):
        as_events(np.zeros((2, 2), dtype=EVENT_DTYPE))
    ev = make_events([0, 34], [0, 3], [0, 1], [1, 0])
    with pytest.raises(
        ShapeError, match=r"mine.bin: 1 event\(s\) lie outside the sensor \(W, H\) = \(34, 34\)"
    ):
        as_events(ev, (34, 34, 2), name="mine.bin")
    bad = make_events([0], [0], [0], [1])
    bad["p"] = 3
    with pytest.raises(ParameterError, match="p must be 0 or 1"):
        as_events(bad)


def test_check_sensor_size():
    assert check_sensor_size([128, 128, 2]) == (128, 128, 2)
    for bad in ((34, 34), (34, 0, 2), (34, 34, 3), (34.0, 34, 2), "abc", 5):
        with pytest.raises(ParameterError, match="sensor_size"):
            check_sensor_size(bad)  # type: ignore[arg-type]
