r"""Poisson (Bernoulli) rate coding: constant or time-varying rates to spike trains.

Each step of length :math:`\Delta t` draws :math:`u \sim U[0, 1)` per element and spikes when

.. math::

    z_t = [\,u_t < \lambda_t\,\Delta t\,] \qquad (\text{so } P(z_t = 1) = \lambda_t\,\Delta t),

with the rate :math:`\lambda` in events per ms (``spikeforge.units.Hz``: 20 Hz = 0.02) and
:math:`\lambda\,\Delta t \le 1`. With a refractory period :math:`t_{ref}` a spike at step t
silences steps t+1 .. t+n, :math:`n = \mathrm{round}(t_{ref}/\Delta t)` (the draws are still made,
so the draw order does not depend on the spikes); the mean rate is then about
:math:`\lambda / (1 + \lambda\,n\,\Delta t)`.

Randomness comes only from ``generator`` (never the global RNG). The draws follow the order
(time, then elements in C order), one uniform per element and step, so a run of T1 steps followed
by one of T2 steps with the same generator equals one run of T1 + T2 steps, bitwise. Draws are made
in the rates' dtype on the generator's device and moved to the rates' device.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .._checks import check_dt, check_floating
from ..errors import ParameterError, ShapeError

__all__ = ["poisson", "poisson_time_varying", "poisson_step"]


# ---------------------------------------------------------------------------------------------
# shared checks of the encoders (private)


def _check_steps(steps: Any, name: str = "steps") -> int:
    """A step count: an int >= 0."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ParameterError(f"{name} must be an int >= 0 (a number of time steps), got {steps!r}")
    return steps


def _check_generator(generator: Any) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ParameterError(f"generator must be a torch.Generator or None, got {generator!r}")


def _check_number(name: str, value: Any, *, low: float | None = None, strict: bool = True) -> float:
    """A finite real number, optionally > ``low`` (``strict``) or >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParameterError(f"{name} must be a finite number, got {value!r}")
    if low is not None and (value <= low if strict else value < low):
        raise ParameterError(f"{name} must be {'>' if strict else '>='} {low}, got {value!r}")
    return float(value)


def _first_bad(x: Tensor, bad: Tensor) -> str:
    """The first offending value of ``x`` (where ``bad``) and its index, for error messages."""
    idx = tuple(int(i) for i in torch.nonzero(bad)[0])
    return f"{x[idx].item()!r} at index {list(idx)}"


def _check_rates(rates: Any, dt: float) -> Tensor:
    rates = check_floating("rates", rates)
    bad = ~(rates >= 0)  # negative or NaN
    if bool(bad.any()):
        raise ParameterError(
            f"rates must be >= 0 events per ms (20 Hz = 0.02) and not NaN, got {_first_bad(rates, bad)}"
        )
    bad = rates * dt > 1
    if bool(bad.any()):
        raise ParameterError(
            f"rates * dt must be <= 1 (a spike probability per step), so rates <= {1 / dt!r} per ms at "
            f"dt={dt!r} ms; got rates {_first_bad(rates, bad)} (per ms); lower the rate or dt (rates are per "
            "ms: 20 Hz is 0.02, write 20 * spikeforge.units.Hz)"
        )
    return rates


def _refractory_steps(refractory: Any, dt: float) -> int:
    refractory = _check_number("refractory", refractory, low=0.0, strict=False)
    return int(round(refractory / dt))


def _uniform(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    """``U[0, 1)`` draws of ``shape`` in ``like``'s dtype, made on the generator's device."""
    if generator is None:  # a private, randomly seeded generator: never the global RNG
        generator = torch.Generator(device=like.device)
        generator.seed()
    u = torch.rand(shape, generator=generator, dtype=like.dtype, device=generator.device)
    return u.to(like.device)


def _draws(steps: int, like: Tensor, generator: torch.Generator | None) -> Tensor:
    """The uniforms of ``steps`` steps, ``[steps, *shape]``: one draw on CPU generators (they fill
    serially, so it equals ``steps`` draws of ``[*shape]``), one draw per step on others (so that a
    chunked run equals a long one there too)."""
    if generator is None:  # a private, randomly seeded generator: never the global RNG
        generator = torch.Generator(device=like.device)
        generator.seed()
    shape = tuple(like.shape)
    if generator.device.type == "cpu" or steps == 0:
        return _uniform((steps, *shape), like, generator)
    return torch.stack([_uniform(shape, like, generator) for _ in range(steps)])


def _step(u: Tensor, p: Tensor, left: Tensor, n_ref: int) -> tuple[Tensor, Tensor]:
    """One step from its uniforms ``u``: spikes (in p's dtype) and the refractory steps left."""
    z = (u < p) & (left == 0)
    left = torch.where(z, torch.full_like(left, n_ref), (left - 1).clamp(min=0))
    return z.to(p.dtype), left


def _scan(
    p: Tensor, shape: tuple[int, ...], steps: int, n_ref: int, generator: torch.Generator | None
) -> Tensor:
    """Spikes ``[steps, *shape]`` for spike probabilities ``p``, ``[*shape]`` or ``[steps, *shape]``."""
    like = torch.empty(shape, dtype=p.dtype, device=p.device)
    u = _draws(steps, like, generator)
    if n_ref == 0:
        return (u < p).to(p.dtype)
    time_major = p.dim() == len(shape) + 1
    out = p.new_zeros((steps, *shape))
    left = torch.zeros(shape, dtype=torch.int32, device=p.device)
    for t in range(steps):
        out[t], left = _step(u[t], p[t] if time_major else p, left, n_ref)
    return out


# ---------------------------------------------------------------------------------------------
# public API


def poisson(
    rates: Tensor,
    steps: int,
    dt: float = 1.0,
    *,
    generator: torch.Generator | None = None,
    refractory: float = 0.0,
) -> Tensor:
    r"""Poisson spike trains of constant rates (a Bernoulli draw per step, see the module docstring).

    .. math::

        z_t \sim \mathrm{Bernoulli}(\lambda\,\Delta t), \qquad t = 0, \dots, T - 1

    Args:
        rates: rates :math:`\lambda` in events per ms, ``[*shape]``, floating dtype; write them with
            ``spikeforge.units.Hz`` (``20 * Hz`` is 0.02). Need ``0 <= rates * dt <= 1``.
        steps: number of time steps T (int >= 0).
        dt: step length in ms.
        generator: source of the draws; None uses a fresh randomly seeded generator (never the
            global RNG). Its state advances by ``steps * rates.numel()`` uniforms.
        refractory: dead time in ms after each spike (rounded to ``round(refractory / dt)`` steps);
            0 for a Poisson process.

    Returns:
        Spikes ``[T, *shape]``, 0 and 1 in the rates' dtype, on the rates' device.

    Raises:
        DTypeError: ``rates`` is not a floating tensor.
        ParameterError: a rate is negative or NaN, ``rates * dt > 1``, or ``steps``, ``dt`` or
            ``refractory`` is out of range, or ``generator`` is not a ``torch.Generator``.

    Shape:
        ``[*shape] -> [T, *shape]``.

    Example:
        >>> import torch
        >>> from spikeforge.encoders import poisson
        >>> from spikeforge.units import Hz
        >>> g = torch.Generator().manual_seed(0)
        >>> z = poisson(torch.full((1000,), 20 * Hz), steps=1000, dt=1.0, generator=g)  # 1 s
        >>> z.shape
        torch.Size([1000, 1000])
        >>> round(z.sum(0).mean().item())  # about 20 spikes per train
        20
    """
    dt = check_dt(dt)
    steps = _check_steps(steps)
    _check_generator(generator)
    rates = _check_rates(rates, dt)
    n_ref = _refractory_steps(refractory, dt)
    return _scan(rates.detach() * dt, tuple(rates.shape), steps, n_ref, generator)


def poisson_time_varying(
    rates: Tensor,
    dt: float = 1.0,
    *,
    generator: torch.Generator | None = None,
    refractory: float = 0.0,
) -> Tensor:
    r"""Inhomogeneous Poisson spike trains: one rate per step, :math:`z_t \sim
    \mathrm{Bernoulli}(\lambda_t\,\Delta t)`.

    Draws exactly as :func:`poisson` does (one uniform per element and step, in time order), so for
    a constant sequence of rates both give the same spikes with the same generator, and two chunks
    ``rates[:t1]``, ``rates[t1:]`` give the same spikes as the whole sequence (without
    refractoriness; with it, continue across chunks with :func:`poisson_step`).

    Args:
        rates: rates :math:`\lambda_t` in events per ms, time-major ``[T, *shape]``, floating dtype,
            with ``0 <= rates * dt <= 1``.
        dt: step length in ms.
        generator: source of the draws; None uses a fresh randomly seeded generator.
        refractory: dead time in ms after each spike (``round(refractory / dt)`` steps).

    Returns:
        Spikes ``[T, *shape]``, 0 and 1 in the rates' dtype.

    Raises:
        DTypeError: ``rates`` is not a floating tensor.
        ShapeError: ``rates`` has no time dimension (0-d).
        ParameterError: as :func:`poisson`.

    Example:
        >>> import torch
        >>> from spikeforge.encoders import poisson_time_varying
        >>> g = torch.Generator().manual_seed(0)
        >>> ramp = torch.linspace(0.0, 0.1, 500).unsqueeze(1).expand(500, 200)  # 0 to 100 Hz
        >>> z = poisson_time_varying(ramp, dt=1.0, generator=g)
        >>> bool(z[:250].sum() < z[250:].sum())
        True
    """
    dt = check_dt(dt)
    _check_generator(generator)
    rates = _check_rates(rates, dt)
    if rates.dim() == 0:
        raise ShapeError(f"rates must be time-major [T, *shape], got a 0-d tensor {rates.item()!r}")
    n_ref = _refractory_steps(refractory, dt)
    return _scan(rates.detach() * dt, tuple(rates.shape[1:]), rates.shape[0], n_ref, generator)


def poisson_step(
    rates: Tensor,
    refractory_left: Tensor | None = None,
    *,
    dt: float = 1.0,
    generator: torch.Generator | None = None,
    refractory: float = 0.0,
) -> tuple[Tensor, Tensor]:
    r"""One step of :func:`poisson`: the functional core, for streaming or chunked runs.

    A loop of ``poisson_step`` that carries ``refractory_left`` gives the same spikes as one call
    of :func:`poisson` (or :func:`poisson_time_varying`) with the same generator, refractoriness
    included.

    Args:
        rates: rates in events per ms, ``[*shape]``, floating dtype, ``0 <= rates * dt <= 1``.
        refractory_left: refractory steps left per element (int32 ``[*shape]``); None starts fresh.
        dt: step length in ms.
        generator: source of the draws; None uses a fresh randomly seeded generator.
        refractory: dead time in ms after each spike (``round(refractory / dt)`` steps).

    Returns:
        ``(z, refractory_left)``: spikes ``[*shape]`` in the rates' dtype and the new count.

    Raises:
        DTypeError: ``rates`` is not a floating tensor.
        ShapeError: ``refractory_left`` does not have the rates' shape.
        ParameterError: as :func:`poisson`.

    Example:
        >>> import torch
        >>> from spikeforge.encoders import poisson, poisson_step
        >>> rates = torch.full((5,), 0.3)
        >>> z_all = poisson(rates, 20, generator=torch.Generator().manual_seed(1), refractory=2.0)
        >>> g, left, zs = torch.Generator().manual_seed(1), None, []
        >>> for _ in range(20):
        ...     z, left = poisson_step(rates, left, generator=g, refractory=2.0)
        ...     zs.append(z)
        >>> torch.equal(torch.stack(zs), z_all)
        True
    """
    dt = check_dt(dt)
    _check_generator(generator)
    rates = _check_rates(rates, dt)
    n_ref = _refractory_steps(refractory, dt)
    if refractory_left is None:
        refractory_left = torch.zeros(rates.shape, dtype=torch.int32, device=rates.device)
    elif not isinstance(refractory_left, Tensor) or refractory_left.shape != rates.shape:
        got = list(refractory_left.shape) if isinstance(refractory_left, Tensor) else type(refractory_left)
        raise ShapeError(
            f"refractory_left must be a tensor of the rates' shape {list(rates.shape)}, got {got}"
        )
    u = _uniform(tuple(rates.shape), rates, generator)
    return _step(u, rates.detach() * dt, refractory_left, n_ref)
