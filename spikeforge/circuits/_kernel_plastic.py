"""Learning in the compiled kernel of :class:`~spikeforge.circuits.Network` (numba, CPU): phase 6
of a step for the plastic projections whose rule the kernel covers, with scalar parameters and a
constant modulator (a number, or a tensor per copy or per target neuron where the rule takes one;
a callable one runs the PyTorch path):

* ``STDP`` and ``TripletSTDP``: any weight dependence, pairing, ``same_step``, ``batch_reduce``
  (``"mean"``, ``"sum"``) and ``bound``, event-driven at the synapses;
* ``RewardModulatedSTDP`` and ``EligibilityTrace`` around ``STDP`` or ``TripletSTDP`` (its
  ``batch_reduce`` ``"none"`` included: one eligibility per copy): a tag per synapse (per pair of a
  dense projection) and the weights moved by the third factor at every step;
* ``ThreeFactor`` (without ``post_fn``) and ``SynapticScaling``.

The maths, mirrored operation by operation from the rules' step functions, is in
:mod:`spikeforge.circuits._kernel_rules`. The order is the PyTorch path's with ``synapses=``
(``circuits/_torch_path.py``, phase 6): the traces of every neuron decay each step, then each
synapse of a neuron that spiked in any copy (every synapse in the first step of a run, and every
synapse at every step for the rules whose weights follow a tag or a rate) takes its change from the
traces before this step's spikes, within the rule's bounds and Dale's sign, and then the traces of
the neurons that spiked grow. The spikes of the step went out in phase 5 with the weights before
the change.

Layout (see :class:`Plastic`): per plastic projection a row of ``pl_meta`` (int) and of ``pl_val``
(parameters in the network dtype); the rule state in ``pl_tr`` ``[B, *]``, one column range per
tensor of the state in its order (STDP: ``x_pre``, ``y_post``; triplet: ``r1``, ``r2``, ``o1``,
``o2``; then the tags, the dopamine, the eligibility or the rates), a tensor shared by the copies
(a tag reduced over the batch) in row 0; spike flags in ``pl_sp`` ``[B, *]`` (``n_pre`` then
``n_post`` per projection), a CSR of the synapses by target (``pl_ptr`` row pointers, ``pl_syn``
absolute synapse indices, ``pl_pre`` their sources) and in ``pl_act`` scratch (a mark and a list of
the neurons that spiked in any copy, sources then targets) and, for a dense projection with tags,
the synapse of each pair, or, for event-driven tags, the step each was last brought up to date
(``meta[q, _CLOCK]`` counts the steps of the run; :meth:`Plastic.write_back` catches them up).
Modulators per copy or per target (times the learning rate where the rule multiplies them so) are
in ``pl_mod`` ``[B, *]``. The weights are the kernel's CSR weights (``w``),
written back into the projections after each kernel call, and the state into the simulation state.

A rule with spike delays (``dendritic_delay``, ``axonal_delay``; its state a
:class:`~spikeforge.circuits._rule_delays.DelayedRuleState`) has its delay lines after its state in
``pl_tr``, and step 2 of :func:`learn` takes the spikes it sees from them
(:mod:`spikeforge.circuits._kernel_delays`, which names the meta columns after ``_NMETA``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numba import njit
from torch import Tensor

from ..errors import ShapeError
from ..plasticity import (
    STDP,
    EligibilityTrace,
    RewardModulatedSTDP,
    SynapticScaling,
    ThreeFactor,
    TripletSTDP,
)
from ..plasticity._common import as_third_factor, cast, third_factor
from ._kernel_delays import _DLINE, NMETA, delayed_spikes
from ._kernel_rules import (
    _ACT,
    _AE,
    _C,
    _CLOCK,
    _ELIGIBILITY,
    _FB,
    _FIRST,
    _KIND,
    _LAZY,
    _MOD,
    _NEAREST,
    _NMETA,
    _NPOST,
    _NPRE,
    _NVAL,
    _PLAIN,
    _PTR,
    _REWARD,
    _RULE,
    _SCALING,
    _SP,
    _STDP,
    _THREE_FACTOR,
    _TR,
    _TRIPLET,
    scaling,
    stdp_events,
    tags,
    three_factor,
    update,
)
from ._rule_delays import DelayedRuleState, rule_spike_delays

if TYPE_CHECKING:
    from ._populations import _NetworkBase as Network
    from .projection import Projection
    from .state import _Sim

_CH_IPOFF = 11  # the ch_meta column of _kernel (its source and target columns: _kernel_delays)
_BOUNDS = {"hard": 0, "soft": 1, "none": 2}
_SAME_STEP = {"skip": 0, "potentiate": 1, "both": 2}
_PAIR_RULES = (STDP, TripletSTDP)
_KINDS = {
    STDP: _PLAIN,
    TripletSTDP: _PLAIN,
    RewardModulatedSTDP: _REWARD,
    EligibilityTrace: _ELIGIBILITY,
    ThreeFactor: _THREE_FACTOR,
    SynapticScaling: _SCALING,
}


def unsupported(proj: Projection, batch: int, dtype: torch.dtype) -> str:
    """Why the kernel cannot run the learning of ``proj`` ("" when it can, or it is not plastic)."""
    if not proj.plastic:
        return ""
    rule = proj.plasticity
    name = type(rule).__name__
    if type(rule) not in _KINDS:
        return (
            f"projection {proj.name!r} learns with {name} (the kernel runs STDP, TripletSTDP, "
            f"RewardModulatedSTDP, EligibilityTrace, ThreeFactor and SynapticScaling)"
        )
    if isinstance(rule, EligibilityTrace) and type(rule.rule) not in _PAIR_RULES:
        return (
            f"projection {proj.name!r}: EligibilityTrace wraps {type(rule.rule).__name__} (the kernel: "
            f"STDP or TripletSTDP)"
        )
    if isinstance(rule, ThreeFactor) and rule.post_fn is not None:
        return f"projection {proj.name!r}: ThreeFactor has a post_fn (a Python callable, evaluated each step)"
    if isinstance(rule, SynapticScaling) and proj.storage == "sparse" and _has_multapses(proj):
        return (
            f"projection {proj.name!r} has multapses and SynapticScaling (its change is computed for "
            f"the summed weight of a pair)"
        )
    for key, t in rule.named_buffers():
        if t.numel() != 1:
            return (
                f"projection {proj.name!r}: {name}.{key} is not a scalar (the kernel takes scalar parameters)"
            )
    if callable(proj.modulator):
        return f"projection {proj.name!r} has a callable modulator (evaluated in Python each step)"
    try:
        factor = _third(proj, batch, dtype)
    except ShapeError:
        return ""  # the PyTorch path and the kernel raise the same error
    if isinstance(factor, str):
        return factor
    return ""


def _has_multapses(proj: Projection) -> bool:
    key = proj.post_indices * proj.n_pre + proj.pre_indices
    return int(torch.unique(key).numel()) < proj.n_synapses


def _per_copy_target(f: Tensor, B: int, n_post: int, proj: Projection) -> Tensor | str:
    """A third factor shaped as the rule shapes it (``[]``, ``[n_post, 1]``, ``[B, 1, 1]`` or
    ``[B, n_post, 1]``) as ``[B, n_post]``, or why the kernel cannot take it."""
    if f.dim() > 3 or (f.dim() > 0 and f.shape[-1] != 1):
        return f"projection {proj.name!r} has a modulator per synapse (the kernel: per copy or target)"
    return f.expand(B, n_post, 1).reshape(B, n_post)


def _third(proj: Projection, B: int, dtype: torch.dtype) -> Any:
    """The constant third factor of ``proj`` as the kernel takes it: ``None`` (no modulator), a
    float or a ``[B, n_post]`` tensor; a str says why the kernel cannot take it. Raises the errors
    of the rule's step for a modulator of the wrong shape."""
    m = proj.modulator
    rule = proj.plasticity
    npost, npre = proj.n_post, proj.n_pre
    if m is None:
        return None
    if isinstance(rule, RewardModulatedSTDP):  # the dopamine release, shaped as the dopamine []
        release = torch.as_tensor(m, dtype=dtype)
        if release.dim():
            raise ShapeError(
                f"modulator (dopamine release) must be a number or broadcast to [], got {list(release.shape)}"
            )
        return float(release)
    if isinstance(rule, EligibilityTrace):
        lead: tuple[int, ...] = (B,) if getattr(rule.rule, "batch_reduce", "mean") == "none" else ()
        if isinstance(m, Tensor) and not lead and tuple(m.shape) == (B,):
            raise ShapeError(
                f"a modulator per sample {list(m.shape)} needs one eligibility per sample: build the "
                f"wrapped rule with batch_reduce='none' (or give a per-neuron modulator as [n_post, 1])"
            )
        like = torch.empty((), dtype=dtype).expand(lead + (npost, npre))
        f = third_factor("modulator", m, lead, npost, npre, like)
        return _per_copy_target(cast(rule.lr, like) * f, B, npost, proj)
    if isinstance(rule, ThreeFactor):
        like = torch.empty((), dtype=dtype).expand(B, npost, npre)
        f = as_third_factor("modulator", m, (B,), npost, like)
        return _per_copy_target(cast(rule.lr, like) * f, B, npost, proj)
    if isinstance(rule, SynapticScaling):
        like = torch.empty((), dtype=dtype).expand(npost, npre)
        return _per_copy_target(as_third_factor("modulator", m, (), npost, like), B, npost, proj)
    like = torch.empty((), dtype=dtype).expand(B, npost, npre)
    f = as_third_factor("modulator", m, (B,), npost, like)
    if f.dim() == 0:
        return float(f)
    return _per_copy_target(f, B, npost, proj)


def _mu_kind(mu: float) -> int:
    """How torch.pow(base, mu) is computed: 0 no factor, 1 base, 2 sqrt, 3 base * base, 4 pow."""
    return {0.0: 0, 1.0: 1, 0.5: 2, 2.0: 3}.get(mu, 4)


def _leaves(st: Any) -> list[Tensor]:
    """The tensors of a rule state (NamedTuples, nested), depth first."""
    if isinstance(st, Tensor):
        return [st]
    return [t for f in st for t in _leaves(f)]


def _rebuild(template: Any, leaves: Any) -> Any:
    """A rule state shaped as ``template`` with its tensors taken from the iterator ``leaves``."""
    if isinstance(template, Tensor):
        return next(leaves)
    return type(template)(*(_rebuild(f, leaves) for f in template))


class Plastic:
    """The packed plastic projections of one kernel run, and their write-back."""

    def __init__(self, net: Network, sim: _Sim, order: list[str], npdt: Any) -> None:
        B = net._B
        self.names = [k for k in order if net._proj(k).plastic]
        Q = len(self.names)
        self.meta = np.zeros((Q, NMETA), np.int64)
        self.val = np.zeros((max(Q, 1), _NVAL), npdt)
        self.ptr, self.syn, self.pre, self.syn_range = _by_post(net, order, self.names)
        # per projection: (column, columns, per copy) of each tensor of the rule state
        self.slots: list[list[tuple[int, int, bool]]] = []
        tr_n = sp_n = act_n = ptr_n = mod_n = 0
        mods, maps = [], []
        for q, k in enumerate(self.names):
            proj = net._proj(k)
            rule = proj.plasticity
            kind = _KINDS[type(rule)]
            inner = {_REWARD: getattr(rule, "stdp", None), _ELIGIBILITY: getattr(rule, "rule", None)}.get(
                kind, rule
            )
            npre, npost = proj.n_pre, proj.n_post
            triplet = type(inner) is TripletSTDP
            p = {key.split(".")[-1]: float(t) for key, t in rule.named_buffers()}
            if triplet:
                taus = (p["tau_plus"], p["tau_x"], p["tau_minus"], p["tau_y"])
                amps = (p["a2_plus"], p["a3_plus"], p["a2_minus"], p["a3_minus"])
                mus = (0.0, 0.0)
            elif kind <= _ELIGIBILITY:
                taus = (p["tau_plus"], p["tau_minus"], 1.0, 1.0)
                amps = (p["a_plus"], p["a_minus"], 0.0, 0.0)
                mus = (p["mu_plus"], p["mu_minus"])
            else:
                taus, amps, mus = (1.0, 1.0, 1.0, 1.0), (0.0, 0.0, 0.0, 0.0), (0.0, 0.0)
            factor = _third(proj, B, net.dtype)
            mod_kind, mod_v, emod = 0, 0.0, 0
            if kind == _PLAIN and isinstance(factor, Tensor):
                mod_kind = 2
            elif kind == _PLAIN and factor is not None:
                mod_v, mod_kind = factor, 1
            elif kind != _REWARD and factor is not None:
                emod = 1
            if isinstance(factor, Tensor):
                mods.append(factor.numpy().astype(npdt))
            # the rule state's tensors, in order, and the pairs of a tag or eligibility
            percopy = kind == _ELIGIBILITY and getattr(inner, "batch_reduce", "mean") == "none"
            st = _leaves(sim.plastic[k])
            lines = isinstance(sim.plastic[k], DelayedRuleState)  # the spike delays' lines last
            n_rule = len(st) - 2 * lines
            n_inner = 0 if kind > _ELIGIBILITY else (4 if triplet else 2)
            tagged = kind in (_REWARD, _ELIGIBILITY)  # the tensors after the wrapped rule's traces
            shared = [tagged and n_inner <= r < n_rule and not percopy for r in range(len(st))]
            slots = []
            off = tr_n
            pair_col = tr_n
            for r, t in enumerate(st):
                n = t.numel() if shared[r] else t.numel() // B
                if r == (1 if kind == _THREE_FACTOR else n_inner):
                    pair_col = off
                slots.append((off, n, not shared[r]))
                off += n
            self.slots.append(slots)
            dense_pairs = kind in (_REWARD, _ELIGIBILITY) and proj.storage == "dense"
            s0 = self.syn_range[q][0]
            map_off = -1
            if dense_pairs:
                post_t, pre_t = proj._dense_pairs()
                pmap = np.full(npost * npre, -1, np.int64)
                pmap[(post_t * npre + pre_t).numpy()] = s0 + np.arange(post_t.numel())
                map_off = act_n + 2 * (npre + npost)
                maps.append((map_off, pmap))
            lazy_off = -1
            if tagged and not percopy and not dense_pairs:  # event-driven tags: their last step
                lazy_off = act_n + 2 * (npre + npost)
            bound = getattr(inner, "bound", "none")
            reduce = getattr(inner, "batch_reduce", "mean")
            delays = rule_spike_delays(rule)
            self.meta[q, _NMETA:] = (slots[n_rule][0] if lines else -1, *delays, sim.step)
            self.meta[q, :_NMETA] = (
                order.index(k),
                _TRIPLET if triplet else _STDP,
                npre,
                npost,
                tr_n,
                sp_n,
                act_n,
                ptr_n,
                int(getattr(inner, "pairing", "") == "nearest"),
                _SAME_STEP[getattr(inner, "same_step", "skip")],
                int(reduce == "mean"),
                _BOUNDS[bound],
                proj.sign,
                _mu_kind(mus[0]),
                _mu_kind(mus[1]),
                mod_kind,
                mod_n,
                1,  # the first step of a run takes every synapse (as the PyTorch path)
                kind,
                pair_col,
                int(kind == _THREE_FACTOR or dense_pairs),
                s0,
                map_off,
                int(percopy),
                int(getattr(rule, "batch_reduce", "mean") == "mean"),
                emod,
                mod_n,
                int(kind == _REWARD and factor is not None),
                0,
                lazy_off,
            )
            dt = float(rule.dt)
            dt_in = float(getattr(inner, "dt", dt))  # the wrapped rule's traces decay with its dt
            self.val[q, :14] = (
                *(math.exp(-dt_in / tau) for tau in taus),
                *amps,
                p.get("w_min", 0.0),
                p.get("w_max", 0.0),
                *mus,
                mod_v,
                float(B),
            )
            tau_e = p.get("tau_c", p.get("tau_e", p.get("tau_rate", 1.0)))
            a_x = math.exp(-dt / p["tau_rate"]) if kind == _SCALING else math.exp(-dt / p.get("tau_pre", 1.0))
            self.val[q, 14:] = (
                math.exp(-dt / tau_e),  # _AE: the tag or eligibility decay
                math.exp(-dt / p.get("tau_d", 1.0)),  # _AD
                p.get("lr", 0.0) * dt,  # _LRDT, as (lr * dt) in the rules
                p.get("d_baseline", 0.0),  # _D0
                factor if kind == _REWARD and factor is not None else 0.0,  # _REL
                a_x,  # _AX: ThreeFactor's presynaptic filter, SynapticScaling's rate filter
                p.get("target_rate", 1.0),  # _TGT
                1.0 - a_x,  # _OMA
                dt,  # _DTV
            )
            tr_n = off
            sp_n += npre + npost
            act_n += 2 * (npre + npost) + (npost * npre if dense_pairs else 0)
            act_n += proj.n_synapses if lazy_off >= 0 else 0
            ptr_n += npost + 1
            mod_n += npost if isinstance(factor, Tensor) else 0
        self.tr = np.zeros((B, max(tr_n, 1)), npdt)
        for q, k in enumerate(self.names):
            for t, (off, n, per_copy) in zip(_leaves(sim.plastic[k]), self.slots[q]):
                a = t.detach().cpu().numpy()
                if per_copy:
                    self.tr[:, off : off + n] = a.reshape(B, n)
                else:
                    self.tr[0, off : off + n] = a.reshape(n)
        self.sp = np.zeros((B, max(sp_n, 1)), npdt)
        self.act = np.zeros(max(act_n, 1), np.int64)
        for off, pmap in maps:
            self.act[off : off + pmap.size] = pmap
        self.mod = np.concatenate(mods, axis=1) if mods else np.zeros((B, 1), npdt)

    def args(self) -> tuple[np.ndarray, ...]:
        """The arrays run_steps passes to :func:`learn`."""
        return self.meta, self.val, self.tr, self.sp, self.act, self.ptr, self.syn, self.pre, self.mod

    def write_back(self, net: Network, sim: _Sim, w: np.ndarray) -> None:
        """The learned weights into the projections, the rule state into the simulation state
        (event-driven tags brought up to the last step first)."""
        for q in range(len(self.names)):
            at = int(self.meta[q, _LAZY])
            if at >= 0:
                n_rule = len(self.slots[q]) - 2 * int(self.meta[q, _DLINE] >= 0)
                col, n, _ = self.slots[q][n_rule - (2 if self.meta[q, _KIND] == _REWARD else 1)]
                last = self.act[at : at + n]
                behind = int(self.meta[q, _CLOCK]) - last
                sel = behind > 0
                if sel.any():
                    self.tr[0, col : col + n][sel] *= self.val[q, _AE] ** behind[sel]
                    last[sel] = self.meta[q, _CLOCK]
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
            fields = []
            for t, (off, n, per_copy) in zip(_leaves(st), self.slots[q]):
                a = self.tr[:, off : off + n] if per_copy else self.tr[0, off : off + n]
                fields.append(torch.from_numpy(a.copy()).reshape(t.shape).to(t))
            sim.plastic[k] = _rebuild(st, iter(fields))


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


@njit(cache=True, nogil=True)
def _decay(tr, B, off, n, f):  # type: ignore[no-untyped-def]
    """``tr[:, off:off + n] *= f`` (over rows ``tr[b]``, contiguous, so that the loop vectorises)."""
    for b in range(B):
        x = tr[b]
        for k in range(off, off + n):
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
        ipo = ch_meta[c, _CH_IPOFF]
        n_tr_pre = npre if rule == _STDP else 2 * npre
        kind = meta[q, _KIND]
        traces = kind <= _ELIGIBILITY  # the pair traces of STDP or TripletSTDP
        # 1. the traces decay
        if traces:
            for r in range(2 if rule == _TRIPLET else 1):
                _decay(tr, B, to + r * npre, npre, val[q, r])
                po = to + n_tr_pre + r * npost
                _decay(tr, B, po, npost, val[q, 2 + r if rule == _TRIPLET else 1])
        # 2. the spikes: flags per copy, and the neurons that spiked in any copy (listed once)
        n_act_pre, n_act_post = delayed_spikes(
            q, t, B, P, G, pop_meta, ch_meta, spk, spk_n, ext_ptr, ext_id, meta, tr, sp, act, one
        )
        # 3. the synapses of those neurons (every synapse in the first step of a run)
        lpre = ao + npre + npost
        lpost = ao + 2 * npre + npost
        if kind == _REWARD or kind == _ELIGIBILITY:
            tags(q, B, w, meta, val, tr, sp, act, mod, indptr, post, ipo, ptr, syn_by_post, pre_by_post)
        elif kind == _THREE_FACTOR:
            three_factor(q, B, w, meta, val, tr, sp, mod, indptr, post, ipo)
        elif kind == _SCALING:
            scaling(q, B, w, meta, val, tr, sp, mod, indptr, post, ipo)
        elif B == 1 and rule == _STDP and meta[q, _MOD] != 2:
            first = meta[q, _FIRST] == 1
            meta[q, _FIRST] = 0
            stdp_events(
                q,
                w,
                meta,
                val,
                tr,
                sp,
                act,
                indptr,
                post,
                ipo,
                ptr,
                syn_by_post,
                pre_by_post,
                n_act_pre,
                n_act_post,
                first,
            )
        elif meta[q, _FIRST] == 1:
            meta[q, _FIRST] = 0
            for j in range(npre):
                for s in range(indptr[ipo + j], indptr[ipo + j + 1]):
                    update(q, s, post[s], j, w, B, meta, val, tr, sp, mod)
        else:
            for k in range(n_act_pre):
                j = act[lpre + k]
                for s in range(indptr[ipo + j], indptr[ipo + j + 1]):
                    update(q, s, post[s], j, w, B, meta, val, tr, sp, mod)
            pp = meta[q, _PTR]
            for k in range(n_act_post):
                i = act[lpost + k]
                for e in range(ptr[pp + i], ptr[pp + i + 1]):
                    j = pre_by_post[e]
                    if act[ao + j] == 0:  # not already changed from the source's side
                        update(q, syn_by_post[e], i, j, w, B, meta, val, tr, sp, mod)
        # 4. the traces of the neurons that spiked grow; the flags and marks are cleared
        for b in range(B):
            for k in range(n_act_pre):
                j = act[lpre + k]
                if sp[b, so + j] != 0:
                    sp[b, so + j] = 0
                    for r in range(0 if not traces else 2 if rule == _TRIPLET else 1):
                        x = to + r * npre + j
                        tr[b, x] = one if nearest else tr[b, x] + one
            for k in range(n_act_post):
                i = act[lpost + k]
                if sp[b, so + npre + i] != 0:
                    sp[b, so + npre + i] = 0
                    for r in range(0 if not traces else 2 if rule == _TRIPLET else 1):
                        y = to + n_tr_pre + r * npost + i
                        tr[b, y] = one if nearest else tr[b, y] + one
        for k in range(n_act_pre):
            act[ao + act[lpre + k]] = 0
        for k in range(n_act_post):
            act[ao + npre + act[lpost + k]] = 0
