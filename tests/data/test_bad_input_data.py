"""Bad input to the data readers and binning (issue 16): times that overflow the microsecond
conversion, corrupt files named in a typed error, allocations refused with their size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeforge import data as D
from spikeforge.data.events import EventFileError
from spikeforge.errors import DTypeError, ParameterError, ShapeError


def _npy(tmp_path, a, name="0.npy"):
    p = tmp_path / name
    np.save(p, a)
    return p


# ---------------------------------------------------------------- the cases
@pytest.mark.parametrize(
    "t_ms",
    [
        np.array([2**62], dtype=np.int64),  # t * 1000 wraps int64 (read back as 0 or negative)
        np.array([1e300]),
        np.array([9.3e15]),
    ],
)
def test_dvs_gesture_times_overflowing_microseconds_are_refused(tmp_path, t_ms):
    a = np.zeros((1, 4), dtype=t_ms.dtype)
    a[0, :3] = (1, 2, 1)
    a[0, 3] = t_ms[0]
    p = _npy(tmp_path, a)
    with pytest.raises(EventFileError, match=r"0.npy: times \(column 3\) must be at most"):
        D.read_dvs_gesture(p, sensor_size=None)


def test_dvs_gesture_largest_time_reads_back_exactly(tmp_path):
    from spikeforge.data.dvs_gesture import _MAX_T_MS

    p = _npy(tmp_path, np.array([[1, 2, 1, _MAX_T_MS]], dtype=np.int64))
    ev = D.read_dvs_gesture(p, sensor_size=None)
    assert int(ev["t"][0]) == _MAX_T_MS * 1000 > 0


# ---------------------------------------------------------------- more of our own
def test_shd_times_overflowing_microseconds_are_refused():
    from spikeforge.data.shd import _sample

    with pytest.raises(EventFileError, match=r"below 2\*\*63 us"):
        _sample(np.array([1e14]), np.array([3]), "x.h5", 0, 700)
    ev = _sample(np.array([0.5]), np.array([3]), "x.h5", 0, 700)
    assert int(ev["t"][0]) == 500_000


def test_dvs_gesture_truncated_file_names_the_file(tmp_path):
    p = tmp_path / "trunc.npy"
    p.write_bytes(b"\x93NUMPY\x01\x00garbage")
    with pytest.raises(EventFileError, match="trunc.npy: not a readable .npy file"):
        D.read_dvs_gesture(p)


def test_dvs_gesture_text_array_is_refused(tmp_path):
    p = _npy(tmp_path, np.array([["a", "2", "1", "1"]]))
    with pytest.raises(EventFileError, match="numeric"):
        D.read_dvs_gesture(p)


def test_dvs_gesture_fractional_coordinates_are_refused(tmp_path):
    p = _npy(tmp_path, np.array([[1.5, 2.0, 1.0, 1.0]]))
    with pytest.raises(EventFileError, match="must be integers"):
        D.read_dvs_gesture(p, sensor_size=None)


def test_nmnist_truncated_file(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(b"1234567")
    with pytest.raises(EventFileError, match="x.bin: 7 bytes is not a multiple of 5"):
        D.read_nmnist(p)


def test_shd_not_hdf5_names_the_file(tmp_path):
    pytest.importorskip("h5py")
    (tmp_path / "shd_train.h5").write_bytes(b"junk")
    with pytest.raises(EventFileError, match="shd_train.h5: not a readable HDF5 file"):
        D.SHD(tmp_path, "train")


def test_binning_allocation_is_refused_with_its_size():
    ev = D.make_events([1, 2], [0, 0], [10, 20], [1, 0])
    with pytest.raises(ParameterError, match=r"would take .* GiB \(limit 16 GiB\)"):
        D.to_frames(ev, (34, 34, 2), bin_us=1, duration_us=10**15)
    with pytest.raises(ParameterError, match="GiB"):
        D.to_channels(ev, 700, bin_us=1, duration_us=10**13)


@pytest.mark.parametrize("bin_us", [0, -1, 2.5, float("nan"), "10"])
def test_bad_bin_widths(bin_us):
    ev = D.make_events([1], [0], [10], [1])
    with pytest.raises(ParameterError, match="bin_us must be a positive int"):
        D.to_frames(ev, (34, 34, 2), bin_us=bin_us)


def test_make_events_refuses_float_times_and_bad_polarity():
    with pytest.raises(DTypeError, match="t must hold integers"):
        D.make_events([1], [0], [1e300], [1])
    with pytest.raises(ParameterError, match="polarities"):
        D.make_events([1], [0], [5], [2])


def test_pad_collate_mismatched_features():
    with pytest.raises(ShapeError, match="feature shape"):
        D.pad_collate([(torch.ones(3, 2), 0), (torch.ones(3, 4), 1)])


@pytest.mark.parametrize("bins", [0, 2.5, -3])
def test_ndigits_bad_bins(bins):
    with pytest.raises(ParameterError, match="n_time_bins must be a positive int"):
        D.NDigits("train", n_time_bins=bins)


@pytest.mark.parametrize("start", [0, 7])
def test_event_on_the_window_edge_is_outside(start):
    """The window is [start, start + duration): an event at its end is dropped with crop=True and
    refused without (tests without an event on the edge hid a > for >=)."""
    ev = D.make_events([1, 2, 3], [0, 0, 0], [start, start + 99, start + 100], [1, 1, 1])
    frames = D.to_frames(ev, (4, 1, 2), bin_us=10, duration_us=100, start_us=start, crop=True)
    assert frames.shape[0] == 10 and float(frames.sum()) == 2 and float(frames[9].sum()) == 1
    chans = D.to_channels(ev, 4, bin_us=10, duration_us=100, start_us=start, crop=True)
    assert float(chans.sum()) == 2
    with pytest.raises(ParameterError, match=r"1 event\(s\) lie outside the window"):
        D.to_frames(ev, (4, 1, 2), bin_us=10, duration_us=100, start_us=start)
