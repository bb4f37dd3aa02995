r"""Classification losses for spiking networks.

Each loss takes the time-major output of a network, ``[T, B, C]`` (time steps, batch, classes),
and integer labels ``[B]``, turns the output into one logit per class and applies the
cross-entropy. They differ in the readout:

=================================  ==================================================  ==============
function                           logits                                              input
=================================  ==================================================  ==============
:func:`spike_count_cross_entropy`  spike counts :math:`\sum_t z_{t,b,c}`               spikes ``out``
:func:`max_membrane_cross_entropy` peak membrane :math:`\max_t v_{t,b,c}`              membrane ``v``
:func:`first_spike_time_loss`      negative first-spike times :math:`-t^{(1)}_{b,c}/\theta`  spikes ``out``
=================================  ==================================================  ==============

Every loss is a mean over the batch by default (``reduction="mean"``), so data-parallel training,
which averages gradients over processes, gives the gradient of the mean over the global batch
when every process has the same number of samples.

Each function has a small :class:`torch.nn.Module` twin (:class:`SpikeCountCrossEntropy`, ...),
for code that expects a loss object.

Example:
    >>> import torch
    >>> from spikeforge.training import spike_count_cross_entropy
    >>> out = torch.zeros(10, 2, 3)          # [T, B, C] spikes
    >>> out[:4, 0, 1] = 1.0                  # sample 0: class 1 fires 4 times
    >>> out[:2, 1, 2] = 1.0                  # sample 1: class 2 fires twice
    >>> round(spike_count_cross_entropy(out, torch.tensor([1, 2])).item(), 4)
    0.1378
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_choice, check_dt, check_floating
from ..errors import DTypeError, ParameterError, ShapeError

__all__ = [
    "Reduction",
    "check_classification_output",
    "spike_count_cross_entropy",
    "max_membrane_cross_entropy",
    "first_spike_times",
    "first_spike_time_loss",
    "SpikeCountCrossEntropy",
    "MaxMembraneCrossEntropy",
    "FirstSpikeTimeLoss",
]

Reduction = Literal["mean", "sum", "none"]
_REDUCTIONS = ("mean", "sum", "none")


def check_classification_output(name: str, x: object, target: object | None = None) -> tuple[int, int, int]:
    """Check a time-major output ``[T, B, C]`` and, if given, its labels ``[B]``.

    Args:
        name: the argument's name, for the error message.
        x: the output (spikes or membrane), a floating tensor ``[T, B, C]``.
        target: integer class labels ``[B]`` with values in ``[0, C)``, or None.

    Returns:
        ``(T, B, C)``.

    Raises:
        DTypeError: ``x`` is not a floating tensor, or ``target`` not an integer tensor.
        ShapeError: ``x`` is not ``[T, B, C]`` with ``T >= 1``, or ``target`` not ``[B]``.
        ParameterError: a label outside ``[0, C)``.
    """
    x = check_floating(name, x)
    if x.dim() != 3 or x.shape[0] == 0 or x.shape[2] == 0:
        raise ShapeError(
            f"{name} must be time-major [T, B, C] (time steps, batch, classes) with T >= 1 and C >= 1, "
            f"got shape {list(x.shape)}"
        )
    steps, batch, classes = (int(s) for s in x.shape)
    if target is None:
        return steps, batch, classes
    if not isinstance(target, Tensor):
        raise DTypeError(
            f"target must be a torch.Tensor of integer class labels, got {type(target).__name__}"
        )
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise DTypeError(
            f"target must hold integer class labels (torch.int64), got dtype {target.dtype}; "
            f"convert with target.long()"
        )
    if tuple(target.shape) != (batch,):
        raise ShapeError(
            f"target must be [B] = [{batch}] (one label per sample of {name} [T, B, C] = "
            f"{list(x.shape)}), got shape {list(target.shape)}"
        )
    if batch:
        lo, hi = int(target.min()), int(target.max())
        if lo < 0 or hi >= classes:
            raise ParameterError(
                f"target labels must be in [0, {classes}) for {classes} output neurons, "
                f"got labels from {lo} to {hi}"
            )
    return steps, batch, classes


def spike_count_cross_entropy(out: Tensor, target: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    r"""Cross-entropy of the spike counts: the class that fires most should be the label.

    .. math::

        \ell_b = -\log \operatorname{softmax}_c\Big(\sum_t z_{t,b,c}\Big)_{y_b}

    Args:
        out: output spikes ``[T, B, C]`` (0/1, with surrogate gradients).
        target: class labels ``[B]``, integers in ``[0, C)``.
        reduction: ``"mean"`` over the batch (default), ``"sum"`` or ``"none"`` (``[B]``).

    Returns:
        The loss, a scalar (or ``[B]`` with ``reduction="none"``).

    Raises:
        ShapeError, DTypeError, ParameterError: see :func:`check_classification_output`.

    Example:
        >>> import torch
        >>> out = torch.zeros(5, 1, 2); out[:, 0, 0] = 1.0      # class 0 fires 5 times
        >>> round(spike_count_cross_entropy(out, torch.tensor([0])).item(), 5)
        0.00672
    """
    check_choice("reduction", reduction, _REDUCTIONS)
    check_classification_output("out", out, target)
    return F.cross_entropy(out.sum(dim=0), target, reduction=reduction)


def max_membrane_cross_entropy(v: Tensor, target: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    r"""Cross-entropy of the peak membrane potential over time (a non-spiking readout layer).

    .. math::

        \ell_b = -\log \operatorname{softmax}_c\Big(\max_t v_{t,b,c}\Big)_{y_b}

    Use it with an output layer that does not fire (a threshold it never reaches, i.e. a leaky
    integrator): a reset would hide the peak.

    Args:
        v: membrane trace ``[T, B, C]``, e.g. ``lif.scan(x, record=True).trace.v``.
        target: class labels ``[B]``, integers in ``[0, C)``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Returns:
        The loss, a scalar (or ``[B]`` with ``reduction="none"``).

    Raises:
        ShapeError, DTypeError, ParameterError: see :func:`check_classification_output`.

    Example:
        >>> import torch
        >>> v = torch.tensor([[[0.1, 0.5]], [[0.3, 0.2]]])       # [T=2, B=1, C=2]
        >>> round(max_membrane_cross_entropy(v, torch.tensor([1])).item(), 4)   # logits [0.3, 0.5]
        0.5981
    """
    check_choice("reduction", reduction, _REDUCTIONS)
    check_classification_output("v", v, target)
    return F.cross_entropy(v.amax(dim=0), target, reduction=reduction)


def first_spike_times(out: Tensor, *, dt: float = 1.0) -> Tensor:
    r"""Differentiable time of the first spike of each neuron, ``T * dt`` for a silent one.

    With :math:`s_t = \prod_{t' \le t} (1 - z_{t'})` (1 until the first spike, 0 from it on),

    .. math::

        t^{(1)} = \Delta t \sum_{t=0}^{T-1} s_t,

    which for 0/1 spikes is exactly ``k * dt`` for a first spike at step index ``k`` (a spike in
    the first output step is at ``t = 0``) and ``T * dt`` for a neuron that never fires. The
    expression is multilinear in the spikes, so its gradient is the exact effect of adding or
    removing one spike: a spike added at step ``j < k`` moves the first spike ``(k - j) * dt``
    earlier. Through the surrogate gradient of the spikes this trains first-spike times with
    ordinary backpropagation through time.

    Args:
        out: spikes ``[T, *batch, n]`` (the time dimension first).
        dt: time step in ms (> 0).

    Returns:
        First-spike times in ms, ``[*batch, n]``.

    Example:
        >>> import torch
        >>> z = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0]])   # [T=3, n=2]
        >>> first_spike_times(z, dt=0.5).tolist()
        [0.5, 1.5]
    """
    out = check_floating("out", out)
    if out.dim() < 1 or out.shape[0] == 0:
        raise ShapeError(f"out must be [T, *batch, n] with T >= 1, got shape {list(out.shape)}")
    dt = check_dt(dt)
    survival = torch.cumprod(1.0 - out, dim=0)
    return survival.sum(dim=0) * dt


def first_spike_time_loss(
    out: Tensor,
    target: Tensor,
    *,
    dt: float = 1.0,
    temperature: float | None = None,
    target_time_weight: float = 0.0,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Time-to-first-spike classification: the label's neuron should fire first.

    The first-spike times :math:`t^{(1)}_{b,c}` of :func:`first_spike_times` (``T * dt`` for a
    silent neuron) enter a softmax over classes as negative logits (Mostafa 2017; Göltz et al.
    2021), plus an optional term that pulls the label's spike early:

    .. math::

        \ell_b = -\log \operatorname{softmax}_c\big(-t^{(1)}_{b,c} / \theta\big)_{y_b}
                 + w \, \frac{t^{(1)}_{b,y_b}}{T \Delta t}

    Args:
        out: output spikes ``[T, B, C]``.
        target: class labels ``[B]``, integers in ``[0, C)``.
        dt: time step in ms (> 0).
        temperature: :math:`\theta` in ms (> 0); default a tenth of the window, ``T * dt / 10``,
            so the logits span ``[-10, 0]``.
        target_time_weight: :math:`w \ge 0`; > 0 also rewards an early label spike, which helps
            when no output neuron fires yet.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Returns:
        The loss, a scalar (or ``[B]`` with ``reduction="none"``).

    Raises:
        ShapeError, DTypeError, ParameterError: see :func:`check_classification_output`; also
            ``dt`` or ``temperature`` not > 0, negative ``target_time_weight``.

    Example:
        >>> import torch
        >>> out = torch.zeros(10, 1, 2)
        >>> out[2, 0, 0] = 1.0; out[6, 0, 1] = 1.0       # class 0 fires at 2 ms, class 1 at 6 ms
        >>> round(first_spike_time_loss(out, torch.tensor([0])).item(), 4)   # logits [-2, -6]
        0.0181
    """
    check_choice("reduction", reduction, _REDUCTIONS)
    steps, _, _ = check_classification_output("out", out, target)
    dt = check_dt(dt)
    if temperature is None:
        temperature = steps * dt / 10.0
    elif (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not (math.isfinite(temperature) and temperature > 0)
    ):
        raise ParameterError(f"temperature must be a finite number > 0 ms, got {temperature!r}")
    if isinstance(target_time_weight, bool) or not (
        isinstance(target_time_weight, (int, float)) and target_time_weight >= 0
    ):
        raise ParameterError(f"target_time_weight must be a number >= 0, got {target_time_weight!r}")
    times = first_spike_times(out, dt=dt)  # [B, C]
    loss = F.cross_entropy(-times / temperature, target, reduction="none")
    if target_time_weight:
        loss = loss + target_time_weight * times.gather(1, target[:, None])[:, 0] / (steps * dt)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


class SpikeCountCrossEntropy(nn.Module):
    """Module form of :func:`spike_count_cross_entropy`: ``loss(out, target)``.

    Example:
        >>> import torch
        >>> loss = SpikeCountCrossEntropy()
        >>> loss(torch.zeros(4, 2, 3), torch.tensor([0, 2])).item() > 0
        True
    """

    def __init__(self, *, reduction: Reduction = "mean") -> None:
        super().__init__()
        check_choice("reduction", reduction, _REDUCTIONS)
        self.reduction: Reduction = reduction

    def forward(self, out: Tensor, target: Tensor) -> Tensor:
        return spike_count_cross_entropy(out, target, reduction=self.reduction)


class MaxMembraneCrossEntropy(nn.Module):
    """Module form of :func:`max_membrane_cross_entropy`: ``loss(v, target)``.

    Example:
        >>> import torch
        >>> MaxMembraneCrossEntropy()(torch.zeros(4, 2, 3), torch.tensor([0, 2])).item() > 0
        True
    """

    def __init__(self, *, reduction: Reduction = "mean") -> None:
        super().__init__()
        check_choice("reduction", reduction, _REDUCTIONS)
        self.reduction: Reduction = reduction

    def forward(self, v: Tensor, target: Tensor) -> Tensor:
        return max_membrane_cross_entropy(v, target, reduction=self.reduction)


class FirstSpikeTimeLoss(nn.Module):
    """Module form of :func:`first_spike_time_loss`: ``loss(out, target)``.

    Example:
        >>> import torch
        >>> FirstSpikeTimeLoss(dt=1.0)(torch.zeros(4, 2, 3), torch.tensor([0, 2])).item() > 0
        True
    """

    def __init__(
        self,
        *,
        dt: float = 1.0,
        temperature: float | None = None,
        target_time_weight: float = 0.0,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        check_choice("reduction", reduction, _REDUCTIONS)
        self.dt = check_dt(dt)
        self.temperature = temperature
        self.target_time_weight = target_time_weight
        self.reduction: Reduction = reduction

    def forward(self, out: Tensor, target: Tensor) -> Tensor:
        return first_spike_time_loss(
            out,
            target,
            dt=self.dt,
            temperature=self.temperature,
            target_time_weight=self.target_time_weight,
            reduction=self.reduction,
        )
