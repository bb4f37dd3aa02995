r"""Property-based tests (Hypothesis) of the SHD/SSC reader on HDF5 files written here in the
published layout (issue 16, item 4): ``spikes/times`` variable-length floats in seconds,
``spikes/units`` variable-length uint16 channels, ``labels``. The documented reading is
``t = floor(times * 1e6)`` microseconds (in float64), ``x`` = channel, ``y = 0``, ``p = 1``; times
at any value, including 0, microsecond edges and the largest float32 time, round-trip.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikeforge.data import make_events, read_shd, write_shd

h5py = pytest.importorskip("h5py")

FAST = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

time_dtypes = st.sampled_from([np.float16, np.float32, np.float64])
seconds = st.floats(min_value=0.0, max_value=1.5, allow_nan=False)
sample = st.lists(st.tuples(seconds, st.integers(min_value=0, max_value=699)), min_size=1, max_size=12)


def _write_raw(path: Path, samples: list, labels: list[int], tdt: type) -> list[np.ndarray]:
    """The published layout, written with h5py directly; returns the stored times (in tdt)."""
    stored = []
    with h5py.File(path, "w") as f:
        t_ds = f.create_dataset("spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.dtype(tdt)))
        u_ds = f.create_dataset("spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.dtype(np.uint16)))
        for i, spikes in enumerate(samples):
            times = np.array([s for s, _ in spikes], dtype=tdt)
            t_ds[i] = times
            u_ds[i] = np.array([c for _, c in spikes], dtype=np.uint16)
            stored.append(times)
        f.create_dataset("labels", data=np.array(labels, dtype=np.uint16))
    return stored


@FAST
@given(
    samples=st.lists(sample, min_size=1, max_size=4),
    tdt=time_dtypes,
    edge=st.sampled_from([0.0, 1e-6, 0.5e-6, 0.999999, 1.0]),
    data=st.data(),
)
def test_times_and_units_read_back_as_documented(tmp_path, samples, tdt, edge, data):
    samples = [s + [(edge, 699), (0.0, 0)] for s in samples]  # window edges: t = 0, channels 0 and 699
    labels = data.draw(st.lists(st.integers(0, 19), min_size=len(samples), max_size=len(samples)))
    path = tmp_path / "shd.h5"
    stored = _write_raw(path, samples, labels, tdt)
    got = read_shd(path)
    assert got.labels.tolist() == labels
    for ev, spikes, times in zip(got.events, samples, stored):
        want_t = [math.floor(float(t) * 1e6) for t in times]  # float(t): the stored value, exactly
        assert ev["t"].tolist() == want_t
        assert ev["x"].tolist() == [c for _, c in spikes]
        assert set(ev["y"].tolist()) == {0} and set(ev["p"].tolist()) == {1}


@FAST
@given(
    ts=st.lists(
        st.one_of(st.integers(min_value=0, max_value=2**23 - 1), st.sampled_from([0, 1, 999_999, 2**23 - 1])),
        min_size=1,
        max_size=20,
    ),
    data=st.data(),
)
def test_write_then_read_round_trips_microseconds(tmp_path, ts, data):
    """write_shd stores float32 seconds; every microsecond below 2**23 comes back exactly."""
    xs = data.draw(st.lists(st.integers(0, 699), min_size=len(ts), max_size=len(ts)))
    path = tmp_path / "shd.h5"
    write_shd(path, [make_events(x=xs, y=0, t=sorted(ts), p=1)], labels=[7])
    ev = read_shd(path).events[0]
    assert ev["t"].tolist() == sorted(ts)
    assert ev["x"].tolist() == xs
