"""Learning in the compiled kernel of :class:`~spikeforge.circuits.Network` (numba, CPU): phase 6
of a step for the plastic projections whose rule the kernel covers, ``STDP`` and ``TripletSTDP``
with scalar parameters, any weight dependence, pairing, ``same_step``, ``batch_reduce``
(``"mean"``, ``"sum"``) and ``bound``, Dale's sign kept, and a constant modulator (a number, or a
tensor per copy or per target neuron; a callable one runs the PyTorch path).

The maths mirrors :func:`~spikeforge.plasticity.stdp_step`, :func:`~spikeforge.plasticity.triplet_step`
and :func:`~spikeforge.plasticity.apply_weight_update` operation by operation, at the synapses, as
the PyTorch path runs them with ``synapses=`` (``circuits/_torch_path.py``, phase 6): the traces of
every neuron decay each step, then each synapse of a neuron that spiked in any copy (every synapse
in the first step of a run) takes its change from the traces before this step's spikes, within
the rule's bounds and Dale's sign, and then the traces of the neurons that spiked grow. A synapse
whose neurons did not spike has no change (the rules are event-driven), so dense projections are
treated the same way, through their synapse list. The spikes of the step went out in phase 5
with the weights before the change.

Layout (see :func:`pack`): per plastic projection a row of ``pl_meta`` (int) and of ``pl_val``
(parameters in the network dtype); the traces in ``pl_tr`` ``[B, *]`` (STDP: ``x_pre``, ``y_post``;
triplet: ``r1``, ``r2``, ``o1``, ``o2``), spike flags in ``pl_sp`` ``[B, *]`` (``n_pre`` then
``n_post`` per projection), a CSR of the synapses by target (``pl_ptr`` row pointers, ``pl_syn``
absolute synapse indices, ``pl_pre`` their sources) and scratch in ``pl_act`` (a mark and a list
of the neurons that spiked in any copy, sources then targets). Per-copy or per-neuron modulators
are in ``pl_mod`` ``[B, *]``. The weights are the kernel's CSR weights (``w``), written back into
the projections after each kernel call, and the traces into the simulation state.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numba import njit

from ..errors import ShapeError
from ..plasticity import STDP, TripletSTDP
from ..plasticity._common import as_third_factor

if TYPE_CHECKING:
    from ._populations import _NetworkBase as Network
    from .projection import Projection
    from .state import _Sim

# pl_meta columns
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
) = range(18)
_NMETA = 18
# pl_val columns: 4 decays, 4 amplitudes, w_min, w_max, mu_plus, mu_minus, modulator, B
_WMIN, _WMAX, _MU_P, _MU_M, _MODV, _FB = 8, 9, 10, 11, 12, 13
_NVAL = 14
_STDP, _TRIPLET = 0, 1
_CH_POST, _CH_SRC, _CH_IPOFF = 0, 3, 11  # the ch_meta columns of _kernel
_BOUNDS = {"hard": 0, "soft": 1, "none": 2}
_SAME_STEP = {"skip": 0, "potentiate": 1, "both": 2}


def unsupported(proj: Projection, batch: int, dtype: torch.dtype) -> str:
    """Why the kernel cannot run the learning of ``proj`` ("" when it can, or it is not plastic)."""
    if not proj.plastic:
        return ""
    rule = proj.plasticity
    name = type(rule).__name__
    if type(rule) not in (STDP, TripletSTDP):
        return f"projection {proj.name!r} learns with {name} (the kernel runs STDP and TripletSTDP)"
    for key, t in rule.named_buffers():
        if t.numel() != 1:
            return (
                f"projection {proj.name!r}: {name}.{key} is not a scalar (the kernel takes scalar parameters)"
            )
    m = proj.modulator
    if callable(m):
        return f"projection {proj.name!r} has a callable modulator (evaluated in Python each step)"
    if isinstance(m, torch.Tensor) and m.dim() > 0:
        like = torch.empty((), dtype=dtype).expand(batch, proj.n_post, proj.n_pre)
        try:
            f = as_third_factor("modulator", m, (batch,), proj.n_post, like)
        except ShapeError:
            return ""  # the PyTorch path and the kernel raise the same error
        if f.dim() > 3 or f.shape[-1] != 1:
            return f"projection {proj.name!r} has a modulator per synapse (the kernel: per copy or target)"
    return ""


def _mu_kind(mu: float) -> int:
    """How torch.pow(base, mu) is computed: 0 no factor, 1 base, 2 sqrt, 3 base * base, 4 pow."""
    return {0.0: 0, 1.0: 1, 0.5: 2, 2.0: 3}.get(mu, 4)


class Plastic:
    """The packed plastic projections of one kernel run, and their write-back."""

    def __init__(self, net: Network, sim: _Sim, order: list[str], npdt: Any) -> None:
        B = net._B
        self.names = [k for k in order if net._proj(k).plastic]
        Q = len(self.names)
        self.meta = np.zeros((Q, _NMETA), np.int64)
        self.val = np.zeros((max(Q, 1), _NVAL), npdt)
        self.ptr, self.syn, self.pre, self.syn_range = _by_post(net, order, self.names)
        tr_n = sp_n = act_n = ptr_n = mod_n = 0
        mods = []
        for q, k in enumerate(self.names):
            proj = net._proj(k)
            rule = proj.plasticity
            npre, npost = proj.n_pre, proj.n_post
            triplet = type(rule) is TripletSTDP
            p = {key: float(t) for key, t in rule.named_buffers()}
            if triplet:
                taus = (p["tau_plus"], p["tau_x"], p["tau_minus"], p["tau_y"])
                amps = (p["a2_plus"], p["a3_plus"], p["a2_minus"], p["a3_minus"])
                mus = (0.0, 0.0)
            else:
                taus = (p["tau_plus"], p["tau_minus"], 1.0, 1.0)
                amps = (p["a_plus"], p["a_minus"], 0.0, 0.0)
                mus = (p["mu_plus"], p["mu_minus"])
            mod_kind, mod_v = 0, 0.0
            m = proj.modulator
            if m is not None:
                like = torch.empty((), dtype=net.dtype).expand(B, npost, npre)
                f = as_third_factor("modulator", m, (B,), npost, like)
                if f.dim() > 0:
                    mods.append(f.expand(B, npost, 1).reshape(B, npost).numpy().astype(npdt))
                    mod_kind = 2
                else:
                    mod_v, mod_kind = float(f), 1
            self.meta[q] = (
                order.index(k),
                _TRIPLET if triplet else _STDP,
                npre,
                npost,
                tr_n,
                sp_n,
                act_n,
                ptr_n,
                int(rule.pairing == "nearest"),
                _SAME_STEP[getattr(rule, "same_step", "skip")],
                int(rule.batch_reduce == "mean"),
                _BOUNDS[rule.bound],
                proj.sign,
                _mu_kind(mus[0]),
                _mu_kind(mus[1]),
                mod_kind,
                mod_n,
                1,  # the first step of a run takes every synapse (as the PyTorch path)
            )
            dt = float(rule.dt)
            self.val[q] = (
                *(math.exp(-dt / tau) for tau in taus),
                *amps,
                p["w_min"],
                p["w_max"],
                *mus,
                mod_v,
                float(B),
            )
            tr_n += 2 * (npre + npost) if triplet else npre + npost
            sp_n += npre + npost
            act_n += 2 * (npre + npost)
            ptr_n += npost + 1
            mod_n += npost if mod_kind == 2 else 0
        self.tr = np.zeros((B, max(tr_n, 1)), npdt)
        for q, k in enumerate(self.names):
            off = int(self.meta[q, _TR])
            for t in sim.plastic[k]:
                n = t.shape[-1]
                self.tr[:, off : off + n] = t.detach().cpu().reshape(B, n).numpy()
                off += n
        self.sp = np.zeros((B, max(sp_n, 1)), npdt)
        self.act = np.zeros(max(act_n, 1), np.int64)
        self.mod = np.concatenate(mods, axis=1) if mods else np.zeros((B, 1), npdt)

    def args(self) -> tuple[np.ndarray, ...]:
        """The arrays run_steps passes to :func:`learn`."""
        return self.meta, self.val, self.tr, self.sp, self.act, self.ptr, self.syn, self.pre, self.mod

    def write_back(self, net: Network, sim: _Sim, w: np.ndarray) -> None:
        """The learned weights into the projections, the traces into the simulation state."""
        for q, k in enumerate(self.names):
            proj = net._proj(k)
            s0, s1 = self.syn_range[q]
            assert proj.w is not None
            wv = torch.from_numpy(w[s0:s1].copy()).to(proj.w.dtype)
            with torch.no_grad():
                if proj.storage == "dense":
                    post_i, pre_i = proj._dense_pairs()
                    proj.w[post_i, pre_i] = wv
                else:
                    proj.w.copy_(wv)
            st = sim.plastic[k]
            off = int(self.meta[q, _TR])
            fields = []
            for t in st:
                n = t.shape[-1]
                fields.append(torch.from_numpy(self.tr[:, off : off + n].copy()).reshape(t.shape).to(t))
                off += n
            sim.plastic[k] = type(st)(*fields)


def _by_post(
    net: Network, order: list[str], names: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """The synapses of the plastic projections by target, for the kernel's CSR (whose synapses are
    numbered over all projections in ``order``): row pointers ``[n_post + 1]`` per projection (into
    the concatenated lists), absolute synapse indices, their sources, and each projection's range
    of synapses. Cached on the network while the projections are the same (connectivity is fixed)."""
    key = tuple((k, id(net._proj(k)), net._proj(k).n_synapses) for k in order)
    cache = getattr(net, "_kernel_plastic_cache", None)
    if cache is not None and cache[0] == key and cache[1] == names:
        return cache[2]  # type: ignore[no-any-return]
    starts = np.cumsum([0] + [net._proj(k).n_synapses for k in order])
    ptrs, syns, pres, ranges = [], [], [], []
    total = 0
    for k in names:
        proj = net._proj(k)
        if proj.storage == "sparse":
            post_i = proj.post_idx.cpu().numpy().astype(np.int64)
            pre_i = proj.pre_indices.cpu().numpy()
        else:  # the kernel's CSR of a dense projection: csr_arrays' synapse order
            post_t, pre_t = proj._dense_pairs()
            post_i, pre_i = post_t.numpy(), pre_t.numpy()
        s0 = int(starts[order.index(k)])
        by_post = np.argsort(post_i, kind="stable")
        ptr = np.zeros(proj.n_post + 1, np.int64)
        ptr[1:] = np.cumsum(np.bincount(post_i, minlength=proj.n_post))
        ptrs.append(ptr + total)
        syns.append(by_post.astype(np.int64) + s0)
        pres.append(pre_i[by_post].astype(np.int64))
        ranges.append((s0, s0 + proj.n_synapses))
        total += by_post.size
    out = (
        np.concatenate(ptrs) if ptrs else np.zeros(1, np.int64),
        np.concatenate(syns) if syns else np.zeros(1, np.int64),
        np.concatenate(pres) if pres else np.zeros(1, np.int64),
        ranges,
    )
    net._kernel_plastic_cache = (key, list(names), out)  # type: ignore[attr-defined,assignment]
    return out


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
def _change(q, i, j, w0, B, meta, val, tr, sp, mod):  # type: ignore[no-untyped-def]
    """The rule's change of the synapse ``j -> i`` (weight ``w0``) of plastic projection ``q``."""
    npre = meta[q, _NPRE]
    to = meta[q, _TR]
    so = meta[q, _SP]
    zero = w0 - w0
    mod_kind = meta[q, _MOD]
    mean = meta[q, _MEAN] == 1 and B > 1
    fb = val[q, _FB]
    if meta[q, _RULE] == _STDP:
        same = meta[q, _SAME]
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
        xo = to + j
        yo = to + npre + i
        if mod_kind == 2:
            acc = zero
            mo = meta[q, _MODOFF] + i
            for b in range(B):
                pb = sp[b, so + npre + i]
                qb = sp[b, so + j]
                d = ap * (pb * tr[b, xo]) - am * (tr[b, yo] * qb)
                if same != 0:
                    cc = pb * qb
                    d = d + ap * cc
                    if same == 2:
                        d = d - am * cc
                acc += d * mod[b, mo]
            return acc / fb if mean else acc
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
    a2p = val[q, 4]
    a3p = val[q, 5]
    a2m = val[q, 6]
    a3m = val[q, 7]
    r1 = to + j
    r2 = to + npre + j
    o1 = to + 2 * npre + i
    o2 = to + 2 * npre + npost + i
    if mod_kind == 2:
        acc = zero
        mo = meta[q, _MODOFF] + i
        for b in range(B):
            pb = sp[b, so + npre + i]
            qb = sp[b, so + j]
            pot = a2p * (pb * tr[b, r1]) + a3p * ((pb * tr[b, o2]) * tr[b, r1])
            dep = a2m * (tr[b, o1] * qb) + a3m * (tr[b, o1] * (qb * tr[b, r2]))
            acc += (pot - dep) * mod[b, mo]
        return acc / fb if mean else acc
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
    d = (a2p * s1 + a3p * s2) - (a2m * s3 + a3m * s4)
    return d * val[q, _MODV] if mod_kind == 1 else d


@njit(cache=True, nogil=True, inline="always")
def _update(q, syn, i, j, w, B, meta, val, tr, sp, mod):  # type: ignore[no-untyped-def]
    """Synapse ``syn`` (``j -> i``) takes its change within the bounds and Dale's sign."""
    w0 = w[syn]
    dw = _change(q, i, j, w0, B, meta, val, tr, sp, mod)
    bound = meta[q, _BOUND]
    lo = val[q, _WMIN]
    hi = val[q, _WMAX]
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
    sign = meta[q, _SIGN]
    if sign > 0 and new < zero:
        new = zero
    elif sign < 0 and new > zero:
        new = zero
    w[syn] = new


@njit(cache=True, nogil=True)
def _decay(tr, B, off, n, f):  # type: ignore[no-untyped-def]
    """``tr[:, off:off + n] *= f``."""
    for b in range(B):
        x = tr[b, off : off + n]
        for k in range(n):
            x[k] *= f


@njit(cache=True, nogil=True)
def learn(
    t,
    B,
    P,
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
    meta,
    val,
    tr,
    sp,
    act,
    ptr,
    syn_by_post,
    pre_by_post,
    mod,
):  # type: ignore[no-untyped-def]
    """Phase 6 of step ``t`` of the caller's block for every plastic projection, after all copies
    ran phases 1-5 (``spk``/``spk_n``: the spikes of each copy; ``ext_*``: of the input groups)."""
    for q in range(meta.shape[0]):
        one = val[q, _FB] / val[q, _FB]
        c = meta[q, _C]
        npre = meta[q, _NPRE]
        npost = meta[q, _NPOST]
        to = meta[q, _TR]
        so = meta[q, _SP]
        ao = meta[q, _ACT]
        rule = meta[q, _RULE]
        nearest = meta[q, _NEAREST] == 1
        src = ch_meta[c, _CH_SRC]
        tgt = ch_meta[c, _CH_POST]
        ipo = ch_meta[c, _CH_IPOFF]
        n_tr_pre = npre if rule == _STDP else 2 * npre
        # 1. the traces decay
        for r in range(2 if rule == _TRIPLET else 1):
            _decay(tr, B, to + r * npre, npre, val[q, r])
            po = to + n_tr_pre + r * npost
            _decay(tr, B, po, npost, val[q, 2 + r if rule == _TRIPLET else 1])
        # 2. the spikes: flags per copy, and the neurons that spiked in any copy (listed once)
        n_act_pre = 0
        n_act_post = 0
        for b in range(B):
            for side in range(2):
                if side == 0 and src >= P:
                    e0 = (t * B + b) * G + (src - P)
                    lst = ext_id[ext_ptr[e0] : ext_ptr[e0 + 1]]
                else:
                    p = src if side == 0 else tgt
                    o = pop_meta[p, 1]
                    lst = spk[b, o : o + spk_n[b, p]]
                base = so if side == 0 else so + npre
                mark = ao if side == 0 else ao + npre
                lpos = ao + npre + npost if side == 0 else ao + 2 * npre + npost
                for k in range(lst.shape[0]):
                    idx = lst[k]
                    sp[b, base + idx] = one
                    if act[mark + idx] == 0:
                        act[mark + idx] = 1
                        if side == 0:
                            act[lpos + n_act_pre] = idx
                            n_act_pre += 1
                        else:
                            act[lpos + n_act_post] = idx
                            n_act_post += 1
        # 3. the synapses of those neurons (every synapse in the first step of a run)
        lpre = ao + npre + npost
        lpost = ao + 2 * npre + npost
        if meta[q, _FIRST] == 1:
            meta[q, _FIRST] = 0
            for j in range(npre):
                for s in range(indptr[ipo + j], indptr[ipo + j + 1]):
                    _update(q, s, post[s], j, w, B, meta, val, tr, sp, mod)
        else:
            for k in range(n_act_pre):
                j = act[lpre + k]
                for s in range(indptr[ipo + j], indptr[ipo + j + 1]):
                    _update(q, s, post[s], j, w, B, meta, val, tr, sp, mod)
            pp = meta[q, _PTR]
            for k in range(n_act_post):
                i = act[lpost + k]
                for e in range(ptr[pp + i], ptr[pp + i + 1]):
                    j = pre_by_post[e]
                    if act[ao + j] == 0:  # not already changed from the source's side
                        _update(q, syn_by_post[e], i, j, w, B, meta, val, tr, sp, mod)
        # 4. the traces of the neurons that spiked grow; the flags and marks are cleared
        for b in range(B):
            for k in range(n_act_pre):
                j = act[lpre + k]
                if sp[b, so + j] != 0:
                    sp[b, so + j] = 0
                    for r in range(2 if rule == _TRIPLET else 1):
                        x = to + r * npre + j
                        tr[b, x] = one if nearest else tr[b, x] + one
            for k in range(n_act_post):
                i = act[lpost + k]
                if sp[b, so + npre + i] != 0:
                    sp[b, so + npre + i] = 0
                    for r in range(2 if rule == _TRIPLET else 1):
                        y = to + n_tr_pre + r * npost + i
                        tr[b, y] = one if nearest else tr[b, y] + one
        for k in range(n_act_pre):
            act[ao + act[lpre + k]] = 0
        for k in range(n_act_post):
            act[ao + npre + act[lpost + k]] = 0
