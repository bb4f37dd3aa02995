r"""An event-camera (DVS) emulator: intensity frames to ON/OFF events, and saccades for still images.

Each pixel of a dynamic vision sensor remembers a reference log intensity :math:`L_{ref}` and
emits an event each time its log intensity moves one contrast threshold :math:`C` away from it
(ESIM, Rebecq et al. 2018; v2e, Hu et al. 2021):

.. math::

    L = \log(I + \varepsilon), \qquad
    n = \left\lfloor \frac{|L - L_{ref}|}{C} \right\rfloor, \qquad
    p = \operatorname{sign}(L - L_{ref}), \qquad
    L_{ref} \leftarrow L_{ref} + p\,n\,C.

Between two frames the log intensity is taken as linear in time, so the :math:`j`-th event of an
interval is stamped when :math:`L` crosses :math:`L_{ref} + p\,j\,C`. Still images have no
temporal contrast: :func:`saccade_frames` moves them in three small saccades, as N-MNIST was
recorded (Orchard et al. 2015), and :func:`emulate_events` turns the frames into events.

Events are numpy structured arrays of :data:`spikeforge.data.EVENT_DTYPE` (fields ``x``, ``y``,
``t`` in microseconds, ``p`` with 1 = ON, 0 = OFF), sorted by time.

    >>> import numpy as np
    >>> from spikeforge.encoders.camera import emulate_events, saccade_frames
    >>> image = np.zeros((8, 8)); image[2:6, 3:5] = 1.0
    >>> frames, times_us = saccade_frames(image, amplitude_px=2.0)
    >>> frames.shape, times_us[-1]
    ((31, 10, 10), np.int64(300000))
    >>> events = emulate_events(frames, times_us, threshold=0.2)
    >>> bool(np.all(np.diff(events["t"]) >= 0)), sorted(set(events["p"].tolist()))
    (True, [0, 1])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .._events import EVENT_DTYPE, make_events
from ..errors import DTypeError, ParameterError, ShapeError

__all__ = ["emulate_events", "saccade_frames"]

_TOL = 1e-9  # in thresholds: a change of n*C less rounding counts as n crossings


def _as_float_array(name: str, a: Any, ndim: int, *, at_least: bool = False) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    arr = np.asarray(a)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise DTypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim < ndim if at_least else arr.ndim != ndim:
        least = "at least " if at_least else ""
        raise ShapeError(f"{name} must have {least}{ndim} dimensions, got shape {list(arr.shape)}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ParameterError(f"{name} must be finite, got NaN or infinite values")
    if arr.size and arr.min() < 0:
        raise ParameterError(f"{name} holds intensities, which must be >= 0; got a minimum of {arr.min()!r}")
    return arr


def _check_number(name: str, value: Any, *, positive: bool, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParameterError(f"{name} must be a finite number, got {value!r}")
    if (positive and value <= 0) or (not positive and value < 0):
        raise ParameterError(f"{name} must be {'>' if positive else '>='} 0{unit}, got {value!r}")
    return float(value)


def emulate_events(
    frames: np.ndarray | torch.Tensor,
    times_us: Any,
    *,
    threshold: float = 0.2,
    refractory_us: int = 0,
    noise_rate: float = 0.0,
    eps: float = 0.1,
    generator: torch.Generator | None = None,
) -> np.ndarray:
    r"""Turn intensity frames into the ON/OFF events of an ideal event camera.

    Per pixel, with :math:`L_k = \log(I_k + \varepsilon)` the log intensity of frame :math:`k`
    and :math:`L_{ref}` starting at :math:`L_0`, each interval :math:`[t_{k-1}, t_k]` gives

    .. math::

        n = \left\lfloor \frac{|L_k - L_{ref}|}{C} \right\rfloor \text{ events of polarity }
        \operatorname{sign}(L_k - L_{ref}), \qquad L_{ref} \leftarrow L_{ref} \pm n\,C,

    the :math:`j`-th stamped where the linear interpolation of :math:`L` between
    :math:`L_{k-1}` and :math:`L_k` crosses :math:`L_{ref} \pm j\,C`, floored to the
    microsecond and kept within ``[t_{k-1}, t_k)``; all events lie in ``[times_us[0],
    times_us[-1])``, so a window of ``times_us[-1] - times_us[0]`` bins them all. Hence
    :math:`|L - L_{ref}| < C` after every frame, and :math:`L_0 + C \sum_{events} (\pm 1)`
    rebuilds :math:`L` within :math:`C` (without refractory period). :math:`n` is computed
    with a tolerance of :math:`10^{-9}` thresholds, so a pixel that returns to an earlier
    intensity emits as many events back despite rounding.

    Order of operations, per frame interval: threshold crossings; refractory filter (an event
    less than ``refractory_us`` after the last *emitted* event of its pixel is dropped, but the
    reference still moves past the crossing, so a pixel never lags more than one threshold);
    reference update. Background noise is added last: ``Poisson(noise_rate * duration)`` events
    per pixel at uniform times with random polarity, ignoring refractoriness and the reference.

    Args:
        frames: intensities ``[F, H, W]`` (nominally in [0, 1], any value >= 0), F >= 2; a
            numpy array or a tensor.
        times_us: frame times in microseconds ``[F]``, integers, strictly increasing.
        threshold: contrast threshold :math:`C` in log-intensity units, > 0 (cameras: 0.15 to
            0.3).
        refractory_us: per-pixel refractory period in microseconds, an int >= 0.
        noise_rate: background events per pixel per ms (library rate unit: write
            ``5 * sf.units.Hz``), >= 0.
        eps: :math:`\varepsilon` > 0, the dark level added before the log (in intensity units);
            it bounds the contrast of a black-to-white edge to :math:`\log((1+\varepsilon)/\varepsilon)`.
        generator: source of the noise draws (``torch.Generator``); None uses a fresh randomly
            seeded one (never the global RNG). Unused when ``noise_rate == 0``.

    Returns:
        Events of :data:`spikeforge.data.EVENT_DTYPE`, sorted by time (stable: ties keep the
        order interval, crossing, row, column; noise after signal), ``x`` the column and ``y``
        the row of the pixel, ``p = 1`` for ON.

    Raises:
        ShapeError: ``frames`` not ``[F, H, W]`` with F >= 2, or ``times_us`` not of length F.
        ParameterError: negative or non-finite intensities, times not strictly increasing or
            negative, or a threshold, refractory period, noise rate or eps out of range.
        DTypeError: non-numeric frames or non-integer times.

    Example:
        >>> import numpy as np
        >>> frames = np.stack([np.full((1, 2), 0.1), np.array([[0.1, 1.0]])])   # one pixel brightens
        >>> ev = emulate_events(frames, [0, 1000], threshold=0.5, eps=0.0)
        >>> len(ev), ev["x"].tolist(), ev["p"].tolist()     # log(10) / 0.5 = 4.6 -> 4 ON events
        (4, [1, 1, 1, 1], [1, 1, 1, 1])
        >>> ev["t"].tolist()                                  # crossings of 0.5, 1.0, 1.5, 2.0
        [217, 434, 651, 868]
    """
    f = _as_float_array("frames", frames, 3)
    n_frames, height, width = f.shape
    if n_frames < 2:
        raise ShapeError(
            f"frames needs at least 2 frames [F, H, W] to have temporal contrast, got F = {n_frames}"
        )
    t_frames = np.asarray(times_us)
    if t_frames.ndim != 1 or t_frames.shape[0] != n_frames:
        raise ShapeError(f"times_us must have shape [{n_frames}] (one per frame), got {list(t_frames.shape)}")
    if not np.issubdtype(t_frames.dtype, np.integer) or t_frames.dtype == np.bool_:
        raise DTypeError(f"times_us must hold integer microseconds, got dtype {t_frames.dtype}")
    t_frames = t_frames.astype(np.int64)
    if t_frames[0] < 0 or np.any(np.diff(t_frames) <= 0):
        raise ParameterError("times_us must be >= 0 and strictly increasing (microseconds)")
    c = _check_number("threshold", threshold, positive=True, unit="")
    eps_f = _check_number("eps", eps, positive=False, unit="")
    if (
        isinstance(refractory_us, bool)
        or not isinstance(refractory_us, (int, np.integer))
        or refractory_us < 0
    ):
        raise ParameterError(f"refractory_us must be an int >= 0 (microseconds), got {refractory_us!r}")
    rate = _check_number("noise_rate", noise_rate, positive=False, unit=" per ms")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ParameterError(f"generator must be a torch.Generator or None, got {generator!r}")
    if eps_f == 0.0 and f.min() == 0.0:
        raise ParameterError("eps must be > 0 when a frame has zero intensity (log(0) is -inf)")

    n_pix = height * width
    log_i = np.log(f.reshape(n_frames, n_pix) + eps_f)
    l_ref = log_i[0].copy()
    refractory = int(refractory_us)
    last_t = np.full(n_pix, np.iinfo(np.int64).min // 2, dtype=np.int64)
    pix_out: list[np.ndarray] = []
    t_out: list[np.ndarray] = []
    p_out: list[np.ndarray] = []
    for k in range(1, n_frames):
        l0, l1 = log_i[k - 1], log_i[k]
        diff = l1 - l_ref
        n = np.floor(np.abs(diff) / c + _TOL).astype(np.int64)
        active = np.flatnonzero(n)
        if active.size == 0:
            continue
        n_a = n[active]
        s_a = np.sign(diff[active])
        # one candidate per crossing j = 1..n of each active pixel, grouped by pixel
        pix = np.repeat(active, n_a)
        starts = np.cumsum(n_a) - n_a
        j = np.arange(pix.size, dtype=np.int64) - np.repeat(starts, n_a) + 1
        sign = np.repeat(s_a, n_a)
        level = l_ref[pix] + sign * j * c
        frac = np.clip((level - l0[pix]) / (l1[pix] - l0[pix]), 0.0, 1.0)
        t0, t1 = int(t_frames[k - 1]), int(t_frames[k])
        t_ev = t0 + np.minimum(np.floor(frac * (t1 - t0)).astype(np.int64), t1 - t0 - 1)
        pol = (sign > 0).astype(np.int8)
        if refractory > 0:
            keep = np.zeros(pix.size, dtype=bool)
            for jj in range(1, int(n_a.max()) + 1):  # crossings in time order, pixels at once
                sel = np.flatnonzero(j == jj)
                ok = t_ev[sel] - last_t[pix[sel]] >= refractory
                keep[sel[ok]] = True
                last_t[pix[sel[ok]]] = t_ev[sel[ok]]
            # emit in crossing-major order, as without refractoriness
            order = np.lexsort((pix, j))
            order = order[keep[order]]
        else:
            order = np.lexsort((pix, j))
        pix_out.append(pix[order])
        t_out.append(t_ev[order])
        p_out.append(pol[order])
        l_ref[active] += s_a * n_a * c

    if rate > 0.0:
        pix_n, t_n, p_n = _noise(rate, n_pix, int(t_frames[0]), int(t_frames[-1]), generator)
        pix_out.append(pix_n)
        t_out.append(t_n)
        p_out.append(p_n)

    if not pix_out:
        return np.empty(0, dtype=EVENT_DTYPE)
    pix_all = np.concatenate(pix_out)
    t_all = np.concatenate(t_out)
    order = np.argsort(t_all, kind="stable")
    pix_all = pix_all[order]
    return make_events(pix_all % width, pix_all // width, t_all[order], np.concatenate(p_out)[order])


def _noise(
    rate_per_ms: float, n_pix: int, t_start: int, t_end: int, generator: torch.Generator | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Background events: a Poisson number over all pixels, then pixel, time and polarity draws."""
    if generator is None:  # a private, randomly seeded generator: never the global RNG
        generator = torch.Generator()
        generator.seed()
    dev = generator.device
    mean = torch.tensor(rate_per_ms * (t_end - t_start) / 1000.0 * n_pix, dtype=torch.float64, device=dev)
    count = int(torch.poisson(mean, generator=generator).item())
    pix = torch.randint(0, n_pix, (count,), generator=generator, device=dev).cpu().numpy()
    t = torch.randint(t_start, t_end, (count,), generator=generator, device=dev).cpu().numpy()
    p = torch.randint(0, 2, (count,), generator=generator, device=dev).cpu().numpy().astype(np.int8)
    return pix.astype(np.int64), t.astype(np.int64), p


def saccade_frames(
    image: np.ndarray | torch.Tensor,
    *,
    n_saccades: int = 3,
    amplitude_px: float | None = None,
    saccade_us: int = 100_000,
    frames_per_saccade: int = 10,
    background: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Move a still image in saccades, as N-MNIST was recorded, and return the frames.

    The image is shifted (bilinear interpolation, sub-pixel) along the triangle
    :math:`(0, 0) \to (a/2, a) \to (a, 0) \to (0, 0)` in (x, y) pixels, with y pointing down: the
    three saccades of the N-MNIST recordings (Orchard et al. 2015: a = 7 px for 28 px digits,
    about 100 ms each). More than three saccades go round the triangle again. Each saccade is
    a straight move at constant speed.

    Args:
        image: intensities ``[H, W]``, or a stack ``[*batch, H, W]`` moved together, >= 0
            (nominally in [0, 1]).
        n_saccades: number of saccades, an int >= 1.
        amplitude_px: the triangle's size :math:`a` in pixels, > 0; None uses ``max(H, W) / 4``
            (the N-MNIST ratio).
        saccade_us: duration of one saccade in microseconds, an int > 0.
        frames_per_saccade: frames per saccade, an int >= 1 (more frames give finer event
            timing; the emulator interpolates linearly between frames).
        background: intensity around the image, >= 0.

    Returns:
        ``(frames, times_us)``: frames ``[F, *batch, H + ceil(a), W + ceil(a)]`` with
        ``F = n_saccades * frames_per_saccade + 1`` (float64; the sensor is the image plus the
        travel), and their times in microseconds (int64), from 0 to ``n_saccades * saccade_us``.

    Raises:
        ShapeError: ``image`` has fewer than 2 dimensions.
        ParameterError: a negative or non-finite intensity or an argument out of range.

    Example:
        >>> import numpy as np
        >>> frames, t = saccade_frames(np.ones((4, 4)), amplitude_px=1.5, frames_per_saccade=2)
        >>> frames.shape, t.tolist()
        ((7, 6, 6), [0, 50000, 100000, 150000, 200000, 250000, 300000])
        >>> float(frames[0].sum()), float(frames[2].sum())   # the image is moved, not resized
        (16.0, 16.0)
    """
    img = _as_float_array("image", image, 2, at_least=True)
    for name, v, low in (("n_saccades", n_saccades, 1), ("saccade_us", saccade_us, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ParameterError(f"{name} must be an int >= {low}, got {v!r}")
    if (
        isinstance(frames_per_saccade, bool)
        or not isinstance(frames_per_saccade, (int, np.integer))
        or frames_per_saccade < 1
    ):
        raise ParameterError(f"frames_per_saccade must be an int >= 1, got {frames_per_saccade!r}")
    bg = _check_number("background", background, positive=False, unit="")
    *batch, h, w = img.shape
    a = (
        max(h, w) / 4.0
        if amplitude_px is None
        else _check_number("amplitude_px", amplitude_px, positive=True, unit=" px")
    )
    travel = math.ceil(a)
    vertices = np.array([[0.0, 0.0], [a / 2.0, a], [a, 0.0]])  # (dx, dy)
    n_frames = n_saccades * frames_per_saccade + 1
    steps = np.arange(n_frames)
    seg = np.minimum(steps // frames_per_saccade, n_saccades - 1)
    frac = (steps - seg * frames_per_saccade) / frames_per_saccade
    start = vertices[seg % 3]
    end = vertices[(seg + 1) % 3]
    shifts = start + frac[:, None] * (end - start)
    times = np.rint(steps * (saccade_us / frames_per_saccade)).astype(np.int64)

    content = img - bg
    frames = np.empty((n_frames, *batch, h + travel, w + travel))
    canvas = np.empty((*batch, h + travel + 1, w + travel + 1))
    for k, (dx, dy) in enumerate(shifts):
        ix, iy = math.floor(dx), math.floor(dy)
        fx, fy = dx - ix, dy - iy
        canvas.fill(0.0)
        canvas[..., iy : iy + h, ix : ix + w] += (1 - fx) * (1 - fy) * content
        canvas[..., iy : iy + h, ix + 1 : ix + 1 + w] += fx * (1 - fy) * content
        canvas[..., iy + 1 : iy + 1 + h, ix : ix + w] += (1 - fx) * fy * content
        canvas[..., iy + 1 : iy + 1 + h, ix + 1 : ix + 1 + w] += fx * fy * content
        frames[k] = canvas[..., : h + travel, : w + travel] + bg
    np.maximum(frames, 0.0, out=frames)  # rounding can leave -1e-17 where the image is 0
    return frames, times
