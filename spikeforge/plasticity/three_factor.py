r"""Three-factor learning: an eligibility trace made by pre- and postsynaptic activity, turned into
a weight change only by a third factor (reward, dopamine, error, attention).

.. math::

    \Delta w_{ij} = \eta\, M_i(t)\, G(t)\, e_{ij}(t)

(Frémaux & Gerstner 2016). Three rules:

* :class:`EligibilityTrace` wraps any two-factor rule (:class:`~spikeforge.plasticity.STDP`,
  :class:`~spikeforge.plasticity.TripletSTDP`, ...): its change feeds the trace,
  :math:`e \leftarrow e\,e^{-\Delta t/\tau_e} + \Delta w_{rule}`, and
  :math:`\Delta w = \eta\, M\, e`.
* :class:`ThreeFactor`: a Hebbian eligibility
  :math:`e_{ij} \leftarrow e_{ij} e^{-\Delta t/\tau_e} + f(s^{post}_i)\, x_j`, with :math:`x` the
  low-pass filter of presynaptic spikes, a modulator :math:`M` (global reward, or an error per
  postsynaptic neuron) and a gate :math:`G` (attention or phase). :math:`\Delta w` is exactly 0
  where :math:`M = 0` or :math:`G = 0`.
* :class:`RewardModulatedSTDP` (Izhikevich 2007, "Solving the distal reward problem through
  linkage of STDP and dopamine signaling"): STDP into a synaptic tag :math:`c` with
  :math:`\tau_c \approx 1` s, extracellular dopamine :math:`d` with :math:`\tau_d \approx 200` ms,
  and :math:`\dot w = c\, d`.

All rules implement :class:`~spikeforge.plasticity.PlasticityRule`: ``step(pre, post, w, state, *,
modulator)`` returns ``(dw, state)`` and never writes ``w``.

Third factors broadcast against the per-sample change ``[*batch, n_post, n_pre]``: a number (one
value for everything), ``[*batch]`` (one per sample), ``[*batch, n_post]`` (one per postsynaptic
neuron) or a tensor that already broadcasts (``[*batch, n_post, 1]``). Eligibilities that must be
multiplied per sample are kept per sample.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from .._checks import check_dt
from ..errors import ParameterError, ShapeError
from ._common import (
    BATCH_REDUCE,
    BOUNDS,
    BatchReduce,
    Bound,
    Bounds,
    Synapses,
    as_third_factor,
    cast,
    check_choice,
    check_pre_post,
    check_state,
    decay,
    grad_mode,
    optional_bounds,
    reduce_batch,
    scalar,
    third_factor,
)
from .stdp import STDP, PlasticityRule, STDPState, apply_weight_update

__all__ = [
    "EligibilityState",
    "EligibilityTrace",
    "ThreeFactorParams",
    "ThreeFactorState",
    "three_factor_step",
    "ThreeFactor",
    "RewardModulatedSTDPState",
    "RewardModulatedSTDP",
]


# ---------------------------------------------------------------------------------------------
# eligibility trace around any rule


class EligibilityState(NamedTuple):
    """``rule``: the wrapped rule's state; ``e``: eligibility, the shape of the rule's ``dw``."""

    rule: Any
    e: Tensor


class EligibilityTrace(nn.Module):
    r"""Turn a two-factor rule into a three-factor one through an eligibility trace.

    .. math::

        e \leftarrow e\, e^{-\Delta t/\tau_e} + \Delta w_{rule}, \qquad \Delta w = \eta\, M\, e

    in this order within a step (so this step's rule change is already eligible). Without a
    modulator (``modulator=None``) the trace still evolves and :math:`\Delta w = 0`.

    The modulator multiplies the eligibility element-wise: a number, ``[n_post]`` (per neuron),
    or, if the wrapped rule was built with ``batch_reduce="none"`` (one eligibility per sample),
    ``[*batch]`` or ``[*batch, n_post]``; this module then reduces over the batch with its own
    ``batch_reduce``.

    Args:
        rule: the two-factor rule, e.g. :class:`~spikeforge.plasticity.STDP`.
        tau_e: eligibility time constant in ms (> 0).
        lr: learning rate :math:`\eta` (weight units per unit of modulator and eligibility).
        batch_reduce: ``"mean"``, ``"sum"`` or ``"none"``, applied to a per-sample eligibility.
        dt: step in ms; by default the rule's ``dt``.

    Example:
        >>> import torch
        >>> from spikeforge.plasticity import STDP, EligibilityTrace
        >>> rule = EligibilityTrace(STDP(a_plus=1.0, a_minus=1.0), tau_e=1000.0)
        >>> w = torch.zeros(1, 1)
        >>> _, s = rule.step(torch.ones(1), torch.zeros(1), w)        # pre
        >>> dw, s = rule.step(torch.zeros(1), torch.ones(1), w, s)    # post 1 ms later: eligible
        >>> dw.item(), round(s.e.item(), 4)                           # no modulator: no change
        (0.0, 0.9512)
        >>> dw, s = rule.step(torch.zeros(1), torch.zeros(1), w, s, modulator=2.0)
        >>> round(dw.item(), 4)                                        # 2 * 0.9512 * exp(-1/1000)
        1.9006
    """

    tau_e: Tensor
    lr: Tensor

    def __init__(
        self,
        rule: PlasticityRule,
        tau_e: float | Tensor = 1000.0,
        *,
        lr: float | Tensor = 1.0,
        batch_reduce: BatchReduce = "mean",
        dt: float | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(rule, PlasticityRule):
            raise ParameterError(
                f"rule must implement PlasticityRule (init_state and step), got {type(rule).__name__}"
            )
        check_choice("batch_reduce", batch_reduce, BATCH_REDUCE)
        if dt is None:
            dt = getattr(rule, "dt", None)
            if dt is None:
                raise ParameterError("dt is needed: the rule has no dt attribute, pass dt=... (ms)")
        self.dt = check_dt(dt)
        self.rule = rule
        self.register_buffer("tau_e", scalar("tau_e", tau_e, check="positive", unit="ms"))
        self.register_buffer("lr", scalar("lr", lr))
        self.batch_reduce: BatchReduce = batch_reduce

    @property
    def takes_synapses(self) -> bool:
        """Whether :meth:`step` takes ``synapses=``: when the wrapped rule does (the eligibility is
        then per synapse). Not event-driven: the eligibility decays and changes every weight it
        covers whenever the modulator is non-zero."""
        return bool(getattr(self.rule, "takes_synapses", False))

    def init_state(
        self,
        batch_shape: tuple[int, ...],
        n_pre: int,
        n_post: int,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        n_synapses: int | None = None,
    ) -> EligibilityState:
        """The rule's fresh state and a zero eligibility (per synapse with ``n_synapses``)."""
        init = self.rule.init_state
        try:
            rs = init(batch_shape, n_pre, n_post, dtype=dtype, device=device)  # type: ignore[call-arg]
        except TypeError:
            rs = init(batch_shape, n_pre, n_post)
        lead = tuple(batch_shape) if getattr(self.rule, "batch_reduce", "mean") == "none" else ()
        layout = (n_post, n_pre) if n_synapses is None else (n_synapses,)
        return EligibilityState(rs, torch.zeros(lead + layout, dtype=dtype, device=device))

    def step(
        self,
        pre: Tensor,
        post: Tensor,
        w: Tensor,
        state: EligibilityState | None = None,
        *,
        modulator: Tensor | float | None = None,
        synapses: Synapses | None = None,
    ) -> tuple[Tensor, EligibilityState]:
        """One step; returns ``(dw, state)`` with ``dw = lr * modulator * e`` (0 without one). With
        ``synapses`` (the wrapped rule must take them) ``w``, ``e`` and ``dw`` are per synapse."""
        batch = check_pre_post(pre, post, w, "none", synapses)
        n_post, n_pre = post.shape[-1], pre.shape[-1]
        n_syn = None if synapses is None else synapses.post.numel()
        if state is None:
            state = self.init_state(
                batch, n_pre, n_post, dtype=pre.dtype, device=pre.device, n_synapses=n_syn
            )
        if synapses is None:
            dw_rule, rule_state = self.rule.step(pre, post, w, state.rule)
        elif self.takes_synapses:
            dw_rule, rule_state = self.rule.step(pre, post, w, state.rule, synapses=synapses)  # type: ignore[call-arg]
        else:
            raise ParameterError(
                f"synapses= needs a wrapped rule that takes them (STDP, TripletSTDP), got "
                f"{type(self.rule).__name__}"
            )
        if tuple(dw_rule.shape) != tuple(state.e.shape):
            raise ShapeError(
                f"state.e has shape {list(state.e.shape)} but the rule returned a change of shape "
                f"{list(dw_rule.shape)}"
            )
        event_dims = 2 if synapses is None else 1
        with grad_mode(getattr(self.rule, "differentiable", False)):
            e = state.e * decay(self.tau_e, self.dt, state.e) + dw_rule
            if modulator is None:
                dw = torch.zeros_like(reduce_batch(e, self.batch_reduce, event_dims))
            else:
                lead = tuple(e.shape[:-event_dims])
                if isinstance(modulator, Tensor) and not lead and batch and tuple(modulator.shape) == batch:
                    raise ShapeError(
                        f"a modulator per sample {list(modulator.shape)} needs one eligibility per "
                        f"sample: build the wrapped rule with batch_reduce='none' (or give a "
                        f"per-neuron modulator as [n_post, 1])"
                    )
                m = third_factor("modulator", modulator, lead, n_post, n_pre, e, synapses)
                dw = reduce_batch(cast(self.lr, e) * m * e, self.batch_reduce, event_dims)
        return dw, EligibilityState(rule_state, e)

    def forward(
        self,
        pre: Tensor,
        post: Tensor,
        w: Tensor,
        state: EligibilityState | None = None,
        *,
        modulator: Tensor | float | None = None,
        synapses: Synapses | None = None,
    ) -> tuple[Tensor, EligibilityState]:
        """Same as :meth:`step`."""
        return self.step(pre, post, w, state, modulator=modulator, synapses=synapses)

    def apply_update(self, w: Tensor, dw: Tensor) -> Tensor:
        """``w + dw`` with the wrapped rule's bounds (its ``apply_update``), else unbounded."""
        apply = getattr(self.rule, "apply_update", None)
        return apply(w, dw) if callable(apply) else w + dw


# ---------------------------------------------------------------------------------------------
# Hebbian three-factor rule


class ThreeFactorParams(NamedTuple):
    tau_pre: Tensor  # ms, presynaptic filter
    tau_e: Tensor  # ms, eligibility
    lr: Tensor  # learning rate


class ThreeFactorState(NamedTuple):
    """``x_pre`` ``[*batch, n_pre]`` (filtered pre spikes) and ``e`` ``[*batch, n_post, n_pre]``."""

    x_pre: Tensor
    e: Tensor


def three_factor_step(
    pre: Tensor,
    post: Tensor,
    state: ThreeFactorState,
    params: ThreeFactorParams,
    *,
    dt: float,
    modulator: Tensor | float | None,
    gate: Tensor | float | None = None,
    post_fn: Callable[[Tensor], Tensor] | None = None,
    batch_reduce: BatchReduce = "mean",
    differentiable: bool = False,
) -> tuple[Tensor, ThreeFactorState]:
    r"""One step of the Hebbian three-factor rule; returns ``(dw, state)``.

    In this order:

    1. :math:`x_j \leftarrow x_j\, e^{-\Delta t/\tau_{pre}} + s^{pre}_j` (this step's spike counts);
    2. :math:`e_{ij} \leftarrow e_{ij}\, e^{-\Delta t/\tau_e} + f(s^{post}_i)\, x_j`, the exact
       solution of :math:`\tau_e \dot e = -e + \tau_e f(s^{post}) x` for impulse input;
    3. :math:`\Delta w_{ij} = \eta\, M_i\, G_i\, e_{ij}`, summed or averaged over the batch.

    Args:
        pre: presynaptic spikes ``[*batch, n_pre]``.
        post: postsynaptic activity ``[*batch, n_post]`` (spikes, or a rate).
        state: the state before the step.
        params: :class:`ThreeFactorParams`.
        dt: step in ms.
        modulator: :math:`M`: a number (global reward or dopamine), ``[*batch]``, or
            ``[*batch, n_post]`` (an error per neuron). ``None``: no change this step.
        gate: :math:`G` (attention or phase gate, usually in [0, 1]), shaped like ``modulator``;
            ``None`` means 1.
        post_fn: :math:`f`, applied to ``post`` (identity by default).
        batch_reduce: ``"mean"``, ``"sum"`` or ``"none"``.
        differentiable: record for autograd (default ``no_grad``).
    """
    with grad_mode(differentiable):
        x = state.x_pre * decay(params.tau_pre, dt, state.x_pre) + pre
        fp = post if post_fn is None else post_fn(post)
        e = state.e * decay(params.tau_e, dt, state.e) + fp.unsqueeze(-1) * x.unsqueeze(-2)
        if modulator is None:
            dw = torch.zeros_like(reduce_batch(e, batch_reduce))
        else:
            batch, n_post = tuple(e.shape[:-2]), e.shape[-2]
            third = cast(params.lr, e) * as_third_factor("modulator", modulator, batch, n_post, e)
            if gate is not None:
                third = third * as_third_factor("gate", gate, batch, n_post, e)
            dw = reduce_batch(third * e, batch_reduce)
    return dw, ThreeFactorState(x, e)


class ThreeFactor(nn.Module):
    r"""Hebbian three-factor rule: :math:`\Delta w_{ij} = \eta\, M_i\, G_i\, e_{ij}`.

    .. math::

        \tau_e \frac{de_{ij}}{dt} = -e_{ij} + \tau_e\, f(s^{post}_i)\, x_j, \qquad
        \tau_{pre} \frac{dx_j}{dt} = -x_j + \tau_{pre} \sum_k \delta(t - t_j^k)

    (discrete steps in :func:`three_factor_step`). The modulator :math:`M` is the reward minus a
    baseline (global) or an error per postsynaptic neuron (target minus output); the gate
    :math:`G` is an attention or phase signal. :math:`\Delta w` is exactly zero wherever
    :math:`M = 0` or :math:`G = 0`, and the eligibility keeps evolving, online, with no reset.

    Args:
        tau_pre: presynaptic filter time constant in ms (> 0), 20 to 50 ms usually.
        tau_e: eligibility time constant in ms (> 0).
        lr: learning rate :math:`\eta`.
        post_fn: :math:`f` applied to the postsynaptic activity (identity by default).
        w_min, w_max: bounds used by :meth:`apply_update` (needed unless ``bound="none"``).
        bound: ``"hard"``, ``"soft"`` or ``"none"``.
        batch_reduce: ``"mean"``, ``"sum"`` or ``"none"``.
        dt: step in ms.
        differentiable: let gradients flow through :meth:`step`.

    Example:
        >>> import torch
        >>> from spikeforge.plasticity import ThreeFactor
        >>> rule = ThreeFactor(tau_pre=20.0, tau_e=500.0, lr=0.1)
        >>> w = torch.zeros(2, 3)
        >>> pre, post = torch.tensor([1.0, 0.0, 1.0]), torch.tensor([1.0, 0.0])
        >>> dw, s = rule.step(pre, post, w, modulator=torch.tensor([1.0, -1.0]), gate=0.0)
        >>> bool((dw == 0).all())                     # gate closed: no change, but eligible
        True
        >>> dw, s = rule.step(0 * pre, 0 * post, w, s, modulator=torch.tensor([1.0, -1.0]))
        >>> [round(v, 4) for v in dw[0].tolist()]     # 0.1 * 1 * e^(-1/500)
        [0.0998, 0.0, 0.0998]
    """

    tau_pre: Tensor
    tau_e: Tensor
    lr: Tensor
    w_min: Tensor
    w_max: Tensor

    def __init__(
        self,
        *,
        tau_pre: float | Tensor = 20.0,
        tau_e: float | Tensor = 1000.0,
        lr: float | Tensor = 1e-3,
        post_fn: Callable[[Tensor], Tensor] | None = None,
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
        if post_fn is not None and not callable(post_fn):
            raise ParameterError(f"post_fn must be callable or None, got {post_fn!r}")
        self.dt = check_dt(dt)
        self.register_buffer("tau_pre", scalar("tau_pre", tau_pre, check="positive", unit="ms"))
        self.register_buffer("tau_e", scalar("tau_e", tau_e, check="positive", unit="ms"))
        self.register_buffer("lr", scalar("lr", lr))
        bounds = optional_bounds(w_min, w_max, bound)
        self.register_buffer("w_min", bounds.w_min)
        self.register_buffer("w_max", bounds.w_max)
        self.post_fn = post_fn
        self.bound: Bound = bound
        self.batch_reduce: BatchReduce = batch_reduce
        self.differentiable = bool(differentiable)

    def params(self) -> ThreeFactorParams:
        return ThreeFactorParams(self.tau_pre, self.tau_e, self.lr)

    def init_state(
        self,
        batch_shape: tuple[int, ...],
        n_pre: int,
        n_post: int,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> ThreeFactorState:
        """Zero filter and eligibility (the eligibility is kept per sample)."""
        b = tuple(batch_shape)
        return ThreeFactorState(
            torch.zeros(b + (n_pre,), dtype=dtype, device=device),
            torch.zeros(b + (n_post, n_pre), dtype=dtype, device=device),
        )

    def step(
        self,
        pre: Tensor,
        post: Tensor,
        w: Tensor,
        state: ThreeFactorState | None = None,
        *,
        modulator: Tensor | float | None = None,
        gate: Tensor | float | None = None,
    ) -> tuple[Tensor, ThreeFactorState]:
        """One step; returns ``(dw, state)``. ``modulator=None`` gives no change this step."""
        batch = check_pre_post(pre, post, w, self.batch_reduce)
        n_post, n_pre = w.shape[-2], w.shape[-1]
        if state is None:
            state = self.init_state(batch, n_pre, n_post, dtype=pre.dtype, device=pre.device)
        else:
            check_state(state, {"x_pre": batch + (n_pre,), "e": batch + (n_post, n_pre)})
        return three_factor_step(
            pre,
            post,
            state,
            self.params(),
            dt=self.dt,
            modulator=modulator,
            gate=gate,
            post_fn=self.post_fn,
            batch_reduce=self.batch_reduce,
            differentiable=self.differentiable,
        )

    def forward(
        self,
        pre: Tensor,
        post: Tensor,
        w: Tensor,
        state: ThreeFactorState | None = None,
        *,
        modulator: Tensor | float | None = None,
        gate: Tensor | float | None = None,
    ) -> tuple[Tensor, ThreeFactorState]:
        """Same as :meth:`step`."""
        return self.step(pre, post, w, state, modulator=modulator, gate=gate)

    def apply_update(self, w: Tensor, dw: Tensor) -> Tensor:
        """``w + dw`` within ``[w_min, w_max]`` by this rule's ``bound``."""
        return apply_weight_update(w, dw, Bounds(self.w_min, self.w_max), bound=self.bound)


# ---------------------------------------------------------------------------------------------
# reward-modulated STDP (Izhikevich 2007)


class RewardModulatedSTDPState(NamedTuple):
    """``stdp``: the STDP traces; ``c``: synaptic tags ``[n_post, n_pre]`` (``[*batch, ...]``
    with ``batch_reduce="none"``); ``d``: dopamine (``[]``, or ``[*batch]``)."""

    stdp: STDPState
    c: Tensor
    d: Tensor


class RewardModulatedSTDP(nn.Module):
    r"""Dopamine-modulated STDP (Izhikevich 2007): the distal-reward rule.

    .. math::

        \dot c = -\frac{c}{\tau_c} + \mathrm{STDP}(\Delta t)\, \delta(t - t_{pre/post}), \qquad
        \dot d = -\frac{d}{\tau_d} + \mathrm{DA}(t), \qquad
        \dot w = \eta\, c\, (d + d_0)

    Each step, in this order: the STDP change of the step (pair rule, see
    :mod:`~spikeforge.plasticity.stdp`) is added to the decayed tag,
    :math:`c \leftarrow c\, e^{-\Delta t/\tau_c} + \Delta w_{STDP}`; the dopamine decays and
    receives this step's release (the ``modulator``), :math:`d \leftarrow d\, e^{-\Delta t/\tau_d}
    + \mathrm{DA}`; then :math:`\Delta w = \eta\, c\, (d + d_0)\, \Delta t`. A tag made by a
    pre-post pairing lasts about :math:`\tau_c`, so a reward that arrives a second later still
    credits the synapse that caused it.

    Args:
        tau_plus, tau_minus, a_plus, a_minus, pairing: the STDP that sets the tags (Izhikevich:
            20 ms, 20 ms, 1.0, 1.5).
        tau_c: tag time constant in ms (1 s).
        tau_d: dopamine time constant in ms (200 ms).
        lr: :math:`\eta`, weight units per (tag x dopamine x ms).
        d_baseline: tonic dopamine :math:`d_0` added to :math:`d` in the weight change.
        w_min, w_max: weight bounds for :meth:`apply_update` (Izhikevich: 0 and 4 mV).
        bound: ``"hard"``, ``"soft"`` or ``"none"``.
        batch_reduce: ``"mean"``, ``"sum"`` or ``"none"`` over the batch.
        dt: step in ms.

    ``modulator`` in :meth:`step` is the dopamine released this step (a number, or ``[*batch]``
    with ``batch_reduce="none"``); ``None`` releases nothing.

    Example:
        >>> import torch
        >>> from spikeforge.plasticity import RewardModulatedSTDP
        >>> rule = RewardModulatedSTDP(lr=1e-3)
        >>> w = torch.full((1, 1), 1.0)
        >>> _, s = rule.step(torch.ones(1), torch.zeros(1), w)             # pre
        >>> dw, s = rule.step(torch.zeros(1), torch.ones(1), w, s)         # post: tag, no dopamine
        >>> round(s.c.item(), 4), dw.item()
        (0.9512, 0.0)
        >>> dw, s = rule.step(torch.zeros(1), torch.zeros(1), w, s, modulator=0.5)   # reward
        >>> dw.item() > 0
        True
    """

    tau_c: Tensor
    tau_d: Tensor
    lr: Tensor
    d_baseline: Tensor

    def __init__(
        self,
        *,
        tau_plus: float | Tensor = 20.0,
        tau_minus: float | Tensor = 20.0,
        a_plus: float | Tensor = 1.0,
        a_minus: float | Tensor = 1.5,
        pairing: str = "all_to_all",
        tau_c: float | Tensor = 1000.0,
        tau_d: float | Tensor = 200.0,
        lr: float | Tensor = 1e-3,
        d_baseline: float | Tensor = 0.0,
        w_min: float | Tensor = 0.0,
        w_max: float | Tensor = 4.0,
        bound: Bound = "hard",
        batch_reduce: BatchReduce = "mean",
        dt: float = 1.0,
    ) -> None:
        super().__init__()
        check_choice("batch_reduce", batch_reduce, BATCH_REDUCE)
        self.stdp = STDP(
            tau_plus=tau_plus,
            tau_minus=tau_minus,
            a_plus=a_plus,
            a_minus=a_minus,
            w_min=w_min,
            w_max=w_max,
            pairing=pairing,  # type: ignore[arg-type]
            batch_reduce=batch_reduce,
            bound=bound,
            dt=dt,
        )
        self.dt = self.stdp.dt
        self.register_buffer("tau_c", scalar("tau_c", tau_c, check="positive", unit="ms"))
        self.register_buffer("tau_d", scalar("tau_d", tau_d, check="positive", unit="ms"))
        self.register_buffer("lr", scalar("lr", lr))
        self.register_buffer("d_baseline", scalar("d_baseline", d_baseline))
        self.batch_reduce: BatchReduce = batch_reduce

    #: ``step`` takes ``synapses=`` (tags per synapse, ``[n_syn]``); not event-driven: the tags
    #: and the dopamine change every weight they cover at every step
    takes_synapses = True

    def init_state(
        self,
        batch_shape: tuple[int, ...],
        n_pre: int,
        n_post: int,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        n_synapses: int | None = None,
    ) -> RewardModulatedSTDPState:
        """Zero traces, tags and dopamine; ``n_synapses``: tags per synapse (for ``synapses=``)
        instead of ``[n_post, n_pre]``."""
        lead = tuple(batch_shape) if self.batch_reduce == "none" else ()
        layout = (n_post, n_pre) if n_synapses is None else (n_synapses,)
        return RewardModulatedSTDPState(
            self.stdp.init_state(batch_shape, n_pre, n_post, dtype=dtype, device=device),
            torch.zeros(lead + layout, dtype=dtype, device=device),
            torch.zeros(lead, dtype=dtype, device=device),
        )

    def step(
        self,
        pre: Tensor,
        post: Tensor,
        w: Tensor,
        state: RewardModulatedSTDPState | None = None,
        *,
        modulator: Tensor | float | None = None,
        synapses: Synapses | None = None,
    ) -> tuple[Tensor, RewardModulatedSTDPState]:
        """One step; ``modulator`` is this step's dopamine release. Returns ``(dw, state)``. With
        ``synapses`` (:class:`~spikeforge.plasticity.Synapses`) ``w``, the tags and ``dw`` are per
        synapse."""
        batch = check_pre_post(pre, post, w, self.batch_reduce, synapses)
        n_post, n_pre = post.shape[-1], pre.shape[-1]
        n_syn = None if synapses is None else synapses.post.numel()
        layout = (n_post, n_pre) if n_syn is None else (n_syn,)
        if state is None:
            state = self.init_state(
                batch, n_pre, n_post, dtype=pre.dtype, device=pre.device, n_synapses=n_syn
            )
        else:
            lead = batch if self.batch_reduce == "none" else ()
            check_state(state, {"c": lead + layout, "d": lead})
        dw_stdp, stdp_state = self.stdp.step(pre, post, w, state.stdp, synapses=synapses)
        with torch.no_grad():
            c = state.c * decay(self.tau_c, self.dt, state.c) + dw_stdp
            d = state.d * decay(self.tau_d, self.dt, state.d)
            if modulator is not None:
                release = torch.as_tensor(modulator, dtype=d.dtype, device=d.device)
                try:
                    d = d + release.expand(d.shape) if release.dim() else d + release
                except RuntimeError:
                    raise ShapeError(
                        f"modulator (dopamine release) must be a number or broadcast to "
                        f"{list(d.shape)}, got {list(release.shape)}"
                    ) from None
            level = (d + cast(self.d_baseline, d)).reshape(d.shape + (1,) * len(layout))
            dw = (cast(self.lr, c) * self.dt) * c * level
        return dw, RewardModulatedSTDPState(stdp_state, c, d)

    def forward(
        self,
        pre: Tensor,
        post: Tensor,
        w: Tensor,
        state: RewardModulatedSTDPState | None = None,
        *,
        modulator: Tensor | float | None = None,
        synapses: Synapses | None = None,
    ) -> tuple[Tensor, RewardModulatedSTDPState]:
        """Same as :meth:`step`."""
        return self.step(pre, post, w, state, modulator=modulator, synapses=synapses)

    def apply_update(self, w: Tensor, dw: Tensor) -> Tensor:
        """``w + dw`` within ``[w_min, w_max]``."""
        return self.stdp.apply_update(w, dw)
