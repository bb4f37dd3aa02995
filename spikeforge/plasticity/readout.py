r"""The error-modulated, attention-gated three-factor Hebbian readout, with online learning and an
offline consolidation phase (the readout rule of "Joint encoding of 'what' and 'when' predictions
through error-modulated plasticity in reservoir spiking networks", Yamada & Chao 2025).

A readout neuron :math:`i` reads the low-pass filtered spikes :math:`x_j` of a reservoir,
:math:`y_i = \sum_j w_{ij} x_j`. Online, at every step and without resets,

.. math::

    \tau_{pre} \dot x_j = -x_j + \tau_{pre} \sum_k \delta(t - t_j^k), \qquad
    \tau_e \dot e_j = -e_j + \tau_e\, x_j, \qquad
    \Delta w_{ij} = \eta\, M_i(t)\, G_i(t)\, e_j(t)

(with an optional presynaptic baseline, below), the error :math:`M_i = s_i - y_i` (target minus
the readout's own activity) and an attention gate :math:`G_i \in [0, 1]`. The three factors are
the presynaptic eligibility :math:`e_j`, the postsynaptic error and the gate; written out,
:math:`\Delta w = \eta G (s_i e_j - y_i e_j)` is a Hebbian term driven by the target minus an
anti-Hebbian term driven by the readout itself (the delta rule as a local three-factor rule).
:math:`\Delta w` is exactly zero wherever :math:`M = 0` or :math:`G = 0`.

The optional baseline (``tau_baseline``) is a slow running mean of each input,
:math:`\tau_b \dot{\bar x}_j = x_j - \bar x_j`, subtracted from the readout's input and from the
eligibility (:math:`x_j - \bar x_j` in place of :math:`x_j` above: synapses that adapt to their
input's mean rate, or feed-forward inhibition). Reservoir activity has a large common mean, which
dominates the input correlations and slows the error-driven learning of everything else; removing
it lets the learning rate be several times larger.

Online learning follows the latest trials, so it learns *when* an event comes
within a few trials, but its amplitude (the event's probability, *what* to expect) is noisy.

Offline, :meth:`ErrorGatedReadout.consolidate` moves the weights toward their gate-weighted mean
over the online phase since the previous consolidation,

.. math::

    \bar w = \frac{\sum_t G(t)\, w(t)}{\sum_t G(t)}, \qquad \Delta w = \kappa\, (\bar w - w),

an average over the trials' outcomes: the consolidated amplitude estimates the probability with
the variance of one trial's outcome averaged away, while the timing, learned online, is kept.

One step of :func:`readout_step`, in this order: filter the presynaptic spikes; update the
baseline; update the eligibility; compute :math:`\Delta w` from the weight passed in; add :math:`G\,w` to the
consolidation sums. The rule never writes ``w``; the caller applies ``dw``.

Example:
    >>> import torch
    >>> from spikeforge.plasticity import ErrorGatedReadout
    >>> rule = ErrorGatedReadout(tau_pre=20.0, tau_e=5.0, lr=0.05)
    >>> w = torch.zeros(1, 3)                           # [n_post, n_pre]
    >>> pre = torch.tensor([1.0, 0.0, 1.0])
    >>> state = None
    >>> for t in range(5):
    ...     y = rule.output(w, state)                   # the readout's activity before the step
    ...     dw, state = rule.step(pre, y, w, state, target=torch.ones(1), gate=1.0)
    ...     w = w + dw
    >>> (w[0, 1].item(), w[0, 0].item() > 0)            # silent inputs do not learn
    (0.0, True)
    >>> dw, state = rule.consolidate(w, state)          # offline: toward the mean online weight
    >>> bool((dw <= 0).all())                           # the weights grew, so the mean is lower
    True
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from .._checks import check_dt, check_floating
from ..errors import ParameterError, ShapeError
from ._common import (
    BATCH_REDUCE,
    BOUNDS,
    BatchReduce,
    Bound,
    Bounds,
    as_third_factor,
    cast,
    check_choice,
    check_pre_post,
    check_state,
    decay,
    grad_mode,
    optional_bounds,
    outer,
    reduce_batch,
    scalar,
)
from .stdp import apply_weight_update

__all__ = ["ReadoutParams", "ReadoutState", "readout_step", "readout_output", "ErrorGatedReadout"]


class ReadoutParams(NamedTuple):
    tau_pre: Tensor  # ms, presynaptic filter (the readout's input)
    tau_e: Tensor  # ms, eligibility
    lr: Tensor  # online learning rate (weight per unit of error, gate and eligibility)
    tau_baseline: Tensor  # ms, presynaptic baseline (inf: none)


class ReadoutState(NamedTuple):
    """``x_pre``, ``x_mean`` (the baseline) and ``e`` ``[*batch, n_pre]``; ``w_sum`` (the shape of
    ``w``) and ``g_sum`` (``[n_post, 1]``, or ``[*batch, n_post, 1]`` with
    ``batch_reduce="none"``): gate-weighted sums of the weights and of the gate since the last
    consolidation."""

    x_pre: Tensor
    x_mean: Tensor
    e: Tensor
    w_sum: Tensor
    g_sum: Tensor


def readout_output(w: Tensor, x_pre: Tensor) -> Tensor:
    r"""The readout activity :math:`y = W x`: ``w`` ``[n_post, n_pre]`` (or ``[*batch, n_post,
    n_pre]``) and ``x_pre`` ``[*batch, n_pre]`` (the filtered input, minus its baseline if any)
    give ``[*batch, n_post]``."""
    return (w @ x_pre.unsqueeze(-1)).squeeze(-1)


def readout_step(
    pre: Tensor,
    w: Tensor,
    state: ReadoutState,
    params: ReadoutParams,
    *,
    dt: float,
    error: Tensor | float | None,
    gate: Tensor | float | None = None,
    batch_reduce: BatchReduce = "mean",
    differentiable: bool = False,
) -> tuple[Tensor, ReadoutState]:
    r"""One online step of the error-gated readout rule; returns ``(dw, state)``.

    1. :math:`x \leftarrow x\, e^{-\Delta t/\tau_{pre}} + s^{pre}`;
    2. :math:`\bar x \leftarrow \bar x + (1 - e^{-\Delta t/\tau_b})(x - \bar x)` (stays 0 with
       :math:`\tau_b = \infty`);
    3. :math:`e \leftarrow e\, e^{-\Delta t/\tau_e} + (x - \bar x)`;
    4. :math:`\Delta w_{ij} = \eta\, M_i G_i\, e_j`, summed or averaged over the batch;
    5. :math:`\sum G w \mathrel{+}= \bar G\, w` and :math:`\sum G \mathrel{+}= \bar G` (:math:`\bar G`:
       the gate averaged over the batch, per postsynaptic neuron).

    Args:
        pre: presynaptic spikes ``[*batch, n_pre]``.
        w: weights ``[n_post, n_pre]`` (``[*batch, n_post, n_pre]`` with ``batch_reduce="none"``).
        state: the state before the step.
        params: :class:`ReadoutParams`.
        dt: step in ms.
        error: :math:`M`, a number, ``[*batch]`` or ``[*batch, n_post]``; ``None``: no change
            (the traces still evolve and nothing is added to the consolidation sums).
        gate: :math:`G`, shaped like ``error``; ``None`` means 1.
        batch_reduce: ``"mean"``, ``"sum"`` or ``"none"``.
        differentiable: record for autograd (default ``no_grad``).
    """
    with grad_mode(differentiable):
        x = state.x_pre * decay(params.tau_pre, dt, state.x_pre) + pre
        x_mean = state.x_mean
        if bool(torch.isfinite(params.tau_baseline).all()):
            x_mean = x_mean + (1.0 - decay(params.tau_baseline, dt, x)) * (x - x_mean)
        e = state.e * decay(params.tau_e, dt, state.e) + (x - x_mean)
        batch = tuple(pre.shape[:-1])
        n_post = w.shape[-2]
        post_shape = batch + (n_post,)
        like = e.new_zeros(()).expand(batch + (n_post, 1))
        if error is None:
            return torch.zeros_like(w), ReadoutState(x, x_mean, e, state.w_sum, state.g_sum)
        m = as_third_factor("error", error, batch, n_post, like)
        g = (
            torch.ones((), dtype=e.dtype, device=e.device)
            if gate is None
            else as_third_factor("gate", gate, batch, n_post, like)
        )
        third = (cast(params.lr, e) * m * g).expand(batch + (n_post, 1)).reshape(post_shape)
        dw = outer(third, e, batch_reduce)
        g_b = g.expand(batch + (n_post, 1))
        g_mean = g_b if batch_reduce == "none" else reduce_batch(g_b, "mean")
        w_sum = state.w_sum + g_mean * w
        g_sum = state.g_sum + g_mean
    return dw, ReadoutState(x, x_mean, e, w_sum, g_sum)


class ErrorGatedReadout(nn.Module):
    r"""The error-modulated, attention-gated three-factor Hebbian readout rule, online
    (:meth:`step`) with an offline consolidation phase (:meth:`consolidate`).

    See :mod:`spikeforge.plasticity.readout` for the equations. Use :meth:`output` for the
    readout's activity :math:`y = W x` (its firing rate, in units of the target), pass it as
    ``post`` with the ``target`` to :meth:`step` (the error is ``target - post``), or pass the
    error itself as ``modulator``.

    Args:
        tau_pre: presynaptic filter time constant in ms (> 0).
        tau_e: eligibility time constant in ms (> 0); small values make ``e`` follow ``x``
            (:math:`e \approx x / (1 - e^{-\Delta t/\tau_e})`).
        lr: online learning rate :math:`\eta`.
        tau_baseline: time constant in ms (> 0) of the presynaptic baseline subtracted from the
            input, or None (no baseline).
        consolidation: :math:`\kappa \in [0, 1]`, the default fraction of the way to the mean
            online weight that :meth:`consolidate` moves (1: replace by the mean).
        w_min, w_max: bounds used by :meth:`apply_update` (needed unless ``bound="none"``).
        bound: ``"hard"``, ``"soft"`` or ``"none"``.
        batch_reduce: ``"mean"``, ``"sum"`` or ``"none"`` over the batch dimensions.
        dt: step in ms.
        differentiable: let gradients flow through :meth:`step`.

    Raises:
        ParameterError: non-positive time constants or dt, ``consolidation`` outside [0, 1],
            ``w_min >= w_max``, a bound without ``w_min``/``w_max``, unknown ``bound`` or
            ``batch_reduce``.

    Example:
        >>> import torch
        >>> from spikeforge.plasticity import ErrorGatedReadout
        >>> rule = ErrorGatedReadout(lr=0.1)
        >>> w = torch.zeros(2, 3)
        >>> dw, s = rule.step(torch.ones(3), torch.zeros(2), w, target=torch.ones(2), gate=0.0)
        >>> bool((dw == 0).all())                 # gate closed: no change, traces still evolve
        True
    """

    tau_pre: Tensor
    tau_e: Tensor
    lr: Tensor
    tau_baseline: Tensor
    w_min: Tensor
    w_max: Tensor

    def __init__(
        self,
        *,
        tau_pre: float | Tensor = 20.0,
        tau_e: float | Tensor = 5.0,
        lr: float | Tensor = 1e-3,
        tau_baseline: float | Tensor | None = None,
        consolidation: float = 1.0,
        w_min: float | Tensor | None = None,
        w_max: float | Tensor | None = None,
        bound: Bound = "none",
        batch_reduce: BatchReduce = "mean",
        dt: float = 1.0,
        differentiable: bool = False,
    ) -> None:
        super().__init__()
        check_choice("batch_reduce", batch_reduce, BATCH_REDUCE)
        check_choice("bound", bound, BOUNDS)
        self.dt = check_dt(dt)
        self.register_buffer("tau_pre", scalar("tau_pre", tau_pre, check="positive", unit="ms"))
        self.register_buffer("tau_e", scalar("tau_e", tau_e, check="positive", unit="ms"))
        self.register_buffer("lr", scalar("lr", lr))
        tau_b = (
            torch.tensor(torch.inf, dtype=torch.float64)
            if tau_baseline is None
            else scalar("tau_baseline", tau_baseline, check="positive", unit="ms")
        )
        self.register_buffer("tau_baseline", tau_b)
        self.consolidation = _check_fraction("consolidation", consolidation)
        bounds = optional_bounds(w_min, w_max, bound)
        self.register_buffer("w_min", bounds.w_min)
        self.register_buffer("w_max", bounds.w_max)
        self.bound: Bound = bound
        self.batch_reduce: BatchReduce = batch_reduce
        self.differentiable = bool(differentiable)

    def params(self) -> ReadoutParams:
        return ReadoutParams(self.tau_pre, self.tau_e, self.lr, self.tau_baseline)

    def init_state(
        self,
        batch_shape: tuple[int, ...],
        n_pre: int,
        n_post: int,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> ReadoutState:
        """Zero traces and consolidation sums."""
        b = tuple(batch_shape)
        lead = b if self.batch_reduce == "none" else ()
        return ReadoutState(
            torch.zeros(b + (n_pre,), dtype=dtype, device=device),
            torch.zeros(b + (n_pre,), dtype=dtype, device=device),
            torch.zeros(b + (n_pre,), dtype=dtype, device=device),
            torch.zeros(lead + (n_post, n_pre), dtype=dtype, device=device),
            torch.zeros(lead + (n_post, 1), dtype=dtype, device=device),
        )

    def _state(
        self, pre: Tensor, w: Tensor, state: ReadoutState | None
    ) -> tuple[tuple[int, ...], ReadoutState]:
        n_post, n_pre = w.shape[-2], w.shape[-1]
        batch = tuple(pre.shape[:-1])
        if state is None:
            return batch, self.init_state(batch, n_pre, n_post, dtype=w.dtype, device=w.device)
        lead = batch if self.batch_reduce == "none" else ()
        check_state(
            state,
            {
                "x_pre": batch + (n_pre,),
                "x_mean": batch + (n_pre,),
                "e": batch + (n_pre,),
                "w_sum": lead + (n_post, n_pre),
                "g_sum": lead + (n_post, 1),
            },
        )
        return batch, state

    def output(self, w: Tensor, state: ReadoutState | None) -> Tensor:
        r"""The readout activity :math:`y = W (x - \bar x)` from the state's presynaptic filter and
        baseline, ``[*batch, n_post]`` (zeros for ``state=None``)."""
        if state is None:
            return w.new_zeros(w.shape[:-1])
        return readout_output(w, state.x_pre - state.x_mean)

    def step(
        self,
        pre: Tensor,
        post: Tensor,
        w: Tensor,
        state: ReadoutState | None = None,
        *,
        modulator: Tensor | float | None = None,
        target: Tensor | float | None = None,
        gate: Tensor | float | None = None,
    ) -> tuple[Tensor, ReadoutState]:
        """One online step; returns ``(dw, state)``.

        Args:
            pre: presynaptic spikes ``[*batch, n_pre]``.
            post: the readout's activity ``[*batch, n_post]`` (a rate such as :meth:`output`,
                or spikes); used only with ``target``.
            w: weights ``[n_post, n_pre]``.
            state: the state before the step (``None``: zero).
            modulator: the error :math:`M` itself (a number, ``[*batch]`` or ``[*batch,
                n_post]``); overrides ``target``.
            target: the target activity :math:`s`; the error is ``target - post``.
            gate: the attention gate :math:`G` (``None``: 1).

        With neither ``modulator`` nor ``target`` there is no change this step.
        """
        batch = check_pre_post(pre, post, w, self.batch_reduce)
        batch, state = self._state(pre, w, state)
        error: Tensor | float | None = modulator
        if error is None and target is not None:
            t = target if isinstance(target, Tensor) else torch.as_tensor(target, dtype=post.dtype)
            t = t.to(dtype=post.dtype, device=post.device)
            try:
                error = t - post
            except RuntimeError:
                raise ShapeError(
                    f"target must broadcast to post {list(post.shape)}, got {list(t.shape)}"
                ) from None
            if tuple(error.shape) != tuple(post.shape):
                raise ShapeError(f"target must broadcast to post {list(post.shape)}, got {list(t.shape)}")
        return readout_step(
            pre,
            w,
            state,
            self.params(),
            dt=self.dt,
            error=error,
            gate=gate,
            batch_reduce=self.batch_reduce,
            differentiable=self.differentiable,
        )

    def forward(
        self,
        pre: Tensor,
        post: Tensor,
        w: Tensor,
        state: ReadoutState | None = None,
        *,
        modulator: Tensor | float | None = None,
        target: Tensor | float | None = None,
        gate: Tensor | float | None = None,
    ) -> tuple[Tensor, ReadoutState]:
        """Same as :meth:`step`."""
        return self.step(pre, post, w, state, modulator=modulator, target=target, gate=gate)

    def consolidate(
        self, w: Tensor, state: ReadoutState, *, rate: float | None = None
    ) -> tuple[Tensor, ReadoutState]:
        r"""The offline phase: ``dw = rate * (w_mean - w)``, with ``w_mean`` the gate-weighted mean
        of the weights seen by :meth:`step` since the last consolidation, and the sums cleared.
        Rows (readout neurons) whose gate stayed closed get no change. ``rate`` defaults to the
        rule's ``consolidation``. The traces are kept (no reset).

        Returns:
            ``(dw, state)``.
        """
        w = check_floating("w", w)
        kappa = self.consolidation if rate is None else _check_fraction("rate", rate)
        if not isinstance(state, ReadoutState) or tuple(state.w_sum.shape) != tuple(w.shape):
            got = list(state.w_sum.shape) if isinstance(state, ReadoutState) else type(state).__name__
            raise ShapeError(f"state.w_sum must have the shape of w {list(w.shape)}, got {got}")
        g = state.g_sum.to(w.dtype)
        seen = g > 0
        mean = state.w_sum.to(w.dtype) / torch.where(seen, g, torch.ones_like(g))
        dw = torch.where(seen, kappa * (mean - w), torch.zeros_like(w))
        cleared = state._replace(w_sum=torch.zeros_like(state.w_sum), g_sum=torch.zeros_like(state.g_sum))
        return dw, cleared

    def apply_update(self, w: Tensor, dw: Tensor) -> Tensor:
        """``w + dw`` within ``[w_min, w_max]`` by this rule's ``bound``."""
        return apply_weight_update(w, dw, Bounds(self.w_min, self.w_max), bound=self.bound)

    def extra_repr(self) -> str:
        return (
            f"tau_pre={self.tau_pre.tolist()}, tau_e={self.tau_e.tolist()}, lr={self.lr.tolist()}, "
            f"consolidation={self.consolidation}, bound={self.bound!r}, dt={self.dt}"
        )


def _check_fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0.0 <= float(value) <= 1.0):
        raise ParameterError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)
