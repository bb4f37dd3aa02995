r"""The counter-based random numbers of a network: Philox4x32-10 (Salmon, Moraes, Dror & Shaw
2011, "Parallel random numbers: as easy as 1, 2, 3"; the generator of Random123 and cuRAND), in
PyTorch. The compiled engine computes the same integers in numba
(:mod:`spikeforge.circuits._kernel_philox`), so both engines draw the very same numbers.

A draw is a pure function of a key and a counter, never of a generator's history:

* **key** (2 words): the copy's noise seed (``Network.noise_seeds[b]``) modulo :math:`2^{64}`,
  ``(seed & 0xFFFFFFFF, seed >> 32 & 0xFFFFFFFF)``. Copy ``b`` of a batch therefore draws what an
  unbatched network with ``noise_seed=noise_seeds[b]`` draws.
* **counter** (4 words): ``(j >> 1, step & 0xFFFFFFFF, step >> 32, stream)``: neuron ``j`` (its pair
  ``j >> 1``), the step, and the stream of the consumer (:func:`stream`: the kind, Poisson group,
  Poisson input or Gaussian current, and its ordinal among the network's inputs of that kind).

So a run split anywhere equals one run, the generator state is just the step count, and any
order of evaluation (threads, devices, chunks) gives the same numbers.

The four output words ``(x0, x1, x2, x3)`` of a counter serve the two neurons of a pair: neuron
``j`` takes ``(a, b) = (x0, x1)`` when ``j`` is even, ``(x2, x3)`` when odd.

* uniform, float64: :math:`u = ((a \gg 5)\,2^{26} + (b \gg 6))\,2^{-53}`, the 53-bit grid on
  :math:`[0, 1 - 2^{-53}]` (Random123's and numpy's mapping);
* uniform, float32: :math:`u = (a \gg 8)\,2^{-24}`, the 24-bit grid on :math:`[0, 1 - 2^{-24}]`;
* normal (float64, Box-Muller, one counter for the pair): :math:`u_1, u_2` the float64 uniforms
  of ``(x0, x1)`` and ``(x2, x3)``, :math:`R = \sqrt{-2 \ln(1 - u_1)}`, neuron ``2k`` gets
  :math:`R\cos(2\pi u_2)` and ``2k + 1`` gets :math:`R\sin(2\pi u_2)`. The logarithm, square
  root, cosine and sine are evaluated by :func:`_log`, :func:`_sqrt`, :func:`_cos_sin_2pi` with
  additions, multiplications, divisions, comparisons and ``frexp`` only (each correctly rounded
  in IEEE arithmetic), so that PyTorch and numba give bitwise the same normals (library
  ``log``/``cos``/``sqrt`` differ by an ulp between implementations; PyTorch's ``sqrt`` with
  AVX-512 is not correctly rounded). Their error is below 1e-15 relative.
* firing probability of a stochastic neuron (``ProbabilisticNeuron`` in a network), two streams
  per population (:func:`neuron_streams`: release, then spike, uniforms in the network dtype):
  :func:`sigmoid`, :math:`1/(1 + e^{-a})` evaluated in float64 with the same exact operations
  (:func:`_exp`: a Cody-Waite reduction, a Taylor polynomial and an exact scaling by a power of two),
  then rounded to the network dtype, so that both engines compare each uniform with the very same
  probability (PyTorch's own ``sigmoid`` uses a vectorised ``exp`` that differs by an ulp from
  the scalar one, and from numba's).

Integers are held in int64 tensors (values below :math:`2^{32}`); the 32x32-bit products are
split into 16-bit halves so that nothing overflows on any device.

Example:
    >>> import torch
    >>> from spikeforge.circuits._philox import philox4x32
    >>> w = [torch.tensor(v) for v in (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344)]
    >>> out = philox4x32(*w, torch.tensor(0xA4093822), torch.tensor(0x299F31D0))
    >>> [f"{int(x):08x}" for x in out]  # Random123's kat_vectors
    ['d16cfe09', '94fdcceb', '5001e420', '24126ea1']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "KIND_POISSON_GROUP",
    "KIND_POISSON_INPUT",
    "KIND_NORMAL",
    "KIND_NEURON",
    "neuron_streams",
    "sigmoid",
    "stream",
    "NormalNoise",
    "keys",
    "philox4x32",
    "uniform",
    "normal",
]

MASK = 0xFFFFFFFF
M0, M1 = 0xD2511F53, 0xCD9E8D57  # multipliers
W0, W1 = 0x9E3779B9, 0xBB67AE85  # Weyl key increments
ROUNDS = 10

#: stream kinds (the high bits of the stream word)
KIND_POISSON_GROUP = 1
KIND_POISSON_INPUT = 2
KIND_NORMAL = 3
KIND_NEURON = 4  # stochastic neurons: ordinals 2k (release) and 2k + 1 (spike) of population k

# Box-Muller helpers: log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716: the series to
# s^25 leaves < 1e-19; cos and sin of y = (pi / 2) r, r in [0, 1): Taylor to y^28 and y^27.
LN2 = 0.6931471805599453
SQRT_HALF = 0.7071067811865476
HALF_PI = 1.5707963267948966
ATANH = [1.0 / (2 * k + 1) for k in range(13)]
SQRT_UP = (16, 8, 4, 2, 1)  # scalings by 4**k of small values
SQRT_DOWN = (16, 8, 4, 2, 1)  # and of large ones (y >= 4**(k - 1): times 4**-k)
NEWTON = 6
COS = [(-1.0) ** k / math.factorial(2 * k) for k in range(15)]
SIN = [(-1.0) ** k / math.factorial(2 * k + 1) for k in range(14)]
# exp(x), |x| <= EXP_MAX: x = k ln2 + r (fdlibm's two-part ln2: k * LN2_HI is exact), |r| <= ln2 / 2,
# exp(r) by Taylor to r^13 (< 1e-17 relative), times 2**k (|k| <= 1022: a normal double, built from
# its exponent bits, exactly what numba's ldexp gives)
EXP_MAX = 708.0
INV_LN2 = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
EXP = [1.0 / math.factorial(k) for k in range(14)]


class NormalNoise:
    """Base of a current made of ``amplitude * N(0, 1)`` counter-based normals of stream
    ``stream`` keyed by ``seeds`` (one per copy, or one for all): the compiled engine draws such a
    current in its kernel instead of calling it."""

    amplitude: Tensor  # [n] or [1], float64
    seeds: list[int]
    stream: int
    n: int


def stream(kind: int, index: int) -> int:
    """The stream word of the ``index``-th consumer of a kind (``KIND_*``), below 2**32."""
    return (kind << 24) | index


def neuron_streams(k: int) -> tuple[int, int]:
    """The streams (release, spike) of the ``k``-th stochastic neuron population of a network."""
    return stream(KIND_NEURON, 2 * k), stream(KIND_NEURON, 2 * k + 1)


def keys(seeds: Sequence[int]) -> list[tuple[int, int]]:
    """The Philox keys ``(k0, k1)`` of the copies' noise seeds (each taken modulo 2**64)."""
    return [(int(s) & MASK, (int(s) >> 32) & MASK) for s in seeds]


def _mulhilo(a: Tensor, m: int) -> tuple[Tensor, Tensor]:
    """``(hi, lo)`` 32-bit words of ``a * m`` (``a`` int64 below 2**32) without overflow."""
    lo_part = a * (m & 0xFFFF)  # < 2**48
    hi_part = a * (m >> 16)  # < 2**48
    t = lo_part + ((hi_part & 0xFFFF) << 16)  # < 2**49
    return (hi_part >> 16) + (t >> 32), t & MASK


def philox4x32(c0: Tensor, c1: Tensor, c2: Tensor, c3: Tensor, k0: Tensor, k1: Tensor) -> tuple[Tensor, ...]:
    """Philox4x32-10 of counters ``(c0, c1, c2, c3)`` and keys ``(k0, k1)``: int64 tensors with
    values in ``[0, 2**32)``, broadcast together; returns the four output words (int64)."""
    for r in range(ROUNDS):
        if r:
            k0 = (k0 + W0) & MASK
            k1 = (k1 + W1) & MASK
        hi0, lo0 = _mulhilo(c0, M0)
        hi1, lo1 = _mulhilo(c2, M1)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def philox4x32_reference(ctr: Sequence[int], key: Sequence[int]) -> tuple[int, int, int, int]:
    """Philox4x32-10 on Python integers (the textbook loop, for tests)."""
    c = [int(x) & MASK for x in ctr]
    k = [int(x) & MASK for x in key]
    for r in range(ROUNDS):
        if r:
            k = [(k[0] + W0) & MASK, (k[1] + W1) & MASK]
        p0, p1 = M0 * c[0], M1 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & MASK, (p0 >> 32) ^ c[3] ^ k[1], p0 & MASK]
    return c[0], c[1], c[2], c[3]


def _words(
    seeds: Sequence[int], strm: int, steps: Tensor, n: int, device: torch.device
) -> tuple[Tensor, ...]:
    """The four words for steps ``[C]`` (int64), copies ``[B]`` and pairs ``[(n + 1) // 2]``:
    ``[C, B, pairs]`` each."""
    kk = torch.tensor(keys(seeds), dtype=torch.int64, device=device).reshape(1, -1, 2)
    st = steps.to(device=device, dtype=torch.int64).reshape(-1, 1, 1)
    pair = torch.arange((n + 1) // 2, dtype=torch.int64, device=device).reshape(1, 1, -1)
    c3 = torch.full((), strm, dtype=torch.int64, device=device)
    return philox4x32(pair, st & MASK, (st >> 32) & MASK, c3, kk[..., 0:1], kk[..., 1:2])


def _interleave(even: Tensor, odd: Tensor, n: int) -> Tensor:
    """``[..., pairs]`` values of even and odd neurons as ``[..., n]``."""
    return torch.stack((even, odd), -1).flatten(-2)[..., :n].contiguous()


def _u53(a: Tensor, b: Tensor) -> Tensor:
    return ((a >> 5) * 67108864 + (b >> 6)).to(torch.float64) * 2.0**-53


def uniform(
    seeds: Sequence[int],
    strm: int,
    steps: Tensor,
    n: int,
    dtype: torch.dtype,
    device: torch.device | None = None,
) -> Tensor:
    """Uniforms in [0, 1) ``[C, B, n]`` of dtype float32 or float64 for ``steps`` ``[C]``, the
    copies' ``seeds`` ``[B]`` and neurons ``0..n-1`` of stream ``strm`` (module docstring). On the
    CPU with numba installed the numba implementation fills them (the same numbers, faster)."""
    device = torch.device("cpu") if device is None else device
    kp = _numba() if device.type == "cpu" else None
    if kp is None:
        return _uniform_torch(seeds, strm, steps, n, dtype, device)
    out = np.empty((steps.numel(), len(seeds), n), np.float64)
    kp.fill_uniforms(np.array(keys(seeds), np.uint64), strm, _steps(steps), dtype == torch.float32, out)
    return torch.from_numpy(out).to(dtype)


def _uniform_torch(
    seeds: Sequence[int], strm: int, steps: Tensor, n: int, dtype: torch.dtype, device: torch.device
) -> Tensor:
    """:func:`uniform` in PyTorch operations (any device)."""
    x0, x1, x2, x3 = _words(seeds, strm, steps, n, device)
    if dtype == torch.float64:
        return _interleave(_u53(x0, x1), _u53(x2, x3), n)
    return _interleave(x0 >> 8, x2 >> 8, n).to(dtype) * 2.0**-24


def _numba() -> Any:
    """The numba implementation (:mod:`spikeforge.circuits._kernel_philox`), or None without numba."""
    try:
        from . import _kernel_philox
    except ImportError:  # pragma: no cover - numba is optional
        return None
    return _kernel_philox


def _steps(steps: Tensor) -> np.ndarray:
    return np.ascontiguousarray(steps.detach().cpu().reshape(-1).numpy().astype(np.int64))


def _log(x: Tensor) -> Tensor:
    """``ln(x)`` for float64 ``x > 0`` by frexp and the atanh series (module docstring)."""
    m, e = torch.frexp(x)
    low = m < SQRT_HALF
    m = torch.where(low, m * 2.0, m)
    e = (e - low.to(e.dtype)).to(torch.float64)
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    acc = torch.full_like(s, ATANH[-1])
    for c in reversed(ATANH[:-1]):
        acc = acc * s2 + c
    return e * LN2 + 2.0 * s * acc


def _cos_sin_2pi(u: Tensor) -> tuple[Tensor, Tensor]:
    """``cos(2 pi u)`` and ``sin(2 pi u)`` for float64 ``u`` in [0, 1) (module docstring)."""
    x = u * 4.0
    q = torch.floor(x)
    y = (x - q) * HALF_PI
    y2 = y * y
    c = torch.full_like(y, COS[-1])
    for k in reversed(COS[:-1]):
        c = c * y2 + k
    s = torch.full_like(y, SIN[-1])
    for k in reversed(SIN[:-1]):
        s = s * y2 + k
    s = s * y
    qi = q.to(torch.int64)
    cos = torch.where(qi == 0, c, torch.where(qi == 1, -s, torch.where(qi == 2, -c, s)))
    sin = torch.where(qi == 0, s, torch.where(qi == 1, c, torch.where(qi == 2, -s, -c)))
    return cos, sin


def _sqrt(y: Tensor) -> Tensor:
    """``sqrt(y)`` for float64 ``y`` 0 or in [2**-62, 2**62) by exact scalings by powers of 4 into
    [1/4, 1), a linear first guess and :data:`NEWTON` Newton steps (``torch.sqrt`` is not
    correctly rounded on every CPU, so it would differ from numba's in the last bit)."""
    y0 = y
    f = torch.ones_like(y)
    for k in SQRT_UP:
        lo = y < 4.0**-k
        y = torch.where(lo, y * 4.0**k, y)
        f = torch.where(lo, f * 2.0**-k, f)
    for k in SQRT_DOWN:
        hi = y >= 4.0 ** (k - 1)
        y = torch.where(hi, y * 4.0**-k, y)
        f = torch.where(hi, f * 2.0**k, f)
    g = (y - 0.25) * (2.0 / 3.0) + 0.5
    for _ in range(NEWTON):
        g = (g + y / g) * 0.5
    return torch.where(y0 == 0.0, y0, g * f)


def normal(
    seeds: Sequence[int], strm: int, steps: Tensor, n: int, device: torch.device | None = None
) -> Tensor:
    """Standard normals ``[C, B, n]`` (float64) by Box-Muller (module docstring); on the CPU with
    numba installed filled by the numba implementation (the same numbers, faster)."""
    device = torch.device("cpu") if device is None else device
    kp = _numba() if device.type == "cpu" else None
    if kp is None:
        return _normal_torch(seeds, strm, steps, n, device)
    out = np.empty((steps.numel(), len(seeds), n), np.float64)
    kp.fill_normals(np.array(keys(seeds), np.uint64), strm, _steps(steps), out)
    return torch.from_numpy(out)


def _normal_torch(seeds: Sequence[int], strm: int, steps: Tensor, n: int, device: torch.device) -> Tensor:
    """:func:`normal` in PyTorch operations (any device)."""
    x0, x1, x2, x3 = _words(seeds, strm, steps, n, device)
    r = _sqrt(-2.0 * _log(1.0 - _u53(x0, x1)))
    cos, sin = _cos_sin_2pi(_u53(x2, x3))
    return _interleave(r * cos, r * sin, n)


def _exp(x: Tensor) -> Tensor:
    """``exp(x)`` for float64 ``x`` clamped to ``[-EXP_MAX, EXP_MAX]`` (module docstring)."""
    x = x.clamp(-EXP_MAX, EXP_MAX)
    k = torch.floor(x * INV_LN2 + 0.5)
    r = (x - k * LN2_HI) - k * LN2_LO
    acc = torch.full_like(r, EXP[-1])
    for c in reversed(EXP[:-1]):
        acc = acc * r + c
    pow2 = ((k.to(torch.int64) + 1023) << 52).view(torch.float64)  # 2**k, exact
    return acc * pow2


def sigmoid(a: Tensor) -> Tensor:
    """The logistic function of ``a`` (float32 or float64) as both engines compute it:
    ``1 / (1 + exp(-a))`` in float64 by :func:`_exp`, rounded to ``a``'s dtype; differentiable.
    ``exp`` saturates at ``|a| = 708``, so below ``a = -708`` the value stays at about 3e-308
    (``torch.sigmoid`` goes on down to 0).

    Example:
        >>> import torch
        >>> from spikeforge.circuits._philox import sigmoid
        >>> a = torch.tensor([-800.0, -2.0, 0.0, 3.5, 40.0], dtype=torch.float64)
        >>> bool(torch.allclose(sigmoid(a), torch.sigmoid(a), rtol=1e-15, atol=1e-300))
        True
        >>> float(sigmoid(a)[0]) > 0.0
        True
    """
    return (1.0 / (1.0 + _exp(-a.to(torch.float64)))).to(a.dtype)
