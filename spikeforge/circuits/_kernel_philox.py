"""Philox4x32-10 in numba: the integers of :mod:`spikeforge.circuits._philox` (its docstring
defines the key, the counter and the mappings to uniforms and normals), as pure functions of
``(key, counter)``, so that they give the same numbers for any thread count and call order.

Every integer is a uint64 below 2**32 (numba would turn a uint64 mixed with an int64 into a
float, so every constant is a uint64)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._philox import ATANH, COS, HALF_PI, LN2, SIN, SQRT_HALF

_MASK = np.uint64(0xFFFFFFFF)
_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_S5, _S6, _S8, _S32 = np.uint64(5), np.uint64(6), np.uint64(8), np.uint64(32)
_T26 = np.uint64(67108864)
_A = np.array(ATANH, np.float64)
_C = np.array(COS, np.float64)
_S = np.array(SIN, np.float64)


@njit(cache=True, nogil=True, inline="always")
def philox4x32(c0, c1, c2, c3, k0, k1):  # type: ignore[no-untyped-def]
    """Philox4x32-10 of the counter ``(c0, c1, c2, c3)`` and key ``(k0, k1)`` (uint64 below 2**32)."""
    for r in range(10):
        if r > 0:
            k0 = (k0 + _W0) & _MASK
            k1 = (k1 + _W1) & _MASK
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = (p1 >> _S32) ^ c1 ^ k0, p1 & _MASK, (p0 >> _S32) ^ c3 ^ k1, p0 & _MASK
    return c0, c1, c2, c3


@njit(cache=True, nogil=True, inline="always")
def words(k0, k1, strm, s, pair):  # type: ignore[no-untyped-def]
    """The four words of neuron pair ``pair`` in step ``s`` of stream ``strm`` (ints), key ``(k0, k1)``."""
    us = np.uint64(s)
    return philox4x32(np.uint64(pair), us & _MASK, (us >> _S32) & _MASK, np.uint64(strm), k0, k1)


@njit(cache=True, nogil=True, inline="always")
def u53(a, b):  # type: ignore[no-untyped-def]
    """The float64 uniform of two words."""
    return np.float64((a >> _S5) * _T26 + (b >> _S6)) * 1.1102230246251565e-16


@njit(cache=True, nogil=True, inline="always")
def u24(a):  # type: ignore[no-untyped-def]
    """The float32 uniform of a word."""
    return np.float32(a >> _S8) * np.float32(5.960464477539063e-08)


@njit(cache=True, nogil=True)
def uniforms(k0, k1, strm, s, j0, m, f32, out):  # type: ignore[no-untyped-def]
    """Uniforms of neurons ``[j0, j0 + m)`` in step ``s`` into ``out[:m]`` (float64 values; on the
    float32 grid when ``f32``)."""
    j = j0
    q = 0
    while q < m:
        x0, x1, x2, x3 = words(k0, k1, strm, s, j >> 1)
        if j & 1 == 0:
            out[q] = np.float64(u24(x0)) if f32 else u53(x0, x1)
            q += 1
            j += 1
            if q == m:
                break
        out[q] = np.float64(u24(x2)) if f32 else u53(x2, x3)
        q += 1
        j += 1


@njit(cache=True, nogil=True, inline="always")
def _log(x):  # type: ignore[no-untyped-def]
    m, e = math.frexp(x)
    fe = np.float64(e)
    if m < SQRT_HALF:
        m = m * 2.0
        fe = np.float64(e - 1)
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    acc = _A[12]
    for k in range(11, -1, -1):
        acc = acc * s2 + _A[k]
    return fe * LN2 + 2.0 * s * acc


@njit(cache=True, nogil=True, inline="always")
def _cos_sin_2pi(u):  # type: ignore[no-untyped-def]
    x = u * 4.0
    q = np.floor(x)
    y = (x - q) * HALF_PI
    y2 = y * y
    c = _C[14]
    for k in range(13, -1, -1):
        c = c * y2 + _C[k]
    s = _S[13]
    for k in range(12, -1, -1):
        s = s * y2 + _S[k]
    s = s * y
    qi = int(q)
    if qi == 0:
        return c, s
    if qi == 1:
        return -s, c
    if qi == 2:
        return -c, -s
    return s, -c


@njit(cache=True, nogil=True)
def normals(k0, k1, strm, s, j0, m, out):  # type: ignore[no-untyped-def]
    """Standard normals (Box-Muller) of neurons ``[j0, j0 + m)`` in step ``s`` into ``out[:m]``."""
    j = j0
    q = 0
    while q < m:
        x0, x1, x2, x3 = words(k0, k1, strm, s, j >> 1)
        r = np.sqrt(-2.0 * _log(1.0 - u53(x0, x1)))
        c, sn = _cos_sin_2pi(u53(x2, x3))
        if j & 1 == 0:
            out[q] = r * c
            q += 1
            j += 1
            if q == m:
                break
        out[q] = r * sn
        q += 1
        j += 1


@njit(cache=True, nogil=True)
def poisson_events(s0, C, B, is_pg, size, strm, keys, p_data, p_meta, f32, src_ptr, src_id, ext_ptr, ext_id):  # type: ignore[no-untyped-def]
    """The input groups' spikes of steps ``[s0, s0 + C)`` into the CSR ``(ext_ptr, ext_id)`` over
    (step, copy, group): Poisson group ``g`` (``is_pg[g]``) spikes where its uniform is below its
    probability (``p_data[p_meta[g, 0] + t * p_meta[g, 1] + b * p_meta[g, 2] + j * p_meta[g, 3]]``,
    network dtype values held in float64), the other groups' spikes are copied from the CSR
    ``(src_ptr, src_id)``. Returns the number of spikes, or -1 when ``ext_id`` is too small."""
    G = is_pg.shape[0]
    cap = ext_id.shape[0]
    ub = np.empty(2048, np.float64)
    cnt = 0
    for t in range(C):
        s = s0 + t
        for b in range(B):
            k0 = keys[b, 0]
            k1 = keys[b, 1]
            for g in range(G):
                e0 = (t * B + b) * G + g
                ext_ptr[e0] = cnt
                if is_pg[g] == 0:
                    for q in range(src_ptr[e0], src_ptr[e0 + 1]):
                        if cnt >= cap:
                            return -1
                        ext_id[cnt] = src_id[q]
                        cnt += 1
                    continue
                n = size[g]
                po = p_meta[g, 0] + t * p_meta[g, 1] + b * p_meta[g, 2]
                sn = p_meta[g, 3]
                for j0 in range(0, n, 2048):
                    m = min(n - j0, 2048)
                    uniforms(k0, k1, strm[g], s, j0, m, f32, ub)
                    if cnt + m > cap:
                        return -1
                    for j in range(m):
                        if ub[j] < p_data[po + (j0 + j) * sn]:
                            ext_id[cnt] = j0 + j
                            cnt += 1
    ext_ptr[C * B * G] = cnt
    return cnt
