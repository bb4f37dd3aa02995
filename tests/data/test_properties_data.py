r"""Property-based tests (Hypothesis) of event binning and of the N-MNIST reader, over window
starts, durations, bin widths, bin counts, events on window and bin edges, and files (issue 16,
item 4: event windows without an event on the edge hid an off-by-one).

References, from the documented rules: the window is ``[start, start + duration)``; with
``bin_us`` an event at ``t`` is in bin ``(t - start) // bin_us`` and there are
``ceil(duration / bin_us)`` bins; with ``n_time_bins`` it is in bin
``(t - start) * n_time_bins // duration``; without ``crop`` every event is counted once. The
N-MNIST bytes are written here from the format's description (5 bytes per event, overflow
markers at ``y == 240`` adding 2**13 us), not with ``write_nmnist``.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikeforge.data import make_events, read_nmnist, to_channels, to_frames, write_nmnist
from spikeforge.errors import ParameterError

FAST = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def windows(draw):
    """A window, a binning, and event times that include both edges and every bin edge."""
    start = draw(st.integers(min_value=0, max_value=5_000))
    duration = draw(st.integers(min_value=1, max_value=20_000))
    by_width = draw(st.booleans())
    if by_width:
        binning = {"bin_us": draw(st.integers(min_value=1, max_value=duration + 10))}
        width = binning["bin_us"]
        edges = list(range(start, start + duration, width))[:50]
    else:
        n = draw(st.integers(min_value=1, max_value=60))
        binning = {"n_time_bins": n}
        # the first microsecond of bin k is start + ceil(k * duration / n)
        edges = [start - (-k * duration // n) for k in range(n)]
    inside = draw(st.lists(st.integers(min_value=start, max_value=start + duration - 1), max_size=60))
    times = sorted(
        set(edges) | {start, start + duration - 1, *[e - 1 for e in edges if e > start]} | set(inside)
    )
    return start, duration, binning, np.array(times, dtype=np.int64)


def _expected_bin(t: np.ndarray, start: int, duration: int, binning: dict) -> np.ndarray:
    rel = t - start
    if "bin_us" in binning:
        return rel // binning["bin_us"]
    return rel * binning["n_time_bins"] // duration


@FAST
@given(windows(), st.integers(min_value=1, max_value=5))
def test_every_event_lands_in_its_documented_bin(window, n_channels):
    start, duration, binning, t = window
    x = np.arange(t.size) % n_channels
    ev = make_events(x, 0, t, 1)
    out = to_channels(ev, n_channels, duration_us=duration, start_us=start, **binning)
    n_bins = -(-duration // binning["bin_us"]) if "bin_us" in binning else binning["n_time_bins"]
    assert out.shape == (n_bins, n_channels)
    assert int(out.sum()) == t.size  # conserved
    ref = np.zeros((n_bins, n_channels))
    np.add.at(ref, (_expected_bin(t, start, duration, binning), x), 1)
    assert np.array_equal(out.numpy(), ref)
    # the same events as camera frames (x on an n_channels x 1 sensor, both polarities)
    frames = to_frames(
        make_events(x, 0, t, x % 2), (n_channels, 1, 2), duration_us=duration, start_us=start, **binning
    )
    assert int(frames.sum()) == t.size
    assert np.array_equal(frames.sum(dim=(1, 2)).numpy(), ref)


@FAST
@given(windows())
def test_the_window_end_is_excluded(window):
    """One microsecond past either edge is outside: an error, or dropped with ``crop``."""
    start, duration, binning, t = window
    for outside in ([start + duration], [start - 1] if start > 0 else []):
        if not outside:
            continue
        ev = make_events(np.zeros(t.size + 1, np.int64), 0, np.sort(np.r_[t, outside]), 1)
        with pytest.raises(ParameterError, match="outside the window"):
            to_channels(ev, 1, duration_us=duration, start_us=start, **binning)
        cropped = to_channels(ev, 1, duration_us=duration, start_us=start, crop=True, **binning)
        assert int(cropped.sum()) == t.size


@FAST
@given(windows())
def test_without_a_duration_the_window_ends_after_the_last_event(window):
    start, _, binning, t = window
    if "n_time_bins" in binning:
        binning = {"n_time_bins": binning["n_time_bins"]}
    out = to_channels(make_events(np.zeros(t.size, np.int64), 0, t, 1), 1, start_us=start, **binning)
    duration = int(t.max()) - start + 1
    assert int(out.sum()) == t.size
    assert out[-1].sum() >= 1  # the last event is in the last bin
    assert np.array_equal(
        out[:, 0].numpy(), np.bincount(_expected_bin(t, start, duration, binning), minlength=out.shape[0])
    )


def _nmnist_bytes(x, y, t, p) -> bytes:
    """The format, written from its description: 23-bit timestamps, each event the 5 bytes
    ``x, y, p << 7 | t >> 16, (t >> 8) & 255, t & 255``."""
    out = bytearray()
    for xi, yi, ti, pi in zip(x, y, t, p):
        out += bytes([xi, yi, (pi << 7) | (ti >> 16), (ti >> 8) & 0xFF, ti & 0xFF])
    return bytes(out)


@st.composite
def nmnist_events(draw):
    n = draw(st.integers(min_value=1, max_value=40))
    xs = draw(st.lists(st.integers(0, 33), min_size=n, max_size=n))
    ys = draw(st.lists(st.integers(0, 33), min_size=n, max_size=n))
    ts = sorted(draw(st.lists(st.integers(0, 2**23 - 1), min_size=n, max_size=n)))
    ps = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    return xs, ys, ts, ps


@FAST
@given(nmnist_events(), st.data())
def test_read_nmnist_decodes_the_format(events, data):
    xs, ys, ts, ps = events
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "s.bin")
        with open(path, "wb") as f:
            f.write(_nmnist_bytes(xs, ys, ts, ps))
        got = read_nmnist(path)
        assert got.tolist() == list(zip(xs, ys, ts, ps))
        # an overflow marker (y = 240) after event k adds 2**13 us to the events after it
        k = data.draw(st.integers(0, len(xs) - 1))
        raw = _nmnist_bytes(xs[: k + 1], ys[: k + 1], ts[: k + 1], ps[: k + 1])
        raw += bytes([0, 240, 0, 0, 0]) + _nmnist_bytes(xs[k + 1 :], ys[k + 1 :], ts[k + 1 :], ps[k + 1 :])
        with open(path, "wb") as f:
            f.write(raw)
        shifted = [t + (2**13 if i > k else 0) for i, t in enumerate(ts)]
        assert read_nmnist(path)["t"].tolist() == shifted
        # and write_nmnist writes the same bytes as the description
        write_nmnist(path, make_events(xs, ys, ts, ps))
        with open(path, "rb") as f:
            assert f.read() == _nmnist_bytes(xs, ys, ts, ps)
