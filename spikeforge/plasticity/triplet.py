r"""Triplet STDP (Pfister & Gerstner 2006, "Triplets of spikes in a model of spike
timing-dependent plasticity", J. Neurosci. 26(38):9673-9682).

Two presynaptic traces :math:`r_1` (:math:`\tau_+`) and :math:`r_2` (:math:`\tau_x`), two
postsynaptic traces :math:`o_1` (:math:`\tau_-`) and :math:`o_2` (:math:`\tau_y`):

.. math::

    \text{pre spike: } & w \leftarrow w - o_1 \left(A_2^- + A_3^- r_2\right) \\
    \text{post spike: } & w \leftarrow w + r_1 \left(A_2^+ + A_3^+ o_2\right)

where :math:`r_2` and :math:`o_2` are read just before their own increment. One step of
:func:`triplet_step`, in this order (the same as :func:`~spikeforge.plasticity.stdp_step`):

1. decay all four traces exactly, :math:`r \leftarrow r\, e^{-\Delta t/\tau}`;
2. depress at presynaptic spikes: :math:`\Delta w_{ij} \mathrel{-}= o_{1,i}\, s^{pre}_j
   (A_2^- + A_3^- r_{2,j})`;
3. potentiate at postsynaptic spikes: :math:`\Delta w_{ij} \mathrel{+}= s^{post}_i\, r_{1,j}
   (A_2^+ + A_3^+ o_{2,i})`;
4. increment the traces (+1 for ``"all_to_all"``; set to 1 for ``"nearest"``, the paper's
   nearest-spike model).

With :math:`A_3^\pm = 0` the rule is the pair rule with :math:`A_+ = A_2^+`, :math:`A_- = A_2^-`,
and :func:`triplet_step` then returns bitwise the :math:`\Delta w` of
:func:`~spikeforge.plasticity.stdp_step` (additive).

**Published parameter sets** (:data:`TRIPLET_PRESETS`, Table 4 of the paper; :math:`\tau_+ =
16.8` ms and :math:`\tau_- = 33.7` ms throughout, from Bi & Poo 1998). "Full" models have all four
amplitudes; "minimal" ones the fewest that fit the data (the unused :math:`\tau_x` is kept at the
full model's value, it has no effect when :math:`A_3^- = 0`).

====================================  =====  =====  =========  =========  =========  =========
preset                                 τx     τy     A2+        A3+        A2-        A3-
====================================  =====  =====  =========  =========  =========  =========
``visual_cortex_all_to_all``           101    125    5e-10      6.2e-3     7e-3       2.3e-4
``visual_cortex_all_to_all_minimal``   101    114    0          6.5e-3     7.1e-3     0
``visual_cortex_nearest``              714    40     8.8e-11    5.3e-2     6.6e-3     3.1e-3
``visual_cortex_nearest_minimal``      714    40     0          5e-2       8e-3       0
``hippocampal`` (all-to-all)           946    27     6.1e-3     6.7e-3     1.6e-3     1.4e-3
``hippocampal_minimal``                946    40     5.3e-3     8e-3       3.5e-3     0
``hippocampal_nearest``                575    47     4.6e-3     9.1e-3     3e-3       7.5e-9
``hippocampal_nearest_minimal``        575    48     4.6e-3     9.1e-3     3e-3       0
====================================  =====  =====  =========  =========  =========  =========

The visual-cortex sets fit Sjöström, Turrigiano & Nelson 2001 (pairing-frequency dependence); the
hippocampal sets fit Wang et al. 2005 (triplets and quadruplets). The ``*_nearest*`` presets use
``pairing="nearest"``. The visual-cortex all-to-all set is also NEST's ``stdp_triplet_synapse``
default. Values transcribed from the paper's Table 4 and cross-checked against independent
re-implementations.

Example:
    >>> import torch
    >>> from spikeforge.plasticity import TripletSTDP
    >>> rule = TripletSTDP.from_preset("visual_cortex_all_to_all", dt=1.0)
    >>> rule.tau_x.item(), rule.a3_plus.item()
    (101.0, 0.0062)
    >>> w = torch.full((1, 1), 0.5)
    >>> _, state = rule.step(torch.zeros(1), torch.ones(1), w)         # post at t = 0
    >>> dw, state = rule.step(torch.ones(1), torch.zeros(1), w, state)  # pre 1 ms later: depression
    >>> round(dw.item(), 6)                                             # -7e-3 * exp(-1/33.7)
    -0.006795
"""

from __future__ import annotations

from typing import Any, NamedTuple

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
from .stdp import apply_weight_update

__all__ = [
    "TripletParams",
    "TripletState",
    "triplet_init_state",
    "triplet_step",
    "TripletSTDP",
    "TRIPLET_PRESETS",
]


class TripletParams(NamedTuple):
    """Triplet-STDP parameters; each a tensor broadcastable to the weight ``[n_post, n_pre]``."""

    tau_plus: Tensor  # ms, r1
    tau_minus: Tensor  # ms, o1
    tau_x: Tensor  # ms, r2
    tau_y: Tensor  # ms, o2
    a2_plus: Tensor
    a3_plus: Tensor
    a2_minus: Tensor
    a3_minus: Tensor
    w_min: Tensor
    w_max: Tensor


class TripletState(NamedTuple):
    """Traces: ``r1``, ``r2`` ``[*batch, n_pre]`` and ``o1``, ``o2`` ``[*batch, n_post]``."""

    r1: Tensor
    r2: Tensor
    o1: Tensor
    o2: Tensor


#: Pfister & Gerstner 2006, Table 4 (time constants in ms); see the module docstring.
TRIPLET_PRESETS: dict[str, dict[str, Any]] = {
    "visual_cortex_all_to_all": dict(
        tau_x=101.0, tau_y=125.0, a2_plus=5e-10, a3_plus=6.2e-3, a2_minus=7e-3, a3_minus=2.3e-4
    ),
    "visual_cortex_all_to_all_minimal": dict(
        tau_x=101.0, tau_y=114.0, a2_plus=0.0, a3_plus=6.5e-3, a2_minus=7.1e-3, a3_minus=0.0
    ),
    "visual_cortex_nearest": dict(
        tau_x=714.0,
        tau_y=40.0,
        a2_plus=8.8e-11,
        a3_plus=5.3e-2,
        a2_minus=6.6e-3,
        a3_minus=3.1e-3,
        pairing="nearest",
    ),
    "visual_cortex_nearest_minimal": dict(
        tau_x=714.0, tau_y=40.0, a2_plus=0.0, a3_plus=5e-2, a2_minus=8e-3, a3_minus=0.0, pairing="nearest"
    ),
    "hippocampal": dict(
        tau_x=946.0, tau_y=27.0, a2_plus=6.1e-3, a3_plus=6.7e-3, a2_minus=1.6e-3, a3_minus=1.4e-3
    ),
    "hippocampal_minimal": dict(
        tau_x=946.0, tau_y=40.0, a2_plus=5.3e-3, a3_plus=8e-3, a2_minus=3.5e-3, a3_minus=0.0
    ),
    "hippocampal_nearest": dict(
        tau_x=575.0,
        tau_y=47.0,
        a2_plus=4.6e-3,
        a3_plus=9.1e-3,
        a2_minus=3e-3,
        a3_minus=7.5e-9,
        pairing="nearest",
    ),
    "hippocampal_nearest_minimal": dict(
        tau_x=575.0,
        tau_y=48.0,
        a2_plus=4.6e-3,
        a3_plus=9.1e-3,
        a2_minus=3e-3,
        a3_minus=0.0,
        pairing="nearest",
    ),
}


def triplet_init_state(
    batch_shape: tuple[int, ...],
    n_pre: int,
    n_post: int,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> TripletState:
    """Zero traces for a batch of shape ``batch_shape``."""
    b = tuple(batch_shape)
    pre = torch.zeros(b + (n_pre,), dtype=dtype, device=device)
    post = torch.zeros(b + (n_post,), dtype=dtype, device=device)
    return TripletState(pre, pre.clone(), post, post.clone())


def triplet_step(
    pre: Tensor,
    post: Tensor,
    w: Tensor,
    state: TripletState,
    params: TripletParams,
    *,
    dt: float,
    pairing: Pairing = "all_to_all",
    batch_reduce: BatchReduce = "mean",
    differentiable: bool = False,
    synapses: Synapses | None = None,
) -> tuple[Tensor, TripletState]:
    r"""One step of triplet STDP: returns :math:`\Delta w` and the new traces, never writes ``w``.

    Args:
        pre: presynaptic spikes ``[*batch, n_pre]``.
        post: postsynaptic spikes ``[*batch, n_post]``.
        w: weights ``[n_post, n_pre]`` (only its shape, dtype and device are used: the rule is
            additive; bounds are applied by :func:`~spikeforge.plasticity.apply_weight_update`).
        state: traces before the step.
        params: :class:`TripletParams`.
        dt: step in ms; exact for any dt, so event-driven callers may pass the time since the
            last event.
        pairing: ``"all_to_all"`` or ``"nearest"``.
        batch_reduce: ``"mean"``, ``"sum"`` or ``"none"``.
        differentiable: record for autograd (default ``no_grad``).
        synapses: sparse connectivity (:class:`~spikeforge.plasticity.Synapses`): ``w`` and ``dw``
            per synapse, ``[n_syn]``.

    Returns:
        ``(dw, state)``.

    .. math::

        \Delta w = A_2^+\, s^{post} \otimes r_1 + A_3^+\, (s^{post} o_2) \otimes r_1
                 - A_2^-\, o_1 \otimes s^{pre} - A_3^-\, o_1 \otimes (s^{pre} r_2)
    """
    with grad_mode(differentiable):
        r1 = state.r1 * decay(params.tau_plus, dt, state.r1)
        r2 = state.r2 * decay(params.tau_x, dt, state.r2)
        o1 = state.o1 * decay(params.tau_minus, dt, state.o1)
        o2 = state.o2 * decay(params.tau_y, dt, state.o2)
        pot = cast(params.a2_plus, w) * outer(post, r1, batch_reduce, synapses) + cast(
            params.a3_plus, w
        ) * outer(post * o2, r1, batch_reduce, synapses)
        dep = cast(params.a2_minus, w) * outer(o1, pre, batch_reduce, synapses) + cast(
            params.a3_minus, w
        ) * outer(o1, pre * r2, batch_reduce, synapses)
        dw = pot - dep
        r1, r2 = increment_trace(r1, pre, pairing), increment_trace(r2, pre, pairing)
        o1, o2 = increment_trace(o1, post, pairing), increment_trace(o2, post, pairing)
    return dw, TripletState(r1, r2, o1, o2)


class TripletSTDP(nn.Module):
    r"""Triplet STDP (Pfister & Gerstner 2006) as a :class:`~spikeforge.plasticity.PlasticityRule`.

    The defaults are the visual-cortex all-to-all fit; :meth:`from_preset` gives the other
    published sets (:data:`TRIPLET_PRESETS`).

    .. math::

        \Delta w_{ij} = s^{post}_i\, r_{1,j} (A_2^+ + A_3^+ o_{2,i})
                      - o_{1,i}\, s^{pre}_j (A_2^- + A_3^- r_{2,j})

    Args:
        tau_plus, tau_minus: pair-trace time constants in ms (> 0): :math:`r_1`, :math:`o_1`.
        tau_x, tau_y: triplet-trace time constants in ms (> 0): :math:`r_2`, :math:`o_2`.
        a2_plus, a3_plus, a2_minus, a3_minus: amplitudes (weight units).
        w_min, w_max: weight bounds (``w_min < w_max``), used by :meth:`apply_update`.
        pairing: ``"all_to_all"`` or ``"nearest"``.
        batch_reduce: ``"mean"``, ``"sum"`` or ``"none"``.
        bound: ``"hard"``, ``"soft"`` or ``"none"`` (see :func:`~spikeforge.plasticity.apply_weight_update`).
        dt: time step in ms.
        differentiable: let gradients flow through :meth:`step`.
        dendritic_delay, axonal_delay: ms (>= 0, default 0): how long after its emission a post
            (pre) spike reaches the synapse, as in :class:`~spikeforge.plasticity.STDP` (rounded to
            whole steps, :attr:`spike_delays`; a circuits ``Network`` applies them).

    Raises:
        ParameterError: non-positive time constants or dt, ``w_min >= w_max``, unknown options,
            a spike delay that is not a finite number >= 0 ms.

    Example:
        >>> import torch
        >>> from spikeforge.plasticity import TripletSTDP
        >>> rule = TripletSTDP.from_preset("hippocampal")
        >>> rule.tau_x.item(), rule.tau_y.item(), rule.pairing
        (946.0, 27.0, 'all_to_all')
    """

    tau_plus: Tensor
    tau_minus: Tensor
    tau_x: Tensor
    tau_y: Tensor
    a2_plus: Tensor
    a3_plus: Tensor
    a2_minus: Tensor
    a3_minus: Tensor
    w_min: Tensor
    w_max: Tensor

    def __init__(
        self,
        *,
        tau_plus: float | Tensor = 16.8,
        tau_minus: float | Tensor = 33.7,
        tau_x: float | Tensor = 101.0,
        tau_y: float | Tensor = 125.0,
        a2_plus: float | Tensor = 5e-10,
        a3_plus: float | Tensor = 6.2e-3,
        a2_minus: float | Tensor = 7e-3,
        a3_minus: float | Tensor = 2.3e-4,
        w_min: float | Tensor = 0.0,
        w_max: float | Tensor = 1.0,
        pairing: Pairing = "all_to_all",
        batch_reduce: BatchReduce = "mean",
        bound: Bound = "hard",
        dt: float = 1.0,
        differentiable: bool = False,
        dendritic_delay: float = 0.0,
        axonal_delay: float = 0.0,
    ) -> None:
        super().__init__()
        check_choice("pairing", pairing, PAIRINGS)
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
        values = {
            "tau_plus": scalar("tau_plus", tau_plus, check="positive", unit="ms"),
            "tau_minus": scalar("tau_minus", tau_minus, check="positive", unit="ms"),
            "tau_x": scalar("tau_x", tau_x, check="positive", unit="ms"),
            "tau_y": scalar("tau_y", tau_y, check="positive", unit="ms"),
            "a2_plus": scalar("a2_plus", a2_plus),
            "a3_plus": scalar("a3_plus", a3_plus),
            "a2_minus": scalar("a2_minus", a2_minus),
            "a3_minus": scalar("a3_minus", a3_minus),
            "w_min": scalar("w_min", w_min),
            "w_max": scalar("w_max", w_max),
        }
        register_params(self, values)
        self.pairing: Pairing = pairing
        self.batch_reduce: BatchReduce = batch_reduce
        self.bound: Bound = bound
        self.differentiable = bool(differentiable)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> TripletSTDP:
        """A rule with one of the published parameter sets (:data:`TRIPLET_PRESETS`).

        Args:
            name: the preset, e.g. ``"visual_cortex_all_to_all"``, ``"visual_cortex_nearest"``,
                ``"hippocampal"``.
            overrides: any constructor argument (``dt``, ``w_max``, ...), overriding the preset.
        """
        if name not in TRIPLET_PRESETS:
            raise ParameterError(f"preset must be one of {sorted(TRIPLET_PRESETS)!r}, got {name!r}")
        kwargs = dict(TRIPLET_PRESETS[name])
        kwargs.update(overrides)
        return cls(**kwargs)

    def params(self) -> TripletParams:
        """The parameters as a :class:`TripletParams` of the stored tensors."""
        return TripletParams(
            self.tau_plus,
            self.tau_minus,
            self.tau_x,
            self.tau_y,
            self.a2_plus,
            self.a3_plus,
            self.a2_minus,
            self.a3_minus,
            self.w_min,
            self.w_max,
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
    ) -> TripletState:
        """Zero traces for a batch of shape ``batch_shape`` (per neuron: ``n_synapses``, given for
        sparse connectivity, changes nothing)."""
        return triplet_init_state(batch_shape, n_pre, n_post, dtype=dtype, device=device)

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
        state: TripletState | None = None,
        *,
        modulator: Tensor | float | None = None,
        synapses: Synapses | None = None,
    ) -> tuple[Tensor, TripletState]:
        """One step: returns ``(dw, state)``; a ``modulator`` multiplies the change (as
        :meth:`STDP.step <spikeforge.plasticity.STDP.step>`); with ``synapses`` ``w`` and ``dw``
        are per synapse."""
        batch = check_pre_post(pre, post, w, self.batch_reduce, synapses)
        n_post, n_pre = post.shape[-1], pre.shape[-1]
        if state is None:
            state = self.init_state(batch, n_pre, n_post, dtype=pre.dtype, device=pre.device)
        else:
            pre_shape, post_shape = batch + (n_pre,), batch + (n_post,)
            check_state(state, {"r1": pre_shape, "r2": pre_shape, "o1": post_shape, "o2": post_shape})
        st = state

        def run(reduce: str) -> tuple[Tensor, TripletState]:
            return triplet_step(
                pre,
                post,
                w,
                st,
                self.params(),
                dt=self.dt,
                pairing=self.pairing,
                batch_reduce=reduce,  # type: ignore[arg-type]
                differentiable=self.differentiable,
                synapses=synapses,
            )

        return modulated(run, modulator, batch, self.batch_reduce, n_post, n_pre, synapses)

    def forward(
        self,
        pre: Tensor,
        post: Tensor,
        w: Tensor,
        state: TripletState | None = None,
        *,
        modulator: Tensor | float | None = None,
    ) -> tuple[Tensor, TripletState]:
        """Same as :meth:`step`."""
        return self.step(pre, post, w, state, modulator=modulator)

    def apply_update(self, w: Tensor, dw: Tensor) -> Tensor:
        """``w + dw`` within ``[w_min, w_max]`` by this rule's ``bound``."""
        return apply_weight_update(w, dw, self.params(), bound=self.bound)

    def extra_repr(self) -> str:
        return (
            f"tau_plus={self.tau_plus.tolist()}, tau_minus={self.tau_minus.tolist()}, "
            f"tau_x={self.tau_x.tolist()}, tau_y={self.tau_y.tolist()}, pairing={self.pairing!r}, "
            f"dt={self.dt}" + (f", spike_delays={tuple(self.spike_delays)}" if any(self.spike_delays) else "")
        )
