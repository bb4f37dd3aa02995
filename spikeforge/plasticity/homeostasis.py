r"""Homeostatic plasticity: keep firing rates near a target, so that Hebbian rules such as STDP
stay stable.

Both rules estimate each neuron's rate with an exponential filter of its spikes,

.. math::

    \tau_r \frac{dr}{dt} = -r + \sum_k \delta(t - t^k)
    \quad\Rightarrow\quad
    r \leftarrow r\, e^{-\Delta t/\tau_r} + (1 - e^{-\Delta t/\tau_r})\, \frac{s}{\Delta t}

(exact when the spike count :math:`s` of a step is spread evenly over it; rates in spikes per ms,
so ``target_rate=5 * units.Hz``), and then act:

* :class:`SynapticScaling` (Turrigiano et al. 1998; van Rossum, Bi & Turrigiano 2000) scales all
  incoming weights of a neuron multiplicatively,
  :math:`\Delta w_{ij} = \eta\, \Delta t\, (1 - r_i / r^*)\, w_{ij}`, so relative weights, and what
  STDP has learned, are kept;
* :class:`ThresholdAdaptation` (intrinsic plasticity) moves each neuron's threshold,
  :math:`\Delta\theta_i = \eta\, \Delta t\, (r_i / r^* - 1)`; the caller adds :math:`\theta` to
  the neuron's ``v_th``.

Both return changes and never write weights or thresholds.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from .._checks import as_shape, check_dt, check_floating
from ..errors import ParameterError, ShapeError
from ._common import (
    BATCH_REDUCE,
    BatchReduce,
    as_third_factor,
    cast,
    check_choice,
    check_pre_post,
    check_state,
    decay,
    reduce_batch,
    scalar,
)

__all__ = ["RateState", "rate_step", "SynapticScaling", "ThresholdAdaptation", "ThresholdState"]


class RateState(NamedTuple):
    """``rate``: estimated rate per neuron, spikes per ms, ``[*batch, n]``."""

    rate: Tensor


def rate_step(spikes: Tensor, rate: Tensor, tau_rate: Tensor, dt: float) -> Tensor:
    r"""One step of the rate filter.

    .. math::

        r \leftarrow r\, e^{-\Delta t/\tau_r} + (1 - e^{-\Delta t/\tau_r})\, s / \Delta t
    """
    a = decay(tau_rate, dt, rate)
    return a * rate + (1.0 - a) * (spikes / dt)


def _target_rate(value: float | Tensor, dt: float) -> Tensor:
    """A target rate > 0 per ms that a neuron can reach: at most one spike per step (1/dt); a rate
    given in Hz (``target_rate=5`` for 5 Hz, which is 5000 Hz) is refused, not slowly chased."""
    t = scalar("target_rate", value, check="positive", unit="per ms")
    if bool((t > 1.0 / dt).any()):
        raise ParameterError(
            f"target_rate must be at most 1/dt = {1.0 / dt:g} per ms (one spike per step of {dt:g} ms), got "
            f"{t.max().item()!r} per ms ({1000.0 * t.max().item():g} Hz): rates are in spikes per ms, write "
            "target_rate=5 * spikeforge.units.Hz (0.005) for 5 Hz"
        )
    return t


class SynapticScaling(nn.Module):
    r"""Multiplicative synaptic scaling toward a target rate, as a
    :class:`~spikeforge.plasticity.PlasticityRule`.

    .. math::

        \Delta w_{ij} = \eta\, \Delta t \left(1 - \frac{r_i}{r^*}\right) w_{ij}

    where :math:`r_i` is the filtered rate of postsynaptic neuron :math:`i` (this step's spikes
    included). Presynaptic activity is not used.

    Args:
        target_rate: :math:`r^*` in spikes per ms (> 0), e.g. ``5 * units.Hz``.
        tau_rate: rate filter time constant in ms (> 0); slow, seconds or more.
        lr: :math:`\eta` per ms.
        init_rate: starting rate estimate (default: the target, so nothing moves at first).
        batch_reduce: ``"mean"``, ``"sum"`` or ``"none"`` over the batch.
        dt: step in ms.

    Example:
        >>> import torch
        >>> from spikeforge import units
        >>> from spikeforge.plasticity import SynapticScaling
        >>> rule = SynapticScaling(target_rate=10 * units.Hz, tau_rate=100.0, lr=1e-3)
        >>> w = torch.full((2, 3), 0.5)
        >>> post = torch.tensor([1.0, 0.0])               # neuron 0 fires: too active
        >>> dw, state = rule.step(torch.zeros(3), post, w)
        >>> bool((dw[0] < 0).all()), bool((dw[1] > 0).all())
        (True, True)
    """

    target_rate: Tensor
    tau_rate: Tensor
    lr: Tensor
    init_rate: Tensor

    def __init__(
        self,
        *,
        target_rate: float | Tensor,
        tau_rate: float | Tensor = 1000.0,
        lr: float | Tensor = 1e-4,
        init_rate: float | Tensor | None = None,
        batch_reduce: BatchReduce = "mean",
        dt: float = 1.0,
    ) -> None:
        super().__init__()
        check_choice("batch_reduce", batch_reduce, BATCH_REDUCE)
        self.dt = check_dt(dt)
        self.register_buffer("target_rate", _target_rate(target_rate, self.dt))
        self.register_buffer("tau_rate", scalar("tau_rate", tau_rate, check="positive", unit="ms"))
        self.register_buffer("lr", scalar("lr", lr))
        init = self.target_rate if init_rate is None else scalar("init_rate", init_rate, check="nonnegative")
        self.register_buffer("init_rate", init)
        self.batch_reduce: BatchReduce = batch_reduce

    def init_state(
        self,
        batch_shape: tuple[int, ...],
        n_pre: int,
        n_post: int,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> RateState:
        """The rate estimate at ``init_rate`` for every postsynaptic neuron."""
        shape = tuple(batch_shape) + (n_post,)
        return RateState(
            self.init_rate.to(dtype=dtype or torch.get_default_dtype(), device=device).expand(shape).clone()
        )

    def step(
        self,
        pre: Tensor,
        post: Tensor,
        w: Tensor,
        state: RateState | None = None,
        *,
        modulator: Tensor | float | None = None,
    ) -> tuple[Tensor, RateState]:
        """One step; returns ``(dw, state)``. A ``modulator`` (a number, or ``[n_post]``)
        multiplies the change, as for :class:`~spikeforge.plasticity.STDP`."""
        batch = check_pre_post(pre, post, w, self.batch_reduce)
        n_post, n_pre = w.shape[-2], w.shape[-1]
        if state is None:
            state = self.init_state(batch, n_pre, n_post, dtype=post.dtype, device=post.device)
        else:
            check_state(state, {"rate": batch + (n_post,)})
        with torch.no_grad():
            rate = rate_step(post, state.rate, self.tau_rate, self.dt)
            err = 1.0 - rate / cast(self.target_rate, rate)
            dw = (cast(self.lr, w) * self.dt) * reduce_batch(err.unsqueeze(-1) * w, self.batch_reduce)
            if modulator is not None:
                lead = batch if self.batch_reduce == "none" else ()
                dw = dw * as_third_factor("modulator", modulator, lead, n_post, dw)
        return dw, RateState(rate)

    def forward(
        self,
        pre: Tensor,
        post: Tensor,
        w: Tensor,
        state: RateState | None = None,
        *,
        modulator: Tensor | float | None = None,
    ) -> tuple[Tensor, RateState]:
        """Same as :meth:`step`."""
        return self.step(pre, post, w, state, modulator=modulator)

    def apply_update(self, w: Tensor, dw: Tensor) -> Tensor:
        """``w + dw`` (scaling keeps the sign of each weight for ``lr * dt * |1 - r/r*| < 1``)."""
        return w + dw


class ThresholdState(NamedTuple):
    """``rate``: filtered rate ``[*batch, n]`` (per ms)."""

    rate: Tensor


class ThresholdAdaptation(nn.Module):
    r"""Intrinsic plasticity of the threshold toward a target rate.

    .. math::

        \Delta\theta_i = \eta\, \Delta t \left(\frac{r_i}{r^*} - 1\right)

    :meth:`step` takes the neurons' spikes and returns :math:`\Delta\theta` (mV); the caller keeps
    :math:`\theta` and adds it to the threshold.

    Args:
        n: number of neurons.
        target_rate: :math:`r^*` in spikes per ms (> 0).
        tau_rate: rate filter time constant in ms (> 0).
        lr: :math:`\eta` in mV per ms.
        init_rate: starting rate estimate (default: the target).
        dt: step in ms.

    Example:
        >>> import torch
        >>> from spikeforge import units
        >>> from spikeforge.plasticity import ThresholdAdaptation
        >>> ip = ThresholdAdaptation(2, target_rate=20 * units.Hz, tau_rate=50.0, lr=0.01)
        >>> dtheta, s = ip.step(torch.tensor([1.0, 0.0]))
        >>> dtheta[0].item() > 0 > dtheta[1].item()
        True
    """

    target_rate: Tensor
    tau_rate: Tensor
    lr: Tensor
    init_rate: Tensor

    def __init__(
        self,
        n: int,
        *,
        target_rate: float | Tensor,
        tau_rate: float | Tensor = 1000.0,
        lr: float | Tensor = 1e-3,
        init_rate: float | Tensor | None = None,
        dt: float = 1.0,
    ) -> None:
        super().__init__()
        (self.n,) = as_shape("n", n)
        self.dt = check_dt(dt)
        self.register_buffer("target_rate", _target_rate(target_rate, self.dt))
        self.register_buffer("tau_rate", scalar("tau_rate", tau_rate, check="positive", unit="ms"))
        self.register_buffer("lr", scalar("lr", lr))
        init = self.target_rate if init_rate is None else scalar("init_rate", init_rate, check="nonnegative")
        self.register_buffer("init_rate", init)

    def init_state(
        self,
        batch_shape: tuple[int, ...] = (),
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> ThresholdState:
        shape = tuple(batch_shape) + (self.n,)
        dtype = dtype or torch.get_default_dtype()
        return ThresholdState(self.init_rate.to(dtype=dtype, device=device).expand(shape).clone())

    def step(self, spikes: Tensor, state: ThresholdState | None = None) -> tuple[Tensor, ThresholdState]:
        """One step: ``spikes`` ``[*batch, n]``; returns ``(dtheta, state)``."""
        spikes = check_floating("spikes", spikes)
        if spikes.dim() < 1 or spikes.shape[-1] != self.n:
            raise ShapeError(
                f"ThresholdAdaptation({self.n}) expects spikes [*batch, {self.n}], got {list(spikes.shape)}"
            )
        if state is None:
            state = self.init_state(tuple(spikes.shape[:-1]), dtype=spikes.dtype, device=spikes.device)
        else:
            check_state(state, {"rate": tuple(spikes.shape)})
        with torch.no_grad():
            rate = rate_step(spikes, state.rate, self.tau_rate, self.dt)
            dtheta = (cast(self.lr, rate) * self.dt) * (rate / cast(self.target_rate, rate) - 1.0)
        return dtheta, ThresholdState(rate)

    def forward(self, spikes: Tensor, state: ThresholdState | None = None) -> tuple[Tensor, ThresholdState]:
        """Same as :meth:`step`."""
        return self.step(spikes, state)
