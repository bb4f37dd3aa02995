"""Triton kernels of the GPU circuits engine (:mod:`spikeforge.circuits.engines.gpu`), imported
only where Triton is installed.

A step of a network is two launches, whatever its number of populations and projections:

* :func:`step_kernel` (phases 1-4 and the Poisson groups' draws of phase 4): one program per
  block of ``BLOCK`` neurons of a LIF population or of a Poisson group, and per batch copy. A LIF
  block delivers the ring-buffer slot of the step into each incoming projection's ``g``, sums its
  input (currents, then ``c1 * g`` per projection in channel order), decays ``g``, and takes the
  LIF step; a Poisson block draws its uniforms with Philox4x32-10 (uint32 arithmetic, the counter
  layout of :mod:`spikeforge.circuits._philox`). Both write the step's spikes into the record
  ``rec[k, b, column]`` (int8), which the monitors read after the chunk.
* :func:`propagate_kernel` (phase 5): one program per block of ``BLOCK`` target neurons of a
  projection, and per copy. Each target gathers its incoming synapses (a CSC sorted by
  presynaptic neuron, then by synapse index) whose source spiked in the step, and adds their
  weights into its ring slot (``(s + 1 + D) mod L``) or, for a projection whose delays are all 0,
  straight into ``g``, one synapse after the other. That is the order in which the compiled CPU
  engine adds them (spiking sources ascending, a source's synapses in CSR order), so the sums are
  the same floating-point numbers: no atomics, and the spikes equal the CPU engine's bitwise.

A plastic STDP projection adds two launches per step, after the propagation:

* :func:`stdp_kernel` (phase 6, the weights): one program per block of ``BLOCK`` targets (all
  copies in the program: the change is reduced over them). Each target walks its incoming synapses
  (the same CSC) and changes those whose source or target spiked in any copy, from the traces
  decayed but not yet grown, as ``_kernel_plastic.learn`` and ``_kernel_rules.update`` do; then
  its own traces decay and grow. A program owns its targets' synapses and traces: no atomics.
* :func:`stdp_pre_kernel` (phase 6, the sources' traces): decay and growth, one program per block
  of sources and copy, after :func:`stdp_kernel` read them.

The step index is read from a device tensor (``step_ptr``) plus the launch's offset ``k`` within
its chunk, so a chunk of launches can be captured once in a CUDA graph and replayed.

They are launched with ``enable_fp_fusion=False``: no ``a * b + c`` is fused, as in the numba
kernels (:mod:`spikeforge.circuits._kernel`), whose arithmetic they repeat operation by operation.
Kernels here use only ``triton.language`` builtins (no ``tl.zeros``, ``tl.cdiv``: the interpreted
copy that the tests load would call the compiled helpers).

Table layouts (int64 rows; the engine fills them):

* ``blk`` ``[n_blocks, 3]`` of :func:`step_kernel`: ``(kind, index, j0)``, kind 0 a LIF
  population, 1 a Poisson group.
* ``pop`` ``[P, POP_W]``: :data:`POP_COLUMNS`.
* ``prm_meta`` ``[P * 7, 3]``: ``(offset, copy stride, neuron stride)`` of the seven LIF
  parameters (k, alpha, v_leak, r, v_th, v_reset, n_ref) in ``prm``.
* ``ch`` ``[C, CH_W]``: :data:`CH_COLUMNS`; ``chf`` ``[C, 2]`` (network dtype): decay, shared
  weight; ``gain`` ``[C, B]``.
* ``cur_meta`` ``[Q, 4]``: ``(offset, step stride, copy stride, neuron stride)`` in ``cur``.
* ``grp`` ``[G, GRP_W]``: :data:`GRP_COLUMNS`; probabilities ``pdat`` (float64) at
  ``offset + k * step stride + b * copy stride + j * neuron stride``; ``keys`` ``[B, 2]``.
* ``pblk`` ``[n_blocks, 3]`` of :func:`propagate_kernel`: ``(channel, j0, most incoming synapses
  of a target in the block)``.
"""

from __future__ import annotations

try:
    import triton
    import triton.language as tl

    AVAILABLE = True
except ImportError:  # importable without Triton (the doctests import every module); unused then
    AVAILABLE = False

    class triton:  # type: ignore[no-redef]  # noqa: N801
        """Stands in for triton so that the decorators below run; the kernels are never called."""

        @staticmethod
        def jit(fn: object = None, **kwargs: object) -> object:
            return fn if fn is not None else (lambda f: f)


#: columns of a population's row in ``pop``
POP_COLUMNS = ("n", "col", "has_syn", "subtract", "refractory", "ch_lo", "ch_hi", "cur_lo", "cur_hi", "rec")
POP_W = len(POP_COLUMNS)
#: columns of a channel's (projection's) row in ``ch``
CH_COLUMNS = (
    "L",
    "goff",
    "roff",
    "n_post",
    "direct",
    "c1_off",
    "c1_bs",
    "c1_ns",
    "src_rec",
    "has_w",
    "shared_d",
    "csc_off",
)
CH_W = len(CH_COLUMNS)
#: columns of a Poisson group's row in ``grp``
GRP_COLUMNS = ("n", "rec", "stream", "p_off", "p_cs", "p_bs", "p_ns")
GRP_W = len(GRP_COLUMNS)


@triton.jit
def _philox_pair(j, s, strm, k0, k1):
    """The two words of neuron ``j`` (int64 block) in step ``s`` (int64) of stream ``strm`` with the
    key ``(k0, k1)``: Philox4x32-10 of the counter ``(j >> 1, s mod 2**32, s >> 32, strm)``, the
    words ``(x0, x1)`` for an even ``j``, ``(x2, x3)`` for an odd one (uint32)."""
    c0 = (j >> 1).to(tl.uint32)
    zero = c0 * 0
    c1 = zero + (s & 0xFFFFFFFF).to(tl.uint32)
    c2 = zero + ((s >> 32) & 0xFFFFFFFF).to(tl.uint32)
    c3 = zero + strm.to(tl.uint32)
    key0 = zero + k0.to(tl.uint32)
    key1 = zero + k1.to(tl.uint32)
    m0 = tl.full(c0.shape, 0xD2511F53, tl.uint32)
    m1 = tl.full(c0.shape, 0xCD9E8D57, tl.uint32)
    w0 = tl.full(c0.shape, 0x9E3779B9, tl.uint32)
    w1 = tl.full(c0.shape, 0xBB67AE85, tl.uint32)
    for r in tl.static_range(10):
        if r > 0:
            key0 = key0 + w0
            key1 = key1 + w1
        hi0 = tl.umulhi(c0, m0)
        lo0 = c0 * m0
        hi1 = tl.umulhi(c2, m1)
        lo1 = c2 * m1
        c0, c1, c2, c3 = hi1 ^ c1 ^ key0, lo1, hi0 ^ c3 ^ key1, lo0
    even = (j & 1) == 0
    return tl.where(even, c0, c2), tl.where(even, c1, c3)


@triton.jit(do_not_specialize=["k", "S", "B", "NV", "NG", "NR"])
def step_kernel(
    step_ptr,  # int64 [1]: the chunk's first step
    k,  # this step's offset in the chunk
    blk_ptr,
    V,
    I,
    REF,
    HELD,
    NV,  # row stride (per copy) of V, I, REF, HELD
    pop_ptr,
    prm_ptr,
    ch_ptr,
    chf_ptr,
    gain_ptr,
    coef_ptr,
    GS,
    NG,
    R,
    NR,
    cur_ptr,
    cur_meta_ptr,
    grp_ptr,
    pdat_ptr,
    key_ptr,
    rec_ptr,
    S,  # record columns
    B,
    F32: tl.constexpr,  # Poisson uniforms on the float32 grid
    BLOCK: tl.constexpr,
):
    kind = tl.load(blk_ptr + tl.program_id(0) * 3)
    idx = tl.load(blk_ptr + tl.program_id(0) * 3 + 1)
    j0 = tl.load(blk_ptr + tl.program_id(0) * 3 + 2)
    b = tl.program_id(1).to(tl.int64)
    s = tl.load(step_ptr) + k
    j = j0 + tl.arange(0, BLOCK)
    rec_row = rec_ptr + (k * B + b) * S
    if kind == 0:
        pr = pop_ptr + idx * 10
        n = tl.load(pr)
        col = tl.load(pr + 1)
        has_syn = tl.load(pr + 2)
        subtract = tl.load(pr + 3)
        refractory = tl.load(pr + 4)
        ch_lo = tl.load(pr + 5)
        ch_hi = tl.load(pr + 6)
        cur_lo = tl.load(pr + 7)
        cur_hi = tl.load(pr + 8)
        rec_col = tl.load(pr + 9)
        m = j < n
        vp = V + b * NV + col + j
        v = tl.load(vp, mask=m, other=0.0)
        x = tl.full([BLOCK], 0.0, v.dtype)
        # phase 3: currents first, then the projections in channel order (phase 1 on the way)
        for q in range(cur_lo, cur_hi):
            cm = cur_meta_ptr + q * 4
            off = tl.load(cm) + k * tl.load(cm + 1) + b * tl.load(cm + 2)
            x = x + tl.load(cur_ptr + off + j * tl.load(cm + 3), mask=m, other=0.0)
        for c in range(ch_lo, ch_hi):
            cr = ch_ptr + c * 12
            goff = tl.load(cr + 1)
            gp = GS + b * NG + goff + j
            g = tl.load(gp, mask=m, other=0.0)
            if tl.load(cr + 4) == 0:  # phase 1: the ring slot of step s into g, the slot emptied
                n_post = tl.load(cr + 3)
                rp = R + b * NR + tl.load(cr + 2) + (s % tl.load(cr)) * n_post + j
                g = g + tl.load(gain_ptr + c * B + b) * tl.load(rp, mask=m, other=0.0)
                tl.store(rp, tl.full([BLOCK], 0.0, g.dtype), mask=m)
            x = x + tl.load(coef_ptr + b * NG + goff + j, mask=m, other=0.0) * g
            tl.store(gp, g * tl.load(chf_ptr + c * 2), mask=m)
        # phase 4: the LIF step, as _kernel._lif_shared / _lif_arrays (parameters [7, B, NV])
        pp = prm_ptr + b * NV + col + j
        kk = tl.load(pp, mask=m, other=0.0)
        al = tl.load(pp + B * NV, mask=m, other=0.0)
        vl = tl.load(pp + 2 * B * NV, mask=m, other=0.0)
        rr = tl.load(pp + 3 * B * NV, mask=m, other=0.0)
        th = tl.load(pp + 4 * B * NV, mask=m, other=0.0)
        vre = tl.load(pp + 5 * B * NV, mask=m, other=0.0)
        nref = tl.load(pp + 6 * B * NV, mask=m, other=0.0).to(tl.int32)
        ip = I + b * NV + col + j
        if has_syn != 0:
            x = al * tl.load(ip, mask=m, other=0.0) + x
        tl.store(ip, x, mask=m)
        end = vl + rr * x
        vv = tl.where(kk < 0.5, v + kk * (end - v), end - (end - v) * (1.0 - kk))
        refp = REF + b * NV + col + j
        r = tl.load(refp, mask=m & ((j * 0 + refractory) != 0), other=0)
        act = r == 0
        vv = tl.where(act, vv, v)
        sp = act & (vv > th)
        reset = tl.where(subtract != 0, vv - (th - vre), vre)
        tl.store(vp, tl.where(sp, reset, vv), mask=m)
        if refractory != 0:
            tl.store(refp, tl.where(sp, nref, tl.where(r > 0, r - 1, 0)), mask=m)
        hold = (subtract == 0) | ((refractory != 0) & (nref > 0))
        held = tl.where(sp, hold, act == 0)
        tl.store(HELD + b * NV + col + j, held.to(tl.int8), mask=m)
        tl.store(rec_row + rec_col + j, sp.to(tl.int8), mask=m)
    else:
        gr = grp_ptr + idx * 7
        n = tl.load(gr)
        rec_col = tl.load(gr + 1)
        strm = tl.load(gr + 2)
        p_off = tl.load(gr + 3) + k * tl.load(gr + 4) + b * tl.load(gr + 5)
        p_ns = tl.load(gr + 6)
        m = j < n
        a, w = _philox_pair(j, s, strm, tl.load(key_ptr + 2 * b), tl.load(key_ptr + 2 * b + 1))
        if F32:
            u = (a >> 8).to(tl.float64) * 5.960464477539063e-08
        else:
            u = ((a >> 5).to(tl.int64) * 67108864 + (w >> 6).to(tl.int64)).to(
                tl.float64
            ) * 1.1102230246251565e-16
        p = tl.load(pdat_ptr + p_off + j * p_ns, mask=m, other=0.0)
        tl.store(rec_row + rec_col + j, (u < p).to(tl.int8), mask=m)


@triton.jit(do_not_specialize=["k", "S", "B", "NG", "NR"])
def propagate_kernel(
    step_ptr,
    k,
    pblk_ptr,
    ch_ptr,
    chf_ptr,
    gain_ptr,
    csc_ptr,  # int64 [*]: per channel n_post + 1 pointers (absolute synapse indices)
    csc_pre,  # int32 [nnz]
    csc_w,  # [nnz] network dtype (read with HAS_W)
    csc_d,  # int32 [nnz] (read for CASE 2)
    GS,
    NG,
    R,
    NR,
    rec_ptr,
    S,
    B,
    CASE: tl.constexpr,  # 0: all delays 0 (into g); 1: one shared delay; 2: per-synapse delays
    HAS_W: tl.constexpr,  # per-synapse weights (else the shared one)
    BLOCK: tl.constexpr,
):
    c = tl.load(pblk_ptr + tl.program_id(0) * 3)
    j0 = tl.load(pblk_ptr + tl.program_id(0) * 3 + 1)
    most = tl.load(pblk_ptr + tl.program_id(0) * 3 + 2)
    b = tl.program_id(1).to(tl.int64)
    s = tl.load(step_ptr) + k
    cr = ch_ptr + c * 12
    L = tl.load(cr)
    n_post = tl.load(cr + 3)
    src = tl.load(cr + 8)
    cso = tl.load(cr + 11)
    j = j0 + tl.arange(0, BLOCK)
    m = j < n_post
    lo = tl.load(csc_ptr + cso + j, mask=m, other=0)
    hi = tl.load(csc_ptr + cso + j + 1, mask=m, other=0)
    spk_row = rec_ptr + (k * B + b) * S + src
    base = (s + 1) % L
    if CASE == 0:  # straight into g, one synapse after the other (_kernel._direct), times gain
        gain = tl.load(gain_ptr + c * B + b)
        tp = GS + b * NG + tl.load(cr + 1) + j
    else:  # the ring slot of the shared delay (_kernel._ring)
        slot = base + tl.load(cr + 10)
        slot = tl.where(slot >= L, slot - L, slot)
        rbase = R + b * NR + tl.load(cr + 2)
        tp = rbase + slot * n_post + j
    if not HAS_W:
        wsh = tl.load(chf_ptr + c * 2 + 1)
    if CASE != 2:
        acc = tl.load(tp, mask=m, other=0.0)
    for q in range(0, most):
        e = lo + q
        fire = (e < hi) & (
            tl.load(spk_row + tl.load(csc_pre + e, mask=e < hi, other=0), mask=e < hi, other=0) != 0
        )
        if HAS_W:
            w = tl.load(csc_w + e, mask=fire, other=0.0)
        else:
            w = wsh
        if CASE == 0:
            acc = tl.where(fire, acc + gain * w, acc)
        elif CASE == 1:
            acc = tl.where(fire, acc + w, acc)
        else:  # per-synapse delays: this target's own column of the ring, one synapse at a time
            sl = base + tl.load(csc_d + e, mask=fire, other=0)
            ep = rbase + tl.where(sl >= L, sl - L, sl) * n_post + j
            tl.store(ep, tl.load(ep, mask=fire, other=0.0) + w, mask=fire)
    if CASE != 2:
        tl.store(tp, acc, mask=m)


@triton.jit
def _mu_factor(base, KIND: tl.constexpr):
    """torch.pow(base, mu) as ``_kernel_rules._factor`` computes it: 1 base, 2 sqrt (correctly
    rounded: ``sqrt_rn`` in float32, where ``tl.sqrt`` may be approximate; float64's is IEEE), 3
    base**2."""
    if KIND == 1:
        return base
    elif KIND == 2:
        if base.dtype == tl.float32:
            return tl.sqrt_rn(base)
        else:
            return tl.sqrt(base)
    else:
        return base * base


@triton.jit(do_not_specialize=["k", "S", "B", "first", "n_post", "n_pre", "src", "tgt", "cso"])
def stdp_kernel(
    k,
    most_ptr,  # int64 [n_blocks]: the most incoming synapses of a target in each block
    csc_ptr,
    csc_pre,
    csc_w,  # [nnz] network dtype: the weights, changed in place
    cso,  # the projection's first row pointer in csc_ptr
    XP,  # [B, n_pre] presynaptic traces, before this step's decay (read only)
    YP,  # [B, n_post] postsynaptic traces, decayed and grown here
    pv_ptr,  # [9] network dtype: a_pre, a_post, A+, A-, w_min, w_max, mu+, mu-, B
    n_pre,
    n_post,
    src,  # record column of the presynaptic group
    tgt,  # record column of the target population
    first,  # 1: every synapse takes its change (the first step of a run)
    rec_ptr,
    S,
    B,
    MUP: tl.constexpr,  # _kernel_plastic._mu_kind of mu_plus (0, 1, 2, 3)
    MUM: tl.constexpr,
    SAME: tl.constexpr,  # 0 skip, 1 potentiate, 2 both
    MEAN: tl.constexpr,  # batch_reduce "mean" with more than one copy
    BOUND: tl.constexpr,  # 0 hard, 1 soft, 2 none
    SIGN: tl.constexpr,  # Dale's sign of the source: 1, -1 or 0
    NEAREST: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Phase 6 of a plastic STDP projection for a block of targets (``_kernel_plastic.learn`` and
    ``_kernel_rules.update``, operation by operation): each target walks its incoming synapses and
    those whose source or target spiked in any copy (all of them when ``first``) take the change
    reduced over the copies from the decayed traces before this step's spikes, within the bounds
    and Dale's sign; then the targets' traces decay and grow. The program owns its targets' rows:
    no atomics. The presynaptic traces are decayed on the fly (``x * a_pre``, the CPU's
    ``x *= a_pre``) and grown afterwards by :func:`stdp_pre_kernel`."""
    j0 = tl.program_id(0).to(tl.int64) * BLOCK
    most = tl.load(most_ptr + tl.program_id(0))
    i = j0 + tl.arange(0, BLOCK)
    m = i < n_post
    lo = tl.load(csc_ptr + cso + i, mask=m, other=0)
    hi = tl.load(csc_ptr + cso + i + 1, mask=m, other=0)
    a_pre = tl.load(pv_ptr)
    a_post = tl.load(pv_ptr + 1)
    amp_p = tl.load(pv_ptr + 2)
    amp_m = tl.load(pv_ptr + 3)
    w_min = tl.load(pv_ptr + 4)
    w_max = tl.load(pv_ptr + 5)
    fb = tl.load(pv_ptr + 8)
    rec0 = rec_ptr + k * B * S
    anyp = m & (i < 0)
    for b in range(B):
        anyp = anyp | (tl.load(rec0 + b * S + tgt + i, mask=m, other=0) != 0)
    for q in range(0, most):
        e = lo + q
        ok = e < hi
        j = tl.load(csc_pre + e, mask=ok, other=0).to(tl.int64)
        anyq = ok & (j < 0)
        for b in range(B):
            anyq = anyq | (tl.load(rec0 + b * S + src + j, mask=ok, other=0) != 0)
        act = ok & ((anyp | anyq) | ((i * 0 + first) != 0))
        w0 = tl.load(csc_w + e, mask=act, other=0.0)
        zero = w0 - w0
        ap = zero + amp_p
        am = zero + amp_m
        if MUP != 0:
            base = w_max - w0
            base = tl.where(base < zero, zero, base)
            ap = ap * _mu_factor(base, MUP)
        if MUM != 0:
            base = w0 - w_min
            base = tl.where(base < zero, zero, base)
            am = am * _mu_factor(base, MUM)
        pot = zero
        dep = zero
        coi = zero
        for b in range(B):
            pb = tl.load(rec0 + b * S + tgt + i, mask=act, other=0).to(w0.dtype)
            qb = tl.load(rec0 + b * S + src + j, mask=act, other=0).to(w0.dtype)
            x = tl.load(XP + b * n_pre + j, mask=act, other=0.0) * a_pre
            y = tl.load(YP + b * n_post + i, mask=act, other=0.0) * a_post
            pot = pot + pb * x
            dep = dep + y * qb
            coi = coi + pb * qb
        if MEAN:
            pot = pot / fb
            dep = dep / fb
            coi = coi / fb
        d = ap * pot - am * dep
        if SAME != 0:
            d = d + ap * coi
            if SAME == 2:
                d = d - am * coi
        if BOUND == 1:
            span = w_max - w_min
            d = tl.where(d > zero, d * (w_max - w0) / span, d * (w0 - w_min) / span)
        new = w0 + d
        if BOUND != 2:
            new = tl.where(new < w_min, w_min, new)
            new = tl.where(new > w_max, w_max, new)
        if SIGN > 0:
            new = tl.where(new < zero, zero, new)
        elif SIGN < 0:
            new = tl.where(new > zero, zero, new)
        tl.store(csc_w + e, new, mask=act)
    for b in range(B):  # the targets' traces: decay, then growth where they spiked
        yp = YP + b * n_post + i
        y = tl.load(yp, mask=m, other=0.0) * a_post
        pb = tl.load(rec0 + b * S + tgt + i, mask=m, other=0) != 0
        if NEAREST:
            y = tl.where(pb, y * 0.0 + 1.0, y)
        else:
            y = tl.where(pb, y + 1.0, y)
        tl.store(yp, y, mask=m)


@triton.jit(do_not_specialize=["k", "S", "B", "n_pre", "src"])
def stdp_pre_kernel(
    k,
    XP,
    pv_ptr,
    n_pre,
    src,
    rec_ptr,
    S,
    B,
    NEAREST: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """The presynaptic traces of a plastic STDP projection after :func:`stdp_kernel` read them:
    decay, then growth where the source spiked (one program per block of sources and copy)."""
    j = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    b = tl.program_id(1).to(tl.int64)
    m = j < n_pre
    xp = XP + b * n_pre + j
    x = tl.load(xp, mask=m, other=0.0) * tl.load(pv_ptr)
    qb = tl.load(rec_ptr + (k * B + b) * S + src + j, mask=m, other=0) != 0
    if NEAREST:
        x = tl.where(qb, x * 0.0 + 1.0, x)
    else:
        x = tl.where(qb, x + 1.0, x)
    tl.store(xp, x, mask=m)
