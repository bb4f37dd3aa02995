"""DVS Gesture .npy files (tonic's preprocessed form): round trips, bad files, layout, and tonic."""

from __future__ import annotations

import numpy as np
import pytest

from spikeforge.data import (
    DVS_GESTURE_CLASSES,
    DVSGesture,
    EventFileError,
    make_events,
    read_dvs_gesture,
    to_frames,
    write_dvs_gesture,
)
from spikeforge.errors import ParameterError, ShapeError


def _sample(seed: int, n: int = 300) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t_ms = np.sort(rng.integers(0, 6000, n))
    return make_events(rng.integers(0, 128, n), rng.integers(0, 128, n), t_ms * 1000, rng.integers(0, 2, n))


def test_round_trip_is_identical(tmp_path):
    for seed in range(3):
        ev = _sample(seed)
        path = tmp_path / f"{seed}.npy"
        write_dvs_gesture(path, ev)
        raw = np.load(path)
        assert raw.shape == (len(ev), 4) and np.array_equal(raw[:, 3], ev["t"] // 1000)  # x, y, p, t in ms
        assert np.array_equal(read_dvs_gesture(path), ev)


def test_float_files_floor_to_the_microsecond(tmp_path):
    path = tmp_path / "0.npy"
    np.save(path, np.array([[1.0, 2.0, 1.0, 0.0015], [3.0, 4.0, 0.0, 12.25]]))
    assert read_dvs_gesture(path).tolist() == [(1, 2, 1, 1), (3, 4, 12250, 0)]


def test_bad_files_raise_naming_file_and_problem(tmp_path):
    cases = {
        "cols.npy": (np.zeros((4, 3)), r"expected an \[N, 4\] array"),
        "empty.npy": (np.zeros((0, 4)), "empty sample"),
        "pol.npy": (np.array([[1, 2, 3, 4]]), "polarities"),
        "frac.npy": (np.array([[1.5, 2, 1, 4]]), "must be integers"),
        "neg.npy": (np.array([[1, 2, 1, -4]]), ">= 0 ms"),
        "nan.npy": (np.array([[1, 2, 1, np.nan]]), "NaN"),
        "text.npy": (np.array([["a", "b", "c", "d"]]), "numeric"),
    }
    for name, (arr, match) in cases.items():
        np.save(tmp_path / name, arr)
        with pytest.raises(EventFileError, match=f"{name}: .*{match}"):
            read_dvs_gesture(tmp_path / name)
    (tmp_path / "junk.npy").write_bytes(b"junk")
    with pytest.raises(EventFileError, match="junk.npy: not a readable .npy"):
        read_dvs_gesture(tmp_path / "junk.npy")
    np.save(tmp_path / "wide.npy", np.array([[128, 0, 1, 5]]))
    with pytest.raises(ShapeError, match="wide.npy: 1 event"):
        read_dvs_gesture(tmp_path / "wide.npy")
    with pytest.raises(FileNotFoundError):
        read_dvs_gesture(tmp_path / "missing.npy")
    with pytest.raises(ParameterError, match="whole milliseconds"):
        write_dvs_gesture(tmp_path / "x.npy", make_events([1], [1], [1500], [1]))


def _make_split(root, folder: str, users=((1, "fluorescent"), (2, "led"))) -> dict[str, np.ndarray]:
    written = {}
    for user, light in users:
        d = root / folder / f"user{user:02d}_{light}"
        d.mkdir(parents=True)
        for label in range(11):
            ev = _sample(100 * user + label, n=40)
            write_dvs_gesture(d / f"{label}.npy", ev)
            written[f"{user}/{label}"] = ev
    return written


def test_dataset_over_tonic_layout(tmp_path):
    written = _make_split(tmp_path / "DVSGesture", "ibmGestureTrain")
    ds = DVSGesture(tmp_path, "train")
    assert len(ds) == 22 and ds.sensor_size == (128, 128, 2) and len(DVS_GESTURE_CLASSES) == 11
    assert sorted(ds.labels.tolist()) == sorted(list(range(11)) * 2)
    assert set(ds.users.tolist()) == {1, 2} and set(ds.lighting) == {"fluorescent", "led"}
    i = ds.files.index(tmp_path / "DVSGesture/ibmGestureTrain/user02_led/7.npy")
    ev, label = ds[i]
    assert label == 7 and ds.users[i] == 2 and np.array_equal(ev, written["2/7"])
    binned = DVSGesture(tmp_path, "train", transform=lambda e: to_frames(e, (128, 128, 2), bin_us=500_000))
    assert int(binned[i][0].sum()) == 40


def test_missing_dataset_and_bad_names(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        DVSGesture(tmp_path, "test")
    msg = str(info.value)
    assert "ibmGestureTest" in msg and "figshare" in msg and str(tmp_path) in msg
    (tmp_path / "ibmGestureTest" / "user24_led").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no .npy files"):
        DVSGesture(tmp_path, "test")
    write_dvs_gesture(tmp_path / "ibmGestureTest" / "user24_led" / "11.npy", _sample(0, 5))
    with pytest.raises(EventFileError, match="11.npy: the file name must be the label"):
        DVSGesture(tmp_path, "test")
    with pytest.raises(ParameterError, match="split"):
        DVSGesture(tmp_path, "valid")  # type: ignore[arg-type]


def test_dataset_gives_the_same_samples_as_tonic(tmp_path, monkeypatch):
    tonic = pytest.importorskip("tonic")
    _make_split(tmp_path / "DVSGesture", "ibmGestureTest", users=((24, "led"), (25, "natural")))
    rng = np.random.default_rng(5)  # one file as floats with fractional milliseconds
    floats = np.column_stack(
        [rng.integers(0, 128, (30, 2)), rng.integers(0, 2, 30), np.sort(rng.random(30) * 5e3)]
    )
    np.save(tmp_path / "DVSGesture/ibmGestureTest/user25_natural/3.npy", floats.astype(np.float64))
    monkeypatch.setattr(tonic.datasets.DVSGesture, "_check_exists", lambda self: True)  # no download
    theirs = tonic.datasets.DVSGesture(str(tmp_path), train=False)
    ours = DVSGesture(tmp_path, "test")
    assert len(theirs) == len(ours) == 22
    by_file = {str(f): i for i, f in enumerate(ours.files)}
    for j, path in enumerate(theirs.data):
        a, la = theirs[j]
        b, lb = ours[by_file[path]]
        assert la == lb
        for f in ("x", "y", "t", "p"):
            assert np.array_equal(a[f], b[f]), f
