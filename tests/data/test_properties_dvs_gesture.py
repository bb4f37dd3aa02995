r"""Property-based tests (Hypothesis) of the DVS Gesture reader on ``.npy`` files written here in
tonic's layout (issue 16, item 4): an ``[N, 4]`` array of columns x, y, p, t with t in
milliseconds, stored as integers or floats of any width. The documented reading is
``t = t_ms * 1000`` microseconds for integers and ``floor(t_ms * 1000)`` (float64) for floats, x, y,
p as stored, in file order. The events are then binned on a window whose both edges hold an event
(the window is ``[start, start + duration)``: the event at the end is dropped with ``crop``).
"""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikeforge.data import (
    DVS_GESTURE_SENSOR_SIZE,
    make_events,
    read_dvs_gesture,
    to_frames,
    write_dvs_gesture,
)
from spikeforge.errors import ParameterError

FAST = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

dtypes = st.sampled_from([np.int16, np.int32, np.int64, np.uint16, np.float32, np.float64])


@st.composite
def gesture_files(draw):
    dtype = draw(dtypes)
    n = draw(st.integers(1, 30))
    top = 30_000 if np.dtype(dtype).itemsize > 2 else 127  # int16/uint16 hold small times only
    if np.issubdtype(dtype, np.floating):
        times = st.floats(0.0, float(top), allow_nan=False, width=32 if dtype == np.float32 else 64)
        edge = st.sampled_from([0.0, 0.001, 0.0005, 0.9999, 1.0, float(top)])
    else:
        times = st.integers(0, top)
        edge = st.sampled_from([0, 1, top])
    t = draw(st.lists(st.one_of(times, edge), min_size=n, max_size=n))
    xs = draw(st.lists(st.integers(0, 127), min_size=n, max_size=n))
    ys = draw(st.lists(st.integers(0, 127), min_size=n, max_size=n))
    ps = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    return np.stack([np.array(c, dtype=np.float64) for c in (xs, ys, ps, t)], axis=1).astype(dtype)


@FAST
@given(arr=gesture_files())
def test_a_gesture_file_reads_back_as_documented(arr):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "3.npy")
        np.save(path, arr)
        ev = read_dvs_gesture(path)
    stored = arr[:, 3]
    if np.issubdtype(arr.dtype, np.integer):
        want_t = [int(v) * 1000 for v in stored]
    else:
        want_t = [math.floor(float(v) * 1000.0) for v in stored]  # float(v): the stored value exactly
    assert ev["t"].tolist() == want_t
    assert ev["x"].tolist() == arr[:, 0].astype(int).tolist()
    assert ev["y"].tolist() == arr[:, 1].astype(int).tolist()
    assert ev["p"].tolist() == arr[:, 2].astype(int).tolist()


@FAST
@given(
    start_ms=st.integers(0, 5_000),
    duration_ms=st.integers(1, 2_000),
    bin_ms=st.integers(1, 500),
    inside=st.lists(st.integers(0, 10**6), max_size=20),
)
def test_window_edges_of_a_read_gesture(start_ms, duration_ms, bin_ms, inside):
    """Events at the window start, on its last millisecond and at its end (excluded), and inside."""
    end_ms = start_ms + duration_ms
    t_ms = [start_ms, end_ms - 1, end_ms, *[start_ms + v % duration_ms for v in inside]]
    n = len(t_ms)
    arr = np.stack([np.arange(n) % 128, np.arange(n) // 128, np.arange(n) % 2, np.array(t_ms)], axis=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "0.npy")
        np.save(path, arr.astype(np.int64))
        ev = read_dvs_gesture(path)
        write_dvs_gesture(os.path.join(tmp, "1.npy"), ev)  # and the writer round-trips
        assert np.array_equal(np.load(os.path.join(tmp, "1.npy")), arr)
    frames = to_frames(
        ev,
        DVS_GESTURE_SENSOR_SIZE,
        bin_us=bin_ms * 1000,
        start_us=start_ms * 1000,
        duration_us=duration_ms * 1000,
        crop=True,
    )
    assert frames.shape[0] == math.ceil(duration_ms / bin_ms)
    want = np.zeros(tuple(frames.shape))
    for i, t in enumerate(t_ms):
        if start_ms <= t < end_ms:
            want[(t - start_ms) // bin_ms, i % 2, i // 128, i % 128] += 1
    assert np.array_equal(frames.numpy(), want)


def test_an_empty_event_list_is_no_dtype_error():
    """``make_events([], [], [], [])`` is an empty sample (np.asarray([]) is float64: no fraction
    was lost); binning it without a duration says what is missing."""
    ev = make_events([], [], [], [])
    assert ev.size == 0
    with pytest.raises(ParameterError, match="empty sample"):
        to_frames(ev, (2, 2, 2), bin_us=10)
    assert to_frames(ev, (2, 2, 2), bin_us=10, duration_us=20).sum() == 0
