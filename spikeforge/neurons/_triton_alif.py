"""The fused ALIF scan on a GPU: Triton kernels behind :func:`~spikeforge.neurons.alif.alif_scan`.

On a CUDA tensor with Triton installed and a built-in surrogate, :func:`alif_scan_function` gives
:class:`TritonALIFScan`: one kernel launch forward and one backward per layer, whatever the number
of steps, with the results of the step loop (spikes, refractory counts and states identical,
gradients to rounding). Otherwise it gives None and ``alif_scan`` runs its step loop (with a
warning once on CUDA when Triton is missing). The kernels, their surrogates and the packing of
parameters are the LIF scan's (:mod:`._triton_lif`, :mod:`._triton_lif_kernels`).

Tests run the kernels on CPU tensors through Triton's interpreter with
``alif_scan(..., _interpret=True)`` (never a default).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ..surrogate import Surrogate
from ._triton_lif import (
    BLOCK,
    _flat_params,
    _on_device,
    _shape_of,
    kernel_module,
    kernels_usable,
    surrogate_constants,
    triton_cdiv,
)


def alif_scan_function(x: Tensor, surrogate: Surrogate, *, interpret: bool = False) -> Any:
    """:class:`TritonALIFScan` where the kernels can run the scan of ``x``, else None.

    ``interpret=True`` (test-only) runs the kernels on CPU tensors through Triton's interpreter.
    """
    available = kernel_module(interpret) is not None
    if not kernels_usable(x, surrogate, available, interpret=interpret, model="ALIF", per_step=20):
        return None
    return _InterpretedALIFScan if interpret else TritonALIFScan


class TritonALIFScan(torch.autograd.Function):
    """The ALIF step loop on Triton kernels.

    ``apply(x, v0, i0, a0, k, alpha, v_leak, r, v_th, v_reset, rho, beta, ref0, n_ref, cfg)``
    (``alpha`` None without synaptic state; ``cfg`` the LIF scan's ``_ScanConfig``) returns
    ``(z, v_pre, i_seq, a_seq, ref)``: spikes, the membrane before reset, the synaptic current
    (empty without ``alpha``), the adaptation after each step, and the final refractory count.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, *args: Any
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        return _forward(ctx, False, *args)

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, g_z: Tensor | None, g_v: Tensor | None, g_i: Tensor | None, g_a: Tensor | None, _g_ref: Any
    ) -> tuple[Tensor | None, ...]:
        return _backward(ctx, g_z, g_v, g_i, g_a)


class _InterpretedALIFScan(TritonALIFScan):
    """Test-only: :class:`TritonALIFScan` with the kernels run by Triton's interpreter."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, *args: Any
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        return _forward(ctx, True, *args)


def _forward(
    ctx: Any,
    interpret: bool,
    x: Tensor,
    v0: Tensor,
    i0: Tensor,
    a0: Tensor,
    k: Tensor,
    alpha: Tensor | None,
    v_leak: Tensor,
    r: Tensor,
    v_th: Tensor,
    v_reset: Tensor,
    rho: Tensor,
    beta: Tensor,
    ref0: Tensor,
    n_ref: Tensor,
    cfg: Any,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    kern = kernel_module(interpret)
    x = x.contiguous()
    steps, state_shape = x.shape[0], x.shape[1:]
    n = math.prod(state_shape)
    prm, nref, n_par = _flat_params(x, k, alpha, (v_leak, r, v_th, v_reset, rho, beta), n_ref)
    v0f, a0f = (s.to(x.dtype).expand(state_shape).contiguous() for s in (v0, a0))
    syn = alpha is not None
    i0f = i0.to(x.dtype).expand(state_shape).contiguous() if syn else v0f
    ref0f = ref0.to(torch.int32).expand(state_shape).contiguous()
    z, v_pre, a_seq = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
    i_seq = torch.empty_like(x) if syn else None
    act = torch.empty(x.shape, dtype=torch.int8, device=x.device) if cfg.refractory else None
    ref = ref0f.clone() if cfg.refractory else ref0f
    with _on_device(x):
        kern.alif_forward_kernel[(triton_cdiv(n, BLOCK),)](
            x,
            v0f,
            i0f,
            a0f,
            ref0f,
            prm,
            nref,
            z,
            v_pre,
            i_seq if i_seq is not None else v_pre,
            a_seq,
            act if act is not None else z,
            ref,
            steps,
            n,
            n_par,
            SYN=syn,
            REF=cfg.refractory,
            SUBTRACT=cfg.reset == "subtract",
            BLOCK=BLOCK,
            enable_fp_fusion=False,  # a*b+c rounded twice, as ATen's; tl.fma where ATen fuses
        )
    code, c0, c1 = surrogate_constants(cfg.surrogate) or (0, 0.0, 0.0)
    ctx.cfg, ctx.interpret, ctx.code, ctx.sur, ctx.n_par = cfg, interpret, code, (c0, c1), n_par
    params = (k, alpha, v_leak, r, v_th, v_reset, rho, beta)
    ctx.param_like = tuple(None if p is None else _shape_of(p) for p in params)
    ctx.state_like = (_shape_of(v0), _shape_of(i0), _shape_of(a0))
    ctx.save_for_backward(v_pre, z, act, x if i_seq is None else i_seq, a_seq, v0f, i0f, a0f, prm)
    ctx.set_materialize_grads(False)
    ctx.mark_non_differentiable(ref)
    return z, v_pre, i_seq if i_seq is not None else x.new_empty(0), a_seq, ref


def _backward(
    ctx: Any, g_z: Tensor | None, g_v: Tensor | None, g_i: Tensor | None, g_a: Tensor | None
) -> tuple[Tensor | None, ...]:
    from ._reduce import _reduce_to

    v_pre, z, act, drive, a_seq, v0f, i0f, a0f, prm = ctx.saved_tensors
    need = ctx.needs_input_grad
    kern = kernel_module(ctx.interpret)
    steps, state_shape = v_pre.shape[0], v_pre.shape[1:]
    n = math.prod(state_shape)
    syn = ctx.param_like[1] is not None
    has_gi = g_i is not None and g_i.numel() > 0
    need_p = any(need[4:12])
    gz = torch.zeros_like(v_pre) if g_z is None else g_z.contiguous()
    gx = torch.empty_like(v_pre)
    gv0, ga0 = torch.empty_like(v0f), torch.empty_like(v0f)
    gi0 = torch.empty_like(v0f) if syn else gv0
    gp = torch.empty((8, *state_shape), dtype=v_pre.dtype, device=v_pre.device) if need_p else gv0
    sur = torch.tensor(ctx.sur, dtype=v_pre.dtype, device=v_pre.device)
    with _on_device(v_pre):
        kern.alif_backward_kernel[(triton_cdiv(n, BLOCK),)](
            v_pre,
            z,
            act if act is not None else z,
            drive,
            a_seq,
            v0f,
            i0f,
            a0f,
            prm,
            sur,
            gz,
            g_v.contiguous() if g_v is not None else gz,
            g_i.contiguous() if has_gi else gz,  # type: ignore[union-attr]
            g_a.contiguous() if g_a is not None else gz,
            gx,
            gv0,
            gi0,
            ga0,
            gp,
            (steps - 1) * n,
            steps,
            n,
            ctx.n_par,
            SYN=syn,
            REF=act is not None,
            SUBTRACT=ctx.cfg.reset == "subtract",
            DETACH=ctx.cfg.detach_reset,
            SURR=ctx.code,
            HAS_GV=g_v is not None,
            HAS_GI=has_gi,
            HAS_GA=g_a is not None,
            NEED_P=need_p,
            BLOCK=BLOCK,
            enable_fp_fusion=False,
        )
    v0, i0, a0 = ctx.state_like
    grads: list[Tensor | None] = [
        gx if need[0] else None,
        _reduce_to(gv0, v0) if need[1] else None,
        _reduce_to(gi0, i0) if need[2] and syn else None,
        _reduce_to(ga0, a0) if need[3] else None,
    ]
    for row, p in enumerate(ctx.param_like):
        grads.append(_reduce_to(gp[row], p) if need[4 + row] and p is not None else None)
    return (*grads, None, None, None)
