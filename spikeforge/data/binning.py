"""Events to dense, time-major tensors, and batching of variable-length samples.

Time bins cover ``[start_us, start_us + duration_us)``. With ``bin_us`` the bin of an event is
``(t - start_us) // bin_us``; with ``n_time_bins`` it is ``(t - start_us) * n_time_bins //
duration_us`` (integer arithmetic, so no event falls between two bins). Without
``duration_us`` the window ends just after the last event (``t_last - start_us + 1``), so the
last event is counted too: count binning keeps every event of the window, and the frames sum
to ``len(events)`` exactly (tonic's ``ToFrame(n_time_bins=...)`` was seen to drop one).

    >>> from spikeforge.data import make_events, to_frames, to_channels, pad_collate
    >>> ev = make_events(x=[0, 1, 1, 2], y=[0, 0, 1, 1], t=[0, 400, 999, 999], p=[1, 0, 1, 1])
    >>> frames = to_frames(ev, (3, 2, 2), n_time_bins=2)      # [T, P, H, W]
    >>> frames.shape, int(frames.sum())
    (torch.Size([2, 2, 2, 3]), 4)
    >>> to_channels(ev, 3, bin_us=500).tolist()                # [T, N]: x is the channel
    [[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]
    >>> x, y = pad_collate([(frames, 3), (frames[:1], 5)])     # pad to the longest T
    >>> x.shape, y.tolist()
    (torch.Size([2, 2, 2, 2, 3]), [3, 5])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import DTypeError, ParameterError, ShapeError
from .events import as_events, check_sensor_size

__all__ = ["to_frames", "to_channels", "pad_collate"]


def _positive_int(name: str, v: Any, unit: str = "") -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
        raise ParameterError(f"{name} must be a positive int{unit}, got {v!r}")
    return int(v)


def _time_bins(
    t: np.ndarray,
    n_time_bins: int | None,
    bin_us: int | None,
    duration_us: int | None,
    start_us: int,
    crop: bool,
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Bin index of each event, the mask of kept events (None: all) and the number of bins."""
    if (n_time_bins is None) == (bin_us is None):
        raise ParameterError(
            f"give exactly one of n_time_bins and bin_us, got n_time_bins={n_time_bins!r}, bin_us={bin_us!r}"
        )
    if isinstance(start_us, bool) or not isinstance(start_us, (int, np.integer)) or start_us < 0:
        raise ParameterError(f"start_us must be an int >= 0 (microseconds), got {start_us!r}")
    start = int(start_us)
    if duration_us is None:
        if t.size == 0:
            raise ParameterError("cannot infer the duration of an empty sample (no events); pass duration_us")
        last = int(t.max())
        if last < start:
            raise ParameterError(f"all events are before start_us={start} (last at t={last} us)")
        duration = last - start + 1
    else:
        duration = _positive_int("duration_us", duration_us, " (microseconds)")
    keep: np.ndarray | None = None
    if t.size:
        outside = (t < start) | (t >= start + duration)
        if outside.any():
            if not crop:
                raise ParameterError(
                    f"{int(outside.sum())} event(s) lie outside the window [{start}, {start + duration}) us "
                    f"(events span [{int(t.min())}, {int(t.max())}] us); widen duration_us or start_us, "
                    "or pass crop=True to drop them"
                )
            keep = ~outside
            t = t[keep]
    rel = t - start
    if bin_us is not None:
        width = _positive_int("bin_us", bin_us, " (microseconds)")
        n_bins = -(-duration // width)
        idx = rel // width
    else:
        n_bins = _positive_int("n_time_bins", n_time_bins)
        idx = rel * n_bins // duration
    return idx.astype(np.int64), keep, n_bins


MAX_DENSE_BYTES = 16 * 2**30  # a binned sample above this is a unit slip (bin_us=1 over hours)


def _accumulate(
    flat: np.ndarray, size: int, shape: tuple[int, ...], binary: bool, dtype: torch.dtype | None
) -> Tensor:
    dt = torch.get_default_dtype() if dtype is None else dtype
    if not dt.is_floating_point:
        raise DTypeError(f"dtype must be a floating dtype, got {dt}")
    nbytes = size * (torch.finfo(dt).bits // 8)
    if nbytes > MAX_DENSE_BYTES:
        raise ParameterError(
            f"the dense tensor {list(shape)} would take {nbytes / 2**30:.3g} GiB (limit "
            f"{MAX_DENSE_BYTES / 2**30:g} GiB); use wider bins (bin_us), fewer bins or a shorter duration_us"
        )
    out = torch.zeros(size, dtype=dt)
    if flat.size:
        index = torch.from_numpy(flat)
        out.index_add_(0, index, torch.ones(index.shape[0], dtype=dt))
    if binary:
        out.clamp_(max=1.0)
    return out.view(shape)


def to_frames(
    events: np.ndarray,
    sensor_size: Sequence[int],
    *,
    n_time_bins: int | None = None,
    bin_us: int | None = None,
    duration_us: int | None = None,
    start_us: int = 0,
    binary: bool = False,
    crop: bool = False,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Count camera events per time bin, polarity and pixel.

    Give exactly one of ``n_time_bins`` and ``bin_us``.

    Args:
        events: an event array (:data:`~spikeforge.data.EVENT_DTYPE`, or any array
            :func:`~spikeforge.data.as_events` accepts).
        sensor_size: ``(W, H, P)``, tonic's order. With ``P = 2`` channel 0 counts OFF and
            channel 1 ON events; with ``P = 1`` both polarities share one channel.
        n_time_bins: a fixed number of bins T over the window.
        bin_us: the bin width in microseconds (T is the window over ``bin_us``, rounded up).
        duration_us: the window length in microseconds; None ends it just after the last event.
        start_us: the window start in microseconds (the time origin of bin 0).
        binary: clamp counts to 1 (spike / no spike).
        crop: drop events outside the window instead of raising.
        dtype: floating dtype of the output; None uses the default dtype.

    Returns:
        Counts ``[T, P, H, W]`` (float). Without ``binary`` and ``crop`` they sum to
        ``len(events)`` exactly.

    Raises:
        ParameterError: both or neither of ``n_time_bins``/``bin_us``, a non-positive size,
            events outside the window (without ``crop``), or an empty sample without
            ``duration_us``.
        ShapeError: events outside the sensor.
        DTypeError: not an event array, or a non-floating ``dtype``.

    Example:
        >>> from spikeforge.data import make_events
        >>> ev = make_events(x=[0, 0, 1], y=[0, 0, 0], t=[0, 10, 99], p=[1, 1, 0])
        >>> to_frames(ev, (2, 1, 2), bin_us=50, duration_us=100)[:, :, 0, :].tolist()
        [[[0.0, 0.0], [2.0, 0.0]], [[0.0, 1.0], [0.0, 0.0]]]
    """
    w, h, n_pol = check_sensor_size(sensor_size)
    ev = as_events(events, sensor_size=(w, h, n_pol))
    idx, keep, n_bins = _time_bins(ev["t"], n_time_bins, bin_us, duration_us, start_us, crop)
    if keep is not None:
        ev = ev[keep]
    pol = ev["p"].astype(np.int64) if n_pol == 2 else np.zeros(ev.shape[0], dtype=np.int64)
    flat = ((idx * n_pol + pol) * h + ev["y"].astype(np.int64)) * w + ev["x"].astype(np.int64)
    return _accumulate(flat, n_bins * n_pol * h * w, (n_bins, n_pol, h, w), binary, dtype)


def to_channels(
    events: np.ndarray,
    n_channels: int,
    *,
    n_time_bins: int | None = None,
    bin_us: int | None = None,
    duration_us: int | None = None,
    start_us: int = 0,
    binary: bool = False,
    crop: bool = False,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Count audio-like events (SHD, SSC) per time bin and channel; the channel is ``x``.

    ``y`` and ``p`` are ignored. Give exactly one of ``n_time_bins`` and ``bin_us``; the other
    arguments are those of :func:`to_frames`.

    Args:
        events: an event array whose ``x`` is the channel.
        n_channels: number of channels N (700 for SHD and SSC); every ``x`` must be below it.
        n_time_bins: a fixed number of bins T over the window.
        bin_us: the bin width in microseconds.
        duration_us: the window length in microseconds; None ends it just after the last event.
        start_us: the window start in microseconds.
        binary: clamp counts to 1.
        crop: drop events outside the window instead of raising.
        dtype: floating dtype of the output; None uses the default dtype.

    Returns:
        Counts ``[T, N]`` (float), summing to ``len(events)`` without ``binary`` and ``crop``.

    Raises:
        ParameterError: as :func:`to_frames`.
        ShapeError: a channel ``x >= n_channels``.

    Example:
        >>> from spikeforge.data import make_events
        >>> ev = make_events(x=[3, 3, 0], y=0, t=[0, 5_000, 12_000], p=1)
        >>> to_channels(ev, 4, bin_us=10_000, duration_us=20_000).tolist()
        [[0.0, 0.0, 0.0, 2.0], [1.0, 0.0, 0.0, 0.0]]
    """
    n = _positive_int("n_channels", n_channels)
    ev = as_events(events)
    if ev.size and int(ev["x"].max()) >= n:
        raise ShapeError(f"events: channel x = {int(ev['x'].max())} is beyond n_channels = {n}")
    idx, keep, n_bins = _time_bins(ev["t"], n_time_bins, bin_us, duration_us, start_us, crop)
    if keep is not None:
        ev = ev[keep]
    flat = idx * n + ev["x"].astype(np.int64)
    return _accumulate(flat, n_bins * n, (n_bins, n), binary, dtype)


def pad_collate(batch: Sequence[tuple[Any, Any]]) -> tuple[Tensor, Tensor]:
    """Collate ``(sample, label)`` pairs into a time-major batch, zero-padding to the longest T.

    Use it as a :class:`torch.utils.data.DataLoader`'s ``collate_fn`` for datasets whose
    samples are dense sequences (``transform=`` a binning function).

    Args:
        batch: pairs of a sequence ``[T_i, *feature]`` (tensor or numpy array; the feature
            shapes must agree) and an integer label.

    Returns:
        ``(x, labels)``: ``x`` of shape ``[max T_i, B, *feature]`` (zeros after each sample's
        end) and ``labels`` int64 ``[B]``.

    Raises:
        ParameterError: an empty batch, or a label that is not an integer.
        ShapeError: samples whose feature shapes differ or that have no time axis.
        DTypeError: a sample that is an event array (bin it first) or not numeric.

    Example:
        >>> import torch
        >>> x, y = pad_collate([(torch.ones(3, 2), 0), (torch.ones(1, 2), 1)])
        >>> x[:, 1].tolist(), y.tolist()
        ([[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]], [0, 1])
    """
    if len(batch) == 0:
        raise ParameterError("pad_collate got an empty batch")
    seqs: list[Tensor] = []
    labels: list[int] = []
    for i, item in enumerate(batch):
        try:
            sample, label = item
        except (TypeError, ValueError):
            raise ParameterError(
                f"batch[{i}] must be a (sample, label) pair, got {type(item).__name__}"
            ) from None
        if isinstance(sample, np.ndarray) and sample.dtype.names is not None:
            raise DTypeError(
                f"batch[{i}] is an event array; bin it first (transform=lambda ev: to_frames(ev, ...))"
            )
        x = torch.as_tensor(sample)
        if x.ndim < 1:
            raise ShapeError(f"batch[{i}] must be a sequence [T, ...], got a scalar")
        if x.dtype == torch.bool:
            x = x.to(torch.get_default_dtype())
        seqs.append(x)
        lab = (
            label.item()
            if isinstance(label, (Tensor, np.ndarray, np.generic)) and np.ndim(label) == 0
            else label
        )
        if isinstance(lab, bool) or not isinstance(lab, (int, np.integer)):
            raise ParameterError(f"batch[{i}] label must be an int, got {label!r}")
        labels.append(int(lab))
    feat = seqs[0].shape[1:]
    for i, x in enumerate(seqs):
        if x.shape[1:] != feat:
            raise ShapeError(
                f"batch[{i}] has feature shape {list(x.shape[1:])}, batch[0] has {list(feat)}; "
                "bin every sample with the same sensor size"
            )
    dtype = seqs[0].dtype
    for x in seqs[1:]:
        dtype = torch.promote_types(dtype, x.dtype)
    t_max = max(x.shape[0] for x in seqs)
    out = torch.zeros((t_max, len(seqs), *feat), dtype=dtype)
    for b, x in enumerate(seqs):
        out[: x.shape[0], b] = x
    return out, torch.tensor(labels, dtype=torch.int64)
