"""The maths of the plasticity rules in the compiled kernel (numba), one synapse at a time: the
mirrors, operation by operation, of :func:`~spikeforge.plasticity.stdp_step`,
:func:`~spikeforge.plasticity.triplet_step`, :func:`~spikeforge.plasticity.apply_weight_update`,
:class:`~spikeforge.plasticity.RewardModulatedSTDP`, :class:`~spikeforge.plasticity.EligibilityTrace`,
:func:`~spikeforge.plasticity.three_factor_step` and :class:`~spikeforge.plasticity.SynapticScaling`
(its :func:`~spikeforge.plasticity.rate_step`), as the PyTorch path of a network calls them
(``circuits/_torch_path.py``, phase 6). The packing of the arrays and the order of a step's phase 6
are in :mod:`spikeforge.circuits._kernel_plastic`; the layout of ``meta``, ``val``, ``tr``, ``sp``,
``act`` and ``mod`` is described there.

Rule kinds (``meta[q, _KIND]``):

* ``_PLAIN``: STDP or TripletSTDP (``meta[q, _RULE]``), event-driven at the synapses of the neurons
  that spiked (:func:`update`; pair STDP with one copy and no modulator per copy, the common case,
  in one fused pass, :func:`stdp_events`).
* ``_REWARD`` (RewardModulatedSTDP) and ``_ELIGIBILITY`` (EligibilityTrace around STDP or
  TripletSTDP): the wrapped rule's change feeds a tag or eligibility per synapse (per pair of a
  dense projection), ``c <- c e^{-dt/tau} + dw_rule``, and the weight moves by the third factor
  times the tag at every step where that factor is not zero (:func:`tags`). While it is not zero
  the tags are computed per step, at every synapse: each weight needs its tag at each step
  (Brian2's Izhikevich 2007 example keeps ``c`` and ``d`` clock-driven for the same reason), and
  per step the result is the PyTorch path's bit for bit. While it is zero (no modulator, no
  dopamine) one tag per synapse is event-driven: only the synapses of the neurons that spiked are
  touched, and a tag catches up its decay since its last update in closed form, ``c a^k``
  (as Brian2's event-driven variables), which differs from ``k`` multiplications by a few ulps
  (the tests hold it to 1e-12); the weights do not move then. One eligibility per copy and the
  pairs of dense projections stay per step.
* ``_THREE_FACTOR`` (ThreeFactor): the presynaptic filter, the eligibility per copy and pair
  ``[B, n_post, n_pre]`` (its state on the PyTorch path, even for sparse projections) and the
  change of each synapse (:func:`three_factor`).
* ``_SCALING`` (SynapticScaling): the rate filter of each target and the multiplicative change of
  each synapse (:func:`scaling`).

A change is kept within the rule's bounds and then Dale's sign (:func:`bounded`), as
``Projection.apply_plastic_update`` does; a pair of a dense projection that is not a synapse (a
mask) has a tag but no weight.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.extending import intrinsic

# meta columns
(
    _C,
    _RULE,
    _NPRE,
    _NPOST,
    _TR,
    _SP,
    _ACT,
    _PTR,
    _NEAREST,
    _SAME,
    _MEAN,
    _BOUND,
    _SIGN,
    _MUP,
    _MUM,
    _MOD,
    _MODOFF,
    _FIRST,
    _KIND,  # _PLAIN, _REWARD, _ELIGIBILITY, _THREE_FACTOR, _SCALING
    _PAIR,  # tr column of the per-pair state (tags, eligibility)
    _LAYOUT,  # the pairs: 0 the projection's synapses in storage order, 1 dense [n_post, n_pre]
    _S0,  # the projection's first synapse in the kernel's numbering
    _MAP,  # act offset of the pair -> synapse map (-1: not a synapse) of a dense layout
    _PERCOPY,  # the eligibility is kept per copy (the wrapped rule's batch_reduce="none")
    _OMEAN,  # the rule's own batch_reduce is "mean" (of a per-copy eligibility)
    _EMOD,  # a third factor times lr is in mod (0: none, dw = 0)
    _EMODOFF,
    _RELEASE,  # RewardModulatedSTDP: dopamine is released each step (a modulator is set)
    _CLOCK,  # steps of this kernel run so far (the event-driven tags' time)
    _LAZY,  # act offset of the step each tag was last brought up to date (-1: tags per step)
) = range(30)
_NMETA = 30
# val columns: 4 decays, 4 amplitudes, w_min, w_max, mu_plus, mu_minus, modulator, B, then the
# wrapping rules' constants
_WMIN, _WMAX, _MU_P, _MU_M, _MODV, _FB = 8, 9, 10, 11, 12, 13
_AE, _AD, _LRDT, _D0, _REL, _AX, _TGT, _OMA, _DTV = range(14, 23)
_NVAL = 23
_STDP, _TRIPLET = 0, 1
_PLAIN, _REWARD, _ELIGIBILITY, _THREE_FACTOR, _SCALING = range(5)


#: how many synapses ahead the column pass of :func:`stdp_events` asks for its weights
_PREFETCH = 16


@intrinsic
def prefetch(typingctx, arr, idx):  # type: ignore[no-untyped-def]
    """Ask the CPU to bring ``arr[idx]`` into its caches (LLVM's ``prefetch``, for a write);
    changes nothing. The column pass of :func:`stdp_events` reads its weights at random places
    of a large array, and the requests let their cache misses overlap."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        name = "llvm.prefetch.p0" if str(i8p) == "ptr" else "llvm.prefetch.p0i8"  # opaque pointers or not
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), name
        )
        builder.call(
            fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 1), ir.Constant(i32, 3), ir.Constant(i32, 1)]
        )
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _factor(base, kind, mu):  # type: ignore[no-untyped-def]
    """torch.pow(base, mu) as the PyTorch path computes it (base >= 0)."""
    if kind == 1:
        return base
    if kind == 2:
        return np.sqrt(base)
    if kind == 3:
        return base * base
    return base**mu


@njit(cache=True, nogil=True, inline="always")
def _amps(q, w0, meta, val):  # type: ignore[no-untyped-def]
    """STDP's ``(A+ f+(w), A- f-(w))`` of a synapse of weight ``w0``."""
    zero = w0 - w0
    ap = val[q, 4]
    am = val[q, 5]
    if meta[q, _MUP] != 0:
        base = val[q, _WMAX] - w0
        if base < zero:
            base = zero
        ap = ap * _factor(base, meta[q, _MUP], val[q, _MU_P])
    if meta[q, _MUM] != 0:
        base = w0 - val[q, _WMIN]
        if base < zero:
            base = zero
        am = am * _factor(base, meta[q, _MUM], val[q, _MU_M])
    return ap, am


@njit(cache=True, nogil=True, inline="always")
def _copy_change(q, i, j, b, ap, am, meta, val, tr, sp):  # type: ignore[no-untyped-def]
    """The change of synapse ``j -> i`` in copy ``b`` alone (the rule's batch_reduce="none"), with
    the amplitudes of :func:`_amps` (STDP; TripletSTDP takes its own)."""
    npre = meta[q, _NPRE]
    to = meta[q, _TR]
    so = meta[q, _SP]
    pb = sp[b, so + npre + i]
    qb = sp[b, so + j]
    if meta[q, _RULE] == _STDP:
        d = ap * (pb * tr[b, to + j]) - am * (tr[b, to + npre + i] * qb)
        same = meta[q, _SAME]
        if same != 0:
            cc = pb * qb
            d = d + ap * cc
            if same == 2:
                d = d - am * cc
        return d
    npost = meta[q, _NPOST]
    r1 = tr[b, to + j]
    r2 = tr[b, to + npre + j]
    o1 = tr[b, to + 2 * npre + i]
    o2 = tr[b, to + 2 * npre + npost + i]
    pot = val[q, 4] * (pb * r1) + val[q, 5] * ((pb * o2) * r1)
    dep = val[q, 6] * (o1 * qb) + val[q, 7] * (o1 * (qb * r2))
    return pot - dep


@njit(cache=True, nogil=True, inline="always")
def _change(q, i, j, w0, B, meta, val, tr, sp, mod):  # type: ignore[no-untyped-def]
    """The rule's change of the synapse ``j -> i`` (weight ``w0``) of plastic projection ``q``,
    reduced over the copies (times a constant modulator, ``meta[q, _MOD]``)."""
    npre = meta[q, _NPRE]
    to = meta[q, _TR]
    so = meta[q, _SP]
    zero = w0 - w0
    mod_kind = meta[q, _MOD]
    mean = meta[q, _MEAN] == 1 and B > 1
    fb = val[q, _FB]
    ap, am = _amps(q, w0, meta, val)
    if mod_kind == 2:  # per copy: the change of each copy times its factor, then reduced
        acc = zero
        mo = meta[q, _MODOFF] + i
        for b in range(B):
            acc += _copy_change(q, i, j, b, ap, am, meta, val, tr, sp) * mod[b, mo]
        return acc / fb if mean else acc
    if meta[q, _RULE] == _STDP:
        same = meta[q, _SAME]
        xo = to + j
        yo = to + npre + i
        pot = zero
        dep = zero
        coi = zero
        for b in range(B):
            pb = sp[b, so + npre + i]
            qb = sp[b, so + j]
            pot += pb * tr[b, xo]
            dep += tr[b, yo] * qb
            coi += pb * qb
        if mean:
            pot = pot / fb
            dep = dep / fb
            coi = coi / fb
        d = ap * pot - am * dep
        if same != 0:
            d = d + ap * coi
            if same == 2:
                d = d - am * coi
        return d * val[q, _MODV] if mod_kind == 1 else d
    # triplet: r1, r2 [n_pre], o1, o2 [n_post]
    npost = meta[q, _NPOST]
    r1 = to + j
    r2 = to + npre + j
    o1 = to + 2 * npre + i
    o2 = to + 2 * npre + npost + i
    s1 = zero
    s2 = zero
    s3 = zero
    s4 = zero
    for b in range(B):
        pb = sp[b, so + npre + i]
        qb = sp[b, so + j]
        s1 += pb * tr[b, r1]
        s2 += (pb * tr[b, o2]) * tr[b, r1]
        s3 += tr[b, o1] * qb
        s4 += tr[b, o1] * (qb * tr[b, r2])
    if mean:
        s1 = s1 / fb
        s2 = s2 / fb
        s3 = s3 / fb
        s4 = s4 / fb
    d = (val[q, 4] * s1 + val[q, 5] * s2) - (val[q, 6] * s3 + val[q, 7] * s4)
    return d * val[q, _MODV] if mod_kind == 1 else d


@njit(cache=True, nogil=True, inline="always")
def bounded(q, w0, dw, meta, val):  # type: ignore[no-untyped-def]
    """``w0 + dw`` within the rule's bounds (hard, soft or none), then Dale's sign."""
    return _bounded(w0, dw, meta[q, _BOUND], val[q, _WMIN], val[q, _WMAX], meta[q, _SIGN])


@njit(cache=True, nogil=True, inline="always")
def _bounded(w0, dw, bound, lo, hi, sign):  # type: ignore[no-untyped-def]
    """:func:`bounded` with the rule's bound kind, bounds and Dale's sign given."""
    zero = w0 - w0
    if bound == 1:
        span = hi - lo
        if dw > zero:
            dw = dw * (hi - w0) / span
        else:
            dw = dw * (w0 - lo) / span
    new = w0 + dw
    if bound != 2:
        if new < lo:
            new = lo
        if new > hi:
            new = hi
    if sign > 0 and new < zero:
        new = zero
    elif sign < 0 and new > zero:
        new = zero
    return new


@njit(cache=True, nogil=True, inline="always")
def update(q, syn, i, j, w, B, meta, val, tr, sp, mod):  # type: ignore[no-untyped-def]
    """Synapse ``syn`` (``j -> i``) of an STDP or TripletSTDP projection takes its change."""
    w0 = w[syn]
    w[syn] = bounded(q, w0, _change(q, i, j, w0, B, meta, val, tr, sp, mod), meta, val)


@njit(cache=True, nogil=True, inline="always")
def _stdp_one(w0, pb, xj, yi, qb, a_p, a_m, mup, mum, mu_p, mu_m, lo, hi, same, scaled, modv, bound, sign):  # type: ignore[no-untyped-def]
    """The new weight of one synapse of a pair STDP rule in one copy: :func:`update` (its
    :func:`_amps`, :func:`_change` with ``B = 1`` and :func:`bounded`) with the parameters given,
    the same operations in the same order. ``pb``, ``qb``: the target's and the source's spike
    flags; ``xj``, ``yi``: the source's and the target's traces."""
    zero = w0 - w0
    ap = a_p
    am = a_m
    if mup != 0:
        base = hi - w0
        if base < zero:
            base = zero
        ap = ap * _factor(base, mup, mu_p)
    if mum != 0:
        base = w0 - lo
        if base < zero:
            base = zero
        am = am * _factor(base, mum, mu_m)
    pot = zero + pb * xj
    dep = zero + yi * qb
    d = ap * pot - am * dep
    if same != 0:
        coi = zero + pb * qb
        d = d + ap * coi
        if same == 2:
            d = d - am * coi
    if scaled:
        d = d * modv
    return _bounded(w0, d, bound, lo, hi, sign)


@njit(cache=True, nogil=True)
def stdp_events(
    q, w, meta, val, tr, sp, act, indptr, post, ipo, ptr, syn_by_post, pre_by_post, n_pre, n_post, every
):  # type: ignore[no-untyped-def]
    """The event-driven step of a pair STDP projection with one copy and no modulator per copy
    (the common case): what :func:`update` does at the synapses of the ``n_pre`` sources and
    ``n_post`` targets listed in ``act`` that spiked (rows of the sources, then the columns of the
    targets by the CSC ``ptr``/``syn_by_post``/``pre_by_post``, skipping the synapses already
    changed from their source; with ``every``, the first step of a run, every row and no column),
    with the parameters read once and the traces, flags and marks as 1-D slices: the same
    operations on the same numbers (:func:`_stdp_one`), so the same weights. The column pass asks
    for the weights :data:`_PREFETCH` synapses ahead (they lie at random places of ``w``)."""
    npre = meta[q, _NPRE]
    npost = meta[q, _NPOST]
    to = meta[q, _TR]
    so = meta[q, _SP]
    ao = meta[q, _ACT]
    same = meta[q, _SAME]
    scaled = meta[q, _MOD] == 1
    modv = val[q, _MODV]
    mup = meta[q, _MUP]
    mum = meta[q, _MUM]
    a_p = val[q, 4]
    a_m = val[q, 5]
    mu_p = val[q, _MU_P]
    mu_m = val[q, _MU_M]
    bound = meta[q, _BOUND]
    lo = val[q, _WMIN]
    hi = val[q, _WMAX]
    sign = meta[q, _SIGN]
    x = tr[0, to : to + npre]
    y = tr[0, to + npre : to + npre + npost]
    fpre = sp[0, so : so + npre]
    fpost = sp[0, so + npre : so + npre + npost]
    mark = act[ao : ao + npre]
    lpre = act[ao + npre + npost : ao + npre + npost + n_pre]
    lpost = act[ao + 2 * npre + npost : ao + 2 * npre + npost + n_post]
    for k in range(npre if every else n_pre):
        j = k if every else lpre[k]
        xj = x[j]
        qb = fpre[j]
        for s in range(indptr[ipo + j], indptr[ipo + j + 1]):
            i = post[s]
            w[s] = _stdp_one(
                w[s],
                fpost[i],
                xj,
                y[i],
                qb,
                a_p,
                a_m,
                mup,
                mum,
                mu_p,
                mu_m,
                lo,
                hi,
                same,
                scaled,
                modv,
                bound,
                sign,
            )
    pp = meta[q, _PTR]
    for k in range(0 if every else n_post):
        i = lpost[k]
        pb = fpost[i]
        yi = y[i]
        e0 = ptr[pp + i]
        e1 = ptr[pp + i + 1]
        for e in range(e0, min(e1, e0 + _PREFETCH)):
            prefetch(w, syn_by_post[e])  # type: ignore[call-arg]
        for e in range(e0, e1):
            if e + _PREFETCH < e1:
                prefetch(w, syn_by_post[e + _PREFETCH])  # type: ignore[call-arg]
            j = pre_by_post[e]
            if mark[j] == 0:  # not already changed from the source's side
                s = syn_by_post[e]
                w[s] = _stdp_one(
                    w[s],
                    pb,
                    x[j],
                    yi,
                    fpre[j],
                    a_p,
                    a_m,
                    mup,
                    mum,
                    mu_p,
                    mu_m,
                    lo,
                    hi,
                    same,
                    scaled,
                    modv,
                    bound,
                    sign,
                )


@njit(cache=True, nogil=True, inline="always")
def _tag(q, i, j, p, s, B, w, meta, val, tr, sp, act, mod, scale, move):  # type: ignore[no-untyped-def]
    """Pair ``p`` (``j -> i``, synapse ``s`` or -1) of a RewardModulatedSTDP or EligibilityTrace
    projection: its tag takes the wrapped rule's change, then the synapse the change of the third
    factor (``scale``: RewardModulatedSTDP's ``lr dt (d + d0)``) when ``move``."""
    npre = meta[q, _NPRE]
    ao = meta[q, _ACT]
    po = meta[q, _PAIR] + p
    zero = scale - scale
    w0 = w[s] if s >= 0 else zero
    active = act[ao + j] != 0 or act[ao + npre + i] != 0  # else the rule's change is 0
    a = val[q, _AE]
    emod = meta[q, _EMOD] != 0
    mo = meta[q, _EMODOFF] + i
    dw = zero
    if meta[q, _PERCOPY] == 1:
        ap, am = _amps(q, w0, meta, val)
        for b in range(B):
            dr = _copy_change(q, i, j, b, ap, am, meta, val, tr, sp) if active else zero
            e = tr[b, po] * a + dr
            tr[b, po] = e
            if emod:
                dw += mod[b, mo] * e
        if meta[q, _OMEAN] == 1:
            dw = dw / val[q, _FB]
    else:
        dr = _change(q, i, j, w0, B, meta, val, tr, sp, mod) if active else zero
        c = tr[0, po] * a + dr
        tr[0, po] = c
        if meta[q, _KIND] == _REWARD:
            dw = (val[q, _LRDT] * c) * scale
        elif emod:
            dw = mod[0, mo] * c
    if move and s >= 0:
        w[s] = bounded(q, w0, dw, meta, val)


@njit(cache=True, nogil=True)
def tags(q, B, w, meta, val, tr, sp, act, mod, indptr, post, ipo, ptr, syn_by_post, pre_by_post):  # type: ignore[no-untyped-def]
    """Phase 6 of a RewardModulatedSTDP or EligibilityTrace projection, between the decay of the
    wrapped rule's traces and their growth: the dopamine (RewardModulatedSTDP), then every pair's
    tag and synapse (the weights only where the third factor is not zero, and at the first step
    of a run, which keeps weights set out of bounds between runs where the rule puts them). The
    synapses are taken in the kernel's order (``indptr``/``post`` from row ``ipo``), so that the
    weights and tags are read in memory order."""
    npre = meta[q, _NPRE]
    npost = meta[q, _NPOST]
    first = meta[q, _FIRST] == 1
    meta[q, _FIRST] = 0
    scale = val[q, _FB] - val[q, _FB]
    dense = meta[q, _LAYOUT] == 1
    if meta[q, _KIND] == _REWARD:
        n_pairs = npre * npost if dense else indptr[ipo + npre] - indptr[ipo]
        po = meta[q, _PAIR] + n_pairs  # the dopamine, after the tags
        d = tr[0, po] * val[q, _AD]
        if meta[q, _RELEASE] == 1:
            d = d + val[q, _REL]
        tr[0, po] = d
        scale = d + val[q, _D0]
        move = first or scale != 0
    else:
        move = first or meta[q, _EMOD] != 0
    if dense:
        mp = meta[q, _MAP]
        for i in range(npost):
            for j in range(npre):
                p = i * npre + j
                _tag(q, i, j, p, act[mp + p], B, w, meta, val, tr, sp, act, mod, scale, move)
    elif meta[q, _PERCOPY] == 1:
        s0 = meta[q, _S0]
        for j in range(npre):
            for s in range(indptr[ipo + j], indptr[ipo + j + 1]):
                _tag(q, post[s], j, s - s0, s, B, w, meta, val, tr, sp, act, mod, scale, move)
    else:  # one tag per synapse (the common case, with _tag's constants hoisted), event-driven
        # while the third factor is zero: only the synapses of the neurons that spiked change
        # (the others' tags decay in closed form when next touched, or at write-back)
        clock = meta[q, _CLOCK] + 1
        meta[q, _CLOCK] = clock
        ao = meta[q, _ACT]
        h = _hoisted(q, meta, val)
        if move:
            zero = scale - scale
            a, g, col0, at0, reward, emod, mo = h
            for j in range(npre):
                pre_active = act[ao + j] != 0
                for s in range(indptr[ipo + j], indptr[ipo + j + 1]):
                    i = post[s]
                    w0 = w[s]
                    c = tr[0, col0 + s]
                    k = clock - 1 - act[at0 + s]
                    if k > 0:
                        c = c * a**k
                    if pre_active or act[ao + npre + i] != 0:
                        c = c * a + _change(q, i, j, w0, B, meta, val, tr, sp, mod)
                    else:
                        c = c * a + zero
                    tr[0, col0 + s] = c
                    act[at0 + s] = clock
                    if reward:
                        dw = (g * c) * scale
                    elif emod:
                        dw = mod[0, mo + i] * c
                    else:
                        dw = zero
                    w[s] = bounded(q, w0, dw, meta, val)
        else:
            for j in range(npre):
                if act[ao + j] != 0:
                    for s in range(indptr[ipo + j], indptr[ipo + j + 1]):
                        _one_tag(
                            q, post[s], j, s, True, clock, scale, False, h, B, w, meta, val, tr, sp, act, mod
                        )
            pp = meta[q, _PTR]
            for i in range(npost):
                if act[ao + npre + i] != 0:
                    for e in range(ptr[pp + i], ptr[pp + i + 1]):
                        j = pre_by_post[e]
                        if act[ao + j] == 0:  # not already changed from the source's side
                            _one_tag(
                                q,
                                i,
                                j,
                                syn_by_post[e],
                                True,
                                clock,
                                scale,
                                False,
                                h,
                                B,
                                w,
                                meta,
                                val,
                                tr,
                                sp,
                                act,
                                mod,
                            )


@njit(cache=True, nogil=True, inline="always")
def _one_tag(q, i, j, s, active, clock, scale, move, h, B, w, meta, val, tr, sp, act, mod):  # type: ignore[no-untyped-def]
    """Synapse ``s`` (``j -> i``) of a projection with one tag per synapse at step ``clock`` of
    the run: the tag, brought up to the previous step in closed form if it was last updated
    earlier (``c a^k``; never while the third factor moves the weights, so the per-step result
    is the PyTorch path's bit for bit), decays and takes the rule's change; then the weight. ``h``:
    the projection's constants, hoisted (:func:`_hoisted`)."""
    zero = scale - scale
    a, g, col0, at0, reward, emod, mo = h
    col = col0 + s
    at = at0 + s
    w0 = w[s]
    c = tr[0, col]
    k = clock - 1 - act[at]
    if k > 0:
        c = c * a**k
    if active:
        c = c * a + _change(q, i, j, w0, B, meta, val, tr, sp, mod)
    else:
        c = c * a + zero
    tr[0, col] = c
    act[at] = clock
    if move:
        if reward:
            dw = (g * c) * scale
        elif emod:
            dw = mod[0, mo + i] * c
        else:
            dw = zero
        w[s] = bounded(q, w0, dw, meta, val)


@njit(cache=True, nogil=True, inline="always")
def _hoisted(q, meta, val):  # type: ignore[no-untyped-def]
    """The constants of :func:`_one_tag` for projection ``q``."""
    s0 = meta[q, _S0]
    return (
        val[q, _AE],
        val[q, _LRDT],
        meta[q, _PAIR] - s0,
        meta[q, _LAZY] - s0,
        meta[q, _KIND] == _REWARD,
        meta[q, _EMOD] != 0,
        meta[q, _EMODOFF],
    )


@njit(cache=True, nogil=True)
def three_factor(q, B, w, meta, val, tr, sp, mod, indptr, post, ipo):  # type: ignore[no-untyped-def]
    """Phase 6 of a ThreeFactor projection (``three_factor_step``, ``post_fn=None``, no gate): the
    presynaptic filter takes this step's spikes, every eligibility ``e[b, i, j]`` decays and takes
    ``post[b, i] * x[b, j]``, then each synapse moves by the batch reduction of ``lr M e`` (when a
    modulator is set, and at the first step of a run)."""
    npre = meta[q, _NPRE]
    npost = meta[q, _NPOST]
    to = meta[q, _TR]
    so = meta[q, _SP]
    po = meta[q, _PAIR]
    ax = val[q, _AX]
    ae = val[q, _AE]
    for b in range(B):
        for j in range(npre):
            tr[b, to + j] = tr[b, to + j] * ax + sp[b, so + j]
        for i in range(npost):
            pb = sp[b, so + npre + i]
            row = po + i * npre
            for j in range(npre):
                tr[b, row + j] = tr[b, row + j] * ae + pb * tr[b, to + j]
    first = meta[q, _FIRST] == 1
    meta[q, _FIRST] = 0
    emod = meta[q, _EMOD] != 0
    if not (first or emod):
        return
    zero = val[q, _FB] - val[q, _FB]
    mean = meta[q, _OMEAN] == 1
    mo = meta[q, _EMODOFF]
    for j in range(npre):
        for s in range(indptr[ipo + j], indptr[ipo + j + 1]):
            i = post[s]
            col = po + i * npre + j
            dw = zero
            if emod:
                for b in range(B):
                    dw += mod[b, mo + i] * tr[b, col]
                if mean:
                    dw = dw / val[q, _FB]
            w[s] = bounded(q, w[s], dw, meta, val)


@njit(cache=True, nogil=True)
def scaling(q, B, w, meta, val, tr, sp, mod, indptr, post, ipo):  # type: ignore[no-untyped-def]
    """Phase 6 of a SynapticScaling projection: each target's rate filter (``rate_step``), then
    every synapse moves by ``lr dt`` times the batch reduction of ``(1 - r / r*) w`` (times a
    modulator), unbounded, within Dale's sign."""
    npre = meta[q, _NPRE]
    npost = meta[q, _NPOST]
    to = meta[q, _TR]
    so = meta[q, _SP]
    a = val[q, _AX]
    oma = val[q, _OMA]
    dt = val[q, _DTV]
    for b in range(B):
        for i in range(npost):
            tr[b, to + i] = a * tr[b, to + i] + oma * (sp[b, so + npre + i] / dt)
    one = val[q, _FB] / val[q, _FB]
    zero = one - one
    tgt = val[q, _TGT]
    mean = meta[q, _MEAN] == 1
    emod = meta[q, _EMOD] != 0
    mo = meta[q, _EMODOFF]
    lrdt = val[q, _LRDT]
    fb = val[q, _FB]
    sign = meta[q, _SIGN]
    for j in range(npre):
        for s in range(indptr[ipo + j], indptr[ipo + j + 1]):
            i = post[s]
            w0 = w[s]
            acc = zero
            for b in range(B):
                acc += (one - tr[b, to + i] / tgt) * w0
            if mean:
                acc = acc / fb
            dw = lrdt * acc
            if emod:
                dw = dw * mod[0, mo + i]
            new = w0 + dw
            if sign > 0 and new < zero:
                new = zero
            elif sign < 0 and new > zero:
                new = zero
            w[s] = new
