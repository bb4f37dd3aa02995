r"""Pair-based spike-timing-dependent plasticity with traces (Song, Miller & Abbott 2000;
Gütig et al. 2003 for the weight dependence).

The pair window, with :math:`\Delta t = t_{post} - t_{pre}`:

.. math::

    \Delta w = \begin{cases}
        A_+ \, f_+(w)\, e^{-\Delta t/\tau_+} & \Delta t > 0 \\
        -A_- \, f_-(w)\, e^{\Delta t/\tau_-} & \Delta t < 0
    \end{cases}
    \qquad f_+(w) = (w_{max} - w)^{\mu_+}, \quad f_-(w) = (w - w_{min})^{\mu_-}

It is computed online from a presynaptic trace :math:`x` and a postsynaptic trace :math:`y`,

.. math::

    \frac{dx_j}{dt} = -\frac{x_j}{\tau_+} + \sum_k \delta(t - t_j^k), \qquad
    \frac{dy_i}{dt} = -\frac{y_i}{\tau_-} + \sum_k \delta(t - t_i^k),

integrated exactly, :math:`x \leftarrow x\,e^{-\Delta t/\tau_+}`. One step of
:func:`stdp_step`, in this order:

1. decay the traces: :math:`x \leftarrow x e^{-\Delta t/\tau_+}`, :math:`y \leftarrow y e^{-\Delta t/\tau_-}`;
2. depress at presynaptic spikes: :math:`\Delta w_{ij} \mathrel{-}= A_- f_-(w_{ij})\, y_i\, s^{pre}_j`;
3. potentiate at postsynaptic spikes: :math:`\Delta w_{ij} \mathrel{+}= A_+ f_+(w_{ij})\, s^{post}_i\, x_j`;
4. increment the traces: :math:`x \leftarrow x + s^{pre}` (``"all_to_all"``) or
   :math:`x \leftarrow 1` where :math:`s^{pre} = 1` (``"nearest"``: symmetric nearest-spike
   pairing, each spike pairs only with the latest spike of the other side); the same for :math:`y`.

Both updates read the same weight :math:`w` (the one passed in). Because the traces grow only
after the updates, a presynaptic and a postsynaptic spike in the same step do not pair with each
other; each pairs only with earlier spikes (``same_step="skip"``, the default). Simulators differ
here, and at coarse steps it matters: ``same_step="potentiate"`` adds
:math:`A_+ f_+(w)\, s^{post} \otimes s^{pre}` (a same-step pair counts as :math:`\Delta t = 0^+`),
which is what Brian2 does with its default order of pathways (``on_pre`` runs before ``on_post``,
so the post update reads a pre trace that already holds this step's spike); ``"both"`` also
subtracts :math:`A_- f_-(w)\, s^{post} \otimes s^{pre}` (norse, below). With Poisson trains the
extra drift is :math:`r_{pre} r_{post} A_+ \Delta t`: at :math:`\Delta t = 0.5` ms it halves the
net depression of the Song, Miller & Abbott balance (:math:`A_- \tau_- - A_+ \tau_+ = 0.05 A_+
\tau_+` with :math:`\tau = 20` ms), at 0.1 ms it is a tenth of it.

Weight dependence (``weight_dependence`` of :class:`STDP`): ``"additive"`` (:math:`\mu_\pm = 0`,
:math:`f_\pm = 1`), ``"multiplicative"`` (:math:`\mu_\pm = 1`) and ``"soft"`` (Gütig et al. 2003,
any :math:`\mu_\pm \ge 0`, 0.5 by default). Weights are kept in :math:`[w_{min}, w_{max}]` by
:func:`apply_weight_update`.

**Relation to norse.** ``norse.torch.functional.stdp.stdp_step_linear`` integrates the traces
with Euler, :math:`x \leftarrow x + \Delta t\, \tau^{-1} (a z - x)`, and increments them *before*
the update, so a pre and a post spike of the same step pair with each other. With
``tau_pre_inv = (1 - e^{-dt/tau_plus}) / dt``, ``a_pre = 1 / (dt * tau_pre_inv)`` (the same for
the post trace with ``tau_minus``), ``eta_plus = a_plus``, ``eta_minus = a_minus``,
``stdp_algorithm="additive"`` (or ``"multiplicative_pow"`` with ``mu`` for ``"soft"``) and
``batch_reduce="sum"``, its traces equal ours after the increment and its :math:`\Delta w` equals
ours plus :math:`(A_+ f_+ - A_- f_-)\, s^{post} \otimes s^{pre}`, the same-step pairs, that is
ours with ``same_step="both"`` (``tests/plasticity/test_stdp.py`` checks this).

Example:
    >>> import torch
    >>> from spikeforge.plasticity import STDP
    >>> stdp = STDP(tau_plus=20.0, tau_minus=20.0, a_plus=0.01, a_minus=0.0105)
    >>> w = torch.full((1, 1), 0.5)
    >>> pre, post = torch.zeros(30, 1), torch.zeros(30, 1)
    >>> pre[5], post[15] = 1.0, 1.0              # pre leads post by 10 ms
    >>> state = None
    >>> for t in range(30):
    ...     dw, state = stdp.step(pre[t], post[t], w, state)
    ...     w = stdp.apply_update(w, dw)
    >>> round(w.item() - 0.5, 6)                 # 0.01 * exp(-10 / 20)
    0.006065
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from .._checks import check_dt
from ..errors import ParameterError
from ._common import (
    BATCH_REDUCE,
    BOUNDS,
    PAIRINGS,
    BatchReduce,
    Bound,
    Pairing,
    SpikeDelays,
    Synapses,
    cast,
    check_choice,
    check_pre_post,
    check_state,
    decay,
    grad_mode,
    increment_trace,
    modulated,
    outer,
    register_params,
    scalar,
    spike_delay_steps,
)

__all__ = [
    "PlasticityRule",
    "Synapses",
    "SpikeDelays",
    "STDPParams",
    "STDPState",
    "stdp_init_state",
    "stdp_step",
    "weight_dependence",
    "apply_weight_update",
    "STDP",
    "WEIGHT_DEPENDENCE",
    "SAME_STEP",
]

#: how a pre and a post spike of the same step pair (see the module docstring)
SAME_STEP: tuple[str, ...] = ("skip", "potentiate", "both")
SameStep = Literal["skip", "potentiate", "both"]

#: exponents ``(mu_plus, mu_minus)`` of each named weight dependence (None: free, default 0.5)
WEIGHT_DEPENDENCE: dict[str, tuple[float, float] | None] = {
    "additive": (0.0, 0.0),
    "multiplicative": (1.0, 1.0),
    "soft": None,
}


@runtime_checkable
class PlasticityRule(Protocol):
    """What a circuit projection (or a training loop) needs from a learning rule.

    ``step`` returns the weight change and the new rule state and never writes the weight; the
    caller applies ``dw`` (for example with :func:`apply_weight_update`).
    """

    def init_state(self, batch_shape: tuple[int, ...], n_pre: int, n_post: int) -> Any: ...

    def step(
        self, pre: Tensor, post: Tensor, w: Tensor, state: Any, *, modulator: Tensor | None = None
    ) -> tuple[Tensor, Any]: ...


class STDPParams(NamedTuple):
    """Pair-STDP parameters; each a tensor that broadcasts to the weight ``[n_post, n_pre]``."""

    a_plus: Tensor  # weight units per pairing
    a_minus: Tensor  # weight units per pairing (depression magnitude)
    tau_plus: Tensor  # ms, > 0 (presynaptic trace)
    tau_minus: Tensor  # ms, > 0 (postsynaptic trace)
    w_min: Tensor
    w_max: Tensor
    mu_plus: Tensor  # weight-dependence exponents, >= 0
    mu_minus: Tensor


class STDPState(NamedTuple):
    """Traces: ``x_pre`` ``[*batch, n_pre]`` and ``y_post`` ``[*batch, n_post]``."""

    x_pre: Tensor
    y_post: Tensor


def stdp_init_state(
    batch_shape: tuple[int, ...],
    n_pre: int,
    n_post: int,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> STDPState:
    """Zero traces for a batch of shape ``batch_shape``."""
    b = tuple(batch_shape)
    return STDPState(
        torch.zeros(b + (n_pre,), dtype=dtype, device=device),
        torch.zeros(b + (n_post,), dtype=dtype, device=device),
    )


def _is_zero(mu: Tensor) -> bool:
    # a cheap test that needs no device sync: only CPU scalars are inspected
    return mu.numel() == 1 and mu.device.type == "cpu" and float(mu) == 0.0


def weight_dependence(w: Tensor, params: STDPParams) -> tuple[Tensor | None, Tensor | None]:
    r"""The factors :math:`f_+(w) = (w_{max} - w)^{\mu_+}` and :math:`f_-(w) = (w - w_{min})^{\mu_-}`.

    The bases are clipped at 0 (a weight outside the bounds gets no further push outward). A
    factor is ``None`` when its exponent is 0 (additive: :math:`f = 1`).
    """
    f_plus = f_minus = None
    if not _is_zero(params.mu_plus):
        base = (cast(params.w_max, w) - w).clamp(min=0)
        f_plus = torch.pow(base, cast(params.mu_plus, w))
    if not _is_zero(params.mu_minus):
        base = (w - cast(params.w_min, w)).clamp(min=0)
        f_minus = torch.pow(base, cast(params.mu_minus, w))
    return f_plus, f_minus


def stdp_step(
    pre: Tensor,
    post: Tensor,
    w: Tensor,
    state: STDPState,
    params: STDPParams,
    *,
    dt: float,
    pairing: Pairing = "all_to_all",
    batch_reduce: BatchReduce = "mean",
    differentiable: bool = False,
    same_step: SameStep = "skip",
    synapses: Synapses | None = None,
) -> tuple[Tensor, STDPState]:
    r"""One step of pair STDP: returns :math:`\Delta w` and the new traces, never writes ``w``.

    See the module docstring for the equations and the order of operations (decay, depress,
    potentiate, increment).

    Args:
        pre: presynaptic spikes ``[*batch, n_pre]`` (0/1, float).
        post: postsynaptic spikes ``[*batch, n_post]``.
        w: weights ``[n_post, n_pre]`` (or ``[*batch, n_post, n_pre]`` with ``batch_reduce="none"``).
        state: traces before the step.
        params: :class:`STDPParams`.
        dt: step in ms (> 0). Any dt is exact for the traces, so an event-driven caller may pass
            the time since the last step.
        pairing: ``"all_to_all"`` (traces add up) or ``"nearest"`` (traces reset to 1).
        batch_reduce: ``"mean"`` or ``"sum"`` of the per-sample changes over the batch, or
            ``"none"`` to return one change per batch element.
        differentiable: record the computation for autograd (default: run under ``no_grad``).
        same_step: ``"skip"`` (a pre and a post spike of this step do not pair), ``"potentiate"``
            (they pair as :math:`\Delta t = 0^+`, as in Brian2) or ``"both"`` (both ways, as in norse).
        synapses: sparse connectivity (:class:`~spikeforge.plasticity.Synapses`); then ``w`` and
            ``dw`` are per synapse, ``[n_syn]``, equal to the dense ones at the synapses.

    Returns:
        ``(dw, state)``: ``dw`` is ``[n_post, n_pre]`` (``[*batch, n_post, n_pre]`` with
        ``"none"``; ``[n_syn]`` with ``synapses``).

    Example:
        >>> import torch
        >>> from spikeforge.plasticity import STDPParams, stdp_init_state, stdp_step
        >>> p = STDPParams(*(torch.tensor(v) for v in (0.01, 0.012, 20.0, 20.0, 0.0, 1.0, 0.0, 0.0)))
        >>> s = stdp_init_state((), 1, 1)
        >>> w = torch.full((1, 1), 0.5)
        >>> _, s = stdp_step(torch.ones(1), torch.zeros(1), w, s, p, dt=1.0)   # pre at t = 0
        >>> dw, s = stdp_step(torch.zeros(1), torch.ones(1), w, s, p, dt=5.0)  # post 5 ms later
        >>> round(dw.item(), 6)                                                # 0.01 * exp(-5/20)
        0.007788
    """
    with grad_mode(differentiable):
        x = state.x_pre * decay(params.tau_plus, dt, state.x_pre)
        y = state.y_post * decay(params.tau_minus, dt, state.y_post)
        f_plus, f_minus = weight_dependence(w, params)
        a_plus = cast(params.a_plus, w)
        a_minus = cast(params.a_minus, w)
        amp_plus = a_plus if f_plus is None else a_plus * f_plus
        amp_minus = a_minus if f_minus is None else a_minus * f_minus
        dw = amp_plus * outer(post, x, batch_reduce, synapses) - amp_minus * outer(
            y, pre, batch_reduce, synapses
        )
        if same_step != "skip":
            coincident = outer(post, pre, batch_reduce, synapses)
            dw = dw + amp_plus * coincident
            if same_step == "both":
                dw = dw - amp_minus * coincident
        x = increment_trace(x, pre, pairing)
        y = increment_trace(y, post, pairing)
    return dw, STDPState(x, y)


class _Bounded(Protocol):
    @property
    def w_min(self) -> Tensor: ...

    @property
    def w_max(self) -> Tensor: ...


def apply_weight_update(w: Tensor, dw: Tensor, params: _Bounded, *, bound: Bound = "hard") -> Tensor:
    r"""The new weight ``w + dw`` kept in ``[w_min, w_max]``; ``w`` itself is not modified.

    ``"hard"`` clips :math:`w + \Delta w`. ``"soft"`` first scales potentiation by
    :math:`(w_{max} - w)/(w_{max} - w_{min})` and depression by :math:`(w - w_{min})/(w_{max} -
    w_{min})`, so weights approach the bounds smoothly, then clips (which only acts if a single
    change exceeds the whole range). ``"none"`` adds without bounds.

    Args:
        w: weights, any shape.
        dw: change, broadcastable to ``w``.
        params: any parameter tuple with ``w_min`` and ``w_max`` (:class:`STDPParams`,
            :class:`~spikeforge.plasticity.TripletParams`, ...).
        bound: ``"hard"``, ``"soft"`` or ``"none"``.
    """
    check_choice("bound", bound, BOUNDS)
    if bound == "none":
        return w + dw
    w_min = cast(params.w_min, w)
    w_max = cast(params.w_max, w)
    if bound == "soft":
        span = w_max - w_min
        dw = torch.where(dw > 0, dw * (w_max - w) / span, dw * (w - w_min) / span)
    new = w + dw
    if isinstance(w_min, float) and isinstance(w_max, float):
        return new.clamp(w_min, w_max)
    return torch.minimum(torch.maximum(new, torch.as_tensor(w_min).to(new)), torch.as_tensor(w_max).to(new))


class STDP(nn.Module):
    r"""Pair-based STDP with traces, as a :class:`PlasticityRule`.

    .. math::

        \Delta w_{ij} = A_+ f_+(w_{ij})\, s^{post}_i x_j - A_- f_-(w_{ij})\, y_i s^{pre}_j

    (the order of operations and the traces are in :mod:`spikeforge.plasticity.stdp`).

    Args:
        tau_plus: presynaptic trace time constant in ms (> 0): the potentiation window.
        tau_minus: postsynaptic trace time constant in ms (> 0): the depression window.
        a_plus: potentiation per pairing at zero delay (weight units).
        a_minus: depression per pairing at zero delay (weight units; a positive number depresses).
        w_min, w_max: weight bounds, ``w_min < w_max``.
        weight_dependence: ``"additive"`` (:math:`f_\pm = 1`), ``"multiplicative"``
            (:math:`\mu_\pm = 1`) or ``"soft"`` (Gütig et al. 2003, exponents ``mu_plus`` and
            ``mu_minus``, 0.5 by default).
        mu_plus, mu_minus: exponents (>= 0) of the ``"soft"`` weight dependence; only with
            ``"soft"``.
        pairing: ``"all_to_all"`` or ``"nearest"`` (symmetric nearest-spike).
        same_step: ``"skip"`` (default: spikes of the same step do not pair), ``"potentiate"``
            (a same-step pair potentiates, as in Brian2's default pathway order) or ``"both"``.
        batch_reduce: ``"mean"`` (default), ``"sum"`` or ``"none"`` over the batch dimensions.
        bound: how :meth:`apply_update` keeps weights in bounds: ``"hard"``, ``"soft"``, ``"none"``.
        dt: time step in ms.
        differentiable: let gradients flow through :meth:`step` (default: ``no_grad``).
        dendritic_delay: ms (>= 0, default 0): how long after its emission a postsynaptic spike
            reaches the synapse (back-propagation along the dendrite); the rule pairs it that much
            later. NEST's ``stdp_synapse`` takes the whole delay as dendritic:
            ``dendritic_delay = delay``, PyNN's default ``dendritic_delay_fraction = 1``.
        axonal_delay: ms (>= 0, default 0): how long after its emission a presynaptic spike
            reaches the synapse; the rule pairs it that much later. Brian2's ``Synapses(...,
            delay=d)`` runs ``on_pre`` (the pre side of STDP too) ``d`` after the spike:
            ``axonal_delay = d`` (and ``dendritic_delay`` its ``S.post.delay``, 0 by default).

    **Spike delays.** With both delays, a pair's lag is :math:`\Delta t = (t_{post} +
    d_{dendritic}) - (t_{pre} + d_{axonal})`, as at the synapse (NEST, PyNN: the transmission delay
    is :math:`d = d_{axonal} + d_{dendritic}`, ``dendritic_delay_fraction`` :math:`=
    d_{dendritic} / d`). Both are rounded to whole steps (:attr:`spike_delays`; the nearest step, a
    midpoint up, as NEST rounds a delay). :meth:`step` pairs the spikes it is given: the delays
    are applied by the caller that knows when spikes were emitted. A
    :class:`~spikeforge.circuits.Network` does (its PyTorch and compiled CPU engines; the Triton
    engine runs rules without spike delays): it gives the rule each presynaptic spike
    ``spike_delays.pre`` steps and each postsynaptic spike ``spike_delays.post`` steps after the
    step it was emitted in, and transmits each spike with the weight of that step, over the
    projection's own ``delay``, which the rule's delays do not change. The default, 0 and 0,
    pairs both spikes when they are emitted: for a projection delay ``d > 0`` that is neither
    NEST's (``dendritic_delay = d``) nor Brian2's (``axonal_delay = d``) convention. Spikes that
    reach the synapse in the same step pair as ``same_step`` says.

    Parameters are buffers (in ``state_dict``), stored in float64 and cast to the weight's dtype
    at each step.

    Raises:
        ParameterError: non-positive time constants or dt, ``w_min >= w_max``, negative
            exponents, unknown ``weight_dependence``, ``pairing``, ``batch_reduce`` or ``bound``,
            a spike delay that is not a finite number >= 0 ms (or over 32767 steps).

    Example:
        >>> import torch
        >>> from spikeforge.plasticity import STDP
        >>> rule = STDP(weight_dependence="soft", mu_plus=0.5, mu_minus=0.5)
        >>> w = torch.full((3, 4), 0.5)                       # [n_post, n_pre]
        >>> state = rule.init_state((2,), n_pre=4, n_post=3)  # a batch of 2
        >>> pre, post = torch.ones(2, 4), torch.zeros(2, 3)
        >>> dw, state = rule.step(pre, post, w, state)
        >>> dw.shape, state.x_pre[0].tolist()
        (torch.Size([3, 4]), [1.0, 1.0, 1.0, 1.0])

        NEST's convention at dt = 0.1 ms for a connection of delay 1.5 ms (all dendritic):

        >>> STDP(dt=0.1, dendritic_delay=1.5).spike_delays
        SpikeDelays(pre=0, post=15)
    """

    a_plus: Tensor
    a_minus: Tensor
    tau_plus: Tensor
    tau_minus: Tensor
    w_min: Tensor
    w_max: Tensor
    mu_plus: Tensor
    mu_minus: Tensor

    def __init__(
        self,
        *,
        tau_plus: float | Tensor = 20.0,
        tau_minus: float | Tensor = 20.0,
        a_plus: float | Tensor = 0.01,
        a_minus: float | Tensor = 0.0105,
        w_min: float | Tensor = 0.0,
        w_max: float | Tensor = 1.0,
        weight_dependence: str = "additive",
        mu_plus: float | Tensor | None = None,
        mu_minus: float | Tensor | None = None,
        pairing: Pairing = "all_to_all",
        batch_reduce: BatchReduce = "mean",
        bound: Bound = "hard",
        dt: float = 1.0,
        differentiable: bool = False,
        same_step: SameStep = "skip",
        dendritic_delay: float = 0.0,
        axonal_delay: float = 0.0,
    ) -> None:
        super().__init__()
        check_choice("weight_dependence", weight_dependence, tuple(WEIGHT_DEPENDENCE))
        check_choice("pairing", pairing, PAIRINGS)
        check_choice("same_step", same_step, SAME_STEP)
        check_choice("batch_reduce", batch_reduce, BATCH_REDUCE)
        check_choice("bound", bound, BOUNDS)
        self.dt = check_dt(dt)
        #: the steps after its emission at which the rule sees a pre and a post spike
        self.spike_delays = SpikeDelays(
            spike_delay_steps("axonal_delay", axonal_delay, self.dt),
            spike_delay_steps("dendritic_delay", dendritic_delay, self.dt),
        )
        self.dendritic_delay = float(dendritic_delay)  # ms, as given
        self.axonal_delay = float(axonal_delay)
        fixed = WEIGHT_DEPENDENCE[weight_dependence]
        if fixed is not None:
            for name, value in (("mu_plus", mu_plus), ("mu_minus", mu_minus)):
                if value is not None:
                    raise ParameterError(
                        f"{name} is set by weight_dependence={weight_dependence!r}; give {name} only "
                        f"with weight_dependence='soft', got {name}={value!r}"
                    )
            mu_plus, mu_minus = fixed
        else:
            mu_plus = 0.5 if mu_plus is None else mu_plus
            mu_minus = 0.5 if mu_minus is None else mu_minus
        values = {
            "a_plus": scalar("a_plus", a_plus),
            "a_minus": scalar("a_minus", a_minus),
            "tau_plus": scalar("tau_plus", tau_plus, check="positive", unit="ms"),
            "tau_minus": scalar("tau_minus", tau_minus, check="positive", unit="ms"),
            "w_min": scalar("w_min", w_min),
            "w_max": scalar("w_max", w_max),
            "mu_plus": scalar("mu_plus", mu_plus, check="nonnegative"),
            "mu_minus": scalar("mu_minus", mu_minus, check="nonnegative"),
        }
        register_params(self, values)
        self.weight_dependence = weight_dependence
        self.pairing: Pairing = pairing
        self.same_step: SameStep = same_step
        self.batch_reduce: BatchReduce = batch_reduce
        self.bound: Bound = bound
        self.differentiable = bool(differentiable)

    def params(self) -> STDPParams:
        """The parameters as an :class:`STDPParams` of the stored tensors."""
        return STDPParams(
            self.a_plus,
            self.a_minus,
            self.tau_plus,
            self.tau_minus,
            self.w_min,
            self.w_max,
            self.mu_plus,
            self.mu_minus,
        )

    def init_state(
        self,
        batch_shape: tuple[int, ...],
        n_pre: int,
        n_post: int,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        n_synapses: int | None = None,
    ) -> STDPState:
        """Zero traces for a batch of shape ``batch_shape`` (per neuron: ``n_synapses``, given for
        sparse connectivity, changes nothing)."""
        return stdp_init_state(batch_shape, n_pre, n_post, dtype=dtype, device=device)

    #: ``step`` takes ``synapses=`` (sparse connectivity, per-synapse weights)
    takes_synapses = True
    #: no change at a synapse in a step without a pre- or postsynaptic spike (only the traces
    #: move), so a caller may pass only the synapses of the neurons that spiked
    event_driven = True

    def step(
        self,
        pre: Tensor,
        post: Tensor,
        w: Tensor,
        state: STDPState | None = None,
        *,
        modulator: Tensor | float | None = None,
        synapses: Synapses | None = None,
    ) -> tuple[Tensor, STDPState]:
        """One step: returns ``(dw, state)``; ``state=None`` starts with zero traces.

        A ``modulator`` (a number, ``[*batch]`` or ``[*batch, n_post]``) multiplies the change
        (gated STDP); without one the change is plain STDP. For a modulated eligibility trace use
        :class:`~spikeforge.plasticity.EligibilityTrace`. With ``synapses``
        (:class:`~spikeforge.plasticity.Synapses`) ``w`` and ``dw`` are per synapse.
        """
        batch = check_pre_post(pre, post, w, self.batch_reduce, synapses)
        n_post, n_pre = post.shape[-1], pre.shape[-1]
        if state is None:
            state = self.init_state(batch, n_pre, n_post, dtype=pre.dtype, device=pre.device)
        else:
            check_state(state, {"x_pre": batch + (n_pre,), "y_post": batch + (n_post,)})
        st = state

        def run(reduce: str) -> tuple[Tensor, STDPState]:
            return self._step(pre, post, w, st, reduce, synapses)  # type: ignore[arg-type]

        return modulated(run, modulator, batch, self.batch_reduce, n_post, n_pre, synapses)

    def _step(
        self,
        pre: Tensor,
        post: Tensor,
        w: Tensor,
        state: STDPState,
        batch_reduce: BatchReduce,
        synapses: Synapses | None = None,
    ) -> tuple[Tensor, STDPState]:
        return stdp_step(
            pre,
            post,
            w,
            state,
            self.params(),
            dt=self.dt,
            pairing=self.pairing,
            batch_reduce=batch_reduce,
            differentiable=self.differentiable,
            same_step=self.same_step,
            synapses=synapses,
        )

    def forward(
        self,
        pre: Tensor,
        post: Tensor,
        w: Tensor,
        state: STDPState | None = None,
        *,
        modulator: Tensor | float | None = None,
    ) -> tuple[Tensor, STDPState]:
        """Same as :meth:`step`."""
        return self.step(pre, post, w, state, modulator=modulator)

    def apply_update(self, w: Tensor, dw: Tensor) -> Tensor:
        """``w + dw`` within ``[w_min, w_max]`` by this rule's ``bound`` (a new tensor)."""
        return apply_weight_update(w, dw, self.params(), bound=self.bound)

    def extra_repr(self) -> str:
        return (
            f"tau_plus={self.tau_plus.tolist()}, tau_minus={self.tau_minus.tolist()}, "
            f"a_plus={self.a_plus.tolist()}, a_minus={self.a_minus.tolist()}, "
            f"w_min={self.w_min.tolist()}, w_max={self.w_max.tolist()}, "
            f"weight_dependence={self.weight_dependence!r}, pairing={self.pairing!r}, "
            f"same_step={self.same_step!r}, dt={self.dt}"
            + (f", spike_delays={tuple(self.spike_delays)}" if any(self.spike_delays) else "")
        )
