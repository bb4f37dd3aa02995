"""The Heidelberg spiking datasets SHD and SSC (Cramer et al. 2020), from their HDF5 files.

Spoken words through a cochlea model to 700 channels. Each file (``shd_train.h5``,
``shd_test.h5``, ``ssc_train.h5``, ``ssc_valid.h5``, ``ssc_test.h5``, unzipped from
https://zenkelab.org/datasets/) holds::

    spikes/times    variable-length float arrays, one per sample: spike times in seconds
    spikes/units    variable-length integer arrays: the channel (0..699) of each spike
    labels          the class of each sample (SHD: 20 digits, English and German; SSC: 35 words)
    extra/keys      the class names          extra/speaker   the speaker of each sample

Events have ``x`` = channel, ``y = 0``, ``p = 1`` and ``t = floor(times * 1e6)`` microseconds
(the microsecond in which the spike falls; float16 and float32 times times 1e6 are exact in
float64, so this is exact, and it is what tonic does). Bin them with
:func:`~spikeforge.data.to_channels`.

h5py is needed (``pip install 'spikeforge[data]'``); tonic is not: the readers give the same
events as tonic's ``SHD``/``SSC`` (tested).

    >>> import tempfile, os
    >>> from spikeforge.data import make_events, read_shd, write_shd
    >>> path = os.path.join(tempfile.mkdtemp(), "shd_test.h5")
    >>> write_shd(path, [make_events(x=[5, 699], y=0, t=[1_000, 250_000], p=1)], labels=[3])
    >>> data = read_shd(path)
    >>> data.events[0].tolist(), data.labels.tolist()
    ([(5, 0, 1000, 1), (699, 0, 250000, 1)], [3])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from torch.utils.data import Dataset

from .._events import make_events
from ..errors import MissingDependencyError, ParameterError
from .events import EventFileError, as_events

__all__ = ["SHD", "SSC", "HeidelbergData", "SHD_N_CHANNELS", "read_shd", "write_shd"]

SHD_N_CHANNELS = 700
"""Channels of the SHD and SSC cochlea model."""

_URL = "https://zenkelab.org/datasets/"
_REQUIRED = ("spikes/times", "spikes/units", "labels")


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as e:
        raise MissingDependencyError("reading SHD and SSC needs h5py: pip install 'spikeforge[data]'") from e
    return h5py


class HeidelbergData(NamedTuple):
    """The contents of one SHD or SSC file."""

    events: list[np.ndarray]  # one event array per sample (x = channel, y = 0, p = 1)
    labels: np.ndarray  # int64 [n_samples]
    keys: list[str]  # class names (extra/keys), [] when absent
    speakers: np.ndarray  # int64 [n_samples] (extra/speaker), empty when absent


def _check_layout(f: Any, path: str) -> int:
    missing = [k for k in _REQUIRED if k not in f]
    if missing:
        raise EventFileError(
            f"{path}: not an SHD/SSC file: missing the dataset(s) {missing} (expected spikes/times, "
            "spikes/units, labels, extra/keys, extra/speaker)"
        )
    n = f["labels"].shape[0]
    for k in ("spikes/times", "spikes/units"):
        if f[k].shape[0] != n:
            raise EventFileError(f"{path}: {k} has {f[k].shape[0]} samples but labels has {n}")
    if not np.issubdtype(f["labels"].dtype, np.integer):
        raise EventFileError(f"{path}: labels must be integers, got dtype {f['labels'].dtype}")
    return int(n)


def _sample(times: Any, units: Any, path: str, i: int, n_channels: int) -> np.ndarray:
    times = np.asarray(times)
    units = np.asarray(units)
    where = f"{path}, sample {i}"
    if times.ndim != 1 or units.shape != times.shape:
        raise EventFileError(
            f"{where}: spikes/times and spikes/units must be 1-D of equal length, got shapes "
            f"{list(times.shape)} and {list(units.shape)}"
        )
    if times.size == 0:
        raise EventFileError(f"{where}: empty sample (no spikes)")
    if not np.issubdtype(units.dtype, np.integer):
        raise EventFileError(f"{where}: spikes/units must be integers, got dtype {units.dtype}")
    t = times.astype(np.float64) * 1e6
    if not np.isfinite(t).all() or t.min() < 0:
        raise EventFileError(f"{where}: spike times must be finite and >= 0 s")
    if t.max() >= 2.0**63:  # floor(t) would wrap in int64
        raise EventFileError(f"{where}: spike times must be below 2**63 us, got max {float(times.max())!r} s")
    if units.min() < 0 or units.max() >= n_channels:
        raise EventFileError(
            f"{where}: channels must be in [0, {n_channels}), got [{units.min()}, {units.max()}]"
        )
    return make_events(units.astype(np.int64), 0, np.floor(t).astype(np.int64), 1)


def _decode(values: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(values).ravel()]


def read_shd(path: str | os.PathLike[str], *, n_channels: int = SHD_N_CHANNELS) -> HeidelbergData:
    """Read a whole SHD or SSC HDF5 file into memory.

    Args:
        path: the ``.h5`` file.
        n_channels: every channel must be below it (700).

    Returns:
        :class:`HeidelbergData` with one event array per sample.

    Raises:
        FileNotFoundError: no such file.
        EventFileError: not HDF5, missing datasets, mismatched lengths, an empty sample, or
            channels or times out of range.
        MissingDependencyError: h5py is not installed.
    """
    h5py = _h5py()
    name = os.fspath(path)
    if not Path(name).is_file():
        raise FileNotFoundError(f"no such file: {name}")
    try:
        f = h5py.File(name, "r")
    except OSError as e:
        raise EventFileError(f"{name}: not a readable HDF5 file ({e})") from None
    with f:
        n = _check_layout(f, name)
        times, units = f["spikes/times"][()], f["spikes/units"][()]
        events = [_sample(times[i], units[i], name, i, n_channels) for i in range(n)]
        labels = f["labels"][()].astype(np.int64)
        keys = _decode(f["extra/keys"][()]) if "extra/keys" in f else []
        speakers = f["extra/speaker"][()].astype(np.int64) if "extra/speaker" in f else np.zeros(0, np.int64)
    return HeidelbergData(events, labels, keys, speakers)


def write_shd(
    path: str | os.PathLike[str],
    events: Sequence[np.ndarray],
    labels: Sequence[int] | np.ndarray,
    *,
    keys: Sequence[str] | None = None,
    speakers: Sequence[int] | np.ndarray | None = None,
    time_dtype: Any = np.float32,
) -> None:
    """Write samples in the SHD/SSC HDF5 layout (for tests and synthetic data sets).

    Times are stored in seconds at the centre of their microsecond, ``(t + 0.5) / 1e6``, so
    that :func:`read_shd` (and tonic) floor them back to ``t`` exactly while ``t < 2**23`` us
    with float32 (8.4 s).

    Args:
        path: the file to create (overwritten).
        events: one event array per sample (``x`` = channel; ``y`` and ``p`` are not stored).
        labels: one int per sample.
        keys: the class names (``extra/keys``); None writes ``"class <k>"``.
        speakers: one int per sample (``extra/speaker``); None writes zeros.
        time_dtype: the float dtype of ``spikes/times`` (float32; float16 loses precision).

    Raises:
        ParameterError: lengths that differ, or a non-float ``time_dtype``.
        MissingDependencyError: h5py is not installed.
    """
    h5py = _h5py()
    evs = [as_events(e, name=f"events[{i}]") for i, e in enumerate(events)]
    labs = np.asarray(labels, dtype=np.int64)
    if labs.shape != (len(evs),):
        raise ParameterError(
            f"labels must have one entry per sample ({len(evs)}), got shape {list(labs.shape)}"
        )
    spk = np.zeros(len(evs), np.int64) if speakers is None else np.asarray(speakers, dtype=np.int64)
    if spk.shape != (len(evs),):
        raise ParameterError(
            f"speakers must have one entry per sample ({len(evs)}), got shape {list(spk.shape)}"
        )
    tdt = np.dtype(time_dtype)
    if not np.issubdtype(tdt, np.floating):
        raise ParameterError(f"time_dtype must be a float dtype, got {tdt}")
    n_classes = int(labs.max()) + 1 if labs.size else 0
    names = [f"class {k}" for k in range(n_classes)] if keys is None else list(keys)
    with h5py.File(os.fspath(path), "w") as f:
        t_ds = f.create_dataset("spikes/times", (len(evs),), dtype=h5py.vlen_dtype(tdt))
        u_ds = f.create_dataset("spikes/units", (len(evs),), dtype=h5py.vlen_dtype(np.dtype(np.uint16)))
        for i, e in enumerate(evs):
            t_ds[i] = ((e["t"].astype(np.float64) + 0.5) / 1e6).astype(tdt)
            u_ds[i] = e["x"].astype(np.uint16)
        f.create_dataset("labels", data=labs.astype(np.uint16 if n_classes < 2**16 else np.int64))
        f.create_dataset(
            "extra/keys", data=np.array([k.encode() for k in names], dtype=object), dtype=h5py.string_dtype()
        )
        f.create_dataset(
            "extra/speaker", data=spk.astype(np.uint16 if spk.size == 0 or spk.max() < 2**16 else np.int64)
        )


class _Heidelberg(Dataset):
    """One split of SHD or SSC read lazily from its HDF5 file: ``(events, label)`` pairs."""

    _name = ""
    _prefix = ""
    _splits: tuple[str, ...] = ()
    sensor_size = (SHD_N_CHANNELS, 1, 1)
    n_channels = SHD_N_CHANNELS

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        *,
        transform: Callable[[np.ndarray], Any] | None = None,
    ) -> None:
        if split not in self._splits:
            raise ParameterError(f"split must be one of {list(self._splits)}, got {split!r}")
        h5py = _h5py()
        root_path = Path(root).expanduser()
        filename = f"{self._prefix}_{split}.h5"
        candidates = [root_path / filename, root_path / self._name / filename]
        found = [c for c in candidates if c.is_file()]
        if not found:
            files = " and ".join(f"{self._prefix}_{s}.h5" for s in self._splits)
            raise FileNotFoundError(
                f"{self._name} {split} split not found: no {candidates[0]}; put {files} (unzipped from "
                f"{self._prefix}_<split>.h5.zip at {_URL}) in {root_path}"
            )
        self.path = found[0]
        self.split = split
        self.transform = transform
        try:
            f = h5py.File(self.path, "r")
        except OSError as e:
            raise EventFileError(f"{self.path}: not a readable HDF5 file ({e})") from None
        with f:
            self._len = _check_layout(f, str(self.path))
            self.labels: np.ndarray = f["labels"][()].astype(np.int64)
            self.classes: list[str] = _decode(f["extra/keys"][()]) if "extra/keys" in f else []
            self.speakers: np.ndarray = (
                f["extra/speaker"][()].astype(np.int64) if "extra/speaker" in f else np.zeros(0, np.int64)
            )
        self._handle: tuple[int, Any] | None = None

    def _file(self) -> Any:
        # one handle per process: DataLoader workers must not share the parent's
        if self._handle is None or self._handle[0] != os.getpid():
            self._handle = (os.getpid(), _h5py().File(self.path, "r"))
        return self._handle[1]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handle"] = None
        return state

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i: int) -> tuple[Any, int]:
        if not -self._len <= i < self._len:
            raise IndexError(f"{self._name} {self.split} has {self._len} samples, got index {i}")
        i = i % self._len
        f = self._file()
        events: Any = _sample(f["spikes/times"][i], f["spikes/units"][i], str(self.path), i, self.n_channels)
        if self.transform is not None:
            events = self.transform(events)
        return events, int(self.labels[i])


class SHD(_Heidelberg):
    """Spiking Heidelberg Digits from ``shd_train.h5`` / ``shd_test.h5`` in ``root`` (or
    ``root/SHD``): ``(events, label)`` pairs, 20 classes, 700 channels.

    Args:
        root: the folder holding the files.
        split: ``"train"`` or ``"test"``.
        transform: applied to the events, for example
            ``lambda ev: to_channels(ev, 700, bin_us=10_000, duration_us=1_000_000, crop=True)``.

    Attributes:
        labels: int64 array of the labels; ``classes``: the class names; ``speakers``: the
            speaker of each sample; ``path``: the file.

    Raises:
        FileNotFoundError: the file is missing (the message says what to put where).
        EventFileError: the file is not in the SHD layout.
        MissingDependencyError: h5py is not installed.

    Example:
        >>> import tempfile
        >>> from spikeforge.data import SHD, make_events, write_shd
        >>> root = tempfile.mkdtemp()
        >>> write_shd(f"{root}/shd_test.h5", [make_events([1, 2], 0, [0, 9], 1)] * 3, labels=[0, 1, 19])
        >>> ds = SHD(root, "test")
        >>> len(ds), ds[2][1], ds[2][0]["x"].tolist()
        (3, 19, [1, 2])
    """

    _name = "SHD"
    _prefix = "shd"
    _splits = ("train", "test")

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: Literal["train", "test"] = "train",
        *,
        transform: Callable[[np.ndarray], Any] | None = None,
    ) -> None:
        super().__init__(root, split, transform=transform)


class SSC(_Heidelberg):
    """Spiking Speech Commands from ``ssc_train.h5`` / ``ssc_valid.h5`` / ``ssc_test.h5`` in
    ``root`` (or ``root/SSC``): ``(events, label)`` pairs, 35 classes, 700 channels.

    Args:
        root: the folder holding the files.
        split: ``"train"``, ``"valid"`` or ``"test"``.
        transform: applied to the events.

    Raises:
        FileNotFoundError: the file is missing (the message says what to put where).
        EventFileError: the file is not in the SSC layout.
        MissingDependencyError: h5py is not installed.
    """

    _name = "SSC"
    _prefix = "ssc"
    _splits = ("train", "valid", "test")

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: Literal["train", "valid", "test"] = "train",
        *,
        transform: Callable[[np.ndarray], Any] | None = None,
    ) -> None:
        super().__init__(root, split, transform=transform)
