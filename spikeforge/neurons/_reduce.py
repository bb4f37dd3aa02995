"""Gradients of broadcast parameters, shared by the hand-written backward passes (the LIF scan
and the Triton kernels)."""

from __future__ import annotations

from torch import Tensor


def _reduce_to(g: Tensor, like: Tensor) -> Tensor:
    """Sum a broadcast gradient back to the shape of ``like``."""
    if g.shape == like.shape:
        return g
    lead = g.dim() - like.dim()
    g = g.sum(dim=tuple(range(lead))) if lead > 0 else g
    dims = tuple(d for d, s in enumerate(like.shape) if s == 1 and g.shape[d] != 1)
    return g.sum(dim=dims, keepdim=True) if dims else g
