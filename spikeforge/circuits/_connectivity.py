"""The deterministic steps of connectivity generation that follow the random draws: the first
distinct values of each row of candidates (fixed in- and out-degrees), and the canonical (pre,
post) order of a projection's synapses. Compiled (:mod:`spikeforge.circuits._connect_kernel`)
when numba is installed, else in PyTorch; both give the same result, so connectivity does not
depend on whether numba is installed."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import torch
from torch import Tensor


def compiled() -> ModuleType | None:
    """The compiled helpers, or None without numba."""
    try:
        from . import _connect_kernel
    except ImportError:
        return None
    return _connect_kernel


def first_distinct(
    cand: Tensor, k: int, n: int, exclude_self: bool, row0: int, use_compiled: bool = True
) -> tuple[Tensor, Tensor]:
    """Per row ``r`` of ``cand`` (int64 ``[rows, m]``, values in ``[0, n)``), the first ``k``
    values in draw order that are distinct and, with ``exclude_self``, differ from ``row0 + r``.

    Returns ``(out [rows, k], short [rows] bool)``; a row with fewer than ``k`` such values is
    marked ``short`` (its ``out`` row is then undefined).
    """
    rows = cand.shape[0]
    kern = compiled() if use_compiled and cand.device.type == "cpu" else None
    if kern is not None:
        out_np = np.zeros((rows, k), np.int64)
        short_np = np.zeros(rows, np.bool_)
        kern.first_distinct(cand.contiguous().numpy(), k, n, exclude_self, row0, out_np, short_np)
        return torch.from_numpy(out_np), torch.from_numpy(short_np)
    values, order = torch.sort(cand, dim=1, stable=True)
    first_sorted = torch.ones_like(values, dtype=torch.bool)
    first_sorted[:, 1:] = values[:, 1:] != values[:, :-1]
    keep = torch.empty_like(first_sorted)
    keep.scatter_(1, order, first_sorted)
    if exclude_self:
        keep &= cand != torch.arange(row0, row0 + rows).unsqueeze(1)
    rank = torch.cumsum(keep, 1)
    keep &= rank <= k
    short = rank[:, -1] < k if cand.shape[1] else torch.full((rows,), k > 0)
    out = torch.zeros(rows, k, dtype=torch.int64)
    ok = ~short
    out[ok] = cand[ok][keep[ok]].reshape(int(ok.sum()), k)
    return out, short


def canonical_order(
    pre: Tensor, post: Tensor, n_pre: int, n_post: int, want_order: bool = True, use_compiled: bool = True
) -> tuple[Tensor | None, Tensor]:
    """``(order, post_sorted)``: the permutation sorting synapses by (pre, post), stable
    (multapses keep their order), i.e. ``argsort(pre * n_post + post, stable=True)``, or None when
    they are already in that order (or when not ``want_order``: only the sorted indices are
    needed); and the sorted post indices as int32."""
    kern = compiled() if use_compiled and pre.device.type == "cpu" and post.device.type == "cpu" else None
    if kern is not None and pre.numel() > 1:
        order, post_sorted = kern.canonical_order(
            pre.contiguous().numpy(), post.contiguous().numpy(), n_pre, n_post, want_order
        )
        return (torch.from_numpy(order) if order.size else None), torch.from_numpy(post_sorted)
    key = pre * max(n_post, 1) + post
    if bool((key[1:] >= key[:-1]).all()):
        return None, post.to(torch.int32)
    order = torch.argsort(key, stable=True)
    return (order if want_order else None), post[order].to(torch.int32)
