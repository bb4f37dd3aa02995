"""Input validation shared by all modules: each check raises at the point of misuse, naming the
argument, the value and what is allowed (see :mod:`spikeforge.errors`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .errors import DTypeError, ParameterError, ShapeError

Number = float | int
ParamLike = Number | Sequence[float] | Tensor


def as_shape(name: str, shape: int | Sequence[int]) -> tuple[int, ...]:
    """Normalise a population size (``n`` or a tuple such as ``(C, H, W)``)."""
    if isinstance(shape, bool):
        raise ParameterError(f"{name} must be a positive int or tuple of ints, got {shape!r}")
    if isinstance(shape, int):
        shape = (shape,)
    try:
        out = tuple(int(s) for s in shape)
    except TypeError:
        raise ParameterError(f"{name} must be a positive int or tuple of ints, got {shape!r}") from None
    if not out or any(s <= 0 for s in out) or any(s != t for s, t in zip(out, shape)):
        raise ParameterError(f"{name} must be a positive int or tuple of positive ints, got {shape!r}")
    return out


def check_dt(dt: Any) -> float:
    """dt must be a finite number > 0 (ms)."""
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not (math.isfinite(dt) and dt > 0):
        raise ParameterError(f"dt must be a finite number > 0 ms, got {dt!r}")
    return float(dt)


INT32_MAX = 2**31 - 1


def check_refractory(t_ref: Tensor, dt: float) -> None:
    """``round(t_ref / dt)`` must fit the int32 refractory counter (it would wrap, and switch
    refractoriness off, otherwise)."""
    steps = torch.round(t_ref.detach().to(torch.float64) / dt)
    if steps.numel() and float(steps.max()) > INT32_MAX:
        raise ParameterError(
            f"t_ref / dt must be at most {INT32_MAX} steps (the refractory counter is int32), got "
            f"t_ref={float(t_ref.max())!r} ms at dt={dt!r} ms ({float(steps.max()):.3g} steps)"
        )


def as_param(name: str, value: ParamLike, shape: tuple[int, ...]) -> Tensor:
    """A parameter as a floating tensor that broadcasts to the population ``shape``."""
    if isinstance(value, bool):
        raise ParameterError(f"{name} must be a number or a tensor, got {value!r}")
    if isinstance(value, Tensor):
        t = value.detach().clone()
        if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64, torch.int16, torch.int8)):
            raise ParameterError(f"{name} must be a real number or real tensor, got dtype {t.dtype}")
        if not t.is_floating_point():
            t = t.to(torch.get_default_dtype())
    else:
        try:
            t = torch.as_tensor(value, dtype=torch.get_default_dtype())
        except (TypeError, ValueError, RuntimeError):
            raise ParameterError(f"{name} must be a number or a tensor, got {value!r}") from None
    try:
        if torch.broadcast_shapes(t.shape, shape) != shape:
            raise RuntimeError
    except RuntimeError:
        raise ShapeError(
            f"{name} must be a scalar or broadcast to the population shape {list(shape)}, "
            f"got shape {list(t.shape)}"
        ) from None
    if not bool(torch.isfinite(t).all()):
        raise ParameterError(f"{name} must be finite, got {value!r}")
    return t


def _show(t: Tensor) -> str:
    return repr(t.item()) if t.numel() == 1 else f"a tensor with min {t.min().item()!r}"


def check_positive(name: str, t: Tensor, unit: str = "") -> None:
    if not bool((t > 0).all()):
        raise ParameterError(f"{name} must be > 0{' ' + unit if unit else ''}, got {_show(t)}")


def check_nonnegative(name: str, t: Tensor, unit: str = "") -> None:
    if not bool((t >= 0).all()):
        raise ParameterError(f"{name} must be >= 0{' ' + unit if unit else ''}, got {_show(t)}")


def check_choice(name: str, value: Any, allowed: Sequence[Any]) -> None:
    if value not in allowed:
        raise ParameterError(f"{name} must be one of {list(allowed)!r}, got {value!r}")


def check_floating(name: str, x: Any) -> Tensor:
    if not isinstance(x, Tensor):
        raise DTypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise DTypeError(
            f"{name} must have a floating dtype (float32 or float64), got {x.dtype}; "
            f"convert with {name}.float()"
        )
    return x
