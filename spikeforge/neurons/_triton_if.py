"""The fused IF scan on a GPU: Triton kernels behind :func:`~spikeforge.neurons.integrate_fire.if_scan`.

On a CUDA tensor with Triton installed and a built-in surrogate, :func:`if_scan_function` gives
:class:`TritonIFScan`: one kernel launch forward and one backward, whatever the number of steps,
with the results of the :func:`~spikeforge.neurons.integrate_fire.if_step` loop (spikes and states
identical, gradients to rounding); otherwise None, and ``if_scan`` runs the loop (with a warning
on CUDA when Triton is missing). The kernels and helpers are the LIF scan's (:mod:`._triton_lif`).
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


def if_scan_function(x: Tensor, surrogate: Surrogate, *, interpret: bool = False) -> Any:
    """:class:`TritonIFScan` where the kernels can run the scan of ``x``, else None.

    ``interpret=True`` (test-only) runs the kernels on CPU tensors through Triton's interpreter.
    """
    available = kernel_module(interpret) is not None
    if not kernels_usable(x, surrogate, available, interpret=interpret, model="IF", per_step=6):
        return None
    return _InterpretedIFScan if interpret else TritonIFScan


class TritonIFScan(torch.autograd.Function):
    """The IF step loop on Triton kernels.

    ``apply(x, v0, r, v_th, v_reset, surrogate, reset, detach_reset)`` returns ``(z, v_pre)``:
    spikes and the membrane before reset.
    """

    @staticmethod
    def forward(ctx: Any, *args: Any) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        return _forward(ctx, False, *args)

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, g_z: Tensor | None, g_v: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        return _backward(ctx, g_z, g_v)


class _InterpretedIFScan(TritonIFScan):
    """Test-only: :class:`TritonIFScan` with the kernels run by Triton's interpreter."""

    @staticmethod
    def forward(ctx: Any, *args: Any) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        return _forward(ctx, True, *args)


def _forward(
    ctx: Any,
    interpret: bool,
    x: Tensor,
    v0: Tensor,
    r: Tensor,
    v_th: Tensor,
    v_reset: Tensor,
    surrogate: Surrogate,
    reset: str,
    detach_reset: bool,
) -> tuple[Tensor, Tensor]:
    kern = kernel_module(interpret)
    x = x.contiguous()
    steps, state_shape = x.shape[0], x.shape[1:]
    n = math.prod(state_shape)
    no_ref = torch.zeros((), dtype=torch.int32)
    prm = _flat_params(x, r, None, (v_th, v_reset), no_ref)[0][1:]  # rows r, v_th, v_reset
    n_par = prm.shape[1]
    v0f = v0.to(x.dtype).expand(state_shape).contiguous()
    z, v_pre = torch.empty_like(x), torch.empty_like(x)
    with _on_device(x):
        kern.if_forward_kernel[(triton_cdiv(n, BLOCK),)](
            x,
            v0f,
            prm,
            z,
            v_pre,
            steps,
            n,
            n_par,
            SUBTRACT=reset == "subtract",
            BLOCK=BLOCK,
            enable_fp_fusion=False,  # v + r*x rounded twice, as ATen's
        )
    code, c0, c1 = surrogate_constants(surrogate) or (0, 0.0, 0.0)
    ctx.interpret, ctx.code, ctx.sur, ctx.n_par = interpret, code, (c0, c1), n_par
    ctx.subtract, ctx.detach = reset == "subtract", detach_reset
    ctx.like = tuple(_shape_of(t) for t in (v0, r, v_th, v_reset))
    ctx.save_for_backward(v_pre, z, x, prm)
    ctx.set_materialize_grads(False)
    return z, v_pre


def _backward(ctx: Any, g_z: Tensor | None, g_v: Tensor | None) -> tuple[Tensor | None, ...]:
    from ._reduce import _reduce_to

    v_pre, z, x, prm = ctx.saved_tensors
    need = ctx.needs_input_grad
    kern = kernel_module(ctx.interpret)
    steps, state_shape = v_pre.shape[0], v_pre.shape[1:]
    n = math.prod(state_shape)
    need_p = any(need[2:5])
    gz = torch.zeros_like(v_pre) if g_z is None else g_z.contiguous()
    gx = torch.empty_like(v_pre)
    gv0 = torch.empty(state_shape, dtype=v_pre.dtype, device=v_pre.device)
    gp = torch.empty((3, *state_shape), dtype=v_pre.dtype, device=v_pre.device) if need_p else gv0
    sur = torch.tensor(ctx.sur, dtype=v_pre.dtype, device=v_pre.device)
    with _on_device(v_pre):
        kern.if_backward_kernel[(triton_cdiv(n, BLOCK),)](
            v_pre,
            z,
            x,
            prm,
            sur,
            gz,
            g_v.contiguous() if g_v is not None else gz,
            gx,
            gv0,
            gp,
            (steps - 1) * n,
            steps,
            n,
            ctx.n_par,
            SUBTRACT=ctx.subtract,
            DETACH=ctx.detach,
            SURR=ctx.code,
            HAS_GV=g_v is not None,
            NEED_P=need_p,
            BLOCK=BLOCK,
            enable_fp_fusion=False,
        )
    v0, *params = ctx.like
    grads: list[Tensor | None] = [gx if need[0] else None, _reduce_to(gv0, v0) if need[1] else None]
    grads += [_reduce_to(gp[row], p) if need[2 + row] else None for row, p in enumerate(params)]
    return (*grads, None, None, None)
