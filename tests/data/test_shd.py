"""SHD and SSC HDF5 files: the published layout, round trips, bad files, and tonic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeforge.data import (
    SHD,
    SSC,
    EventFileError,
    make_events,
    pad_collate,
    read_shd,
    to_channels,
    write_shd,
)
from spikeforge.errors import ParameterError

h5py = pytest.importorskip("h5py")


def _samples(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(1, 300))
        out.append(make_events(rng.integers(0, 700, k), 0, np.sort(rng.integers(0, 1_400_000, k)), 1))
    return out


def _write_raw(
    path, times: list[np.ndarray], units: list[np.ndarray], labels, *, time_dtype=np.float16
) -> None:
    """The published layout written with h5py directly (not with write_shd)."""
    with h5py.File(path, "w") as f:
        t = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(np.dtype(time_dtype)))
        u = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.dtype(np.uint16)))
        for i, (ti, ui) in enumerate(zip(times, units)):
            t[i] = ti.astype(time_dtype)
            u[i] = ui
        f["labels"] = np.asarray(labels, dtype=np.uint16)
        f["extra/keys"] = np.array([b"zero", b"one", b"two"])
        f["extra/speaker"] = np.arange(len(labels), dtype=np.uint16)


def test_reads_the_published_layout(tmp_path):
    rng = np.random.default_rng(1)
    times = [np.sort(rng.random(50)) for _ in range(3)]
    units = [rng.integers(0, 700, 50).astype(np.uint16) for _ in range(3)]
    path = tmp_path / "shd_test.h5"
    _write_raw(path, times, units, [2, 0, 1])
    data = read_shd(path)
    assert data.labels.tolist() == [2, 0, 1] and data.keys == ["zero", "one", "two"]
    assert data.speakers.tolist() == [0, 1, 2]
    for ev, t, u in zip(data.events, times, units):
        stored = t.astype(np.float16).astype(np.float64)
        assert ev["t"].tolist() == np.floor(stored * 1e6).astype(np.int64).tolist()
        assert (
            ev["x"].tolist() == u.tolist() and set(ev["y"].tolist()) == {0} and set(ev["p"].tolist()) == {1}
        )


def test_round_trip_is_identical(tmp_path):
    evs = _samples(5)
    path = tmp_path / "shd_train.h5"
    write_shd(path, evs, labels=[0, 1, 2, 3, 19], keys=[f"k{i}" for i in range(20)], speakers=[4, 4, 5, 5, 6])
    data = read_shd(path)
    assert len(data.events) == 5
    for a, b in zip(evs, data.events):
        assert np.array_equal(a, b)
    assert data.labels.tolist() == [0, 1, 2, 3, 19] and data.speakers.tolist() == [4, 4, 5, 5, 6]
    assert data.keys[19] == "k19"


def test_dataset_splits_lazy_reading_and_binning(tmp_path):
    evs = _samples(6, seed=2)
    for split in ("train", "valid", "test"):
        write_shd(tmp_path / f"ssc_{split}.h5", evs, labels=[0, 1, 2, 3, 4, 34])
    ds = SSC(tmp_path, "valid", transform=lambda e: to_channels(e, 700, bin_us=10_000, duration_us=1_400_000))
    assert len(ds) == 6 and ds.labels.tolist() == [0, 1, 2, 3, 4, 34]
    x, y = pad_collate([ds[i] for i in range(6)])
    assert x.shape == (140, 6, 700) and y[-1] == 34
    assert [int(x[:, i].sum()) for i in range(6)] == [len(e) for e in evs]
    assert np.array_equal(SSC(tmp_path, "test")[-1][0], evs[-1])
    loader = torch.utils.data.DataLoader(SSC(tmp_path, "train"), batch_size=2, num_workers=2, collate_fn=list)
    assert sum(len(b) for b in loader) == 6  # one HDF5 handle per worker process


def test_tonic_layout_and_missing_files(tmp_path):
    (tmp_path / "SHD").mkdir()
    write_shd(tmp_path / "SHD" / "shd_test.h5", _samples(2), labels=[1, 2])
    assert len(SHD(tmp_path, "test")) == 2
    with pytest.raises(FileNotFoundError) as info:
        SHD(tmp_path, "train")
    msg = str(info.value)
    assert "shd_train.h5 and shd_test.h5" in msg and "zenkelab.org/datasets" in msg and str(tmp_path) in msg
    with pytest.raises(FileNotFoundError, match="ssc_train.h5 and ssc_valid.h5 and ssc_test.h5"):
        SSC(tmp_path, "valid")
    with pytest.raises(ParameterError, match="split"):
        SHD(tmp_path, "valid")  # type: ignore[arg-type]


def test_bad_files_raise_naming_file_and_problem(tmp_path):
    not_h5 = tmp_path / "shd_train.h5"
    not_h5.write_bytes(b"not an hdf5 file")
    with pytest.raises(EventFileError, match="shd_train.h5: not a readable HDF5 file"):
        read_shd(not_h5)
    with pytest.raises(EventFileError, match="not a readable HDF5 file"):
        SHD(tmp_path, "train")
    no_labels = tmp_path / "no_labels.h5"
    with h5py.File(no_labels, "w") as f:
        f.create_dataset("spikes/times", (1,), dtype=h5py.vlen_dtype(np.dtype(np.float32)))
        f.create_dataset("spikes/units", (1,), dtype=h5py.vlen_dtype(np.dtype(np.uint16)))
    with pytest.raises(
        EventFileError, match=r"no_labels.h5: not an SHD/SSC file: missing the dataset\(s\) \['labels'\]"
    ):
        read_shd(no_labels)
    rng = np.random.default_rng(0)
    cases = {
        "wide.h5": ([rng.random(3)], [np.array([1, 2, 700])], [0], "channels must be in \\[0, 700\\)"),
        "empty.h5": ([np.zeros(0)], [np.zeros(0, np.uint16)], [0], "sample 0: empty sample"),
        "ragged.h5": ([rng.random(3)], [np.array([1, 2])], [0], "equal length"),
        "negative.h5": ([np.array([-0.5, 0.1])], [np.array([1, 2])], [0], "finite and >= 0"),
    }
    for name, (times, units, labels, match) in cases.items():
        _write_raw(tmp_path / name, times, units, labels, time_dtype=np.float32)
        with pytest.raises(EventFileError, match=f"{name}.*{match}"):
            read_shd(tmp_path / name)
    short = tmp_path / "short.h5"
    _write_raw(short, [rng.random(3)] * 2, [np.array([1, 2, 3])] * 2, [0])
    with pytest.raises(EventFileError, match="spikes/times has 2 samples but labels has 1"):
        read_shd(short)


def test_same_events_as_tonic(tmp_path, monkeypatch):
    tonic = pytest.importorskip("tonic")
    rng = np.random.default_rng(3)
    times = [np.sort(rng.random(int(rng.integers(1, 80)))) for _ in range(4)]
    units = [rng.integers(0, 700, t.size).astype(np.uint16) for t in times]
    (tmp_path / "SHD").mkdir()
    (tmp_path / "SSC").mkdir()
    for dtype, path in (
        (np.float16, tmp_path / "SHD" / "shd_test.h5"),
        (np.float32, tmp_path / "SSC" / "ssc_valid.h5"),
    ):
        _write_raw(path, times, units, [0, 1, 2, 1], time_dtype=dtype)
    for cls in (tonic.datasets.SHD, tonic.datasets.SSC):
        monkeypatch.setattr(cls, "_check_exists", lambda self: True)  # no download
    pairs = [
        (tonic.datasets.SHD(str(tmp_path), train=False), SHD(tmp_path, "test")),
        (tonic.datasets.SSC(str(tmp_path), split="valid"), SSC(tmp_path, "valid")),
    ]
    for theirs, ours in pairs:
        assert len(theirs) == len(ours) == 4
        for i in range(4):
            (a, la), (b, lb) = theirs[i], ours[i]
            assert int(la) == lb
            for f in ("x", "t", "p"):
                assert np.array_equal(a[f], b[f]), f
