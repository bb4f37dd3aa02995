"""Input validation shared by all modules: each check raises at the point of misuse, naming the
argument, the value and what is allowed (see :mod:`spikeforge.errors`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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


EXACT = "_spikeforge_exact"


def exact_value(t: Any) -> Tensor | None:
    """The float64 value a parameter was given as (a Python number or sequence), which
    :func:`as_param` keeps beside its tensor in the default dtype; None for tensors given as such."""
    exact = getattr(t, EXACT, None)
    return exact if isinstance(exact, Tensor) else None


def as_param(name: str, value: ParamLike, shape: tuple[int, ...]) -> Tensor:
    """A parameter as a floating tensor that broadcasts to the population ``shape``.

    A Python number or sequence is converted to the default dtype, and its float64 value is kept
    with the tensor (:func:`exact_value`), so that a module moved to float64 later holds the
    value as given, not its float32 rounding."""
    if isinstance(value, bool):
        raise ParameterError(f"{name} must be a number or a tensor, got {value!r}")
    if isinstance(value, Tensor):
        t = value.detach().clone()
        if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64, torch.int16, torch.int8)):
            raise ParameterError(f"{name} must be a real number or real tensor, got dtype {t.dtype}")
        if not t.is_floating_point():
            t = t.to(torch.get_default_dtype())
        elif exact_value(value) is not None:
            setattr(t, EXACT, exact_value(value))
    else:
        try:
            exact = torch.as_tensor(value, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise ParameterError(f"{name} must be a number or a tensor, got {value!r}") from None
        t = exact.to(torch.get_default_dtype())
        setattr(t, EXACT, exact)  # the value as given, for a later .double() (see exact_value)
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


def check_state_dict(module: torch.nn.Module, state: Any, what: str, *, strict: bool = True) -> None:
    """``state`` fits ``module`` (the keys, with ``strict``; the shapes and dtype kinds of the keys
    both hold) and its floating tensors are finite (or infinite where the module's own are: an open
    bound); raises before anything is loaded, naming the
    key, what it holds and what ``module`` allows (torch's ``load_state_dict`` raises a RuntimeError
    instead, after loading the tensors that fit)."""
    if not isinstance(state, Mapping):
        raise ParameterError(f"{what}: state_dict must map names to tensors, got {type(state).__name__}")
    own = {k: v for k, v in module.state_dict().items() if isinstance(v, Tensor)}
    if strict:
        missing = sorted(set(own) - set(state))
        extra = sorted(k for k in set(state) - set(own) if not str(k).endswith("_extra_state"))
        if missing or extra:
            raise ParameterError(
                f"{what}: the state_dict does not fit: missing keys {missing}, unexpected keys {extra}; "
                f"the keys allowed are {sorted(own)}"
            )
    for name, mine in own.items():
        if name not in state:
            continue
        theirs = state[name]
        if not isinstance(theirs, Tensor):
            raise ParameterError(f"{what}: {name} must be a tensor, got {type(theirs).__name__}")
        if tuple(theirs.shape) != tuple(mine.shape):
            raise ShapeError(f"{what}: {name} has shape {list(theirs.shape)}, allowed is {list(mine.shape)}")
        if theirs.is_floating_point() != mine.is_floating_point():
            raise DTypeError(f"{what}: {name} has dtype {theirs.dtype}, allowed is a dtype like {mine.dtype}")
        if theirs.is_floating_point() and not bool(torch.isfinite(theirs).all()):
            # NaN never; an infinite value only where the module holds one already (an open bound)
            if bool(torch.isnan(theirs).any()) or bool(torch.isfinite(mine).all()):
                raise ParameterError(f"{what}: {name} holds NaN or infinite values; they must be finite")
