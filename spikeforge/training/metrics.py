"""Classification metrics for spiking networks: predictions from a readout, accuracy, a running
mean and the confusion matrix.

The readout turns a time-major output ``[T, B, C]`` into one predicted class per sample:

================  ========================================================================
``readout``       predicted class
================  ========================================================================
``spike_count``   the neuron with the most spikes (ties: the lowest index)
``max_membrane``  the neuron with the highest membrane potential at any step
``first_spike``   the neuron that fires first (ties: more spikes, then the lowest index;
                  a silent neuron counts as firing after the window)
================  ========================================================================

Example:
    >>> import torch
    >>> from spikeforge.training import accuracy, predict
    >>> out = torch.zeros(10, 2, 3)
    >>> out[:4, 0, 1] = 1.0; out[5:, 1, 2] = 1.0; out[8:, 1, 0] = 1.0
    >>> predict(out).tolist(), predict(out, readout="first_spike").tolist()
    ([1, 2], [1, 2])
    >>> accuracy(out, torch.tensor([1, 0]))
    0.5
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from .._checks import check_choice
from ..errors import DTypeError, ParameterError, ShapeError, SpikeforgeError
from .losses import check_classification_output

__all__ = ["Readout", "READOUTS", "predict", "accuracy", "confusion_matrix", "MeanMeter"]

Readout = Literal["spike_count", "max_membrane", "first_spike"]
READOUTS: tuple[str, ...] = ("spike_count", "max_membrane", "first_spike")


def predict(x: Tensor, *, readout: Readout = "spike_count") -> Tensor:
    """The predicted class of each sample.

    Args:
        x: output spikes ``[T, B, C]`` (``"spike_count"``, ``"first_spike"``) or the membrane
            trace ``[T, B, C]`` (``"max_membrane"``).
        readout: ``"spike_count"``, ``"max_membrane"`` or ``"first_spike"`` (see the module
            docstring for the tie rules).

    Returns:
        Class indices ``[B]``, int64, on x's device.

    Raises:
        ShapeError: ``x`` is not ``[T, B, C]``.
        DTypeError: ``x`` is not floating.
        ParameterError: unknown ``readout``.

    Example:
        >>> import torch
        >>> v = torch.tensor([[[0.1, 0.5]], [[0.9, 0.2]]])      # [T=2, B=1, C=2]
        >>> predict(v, readout="max_membrane").tolist()
        [0]
    """
    check_choice("readout", readout, READOUTS)
    steps, _, _ = check_classification_output("x", x)
    x = x.detach()
    if readout == "spike_count":
        return x.sum(dim=0).argmax(dim=1)
    if readout == "max_membrane":
        return x.amax(dim=0).argmax(dim=1)
    fired = x > 0
    first = torch.where(fired.any(dim=0), fired.to(torch.uint8).argmax(dim=0), steps)  # [B, C]
    count = fired.sum(dim=0)
    key = first.to(torch.int64) * (steps + 1) - count  # earliest first, then most spikes
    return key.argmin(dim=1)


def accuracy(x: Tensor, target: Tensor, *, readout: Readout = "spike_count") -> float:
    """Fraction of samples whose predicted class (see :func:`predict`) is the label.

    Args:
        x: network output ``[T, B, C]`` (spikes or membrane, see ``readout``).
        target: labels ``[B]``, integers in ``[0, C)``.
        readout: ``"spike_count"``, ``"max_membrane"`` or ``"first_spike"``.

    Returns:
        The accuracy in ``[0, 1]``.

    Raises:
        ShapeError, DTypeError, ParameterError: bad shapes, dtypes, labels or readout; an empty
            batch (``B = 0``) is a ShapeError.

    Example:
        >>> import torch
        >>> out = torch.zeros(3, 2, 2); out[:, 0, 1] = 1.0; out[:, 1, 1] = 1.0
        >>> accuracy(out, torch.tensor([1, 0]))
        0.5
    """
    check_choice("readout", readout, READOUTS)
    _, batch, _ = check_classification_output("x", x, target)
    if batch == 0:
        raise ShapeError("accuracy needs at least one sample, got a batch of size 0")
    return float((predict(x, readout=readout) == target.to(x.device)).sum()) / batch


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """Counts of (true class, predicted class) pairs.

    Args:
        pred: predicted classes ``[N]``, integers in ``[0, num_classes)``.
        target: true classes ``[N]``, integers in ``[0, num_classes)``.
        num_classes: number of classes ``C`` (> 0).

    Returns:
        ``[C, C]`` int64 tensor ``m`` with ``m[i, j]`` the number of samples of class ``i``
        predicted as ``j`` (rows sum to the class sizes, the diagonal holds the hits).

    Raises:
        ParameterError: ``num_classes`` not a positive int, or a value outside ``[0, C)``.
        ShapeError: ``pred`` and ``target`` are not 1-D of the same length.
        DTypeError: non-integer inputs.

    Example:
        >>> import torch
        >>> confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]), 2).tolist()
        [[1, 1], [0, 1]]
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes <= 0:
        raise ParameterError(f"num_classes must be a positive int, got {num_classes!r}")
    for name, t in (("pred", pred), ("target", target)):
        if not isinstance(t, Tensor) or t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            what = t.dtype if isinstance(t, Tensor) else type(t).__name__
            raise DTypeError(f"{name} must be an integer tensor of class indices, got {what}")
    if pred.dim() != 1 or pred.shape != target.shape:
        raise ShapeError(
            f"pred and target must be 1-D of the same length, got {list(pred.shape)} and {list(target.shape)}"
        )
    for name, t in (("pred", pred), ("target", target)):
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_classes):
            raise ParameterError(
                f"{name} values must be in [0, {num_classes}), "
                f"got values from {int(t.min())} to {int(t.max())}"
            )
    flat = target.to(torch.int64) * num_classes + pred.to(device=target.device, dtype=torch.int64)
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


class MeanMeter:
    """A running (weighted) mean, e.g. of the per-batch loss over an epoch.

    It sums in Python floats (double precision) in the order of the updates, so the same updates
    give the same mean bitwise; :meth:`state_dict` and :meth:`load_state_dict` let a checkpoint
    carry a partial epoch.

    Example:
        >>> m = MeanMeter()
        >>> m.update(1.0, n=3); m.update(3.0)     # three samples with mean 1, one with 3
        >>> m.mean, m.count
        (1.5, 4.0)
    """

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def update(self, value: float | Tensor, n: float = 1) -> None:
        """Add ``value`` (a mean over ``n`` samples, so it weighs ``n``)."""
        value = float(value)
        if not math.isfinite(value):
            raise ParameterError(f"value must be finite, got {value!r}")
        if isinstance(n, bool) or not isinstance(n, (int, float)) or not n >= 0:
            raise ParameterError(f"n must be a number >= 0, got {n!r}")
        self.total += value * n
        self.count += n

    def add(self, total: float | Tensor, n: float) -> None:
        """Add a sum ``total`` over ``n`` samples (e.g. a count of correct predictions)."""
        total = float(total)
        if not math.isfinite(total):
            raise ParameterError(f"total must be finite, got {total!r}")
        if isinstance(n, bool) or not isinstance(n, (int, float)) or not n >= 0:
            raise ParameterError(f"n must be a number >= 0, got {n!r}")
        self.total += total
        self.count += n

    @property
    def mean(self) -> float:
        """The weighted mean of the updates so far."""
        if self.count == 0:
            raise SpikeforgeError("MeanMeter.mean is undefined before the first update")
        return self.total / self.count

    def reset(self) -> None:
        """Forget every update."""
        self.total = 0.0
        self.count = 0.0

    def state_dict(self) -> dict[str, float]:
        """``{"total", "count"}``, for a checkpoint."""
        return {"total": self.total, "count": self.count}

    def load_state_dict(self, state: dict[str, float]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.total = float(state["total"])
        self.count = float(state["count"])

    def __repr__(self) -> str:
        return f"MeanMeter(total={self.total!r}, count={self.count!r})"
