"""N-MNIST (Orchard et al. 2015): MNIST recorded by an ATIS camera moved in three saccades.

Files: one ``.bin`` per sample, 5 bytes per event (the format of Orchard's ``Read_Ndataset.m``
and of tonic's ``read_mnist_file``)::

    byte 0: x (8 bits)     byte 1: y (8 bits)
    byte 2: bit 7 = polarity (1 = ON), bits 6..0 = timestamp bits 22..16
    bytes 3, 4: timestamp bits 15..0 (big-endian); timestamps in microseconds

An event with ``y == 240`` marks a timestamp overflow: it is dropped and ``2**13`` us are added
to the timestamps of the events after it (as in the reference readers).

Layout (the published ``Train.zip`` and ``Test.zip``, unzipped)::

    root/Train/0/00002.bin ... root/Train/9/...     root/Test/0/... root/Test/9/...

(``root/NMNIST/Train`` as tonic stores it also works). Sensor 34x34, 2 polarities, about
300 ms per sample. tonic is not needed: :func:`read_nmnist` gives the same events as
``tonic.io.read_mnist_file`` (tested), and tonic's dataset class would try to download.

    >>> import tempfile, os
    >>> from spikeforge.data import make_events, read_nmnist, write_nmnist
    >>> path = os.path.join(tempfile.mkdtemp(), "00001.bin")
    >>> write_nmnist(path, make_events(x=[3, 30], y=[4, 33], t=[10, 300_000], p=[1, 0]))
    >>> read_nmnist(path).tolist()                 # (x, y, t, p)
    [(3, 4, 10, 1), (30, 33, 300000, 0)]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from torch.utils.data import Dataset

from .._events import make_events
from ..errors import ParameterError
from .events import EventFileError, as_events

__all__ = ["NMNIST", "NMNIST_SENSOR_SIZE", "read_nmnist", "write_nmnist"]

NMNIST_SENSOR_SIZE = (34, 34, 2)
"""``(W, H, P)`` of the N-MNIST recordings."""

_OVERFLOW_Y = 240
_OVERFLOW_US = 2**13
_URL = "https://www.garrickorchard.com/datasets/n-mnist"


def read_nmnist(
    path: str | os.PathLike[str], *, sensor_size: Sequence[int] | None = NMNIST_SENSOR_SIZE
) -> np.ndarray:
    """Read one N-MNIST (or N-Caltech101) ``.bin`` file.

    Args:
        path: the file.
        sensor_size: ``(W, H, P)`` every event must lie on; None skips the check (N-Caltech101
            recordings are larger).

    Returns:
        Events of :data:`~spikeforge.data.EVENT_DTYPE` in file order (time order within a
        recording), ``t`` in microseconds, ``p = 1`` for ON.

    Raises:
        FileNotFoundError: no such file.
        EventFileError: an empty file or a length that is not a multiple of 5 bytes.
        ShapeError: events outside ``sensor_size``.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "bad.bin")
        >>> _ = open(path, "wb").write(bytes(7))
        >>> read_nmnist(path)          # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        spikeforge.data.events.EventFileError: .../bad.bin: 7 bytes is not a multiple of 5 ...
    """
    raw = np.fromfile(os.fspath(path), dtype=np.uint8)
    if raw.size == 0:
        raise EventFileError(f"{path}: empty N-MNIST file (no events)")
    if raw.size % 5:
        raise EventFileError(
            f"{path}: {raw.size} bytes is not a multiple of 5 (5 bytes per event): the file is truncated "
            "or not an N-MNIST .bin file"
        )
    rec = raw.reshape(-1, 5).astype(np.int64)
    x, y = rec[:, 0], rec[:, 1]
    p = rec[:, 2] >> 7
    t = ((rec[:, 2] & 0x7F) << 16) | (rec[:, 3] << 8) | rec[:, 4]
    overflow = y == _OVERFLOW_Y
    if overflow.any():
        t = t + _OVERFLOW_US * np.cumsum(overflow)
        keep = ~overflow
        x, y, t, p = x[keep], y[keep], t[keep], p[keep]
        if x.size == 0:
            raise EventFileError(f"{path}: the file holds only timestamp-overflow markers, no events")
    events = make_events(x, y, t, p)
    if sensor_size is not None:
        events = as_events(events, sensor_size, name=os.fspath(path))
    return events


def write_nmnist(path: str | os.PathLike[str], events: np.ndarray) -> None:
    """Write events in the N-MNIST ``.bin`` format (for tests and for converted data).

    Args:
        path: the file to create (overwritten).
        events: an event array with ``x, y < 256``, ``y != 240`` (the overflow marker) and
            ``t < 2**23`` us (8.4 s); written in the given order.

    Raises:
        ParameterError: events the format cannot hold, or no events.

    Example:
        >>> import tempfile, os
        >>> from spikeforge.data import make_events
        >>> path = os.path.join(tempfile.mkdtemp(), "a.bin")
        >>> write_nmnist(path, make_events(x=[1], y=[2], t=[2**23], p=[1]))
        Traceback (most recent call last):
            ...
        spikeforge.errors.ParameterError: N-MNIST timestamps must be < 2**23 us, got 8388608
    """
    ev = as_events(events)
    if ev.size == 0:
        raise ParameterError("write_nmnist needs at least one event (N-MNIST files are never empty)")
    if int(ev["x"].max()) > 255 or int(ev["y"].max()) > 255:
        raise ParameterError("N-MNIST stores x and y in 8 bits: they must be < 256")
    if (ev["y"] == _OVERFLOW_Y).any():
        raise ParameterError(
            f"y = {_OVERFLOW_Y} marks a timestamp overflow in N-MNIST files; it cannot be written"
        )
    if int(ev["t"].max()) >= 2**23:
        raise ParameterError(f"N-MNIST timestamps must be < 2**23 us, got {int(ev['t'].max())}")
    t = ev["t"].astype(np.int64)
    rec = np.empty((ev.size, 5), dtype=np.uint8)
    rec[:, 0] = ev["x"]
    rec[:, 1] = ev["y"]
    rec[:, 2] = (ev["p"].astype(np.int64) << 7) | (t >> 16)
    rec[:, 3] = (t >> 8) & 0xFF
    rec[:, 4] = t & 0xFF
    Path(path).write_bytes(rec.tobytes())


def _split_dir(root: Path, folder: str) -> Path | None:
    for base in (root, root / "NMNIST"):
        if (base / folder).is_dir():
            return base / folder
    return None


class NMNIST(Dataset):
    """N-MNIST from local files: ``(events, label)`` pairs, events of
    :data:`~spikeforge.data.EVENT_DTYPE` on a 34x34x2 sensor.

    Args:
        root: the folder holding ``Train/`` and ``Test/`` (or ``NMNIST/Train``...).
        split: ``"train"`` or ``"test"``.
        transform: applied to the events, for example
            ``lambda ev: to_frames(ev, NMNIST_SENSOR_SIZE, bin_us=10_000, duration_us=320_000)``.

    Attributes:
        files: the sample files, sorted by class then name.
        labels: int64 array, the digit of each file (its folder's name).
        sensor_size: ``(34, 34, 2)``.

    Raises:
        FileNotFoundError: the split's folder or its ``.bin`` files are missing (the message
            says what to download and where to put it).
        ParameterError: an unknown split.

    Example:
        >>> import tempfile, os
        >>> from spikeforge.data import NMNIST, make_events, write_nmnist
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(f"{root}/Test/7")
        >>> write_nmnist(f"{root}/Test/7/00001.bin", make_events([1, 2], [3, 4], [5, 6], [1, 0]))
        >>> ds = NMNIST(root, "test")
        >>> len(ds), ds[0][1], len(ds[0][0])
        (1, 7, 2)
    """

    sensor_size = NMNIST_SENSOR_SIZE

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: Literal["train", "test"] = "train",
        *,
        transform: Callable[[np.ndarray], Any] | None = None,
    ) -> None:
        if split not in ("train", "test"):
            raise ParameterError(f"split must be 'train' or 'test', got {split!r}")
        folder = "Train" if split == "train" else "Test"
        root_path = Path(root).expanduser()
        hint = (
            f"put the N-MNIST files in {root_path}/{folder}/<digit>/*.bin (0 to 9): download Train.zip "
            f"and Test.zip from {_URL} and unzip them in {root_path}"
        )
        base = _split_dir(root_path, folder)
        if base is None:
            raise FileNotFoundError(
                f"N-MNIST {split} split not found: no folder {root_path}/{folder}; {hint}"
            )
        files: list[Path] = []
        labels: list[int] = []
        for d in sorted(base.iterdir()):
            if d.is_dir() and d.name.isdigit() and int(d.name) < 10:
                for f in sorted(d.glob("*.bin")):
                    files.append(f)
                    labels.append(int(d.name))
        if not files:
            raise FileNotFoundError(f"N-MNIST {split} split: no .bin files in {base}/0 ... {base}/9; {hint}")
        self.root = root_path
        self.split = split
        self.files = files
        self.labels = np.asarray(labels, dtype=np.int64)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        events: Any = read_nmnist(self.files[i], sensor_size=self.sensor_size)
        if self.transform is not None:
            events = self.transform(events)
        return events, int(self.labels[i])
