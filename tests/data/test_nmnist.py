"""N-MNIST .bin files: the bit layout, round trips, bad files, the folder layout, and tonic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeforge.data import (
    NMNIST,
    EventFileError,
    make_events,
    pad_collate,
    read_nmnist,
    to_frames,
    write_nmnist,
)
from spikeforge.errors import ParameterError, ShapeError


def _sample(seed: int, n: int = 400) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return make_events(
        rng.integers(0, 34, n),
        rng.integers(0, 34, n),
        np.sort(rng.integers(0, 2**23, n)),
        rng.integers(0, 2, n),
    )


def test_bit_layout_of_hand_made_bytes(tmp_path):
    # x=5, y=33, ON, t = 0x12345 (bits 22..16 = 0x01 in byte 2); x=0, y=1, OFF, t = 2**23 - 1
    raw = bytes([5, 33, 0x80 | 0x01, 0x23, 0x45, 0, 1, 0x7F, 0xFF, 0xFF])
    path = tmp_path / "a.bin"
    path.write_bytes(raw)
    ev = read_nmnist(path)
    assert ev.tolist() == [(5, 33, 0x12345, 1), (0, 1, 2**23 - 1, 0)]


def test_overflow_markers_add_2_13_us_to_later_events(tmp_path):
    raw = bytes([1, 2, 0x80, 0, 10]) + bytes([0, 240, 0, 0, 0]) + bytes([3, 4, 0, 0, 20])
    path = tmp_path / "o.bin"
    path.write_bytes(raw)
    assert read_nmnist(path).tolist() == [(1, 2, 10, 1), (3, 4, 20 + 2**13, 0)]


@pytest.mark.parametrize("seed", range(3))
def test_round_trip_is_identical(tmp_path, seed):
    ev = _sample(seed)
    path = tmp_path / f"{seed}.bin"
    write_nmnist(path, ev)
    assert path.stat().st_size == 5 * len(ev)
    assert np.array_equal(read_nmnist(path), ev)


def test_same_events_as_tonic(tmp_path):
    tonic = pytest.importorskip("tonic")
    raw = bytes([7, 9, 0x80, 0, 10]) + bytes([0, 240, 0, 0, 0]) + bytes([3, 4, 0, 0, 20])
    files = {"overflow.bin": raw}
    for seed in range(3):
        p = tmp_path / f"{seed}.bin"
        write_nmnist(p, _sample(seed))
        files[f"{seed}.bin"] = p.read_bytes()
    (tmp_path / "overflow.bin").write_bytes(raw)
    for name in files:
        theirs = tonic.io.read_mnist_file(str(tmp_path / name), dtype=tonic.datasets.NMNIST.dtype)
        ours = read_nmnist(tmp_path / name)
        for f in ("x", "y", "t", "p"):
            assert np.array_equal(theirs[f], ours[f]), (name, f)


def test_truncated_empty_and_off_sensor_files_raise_naming_the_file(tmp_path):
    good = tmp_path / "good.bin"
    write_nmnist(good, _sample(0, n=10))
    cut = tmp_path / "cut.bin"
    cut.write_bytes(good.read_bytes()[:-2])
    with pytest.raises(EventFileError, match=r"cut.bin: 48 bytes is not a multiple of 5"):
        read_nmnist(cut)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(EventFileError, match="empty.bin: empty"):
        read_nmnist(empty)
    only = tmp_path / "only.bin"
    only.write_bytes(bytes([0, 240, 0, 0, 0]))
    with pytest.raises(EventFileError, match="only timestamp-overflow"):
        read_nmnist(only)
    big = tmp_path / "big.bin"
    write_nmnist(big, make_events([40], [3], [0], [1]))
    with pytest.raises(ShapeError, match=r"big.bin: 1 event\(s\) lie outside the sensor"):
        read_nmnist(big)
    assert read_nmnist(big, sensor_size=None)["x"].tolist() == [40]
    assert read_nmnist(big, sensor_size=(64, 64, 2))["x"].tolist() == [40]
    with pytest.raises(FileNotFoundError):
        read_nmnist(tmp_path / "missing.bin")


def test_write_rejects_what_the_format_cannot_hold(tmp_path):
    path = tmp_path / "w.bin"
    with pytest.raises(ParameterError, match="2\\*\\*23"):
        write_nmnist(path, make_events([1], [1], [2**23], [1]))
    with pytest.raises(ParameterError, match="256"):
        write_nmnist(path, make_events([300], [1], [0], [1]))
    with pytest.raises(ParameterError, match="overflow"):
        write_nmnist(path, make_events([1], [240], [0], [1]))
    with pytest.raises(ParameterError, match="at least one event"):
        write_nmnist(path, make_events(np.zeros(0, int), 0, 0, 1))


def _make_split(root, folder: str, per_class: int = 2) -> dict[str, np.ndarray]:
    written = {}
    for digit in range(10):
        d = root / folder / str(digit)
        d.mkdir(parents=True)
        for k in range(per_class):
            ev = _sample(100 * digit + k, n=50)
            write_nmnist(d / f"{k:05d}.bin", ev)
            written[f"{digit}/{k:05d}"] = ev
    return written


@pytest.mark.parametrize("prefix", ["", "NMNIST"])
def test_dataset_over_the_published_layout(tmp_path, prefix):
    base = tmp_path / prefix if prefix else tmp_path
    written = _make_split(base, "Test")
    ds = NMNIST(tmp_path, "test")
    assert len(ds) == 20 and ds.sensor_size == (34, 34, 2)
    assert ds.labels.tolist() == [d for d in range(10) for _ in range(2)]
    ev, label = ds[5]
    assert label == 2 and np.array_equal(ev, written["2/00001"])
    binned = NMNIST(tmp_path, "test", transform=lambda e: to_frames(e, (34, 34, 2), bin_us=1_000_000))
    loader = torch.utils.data.DataLoader(binned, batch_size=8, collate_fn=pad_collate)
    x, y = next(iter(loader))
    assert x.shape[1:] == (8, 2, 34, 34) and y.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    with pytest.raises(FileNotFoundError, match="N-MNIST train split not found"):
        NMNIST(tmp_path, "train")


def test_missing_dataset_says_what_to_put_where(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        NMNIST(tmp_path, "train")
    msg = str(info.value)
    assert f"{tmp_path}/Train" in msg and "Train.zip" in msg and "garrickorchard.com" in msg
    (tmp_path / "Test" / "3").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no .bin files"):
        NMNIST(tmp_path, "test")
    with pytest.raises(ParameterError, match="split"):
        NMNIST(tmp_path, "valid")  # type: ignore[arg-type]


def test_dataset_gives_the_same_samples_as_tonic(tmp_path, monkeypatch):
    tonic = pytest.importorskip("tonic")
    _make_split(tmp_path / "NMNIST", "Train", per_class=1)
    monkeypatch.setattr(tonic.datasets.NMNIST, "_check_exists", lambda self: True)  # no download
    theirs = tonic.datasets.NMNIST(str(tmp_path), train=True)
    ours = NMNIST(tmp_path, "train")
    assert len(theirs) == len(ours) == 10
    for i in range(10):
        (a, la), (b, lb) = theirs[i], ours[i]
        assert la == lb
        for f in ("x", "y", "t", "p"):
            assert np.array_equal(a[f], b[f])
