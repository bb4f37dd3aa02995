"""The fused LIF scan on a GPU: Triton kernels behind the autograd function of :func:`lif_scan`.

:func:`~spikeforge.neurons.lif.lif_scan` asks :func:`scan_function` which autograd function runs a
sequence. On a CUDA tensor with Triton installed and a built-in surrogate it is
:class:`TritonLIFScan`: one kernel launch forward and one backward per layer, whatever the number
of steps, with the same results as the PyTorch scan :class:`~spikeforge.neurons.lif._LIFScan`
(spikes identical, states and gradients to rounding). Otherwise it is the PyTorch scan: a user's
own :class:`~spikeforge.surrogate.Surrogate` subclass (the kernels know only the built-in ones), and
CUDA without Triton, which says once, in a warning, what is slower.

Tests run the kernels on CPU tensors through Triton's interpreter with
``lif_scan(..., _interpret=True)`` (never a default).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from functools import cache
from typing import Any

import torch
from torch import Tensor

from .._triton_interpret import interpreted_copy
from ..errors import MissingDependencyError
from ..surrogate import ATan, FastSigmoid, StraightThrough, Surrogate, Triangle

BLOCK = 128  # elements of [*batch, *shape] per program


def surrogate_constants(surrogate: Surrogate) -> tuple[int, float, float] | None:
    """``(code, c0, c1)`` of a built-in surrogate for the kernels, or None for any other.

    The type must match exactly: a subclass may redefine ``grad``.
    """
    kind = type(surrogate)
    if kind is FastSigmoid:
        return 0, float(surrogate.slope), 0.0  # type: ignore[attr-defined]
    if kind is ATan:
        a = float(surrogate.alpha)  # type: ignore[attr-defined]
        return 1, math.pi * a / 2, a / 2
    if kind is Triangle:
        return 2, float(surrogate.width), 0.0  # type: ignore[attr-defined]
    if kind is StraightThrough:
        w = float(surrogate.width)  # type: ignore[attr-defined]
        return (4, 0.0, 0.0) if math.isinf(w) else (3, w, 0.0)
    return None


def _kernels(interpret: bool) -> tuple[Any, Any] | None:
    """The LIF forward and backward kernels, or None without Triton."""
    kern = kernel_module(interpret)
    return None if kern is None else (kern.lif_forward_kernel, kern.lif_backward_kernel)


@cache
def kernel_module(interpret: bool) -> Any:
    """The module of the LIF and ALIF kernels, or None without Triton.

    ``interpret=True`` loads a second copy of the kernel module with ``TRITON_INTERPRET=1`` set
    while its functions are decorated, so they run on CPU tensors through Triton's interpreter;
    the environment is restored afterwards and the compiled kernels are left as they are.
    """
    from . import _triton_lif_kernels as kern

    if not kern.AVAILABLE:
        return None
    return interpreted_copy(kern) if interpret else kern


def scan_function(x: Tensor, surrogate: Surrogate, fallback: Any, *, interpret: bool = False) -> Any:
    """The autograd function for a CUDA tensor ``x``: :class:`TritonLIFScan` where it can run,
    else ``fallback`` (the PyTorch scan), with a warning when Triton is missing.

    The kernels take float32 and float64 and the built-in surrogates; other dtypes (half,
    bfloat16) and a user's own surrogate run the PyTorch scan.

    ``interpret=True`` (test-only, never a default) runs the kernels on CPU tensors through
    Triton's interpreter, as ``TRITON_INTERPRET=1`` does.
    """
    usable = kernels_usable(x, surrogate, _kernels(interpret) is not None, interpret=interpret)
    if not usable:
        return fallback
    return _InterpretedLIFScan if interpret else TritonLIFScan


def kernels_usable(
    x: Tensor,
    surrogate: Surrogate,
    available: bool,
    *,
    interpret: bool,
    model: str = "LIF",
    per_step: int = 4,
) -> bool:
    """Whether the kernels (``available``: Triton is installed) can run the scan of ``x``: float32
    or float64 and a built-in surrogate. Without Triton it warns on CUDA (``model``'s scan costs
    ``per_step`` launches per step there) and raises under ``interpret``."""
    if surrogate_constants(surrogate) is None or x.dtype not in (torch.float32, torch.float64):
        return False
    if not available:
        if interpret:
            raise MissingDependencyError(
                f"the interpreted {model} kernels need triton: pip install 'spikeforge[gpu]'"
            )
        warnings.warn(
            f"spikeforge: Triton is not installed, so {model}.scan on CUDA runs the PyTorch scan: "
            f"about {per_step} kernel launches per time step and layer instead of one fused kernel "
            "per layer and direction, slower for small layers; install it with "
            "pip install 'spikeforge[gpu]'",
            RuntimeWarning,
            stacklevel=5,
        )
        return False
    return True


def _flat_params(
    x: Tensor, k: Tensor, alpha: Tensor | None, rest: tuple[Tensor, ...], n_ref: Tensor
) -> tuple[Tensor, Tensor, int]:
    """Parameters (``k``, ``alpha`` or ``k`` again, then ``rest``) packed as rows of
    ``[2 + len(rest), n_par]`` in x's dtype, and ``n_ref`` as ``[n_par]``, where ``n_par`` covers
    the trailing dimensions of the state over which they vary."""
    params = (k, k if alpha is None else alpha, *rest)
    dims = max(max(p.dim() for p in params), n_ref.dim())
    tail = tuple(x.shape[x.dim() - dims :]) if dims else ()
    prm = torch.stack([p.to(x.dtype).expand(tail) for p in params]).reshape(len(params), -1)
    nref = n_ref.to(device=x.device, dtype=torch.int32).expand(tail).reshape(-1).contiguous()
    return prm.contiguous(), nref, prm.shape[1]


class TritonLIFScan(torch.autograd.Function):
    """:class:`~spikeforge.neurons.lif._LIFScan` (same arguments and outputs) on Triton kernels."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, *args: Any
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return _forward(ctx, False, *args)

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, g_z: Tensor | None, g_v: Tensor | None, g_i: Tensor | None, _g_ref: Any
    ) -> tuple[Tensor | None, ...]:
        return _backward(ctx, g_z, g_v, g_i)


class _InterpretedLIFScan(TritonLIFScan):
    """Test-only: :class:`TritonLIFScan` with the kernels run by Triton's interpreter."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, *args: Any
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return _forward(ctx, True, *args)


def _forward(
    ctx: Any,
    interpret: bool,
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
    cfg: Any,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    kernels = _kernels(interpret)
    assert kernels is not None  # scan_function checked it
    fwd, _ = kernels
    x = x.contiguous()
    steps, state_shape = x.shape[0], x.shape[1:]
    n = math.prod(state_shape)
    prm, nref, n_par = _flat_params(x, k, alpha, (v_leak, r, v_th, v_reset), n_ref)
    v0f = v0.to(x.dtype).expand(state_shape).contiguous()
    syn = alpha is not None
    i0f = i0.to(x.dtype).expand(state_shape).contiguous() if syn else v0f
    ref0f = ref0.to(torch.int32).expand(state_shape).contiguous()
    z = torch.empty_like(x)
    v_pre = torch.empty_like(x)
    i_seq = torch.empty_like(x) if syn else None
    act = torch.empty(x.shape, dtype=torch.int8, device=x.device) if cfg.refractory else None
    ref = ref0f.clone() if cfg.refractory else ref0f
    grid = (triton_cdiv(n, BLOCK),)
    with _on_device(x):
        fwd[grid](
            x,
            v0f,
            i0f,
            ref0f,
            prm,
            nref,
            z,
            v_pre,
            i_seq if i_seq is not None else v_pre,
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
    ctx.cfg = cfg
    ctx.interpret = interpret
    ctx.code = code
    ctx.sur = (c0, c1)
    ctx.n_par = n_par
    # shapes only (as meta tensors) to sum the gradients back to: keeps no tensor alive
    ctx.param_like = tuple(None if p is None else _shape_of(p) for p in (k, alpha, v_leak, r, v_th, v_reset))
    ctx.state_like = (_shape_of(v0), _shape_of(i0))
    ctx.save_for_backward(v_pre, z, act, x if i_seq is None else i_seq, v0f, i0f, prm)
    ctx.set_materialize_grads(False)
    ctx.mark_non_differentiable(ref)
    return z, v_pre, i_seq if i_seq is not None else x.new_empty(0), ref


def _backward(
    ctx: Any, g_z: Tensor | None, g_v: Tensor | None, g_i: Tensor | None
) -> tuple[Tensor | None, ...]:
    from ._reduce import _reduce_to

    v_pre, z, act, drive, v0f, i0f, prm = ctx.saved_tensors
    cfg = ctx.cfg
    need = ctx.needs_input_grad
    kernels = _kernels(ctx.interpret)
    assert kernels is not None
    _, bwd = kernels
    steps, state_shape = v_pre.shape[0], v_pre.shape[1:]
    n = math.prod(state_shape)
    syn = ctx.param_like[1] is not None
    has_gv = g_v is not None
    has_gi = g_i is not None and g_i.numel() > 0
    need_p = any(need[3:9])
    gz = torch.zeros_like(v_pre) if g_z is None else g_z.contiguous()
    gx = torch.empty_like(v_pre)
    gv0 = torch.empty_like(v0f)
    gi0 = torch.empty_like(v0f) if syn else gv0
    gp = torch.empty((6, *state_shape), dtype=v_pre.dtype, device=v_pre.device) if need_p else gv0
    sur = torch.tensor(ctx.sur, dtype=v_pre.dtype, device=v_pre.device)
    grid = (triton_cdiv(n, BLOCK),)
    with _on_device(v_pre):
        bwd[grid](
            v_pre,
            z,
            act if act is not None else z,
            drive,
            v0f,
            i0f,
            prm,
            sur,
            gz,
            g_v.contiguous() if g_v is not None else gz,
            g_i.contiguous() if has_gi else gz,  # type: ignore[union-attr]
            gx,
            gv0,
            gi0,
            gp,
            (steps - 1) * n,
            steps,
            n,
            ctx.n_par,
            SYN=syn,
            REF=act is not None,
            SUBTRACT=cfg.reset == "subtract",
            DETACH=cfg.detach_reset,
            SURR=ctx.code,
            HAS_GV=has_gv,
            HAS_GI=has_gi,
            NEED_P=need_p,
            BLOCK=BLOCK,
            enable_fp_fusion=False,
        )
    v0, i0 = ctx.state_like
    grads: list[Tensor | None] = [
        gx if need[0] else None,
        _reduce_to(gv0, v0) if need[1] else None,
        _reduce_to(gi0, i0) if need[2] and syn else None,
    ]
    for row, p in enumerate(ctx.param_like):
        grads.append(_reduce_to(gp[row], p) if need[3 + row] and p is not None else None)
    return (*grads, None, None, None)


def _on_device(x: Tensor) -> Any:
    """Launch on x's GPU (Triton launches on the current device), or nowhere in particular."""
    return torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext()


def _shape_of(t: Tensor) -> Tensor:
    return torch.empty(t.shape, device="meta")


def triton_cdiv(a: int, b: int) -> int:
    return -(-a // b)
