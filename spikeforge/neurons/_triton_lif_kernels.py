"""Triton kernels of the fused LIF, ALIF and IF scans (imported only where Triton is installed).

One program runs a block of ``BLOCK`` elements of the flattened ``[*batch, *shape]`` state through
all ``T`` steps, the state kept in registers: one launch forward, one backward, whatever ``T``.
They compute what :class:`spikeforge.neurons.lif._LIFScan` computes, in the same order of
operations (see there for the maths of the backward recurrence); :mod:`._triton_lif` wraps them
in an autograd function.

Parameters arrive packed as rows of ``prm`` (``[6, n_par]``: k, alpha, v_leak, r, v_th, v_reset),
indexed by ``element % n_par`` (their broadcast over the trailing dimensions of the state), and the
surrogate's two constants as ``sur`` (a tensor, so that float64 runs keep float64 constants).

They are launched with ``enable_fp_fusion=False``: the compiler then fuses no ``a * b + c`` on
its own, and ``tl.fma`` stands where ATen's CPU kernels fuse (``torch.lerp``, ``torch.addcmul``),
so the forward pass rounds as the CPU scan does and the spikes are the same.

Kernels here use only triton.language builtins, not its ``@jit`` helpers (``tl.zeros``,
``tl.cdiv``...): the interpreted copy that the tests load would otherwise call compiled helpers.
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
        def jit(fn: object) -> object:
            return fn


# surrogate codes (SURR): see _triton_lif.surrogate_constants
FAST_SIGMOID, ATAN, TRIANGLE, STRAIGHT_THROUGH, IDENTITY = 0, 1, 2, 3, 4


@triton.jit
def _surrogate(x, c0, c1, SURR: tl.constexpr):
    """The surrogate derivative at ``x = v - v_th``, as :mod:`spikeforge.surrogate` computes it."""
    if SURR == 0:  # FastSigmoid: 1 / (1 + slope |x|)^2, c0 = slope
        t = tl.abs(x) * c0 + 1.0
        g = 1.0 / (t * t)
    elif SURR == 1:  # ATan: (alpha/2) / (1 + (pi alpha x / 2)^2), c0 = pi alpha / 2, c1 = alpha / 2
        t = x * c0
        g = (1.0 / (t * t + 1.0)) * c1
    elif SURR == 2:  # Triangle: max(0, 1 - |x|/w) / w, c0 = w
        g = tl.maximum(1.0 - tl.abs(x) / c0, 0.0) / c0
    elif SURR == 3:  # StraightThrough of finite width: |x| <= w, c0 = w
        g = tl.where(tl.abs(x) <= c0, 1.0, 0.0).to(x.dtype)
    else:  # StraightThrough of infinite width
        g = tl.full(x.shape, 1.0, x.dtype)
    return g


@triton.jit
def _lerp(a, b, w):
    """``torch.lerp(a, b, w)`` as ATen computes it (fused multiply-add, the branch on |w| < 0.5)."""
    return tl.where(tl.abs(w) < 0.5, tl.fma(w, b - a, a), tl.fma(a - b, 1.0 - w, b))


@triton.jit
def lif_forward_kernel(
    x_ptr,  # [T, N] input
    v0_ptr,  # [N]
    i0_ptr,  # [N]
    ref0_ptr,  # [N] int32
    prm_ptr,  # [6, n_par]
    nref_ptr,  # [n_par] int32
    z_ptr,  # out [T, N] spikes in x's dtype
    vpre_ptr,  # out [T, N] membrane before reset
    iseq_ptr,  # out [T, N] synaptic current (SYN)
    act_ptr,  # out [T, N] int8, not refractory (REF)
    ref_ptr,  # out [N] int32, the final refractory count
    T,
    N,
    n_par,
    SYN: tl.constexpr,
    REF: tl.constexpr,
    SUBTRACT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    j = offs % n_par
    k = tl.load(prm_ptr + j, mask=mask)
    v_leak = tl.load(prm_ptr + 2 * n_par + j, mask=mask)
    r = tl.load(prm_ptr + 3 * n_par + j, mask=mask)
    v_th = tl.load(prm_ptr + 4 * n_par + j, mask=mask)
    v_reset = tl.load(prm_ptr + 5 * n_par + j, mask=mask)
    gap = v_th - v_reset
    v = tl.load(v0_ptr + offs, mask=mask)
    if SYN:
        alpha = tl.load(prm_ptr + n_par + j, mask=mask)
        i = tl.load(i0_ptr + offs, mask=mask)
    if REF:
        ref = tl.load(ref0_ptr + offs, mask=mask)
        n_ref = tl.load(nref_ptr + j, mask=mask)
    off_t = offs.to(tl.int64)
    for _t in range(T):
        drive = tl.load(x_ptr + off_t, mask=mask)
        if SYN:
            i = tl.fma(alpha, i, drive)  # torch.addcmul fuses it on the CPU
            tl.store(iseq_ptr + off_t, i, mask=mask)
            drive = i
        vt = _lerp(v, v_leak + r * drive, k)
        z = vt > v_th
        if REF:
            act = ref == 0
            vt = tl.where(act, vt, v)
            z = z & act
            ref = tl.where(z, n_ref, tl.maximum(ref - 1, 0))
            tl.store(act_ptr + off_t, act.to(tl.int8), mask=mask)
        tl.store(vpre_ptr + off_t, vt, mask=mask)
        tl.store(z_ptr + off_t, z.to(vt.dtype), mask=mask)
        if SUBTRACT:
            v = tl.where(z, vt - gap, vt)
        else:
            v = tl.where(z, v_reset, vt)
        off_t += N
    if REF:
        tl.store(ref_ptr + offs, ref, mask=mask)


@triton.jit
def lif_backward_kernel(
    vpre_ptr,  # [T, N]
    z_ptr,  # [T, N]
    act_ptr,  # [T, N] int8 (REF)
    drive_ptr,  # [T, N] the synaptic current (SYN) or the input
    v0_ptr,  # [N]
    i0_ptr,  # [N]
    prm_ptr,  # [6, n_par]
    sur_ptr,  # [2] surrogate constants
    gz_ptr,  # [T, N] dL/dz
    gv_ptr,  # [T, N] dL/dv_pre (HAS_GV)
    gi_ptr,  # [T, N] dL/di (HAS_GI)
    gx_ptr,  # out [T, N] dL/dx
    gv0_ptr,  # out [N]
    gi0_ptr,  # out [N] (SYN)
    gp_ptr,  # out [6, N] per-element parameter gradients summed over time (NEED_P)
    last,  # (T - 1) * N, the offset of the last step (an int64 where it needs one)
    T,
    N,
    n_par,
    SYN: tl.constexpr,
    REF: tl.constexpr,
    SUBTRACT: tl.constexpr,
    DETACH: tl.constexpr,
    SURR: tl.constexpr,
    HAS_GV: tl.constexpr,
    HAS_GI: tl.constexpr,
    NEED_P: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    j = offs % n_par
    k = tl.load(prm_ptr + j, mask=mask, other=0.0)
    v_leak = tl.load(prm_ptr + 2 * n_par + j, mask=mask, other=0.0)
    r = tl.load(prm_ptr + 3 * n_par + j, mask=mask, other=0.0)
    v_th = tl.load(prm_ptr + 4 * n_par + j, mask=mask, other=0.0)
    v_reset = tl.load(prm_ptr + 5 * n_par + j, mask=mask, other=0.0)
    c0 = tl.load(sur_ptr)
    c1 = tl.load(sur_ptr + 1)
    one_minus_k = 1.0 - k
    zero = tl.full(k.shape, 0.0, k.dtype)  # not tl.zeros: a @jit helper (see _triton_lif._kernels)
    gv_next = zero  # dL/dv_{t+1}
    m_next = one_minus_k  # dv_{t+1}/dv'_t
    if SYN:
        alpha = tl.load(prm_ptr + n_par + j, mask=mask, other=0.0)
        gi_next = zero
    if NEED_P:
        g_k = zero
        g_alpha = zero
        g_leak = zero
        g_r = zero
        g_th = zero
        g_reset = zero
    off_t = offs.to(tl.int64) + last
    for tt in range(T):
        t = T - 1 - tt
        vpre = tl.load(vpre_ptr + off_t, mask=mask, other=0.0)
        z = tl.load(z_ptr + off_t, mask=mask, other=0.0)
        sg = _surrogate(vpre - v_th, c0, c1, SURR)
        if REF:
            actf = tl.load(act_ptr + off_t, mask=mask, other=0).to(vpre.dtype)
            sg = sg * actf
        gz = tl.load(gz_ptr + off_t, mask=mask, other=0.0)
        gv = gz * sg
        if HAS_GV:
            gv = gv + tl.load(gv_ptr + off_t, mask=mask, other=0.0)
        # D_t = dv'_t / dv_t, then gv_t = A_t + D_t m_{t+1} gv_{t+1}
        if SUBTRACT:
            if DETACH:
                d = tl.full(vpre.shape, 1.0, vpre.dtype)
            else:
                dvp_dz = v_reset - v_th
                d = sg * dvp_dz + 1.0
        else:
            d = 1.0 - z
            if not DETACH:
                dvp_dz = v_reset - vpre
                d = d + sg * dvp_dz
        gvp = m_next * gv_next  # dL/dv'_t (after reset)
        gv = tl.fma(d * m_next, gv_next, gv)
        if REF:
            m_next = tl.where(actf != 0, one_minus_k, 1.0)
            gdrive = gv * k * actf
        else:
            gdrive = gv * k
        if SYN:
            gi = gdrive * r
            if HAS_GI:
                gi = gi + tl.load(gi_ptr + off_t, mask=mask, other=0.0)
            gi = tl.fma(alpha, gi_next, gi)
            gi_next = gi
            tl.store(gx_ptr + off_t, gi, mask=mask)
        else:
            tl.store(gx_ptr + off_t, gdrive * r, mask=mask)
        if NEED_P:
            drive = tl.load(drive_ptr + off_t, mask=mask, other=0.0)
            if t > 0:  # v' and i of the step before
                vprev = tl.load(vpre_ptr + off_t - N, mask=mask, other=0.0)
                zprev = tl.load(z_ptr + off_t - N, mask=mask, other=0.0)
                if SUBTRACT:
                    vprev = vprev - zprev * (v_th - v_reset)
                else:
                    vprev = tl.where(zprev > 0, v_reset, vprev)
                if SYN:
                    iprev = tl.load(drive_ptr + off_t - N, mask=mask, other=0.0)
            else:
                vprev = tl.load(v0_ptr + offs, mask=mask, other=0.0)
                if SYN:
                    iprev = tl.load(i0_ptr + offs, mask=mask, other=0.0)
            gk = gv * (v_leak + r * drive - vprev)
            if REF:
                gk = gk * actf
            g_k += gk
            g_leak += gdrive
            g_r += gdrive * drive
            if SYN:
                g_alpha += gi * iprev
            gz_total = gz
            if not DETACH:
                gz_total = gz_total + gvp * dvp_dz
            gth = -(gz_total * sg)
            if SUBTRACT:
                gth = gth - gvp * z
            g_th += gth
            g_reset += gvp * z
        gv_next = gv
        off_t -= N
    tl.store(gv0_ptr + offs, m_next * gv_next, mask=mask)
    if SYN:
        tl.store(gi0_ptr + offs, alpha * gi_next, mask=mask)
    if NEED_P:
        tl.store(gp_ptr + offs, g_k, mask=mask)
        tl.store(gp_ptr + N + offs, g_alpha, mask=mask)
        tl.store(gp_ptr + 2 * N + offs, g_leak, mask=mask)
        tl.store(gp_ptr + 3 * N + offs, g_r, mask=mask)
        tl.store(gp_ptr + 4 * N + offs, g_th, mask=mask)
        tl.store(gp_ptr + 5 * N + offs, g_reset, mask=mask)


# ---------------------------------------------------------------------------------------------
# ALIF: the LIF step against the adaptive threshold A_t = v_th + beta a_{t-1}, then
# a_t = rho a_{t-1} + z_t (spikeforge.neurons.alif). Parameters as rows of prm ([8, n_par]):
# k, alpha, v_leak, r, v_th, v_reset, rho, beta.


@triton.jit
def alif_forward_kernel(
    x_ptr,  # [T, N] input
    v0_ptr,  # [N]
    i0_ptr,  # [N]
    a0_ptr,  # [N] adaptation before the first step
    ref0_ptr,  # [N] int32
    prm_ptr,  # [8, n_par]
    nref_ptr,  # [n_par] int32
    z_ptr,  # out [T, N] spikes in x's dtype
    vpre_ptr,  # out [T, N] membrane before reset
    iseq_ptr,  # out [T, N] synaptic current (SYN)
    aseq_ptr,  # out [T, N] adaptation after each step
    act_ptr,  # out [T, N] int8, not refractory (REF)
    ref_ptr,  # out [N] int32, the final refractory count
    T,
    N,
    n_par,
    SYN: tl.constexpr,
    REF: tl.constexpr,
    SUBTRACT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    j = offs % n_par
    k = tl.load(prm_ptr + j, mask=mask)
    v_leak = tl.load(prm_ptr + 2 * n_par + j, mask=mask)
    r = tl.load(prm_ptr + 3 * n_par + j, mask=mask)
    v_th = tl.load(prm_ptr + 4 * n_par + j, mask=mask)
    v_reset = tl.load(prm_ptr + 5 * n_par + j, mask=mask)
    rho = tl.load(prm_ptr + 6 * n_par + j, mask=mask)
    beta = tl.load(prm_ptr + 7 * n_par + j, mask=mask)
    v = tl.load(v0_ptr + offs, mask=mask)
    a = tl.load(a0_ptr + offs, mask=mask)
    if SYN:
        alpha = tl.load(prm_ptr + n_par + j, mask=mask)
        i = tl.load(i0_ptr + offs, mask=mask)
    if REF:
        ref = tl.load(ref0_ptr + offs, mask=mask)
        n_ref = tl.load(nref_ptr + j, mask=mask)
    off_t = offs.to(tl.int64)
    for _t in range(T):
        drive = tl.load(x_ptr + off_t, mask=mask)
        if SYN:
            i = tl.fma(alpha, i, drive)  # torch.addcmul fuses it on the CPU
            tl.store(iseq_ptr + off_t, i, mask=mask)
            drive = i
        vt = _lerp(v, v_leak + r * drive, k)
        thr = v_th + beta * a  # two roundings, as alif_step's v_th + beta * a
        if REF:
            act = ref == 0
            vt = tl.where(act, vt, v)
            z = (vt - thr > 0.0) & act  # the surrogate's forward H(v - A)
            ref = tl.where(z, n_ref, tl.maximum(ref - 1, 0))
            tl.store(act_ptr + off_t, act.to(tl.int8), mask=mask)
        else:
            z = vt - thr > 0.0
        zf = z.to(vt.dtype)
        tl.store(vpre_ptr + off_t, vt, mask=mask)
        tl.store(z_ptr + off_t, zf, mask=mask)
        if SUBTRACT:
            v = tl.where(z, vt - (thr - v_reset), vt)
        else:
            v = tl.where(z, v_reset, vt)
        a = tl.fma(rho, a, zf)  # torch.addcmul(z, rho, a)
        tl.store(aseq_ptr + off_t, a, mask=mask)
        off_t += N
    if REF:
        tl.store(ref_ptr + offs, ref, mask=mask)


@triton.jit
def alif_backward_kernel(
    vpre_ptr,  # [T, N]
    z_ptr,  # [T, N]
    act_ptr,  # [T, N] int8 (REF)
    drive_ptr,  # [T, N] the synaptic current (SYN) or the input
    aseq_ptr,  # [T, N] adaptation after each step
    v0_ptr,  # [N]
    i0_ptr,  # [N]
    a0_ptr,  # [N]
    prm_ptr,  # [8, n_par]
    sur_ptr,  # [2] surrogate constants
    gz_ptr,  # [T, N] dL/dz
    gv_ptr,  # [T, N] dL/dv_pre (HAS_GV)
    gi_ptr,  # [T, N] dL/di (HAS_GI)
    ga_ptr,  # [T, N] dL/da (HAS_GA)
    gx_ptr,  # out [T, N] dL/dx
    gv0_ptr,  # out [N]
    gi0_ptr,  # out [N] (SYN)
    ga0_ptr,  # out [N]
    gp_ptr,  # out [8, N] per-element parameter gradients summed over time (NEED_P)
    last,  # (T - 1) * N, the offset of the last step (an int64 where it needs one)
    T,
    N,
    n_par,
    SYN: tl.constexpr,
    REF: tl.constexpr,
    SUBTRACT: tl.constexpr,
    DETACH: tl.constexpr,
    SURR: tl.constexpr,
    HAS_GV: tl.constexpr,
    HAS_GI: tl.constexpr,
    HAS_GA: tl.constexpr,
    NEED_P: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """The LIF backward with the threshold A_t = v_th + beta a_{t-1}, and one more reverse-time
    variable: ga = dL/da_t, with dL/da_{t-1} = rho ga_t + beta g_A_t (g_A_t = dL/dA_t)."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    j = offs % n_par
    k = tl.load(prm_ptr + j, mask=mask, other=0.0)
    v_leak = tl.load(prm_ptr + 2 * n_par + j, mask=mask, other=0.0)
    r = tl.load(prm_ptr + 3 * n_par + j, mask=mask, other=0.0)
    v_th = tl.load(prm_ptr + 4 * n_par + j, mask=mask, other=0.0)
    v_reset = tl.load(prm_ptr + 5 * n_par + j, mask=mask, other=0.0)
    rho = tl.load(prm_ptr + 6 * n_par + j, mask=mask, other=0.0)
    beta = tl.load(prm_ptr + 7 * n_par + j, mask=mask, other=0.0)
    a0 = tl.load(a0_ptr + offs, mask=mask, other=0.0)
    c0 = tl.load(sur_ptr)
    c1 = tl.load(sur_ptr + 1)
    one_minus_k = 1.0 - k
    zero = tl.full(k.shape, 0.0, k.dtype)  # not tl.zeros: a @jit helper (see the module docstring)
    gv_next = zero  # dL/dv_{t+1}
    m_next = one_minus_k  # dv_{t+1}/dv'_t
    ga_carry = zero  # dL/da_t through the steps after t
    if SYN:
        alpha = tl.load(prm_ptr + n_par + j, mask=mask, other=0.0)
        gi_next = zero
    if NEED_P:
        g_k = zero
        g_alpha = zero
        g_leak = zero
        g_r = zero
        g_th = zero
        g_reset = zero
        g_rho = zero
        g_beta = zero
    off_t = offs.to(tl.int64) + last
    for tt in range(T):
        t = T - 1 - tt
        vpre = tl.load(vpre_ptr + off_t, mask=mask, other=0.0)
        z = tl.load(z_ptr + off_t, mask=mask, other=0.0)
        if t > 0:
            a_prev = tl.load(aseq_ptr + off_t - N, mask=mask, other=0.0)
        else:
            a_prev = a0
        thr = v_th + beta * a_prev
        sg = _surrogate(vpre - thr, c0, c1, SURR)
        if REF:
            actf = tl.load(act_ptr + off_t, mask=mask, other=0).to(vpre.dtype)
            sg = sg * actf
        ga = ga_carry  # dL/da_t
        if HAS_GA:
            ga = ga + tl.load(ga_ptr + off_t, mask=mask, other=0.0)
        gvp = m_next * gv_next  # dL/dv'_t (after reset)
        gz_total = tl.load(gz_ptr + off_t, mask=mask, other=0.0) + ga  # a_t = rho a_{t-1} + z_t
        if SUBTRACT:  # v'_t = v_t - z_t (A_t - v_reset)
            if not DETACH:
                gz_total = tl.fma(gvp, v_reset - thr, gz_total)
            gv = tl.fma(gz_total, sg, gvp)
            g_thr = -(gz_total * sg) - gvp * z
        else:  # v'_t = v_reset where z_t, else v_t
            if not DETACH:
                gz_total = tl.fma(gvp, v_reset - vpre, gz_total)
            gv = tl.fma(gz_total, sg, gvp * (1.0 - z))
            g_thr = -(gz_total * sg)
        if HAS_GV:
            gv = gv + tl.load(gv_ptr + off_t, mask=mask, other=0.0)
        ga_carry = tl.fma(rho, ga, beta * g_thr)  # dL/da_{t-1}
        if REF:
            m_next = tl.where(actf != 0, one_minus_k, 1.0)
            gdrive = gv * k * actf
        else:
            gdrive = gv * k
        if SYN:
            gi = gdrive * r
            if HAS_GI:
                gi = gi + tl.load(gi_ptr + off_t, mask=mask, other=0.0)
            gi = tl.fma(alpha, gi_next, gi)
            gi_next = gi
            tl.store(gx_ptr + off_t, gi, mask=mask)
        else:
            tl.store(gx_ptr + off_t, gdrive * r, mask=mask)
        if NEED_P:
            drive = tl.load(drive_ptr + off_t, mask=mask, other=0.0)
            if t > 0:  # v' and i of the step before
                vprev = tl.load(vpre_ptr + off_t - N, mask=mask, other=0.0)
                zprev = tl.load(z_ptr + off_t - N, mask=mask, other=0.0)
                if SUBTRACT:
                    if t > 1:
                        a_pp = tl.load(aseq_ptr + off_t - 2 * N, mask=mask, other=0.0)
                    else:
                        a_pp = a0
                    vprev = vprev - zprev * (v_th + beta * a_pp - v_reset)
                else:
                    vprev = tl.where(zprev > 0, v_reset, vprev)
                if SYN:
                    iprev = tl.load(drive_ptr + off_t - N, mask=mask, other=0.0)
            else:
                vprev = tl.load(v0_ptr + offs, mask=mask, other=0.0)
                if SYN:
                    iprev = tl.load(i0_ptr + offs, mask=mask, other=0.0)
            gk = gv * (v_leak + r * drive - vprev)
            if REF:
                gk = gk * actf
            g_k += gk
            g_leak += gdrive
            g_r += gdrive * drive
            if SYN:
                g_alpha += gi * iprev
            g_th += g_thr
            g_reset += gvp * z
            g_rho += ga * a_prev
            g_beta += g_thr * a_prev
        gv_next = gv
        off_t -= N
    tl.store(gv0_ptr + offs, m_next * gv_next, mask=mask)
    tl.store(ga0_ptr + offs, ga_carry, mask=mask)
    if SYN:
        tl.store(gi0_ptr + offs, alpha * gi_next, mask=mask)
    if NEED_P:
        tl.store(gp_ptr + offs, g_k, mask=mask)
        tl.store(gp_ptr + N + offs, g_alpha, mask=mask)
        tl.store(gp_ptr + 2 * N + offs, g_leak, mask=mask)
        tl.store(gp_ptr + 3 * N + offs, g_r, mask=mask)
        tl.store(gp_ptr + 4 * N + offs, g_th, mask=mask)
        tl.store(gp_ptr + 5 * N + offs, g_reset, mask=mask)
        tl.store(gp_ptr + 6 * N + offs, g_rho, mask=mask)
        tl.store(gp_ptr + 7 * N + offs, g_beta, mask=mask)


# ---------------------------------------------------------------------------------------------
# IF (spikeforge.neurons.integrate_fire): v <- v + r x, spike against v_th, reset; no leak, no
# refractoriness, no synaptic state. Parameters as rows of prm ([3, n_par]): r, v_th, v_reset.


@triton.jit
def if_forward_kernel(
    x_ptr,  # [T, N] input
    v0_ptr,  # [N]
    prm_ptr,  # [3, n_par]
    z_ptr,  # out [T, N] spikes in x's dtype
    vpre_ptr,  # out [T, N] membrane before reset
    T,
    N,
    n_par,
    SUBTRACT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    j = offs % n_par
    r = tl.load(prm_ptr + j, mask=mask)
    v_th = tl.load(prm_ptr + n_par + j, mask=mask)
    v_reset = tl.load(prm_ptr + 2 * n_par + j, mask=mask)
    gap = v_th - v_reset
    v = tl.load(v0_ptr + offs, mask=mask)
    off_t = offs.to(tl.int64)
    for _t in range(T):
        vt = v + r * tl.load(x_ptr + off_t, mask=mask)  # two roundings, as if_step's
        z = vt - v_th > 0.0  # the surrogate's forward H(v - v_th)
        tl.store(vpre_ptr + off_t, vt, mask=mask)
        tl.store(z_ptr + off_t, z.to(vt.dtype), mask=mask)
        if SUBTRACT:
            v = tl.where(z, vt - gap, vt)
        else:
            v = tl.where(z, v_reset, vt)
        off_t += N


@triton.jit
def if_backward_kernel(
    vpre_ptr,  # [T, N]
    z_ptr,  # [T, N]
    x_ptr,  # [T, N]
    prm_ptr,  # [3, n_par]
    sur_ptr,  # [2] surrogate constants
    gz_ptr,  # [T, N] dL/dz
    gv_ptr,  # [T, N] dL/dv_pre (HAS_GV)
    gx_ptr,  # out [T, N] dL/dx
    gv0_ptr,  # out [N]
    gp_ptr,  # out [3, N] per-element parameter gradients summed over time (NEED_P)
    last,  # (T - 1) * N, the offset of the last step
    T,
    N,
    n_par,
    SUBTRACT: tl.constexpr,
    DETACH: tl.constexpr,
    SURR: tl.constexpr,
    HAS_GV: tl.constexpr,
    NEED_P: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """The LIF backward with k = 1 and v_leak = 0 folded in: dv_{t+1}/dv'_t = 1."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    j = offs % n_par
    r = tl.load(prm_ptr + j, mask=mask, other=0.0)
    v_th = tl.load(prm_ptr + n_par + j, mask=mask, other=0.0)
    v_reset = tl.load(prm_ptr + 2 * n_par + j, mask=mask, other=0.0)
    c0 = tl.load(sur_ptr)
    c1 = tl.load(sur_ptr + 1)
    zero = tl.full(r.shape, 0.0, r.dtype)  # not tl.zeros: a @jit helper (see the module docstring)
    gvp = zero  # dL/dv'_t = dL/dv_{t+1}
    if NEED_P:
        g_r = zero
        g_th = zero
        g_reset = zero
    off_t = offs.to(tl.int64) + last
    for _tt in range(T):
        vpre = tl.load(vpre_ptr + off_t, mask=mask, other=0.0)
        z = tl.load(z_ptr + off_t, mask=mask, other=0.0)
        sg = _surrogate(vpre - v_th, c0, c1, SURR)
        gz_total = tl.load(gz_ptr + off_t, mask=mask, other=0.0)
        if SUBTRACT:  # v'_t = v_t - z_t (v_th - v_reset)
            if not DETACH:
                gz_total = tl.fma(gvp, v_reset - v_th, gz_total)
            gv = tl.fma(gz_total, sg, gvp)
        else:  # v'_t = v_reset where z_t, else v_t
            if not DETACH:
                gz_total = tl.fma(gvp, v_reset - vpre, gz_total)
            gv = tl.fma(gz_total, sg, gvp * (1.0 - z))
        if HAS_GV:
            gv = gv + tl.load(gv_ptr + off_t, mask=mask, other=0.0)
        tl.store(gx_ptr + off_t, gv * r, mask=mask)
        if NEED_P:
            g_r += gv * tl.load(x_ptr + off_t, mask=mask, other=0.0)
            g_thr = -(gz_total * sg)
            if SUBTRACT:
                g_thr = g_thr - gvp * z
            g_th += g_thr
            g_reset += gvp * z
        gvp = gv
        off_t -= N
    tl.store(gv0_ptr + offs, gvp, mask=mask)
    if NEED_P:
        tl.store(gp_ptr + offs, g_r, mask=mask)
        tl.store(gp_ptr + N + offs, g_th, mask=mask)
        tl.store(gp_ptr + 2 * N + offs, g_reset, mask=mask)
