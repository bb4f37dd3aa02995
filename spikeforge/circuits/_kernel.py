"""The compiled multi-step kernel of :class:`~spikeforge.circuits.Network` (numba, CPU, no
gradients). Imported only when a network runs on this path, so ``import spikeforge`` never needs
numba.

It advances a whole network by many steps per call, in the order of
:mod:`spikeforge.circuits.network`, for LIF populations (``spikeforge.neurons.LIF``: exact or
Euler, with or without ``tau_syn``, both resets, refractoriness), every synapse kind of
:mod:`spikeforge.circuits.synapses`, sparse projections with per-synapse delays, input groups and
currents, Gaussian noise currents and Poisson inputs (drawn in the kernel from the counter-based
generator of :mod:`spikeforge.circuits._kernel_philox`; see :func:`run_steps`). The maths
mirrors :func:`spikeforge.neurons.lif.lif_step` operation by operation (its coefficients come
from :func:`~spikeforge.neurons.lif.lif_coefficients`, and ``torch.lerp``'s two formulas are
kept); the tests check that both paths give the same spikes. ALIF, Izhikevich, IF and
ProbabilisticNeuron populations step in :mod:`spikeforge.circuits._kernel_models` (model code in
``pop_meta[p, 6]``; a stochastic population's first stream in ``pop_meta[p, 8]``).

Layout: flat arrays whose slices are the network's state tensors (modified in place).

* Neurons: ``V``, ``I``, ``X`` (float: v, i, and Izhikevich's u or ALIF's a) and ``REF`` (int32),
  ``[B, N]`` over all populations, population ``p`` from column ``pop_meta[p, 1]``. A LIF's seven
  parameters (k, alpha, v_leak, r, v_th, v_reset, n_ref) are in ``prm`` at ``off + b * bs``
  (``(off, bs) = prm_meta[_NPRM * p + q]``): one value each when ``pop_meta[p, 5] == 1`` (shared
  by the population), else ``n`` values; the other models' slots are listed at ``_NPRM``.
* Projections ("channels", sorted by target, delta synapses first): synaptic states in ``GS`` and
  ``HS`` ``[B, *]``, ring buffers in ``R`` ``[B, *]`` (``L`` slots of ``n_post`` per channel), and
  one CSR over all channels (row pointers hold absolute synapse indices). A channel whose delays
  are all 0 is "direct": its spikes are added straight into the target state in phase 5, which
  nothing reads before phase 1 of the next step, so no ring buffer is needed.

Propagation is event-driven (only the rows of neurons that spiked are read), the neuron loops run
in blocks of ``_BLOCK`` neurons so that the input buffer stays in L1, and nothing is allocated per
step. Every hot loop runs over ``range(m)`` from 0 on slices, so that numba emits no
negative-index handling.

A step runs in parts: part ``k`` of ``nt`` owns the neurons ``[n k / nt, n (k + 1) / nt)`` of
every population and of every channel's targets (:func:`_span`). :func:`_update_part` runs
phases 1, 3 and 4 of its neurons, :func:`_propagate_part` phase 5 onto them (and the Poisson
inputs), and the serial pieces run between (:func:`_step_flags`, :func:`_sample`, :func:`_gather`
which joins the parts' spikes in ascending order, :func:`_record`). :func:`run_steps` runs one
part on the calling thread (no parallel region: a run on one thread never starts a thread pool);
:mod:`spikeforge.circuits._kernel_threads` runs ``nt`` parts on numba's threads, with the same
results bit for bit. After editing this file, delete ``__pycache__/*.nb?`` (numba's cache of the
threaded kernel checks only its own file's time stamp).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# numba's cache of run_steps does not see edits of _kernel_models.py or _kernel_plastic.py (it
# checks this file's time stamp only): after editing those, touch this one
from ._kernel_models import _NPRM, _alif, _integrate_fire, _izhikevich, _probabilistic
from ._kernel_philox import normals, table_counts, uniforms
from ._kernel_plastic import learn

# kind codes: see synapses.py
_DELTA = 0
_EXP = 1
_ALPHA = 2
_EXP_COND = 3
_ALPHA_COND = 4

# ch_meta columns
_POST, _KIND, _L, _SRC, _FIELD, _SHARED_D, _HAS_W, _DONE, _GOFF, _HOFF, _ROFF, _IPOFF, _NPOST, _DIRECT = (
    range(14)
)
_BLOCK = 2048  # neurons per block (16 KiB of float64 input)
# a Poisson input's block that shares one CDF table of at most this many entries (mean count up to
# about 250 per step) is counted against it at once (table_counts, one pass per count up to the
# block's largest); longer tables are searched per neuron (measured: at once is 4x faster at a mean
# of 2, even at about 400, 2x slower at 900)
_TABLE_AT_ONCE = 512
# neuron model codes (pop_meta column 6)
_M_LIF = 0
_M_ALIF = 1
_M_IZHIKEVICH = 2
_M_IF = 3
_M_PROBABILISTIC = 4


@njit(cache=True, nogil=True)
def _deliver(
    c,
    b,
    s,
    j0,
    m,
    deliver_only,
    ch_meta,
    ch_val,
    ch_gain,
    coef,
    coef_meta,
    GS,
    HS,
    R,
    V,
    I,
    HELD,
    pop_meta,
    xb,
):  # type: ignore[no-untyped-def]
    """Phase 1 (delivery from the ring, unless already done this step or the channel is direct)
    and, unless ``deliver_only``, phase 3 (current into ``xb[:m]``, then the decay) of channel
    ``c``, copy ``b``, target neurons ``[j0, j0 + m)``."""
    kind = ch_meta[c, _KIND]
    n = ch_meta[c, _NPOST]
    rb = ch_meta[c, _ROFF] + (s % ch_meta[c, _L]) * n + j0
    rr = R[b, rb : rb + m]
    zero = ch_val[c, 0] - ch_val[c, 0]
    gain = ch_gain[c, b]
    decay = ch_val[c, 0]
    coupling = ch_val[c, 1]
    jump = ch_val[c, 2]
    e_rev = ch_val[c, 3]
    deliver = ch_meta[c, _DONE] == 0 and ch_meta[c, _DIRECT] == 0
    po = pop_meta[ch_meta[c, _POST], 1] + j0
    v = V[b, po : po + m]
    if kind == _DELTA:
        if deliver:
            on_v = ch_meta[c, _FIELD] == 0
            target = v if on_v else I[b, po : po + m]
            hd = HELD[b, po : po + m]
            for j in range(m):
                a = rr[j]
                if a != zero:
                    rr[j] = zero
                    if not (on_v and hd[j]):  # a jump of v is lost after a held or reset step
                        target[j] += gain * a
        return
    go = ch_meta[c, _GOFF] + j0
    g = GS[b, go : go + m]
    o1 = coef_meta[2 * c, 0] + b * coef_meta[2 * c, 1]
    per_neuron = coef_meta[2 * c, 2] == 1
    if kind == _EXP or kind == _EXP_COND:
        if deliver:
            for j in range(m):
                g[j] += gain * rr[j]
                rr[j] = zero
        if deliver_only:
            return
        if kind == _EXP:
            if per_neuron:
                cc = coef[o1 + j0 : o1 + j0 + m]
                for j in range(m):
                    gj = g[j]
                    xb[j] += cc[j] * gj
                    g[j] = gj * decay
            else:
                c1 = coef[o1]
                for j in range(m):
                    gj = g[j]
                    xb[j] += c1 * gj
                    g[j] = gj * decay
        else:
            for j in range(m):
                gj = g[j]
                xb[j] += gj * (e_rev - v[j])
                g[j] = gj * decay
        return
    # alpha kernels: state (g, h), delivery into h
    ho = ch_meta[c, _HOFF] + j0
    h = HS[b, ho : ho + m]
    if deliver:
        for j in range(m):
            h[j] += jump * (gain * rr[j])
            rr[j] = zero
    if deliver_only:
        return
    if kind == _ALPHA:
        o2 = coef_meta[2 * c + 1, 0] + b * coef_meta[2 * c + 1, 1]
        if per_neuron:
            cc1 = coef[o1 + j0 : o1 + j0 + m]
            cc2 = coef[o2 + j0 : o2 + j0 + m]
            for j in range(m):
                gj = g[j]
                hj = h[j]
                xb[j] += cc1[j] * gj + cc2[j] * hj
                g[j] = decay * gj + coupling * hj
                h[j] = decay * hj
        else:
            c1 = coef[o1]
            c2 = coef[o2]
            for j in range(m):
                gj = g[j]
                hj = h[j]
                xb[j] += c1 * gj + c2 * hj
                g[j] = decay * gj + coupling * hj
                h[j] = decay * hj
    else:
        for j in range(m):
            gj = g[j]
            hj = h[j]
            xb[j] += gj * (e_rev - v[j])
            g[j] = decay * gj + coupling * hj
            h[j] = decay * hj


@njit(cache=True, nogil=True)
def _lif_vector(v, rf, hd, xb, zb, m, k, vl, rr, th, vre, nref):  # type: ignore[no-untyped-def]
    """The common LIF block (shared parameters, no tau_syn, reset to a value, refractoriness,
    k < 1/2) without branches, so that it vectorises: marks spikes in ``zb`` and the neurons held
    or reset in ``hd``, returns the spike count."""
    fired = 0
    for j in range(m):
        r = rf[j]
        vj = v[j]
        end = vl + rr * xb[j]
        vv = vj + k * (end - vj)
        act = r == 0
        vv = vv if act else vj
        sp = act and vv > th
        v[j] = vre if sp else vv
        rf[j] = nref if sp else (r - 1 if r > 0 else 0)
        zb[j] = sp
        hd[j] = sp or not act
        fired += sp
    return fired


@njit(cache=True, nogil=True)
def _lif_shared(
    v, ii, rf, hd, xb, out, m, j0, cnt, k, al, vl, rr, th, vre, nref, has_syn, write_i, subtract, refractory
):  # type: ignore[no-untyped-def]
    """The LIF step of a block whose parameters are shared scalars."""
    gap = th - vre
    one_k = (k - k + 1) - k
    small = k < 0.5
    for j in range(m):
        x = xb[j]
        if has_syn:
            x = al * ii[j] + x
        if write_i:
            ii[j] = x
        if refractory:
            r = rf[j]
            if r != 0:
                rf[j] = r - 1 if r > 0 else 0
                hd[j] = True
                continue
        hd[j] = False
        vj = v[j]
        end = vl + rr * x
        if small:
            vv = vj + k * (end - vj)
        else:
            vv = end - (end - vj) * one_k
        if vv > th:
            vv = vv - gap if subtract else vre
            hd[j] = not subtract or (refractory and nref > 0)
            if refractory:
                rf[j] = nref
            out[cnt] = j0 + j
            cnt += 1
        v[j] = vv
    return cnt


@njit(cache=True, nogil=True)
def _lif_arrays(
    v, ii, rf, hd, xb, out, m, j0, cnt, k, al, vl, rr, th, vre, nref, has_syn, write_i, subtract, refractory
):  # type: ignore[no-untyped-def]
    """The LIF step of a block with one value of each parameter per neuron."""
    for j in range(m):
        x = xb[j]
        if has_syn:
            x = al[j] * ii[j] + x
        if write_i:
            ii[j] = x
        if refractory:
            r = rf[j]
            if r != 0:
                rf[j] = r - 1 if r > 0 else 0
                hd[j] = True
                continue
        hd[j] = False
        vj = v[j]
        end = vl[j] + rr[j] * x
        kk = k[j]
        if kk < 0.5:
            vv = vj + kk * (end - vj)
        else:
            vv = end - (end - vj) * ((kk - kk + 1) - kk)
        t = th[j]
        if vv > t:
            vv = vv - (t - vre[j]) if subtract else vre[j]
            hd[j] = not subtract or (refractory and nref[j] > 0)
            if refractory:
                rf[j] = np.int32(nref[j])
            out[cnt] = j0 + j
            cnt += 1
        v[j] = vv
    return cnt


@njit(cache=True, nogil=True)
def _lif(p, b, j0, m, cnt, store_i, pop_meta, V, I, REF, HELD, prm, prm_meta, xb, zb, spk):  # type: ignore[no-untyped-def]
    """Steps 1-5 of lif_step for neurons ``[j0, j0 + m)`` of population ``p``, copy ``b``; appends
    spike indices after the ``cnt`` already in ``spk`` and returns the new count.

    Without ``tau_syn`` the state's ``i`` (the last input) feeds nothing, so it is written only
    when ``store_i`` (before a state sample and at the last step of a call), which saves memory
    traffic; the state equals lif_step's whenever it can be observed."""
    n = pop_meta[p, 0]
    po = pop_meta[p, 1]
    has_syn = pop_meta[p, 2] == 1
    subtract = pop_meta[p, 3] == 1
    refractory = pop_meta[p, 4] == 1
    write_i = store_i or has_syn
    a = po + j0
    v = V[b, a : a + m]
    ii = I[b, a : a + m]
    rf = REF[b, a : a + m]
    hd = HELD[b, a : a + m]
    out = spk[b, po : po + n]
    q = _NPRM * p
    if pop_meta[p, 5] == 1:
        k = prm[prm_meta[q, 0] + b * prm_meta[q, 1]]
        al = prm[prm_meta[q + 1, 0] + b * prm_meta[q + 1, 1]]
        vl = prm[prm_meta[q + 2, 0] + b * prm_meta[q + 2, 1]]
        rr = prm[prm_meta[q + 3, 0] + b * prm_meta[q + 3, 1]]
        th = prm[prm_meta[q + 4, 0] + b * prm_meta[q + 4, 1]]
        vre = prm[prm_meta[q + 5, 0] + b * prm_meta[q + 5, 1]]
        nref = np.int32(prm[prm_meta[q + 6, 0] + b * prm_meta[q + 6, 1]])
        if refractory and not has_syn and not subtract and k < 0.5:
            if write_i:
                for j in range(m):
                    ii[j] = xb[j]
            if _lif_vector(v, rf, hd, xb, zb, m, k, vl, rr, th, vre, nref):
                for j in range(m):
                    if zb[j]:
                        out[cnt] = j0 + j
                        cnt += 1
            return cnt
        return _lif_shared(
            v,
            ii,
            rf,
            hd,
            xb,
            out,
            m,
            j0,
            cnt,
            k,
            al,
            vl,
            rr,
            th,
            vre,
            nref,
            has_syn,
            write_i,
            subtract,
            refractory,
        )
    o = prm_meta[q, 0] + b * prm_meta[q, 1] + j0
    k_ = prm[o : o + m]
    o = prm_meta[q + 1, 0] + b * prm_meta[q + 1, 1] + j0
    al_ = prm[o : o + m]
    o = prm_meta[q + 2, 0] + b * prm_meta[q + 2, 1] + j0
    vl_ = prm[o : o + m]
    o = prm_meta[q + 3, 0] + b * prm_meta[q + 3, 1] + j0
    rr_ = prm[o : o + m]
    o = prm_meta[q + 4, 0] + b * prm_meta[q + 4, 1] + j0
    th_ = prm[o : o + m]
    o = prm_meta[q + 5, 0] + b * prm_meta[q + 5, 1] + j0
    vre_ = prm[o : o + m]
    o = prm_meta[q + 6, 0] + b * prm_meta[q + 6, 1] + j0
    nref_ = prm[o : o + m]
    return _lif_arrays(
        v,
        ii,
        rf,
        hd,
        xb,
        out,
        m,
        j0,
        cnt,
        k_,
        al_,
        vl_,
        rr_,
        th_,
        vre_,
        nref_,
        has_syn,
        write_i,
        subtract,
        refractory,
    )


@njit(cache=True, nogil=True)
def _span(n, k, nt):  # type: ignore[no-untyped-def]
    """Part ``k`` of ``nt`` of ``n`` neurons: ``[n k / nt, n (k + 1) / nt)``, contiguous and
    ascending, so that the parts of a population and of every channel onto it coincide."""
    return n * k // nt, n * (k + 1) // nt


@njit(cache=True, nogil=True)
def _first_at_least(post, lo, hi, x):  # type: ignore[no-untyped-def]
    """The first synapse in ``[lo, hi)`` whose target is >= ``x`` (targets ascend within a row)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if post[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def _row(ip, i, post, a, z, n):  # type: ignore[no-untyped-def]
    """The synapses of row ``i`` whose targets lie in ``[a, z)`` (of ``n``), as a range."""
    lo = ip[i]
    hi = ip[i + 1]
    if a > 0:
        lo = _first_at_least(post, lo, hi, a)
    if z < n:
        hi = _first_at_least(post, lo, hi, z)
    return lo, hi


@njit(cache=True, nogil=True)
def _ring(lst, b, base, L, n, roff, ip, post, w, d, sd, has_w, wsh, R, a, z):  # type: ignore[no-untyped-def]
    """Phase 5 of one channel for copy ``b``: the synapses of the neurons ``lst`` onto the targets
    ``[a, z)`` into the ring."""
    for q in range(lst.shape[0]):
        lo, hi = _row(ip, lst[q], post, a, z, n)
        if sd >= 0:
            slot = base + sd
            if slot >= L:
                slot -= L
            o = roff + slot * n
            row = R[b, o : o + n]
            if has_w:
                for syn in range(lo, hi):
                    row[post[syn]] += w[syn]
            else:
                for syn in range(lo, hi):
                    row[post[syn]] += wsh
        else:
            row = R[b, roff : roff + L * n]
            for syn in range(lo, hi):
                slot = base + d[syn]
                if slot >= L:
                    slot -= L
                if has_w:
                    row[slot * n + post[syn]] += w[syn]
                else:
                    row[slot * n + post[syn]] += wsh


@njit(cache=True, nogil=True)
def _direct(lst, ip, post, w, has_w, wsh, scale, tgt, hd, on_v, a, z):  # type: ignore[no-untyped-def]
    """Phase 5 of a direct channel: the synapses of the neurons ``lst`` onto the targets ``[a, z)``
    straight into the target state ``tgt`` (sequentially, as Brian2's ``on_pre``), times ``scale``
    (gain, e for alpha); with ``on_v`` (jumps of v), not into the neurons held or reset in this
    step (``hd``)."""
    n = tgt.shape[0]
    for q in range(lst.shape[0]):
        lo, hi = _row(ip, lst[q], post, a, z, n)
        if has_w:
            for syn in range(lo, hi):
                j = post[syn]
                if not (on_v and hd[j]):
                    tgt[j] += scale * w[syn]
        else:
            sw = scale * wsh
            for syn in range(lo, hi):
                j = post[syn]
                if not (on_v and hd[j]):
                    tgt[j] += sw


@njit(cache=True, nogil=True)
def _step_flags(s, t0, n_steps, B, mon_total, out_n, cap, sm_meta):  # type: ignore[no-untyped-def]
    """-1 when the spike record buffers could overflow in step ``s`` (the call stops before it),
    else ``sampling + 2 * store_i``: a state monitor samples in this step; ``i`` must be stored
    (the next step samples, or this may be the call's last step)."""
    if mon_total > 0:
        for b in range(B):
            if out_n[b] + mon_total > cap:
                return -1
    sampling = False
    store_i = t0 == n_steps - 1
    for m_ in range(sm_meta.shape[0]):
        if s % sm_meta[m_, 0] == 0:
            sampling = True
        if (s + 1) % sm_meta[m_, 0] == 0:
            store_i = True
    if mon_total > 0:
        for b in range(B):
            if out_n[b] + 2 * mon_total > cap:
                store_i = True  # this may be the last step of the call
    return int(sampling) + 2 * int(store_i)


@njit(cache=True, nogil=True)
def _deliver_part(
    k, nt, s, B, ch_meta, ch_val, ch_gain, coef, coef_meta, GS, HS, R, V, I, HELD, pop_meta, xb
):  # type: ignore[no-untyped-def]
    """Phase 1 of every channel and copy for the targets of part ``k`` (before a state sample)."""
    for b in range(B):
        for c in range(ch_meta.shape[0]):
            lo, hi = _span(ch_meta[c, _NPOST], k, nt)
            if hi > lo:
                _deliver(
                    c,
                    b,
                    s,
                    lo,
                    hi - lo,
                    True,
                    ch_meta,
                    ch_val,
                    ch_gain,
                    coef,
                    coef_meta,
                    GS,
                    HS,
                    R,
                    V,
                    I,
                    HELD,
                    pop_meta,
                    xb[k],
                )


@njit(cache=True, nogil=True)
def _sample(s, B, ch_meta, sm_meta, sm_cols, V, I, REF, GS, HS, X, out_state):  # type: ignore[no-untyped-def]
    """Phase 2 (after phase 1 of every channel, which is marked done): the state at t = s * dt."""
    for c in range(ch_meta.shape[0]):
        ch_meta[c, _DONE] = 1
    for b in range(B):
        for k in range(sm_cols.shape[0]):
            mi = sm_cols[k, 0]
            if s % sm_meta[mi, 0] != 0:
                continue
            kind = sm_cols[k, 1]
            j = sm_cols[k, 2]
            if kind == 0:
                val = np.float64(V[b, j])
            elif kind == 1:
                val = np.float64(I[b, j])
            elif kind == 2:
                val = np.float64(REF[b, j])
            elif kind == 3:
                val = np.float64(GS[b, j])
            elif kind == 4:
                val = np.float64(HS[b, j])
            else:
                val = np.float64(X[b, j])
            out_state[sm_meta[mi, 2] + (sm_meta[mi, 3] * B + b) * sm_meta[mi, 1] + sm_cols[k, 3]] = val


@njit(cache=True, nogil=True)
def _update_part(  # type: ignore[no-untyped-def]
    k,
    nt,
    s,
    t,
    B,
    store_i,
    pop_meta,
    V,
    I,
    REF,
    HELD,
    X,
    prm,
    prm_meta,
    ch_meta,
    ch_val,
    ch_gain,
    coef,
    coef_meta,
    GS,
    HS,
    R,
    cur_meta,
    cur_data,
    rng_key,
    cur_amp,
    spk,
    part_n,
    xb,
    zb,
    nb,
    xt,
    ub,
):
    """Phases 1 (unless done), 3 (synaptic input) and 4 (neurons) of part ``k`` of every population
    and copy, in blocks of neurons so that the part's input buffer ``xb[k]`` stays in the L1 cache
    (``zb[k]``, ``nb[k]``, ``xt[k]``, ``ub[k]``: its other scratch rows). The part's spikes go to
    ``spk`` from its first neuron on, their count to ``part_n[b, p, k]``."""
    xk = xb[k]
    zk = zb[k]
    nk = nb[k]
    tk = xt[k]
    uk = ub[k]
    zero = xk[0] - xk[0]
    for b in range(B):
        for p in range(pop_meta.shape[0]):
            lo, hi = _span(pop_meta[p, 0], k, nt)
            cnt = lo
            for j0 in range(lo, hi, _BLOCK):
                m = min(hi - j0, _BLOCK)
                for j in range(m):
                    xk[j] = zero
                for q in range(cur_meta.shape[0]):
                    if cur_meta[q, 0] != p:
                        continue
                    if cur_meta[q, 5] == 1:  # amplitude * N(0, 1), float64, then the network dtype
                        kr = cur_meta[q, 7]
                        normals(rng_key[kr, b, 0], rng_key[kr, b, 1], cur_meta[q, 6], s, j0, m, nk)
                        ao = cur_meta[q, 1]
                        if cur_meta[q, 4] == 1:
                            ca = cur_amp[ao + j0 : ao + j0 + m]
                            for j in range(m):
                                tk[j] = ca[j] * nk[j]
                        else:
                            a1 = cur_amp[ao]
                            for j in range(m):
                                tk[j] = a1 * nk[j]
                        for j in range(m):
                            xk[j] += tk[j]
                        continue
                    off = cur_meta[q, 1] + t * cur_meta[q, 2] + b * cur_meta[q, 3]
                    if cur_meta[q, 4] == 1:
                        cd = cur_data[off + j0 : off + j0 + m]
                        for j in range(m):
                            xk[j] += cd[j]
                    else:
                        cv = cur_data[off]
                        for j in range(m):
                            xk[j] += cv
                for c in range(ch_meta.shape[0]):
                    if ch_meta[c, _POST] == p:
                        _deliver(
                            c,
                            b,
                            s,
                            j0,
                            m,
                            False,
                            ch_meta,
                            ch_val,
                            ch_gain,
                            coef,
                            coef_meta,
                            GS,
                            HS,
                            R,
                            V,
                            I,
                            HELD,
                            pop_meta,
                            xk,
                        )
                model = pop_meta[p, 6]
                if model == _M_LIF:
                    cnt = _lif(
                        p, b, j0, m, cnt, store_i, pop_meta, V, I, REF, HELD, prm, prm_meta, xk, zk, spk
                    )
                elif model == _M_IZHIKEVICH:
                    cnt = _izhikevich(p, b, j0, m, cnt, pop_meta, V, X, prm, prm_meta, xk, spk)
                elif model == _M_ALIF:
                    cnt = _alif(
                        p, b, j0, m, cnt, store_i, pop_meta, V, I, REF, HELD, X, prm, prm_meta, xk, spk
                    )
                elif model == _M_PROBABILISTIC:
                    k0, k1 = rng_key[0, b, 0], rng_key[0, b, 1]
                    cnt = _probabilistic(
                        p, b, s, j0, m, cnt, pop_meta, V, X, prm, prm_meta, xk, spk, k0, k1, uk
                    )
                else:
                    cnt = _integrate_fire(p, b, j0, m, cnt, pop_meta, V, prm, prm_meta, xk, spk)
            part_n[b, p, k] = cnt - lo


@njit(cache=True, nogil=True)
def _gather(nt, B, pop_meta, spk, spk_n, part_n):  # type: ignore[no-untyped-def]
    """Joins the parts' spike lists of every population and copy into one ascending list (the
    order of one part), from ``spk[b, po:]`` on, and sets ``spk_n``."""
    for b in range(B):
        for p in range(pop_meta.shape[0]):
            n = pop_meta[p, 0]
            so = pop_meta[p, 1]
            cnt = part_n[b, p, 0]
            for k in range(1, nt):
                lo = _span(n, k, nt)[0]
                m = part_n[b, p, k]
                if cnt != lo:  # cnt <= lo: moving down is safe in ascending order
                    for q in range(m):
                        spk[b, so + cnt + q] = spk[b, so + lo + q]
                cnt += m
            spk_n[b, p] = cnt


@njit(cache=True, nogil=True)
def _propagate_part(  # type: ignore[no-untyped-def]
    k,
    nt,
    s,
    t,
    B,
    pop_meta,
    V,
    I,
    HELD,
    ch_meta,
    ch_val,
    ch_gain,
    GS,
    HS,
    R,
    indptr,
    post,
    w,
    d,
    G,
    ext_ptr,
    ext_id,
    spk,
    spk_n,
    pin_meta,
    pin_data,
    pin_idx,
    pin_tab,
    pin_tab_meta,
    rng_key,
    nb,
    xt,
    pc,
):
    """Phase 5 for the targets of part ``k`` of every channel and copy: this step's spikes into the
    ring buffers (direct channels: into the target state, which nothing reads before the next
    step's phase 1), then the Poisson inputs onto the part (``nb[k]``, ``xt[k]``, ``pc[k]``: its
    scratch rows of uniforms, values and counts; a block that shares one short CDF table is counted
    against it at once, else each neuron's count is found by binary search: the same counts). Each
    target's sum runs over channels, sources and synapses in one order, whatever the number of
    parts, so that every thread count gives the same floats."""
    P = pop_meta.shape[0]
    nk = nb[k]
    tk = xt[k]
    ck = pc[k]
    for b in range(B):
        for c in range(ch_meta.shape[0]):
            src = ch_meta[c, _SRC]
            if src < P:
                so = pop_meta[src, 1]
                lst = spk[b, so : so + spk_n[b, src]]
            else:
                e0 = (t * B + b) * G + (src - P)
                lst = ext_id[ext_ptr[e0] : ext_ptr[e0 + 1]]
            if lst.shape[0] == 0:
                continue
            n = ch_meta[c, _NPOST]
            a, z = _span(n, k, nt)
            if z == a:
                continue
            ip = indptr[ch_meta[c, _IPOFF] :]
            has_w = ch_meta[c, _HAS_W] == 1
            wsh = ch_val[c, 4]
            if ch_meta[c, _DIRECT] == 1:
                kind = ch_meta[c, _KIND]
                po = pop_meta[ch_meta[c, _POST], 1]
                scale = ch_gain[c, b]
                on_v = kind == _DELTA and ch_meta[c, _FIELD] == 0
                if kind == _DELTA:
                    tgt = V[b, po : po + n] if on_v else I[b, po : po + n]
                elif kind == _EXP or kind == _EXP_COND:
                    tgt = GS[b, ch_meta[c, _GOFF] : ch_meta[c, _GOFF] + n]
                else:
                    tgt = HS[b, ch_meta[c, _HOFF] : ch_meta[c, _HOFF] + n]
                    scale = scale * ch_val[c, 2]
                _direct(lst, ip, post, w, has_w, wsh, scale, tgt, HELD[b, po : po + n], on_v, a, z)
            else:
                L = ch_meta[c, _L]
                _ring(
                    lst,
                    b,
                    (s + 1) % L,
                    L,
                    n,
                    ch_meta[c, _ROFF],
                    ip,
                    post,
                    w,
                    d,
                    ch_meta[c, _SHARED_D],
                    has_w,
                    wsh,
                    R,
                    a,
                    z,
                )
        # Poisson inputs: count * weight added to V or I (after the projections, as delay-0
        # delta synapses; lost on a held v); mode 1: ``pin_data[off + (t * B + b) * n + j]``
        for q in range(pin_meta.shape[0]):
            n = pin_meta[q, 3]
            a, z = _span(n, k, nt)
            po = pop_meta[pin_meta[q, 0], 1]
            on_v = pin_meta[q, 1] == 0
            tgt = V[b, po : po + n] if on_v else I[b, po : po + n]
            hd = HELD[b, po : po + n]
            if pin_meta[q, 4] == 1:
                pd = pin_data[pin_meta[q, 2] + (t * B + b) * n :]
                for j in range(a, z):
                    if not (on_v and hd[j]):
                        tgt[j] += pd[j]
                continue
            wq = pin_data[pin_meta[q, 2]]
            io = pin_meta[q, 6] + t * pin_meta[q, 7] + b * pin_meta[q, 8]
            sn = pin_meta[q, 9]
            for j0 in range(a, z, _BLOCK):
                m = min(z - j0, _BLOCK)
                uniforms(rng_key[0, b, 0], rng_key[0, b, 1], pin_meta[q, 5], s, j0, m, False, nk)
                if sn == 0 and pin_tab_meta[pin_idx[io], 1] <= _TABLE_AT_ONCE:  # one short table
                    tab = pin_idx[io]
                    lo = pin_tab_meta[tab, 0]
                    table_counts(pin_tab[lo : lo + pin_tab_meta[tab, 1]], nk, m, ck)
                else:
                    for j in range(m):
                        tab = pin_idx[io + (j0 + j) * sn]
                        lo = pin_tab_meta[tab, 0]
                        c_lo = 0
                        c_hi = pin_tab_meta[tab, 1]
                        u = nk[j]
                        while c_lo < c_hi:  # the smallest c with u < F(c) (searchsorted, right)
                            mid = (c_lo + c_hi) >> 1
                            if pin_tab[lo + mid] <= u:
                                c_lo = mid + 1
                            else:
                                c_hi = mid
                        ck[j] = c_lo
                for j in range(m):
                    tk[j] = ck[j]
                    tk[j] = tk[j] * wq
                for j in range(m):
                    if not (on_v and hd[j0 + j]):
                        tgt[j0 + j] += tk[j]


@njit(cache=True, nogil=True)
def _record(
    s, t, B, G, pop_meta, spk, spk_n, ext_ptr, ext_id, mon_src, out_step, out_src, out_idx, out_n, out_counts
):  # type: ignore[no-untyped-def]
    """Phase 7 (monitors): every copy's spikes of step ``s`` and their counts."""
    P = pop_meta.shape[0]
    for b in range(B):
        o = out_n[b]
        for p in range(P):
            cnt = spk_n[b, p]
            out_counts[t, b, p] = cnt
            if mon_src[p]:
                so = pop_meta[p, 1]
                for q in range(cnt):
                    out_step[b, o] = s
                    out_src[b, o] = p
                    out_idx[b, o] = spk[b, so + q]
                    o += 1
        for g in range(G):
            e0 = (t * B + b) * G + g
            lo = ext_ptr[e0]
            hi = ext_ptr[e0 + 1]
            out_counts[t, b, P + g] = hi - lo
            if mon_src[P + g]:
                for q in range(lo, hi):
                    out_step[b, o] = s
                    out_src[b, o] = P + g
                    out_idx[b, o] = ext_id[q]
                    o += 1
        out_n[b] = o


@njit(cache=True, nogil=True)
def _next_rows(s, sm_meta):  # type: ignore[no-untyped-def]
    """After a step that sampled: the state monitors that sampled move to their next row."""
    for m_ in range(sm_meta.shape[0]):
        if s % sm_meta[m_, 0] == 0:
            sm_meta[m_, 3] += 1


@njit(cache=True, nogil=True)
def run_steps(  # type: ignore[no-untyped-def]
    s0,
    n_steps,
    t_off,
    B,
    pop_meta,
    V,
    I,
    REF,
    HELD,
    X,
    prm,
    prm_meta,
    ch_meta,
    ch_val,
    ch_gain,
    coef,
    coef_meta,
    GS,
    HS,
    R,
    indptr,
    post,
    w,
    d,
    G,
    ext_ptr,
    ext_id,
    cur_meta,
    cur_data,
    pin_meta,
    pin_data,
    pin_idx,
    pin_tab,
    pin_tab_meta,
    rng_key,
    cur_amp,
    mon_src,
    mon_total,
    out_step,
    out_src,
    out_idx,
    out_n,
    out_counts,
    sm_meta,
    sm_cols,
    out_state,
    spk,
    spk_n,
    xb,
    zb,
    pl_meta,
    pl_val,
    pl_tr,
    pl_sp,
    pl_act,
    pl_ptr,
    pl_syn,
    pl_pre,
    pl_mod,
):
    """Advance ``n_steps`` steps from step ``s0`` on one thread; returns the number of steps done
    (fewer when the spike record buffers would overflow: the caller drains them and calls again).
    Input events, currents and counts are indexed by ``t_off + t`` (the step within the caller's
    block). ``xb`` and ``zb`` are scratch rows ``[1, _BLOCK]`` (network dtype, bool);
    :func:`spikeforge.circuits._kernel_threads.run_steps` is this loop with the parts on threads.

    Random numbers are drawn here, as pure functions of (key, stream, step, neuron)
    (:mod:`spikeforge.circuits._kernel_philox`): currents with ``cur_meta[q, 5] == 1`` are
    ``cur_amp * N(0, 1)`` (amplitudes from ``cur_meta[q, 1]``, per neuron when ``cur_meta[q, 4]``,
    stream ``cur_meta[q, 6]``, keys ``rng_key[cur_meta[q, 7], b]``); Poisson inputs in mode 0 invert
    the CDF tables ``pin_tab`` at float64 uniforms keyed by ``rng_key[0, b]``."""
    nb = np.empty((1, _BLOCK), np.float64)  # normals and uniforms of a block
    xt = np.empty_like(xb)  # values in the network dtype before they are added
    ub = np.empty((1, 2, _BLOCK), np.float64)  # a stochastic population's uniforms of a block
    pc = np.empty((1, _BLOCK), np.int64)  # Poisson counts of a block
    part_n = spk_n.reshape((B, spk_n.shape[1], 1))  # one part: its counts are the counts
    cap = out_step.shape[1]
    for t0 in range(n_steps):
        s = s0 + t0
        t = t_off + t0
        flags = _step_flags(s, t0, n_steps, B, mon_total, out_n, cap, sm_meta)
        if flags < 0:
            return t0
        for c in range(ch_meta.shape[0]):
            ch_meta[c, _DONE] = 0
        if flags & 1:
            _deliver_part(
                0, 1, s, B, ch_meta, ch_val, ch_gain, coef, coef_meta, GS, HS, R, V, I, HELD, pop_meta, xb
            )
            _sample(s, B, ch_meta, sm_meta, sm_cols, V, I, REF, GS, HS, X, out_state)
        _update_part(
            0,
            1,
            s,
            t,
            B,
            flags >= 2,
            pop_meta,
            V,
            I,
            REF,
            HELD,
            X,
            prm,
            prm_meta,
            ch_meta,
            ch_val,
            ch_gain,
            coef,
            coef_meta,
            GS,
            HS,
            R,
            cur_meta,
            cur_data,
            rng_key,
            cur_amp,
            spk,
            part_n,
            xb,
            zb,
            nb,
            xt,
            ub,
        )
        _propagate_part(
            0,
            1,
            s,
            t,
            B,
            pop_meta,
            V,
            I,
            HELD,
            ch_meta,
            ch_val,
            ch_gain,
            GS,
            HS,
            R,
            indptr,
            post,
            w,
            d,
            G,
            ext_ptr,
            ext_id,
            spk,
            spk_n,
            pin_meta,
            pin_data,
            pin_idx,
            pin_tab,
            pin_tab_meta,
            rng_key,
            nb,
            xt,
            pc,
        )
        _record(
            s,
            t,
            B,
            G,
            pop_meta,
            spk,
            spk_n,
            ext_ptr,
            ext_id,
            mon_src,
            out_step,
            out_src,
            out_idx,
            out_n,
            out_counts,
        )
        if pl_meta.shape[0] > 0:  # phase 6 (learning), after every copy's spikes went out
            learn(
                t,
                B,
                pop_meta.shape[0],
                G,
                pop_meta,
                ch_meta,
                spk,
                spk_n,
                ext_ptr,
                ext_id,
                indptr,
                post,
                w,
                pl_meta,
                pl_val,
                pl_tr,
                pl_sp,
                pl_act,
                pl_ptr,
                pl_syn,
                pl_pre,
                pl_mod,
            )
        if flags & 1:
            _next_rows(s, sm_meta)
    return n_steps
