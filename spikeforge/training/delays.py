r"""The DCLS recipe for learnable delays in the :class:`~spikeforge.training.Trainer`.

Hammouamri, Khalfaoui-Hassani & Masquelier (2023) train the delay positions of their
:class:`~spikeforge.plasticity.LearnableDelay` layers with three extra steps beside the weights:

1. the positions learn in a parameter group of their own, with a learning rate 100 to 150 times
   the weights' (:func:`delay_param_groups`);
2. the Gaussian width :math:`\sigma` of every delay layer decays exponentially over the first part
   of training (:func:`~spikeforge.plasticity.sigma_schedule`), and the positions are clamped to
   ``[0, max_delay]`` after each optimizer step;
3. at the end, :math:`\sigma = 0`: every delay is rounded to a whole step and the layer is an
   exact delay line.

Steps 2 and 3 are :class:`DelayAnnealing`, given to the trainer as ``delay_annealing=``. The
schedule depends only on the epoch number, so a resumed run sets the same widths.

Example:
    >>> import torch, spikeforge as sf
    >>> from spikeforge.plasticity import LearnableDelay
    >>> from spikeforge.training import DelayAnnealing, Trainer, delay_param_groups
    >>> model = sf.Sequential(LearnableDelay(4, 3, max_delay=6.0, generator=torch.Generator().manual_seed(0)),
    ...                       sf.neurons.LIF(3))
    >>> groups = delay_param_groups(model, lr=1e-3, delay_lr_scale=100.0)
    >>> [(len(g["params"]), g["lr"]) for g in groups]
    [(1, 0.001), (1, 0.1)]
    >>> trainer = Trainer(model, torch.optim.Adam(groups), progress=False,
    ...                   delay_annealing=DelayAnnealing(sigma_start=2.0, sigma_end=0.5))
    >>> DelayAnnealing(sigma_start=2.0, sigma_end=0.5).sigma(5, 10, model[0])
    0.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import ParameterError
from ..plasticity.delays import LearnableDelay, sigma_schedule

__all__ = ["DelayAnnealing", "delay_layers", "delay_param_groups"]


def delay_layers(model: nn.Module) -> list[LearnableDelay]:
    """The :class:`~spikeforge.plasticity.LearnableDelay` layers of ``model`` whose delays learn."""
    return [m for m in model.modules() if isinstance(m, LearnableDelay) and m.delay.requires_grad]


def _positive(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value > 0)
    ):
        raise ParameterError(
            f"{name} must be a finite number > 0{' or None' if allow_none else ''}, got {value!r}"
        )


def delay_param_groups(
    model: nn.Module,
    lr: float,
    *,
    delay_lr: float | None = None,
    delay_lr_scale: float = 100.0,
) -> list[dict[str, Any]]:
    """Optimizer parameter groups with the delay positions apart (DCLS step 1).

    Args:
        model: a model holding :class:`~spikeforge.plasticity.LearnableDelay` layers.
        lr: learning rate of every other parameter (weights, biases, neuron parameters).
        delay_lr: learning rate of the delay positions (in steps per update for Adam); default
            ``delay_lr_scale * lr``.
        delay_lr_scale: the ratio used when ``delay_lr`` is None (DCLS: 100 to 150).

    Returns:
        ``[{"params": others, "lr": lr}, {"params": delays, "lr": delay_lr, "weight_decay": 0.0}]``,
        for any ``torch.optim`` optimizer.

    Raises:
        ParameterError: a learning rate that is not a finite number > 0, or a model with no
            learnable delays.
    """
    _positive("lr", lr)
    _positive("delay_lr", delay_lr, allow_none=True)
    _positive("delay_lr_scale", delay_lr_scale)
    delays = [m.delay for m in delay_layers(model)]
    if not delays:
        raise ParameterError(
            f"delay_param_groups needs a model with LearnableDelay layers whose delays learn; "
            f"{type(model).__name__} has none"
        )
    ids = {id(p) for p in delays}
    others = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    return [
        {"params": others, "lr": float(lr)},
        {
            "params": delays,
            "lr": float(delay_lr if delay_lr is not None else delay_lr_scale * lr),
            "weight_decay": 0.0,
        },
    ]


@dataclass(frozen=True)
class DelayAnnealing:
    r"""How a :class:`~spikeforge.training.Trainer` anneals the delay layers (DCLS steps 2 and 3).

    At the start of epoch ``e`` of ``N`` every learnable delay layer gets
    ``sigma_schedule(e, N, sigma_start, sigma_end, fraction)`` (ms); after every optimizer step
    its delays are clamped to ``[0, max_delay]`` (``clamp``); when the last epoch is done its
    :math:`\sigma` is set to 0, so its delays are whole steps (``round_at_end``).

    Args:
        sigma_start: initial width in ms; None: a third of each layer's ``max_delay`` (DCLS).
        sigma_end: final width in ms; None: half a step (``0.5 * dt``) of each layer.
        fraction: part of the epochs over which the width decays (0 < fraction <= 1).
        round_at_end: set :math:`\sigma = 0` (integer delays) after the last epoch.
        clamp: clamp the delays to ``[0, max_delay]`` after every optimizer step.

    Raises:
        ParameterError: a width that is not > 0, ``sigma_end > sigma_start``, or ``fraction``
            outside ``(0, 1]``.

    Example:
        >>> from spikeforge.plasticity import LearnableDelay
        >>> layer = LearnableDelay(2, 2, max_delay=9.0, dt=1.0)
        >>> a = DelayAnnealing()                       # 3 ms -> 0.5 ms over the first half
        >>> [round(a.sigma(e, 4, layer), 3) for e in range(4)]
        [3.0, 1.225, 0.5, 0.5]
    """

    sigma_start: float | None = None
    sigma_end: float | None = None
    fraction: float = 0.5
    round_at_end: bool = True
    clamp: bool = True

    def __post_init__(self) -> None:
        _positive("sigma_start", self.sigma_start, allow_none=True)
        _positive("sigma_end", self.sigma_end, allow_none=True)
        if self.sigma_start is not None and self.sigma_end is not None and self.sigma_end > self.sigma_start:
            raise ParameterError(
                f"sigma_end must be <= sigma_start (sigma decays), got sigma_start={self.sigma_start!r}, "
                f"sigma_end={self.sigma_end!r}"
            )
        if (
            isinstance(self.fraction, bool)
            or not isinstance(self.fraction, (int, float))
            or not 0 < self.fraction <= 1
        ):
            raise ParameterError(f"fraction must be in (0, 1], got {self.fraction!r}")

    def sigma(self, epoch: int, n_epochs: int, layer: LearnableDelay) -> float:
        """The width (ms) of ``layer`` during epoch ``epoch`` (0-based) of ``n_epochs``."""
        start = self.sigma_start if self.sigma_start is not None else layer.max_steps * layer.dt / 3
        end = self.sigma_end if self.sigma_end is not None else 0.5 * layer.dt
        if start <= 0:  # max_delay = 0: nothing to learn, an integer line from the start
            return 0.0
        end = min(end, start)
        return sigma_schedule(epoch, n_epochs, sigma_start=start, sigma_end=end, fraction=self.fraction)

    def start_epoch(self, layers: list[LearnableDelay], epoch: int, n_epochs: int) -> None:
        """Set every layer's width for ``epoch``."""
        for layer in layers:
            layer.set_sigma(self.sigma(epoch, n_epochs, layer))

    @torch.no_grad()
    def after_step(self, layers: list[LearnableDelay]) -> None:
        """Clamp the delays to ``[0, max_delay]`` (when ``clamp``)."""
        if self.clamp:
            for layer in layers:
                layer.delay.clamp_(0.0, float(layer.max_steps))

    def finish(self, layers: list[LearnableDelay]) -> None:
        """Round: :math:`\\sigma = 0` (when ``round_at_end``)."""
        if self.round_at_end:
            for layer in layers:
                layer.set_sigma(0.0)
