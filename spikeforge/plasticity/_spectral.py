r"""The spectral method of :func:`~spikeforge.plasticity.delayed_linear`: a causal convolution with one
kernel per synapse, :math:`y[t] = \sum_k K_k^\top x[t - k]`, by the discrete Fourier transform
along time.

Overlap-save blocks of ``b`` outputs use transforms of length ``L = b + D - 1``, written as matrix
products with the ``F = L // 2 + 1`` frequencies of a real signal. At each frequency
:math:`Y_f = X_f K_f` is a complex matrix product, done with three real ones (Gauss):
:math:`X_r K_r`, :math:`X_i K_i` and :math:`(X_r + X_i)(K_r + K_i)`. The transforms are the rows
``(f, part)`` of one real matrix (``fwd``, ``[3F, L]``), and the inverse transform at the valid
outputs folds the three products back into :math:`\mathrm{Re}\, Y` and :math:`\mathrm{Im}\, Y`
(``inv``, ``[b, 3F]``), so the whole layer is the bilinear map
``y = inv @ bmm(fwd @ x, fwd[:, :D] @ K)``.

:class:`_SpectralConv` runs it frequency chunk by frequency chunk, so that the kernel spectrum
(``3F`` times the size of ``K``; tens of MB for an SHD layer) never exists whole: each chunk stays
small enough to be reused from the heap instead of being mapped, page-faulted and unmapped at every
call, which costs more than the arithmetic. The backward pass recomputes the chunks it needs.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

#: Largest kernel-spectrum chunk, in bytes. Large temporaries get fresh pages from the system at
#: each call (glibc maps blocks above its mmap threshold, at most 32 MiB, and trims freed ones),
#: whose page faults cost several times the arithmetic; the scratch buffers of a pass come from a
#: :class:`Workspace` when the caller keeps one (``LearnableDelay`` does).
CHUNK_BYTES = 8 * 2**20


class Workspace:
    """Scratch buffers kept between calls, one per name (grown when too small), so that repeated
    calls write into pages already mapped. Only for temporaries that no result or saved tensor
    refers to after the call; calls must not overlap (autograd runs a backward pass on its
    caller's thread)."""

    def __init__(self) -> None:
        self._buffers: dict[str, Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        """An uninitialised ``[*shape]`` tensor of ``like``'s dtype and device."""
        numel = math.prod(shape)
        buf = self._buffers.get(name)
        if buf is None or buf.numel() < numel or buf.dtype != like.dtype or buf.device != like.device:
            buf = like.new_empty(numel)
            self._buffers[name] = buf
        return buf[:numel].view(shape)


def _scratch(ws: Workspace | None, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
    return like.new_empty(shape) if ws is None else ws.get(name, shape, like)


@functools.lru_cache(maxsize=256)
def spectral_cost(steps: int, n_taps: int, columns: int) -> tuple[int, float]:
    """The block (output steps per transform) of the spectral method, and its cost per synapse in
    multiply-adds of a training step (forward and backward).

    Per synapse, a transform of length ``L = b + D - 1`` has ``3F ~ 1.5 L`` rows: the kernel
    spectrum costs ``3F D`` multiply-adds per pass (two passes: forward and gradient) and the
    products ``3F N`` per block and pass (two), ``N`` the batch columns. The kernel-spectrum products
    (inner dimension ``D``) measure about twice as slow per multiply-add as the batched ones.
    Transforms longer than ``max(256, 8 D)`` are avoided."""
    cap = max(256, 8 * n_taps)
    best, best_key = steps, (True, math.inf)
    for n_blocks in range(1, steps + 1):
        block = -(-steps // n_blocks)
        if n_blocks > 1 and block == -(-steps // (n_blocks - 1)):
            continue
        length = block + n_taps - 1
        rows = 3 * (length // 2 + 1)
        key = (length > cap, float(2 * rows * (2 * n_taps + columns * n_blocks)))
        if key < best_key:
            best, best_key = block, key
        if block < n_taps // 2:
            break
    return best, best_key[1]


def _transforms(block: int, n_taps: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """``fwd`` ``[3F, L]``: rows ``(f, part)`` of Re, Im and Re + Im of :math:`e^{-i\\omega_f t}`;
    ``inv`` ``[b, 3F]``: the inverse transform at the valid outputs ``t' = D - 1 + t`` of the three
    Gauss products, :math:`y = \\sum_f c_f (Y_r \\cos \\omega_f t' - Y_i \\sin \\omega_f t')` with
    :math:`Y_r = P_1 - P_2` and :math:`Y_i = P_3 - P_1 - P_2`. (As matrix products these beat
    ``torch.fft`` here: the transforms are short and the three parts need interleaving.)"""
    length = block + n_taps - 1
    n_freq = length // 2 + 1
    omega = (2 * math.pi / length) * torch.arange(n_freq, dtype=torch.float64, device=device)
    ang = omega.unsqueeze(1) * torch.arange(length, dtype=torch.float64, device=device)
    cos, sin = torch.cos(ang), torch.sin(ang)
    fwd = torch.stack([cos, -sin, cos - sin], 1).reshape(3 * n_freq, length)
    c = torch.full((n_freq,), 2.0 / length, dtype=torch.float64, device=device)
    c[0] = 1.0 / length
    if length % 2 == 0:
        c[-1] = 1.0 / length
    ang_o = torch.arange(n_taps - 1, length, dtype=torch.float64, device=device).unsqueeze(1) * omega
    cos_o, sin_o = c * torch.cos(ang_o), c * torch.sin(ang_o)
    inv = torch.stack([cos_o + sin_o, sin_o - cos_o, -sin_o], -1).reshape(block, 3 * n_freq)
    return fwd.to(dtype), inv.to(dtype)


def _chunks(n_rows: int, kernel: Tensor) -> tuple[list[tuple[int, int]], int]:
    """Row ranges of whole frequencies (3 rows each), each at most ``CHUNK_BYTES`` of kernel
    spectrum, and the largest number of rows."""
    row_bytes = kernel[0].numel() * kernel.element_size()
    step = min(n_rows, max(3, (CHUNK_BYTES // max(row_bytes, 1)) // 3 * 3))
    return [(r, min(r + step, n_rows)) for r in range(0, n_rows, step)], step


def _products(xf: Tensor, kernel: Tensor, kernel_rows: Tensor, ws: Workspace | None = None) -> Tensor:
    """``prod[r] = xf[r] @ (kernel_rows[r] @ kernel)``, ``[3F, M, n_out]``: the three real products
    of each frequency, the kernel spectrum made chunk by chunk in one reused buffer."""
    n_taps, n_in, n_out = kernel.shape
    flat_k = kernel.reshape(n_taps, n_in * n_out)
    prod = _scratch(ws, "prod", (xf.shape[0], xf.shape[1], n_out), xf)
    chunks, most = _chunks(xf.shape[0], kernel)
    buf = _scratch(ws, "chunk", (most, n_in * n_out), kernel)
    for r0, r1 in chunks:
        kf = torch.mm(kernel_rows[r0:r1], flat_k, out=buf[: r1 - r0]).view(r1 - r0, n_in, n_out)
        torch.bmm(xf[r0:r1], kf, out=prod[r0:r1])
    return prod


def _product_grads(
    xf: Tensor,
    kernel: Tensor,
    kernel_rows: Tensor,
    gprod: Tensor,
    need_x: bool,
    need_k: bool,
    ws: Workspace | None = None,
) -> tuple[Tensor | None, Tensor | None]:
    """The gradients of :func:`_products` with respect to ``xf`` and ``kernel``."""
    n_taps, n_in, n_out = kernel.shape
    flat_k = kernel.reshape(n_taps, n_in * n_out)
    g_kernel = kernel.new_zeros((n_taps, n_in * n_out)) if need_k else None
    gxf = _scratch(ws, "gxf", tuple(xf.shape), xf) if need_x else None
    chunks, most = _chunks(xf.shape[0], kernel)
    buf = _scratch(ws, "chunk", (most, n_in * n_out), kernel)
    for r0, r1 in chunks:
        part = buf[: r1 - r0].view(r1 - r0, n_in, n_out)
        if g_kernel is not None:
            gkf = torch.bmm(xf[r0:r1].transpose(1, 2), gprod[r0:r1], out=part)
            g_kernel.addmm_(kernel_rows[r0:r1].T, gkf.view(r1 - r0, -1))
        if gxf is not None:
            kf = torch.mm(kernel_rows[r0:r1], flat_k, out=part.view(r1 - r0, -1)).view_as(part)
            torch.bmm(gprod[r0:r1], kf.transpose(1, 2), out=gxf[r0:r1])
    return gxf, (None if g_kernel is None else g_kernel.view_as(kernel))


class _SpectralConv(torch.autograd.Function):
    """``full`` ``[D - 1 + T, N, n_in]`` (``full[D - 1 + t] = x[t]``), ``kernel`` ``[D, n_in, n_out]``
    -> ``y`` ``[T, N, n_out]``, ``y[t] = sum_k full[D - 1 + t - k] @ kernel[k]``."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, full: Tensor, kernel: Tensor, steps: int, ws: Workspace | None
    ) -> Tensor:
        n_taps, n_in, n_out = kernel.shape
        n_full, cols = full.shape[0], full.shape[1]
        block = spectral_cost(steps, n_taps, cols)[0]
        n_blocks = -(-steps // block)
        length = block + n_taps - 1
        fwd, inv = _transforms(block, n_taps, full.dtype, full.device)
        pad = n_blocks * block - steps
        if pad:
            full = F.pad(full, (0, 0, 0, 0, 0, pad))
        # segments [L, n_blocks, N, n_in]: segment s holds full[s b : s b + L]
        segs = full.unfold(0, length, block).permute(3, 0, 1, 2) if n_blocks > 1 else full.unsqueeze(1)
        rows = fwd.shape[0]
        xf = (fwd @ segs.reshape(length, -1)).view(rows, n_blocks * cols, n_in)
        kernel_rows = fwd[:, :n_taps].contiguous()
        prod = _products(xf, kernel, kernel_rows, ws)
        y = (inv @ prod.view(rows, -1)).view(block, n_blocks, cols, n_out)
        ctx.save_for_backward(xf, kernel, fwd, inv)
        ctx.dims = (steps, block, n_blocks, n_full)
        ctx.ws = ws
        y = y.transpose(0, 1).reshape(n_blocks * block, cols, n_out) if n_blocks > 1 else y[:, 0]
        return y[:steps]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:  # type: ignore[override]
        xf, kernel, fwd, inv = ctx.saved_tensors
        steps, block, n_blocks, n_full = ctx.dims
        n_taps, n_in, n_out = kernel.shape
        rows, length = fwd.shape
        cols = xf.shape[1] // n_blocks
        pad = n_blocks * block - steps
        g = F.pad(grad, (0, 0, 0, 0, 0, pad)) if pad else grad
        g = g.reshape(n_blocks, block, cols * n_out).transpose(0, 1).reshape(block, -1)
        gprod = _scratch(ctx.ws, "prod", (rows, n_blocks * cols * n_out), g)
        torch.mm(inv.T, g, out=gprod)
        gprod = gprod.view(rows, n_blocks * cols, n_out)
        kernel_rows = fwd[:, :n_taps].contiguous()
        gxf, g_kernel = _product_grads(
            xf, kernel, kernel_rows, gprod, ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.ws
        )
        g_full = None
        if gxf is not None:
            gsegs = (fwd.T @ gxf.view(rows, -1)).view(length, n_blocks, cols, n_in)
            g_full = gxf.new_zeros((n_blocks * block + n_taps - 1, cols, n_in))
            for s in range(n_blocks):  # overlapping segments add up
                g_full[s * block : s * block + length] += gsegs[:, s]
            g_full = g_full[:n_full]
        return g_full, g_kernel, None, None


def spectral_conv(full: Tensor, kernel: Tensor, steps: int, workspace: Workspace | None = None) -> Tensor:
    """``y[t] = sum_k full[D - 1 + t - k] @ kernel[k]`` by the spectral method.

    ``full`` ``[D - 1 + T, N, n_in]``, ``kernel`` ``[D, n_in, n_out]`` -> ``[T, N, n_out]``;
    ``workspace`` keeps the scratch buffers between calls."""
    out: Tensor = _SpectralConv.apply(full, kernel.contiguous(), steps, workspace)
    return out
