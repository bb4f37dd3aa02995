"""Compiled helpers of connectivity generation (numba, CPU): the deterministic parts that follow
the random draws of :mod:`spikeforge.circuits._connectivity`. Imported only when numba is
installed; :mod:`~spikeforge.circuits._connectivity` holds the PyTorch versions, which give the
same results (the tests compare them)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def first_distinct(cand, k, n, exclude_self, row0, out, short):  # pragma: no cover - compiled
    """For each row ``r`` of ``cand`` ``[rows, m]`` (values in ``[0, n)``): the first ``k`` values
    in draw order that are distinct (and differ from ``row0 + r`` when ``exclude_self``), into
    ``out[r]``; ``short[r]`` is set when the row holds fewer than ``k`` such values."""
    rows, m = cand.shape
    seen = np.zeros(n, np.uint8)
    for r in range(rows):
        me = row0 + r if exclude_self else -1
        c = 0
        for j in range(m):
            v = cand[r, j]
            if v == me or seen[v]:
                continue
            seen[v] = 1
            out[r, c] = v
            c += 1
            if c == k:
                break
        for j in range(c):
            seen[out[r, j]] = 0
        short[r] = c < k


@njit(cache=True, nogil=True)
def canonical_order(pre, post, n_pre, n_post, want_order):  # pragma: no cover - compiled
    """``(order, post_sorted)``: the permutation that sorts synapses by (pre, post), stable (ties
    keep their order), as the stable argsort of ``pre * n_post + post`` (empty when they are
    already sorted, or when not ``want_order``), and ``post[order]`` as int32. Two counting-sort
    passes (by post, then by pre), the first skipped when post is already non-decreasing (as a
    fixed in-degree makes it); O(n_synapses + n_pre + n_post)."""
    nnz = pre.size
    in_order = True
    post_rising = True
    for s in range(1, nnz):
        if post[s] < post[s - 1]:
            post_rising = False
            if pre[s] <= pre[s - 1]:
                in_order = False
        elif pre[s] < pre[s - 1]:
            in_order = False
        if not in_order and not post_rising:
            break
    if in_order:
        return np.zeros(0, np.int64), post.astype(np.int32)
    first = np.zeros(0, np.int64)
    if not post_rising:
        first = np.empty(nnz, np.int64)
        start = np.zeros(n_post + 1, np.int64)
        for s in range(nnz):
            start[post[s] + 1] += 1
        for i in range(n_post):
            start[i + 1] += start[i]
        for s in range(nnz):
            q = post[s]
            first[start[q]] = s
            start[q] += 1
    start = np.zeros(n_pre + 1, np.int64)
    for s in range(nnz):
        start[pre[s] + 1] += 1
    for i in range(n_pre):
        start[i + 1] += start[i]
    order = np.empty(nnz if want_order else 0, np.int64)
    post_sorted = np.empty(nnz, np.int32)
    for t in range(nnz):
        s = t if post_rising else first[t]
        q = pre[s]
        if want_order:
            order[start[q]] = s
        post_sorted[start[q]] = post[s]
        start[q] += 1
    return order, post_sorted
