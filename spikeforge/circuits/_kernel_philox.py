"""Philox4x32-10 in numba: the integers of :mod:`spikeforge.circuits._philox` (its docstring
defines the key, the counter and the mappings to uniforms and normals), as pure functions of
``(key, counter)``, so that they give the same numbers for any thread count and call order.

Every integer is a uint64 below 2**32 (numba would turn a uint64 mixed with an int64 into a
float, so every constant is a uint64)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# the constants and the series' coefficients are written out (LN2, SQRT_HALF, HALF_PI, ATANH,
# COS, SIN of _philox, tested equal; _philox imports this module, so this one does not import it),
# so that the loops calling them unroll and vectorise
LN2 = math.log(2.0)
SQRT_HALF = math.sqrt(0.5)
HALF_PI = math.pi / 2
EXP_MAX = 708.0
INV_LN2 = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10

_MASK = np.uint64(0xFFFFFFFF)
_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_S5, _S6, _S8, _S32 = np.uint64(5), np.uint64(6), np.uint64(8), np.uint64(32)
_T26 = np.uint64(67108864)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
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


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def words(k0, k1, strm, s, pair):  # type: ignore[no-untyped-def]
    """The four words of neuron pair ``pair`` in step ``s`` of stream ``strm`` (ints), key ``(k0, k1)``."""
    us = np.uint64(s)
    return philox4x32(np.uint64(pair), us & _MASK, (us >> _S32) & _MASK, np.uint64(strm), k0, k1)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def u53(a, b):  # type: ignore[no-untyped-def]
    """The float64 uniform of two words."""
    return np.float64((a >> _S5) * _T26 + (b >> _S6)) * 1.1102230246251565e-16


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def u24(a):  # type: ignore[no-untyped-def]
    """The float32 uniform of a word."""
    return np.float32(a >> _S8) * np.float32(5.960464477539063e-08)


@njit(cache=True, nogil=True, error_model="numpy")
def uniforms(k0, k1, strm, s, j0, m, f32, out):  # type: ignore[no-untyped-def]
    """Uniforms of neurons ``[j0, j0 + m)`` in step ``s`` into ``out[:m]`` (float64 values; on the
    float32 grid when ``f32``). The pairs run in a loop without branches (it vectorises)."""
    if m <= 0:
        return
    q = 0
    j = j0
    if j & 1 == 1:  # the odd half of the first pair
        x0, x1, x2, x3 = words(k0, k1, strm, s, j >> 1)
        out[0] = np.float64(u24(x2)) if f32 else u53(x2, x3)
        q = 1
        j += 1
    npair = (m - q) >> 1
    p0 = j >> 1
    if f32:
        for k in range(npair):
            x0, x1, x2, x3 = words(k0, k1, strm, s, p0 + k)
            out[q + 2 * k] = np.float64(u24(x0))
            out[q + 2 * k + 1] = np.float64(u24(x2))
    else:
        for k in range(npair):
            x0, x1, x2, x3 = words(k0, k1, strm, s, p0 + k)
            out[q + 2 * k] = u53(x0, x1)
            out[q + 2 * k + 1] = u53(x2, x3)
    q += 2 * npair
    if q < m:  # the even half of the last pair
        x0, x1, x2, x3 = words(k0, k1, strm, s, (j0 + q) >> 1)
        out[q] = np.float64(u24(x0)) if f32 else u53(x0, x1)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _log(x):  # type: ignore[no-untyped-def]
    """``ln(x)`` for ``x`` in [2**-64, 1], as :func:`spikeforge.circuits._philox._log`: the same
    mantissa and exponent as frexp's, found by exact scalings by powers of two (no branches, so
    that the loops calling it vectorise)."""
    e = 0.0
    lo = x < 2.0**-32
    x = x * 2.0**32 if lo else x
    e = e - 32.0 if lo else e
    lo = x < 2.0**-16
    x = x * 2.0**16 if lo else x
    e = e - 16.0 if lo else e
    lo = x < 2.0**-8
    x = x * 2.0**8 if lo else x
    e = e - 8.0 if lo else e
    lo = x < 2.0**-4
    x = x * 2.0**4 if lo else x
    e = e - 4.0 if lo else e
    lo = x < 2.0**-2
    x = x * 2.0**2 if lo else x
    e = e - 2.0 if lo else e
    lo = x < 0.5
    x = x * 2.0 if lo else x
    e = e - 1.0 if lo else e
    low = x < SQRT_HALF
    x = x * 2.0 if low else x
    e = e - 1.0 if low else e
    s = (x - 1.0) / (x + 1.0)
    s2 = s * s
    acc = 0.04
    acc = acc * s2 + 0.043478260869565216
    acc = acc * s2 + 0.047619047619047616
    acc = acc * s2 + 0.05263157894736842
    acc = acc * s2 + 0.058823529411764705
    acc = acc * s2 + 0.06666666666666667
    acc = acc * s2 + 0.07692307692307693
    acc = acc * s2 + 0.09090909090909091
    acc = acc * s2 + 0.1111111111111111
    acc = acc * s2 + 0.14285714285714285
    acc = acc * s2 + 0.2
    acc = acc * s2 + 0.3333333333333333
    acc = acc * s2 + 1.0
    return e * LN2 + 2.0 * s * acc


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _sqrt(y):  # type: ignore[no-untyped-def]
    """:func:`spikeforge.circuits._philox._sqrt`, the same operations."""
    y0 = y
    f = 1.0
    lo = y < 2.3283064365386963e-10
    y = y * 4294967296.0 if lo else y
    f = f * 1.52587890625e-05 if lo else f
    lo = y < 1.52587890625e-05
    y = y * 65536.0 if lo else y
    f = f * 0.00390625 if lo else f
    lo = y < 0.00390625
    y = y * 256.0 if lo else y
    f = f * 0.0625 if lo else f
    lo = y < 0.0625
    y = y * 16.0 if lo else y
    f = f * 0.25 if lo else f
    lo = y < 0.25
    y = y * 4.0 if lo else y
    f = f * 0.5 if lo else f
    hi = y >= 1073741824.0
    y = y * 2.3283064365386963e-10 if hi else y
    f = f * 65536.0 if hi else f
    hi = y >= 16384.0
    y = y * 1.52587890625e-05 if hi else y
    f = f * 256.0 if hi else f
    hi = y >= 64.0
    y = y * 0.00390625 if hi else y
    f = f * 16.0 if hi else f
    hi = y >= 4.0
    y = y * 0.0625 if hi else y
    f = f * 4.0 if hi else f
    hi = y >= 1.0
    y = y * 0.25 if hi else y
    f = f * 2.0 if hi else f
    g = (y - 0.25) * (2.0 / 3.0) + 0.5
    g = (g + y / g) * 0.5
    g = (g + y / g) * 0.5
    g = (g + y / g) * 0.5
    g = (g + y / g) * 0.5
    g = (g + y / g) * 0.5
    g = (g + y / g) * 0.5
    return y0 if y0 == 0.0 else g * f


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _cos_sin_2pi(u):  # type: ignore[no-untyped-def]
    x = u * 4.0
    q = np.floor(x)
    y = (x - q) * HALF_PI
    y2 = y * y
    c = 3.279889237069838e-30
    c = c * y2 + -2.4795962632247972e-27
    c = c * y2 + 1.6117375710961184e-24
    c = c * y2 + -8.896791392450574e-22
    c = c * y2 + 4.110317623312165e-19
    c = c * y2 + -1.5619206968586225e-16
    c = c * y2 + 4.779477332387385e-14
    c = c * y2 + -1.1470745597729725e-11
    c = c * y2 + 2.08767569878681e-09
    c = c * y2 + -2.755731922398589e-07
    c = c * y2 + 2.48015873015873e-05
    c = c * y2 + -0.001388888888888889
    c = c * y2 + 0.041666666666666664
    c = c * y2 + -0.5
    c = c * y2 + 1.0
    s = -9.183689863795546e-29
    s = s * y2 + 6.446950284384474e-26
    s = s * y2 + -3.8681701706306835e-23
    s = s * y2 + 1.9572941063391263e-20
    s = s * y2 + -8.22063524662433e-18
    s = s * y2 + 2.8114572543455206e-15
    s = s * y2 + -7.647163731819816e-13
    s = s * y2 + 1.6059043836821613e-10
    s = s * y2 + -2.505210838544172e-08
    s = s * y2 + 2.7557319223985893e-06
    s = s * y2 + -0.0001984126984126984
    s = s * y2 + 0.008333333333333333
    s = s * y2 + -0.16666666666666666
    s = s * y2 + 1.0
    s = s * y
    # quadrant q (a float in 0..3): selects without branches
    even = (q == 0.0) | (q == 2.0)
    a = c if even else s
    b = s if even else c
    a = -a if (q == 1.0) | (q == 2.0) else a
    b = -b if q >= 2.0 else b
    return a, b


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _exp(x):  # type: ignore[no-untyped-def]
    """:func:`spikeforge.circuits._philox._exp`, the same operations (float64)."""
    x = min(max(x, -EXP_MAX), EXP_MAX)
    k = np.floor(x * INV_LN2 + 0.5)
    r = (x - k * LN2_HI) - k * LN2_LO
    acc = 1.6059043836821613e-10
    acc = acc * r + 2.08767569878681e-09
    acc = acc * r + 2.505210838544172e-08
    acc = acc * r + 2.755731922398589e-07
    acc = acc * r + 2.7557319223985893e-06
    acc = acc * r + 2.48015873015873e-05
    acc = acc * r + 0.0001984126984126984
    acc = acc * r + 0.001388888888888889
    acc = acc * r + 0.008333333333333333
    acc = acc * r + 0.041666666666666664
    acc = acc * r + 0.16666666666666666
    acc = acc * r + 0.5
    acc = acc * r + 1.0
    acc = acc * r + 1.0
    return acc * math.ldexp(1.0, int(k))


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def sigmoid(a):  # type: ignore[no-untyped-def]
    """:func:`spikeforge.circuits._philox.sigmoid` of a float64 ``a``, in float64 (the caller
    rounds it to the network dtype)."""
    return 1.0 / (1.0 + _exp(-a))


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _pair_normals(k0, k1, strm, s, pair):  # type: ignore[no-untyped-def]
    x0, x1, x2, x3 = words(k0, k1, strm, s, pair)
    r = _sqrt(-2.0 * _log(1.0 - u53(x0, x1)))
    c, sn = _cos_sin_2pi(u53(x2, x3))
    return r * c, r * sn


@njit(cache=True, nogil=True, error_model="numpy")
def normals(k0, k1, strm, s, j0, m, out):  # type: ignore[no-untyped-def]
    """Standard normals (Box-Muller) of neurons ``[j0, j0 + m)`` in step ``s`` into ``out[:m]``."""
    if m <= 0:
        return
    q = 0
    j = j0
    if j & 1 == 1:
        out[0] = _pair_normals(k0, k1, strm, s, j >> 1)[1]
        q = 1
        j += 1
    npair = (m - q) >> 1
    p0 = j >> 1
    for k in range(npair):
        a, b = _pair_normals(k0, k1, strm, s, p0 + k)
        out[q + 2 * k] = a
        out[q + 2 * k + 1] = b
    q += 2 * npair
    if q < m:
        out[q] = _pair_normals(k0, k1, strm, s, (j0 + q) >> 1)[0]


@njit(cache=True, nogil=True, error_model="numpy")
def table_counts(tab, u, m, cnt):  # type: ignore[no-untyped-def]
    """``cnt[:m]``: the smallest ``c`` with ``u[j] < tab[c]`` (``tab.size`` if none), for the
    nondecreasing CDF table ``tab`` shared by the block: the number of entries ``<= u[j]``,
    counted entry by entry up to the largest ``u`` over the whole block at once (it vectorises;
    the same counts as a binary search, without its unpredictable branches)."""
    umax = 0.0
    for j in range(m):
        cnt[j] = 0
        umax = max(umax, u[j])
    c = 0
    while c < tab.shape[0] and tab[c] <= umax:
        f = tab[c]
        for j in range(m):
            cnt[j] += f <= u[j]
        c += 1


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
def fill_uniforms(keys, strm, steps, f32, out):  # type: ignore[no-untyped-def]
    """``out[c, b, :]``: the uniforms of step ``steps[c]``, key ``keys[b]`` (the PyTorch
    engine's draws on the CPU)."""
    n = out.shape[2]
    for c in range(steps.shape[0]):
        for b in range(keys.shape[0]):
            uniforms(keys[b, 0], keys[b, 1], strm, steps[c], 0, n, f32, out[c, b])


@njit(cache=True, nogil=True, error_model="numpy")
def fill_normals(keys, strm, steps, out):  # type: ignore[no-untyped-def]
    """``out[c, b, :]``: the standard normals of step ``steps[c]``, key ``keys[b]``."""
    n = out.shape[2]
    for c in range(steps.shape[0]):
        for b in range(keys.shape[0]):
            normals(keys[b, 0], keys[b, 1], strm, steps[c], 0, n, out[c, b])
