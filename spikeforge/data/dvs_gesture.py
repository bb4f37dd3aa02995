"""DVS Gesture (Amir et al. 2017) in tonic's preprocessed form: one ``.npy`` file per gesture.

11 gestures by 29 subjects under 3 lighting conditions, recorded by a 128x128 DVS. The original
AEDAT recordings hold several gestures each; tonic's release (``ibmGestureTrain.tar.gz``,
``ibmGestureTest.tar.gz``) cuts them into one file per gesture::

    root/ibmGestureTrain/user01_fluorescent/0.npy ... 10.npy      (the file name is the label)
    root/ibmGestureTest/user24_led/...

Each file is an ``[N, 4]`` array with columns x, y, p, t, the time in **milliseconds**;
:func:`read_dvs_gesture` returns events with ``t`` in microseconds (``floor(t_ms * 1000)``, as
tonic does). ``root/DVSGesture/ibmGestureTrain`` (tonic's location) also works. tonic is not
needed: the reader gives the same events as tonic's ``DVSGesture`` (tested).

    >>> import tempfile, os
    >>> from spikeforge.data import make_events, read_dvs_gesture, write_dvs_gesture
    >>> path = os.path.join(tempfile.mkdtemp(), "3.npy")
    >>> write_dvs_gesture(path, make_events(x=[0, 127], y=[5, 6], t=[0, 2_000], p=[1, 0]))
    >>> read_dvs_gesture(path).tolist()
    [(0, 5, 0, 1), (127, 6, 2000, 0)]
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from torch.utils.data import Dataset

from .._events import make_events
from ..errors import ParameterError
from .events import EventFileError, as_events

__all__ = [
    "DVSGesture",
    "DVS_GESTURE_SENSOR_SIZE",
    "DVS_GESTURE_CLASSES",
    "read_dvs_gesture",
    "write_dvs_gesture",
]

DVS_GESTURE_SENSOR_SIZE = (128, 128, 2)
"""``(W, H, P)`` of the DVS128."""

DVS_GESTURE_CLASSES = (
    "hand clapping",
    "right hand wave",
    "left hand wave",
    "right arm clockwise",
    "right arm counter-clockwise",
    "left arm clockwise",
    "left arm counter-clockwise",
    "arm roll",
    "air drums",
    "air guitar",
    "other gestures",
)
"""The 11 classes, by label."""

_URLS = (
    "https://figshare.com/ndownloader/files/38022171 (train) and "
    "https://figshare.com/ndownloader/files/38020584 (test)"
)
_USER = re.compile(r"user(\d+)_(.+)")


_MAX_T_MS = (2**63 - 1) // 1000 - 1  # the largest time (ms) whose microseconds fit int64


def read_dvs_gesture(
    path: str | os.PathLike[str], *, sensor_size: Sequence[int] | None = DVS_GESTURE_SENSOR_SIZE
) -> np.ndarray:
    """Read one gesture ``.npy`` file (columns x, y, p, t in ms).

    Args:
        path: the file.
        sensor_size: ``(W, H, P)`` every event must lie on; None skips the check.

    Returns:
        Events of :data:`~spikeforge.data.EVENT_DTYPE` in file order, ``t`` in microseconds.

    Raises:
        FileNotFoundError: no such file.
        EventFileError: not a numeric ``[N, 4]`` array, no events, non-integer coordinates,
            polarities other than 0/1, negative or non-finite times, or times whose microseconds
            overflow int64.
        ShapeError: events outside ``sensor_size``.

    Example:
        >>> import tempfile, os, numpy as np
        >>> path = os.path.join(tempfile.mkdtemp(), "0.npy")
        >>> np.save(path, np.zeros((5, 3)))
        >>> read_dvs_gesture(path)        # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        spikeforge.data.events.EventFileError: .../0.npy: expected an [N, 4] array ... got shape [5, 3]
    """
    name = os.fspath(path)
    if not Path(name).is_file():
        raise FileNotFoundError(f"no such file: {name}")
    try:
        a = np.load(name, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise EventFileError(f"{name}: not a readable .npy file ({e})") from None
    if a.dtype.names is not None or not (
        np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)
    ):
        raise EventFileError(
            f"{name}: expected a numeric [N, 4] array (x, y, p, t in ms), got dtype {a.dtype}"
        )
    if a.ndim != 2 or a.shape[1] != 4:
        raise EventFileError(
            f"{name}: expected an [N, 4] array (x, y, p, t in ms), got shape {list(a.shape)}"
        )
    if a.shape[0] == 0:
        raise EventFileError(f"{name}: empty sample (no events)")
    if not np.isfinite(a).all():
        raise EventFileError(f"{name}: NaN or infinite values")
    xyp = a[:, :3]
    if np.issubdtype(a.dtype, np.floating) and not np.array_equal(xyp, np.floor(xyp)):
        raise EventFileError(f"{name}: x, y and p (columns 0 to 2) must be integers")
    p = a[:, 2]
    if not np.isin(p, (0, 1)).all():
        raise EventFileError(f"{name}: polarities (column 2) must be 0 or 1")
    if a[:, 3].min() < 0:
        raise EventFileError(f"{name}: times (column 3) must be >= 0 ms")
    if float(a[:, 3].max()) > _MAX_T_MS or (a.dtype.kind == "u" and int(a[:, :3].max()) > _MAX_T_MS):
        # t * 1000 (us) would overflow int64 and wrap (and huge unsigned coordinates would wrap too)
        raise EventFileError(
            f"{name}: times (column 3) must be at most {_MAX_T_MS} ms (int64 microseconds), got max "
            f"{a[:, 3].max().item()!r}"
        )
    if np.issubdtype(a.dtype, np.integer):
        t = a[:, 3].astype(np.int64) * 1000
    else:
        t = np.floor(a[:, 3].astype(np.float64) * 1000.0).astype(np.int64)
    try:
        events = make_events(a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), t, p.astype(np.int64))
    except ParameterError as e:
        raise EventFileError(f"{name}: {e}") from None
    if sensor_size is not None:
        events = as_events(events, sensor_size, name=name)
    return events


def write_dvs_gesture(path: str | os.PathLike[str], events: np.ndarray) -> None:
    """Write events as a gesture ``.npy`` file (int64 columns x, y, p, t in ms).

    Args:
        path: the file to create (overwritten).
        events: an event array whose times are whole milliseconds (``t % 1000 == 0``): the
            format keeps milliseconds only.

    Raises:
        ParameterError: no events, or times that are not whole milliseconds.
    """
    ev = as_events(events)
    if ev.size == 0:
        raise ParameterError("write_dvs_gesture needs at least one event")
    if (ev["t"] % 1000).any():
        raise ParameterError(
            "DVS Gesture files store whole milliseconds: t (us) must be multiples of 1000; "
            "round first, e.g. ev['t'] = ev['t'] // 1000 * 1000"
        )
    cols = np.stack(
        [ev["x"].astype(np.int64), ev["y"].astype(np.int64), ev["p"].astype(np.int64), ev["t"] // 1000],
        axis=1,
    )
    with open(os.fspath(path), "wb") as fh:
        np.save(fh, cols)


def _split_dir(root: Path, folder: str) -> Path | None:
    for base in (root, root / "DVSGesture"):
        if (base / folder).is_dir():
            return base / folder
    return None


class DVSGesture(Dataset):
    """DVS Gesture from tonic's preprocessed files: ``(events, label)`` pairs on a 128x128x2
    sensor, 11 classes (:data:`DVS_GESTURE_CLASSES`).

    Args:
        root: the folder holding ``ibmGestureTrain/`` and ``ibmGestureTest/`` (or
            ``DVSGesture/ibmGestureTrain``...).
        split: ``"train"`` (1,077 gestures) or ``"test"`` (264).
        transform: applied to the events, for example ``lambda ev: to_frames(ev,
            DVS_GESTURE_SENSOR_SIZE, bin_us=50_000, duration_us=6_000_000, crop=True)``.

    Attributes:
        files: the sample files, sorted; ``labels``: int64 labels (file names);
        ``users``: the subject of each file (-1 when its folder is not ``user<NN>_<lighting>``);
        ``lighting``: the lighting condition of each file.

    Raises:
        FileNotFoundError: the split's folder or its files are missing (the message says what to
            download and where to put it).
        EventFileError: a ``.npy`` file whose name is not a label 0..10.
        ParameterError: an unknown split.

    Example:
        >>> import tempfile, os
        >>> from spikeforge.data import DVSGesture, make_events, write_dvs_gesture
        >>> root = tempfile.mkdtemp(); os.makedirs(f"{root}/ibmGestureTest/user24_led")
        >>> write_dvs_gesture(f"{root}/ibmGestureTest/user24_led/4.npy", make_events([1], [2], [3000], [1]))
        >>> ds = DVSGesture(root, "test")
        >>> ds[0][1], ds.users.tolist(), ds.lighting
        (4, [24], ['led'])
    """

    sensor_size = DVS_GESTURE_SENSOR_SIZE
    classes = DVS_GESTURE_CLASSES

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: Literal["train", "test"] = "train",
        *,
        transform: Callable[[np.ndarray], Any] | None = None,
    ) -> None:
        if split not in ("train", "test"):
            raise ParameterError(f"split must be 'train' or 'test', got {split!r}")
        folder = "ibmGestureTrain" if split == "train" else "ibmGestureTest"
        root_path = Path(root).expanduser()
        hint = (
            f"download ibmGestureTrain.tar.gz and ibmGestureTest.tar.gz (tonic's preprocessed DVS Gesture: "
            f"{_URLS}) and extract them in {root_path}, giving "
            f"{root_path}/{folder}/user<NN>_<lighting>/<label>.npy"
        )
        base = _split_dir(root_path, folder)
        if base is None:
            raise FileNotFoundError(
                f"DVS Gesture {split} split not found: no folder {root_path}/{folder}; {hint}"
            )
        files = sorted(base.glob("*/*.npy"))
        if not files:
            raise FileNotFoundError(f"DVS Gesture {split} split: no .npy files in {base}/*/; {hint}")
        labels: list[int] = []
        users: list[int] = []
        lighting: list[str] = []
        for f in files:
            if not (f.stem.isdigit() and int(f.stem) < len(DVS_GESTURE_CLASSES)):
                raise EventFileError(f"{f}: the file name must be the label, 0.npy to 10.npy")
            labels.append(int(f.stem))
            m = _USER.fullmatch(f.parent.name)
            users.append(int(m.group(1)) if m else -1)
            lighting.append(m.group(2) if m else f.parent.name)
        self.root = root_path
        self.split = split
        self.files = files
        self.labels = np.asarray(labels, dtype=np.int64)
        self.users = np.asarray(users, dtype=np.int64)
        self.lighting = lighting
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        events: Any = read_dvs_gesture(self.files[i], sensor_size=self.sensor_size)
        if self.transform is not None:
            events = self.transform(events)
        return events, int(self.labels[i])
