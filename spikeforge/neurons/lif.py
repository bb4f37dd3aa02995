r"""Current-based leaky integrate-and-fire neurons (NIR ``LIF`` and ``CubaLIF``).

.. math::

    \tau_{syn} \frac{di}{dt} = -i \quad (+\,x \text{ added to } i \text{ each step}), \qquad
    \tau_{mem} \frac{dv}{dt} = (v_{leak} - v) + r\,i

With ``tau_syn=None`` there is no synaptic state and the step's input is the current itself,
:math:`i = x`. A spike is emitted when :math:`v > v_{th}`; the membrane is then reset to
``v_reset`` (``reset="to_value"``) or lowered by :math:`v_{th} - v_{reset}` (``"subtract"``), and
held for ``t_ref`` ms (rounded to whole steps).

Order of operations within one step of length :math:`\Delta t` (:func:`lif_step`):

1. synaptic current: :math:`i \leftarrow \alpha\,i + x` with :math:`\alpha = e^{-\Delta t/\tau_{syn}}`
   (``"exact"``) or :math:`1 - \Delta t/\tau_{syn}` (``"euler"``); :math:`i \leftarrow x` without
   ``tau_syn``;
2. membrane, holding :math:`i` fixed over the step:
   :math:`v \leftarrow v + k\,(v_{leak} + r\,i - v)` with :math:`k = 1 - e^{-\Delta t/\tau_{mem}}`
   (exact) or :math:`k = \Delta t/\tau_{mem}` (Euler);
3. refractory neurons keep their membrane (no integration) and cannot spike;
4. spike :math:`z = H(v - v_{th})` (surrogate gradient in the backward pass);
5. reset where :math:`z = 1`, and the refractory count starts at ``round(t_ref/dt)`` steps.

So a spike caused by the input of step t is in the output of step t. :func:`lif_scan` runs the
same steps over a whole sequence with a fused kernel and a hand-written backward pass that saves
only the membrane before reset and the spikes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor

from .._checks import (
    ParamLike,
    as_param,
    check_choice,
    check_nonnegative,
    check_positive,
    check_refractory,
)
from ..errors import ParameterError
from ..surrogate import FastSigmoid, Surrogate
from ._reduce import _reduce_to
from .base import NeuronModule, ScanResult

__all__ = [
    "LIF",
    "LIFParams",
    "LIFState",
    "lif_init_state",
    "lif_step",
    "lif_scan",
    "lif_coefficients",
    "refractory_steps",
]

Reset = Literal["to_value", "subtract"]
Integrator = Literal["exact", "euler"]
SpikeFn = Callable[[Tensor], Tensor]
DEFAULT_SURROGATE = FastSigmoid(25.0)


class LIFParams(NamedTuple):
    """LIF parameters; each a tensor broadcastable to the population shape."""

    tau_mem: Tensor  # ms, > 0
    tau_syn: Tensor | None  # ms, > 0; None: no synaptic current state
    v_leak: Tensor  # mV (or dimensionless)
    v_th: Tensor  # threshold, > v_reset
    v_reset: Tensor
    r: Tensor  # input resistance / gain (NIR ``r``)
    t_ref: Tensor  # ms, >= 0


class LIFState(NamedTuple):
    """LIF state, each ``[*batch, *shape]``."""

    v: Tensor  # membrane after reset
    i: Tensor  # synaptic current (the last input when tau_syn is None)
    ref: Tensor  # refractory steps left, int32


def lif_init_state(
    batch_shape: tuple[int, ...],
    params: LIFParams,
    shape: tuple[int, ...],
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> LIFState:
    """The resting state: ``v = v_leak``, ``i = 0``, not refractory."""
    full = tuple(batch_shape) + tuple(shape)
    dtype = dtype or params.v_leak.dtype
    v = params.v_leak.detach().to(dtype=dtype, device=device).expand(full).clone()
    zeros = torch.zeros(full, dtype=dtype, device=device)
    return LIFState(v, zeros, torch.zeros(full, dtype=torch.int32, device=device))


def lif_coefficients(params: LIFParams, dt: float, integrator: Integrator) -> tuple[Tensor, Tensor | None]:
    """Per-step factors ``(k, alpha)``: membrane update fraction and synaptic decay."""
    if integrator == "exact":
        k = -torch.expm1(-dt / params.tau_mem)
        alpha = None if params.tau_syn is None else torch.exp(-dt / params.tau_syn)
    else:
        k = dt / params.tau_mem
        alpha = None if params.tau_syn is None else 1.0 - dt / params.tau_syn
    return k, alpha


def refractory_steps(t_ref: Tensor, dt: float) -> Tensor:
    """The refractory period ``t_ref`` (ms) as a whole number of steps of ``dt`` ms (int32).

    Rounded to the nearest step, so ``t_ref = 2`` ms at ``dt = 0.1`` ms holds v for 20 steps after
    the spike's own step (Brian2 counts the spike's step in the period: its ``refractory`` is
    ``t_ref + dt`` for the same behaviour).

    Example:
        >>> import torch
        >>> refractory_steps(torch.tensor([0.0, 2.0, 2.04]), 0.1).tolist()
        [0, 20, 20]

    A count beyond the int32 counter saturates at 2147483520 steps instead of wrapping (the
    modules refuse such a ``t_ref`` at construction).
    """
    return torch.round(t_ref / dt).clamp(max=2147483520.0).to(torch.int32)


def has_refractory(n_ref: Tensor) -> bool:
    """Whether a step must apply the refractory hold, decided without waiting for a device.

    On the CPU: whether any count is above 0. Elsewhere (CUDA) always True, because reading the
    answer back would stall the stream once per step; with every count 0 the hold changes nothing
    (``ref`` stays 0, every neuron is active), so both answers give the same results.

    Example:
        >>> import torch
        >>> has_refractory(torch.tensor([0, 0])), has_refractory(torch.tensor([0, 3]))
        (False, True)
    """
    return n_ref.device.type != "cpu" or bool((n_ref > 0).any())


def lif_step(
    x: Tensor,
    state: LIFState,
    params: LIFParams,
    *,
    dt: float,
    spike_fn: SpikeFn = DEFAULT_SURROGATE,
    reset: Reset = "to_value",
    integrator: Integrator = "exact",
    detach_reset: bool = True,
) -> tuple[Tensor, LIFState]:
    """One LIF step (see the module docstring for the equations and the order).

    Args:
        x: input ``[*batch, *shape]``, added to ``i`` (or taken as ``i`` without ``tau_syn``).
        state: the state before the step.
        params: parameters, tensors broadcastable to ``[*shape]``.
        dt: step in ms.
        spike_fn: spike nonlinearity with its surrogate gradient.
        reset: ``"to_value"`` or ``"subtract"``.
        integrator: ``"exact"`` or ``"euler"``.
        detach_reset: if True the reset does not carry gradient (only the spike output does).

    Returns:
        ``(z, new_state)`` with spikes ``z`` in x's dtype.
    """
    k, alpha = lif_coefficients(params, dt, integrator)
    i = x if alpha is None else torch.addcmul(x, alpha, state.i)
    v = torch.lerp(state.v, params.v_leak + params.r * i, k)
    n_ref = refractory_steps(params.t_ref, dt)
    refractory = has_refractory(n_ref)
    if refractory:
        active = state.ref == 0
        v = torch.where(active, v, state.v)
    z = spike_fn(v - params.v_th)
    if refractory:
        z = z * active
    v_new = _reset(v, z, params.v_th, params.v_reset, reset, detach_reset)
    if refractory:
        ref = torch.where(z.detach() > 0, n_ref, (state.ref - 1).clamp(min=0)).to(torch.int32)
    else:
        ref = state.ref
    return z, LIFState(v_new, i, ref)


# ---------------------------------------------------------------------------------------------
# fused scan


@dataclass(frozen=True)
class _ScanConfig:
    surrogate: Surrogate
    reset: str
    detach_reset: bool
    synaptic: bool
    refractory: bool


def _forward_kernel(
    x: Tensor,
    v0: Tensor,
    i0: Tensor,
    ref0: Tensor,
    k: Tensor,
    alpha: Tensor | None,
    v_leak: Tensor,
    r: Tensor,
    v_th: Tensor,
    v_reset: Tensor,
    n_ref: Tensor,
    cfg: _ScanConfig,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None, Tensor]:
    """The step loop without autograd. Returns spikes (bool), v before reset, the synaptic
    current per step, the activity mask (refractory only) and the final refractory count."""
    steps = x.shape[0]
    full = (steps, *v0.shape)
    i_seq = None
    if alpha is not None:
        i_seq = torch.empty(full, dtype=x.dtype, device=x.device)
        i = i0
        for t in range(steps):
            i = torch.addcmul(x[t], alpha, i, out=i_seq[t])
        drive = i_seq
    else:
        drive = x
    v_inf = drive if (r.numel() == 1 and float(r) == 1.0) else r * drive
    if not (v_leak.numel() == 1 and float(v_leak) == 0.0):
        v_inf = v_leak + v_inf
    v_pre = torch.empty(full, dtype=x.dtype, device=x.device)
    spikes = torch.empty(full, dtype=torch.bool, device=x.device)
    act_seq = torch.empty(full, dtype=torch.bool, device=x.device) if cfg.refractory else None
    v, ref = v0, ref0
    gap = v_th - v_reset
    for t in range(steps):
        vt = torch.lerp(v, v_inf[t], k, out=v_pre[t])
        zt = torch.gt(vt, v_th, out=spikes[t])
        if act_seq is not None:
            act = torch.eq(ref, 0, out=act_seq[t])
            torch.where(act, vt, v, out=vt)
            zt.logical_and_(act)
            ref = torch.where(zt, n_ref, (ref - 1).clamp_(min=0))
        if cfg.reset == "to_value":
            v = torch.where(zt, v_reset, vt)
        else:
            v = torch.where(zt, vt - gap, vt)
    return spikes, v_pre, i_seq, act_seq, ref


class _LIFScan(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: Tensor,
        v0: Tensor,
        i0: Tensor,
        k: Tensor,
        alpha: Tensor | None,
        v_leak: Tensor,
        r: Tensor,
        v_th: Tensor,
        v_reset: Tensor,
        ref0: Tensor,
        n_ref: Tensor,
        cfg: _ScanConfig,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        spikes, v_pre, i_seq, act, ref = _forward_kernel(
            x, v0, i0, ref0, k, alpha, v_leak, r, v_th, v_reset, n_ref, cfg
        )
        ctx.cfg = cfg
        ctx.has_alpha = alpha is not None
        ctx.save_for_backward(
            v_pre, spikes, act, x if i_seq is None else i_seq, v0, i0, k, alpha, v_leak, r, v_th, v_reset
        )
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(ref)
        z = spikes.to(x.dtype)
        i_out = i_seq if i_seq is not None else x.new_empty(0)
        return z, v_pre, i_out, ref

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, g_z: Tensor | None, g_v: Tensor | None, g_i: Tensor | None, _g_ref: Any
    ) -> tuple[Tensor | None, ...]:
        v_pre, spikes, act, drive, v0, i0, k, alpha, v_leak, r, v_th, v_reset = ctx.saved_tensors
        cfg: _ScanConfig = ctx.cfg
        need = ctx.needs_input_grad
        dtype = v_pre.dtype
        steps = v_pre.shape[0]
        actf = None if act is None else act.to(dtype)
        sg = cfg.surrogate.grad_(v_pre - v_th)  # d z_t / d v_t
        if actf is not None:
            sg.mul_(actf)
        sg_later = need[7] or not cfg.detach_reset  # sg is needed after the recurrence
        gv_later = any(need[3:9])  # dL/dv_t is needed for parameter gradients
        # acc_t starts as dL/dv_t from the outputs (v_pre directly, z through the surrogate) and
        # becomes the total dL/dv_t through the recurrence gv_t = A_t + D_t m_{t+1} gv_{t+1}, where
        # D_t = dv'_t/dv_t (v' after reset) and m_t = dv_t/dv'_{t-1} (1 - k, or 1 while refractory)
        if g_z is not None:
            acc = g_z * sg if sg_later else sg.mul_(g_z)
            if g_v is not None:
                acc.add_(g_v)
        else:
            acc = torch.zeros_like(v_pre) if g_v is None else g_v.clone()
        dvp_dz: Tensor | None = None
        if cfg.reset == "to_value":
            dvp_dv: Tensor | None = (~spikes).to(dtype)
            if not cfg.detach_reset:
                dvp_dz = v_reset - v_pre
        else:
            dvp_dv = None  # 1
            if not cfg.detach_reset:
                dvp_dz = (v_reset - v_th).expand_as(v_pre)
        d = dvp_dv
        if dvp_dz is not None:
            d = sg * dvp_dz if d is None else d.addcmul_(sg, dvp_dz)
            if dvp_dv is None:
                d.add_(1.0)
        one_minus_k = 1.0 - k
        m = None if actf is None else torch.where(act, one_minus_k, torch.ones_like(v_pre))
        if d is None and m is None:
            decay = one_minus_k.expand_as(v_pre[0])
            for t in range(steps - 2, -1, -1):
                acc[t].addcmul_(decay, acc[t + 1])
        else:
            if m is None and d is not None and not sg_later and dvp_dz is None:
                e = d.mul_(one_minus_k)  # d is a temporary: scale it in place
            else:
                e = (d[:-1] if d is not None else 1.0) * (m[1:] if m is not None else one_minus_k)
            for t in range(steps - 2, -1, -1):
                acc[t].addcmul_(e[t], acc[t + 1])
        gv = acc  # dL/dv_t (before reset)

        grads: dict[str, Tensor | None] = {}
        if need[1]:
            grads["v0"] = (one_minus_k if m is None else m[0]) * gv[0]
        if not ctx.has_alpha and not gv_later:
            if need[0]:  # the common case: only the input needs a gradient; scale gv in place
                grads["x"] = gv.mul_(k * r) if actf is None else gv.mul_(k * r).mul_(actf)
            names = ["x", "v0", "i0", "k", "alpha", "v_leak", "r", "v_th", "v_reset"]
            return (*(grads.get(n) for n in names), None, None, None)
        z = spikes.to(dtype)
        gdrive = gv * k if actf is None else gv * k * actf  # dL/d(v_leak + r*i_t)
        if ctx.has_alpha:
            gi = gdrive * r
            if g_i is not None and g_i.numel():
                gi.add_(g_i)
            a = alpha.expand_as(gi[0])
            for t in range(steps - 2, -1, -1):
                gi[t].addcmul_(a, gi[t + 1])
            grads["x"] = gi if need[0] else None
            if need[2]:
                grads["i0"] = alpha * gi[0]
            if need[4]:
                i_prev = torch.cat([i0.unsqueeze(0), drive[:-1]])
                grads["alpha"] = _reduce_to(gi * i_prev, alpha)
        elif need[0]:
            grads["x"] = gdrive * r
        if need[3]:  # k
            v_prev = torch.cat([v0.unsqueeze(0), _reset(v_pre[:-1], z[:-1], v_th, v_reset, cfg.reset, True)])
            gk = gv * (v_leak + r * drive - v_prev)
            if actf is not None:
                gk.mul_(actf)
            grads["k"] = _reduce_to(gk, k)
        if need[5]:
            grads["v_leak"] = _reduce_to(gdrive, v_leak)
        if need[6]:
            grads["r"] = _reduce_to(gdrive * drive, r)
        if need[7] or need[8]:
            gvp = torch.zeros_like(gv)  # dL/dv'_t (after reset)
            gvp[:-1] = (one_minus_k if m is None else m[1:]) * gv[1:]
            gz_total = torch.zeros_like(gv) if g_z is None else g_z.clone()
            if dvp_dz is not None:
                gz_total.addcmul_(gvp, dvp_dz)
            gvp_z = gvp * z
            if need[7]:
                gth = -(gz_total * sg)
                if cfg.reset == "subtract":
                    gth.sub_(gvp_z)
                grads["v_th"] = _reduce_to(gth, v_th)
            if need[8]:
                grads["v_reset"] = _reduce_to(gvp_z, v_reset)
        names = ["x", "v0", "i0", "k", "alpha", "v_leak", "r", "v_th", "v_reset"]
        return (*(grads.get(n) for n in names), None, None, None)


def _reset(v: Tensor, z: Tensor, v_th: Tensor, v_reset: Tensor, reset: str, detach: bool) -> Tensor:
    """The membrane after reset. ``"to_value"`` gives exactly ``v_reset`` where a spike occurred;
    without ``detach`` the gradient through ``z`` is that of ``v - z * (v - v_reset)``."""
    zd = z.detach()
    if reset == "to_value":
        out = torch.where(zd > 0, v_reset, v)
        return out if detach else out + (z - zd) * (v_reset - v)
    return v - (zd if detach else z) * (v_th - v_reset)


def lif_scan(
    x: Tensor,
    state: LIFState,
    params: LIFParams,
    *,
    dt: float,
    spike_fn: SpikeFn = DEFAULT_SURROGATE,
    reset: Reset = "to_value",
    integrator: Integrator = "exact",
    detach_reset: bool = True,
    record: bool = False,
    _interpret: bool = False,
) -> ScanResult:
    """:func:`lif_step` over a sequence ``x`` of shape ``[T, *batch, *shape]``, fused.

    Gives the same spikes and states as a loop of :func:`lif_step`, and the same gradients when
    ``spike_fn`` is a :class:`~spikeforge.surrogate.Surrogate` (a custom autograd function over
    the whole sequence); any other callable falls back to the step loop. On a CUDA tensor with
    Triton installed and a built-in surrogate, the sequence runs as one Triton kernel forward and
    one backward (:mod:`spikeforge.neurons._triton_lif`); ``_interpret=True`` runs those kernels
    on CPU tensors through Triton's interpreter (for tests only).

    Returns:
        ``ScanResult(output, state, trace)``; with ``record=True`` the trace is an
        :class:`LIFState` whose fields are ``[T, *batch, *shape]`` (``v`` after reset).
    """
    if not isinstance(spike_fn, Surrogate):
        return _loop_scan(
            x,
            state,
            params,
            dt=dt,
            spike_fn=spike_fn,
            reset=reset,
            integrator=integrator,
            detach_reset=detach_reset,
            record=record,
        )
    k, alpha = lif_coefficients(params, dt, integrator)
    n_ref = refractory_steps(params.t_ref, dt).to(x.device)
    cfg = _ScanConfig(spike_fn, reset, detach_reset, alpha is not None, bool((n_ref > 0).any()))
    fused: Any = _LIFScan
    if x.is_cuda or _interpret:
        from ._triton_lif import scan_function

        fused = scan_function(x, spike_fn, _LIFScan, interpret=_interpret and not x.is_cuda)
    z, v_pre, i_seq, ref = fused.apply(
        x,
        state.v,
        state.i,
        k,
        alpha,
        params.v_leak,
        params.r,
        params.v_th,
        params.v_reset,
        state.ref,
        n_ref,
        cfg,
    )
    v_post_last = _reset(v_pre[-1], z[-1], params.v_th, params.v_reset, reset, detach_reset)
    i_last = i_seq[-1] if alpha is not None else x[-1]
    final = LIFState(v_post_last, i_last, ref)
    trace = None
    if record:
        v_post = _reset(v_pre, z, params.v_th, params.v_reset, reset, detach_reset)
        i_trace = i_seq if alpha is not None else x
        ref_trace = (
            _ref_trace(z.detach(), state.ref, n_ref)
            if cfg.refractory
            else torch.zeros(v_pre.shape, dtype=torch.int32, device=x.device)
        )
        trace = LIFState(v_post, i_trace, ref_trace)
    return ScanResult(z, final, trace)


def _ref_trace(z: Tensor, ref0: Tensor, n_ref: Tensor) -> Tensor:
    out = torch.empty(z.shape, dtype=torch.int32, device=z.device)
    ref = ref0
    for t in range(z.shape[0]):
        ref = torch.where(z[t] > 0, n_ref, (ref - 1).clamp(min=0))
        out[t] = ref
    return out


def _loop_scan(x: Tensor, state: LIFState, params: LIFParams, *, record: bool, **kw: Any) -> ScanResult:
    outs, states = [], []
    for t in range(x.shape[0]):
        z, state = lif_step(x[t], state, params, **kw)
        outs.append(z)
        if record:
            states.append(state)
    trace = LIFState(*(torch.stack(f) for f in zip(*states))) if record else None
    return ScanResult(torch.stack(outs), state, trace)


# ---------------------------------------------------------------------------------------------
# module


class _LIFModule(NeuronModule):
    """Module plumbing LIF and ALIF share: LIF's parameters with their checks, state, step and scan.

    Subclasses name their pure functions (``_init_fn``, ``_step_fn``, ``_scan_fn``, all with the
    signatures of :func:`lif_init_state`, :func:`lif_step`, :func:`lif_scan`) and build their
    parameter tuple in :meth:`params`. Not public, and not a LIF: ``isinstance(alif, LIF)`` stays
    False, so code that handles LIF specially (NIR export, the circuit kernel) never takes an ALIF
    for one.
    """

    _init_fn: Callable[..., Any]
    _step_fn: Callable[..., Any]
    _scan_fn: Callable[..., Any]

    def _setup_lif(
        self,
        *,
        tau_mem: ParamLike,
        tau_syn: ParamLike | None,
        v_th: ParamLike,
        v_reset: ParamLike,
        v_leak: ParamLike,
        r: ParamLike,
        t_ref: ParamLike,
        reset: Reset,
        integrator: Integrator,
        surrogate: Surrogate | SpikeFn | None,
        detach_reset: bool,
    ) -> None:
        check_choice("reset", reset, ("to_value", "subtract"))
        check_choice("integrator", integrator, ("exact", "euler"))
        if tau_syn is None and "tau_syn" in self.learnable:
            raise ParameterError("learnable names 'tau_syn' but tau_syn is None (no synaptic state)")
        if surrogate is not None and not callable(surrogate):
            raise ParameterError(f"surrogate must be a spikeforge.surrogate.Surrogate, got {surrogate!r}")
        self.reset = reset
        self.integrator = integrator
        self.surrogate: Surrogate | SpikeFn = surrogate if surrogate is not None else DEFAULT_SURROGATE
        self.detach_reset = bool(detach_reset)

        taus = {"tau_mem": as_param("tau_mem", tau_mem, self.shape)}
        if tau_syn is not None:
            taus["tau_syn"] = as_param("tau_syn", tau_syn, self.shape)
        for name, t in taus.items():
            self._check_time_constant(name, t)
        t_ref_t = as_param("t_ref", t_ref, self.shape)
        check_nonnegative("t_ref", t_ref_t, "ms")
        v_th_t, v_reset_t = as_param("v_th", v_th, self.shape), as_param("v_reset", v_reset, self.shape)
        if not bool((v_reset_t < v_th_t).all()):
            raise ParameterError(f"v_reset must be < v_th, got v_reset={v_reset!r} and v_th={v_th!r}")
        self._add_param("tau_mem", taus["tau_mem"], "positive")
        self.has_syn = tau_syn is not None
        if self.has_syn:
            self._add_param("tau_syn", taus["tau_syn"], "positive")
        self._add_param("v_leak", v_leak)
        self._add_param("v_reset", v_reset_t)
        self._add_param("v_th", v_th_t, ("above", "v_reset"))
        self._add_param("r", r)
        check_refractory(t_ref_t, self.dt)
        self._add_param("t_ref", t_ref_t, "nonnegative")

    def _check_time_constant(self, name: str, tau: Tensor) -> None:
        """``tau`` > 0, and below the Euler integrator's stability limit ``dt < 2 tau``."""
        check_positive(name, tau, "ms")
        if self.integrator == "euler" and not bool((self.dt < 2 * tau).all()):
            raise ParameterError(
                f"dt={self.dt} ms is too large for the Euler integrator: it is unstable unless "
                f"dt < 2*{name} (got {name} min {tau.min().item()} ms); lower dt or use "
                f"integrator='exact'"
            )

    def _get(self, name: str, dtype: torch.dtype | None) -> Tensor:
        t: Tensor = getattr(self, name)
        return t if dtype is None else t.to(dtype)

    def _lif_params(self, dtype: torch.dtype | None) -> LIFParams:
        get = self._get
        return LIFParams(
            get("tau_mem", dtype),
            get("tau_syn", dtype) if self.has_syn else None,
            get("v_leak", dtype),
            get("v_th", dtype),
            get("v_reset", dtype),
            get("r", dtype),
            self.t_ref,
        )

    def params(self, dtype: torch.dtype | None = None) -> Any:
        """The constrained parameter values (differentiable for learnable ones)."""
        raise NotImplementedError

    def init_state(
        self,
        batch_shape: tuple[int, ...] = (),
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> Any:
        """Resting state for a batch of shape ``batch_shape``."""
        device = device if device is not None else self.v_leak.device
        return type(self)._init_fn(batch_shape, self.params(), self.shape, dtype=dtype, device=device)

    def _settings(self) -> dict[str, Any]:
        return dict(
            dt=self.dt,
            spike_fn=self.surrogate,
            reset=self.reset,
            integrator=self.integrator,
            detach_reset=self.detach_reset,
        )

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """One step: ``x`` is ``[*batch, *shape]``; returns ``(spikes, state)``."""
        x = self._check_input(x, sequence=False)
        state = self._prepare(x, state, tuple(x.shape[: x.dim() - len(self.shape)]))
        return type(self)._step_fn(x, state, self.params(x.dtype), **self._settings())  # type: ignore[no-any-return]

    def scan(self, x: Tensor, state: Any = None, *, record: bool = False) -> ScanResult:
        """Run over ``x`` of shape ``[T, *batch, *shape]``: parameters are read once, then looped."""
        x = self._check_input(x, sequence=True)
        state = self._prepare(x, state, tuple(x.shape[1 : x.dim() - len(self.shape)]))
        return type(self)._scan_fn(x, state, self.params(x.dtype), record=record, **self._settings())  # type: ignore[no-any-return]


class LIF(_LIFModule):
    r"""A population of current-based leaky integrate-and-fire neurons.

    .. math::

        \tau_{mem} \frac{dv}{dt} = (v_{leak} - v) + r\,i, \qquad
        \tau_{syn} \frac{di}{dt} = -i, \qquad z = H(v - v_{th})

    See :mod:`spikeforge.neurons.lif` for the discrete step and its order of operations.

    Args:
        n: number of neurons, or a shape such as ``(C, H, W)``.
        tau_mem: membrane time constant in ms (> 0).
        tau_syn: synaptic time constant in ms (> 0), or None for a plain LIF whose input is the
            current (NIR ``LIF``; with tau_syn it is NIR ``CubaLIF``).
        v_th: threshold (mV or dimensionless); must exceed ``v_reset``.
        v_reset: value after a spike (``"to_value"``), or ``v_th - v_reset`` is subtracted.
        v_leak: resting potential; the state starts here.
        r: input gain (resistance).
        t_ref: refractory period in ms (>= 0), rounded to whole steps.
        dt: time step in ms (> 0). For binned event data it is the **bin width**: NDigits'
            300 ms in 30 bins needs ``dt=10``; with ``dt=1`` on 20 ms bins the membrane forgets
            20 times too slowly (``exp(-dt/tau_mem)`` per bin) and training suffers. snntorch's
            ``beta`` is ``exp(-dt/tau_mem)``: see :meth:`from_beta`.
        reset: ``"to_value"`` or ``"subtract"``.
        integrator: ``"exact"`` (exponential, default) or ``"euler"`` (needs dt < 2 tau).
        surrogate: a :class:`~spikeforge.surrogate.Surrogate`; default ``FastSigmoid(25.0)``.
        learnable: parameters to learn, among ``tau_mem``, ``tau_syn``, ``v_th``, ``v_leak``,
            ``v_reset``, ``r``. Learnable ones are one value per neuron; time constants stay
            positive through softplus and ``v_th`` stays above ``v_reset``.
        detach_reset: whether the reset carries no gradient (default True, as snntorch).

    Shape:
        input ``[T, *batch, n]`` (``forward``/``scan``) or ``[*batch, n]`` (``step``); output
        the same, spikes 0/1 in the input's dtype.

    Raises:
        ParameterError: non-positive tau or dt, negative t_ref, ``v_reset >= v_th``, unknown
            reset or integrator, Euler with ``dt >= 2 * tau``.
        ShapeError: input whose last dimension is not ``n`` (at call time).
        DTypeError: non-floating input (at call time).

    Example:
        >>> import torch, spikeforge as sf
        >>> lif = sf.neurons.LIF(3, tau_mem=10.0, v_th=1.0, dt=1.0)
        >>> x = torch.full((50, 3), 1.5)             # [T, n], constant current above rheobase
        >>> spikes, state = lif(x)
        >>> spikes.shape, int(spikes.sum())
        (torch.Size([50, 3]), 12)
    """

    _learnable_allowed = ("tau_mem", "tau_syn", "v_th", "v_leak", "v_reset", "r")
    _init_fn = staticmethod(lif_init_state)
    _step_fn = staticmethod(lif_step)
    _scan_fn = staticmethod(lif_scan)

    def __init__(
        self,
        n: int | tuple[int, ...],
        tau_mem: ParamLike = 20.0,
        tau_syn: ParamLike | None = None,
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

    @classmethod
    def from_beta(cls, n: int | tuple[int, ...], beta: float, *, dt: float = 1.0, **kwargs: Any) -> LIF:
        """snntorch's ``Leaky(beta=...)`` parameterisation: ``tau_mem = -dt / ln(beta)``.

        snntorch's ``mem = beta * mem + input`` is this LIF with ``tau_syn=None`` and ``r`` such
        that one step adds the input: ``r = 1 / (1 - beta)`` (the exact step scales the input by
        ``1 - beta``); ``threshold`` is ``v_th`` and ``reset_mechanism="subtract"`` is
        ``reset="subtract"``.

        Args:
            n: number of neurons or a shape.
            beta: decay per step, in (0, 1).
            dt: the step in ms the decay is meant for (the bin width for binned data).
            **kwargs: other :class:`LIF` arguments (``r`` defaults to ``1 / (1 - beta)``).

        Raises:
            ParameterError: ``beta`` outside (0, 1).

        Example:
            >>> lif = LIF.from_beta(4, 0.9, dt=1.0, reset="subtract")
            >>> round(float(lif.tau_mem), 4), round(float(lif.r), 4)
            (9.4912, 10.0)
        """
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0.0 < beta < 1.0:
            raise ParameterError(f"beta must be a number in (0, 1) (the decay per step), got {beta!r}")
        kwargs.setdefault("r", 1.0 / (1.0 - beta))
        return cls(n, tau_mem=-dt / math.log(beta), dt=dt, **kwargs)

    def params(self, dtype: torch.dtype | None = None) -> LIFParams:
        """The constrained parameter values (differentiable for learnable ones)."""
        return self._lif_params(dtype)

    def extra_repr(self) -> str:
        syn = f", tau_syn={_short(self.tau_syn)}" if self.has_syn else ""
        return (
            f"{super().extra_repr()}, tau_mem={_short(self.tau_mem)}{syn}, v_th={_short(self.v_th)}, "
            f"reset={self.reset!r}, integrator={self.integrator!r}"
        )


def _short(t: Tensor) -> str:
    return f"{t.item():g}" if t.numel() == 1 else f"[{t.numel()} values]"
