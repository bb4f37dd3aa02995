"""The compiled kernel on several threads: :func:`run_steps` is the loop of
:func:`spikeforge.circuits._kernel.run_steps` with the parts of each step run by numba's threads.
Imported only when a run asks for more than one thread (``Network.run(..., threads=n)``), so that
a run on one thread never loads a threading layer nor starts a thread pool.

Each of the ``nt`` parts owns part ``k`` of every population and of the targets of every channel:
the contiguous neurons ``[n k / nt, n (k + 1) / nt)`` (``_kernel._span``), as NEST's threads own
their target neurons. A step opens two parallel regions (one part per thread): phases 1, 3 and 4 of
the part's neurons (``_kernel._update_part``: its own scratch rows, Gaussian currents and stochastic
neurons' uniforms drawn for its neurons; its spikes written from its first neuron on, then joined in
ascending order by ``_kernel._gather``), and phase 5 (``_kernel._propagate_part``): every part reads
the rows of all the neurons that spiked but adds only the synapses onto its own targets (found by
binary search: targets ascend within a row, projections keep their synapses sorted by (pre, post)),
then the Poisson inputs onto its neurons. No two threads write the same number, and each target's
sum keeps the serial order (channel, source, synapse): every thread count gives the same spikes and
states, bit for bit, and the random numbers are counter-based (a pure function of the neuron and the
step). A step in which a state monitor samples opens a third region (phase 1 of every channel). The
monitors and learning (:mod:`spikeforge.circuits._kernel_plastic`) stay serial.

**Threading layer.** numba chooses its threading layer once per process, when the first parallel
function is compiled or called. Its OpenMP layer loads the system's ``libgomp``; a process that has
also loaded NEST (which bundles another ``libgomp``) then crashes in ``nest.ResetKernel()``. So,
unless the user chose a layer (the environment variables ``NUMBA_THREADING_LAYER`` or
``NUMBA_THREADING_LAYER_PRIORITY``, or ``numba.config.THREADING_LAYER``), :func:`start` makes numba
prefer TBB (``pip install tbb``, the ``threads`` extra; its library is loaded from
``sys.prefix/lib`` where pip puts it), then its own ``workqueue`` layer, then OpenMP: neither of
the first two uses OpenMP. A parallel region costs about 3 µs with TBB on this project's 2-core
machine, 100-250 µs with ``workqueue`` (so without TBB two threads pay off only on very large
networks), 15-150 µs with OpenMP while other processes keep the cores busy (its waiting threads
spin). A layer already running in the process is kept, whichever it is. The ``workqueue`` layer
is not thread-safe: with it, do not run threaded networks from several Python threads at once.

numba's cache of :func:`run_steps` checks this file's time stamp only: after editing
``_kernel.py`` (or the files it imports), touch this one, or delete ``__pycache__/*.nb?``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator

import numba
import numpy as np
from numba import njit, prange

from ._kernel import (
    _BLOCK,
    _DONE,
    _deliver_part,
    _gather,
    _next_rows,
    _propagate_part,
    _record,
    _sample,
    _step_flags,
    _update_part,
)
from ._kernel_plastic import learn

#: the threading layers :func:`start` asks numba to try, in this order
PRIORITY = ["tbb", "workqueue", "omp"]


def _layer_running() -> str | None:
    """numba's threading layer, or None when none has started in this process."""
    try:
        return str(numba.threading_layer())
    except ValueError:
        return None


def _load_tbb() -> None:
    """Loads pip's TBB library (``sys.prefix/lib/libtbb.so.12``) where present, so that numba's TBB
    layer, which looks for it on the loader's path only, finds it."""
    path = os.path.join(sys.prefix, "lib", "libtbb.so.12")
    if os.path.exists(path):
        with contextlib.suppress(OSError):
            ctypes.CDLL(path)


def _user_chose_layer() -> bool:
    env = ("NUMBA_THREADING_LAYER", "NUMBA_THREADING_LAYER_PRIORITY")
    return any(os.environ.get(k) for k in env) or str(numba.config.THREADING_LAYER).lower() != "default"  # type: ignore[attr-defined]


def start() -> str:
    """Starts numba's threading layer if none runs yet (preferring TBB, then ``workqueue``, then
    OpenMP, unless the user chose one: see the module docstring) and returns its name."""
    layer = _layer_running()
    if layer is not None:
        return layer
    if not _user_chose_layer():
        _load_tbb()
        numba.config.THREADING_LAYER_PRIORITY = list(PRIORITY)  # type: ignore[attr-defined]
    numba.get_num_threads()  # launches the layer
    return str(numba.threading_layer())


@contextlib.contextmanager
def threads(nt: int) -> Iterator[str]:
    """Runs the block with the threading layer started (its name is yielded) and numba's thread
    count (of the calling thread) set to ``min(nt, numba.config.NUMBA_NUM_THREADS)``."""
    layer = start()
    old = numba.get_num_threads()
    numba.set_num_threads(min(nt, int(numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
    try:
        yield layer
    finally:
        numba.set_num_threads(old)


@njit(cache=True, nogil=True, parallel=True)
def _deliver_par(nt, s, B, ch_meta, ch_val, ch_gain, coef, coef_meta, GS, HS, R, V, I, HELD, pop_meta, xb):  # type: ignore[no-untyped-def]
    """``_kernel._deliver_part`` for all parts, one per thread."""
    for k in prange(nt):
        _deliver_part(
            k, nt, s, B, ch_meta, ch_val, ch_gain, coef, coef_meta, GS, HS, R, V, I, HELD, pop_meta, xb
        )


@njit(cache=True, nogil=True, parallel=True)
def _update_par(  # type: ignore[no-untyped-def]
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
    """``_kernel._update_part`` for all parts, one per thread."""
    for k in prange(nt):
        _update_part(
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
        )


@njit(cache=True, nogil=True, parallel=True)
def _propagate_par(  # type: ignore[no-untyped-def]
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
    """``_kernel._propagate_part`` for all parts, one per thread."""
    for k in prange(nt):
        _propagate_part(
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
        )


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
    """:func:`spikeforge.circuits._kernel.run_steps` (same arguments and result) in ``nt =
    xb.shape[0]`` parts, run by numba's threads; ``xb`` and ``zb`` hold one scratch row per part."""
    nt = xb.shape[0]
    nb = np.empty((nt, _BLOCK), np.float64)
    xt = np.empty_like(xb)
    ub = np.empty((nt, 2, _BLOCK), np.float64)
    pc = np.empty((nt, _BLOCK), np.int64)
    part_n = np.zeros((B, max(pop_meta.shape[0], 1), nt), np.int64)
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
            _deliver_par(
                nt, s, B, ch_meta, ch_val, ch_gain, coef, coef_meta, GS, HS, R, V, I, HELD, pop_meta, xb
            )
            _sample(s, B, ch_meta, sm_meta, sm_cols, V, I, REF, GS, HS, X, out_state)
        _update_par(
            nt,
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
        _gather(nt, B, pop_meta, spk, spk_n, part_n)
        _propagate_par(
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
