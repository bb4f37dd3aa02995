r"""Spike functions with surrogate gradients.

A spike is the Heaviside step of the distance to threshold, :math:`z = H(x)` with
:math:`x = v - v_{th}` and :math:`H(x) = 1` for :math:`x > 0`, else 0 (as NIR, snntorch and
norse define it: a membrane exactly at threshold does not spike). Its derivative is zero almost
everywhere, so training replaces it in the backward pass by the derivative :math:`\sigma'(x)` of a
smooth stand-in. Each surrogate here is a small immutable object, so users can write their own by
subclassing :class:`Surrogate` and defining :meth:`Surrogate.grad`.

=====================  ===========================================================  ==============
object                 backward :math:`\sigma'(x)`                                    parameter
=====================  ===========================================================  ==============
``FastSigmoid(s)``     :math:`1 / (1 + s|x|)^2` (SuperSpike, Zenke & Ganguli 2018)    slope ``s``
``ATan(a)``            :math:`(a/2) / (1 + (\pi a x / 2)^2)`                          slope ``a``
``Triangle(w)``        :math:`\max(0, 1 - |x|/w) / w` (unit area)                     width ``w``
``StraightThrough(w)`` :math:`1` where :math:`|x| \le w`, else 0 (Bengio et al. 2013)  width ``w``
=====================  ===========================================================  ==============

Example:
    >>> import torch
    >>> from spikeforge.surrogate import FastSigmoid
    >>> x = torch.tensor([-0.1, 0.0, 0.2], requires_grad=True)
    >>> z = FastSigmoid(slope=10.0)(x)
    >>> z.tolist()
    [0.0, 0.0, 1.0]
    >>> z.sum().backward()
    >>> [round(g, 4) for g in x.grad.tolist()]
    [0.25, 1.0, 0.1111]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .errors import ParameterError

__all__ = ["Surrogate", "FastSigmoid", "ATan", "Triangle", "StraightThrough", "heaviside"]


def heaviside(x: Tensor) -> Tensor:
    """The spike nonlinearity without any gradient: 1.0 where ``x > 0``, else 0.0, in x's dtype."""
    return (x > 0).to(x.dtype)


class _SpikeFunction(torch.autograd.Function):
    @staticmethod
    def forward(x: Tensor, surrogate: Surrogate) -> Tensor:  # type: ignore[override]
        return heaviside(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, Surrogate], output: Tensor) -> None:
        x, surrogate = inputs
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(x), None


@dataclass(frozen=True)
class Surrogate:
    """Base class: the Heaviside step forward, :meth:`grad` backward.

    Subclasses define :meth:`grad`, the surrogate derivative :math:`\\sigma'(x)` of the spike with
    respect to ``x = v - v_th``. Fused kernels (``LIF.scan``) call :meth:`grad` directly, so a
    custom surrogate works there too.
    """

    def grad(self, x: Tensor) -> Tensor:
        """Surrogate derivative of the spike at ``x = v - v_th`` (same shape and dtype as x)."""
        raise NotImplementedError(f"{type(self).__name__} must define grad(x)")

    def grad_(self, x: Tensor) -> Tensor:
        """:meth:`grad` that may overwrite ``x`` (a temporary) to save memory; fused kernels call
        it. Subclasses override it when they can work in place; the default calls :meth:`grad`."""
        return self.grad(x)

    def __call__(self, x: Tensor) -> Tensor:
        """Spikes ``H(x)`` whose backward pass is ``grad(x)``."""
        return _SpikeFunction.apply(x, self)  # type: ignore[no-any-return]


def _check_positive(cls: str, name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ParameterError(f"{cls}: {name} must be a number > 0, got {value!r}")


@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """SuperSpike's fast sigmoid: ``grad = 1 / (1 + slope*|x|)**2`` (peak 1 at threshold).

    Args:
        slope: steepness in 1/(units of v); 10 to 100 are usual for thresholds of order 1.
    """

    slope: float = 25.0

    def __post_init__(self) -> None:
        _check_positive("FastSigmoid", "slope", self.slope)

    def grad(self, x: Tensor) -> Tensor:
        return self.grad_(x.clone())

    def grad_(self, x: Tensor) -> Tensor:
        t = x.abs_().mul_(self.slope).add_(1.0)
        return t.mul_(t).reciprocal_()


@dataclass(frozen=True)
class ATan(Surrogate):
    """Arctan surrogate: the derivative of ``atan(pi*alpha*x/2)/pi + 1/2``.

    ``grad = (alpha/2) / (1 + (pi*alpha*x/2)**2)``, unit area, peak ``alpha/2``.

    Args:
        alpha: slope in 1/(units of v); 2 is snntorch's default, 5 the DCLS-delay code's.
    """

    alpha: float = 2.0

    def __post_init__(self) -> None:
        _check_positive("ATan", "alpha", self.alpha)

    def grad(self, x: Tensor) -> Tensor:
        return self.grad_(x.clone())

    def grad_(self, x: Tensor) -> Tensor:
        t = x.mul_(math.pi * self.alpha / 2)
        return t.mul_(t).add_(1.0).reciprocal_().mul_(self.alpha / 2)


@dataclass(frozen=True)
class Triangle(Surrogate):
    """Triangular surrogate of unit area: ``grad = max(0, 1 - |x|/width) / width``.

    Args:
        width: half-width of the support, in units of v.
    """

    width: float = 1.0

    def __post_init__(self) -> None:
        _check_positive("Triangle", "width", self.width)

    def grad(self, x: Tensor) -> Tensor:
        return torch.clamp(1.0 - x.abs() / self.width, min=0.0) / self.width


@dataclass(frozen=True)
class StraightThrough(Surrogate):
    """Straight-through estimator: ``grad = 1`` where ``|x| <= width``, else 0.

    With ``width=math.inf`` (the default) the gradient passes unchanged everywhere, the estimator
    of Bengio, Léonard & Courville 2013; a finite width gives the saturating variant used in
    binarized networks.

    Args:
        width: half-width of the window where gradient passes, in units of v.
    """

    width: float = math.inf

    def __post_init__(self) -> None:
        _check_positive("StraightThrough", "width", self.width)

    def grad(self, x: Tensor) -> Tensor:
        if math.isinf(self.width):
            return torch.ones_like(x)
        return (x.abs() <= self.width).to(x.dtype)
