"""Spike delays of a plastic projection's rule in the compiled kernel (numba, CPU): step 2 of
:func:`~spikeforge.circuits._kernel_plastic.learn` (the spikes a rule sees), which delays them for a
rule with ``spike_delays`` (``STDP`` or
``TripletSTDP`` with ``dendritic_delay``/``axonal_delay``, alone or in an ``EligibilityTrace``), as
the PyTorch engine applies them (:mod:`spikeforge.circuits._rule_delays`): the rule sees each
presynaptic spike ``spike_delays.pre`` steps and each postsynaptic spike ``spike_delays.post``
steps after the step it was emitted in.

The spikes on their way are the delay lines of the projection's
:class:`~spikeforge.circuits._rule_delays.DelayedRuleState`, packed with the rest of its state in
the kernel's ``tr`` ``[B, *]`` (``pre [B, d_pre, n_pre]`` from column ``meta[q, _DLINE]``, then
``post [B, d_post, n_post]``): flags in the network dtype, the spike of step ``s`` in slot
``s % d``, so that a state round-trips between the engines unchanged. ``meta[q, _DSTEP]`` is the
step being learned (the network's step count, not the kernel call's).
"""

from __future__ import annotations

from numba import njit

from ._kernel_rules import _ACT, _C, _NMETA, _NPOST, _NPRE, _SP

_CH_POST, _CH_SRC = 0, 3  # the ch_meta columns of _kernel

# meta columns after the rules' (_kernel_rules._NMETA): where a rule's delay lines are
(
    _DLINE,  # tr column of the presynaptic delay line (-1: the rule has no spike delays)
    _DPRE,  # presynaptic delay (steps)
    _DPOST,  # postsynaptic delay (steps)
    _DSTEP,  # the network step being learned (its slot: step % delay)
) = range(_NMETA, _NMETA + 4)
NMETA = _NMETA + 4  # the meta columns of the plastic projections with these


@njit(cache=True, nogil=True)
def delayed_spikes(q, t, B, P, G, pop_meta, ch_meta, spk, spk_n, ext_ptr, ext_id, meta, tr, sp, act, one):  # type: ignore[no-untyped-def]
    """Step 2 of :func:`~spikeforge.circuits._kernel_plastic.learn` for projection ``q``: flags
    in ``sp`` and the lists in ``act`` (each neuron listed once, whichever copies it spiked in) of
    the spikes the rule sees at this step: emitted ``d`` steps earlier, from the delay lines, where
    the rule has spike delays (this step's spikes then go into the lines in their place); this
    step's spikes where ``d == 0`` (every rule without spike delays). Returns the number of
    sources and of targets listed."""
    c = meta[q, _C]
    npre = meta[q, _NPRE]
    npost = meta[q, _NPOST]
    so = meta[q, _SP]
    ao = meta[q, _ACT]
    src = ch_meta[c, _CH_SRC]
    tgt = ch_meta[c, _CH_POST]
    step = meta[q, _DSTEP]
    meta[q, _DSTEP] = step + 1
    n_act_pre = 0
    n_act_post = 0
    for b in range(B):
        for side in range(2):
            if side == 0 and src >= P:  # an input group's spikes
                e0 = (t * B + b) * G + (src - P)
                lst = ext_id[ext_ptr[e0] : ext_ptr[e0 + 1]]
            else:
                p = src if side == 0 else tgt
                o = pop_meta[p, 1]
                lst = spk[b, o : o + spk_n[b, p]]
            n = npre if side == 0 else npost
            d = meta[q, _DPRE] if side == 0 else meta[q, _DPOST]
            base = so if side == 0 else so + npre
            mark = ao if side == 0 else ao + npre
            lpos = ao + npre + npost if side == 0 else ao + 2 * npre + npost
            row = meta[q, _DLINE] + (0 if side == 0 else meta[q, _DPRE] * npre) + (step % max(d, 1)) * n
            for k in range(n if d > 0 else lst.shape[0]):
                if d > 0:  # the line's slot: the spikes of step - d
                    if tr[b, row + k] == 0:
                        continue
                    tr[b, row + k] = 0
                    idx = k
                else:
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
            if d > 0:  # this step's spikes in their place
                for k in range(lst.shape[0]):
                    tr[b, row + lst[k]] = one
    return n_act_pre, n_act_post
