"""Input conversion shared by the analyses: numpy arrays or torch tensors in, float64 numpy out,
with errors that name the argument (see :mod:`spikeforge.errors`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..errors import ParameterError, ShapeError

__all__ = [
    "as_array",
    "as_spike_train",
    "as_matrix",
    "as_square",
    "number",
    "positive",
    "nonnegative",
    "count",
]


def as_array(name: str, x: Any, *, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """``x`` (numpy array, torch tensor, list) as a finite float64 numpy array.

    Raises:
        ParameterError: ``x`` is not numeric, or holds NaN or inf.
        ShapeError: ``x`` does not have ``ndim`` dimensions.
    """
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise ParameterError(f"{name} must be real, got a complex tensor")
        x = x.detach().to("cpu", torch.float64).numpy()
    if isinstance(x, (str, bytes)) or x is None:
        raise ParameterError(f"{name} must be an array of numbers, got {x!r}")
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be an array of real numbers, got {type(x).__name__}") from None
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if a.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ShapeError(f"{name} must be {want}, got shape {list(a.shape)}")
    if not np.isfinite(a).all():
        raise ParameterError(f"{name} must be finite, got an array holding NaN or inf")
    return a


def as_spike_train(name: str, times_ms: Any, *, min_spikes: int = 0) -> np.ndarray:
    """One neuron's spike times in ms: 1-D, finite, non-decreasing, at least ``min_spikes``."""
    t = as_array(name, times_ms, ndim=1)
    if t.size < min_spikes:
        raise ParameterError(f"{name} needs at least {min_spikes} spikes, got {t.size}")
    if t.size > 1 and bool((np.diff(t) < 0).any()):
        raise ParameterError(f"{name} must be sorted in increasing time (ms); sort it with np.sort first")
    return t


def as_matrix(name: str, w: Any) -> np.ndarray:
    """A non-empty 2-D float64 matrix."""
    m = as_array(name, w, ndim=2)
    if m.size == 0:
        raise ShapeError(f"{name} must be a non-empty matrix, got shape {list(m.shape)}")
    return m


def as_square(name: str, w: Any) -> np.ndarray:
    """A non-empty square matrix ``[n, n]`` (a recurrent weight matrix, ``[n_post, n_pre]``)."""
    m = as_matrix(name, w)
    if m.shape[0] != m.shape[1]:
        raise ShapeError(f"{name} must be a square matrix [n, n], got shape {list(m.shape)}")
    return m


def number(name: str, value: Any) -> float:
    """A finite real number (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ParameterError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ParameterError(f"{name} must be finite, got {value!r}")
    return v


def positive(name: str, value: Any, unit: str = "") -> float:
    """A finite number > 0."""
    v = number(name, value)
    if v <= 0:
        raise ParameterError(f"{name} must be > 0{' ' + unit if unit else ''}, got {value!r}")
    return v


def nonnegative(name: str, value: Any, unit: str = "") -> float:
    """A finite number >= 0."""
    v = number(name, value)
    if v < 0:
        raise ParameterError(f"{name} must be >= 0{' ' + unit if unit else ''}, got {value!r}")
    return v


def count(name: str, value: Any, minimum: int = 1) -> int:
    """An int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ParameterError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)
