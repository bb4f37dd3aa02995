r"""Adaptive leaky integrate-and-fire neurons (ALIF, the LSNN neuron of Bellec et al. 2018).

The LIF of :mod:`spikeforge.neurons.lif` whose threshold rises by :math:`\beta` at each spike and
relaxes back to :math:`v_{th}` with the time constant :math:`\tau_{adapt}`:

.. math::

    \tau_{mem} \frac{dv}{dt} = (v_{leak} - v) + r\,i, \qquad
    \tau_{adapt} \frac{da}{dt} = -a + \tau_{adapt} \sum_k \delta(t - t_k), \qquad
    A = v_{th} + \beta\,a

and a spike when :math:`v > A`. The adaptation :math:`a` is dimensionless (a decaying count of
spikes, +1 per spike), so :math:`\beta` is in units of v per spike; times are in ms.

Order of operations within one step :math:`t` of length :math:`\Delta t` (:func:`alif_step`):

1. synaptic current, membrane and refractory hold, exactly as in
   :func:`~spikeforge.neurons.lif.lif_step` (its steps 1-3);
2. spike against the threshold made of the adaptation from *before* this step,
   :math:`z_t = H(v - A_t)` with :math:`A_t = v_{th} + \beta\,a_{t-1}`;
3. reset: ``"to_value"`` sets :math:`v \leftarrow v_{reset}`; ``"subtract"`` lowers v by
   :math:`A_t - v_{reset}`, from the threshold that was crossed down to reset, so the overshoot
   :math:`v - A_t` is kept as for LIF; the refractory count starts;
4. adaptation with this step's spike: :math:`a_t = \rho\,a_{t-1} + z_t`, with
   :math:`\rho = e^{-\Delta t/\tau_{adapt}}` (``"exact"``) or :math:`1 - \Delta t/\tau_{adapt}`
   (``"euler"``), the discretisation LIF uses for its synaptic decay.

Steps 1-3 *are* :func:`~spikeforge.neurons.lif.lif_step` with ``v_th`` replaced by :math:`A_t`,
so ``beta=0`` gives LIF bitwise. This is Bellec's order: the LSNN and e-prop codes update
:math:`a` at the start of step :math:`t+1` from :math:`z_t` and then test the spike, which is the
same threshold sequence as updating it at the end of step :math:`t`. Two conventions differ from
the published codes. (i) LSNN (2018) adds :math:`(1 - \rho)\,z`; we add :math:`z` as the e-prop
paper (2020) does, so LSNN's :math:`\beta` maps to :math:`\beta (1 - \rho)` here. (ii) LSNN's reset
subtracts its adaptive threshold (one raised by the new spike), e-prop's only :math:`v_{th}`; we
subtract the crossed :math:`A_t - v_{reset}` (the LIF rule with :math:`v_{th} \to A_t`).
Gradients flow through :math:`a` (BPTT through the threshold); ``detach_reset`` concerns v only.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, NamedTuple

import torch
from torch import Tensor

from .._checks import ParamLike, as_param, check_nonnegative
from ..errors import ParameterError, ShapeError
from ..surrogate import Surrogate
from .base import ScanResult
from .lif import (
    DEFAULT_SURROGATE,
    Integrator,
    LIFParams,
    LIFState,
    Reset,
    SpikeFn,
    _LIFModule,
    _ref_trace,
    _reset,
    _ScanConfig,
    _short,
    lif_coefficients,
    lif_init_state,
    lif_step,
    refractory_steps,
)

__all__ = ["ALIF", "ALIFParams", "ALIFState", "alif_init_state", "alif_step", "alif_scan", "adaptation_decay"]


class ALIFParams(NamedTuple):
    """ALIF parameters: the fields of :class:`~spikeforge.neurons.lif.LIFParams`, then two more."""

    tau_mem: Tensor  # ms, > 0
    tau_syn: Tensor | None  # ms, > 0; None: no synaptic current state
    v_leak: Tensor
    v_th: Tensor  # threshold without adaptation, > v_reset
    v_reset: Tensor
    r: Tensor
    t_ref: Tensor  # ms, >= 0
    tau_adapt: Tensor  # ms, > 0
    beta: Tensor  # threshold increase per unit of a (units of v), >= 0


class ALIFState(NamedTuple):
    """ALIF state, each ``[*batch, *shape]``: LIF's fields, then the adaptation ``a``."""

    v: Tensor  # membrane after reset
    i: Tensor  # synaptic current (the last input when tau_syn is None)
    ref: Tensor  # refractory steps left, int32
    a: Tensor  # adaptation after this step's spike; the next threshold is v_th + beta * a


def _lif_params(p: ALIFParams, v_th: Tensor) -> LIFParams:
    return LIFParams(p.tau_mem, p.tau_syn, p.v_leak, v_th, p.v_reset, p.r, p.t_ref)


def adaptation_decay(tau_adapt: Tensor, dt: float, integrator: Integrator) -> Tensor:
    """Per-step decay ``rho`` of the adaptation (as LIF's synaptic ``alpha`` with tau_adapt)."""
    return torch.exp(-dt / tau_adapt) if integrator == "exact" else 1.0 - dt / tau_adapt


def alif_init_state(
    batch_shape: tuple[int, ...],
    params: ALIFParams,
    shape: tuple[int, ...],
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> ALIFState:
    """The resting state: ``v = v_leak``, ``i = 0``, not refractory, ``a = 0`` (threshold v_th)."""
    s = lif_init_state(batch_shape, _lif_params(params, params.v_th), shape, dtype=dtype, device=device)
    return ALIFState(s.v, s.i, s.ref, torch.zeros_like(s.i))


def _step(
    x: Tensor, state: ALIFState, params: ALIFParams, rho: Tensor, **lif_kw: Any
) -> tuple[Tensor, ALIFState]:
    threshold = params.v_th + params.beta * state.a  # A_t, from the adaptation before this step
    z, s = lif_step(x, LIFState(state.v, state.i, state.ref), _lif_params(params, threshold), **lif_kw)
    return z, ALIFState(s.v, s.i, s.ref, torch.addcmul(z, rho, state.a))


def alif_step(
    x: Tensor,
    state: ALIFState,
    params: ALIFParams,
    *,
    dt: float,
    spike_fn: SpikeFn = DEFAULT_SURROGATE,
    reset: Reset = "to_value",
    integrator: Integrator = "exact",
    detach_reset: bool = True,
) -> tuple[Tensor, ALIFState]:
    """One ALIF step (see the module docstring for the equations and the order).

    Args:
        x: input ``[*batch, *shape]``, added to ``i`` (or taken as ``i`` without ``tau_syn``).
        state: the state before the step.
        params: parameters, tensors broadcastable to ``[*shape]``.
        dt: step in ms.
        spike_fn: spike nonlinearity with its surrogate gradient.
        reset: ``"to_value"`` or ``"subtract"`` (subtracts ``v_th + beta*a - v_reset``).
        integrator: ``"exact"`` or ``"euler"``, for v, i and a alike.
        detach_reset: if True the reset of v carries no gradient; the adaptation always does.

    Returns:
        ``(z, new_state)`` with spikes ``z`` in x's dtype.
    """
    rho = adaptation_decay(params.tau_adapt, dt, integrator)
    kw = dict(dt=dt, spike_fn=spike_fn, reset=reset, integrator=integrator, detach_reset=detach_reset)
    return _step(x, state, params, rho, **kw)


def alif_scan(
    x: Tensor,
    state: ALIFState,
    params: ALIFParams,
    *,
    dt: float,
    spike_fn: SpikeFn = DEFAULT_SURROGATE,
    reset: Reset = "to_value",
    integrator: Integrator = "exact",
    detach_reset: bool = True,
    record: bool = False,
    _interpret: bool = False,
) -> ScanResult:
    """:func:`alif_step` over ``x`` of shape ``[T, *batch, *shape]`` (a plain loop, same results).

    On a CUDA tensor with Triton installed and a :class:`~spikeforge.surrogate.Surrogate` of
    :mod:`spikeforge.surrogate`, the sequence runs as one Triton kernel forward and one backward
    (:mod:`spikeforge.neurons._triton_alif`) with the loop's results; ``_interpret=True`` runs
    those kernels on CPU tensors through Triton's interpreter (for tests only).

    Returns:
        ``ScanResult(output, state, trace)``; with ``record=True`` the trace is an
        :class:`ALIFState` whose fields are ``[T, *batch, *shape]``.

    Raises:
        ShapeError: ``x`` has no time step.
    """
    if x.dim() == 0 or x.shape[0] == 0:
        raise ShapeError(f"x must have at least one time step, got shape {list(x.shape)}")
    rho = adaptation_decay(params.tau_adapt, dt, integrator)  # once per run, not per step
    kw = dict(dt=dt, spike_fn=spike_fn, reset=reset, integrator=integrator, detach_reset=detach_reset)
    if isinstance(spike_fn, Surrogate) and (x.is_cuda or _interpret):
        from ._triton_alif import alif_scan_function

        fused = alif_scan_function(x, spike_fn, interpret=_interpret and not x.is_cuda)
        if fused is not None:
            return _fused_scan(
                fused, x, state, params, rho, record, dt, spike_fn, reset, integrator, detach_reset
            )
    outs, states = [], []
    for t in range(x.shape[0]):
        z, state = _step(x[t], state, params, rho, **kw)
        outs.append(z)
        if record:
            states.append(state)
    trace = ALIFState(*(torch.stack(f) for f in zip(*states))) if record else None
    return ScanResult(torch.stack(outs), state, trace)


def _fused_scan(
    fused: Any,
    x: Tensor,
    state: ALIFState,
    params: ALIFParams,
    rho: Tensor,
    record: bool,
    dt: float,
    spike_fn: Surrogate,
    reset: Reset,
    integrator: Integrator,
    detach_reset: bool,
) -> ScanResult:
    """The scan by the autograd function ``fused`` (:class:`._triton_alif.TritonALIFScan`); the
    states after reset are rebuilt here from its outputs with the step's own operations."""
    k, alpha = lif_coefficients(_lif_params(params, params.v_th), dt, integrator)
    n_ref = refractory_steps(params.t_ref, dt).to(x.device)
    cfg = _ScanConfig(spike_fn, reset, detach_reset, alpha is not None, bool((n_ref > 0).any()))
    z, v_pre, i_seq, a_seq, ref = fused.apply(
        x,
        state.v,
        state.i,
        state.a,
        k,
        alpha,
        params.v_leak,
        params.r,
        params.v_th,
        params.v_reset,
        rho,
        params.beta,
        state.ref,
        n_ref,
        cfg,
    )
    i_seq = i_seq if alpha is not None else x
    if not record:
        a_before = a_seq[-2] if x.shape[0] > 1 else state.a
        threshold = params.v_th + params.beta * a_before
        v_last = _reset(v_pre[-1], z[-1], threshold, params.v_reset, reset, detach_reset)
        return ScanResult(z, ALIFState(v_last, i_seq[-1], ref, a_seq[-1]), None)
    threshold = params.v_th + params.beta * torch.cat([state.a.expand_as(a_seq[:1]), a_seq[:-1]])
    v_post = _reset(v_pre, z, threshold, params.v_reset, reset, detach_reset)
    if cfg.refractory:
        ref_trace = _ref_trace(z.detach(), state.ref, n_ref)
    else:
        ref_trace = state.ref.to(torch.int32).expand(v_pre.shape).clone()
    trace = ALIFState(v_post, i_seq, ref_trace, a_seq)
    return ScanResult(z, ALIFState(v_post[-1], i_seq[-1], ref, a_seq[-1]), trace)


class ALIF(_LIFModule):
    r"""A population of adaptive LIF neurons (threshold adaptation, as in LSNN / e-prop).

    .. math::

        \tau_{mem} \frac{dv}{dt} = (v_{leak} - v) + r\,i, \qquad
        \tau_{adapt} \frac{da}{dt} = -a, \quad a \leftarrow a + 1 \text{ at a spike}, \qquad
        z = H(v - v_{th} - \beta\,a)

    See :mod:`spikeforge.neurons.alif` for the discrete step and its order of operations. On a
    CUDA tensor with Triton installed, ``forward``/``scan`` run one fused kernel per direction
    (:func:`alif_scan`).

    Args:
        n: number of neurons, or a shape such as ``(C, H, W)``.
        tau_mem, tau_syn, v_th, v_reset, v_leak, r, t_ref, dt, reset, integrator, surrogate,
            detach_reset: as for :class:`~spikeforge.neurons.lif.LIF` (times in ms).
        tau_adapt: adaptation time constant in ms (> 0; LSNN used 200 ms to 2 s).
        beta: threshold increase per spike, in units of v (>= 0; default 0.1); ``beta=0`` is a LIF.
            (LSNN's beta of 1.8 corresponds to ``1.8 * (1 - exp(-dt/tau_adapt))`` here.)
        learnable: parameters to learn, LIF's (``tau_mem``, ``tau_syn``, ``v_th``, ``v_leak``,
            ``v_reset``, ``r``) and ``tau_adapt``, ``beta``; both stay > 0 through softplus
            (so a learnable ``beta`` must start > 0).

    Shape:
        input ``[T, *batch, n]`` (``forward``/``scan``) or ``[*batch, n]`` (``step``); output
        the same, spikes 0/1 in the input's dtype.

    Raises:
        ParameterError: any of LIF's, and ``tau_adapt <= 0``, ``beta < 0``, a learnable ``beta``
            of 0, Euler with ``dt >= 2 * tau_adapt``.
        ShapeError: input whose last dimension is not ``n`` (at call time).

    Example:
        >>> import torch
        >>> from spikeforge.neurons.alif import ALIF
        >>> alif = ALIF(2, tau_mem=10.0, tau_adapt=100.0, beta=torch.tensor([0.0, 0.1]))
        >>> spikes, state = alif(torch.full((200, 2), 1.5))  # [T, n]: 200 ms of constant current
        >>> spikes.sum(0).tolist()  # beta = 0 is a LIF; the adapting neuron fires less
        [18.0, 10.0]
    """

    _learnable_allowed = ("tau_mem", "tau_syn", "v_th", "v_leak", "v_reset", "r", "tau_adapt", "beta")
    _init_fn = staticmethod(alif_init_state)
    _step_fn = staticmethod(alif_step)
    _scan_fn = staticmethod(alif_scan)

    def __init__(
        self,
        n: int | tuple[int, ...],
        *,
        tau_mem: ParamLike = 20.0,
        tau_syn: ParamLike | None = None,
        tau_adapt: ParamLike = 200.0,
        beta: ParamLike = 0.1,
        v_th: ParamLike = 1.0,
        v_reset: ParamLike = 0.0,
        v_leak: ParamLike = 0.0,
        r: ParamLike = 1.0,
        t_ref: ParamLike = 0.0,
        dt: float = 1.0,
        reset: Reset = "to_value",
        integrator: Integrator = "exact",
        surrogate: Surrogate | SpikeFn | None = None,
        learnable: Collection[str] = (),
        detach_reset: bool = True,
    ) -> None:
        super().__init__(n, dt=dt, learnable=learnable)
        self._setup_lif(
            tau_mem=tau_mem,
            tau_syn=tau_syn,
            v_th=v_th,
            v_reset=v_reset,
            v_leak=v_leak,
            r=r,
            t_ref=t_ref,
            reset=reset,
            integrator=integrator,
            surrogate=surrogate,
            detach_reset=detach_reset,
        )
        tau_adapt_t, beta_t = as_param("tau_adapt", tau_adapt, self.shape), as_param("beta", beta, self.shape)
        self._check_time_constant("tau_adapt", tau_adapt_t)
        check_nonnegative("beta", beta_t, "(units of v per spike)")
        if "beta" in self.learnable and not bool((beta_t > 0).all()):
            raise ParameterError(
                f"beta must be > 0 when learnable (it is stored through softplus), got {beta!r}"
            )
        self._add_param("tau_adapt", tau_adapt_t, "positive")
        self._add_param("beta", beta_t, "positive")

    def params(self, dtype: torch.dtype | None = None) -> ALIFParams:
        """The constrained parameter values (differentiable for learnable ones)."""
        lif = self._lif_params(dtype)
        return ALIFParams(*lif[:7], tau_adapt=self._get("tau_adapt", dtype), beta=self._get("beta", dtype))

    def extra_repr(self) -> str:
        syn = f", tau_syn={_short(self.tau_syn)}" if self.has_syn else ""
        return (
            f"{super().extra_repr()}, tau_mem={_short(self.tau_mem)}{syn}, "
            f"tau_adapt={_short(self.tau_adapt)}, beta={_short(self.beta)}, v_th={_short(self.v_th)}, "
            f"reset={self.reset!r}, integrator={self.integrator!r}"
        )
