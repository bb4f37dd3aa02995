"""N-Digits: the embedded event dataset, an N-MNIST in miniature that needs no download.

The 1,797 8x8 handwritten digits that ship inside scikit-learn (``load_digits``, UCI "optdigits"
test set, 16 grey levels) are moved in three saccades over a 10x10 sensor and turned into ON/OFF
events by the event-camera emulator, as N-MNIST was recorded from MNIST (Orchard et al. 2015):

1. intensity ``I = value / 16`` in [0, 1], black background;
2. :func:`~spikeforge.encoders.camera.saccade_frames`: the triangle (0, 0) -> (1, 2) -> (2, 0)
   -> (0, 0) px, 100 ms per saccade, 10 frames per saccade (sensor 10x10, 300 ms);
3. :func:`~spikeforge.encoders.camera.emulate_events`: contrast threshold C = 0.2,
   ``eps = 0.1``, no refractory period and no noise (so generation is deterministic);
4. a fixed split: 36 test samples per class (360) drawn by a seeded permutation, the other
   1,437 for training.

About 1,200 events per sample. Generation takes a few seconds and happens once: the events are
cached in ``root`` (default ``$SPIKEFORGE_CACHE``, else ``$XDG_CACHE_HOME/spikeforge``, else
``~/.cache/spikeforge``) as ``ndigits-<key>.npz``, the key hashing every generation parameter
(:class:`NDigitsConfig`). The dense representation bins each sample into ``n_time_bins`` equal
bins of the 300 ms window, with :func:`~spikeforge.data.to_frames`.

    >>> import spikeforge as sf
    >>> ds = sf.data.NDigits(split="test")                   # doctest: +SKIP
    >>> x, label = ds[0]; x.shape                            # doctest: +SKIP
    torch.Size([15, 2, 10, 10])
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .._events import EVENT_DTYPE
from ..encoders.camera import emulate_events, saccade_frames
from ..errors import MissingDependencyError, ParameterError
from .binning import to_frames

__all__ = ["NDigits", "NDigitsConfig", "default_cache_dir"]

_FORMAT_VERSION = 1
_N_CLASSES = 10
_CHUNK = 256  # samples emulated side by side at once (pixels are independent)


class NDigitsConfig(NamedTuple):
    """Generation parameters of N-Digits; each set of values has its own cache file."""

    amplitude_px: float = 2.0  # saccade triangle size, px (sensor = 8 + ceil(amplitude))
    n_saccades: int = 3
    saccade_us: int = 100_000  # duration of one saccade, us
    frames_per_saccade: int = 10
    threshold: float = 0.2  # contrast threshold C, log-intensity units
    eps: float = 0.1  # dark level added before the log
    refractory_us: int = 0
    n_test_per_class: int = 36
    seed: int = 0  # of the train/test split

    @property
    def duration_us(self) -> int:
        """Length of a sample in microseconds (all events lie in ``[0, duration_us)``)."""
        return self.n_saccades * self.saccade_us

    @property
    def sensor_size(self) -> tuple[int, int, int]:
        """``(W, H, P)`` of the emulated sensor."""
        side = 8 + int(np.ceil(self.amplitude_px))
        return (side, side, 2)

    def key(self) -> str:
        """A hash of the parameters and the file format: the cache file's name."""
        text = json.dumps({"version": _FORMAT_VERSION, **self._asdict()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    """Where generated datasets are cached: ``$SPIKEFORGE_CACHE``, else
    ``$XDG_CACHE_HOME/spikeforge``, else ``~/.cache/spikeforge``.

    Example:
        >>> default_cache_dir()                  # doctest: +SKIP
        PosixPath('/home/me/.cache/spikeforge')
    """
    env = os.environ.get("SPIKEFORGE_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "spikeforge"


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise MissingDependencyError(
            "NDigits needs scikit-learn (it ships the 8x8 digits): pip install 'spikeforge[data]'"
        ) from e
    digits = load_digits()
    return np.asarray(digits.images, dtype=np.float64) / 16.0, np.asarray(digits.target, dtype=np.int64)


def _generate(cfg: NDigitsConfig) -> dict[str, np.ndarray]:
    """Emulate every digit's events; returns the arrays stored in the cache file."""
    if cfg.duration_us >= 2**31:
        raise ParameterError(f"N-Digits samples must last less than 2**31 us, got {cfg.duration_us} us")
    images, labels = _load_digits()
    n = images.shape[0]
    frames, times = saccade_frames(
        images,
        n_saccades=cfg.n_saccades,
        amplitude_px=cfg.amplitude_px,
        saccade_us=cfg.saccade_us,
        frames_per_saccade=cfg.frames_per_saccade,
    )  # [F, N, H, W]
    side = frames.shape[-1]
    xs: list[np.ndarray] = []
    evs: list[np.ndarray] = []
    for c0 in range(0, n, _CHUNK):
        # the chunk's sensors side by side, [F, H, chunk * W]: one emulator call, same events
        block = frames[:, c0 : c0 + _CHUNK]
        mosaic = block.transpose(0, 2, 1, 3).reshape(block.shape[0], side, -1)
        ev = emulate_events(
            mosaic, times, threshold=cfg.threshold, eps=cfg.eps, refractory_us=cfg.refractory_us
        )
        xs.append(ev["x"].astype(np.int64) + c0 * side)
        evs.append(ev)
    x_all = np.concatenate(xs)
    ev_all = np.concatenate(evs)
    sample = x_all // side
    order = np.argsort(sample, kind="stable")  # per sample, still in time order
    ev_all = ev_all[order]
    sample = sample[order]
    ev_all["x"] = x_all[order] - sample * side
    offsets = np.searchsorted(sample, np.arange(n + 1)).astype(np.int64)

    rng = np.random.default_rng(cfg.seed)
    is_test = np.zeros(n, dtype=bool)
    for c in range(_N_CLASSES):
        members = np.flatnonzero(labels == c)
        if cfg.n_test_per_class > members.size:
            raise ParameterError(
                f"n_test_per_class={cfg.n_test_per_class} exceeds the {members.size} samples of class {c}"
            )
        is_test[rng.permutation(members)[: cfg.n_test_per_class]] = True
    return {
        "x": ev_all["x"].copy(),
        "y": ev_all["y"].copy(),
        "t": ev_all["t"].astype(np.int32),  # < duration_us; int64 again on load
        "p": ev_all["p"].copy(),
        "offsets": offsets,
        "labels": labels,
        "is_test": is_test,
        "config": np.array(json.dumps({"version": _FORMAT_VERSION, **cfg._asdict()}, sort_keys=True)),
    }


def _valid(data: dict[str, np.ndarray], cfg: NDigitsConfig) -> bool:
    try:
        expected = json.dumps({"version": _FORMAT_VERSION, **cfg._asdict()}, sort_keys=True)
        off = data["offsets"]
        return (
            str(data["config"]) == expected
            and off[0] == 0
            and off[-1]
            == data["x"].shape[0]
            == data["t"].shape[0]
            == data["p"].shape[0]
            == data["y"].shape[0]
            and off.shape[0] == data["labels"].shape[0] + 1 == data["is_test"].shape[0] + 1
        )
    except (KeyError, IndexError, ValueError):
        return False


def _load_or_generate(root: Path, cfg: NDigitsConfig) -> tuple[dict[str, np.ndarray], Path]:
    path = root / f"ndigits-{cfg.key()}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                data = {k: f[k] for k in f.files}
            if _valid(data, cfg):
                data["t"] = data["t"].astype(np.int64)
                return data, path
            reason = "its contents do not match the generation parameters"
        except (OSError, ValueError, EOFError) as e:  # truncated or corrupt file
            reason = f"it could not be read ({e})"
        warnings.warn(f"regenerating the N-Digits cache {path}: {reason}", stacklevel=3)
    data = _generate(cfg)
    root.mkdir(parents=True, exist_ok=True)
    # write to a temporary file, then rename: concurrent processes (DDP) never see half a file
    fd, tmp = tempfile.mkstemp(prefix=".ndigits-", suffix=".npz.tmp", dir=root)
    try:
        with os.fdopen(fd, "wb") as fh:
            arrays: dict[str, Any] = data
            np.savez_compressed(fh, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    data["t"] = data["t"].astype(np.int64)
    return data, path


def _dense(
    data: dict[str, np.ndarray],
    idx: np.ndarray,
    cfg: NDigitsConfig,
    n_time_bins: int,
    binary: bool,
    dtype: torch.dtype,
) -> Tensor:
    """Bin the samples ``idx`` at once: ``[T, len(idx), P, H, W]``; each equals :func:`to_frames`."""
    w, h, n_pol = cfg.sensor_size
    off = data["offsets"]
    counts = off[idx + 1] - off[idx]
    ev_idx = (
        np.concatenate([np.arange(off[i], off[i + 1]) for i in idx]) if idx.size else np.zeros(0, np.int64)
    )
    sample = np.repeat(np.arange(idx.size), counts)
    t_bin = data["t"][ev_idx] * n_time_bins // cfg.duration_us
    flat = (
        ((t_bin * idx.size + sample) * n_pol + data["p"][ev_idx].astype(np.int64)) * h
        + data["y"][ev_idx].astype(np.int64)
    ) * w + data["x"][ev_idx].astype(np.int64)
    out = torch.zeros(n_time_bins * idx.size * n_pol * h * w, dtype=dtype)
    out.index_add_(0, torch.from_numpy(flat), torch.ones(flat.shape[0], dtype=dtype))
    if binary:
        out.clamp_(max=1.0)
    return out.view(n_time_bins, idx.size, n_pol, h, w)


class NDigits(Dataset):
    """N-Digits, the embedded event-camera digits (see the module docstring for how they are made).

    Batch with ``DataLoader(ds, batch_size=..., collate_fn=pad_collate)`` for time-major
    ``[T, B, ...]`` batches (the default collation stacks batch-first), or take the whole split
    at once with :meth:`tensors`.

    Args:
        split: ``"train"`` (1,437 samples) or ``"test"`` (360, 36 per class).
        representation: ``"dense"`` gives ``(frames, label)`` with frames ``[T, 2, 10, 10]``
            (``[T, 200]`` with ``flatten``) counting events per bin, polarity (0 OFF, 1 ON) and
            pixel; ``"events"`` gives ``(events, label)``, an array of
            :data:`~spikeforge.data.EVENT_DTYPE` (t in microseconds, within [0, 300000)).
        n_time_bins: number of time bins T of the dense representation (15: 20 ms each).
        binary: dense counts clamped to 1.
        flatten: dense frames flattened to ``[T, 2 * 10 * 10]`` (channel, row, column order).
        root: cache folder; None uses :func:`default_cache_dir`.
        transform: applied to each sample (events or dense frames) before it is returned.
        config: generation parameters (the defaults make the published N-Digits).
        dtype: floating dtype of dense frames; None uses the default dtype.

    Attributes:
        labels: int64 array of the split's labels.
        sensor_size: ``(W, H, P) = (10, 10, 2)``.
        cache_path: the cache file.

    Raises:
        ParameterError: an unknown split or representation, or a bad ``n_time_bins``.
        MissingDependencyError: scikit-learn is missing and the cache does not exist yet.

    Example:
        >>> import tempfile, torch
        >>> from spikeforge.data import NDigits
        >>> root = tempfile.mkdtemp()
        >>> train = NDigits("train", root=root, flatten=True)
        >>> len(train), train[0][0].shape
        (1437, torch.Size([15, 200]))
        >>> x, y = train.tensors()              # the whole split, time-major, for fast training
        >>> x.shape, y.shape
        (torch.Size([15, 1437, 200]), torch.Size([1437]))
        >>> ev, label = NDigits("test", root=root, representation="events")[0]
        >>> ev.dtype.names, int(ev["t"].max()) < 300_000
        (('x', 'y', 't', 'p'), True)
    """

    def __init__(
        self,
        split: Literal["train", "test"] = "train",
        *,
        representation: Literal["dense", "events"] = "dense",
        n_time_bins: int = 15,
        binary: bool = False,
        flatten: bool = False,
        root: str | os.PathLike[str] | None = None,
        transform: Callable[[Any], Any] | None = None,
        config: NDigitsConfig | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if split not in ("train", "test"):
            raise ParameterError(f"split must be 'train' or 'test', got {split!r}")
        if representation not in ("dense", "events"):
            raise ParameterError(f"representation must be 'dense' or 'events', got {representation!r}")
        if isinstance(n_time_bins, bool) or not isinstance(n_time_bins, (int, np.integer)) or n_time_bins < 1:
            raise ParameterError(f"n_time_bins must be a positive int, got {n_time_bins!r}")
        cfg = NDigitsConfig() if config is None else config
        if not isinstance(cfg, NDigitsConfig):
            raise ParameterError(f"config must be an NDigitsConfig, got {type(cfg).__name__}")
        self.config = cfg
        self.split = split
        self.representation = representation
        self.n_time_bins = int(n_time_bins)
        self.binary = bool(binary)
        self.flatten = bool(flatten)
        self.transform = transform
        self.dtype = torch.get_default_dtype() if dtype is None else dtype
        self.sensor_size = cfg.sensor_size
        folder = default_cache_dir() if root is None else Path(root).expanduser()
        data, self.cache_path = _load_or_generate(folder, cfg)
        self._data = data
        self._index = np.flatnonzero(data["is_test"] == (split == "test"))
        self.labels: np.ndarray = data["labels"][self._index]
        self._frames: Tensor | None = None
        if representation == "dense":
            frames = _dense(data, self._index, cfg, self.n_time_bins, self.binary, self.dtype)
            self._frames = frames.flatten(2) if self.flatten else frames

    def __len__(self) -> int:
        return int(self._index.size)

    def events(self, i: int) -> np.ndarray:
        """The events of sample ``i`` of the split (whatever the representation)."""
        j = int(self._index[i])
        off = self._data["offsets"]
        a, b = int(off[j]), int(off[j + 1])
        ev = np.empty(b - a, dtype=EVENT_DTYPE)
        for f in ("x", "y", "t", "p"):
            ev[f] = self._data[f][a:b]
        return ev

    def __getitem__(self, i: int) -> tuple[Any, int]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"NDigits {self.split} has {len(self)} samples, got index {i}")
        i = i % len(self)
        sample: Any = self.events(i) if self._frames is None else self._frames[:, i].clone()
        if self.transform is not None:
            sample = self.transform(sample)
        return sample, int(self.labels[i])

    def tensors(self) -> tuple[Tensor, Tensor]:
        """The whole split as ``(frames [T, N, ...], labels [N])``, for full-batch loops.

        Raises:
            ParameterError: with ``representation="events"``.
        """
        if self._frames is None:
            raise ParameterError("tensors() needs representation='dense'")
        return self._frames.clone(), torch.from_numpy(self.labels.copy())

    def to_frames(self, events: np.ndarray) -> Tensor:
        """Bin an event array as the dense representation does (``[T, 2, 10, 10]``)."""
        return to_frames(
            events,
            self.sensor_size,
            n_time_bins=self.n_time_bins,
            duration_us=self.config.duration_us,
            binary=self.binary,
            dtype=self.dtype,
        )
