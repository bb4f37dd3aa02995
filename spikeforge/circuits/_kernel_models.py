"""Neuron steps of the compiled kernel (:mod:`spikeforge.circuits._kernel`) for the models other than
LIF: :class:`~spikeforge.neurons.ALIF`, :class:`~spikeforge.neurons.Izhikevich`,
:class:`~spikeforge.neurons.IF` and :class:`~spikeforge.neurons.ProbabilisticNeuron`. Each mirrors
its model's pure step function operation by operation
(:func:`~spikeforge.neurons.alif.alif_step`, :func:`~spikeforge.neurons.izhikevich.izhikevich_step`,
:func:`~spikeforge.neurons.integrate_fire.if_step`,
:func:`~spikeforge.neurons.probabilistic.probabilistic_step`), with its coefficients computed by the
model's own helpers when the network is packed, so that both paths give the same spikes and states.

Each function steps neurons ``[j0, j0 + m)`` of population ``p``, copy ``b``, from the input
``xb[:m]``, appends the indices of the neurons that spiked to ``spk`` after the ``cnt`` already
there and returns the new count. Parameters are read from ``prm`` at ``prm_meta[_NPRM * p + q]``
(``(offset, per-copy stride)``): neuron ``j`` at ``offset + b * stride + j * st``, with ``st = 0``
when the population shares its values (``pop_meta[p, 5] == 1``), else 1. Constants (the
Izhikevich step's numbers and dt) are stored in the network's float dtype, so that float32 runs use
float32 arithmetic as PyTorch does.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.extending import intrinsic

from ._kernel_philox import sigmoid, uniforms

#: parameter slots per population in ``prm_meta`` (ALIF: LIF's 7, rho, beta, the constant 1;
#: Izhikevich: a, b, c, d, v_peak, then the constants dt, dt/2, 0.04, 5, 140, 1; IF: v_th, v_reset, r;
#: ProbabilisticNeuron: k, v_leak, r, v_th, temperature, v_reset, q, log q, log(1 - q), the constant 1)
_NPRM = 11


@intrinsic
def fma(typingctx, a, b, c):  # type: ignore[no-untyped-def]
    """``a * b + c`` rounded once (LLVM's ``fma``), in the type of ``a``."""
    sig = a(a, a, a)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.fma(*args)

    return sig, codegen


@njit(cache=True, nogil=True)
def _at(prm_meta, q, b, j0, st):  # type: ignore[no-untyped-def]
    """Offset in ``prm`` of the value of slot ``q`` for copy ``b``, neuron ``j0``."""
    return prm_meta[q, 0] + b * prm_meta[q, 1] + j0 * st


@njit(cache=True, nogil=True)
def _alif(p, b, j0, m, cnt, store_i, pop_meta, V, I, REF, HELD, X, prm, prm_meta, xb, spk):  # type: ignore[no-untyped-def]
    """:func:`~spikeforge.neurons.alif.alif_step`: LIF's steps 1-3 (as the LIF kernel, ``torch.lerp``'s
    two formulas kept), the spike against ``v_th + beta * a`` (the adaptation before the step), the
    reset (``"subtract"`` lowers v by ``v_th + beta * a - v_reset``), the refractory count, then
    ``a <- z + rho * a``; marks the neurons whose v is held or reset in ``HELD`` as LIF does. The
    state's ``i`` without ``tau_syn`` is written only when ``store_i`` (see the LIF kernel)."""
    n = pop_meta[p, 0]
    po = pop_meta[p, 1]
    has_syn = pop_meta[p, 2] == 1
    subtract = pop_meta[p, 3] == 1
    refractory = pop_meta[p, 4] == 1
    st = 0 if pop_meta[p, 5] == 1 else 1
    write_i = store_i or has_syn
    o = po + j0
    v = V[b, o : o + m]
    ii = I[b, o : o + m]
    rf = REF[b, o : o + m]
    hd = HELD[b, o : o + m]
    ad = X[b, o : o + m]
    out = spk[b, po : po + n]
    q = _NPRM * p
    ok = _at(prm_meta, q, b, j0, st)
    oal = _at(prm_meta, q + 1, b, j0, st)
    ovl = _at(prm_meta, q + 2, b, j0, st)
    orr = _at(prm_meta, q + 3, b, j0, st)
    oth = _at(prm_meta, q + 4, b, j0, st)
    ovr = _at(prm_meta, q + 5, b, j0, st)
    onr = _at(prm_meta, q + 6, b, j0, st)
    orho = _at(prm_meta, q + 7, b, j0, st)
    obe = _at(prm_meta, q + 8, b, j0, st)
    one = prm[prm_meta[q + 9, 0]]
    zero = one - one
    for j in range(m):
        js = j * st
        x = xb[j]
        if has_syn:
            x = prm[oal + js] * ii[j] + x
        if write_i:
            ii[j] = x
        aj = ad[j]
        thr = prm[oth + js] + prm[obe + js] * aj  # A_t = v_th + beta * a_{t-1}
        z = False
        if refractory and rf[j] != 0:
            r = rf[j]
            rf[j] = r - 1 if r > 0 else 0
            hd[j] = True
        else:
            hd[j] = False
            vj = v[j]
            end = prm[ovl + js] + prm[orr + js] * x
            kk = prm[ok + js]
            if kk < 0.5:
                vv = vj + kk * (end - vj)
            else:
                vv = end - (end - vj) * (one - kk)
            if vv > thr:
                z = True
                vre = prm[ovr + js]
                vv = vv - (thr - vre) if subtract else vre
                nref = np.int32(prm[onr + js])
                hd[j] = not subtract or (refractory and nref > 0)
                if refractory:
                    rf[j] = nref
                out[cnt] = j0 + j
                cnt += 1
            v[j] = vv
        ad[j] = (one if z else zero) + prm[orho + js] * aj
    return cnt


@njit(cache=True, nogil=True)
def _izhikevich(p, b, j0, m, cnt, pop_meta, V, X, prm, prm_meta, xb, spk):  # type: ignore[no-untyped-def]
    """:func:`~spikeforge.neurons.izhikevich.izhikevich_step` with either integrator (``pop_meta[p,
    7]``: 0 ``"euler"``, 1 ``"izhikevich2003"``), the spike at ``v' - v_peak >= 0`` and the reset
    ``v <- (1 - z) v' + z c``, ``u <- u' + z d``, written as the step function writes them; v in
    ``V``, u in ``X``."""
    n = pop_meta[p, 0]
    po = pop_meta[p, 1]
    st = 0 if pop_meta[p, 5] == 1 else 1
    two_halves = pop_meta[p, 7] == 1
    o = po + j0
    v = V[b, o : o + m]
    u = X[b, o : o + m]
    out = spk[b, po : po + n]
    q = _NPRM * p
    oa = _at(prm_meta, q, b, j0, st)
    ob = _at(prm_meta, q + 1, b, j0, st)
    oc = _at(prm_meta, q + 2, b, j0, st)
    od = _at(prm_meta, q + 3, b, j0, st)
    op = _at(prm_meta, q + 4, b, j0, st)
    dt = prm[prm_meta[q + 5, 0]]
    h = prm[prm_meta[q + 6, 0]]
    c1 = prm[prm_meta[q + 7, 0]]  # 0.04
    c2 = prm[prm_meta[q + 8, 0]]  # 5
    c3 = prm[prm_meta[q + 9, 0]]  # 140
    one = prm[prm_meta[q + 10, 0]]
    zero = one - one
    for j in range(m):
        js = j * st
        vj = v[j]
        uj = u[j]
        x = xb[j]
        if two_halves:
            vh = vj + h * (c1 * (vj * vj) + c2 * vj + c3 - uj + x)
            vn = vh + h * (c1 * (vh * vh) + c2 * vh + c3 - uj + x)
            un = uj + dt * (prm[oa + js] * (prm[ob + js] * vn - uj))
        else:
            vn = vj + dt * (c1 * (vj * vj) + c2 * vj + c3 - uj + x)
            un = uj + dt * (prm[oa + js] * (prm[ob + js] * vj - uj))
        if vn - prm[op + js] >= zero:
            v[j] = (one - one) * vn + one * prm[oc + js]
            u[j] = un + one * prm[od + js]
            out[cnt] = j0 + j
            cnt += 1
        else:
            v[j] = one * vn + zero * prm[oc + js]
            u[j] = un + zero * prm[od + js]
    return cnt


@njit(cache=True, nogil=True)
def _integrate_fire(p, b, j0, m, cnt, pop_meta, V, prm, prm_meta, xb, spk):  # type: ignore[no-untyped-def]
    """:func:`~spikeforge.neurons.integrate_fire.if_step`: ``v <- v + r x``, a spike where
    ``v - v_th > 0``, the reset to ``v_reset`` or by ``v_th - v_reset`` (``pop_meta[p, 3]``)."""
    n = pop_meta[p, 0]
    po = pop_meta[p, 1]
    subtract = pop_meta[p, 3] == 1
    st = 0 if pop_meta[p, 5] == 1 else 1
    o = po + j0
    v = V[b, o : o + m]
    out = spk[b, po : po + n]
    q = _NPRM * p
    oth = _at(prm_meta, q, b, j0, st)
    ovr = _at(prm_meta, q + 1, b, j0, st)
    orr = _at(prm_meta, q + 2, b, j0, st)
    for j in range(m):
        js = j * st
        vv = v[j] + prm[orr + js] * xb[j]
        th = prm[oth + js]
        if vv - th > 0:
            vv = vv - (th - prm[ovr + js]) if subtract else prm[ovr + js]
            out[cnt] = j0 + j
            cnt += 1
        v[j] = vv
    return cnt


@njit(cache=True, nogil=True, error_model="numpy")
def _probabilistic(p, b, s, j0, m, cnt, pop_meta, V, X, prm, prm_meta, xb, spk, k0, k1, ub):  # type: ignore[no-untyped-def]
    """:func:`~spikeforge.neurons.probabilistic.probabilistic_step`: release where the first uniform
    is below q, ``v <- torch.lerp(v, v_leak + r (m x), k)`` (ATen's fused multiply-adds), the spike
    where the second uniform is below ``p = sigmoid((v - v_th) / T)`` (``_kernel_philox.sigmoid``,
    rounded to the network dtype; ``p > 1/2`` and ``m = q`` when deterministic, ``pop_meta[p, 7]``),
    ``log_prob`` (in ``X``) gaining ``log P(m) + log P(z)``, and the reset to v_reset. The uniforms
    are the counter-based ones of streams ``pop_meta[p, 8]`` (release) and ``+ 1`` (spike), key
    ``(k0, k1)``, into ``ub[0, :m]`` and ``ub[1, :m]``."""
    n = pop_meta[p, 0]
    po = pop_meta[p, 1]
    st = 0 if pop_meta[p, 5] == 1 else 1
    deterministic = pop_meta[p, 7] == 1
    o = po + j0
    v = V[b, o : o + m]
    lp = X[b, o : o + m]
    out = spk[b, po : po + n]
    q = _NPRM * p
    ok = _at(prm_meta, q, b, j0, st)
    ovl = _at(prm_meta, q + 1, b, j0, st)
    orr = _at(prm_meta, q + 2, b, j0, st)
    oth = _at(prm_meta, q + 3, b, j0, st)
    otm = _at(prm_meta, q + 4, b, j0, st)
    ovr = _at(prm_meta, q + 5, b, j0, st)
    oq = _at(prm_meta, q + 6, b, j0, st)
    olq = _at(prm_meta, q + 7, b, j0, st)
    olnq = _at(prm_meta, q + 8, b, j0, st)
    one = prm[prm_meta[q + 9, 0]]
    zero = one - one
    f32 = V.itemsize == 4
    if not deterministic:
        strm = pop_meta[p, 8]
        uniforms(k0, k1, strm, s, j0, m, f32, ub[0])
        uniforms(k0, k1, strm + 1, s, j0, m, f32, ub[1])
    for j in range(m):
        js = j * st
        qj = prm[oq + js]
        if deterministic:
            mj = qj
        else:
            hit = ub[0, j] < qj
            mj = one if hit else zero
            lp[j] = lp[j] + (prm[olq + js] if hit else prm[olnq + js])
        end = prm[ovl + js] + prm[orr + js] * (mj * xb[j])
        vj = v[j]
        kk = prm[ok + js]
        if abs(kk) < 0.5:
            vv = fma(kk, end - vj, vj)  # type: ignore[call-arg, var-annotated]
        else:
            vv = fma(vj - end, one - kk, end)  # type: ignore[call-arg]
        a = (vv - prm[oth + js]) / prm[otm + js]
        if f32:
            pj = np.float64(np.float32(sigmoid(np.float64(a))))
        else:
            pj = sigmoid(np.float64(a))
        if deterministic:
            z = pj > 0.5
        else:
            z = ub[1, j] < pj
            # binary_cross_entropy_with_logits(a, z) = (1 - z) a - log_sigmoid(a), as ATen writes it
            ls = min(a, zero) - math.log1p(math.exp(-abs(a)))
            lp[j] = lp[j] - (((one - one) if z else one) * a - ls)
        if z:
            v[j] = prm[ovr + js]
            out[cnt] = j0 + j
            cnt += 1
        else:
            v[j] = vv
    return cnt
