"""The GPU engine of :class:`~spikeforge.circuits.Network`: Triton kernels
(:mod:`spikeforge.circuits._triton_kernels`), two launches per step, a chunk of steps captured
once in a CUDA graph and replayed.

What it runs (:meth:`TritonEngine.supports` names anything else): ``LIF`` populations (exact or
Euler, with or without ``tau_syn``, both resets, refractoriness with any ``t_ref / dt``, per-neuron
and per-copy parameters), ``ExpSynapse`` projections (dense or sparse, shared or per-synapse
weights and delays, per-copy ``gain``), Poisson groups (the counter-based draws of
:mod:`spikeforge.circuits._philox`), currents (:meth:`~spikeforge.circuits.Network.add_current`),
spike sources, spike and rate monitors, batches of copies, without gradients, and pair
:class:`~spikeforge.plasticity.STDP` at sparse plastic projections (any pairing, same-step rule,
bound, ``batch_reduce`` ``"mean"`` or ``"sum"``, Dale's sign, ``mu`` 0, 0.5, 1 or 2, no modulator;
:func:`stdp_unsupported` names the rest). Other rules, dense plastic projections, other neuron
models and synapses, Poisson inputs and state monitors run on the other engines.

**STDP.** Phase 6 of the compiled engine (``circuits/_kernel_plastic.py``), operation by operation:
after the step's propagation (with the weights before the change),
:func:`~spikeforge.circuits._triton_kernels.stdp_kernel` runs one program per block of targets;
each target walks its incoming synapses (the propagation's CSC) and those whose source or target
spiked in any copy (every synapse in the first step of a run, which clamps weights set outside the
bounds) take the change reduced over the copies from the traces decayed but not yet grown, within
the bounds, then Dale's sign; then the targets' traces decay and grow.
:func:`~spikeforge.circuits._triton_kernels.stdp_pre_kernel` then decays and grows the sources'
traces. A program owns its targets' synapses and traces: no atomics, weights and traces equal the
compiled engine's (``tests/gpu/test_stdp_triton.py``). Like the propagation, the weight kernel
reads every synapse's source flag each step and computes only where a spike is.

**Same spikes as the CPU.** Every step does the arithmetic of the compiled CPU engine
(:mod:`spikeforge.circuits._kernel`) operation by operation, without fused multiply-adds, and
sums each target's synaptic input in its order (gathered over the incoming synapses, sorted by
presynaptic neuron, instead of scattered with atomics), and the Poisson groups draw the same
Philox numbers: the spikes and states equal the compiled engine's bitwise in float64 and float32
(``tests/gpu/``). There are no atomic sums anywhere.

**Launches.** One :func:`~spikeforge.circuits._triton_kernels.step_kernel` (all populations and
Poisson groups) per step, and one :func:`~spikeforge.circuits._triton_kernels.propagate_kernel`
per kind of projection present (delays all 0, one shared delay, per-synapse delays; shared or
per-synapse weights: at most 6), whatever the number of populations and projections, and two per
plastic projection (:func:`~spikeforge.circuits._triton_kernels.stdp_kernel`,
:func:`~spikeforge.circuits._triton_kernels.stdp_pre_kernel`). CUBA takes
2 launches per step, ``2 K`` for a chunk of ``K`` steps, which on a CUDA device are captured once
into a CUDA graph and replayed (one replay per chunk; the step index lives in a device tensor,
the chunk's inputs are copied into the graph's buffers before each replay).
:attr:`TritonEngine.launches` counts them.

**Cost.** The gather reads every synapse every step, whatever the rate: about ``nnz * 5`` bytes
per step with shared weights (``* 13`` with per-synapse float64 weights). That is the price of
summing in a fixed order; an event-driven scatter would read only the synapses of the neurons
that spiked, with atomic (unordered) sums.

Example:
    >>> import torch
    >>> import spikeforge as sf
    >>> from spikeforge.circuits.engines.gpu import TritonEngine
    >>> net = sf.circuits.Network(dt=0.1, seed=0)
    >>> _ = net.add_population("x", sf.neurons.LIF(3, dt=0.1))
    >>> _ = net.add_poisson("p", 4, rate=500 * sf.units.Hz)
    >>> _ = net.connect("p", "x", p=1.0, weight=2.0, synapse=sf.circuits.ExpSynapse(tau=2.0))
    >>> rec = net.record_spikes("x")
    >>> TritonEngine().supports(net) is None  # on the CPU only the interpreter runs the kernels
    False
    >>> engine = TritonEngine(interpret=True)  # needs triton (pip install 'spikeforge[gpu]')
    >>> net.run(1.0, engine=engine, progress=False)
    >>> net.last_run_info["path"], engine.launches  # 10 steps, 2 launches each
    ('triton', 20)
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ..._triton_interpret import interpreted_copy
from ...neurons.lif import LIF, LIFParams, lif_coefficients, refractory_steps
from .. import _philox
from .. import synapses as syn
from .._populations import Population, _as_bn, _NetworkBase, _spike_forward_is_heaviside
from ..monitors import RateMonitor, SpikeMonitor, StateMonitor
from ..schedule import CHUNK as _CHUNK

if TYPE_CHECKING:
    from ..state import _Sim

__all__ = ["TritonEngine", "stdp_unsupported", "triton_available"]

BLOCK = 128  # neurons per program
REC_BYTES = 1 << 28  # at most this many bytes of spike record per chunk ([K, B, sources] int8)


def triton_available() -> bool:
    """Whether Triton can be imported (``pip install 'spikeforge[gpu]'``; CUDA builds of torch
    bring it)."""
    return importlib.util.find_spec("triton") is not None


@cache
def kernel_module(interpret: bool) -> Any:
    """The kernel module, or None without Triton; ``interpret=True`` loads a second copy with
    ``TRITON_INTERPRET=1`` set while its kernels are decorated, so that they run on CPU tensors in
    Triton's interpreter (the environment is restored afterwards)."""
    from .. import _triton_kernels as kern

    if not kern.AVAILABLE:
        return None
    return interpreted_copy(kern) if interpret else kern


class TritonEngine:
    """Runs LIF networks with exponential current synapses, Poisson groups, spike sources and pair
    STDP in Triton kernels
    (see the module docstring and :class:`~spikeforge.circuits.engines.base.Engine`).

    Args:
        interpret: run the kernels on CPU tensors in Triton's interpreter (tests; never chosen by
            itself). Without it the network must be on a CUDA device.
        graphs: on CUDA, capture each chunk of steps in a CUDA graph and replay it (False: launch
            the kernels one by one).
        chunk: steps per chunk (default :data:`spikeforge.circuits.schedule.CHUNK`, fewer when the
            spike record of a chunk would pass 256 MiB).

    Attributes:
        launches: kernel launches so far (a graph replay counts its captured launches).
        replays: CUDA graph replays so far.
    """

    name = "triton"
    net: _NetworkBase
    sim: _Sim

    def __init__(self, *, interpret: bool = False, graphs: bool = True, chunk: int | None = None) -> None:
        self.interpret = interpret
        self.graphs = graphs
        self.chunk = chunk
        self.launches = 0
        self.replays = 0
        self.threads_used: int | None = None
        self._static: _Static | None = None
        self._graphs: dict[tuple[Any, ...], tuple[Any, dict[str, Tensor], int]] = {}

    def supports(self, network: _NetworkBase) -> str | None:
        """None when the kernels can run ``network``, else the reason, naming the part they cannot
        run."""
        if torch.is_grad_enabled() and network._requires_grad():
            return "gradients are needed (parameters or states require grad)"
        if not triton_available():
            return "Triton is not installed (pip install 'spikeforge[gpu]')"
        if network.device.type != "cuda" and not self.interpret:
            return f"the Triton kernels run on CUDA devices, the network is on {network.device}"
        if network.dtype not in (torch.float32, torch.float64):
            return f"dtype {network.dtype} (the Triton kernels support float32 and float64)"
        for pop in network._neuron_pops():
            m = pop.module
            if type(m) is not LIF:
                return f"population {pop.name!r} is a {type(m).__name__} (the Triton engine runs LIF)"
            if not _spike_forward_is_heaviside(m.surrogate):
                return f"population {pop.name!r} has a custom spike function"
        for proj in network._projs():
            if proj.plastic and (why := stdp_unsupported(proj)):
                return why
            if type(proj.synapse) is not syn.ExpSynapse:
                return (
                    f"projection {proj.name!r} has a {type(proj.synapse).__name__} (the Triton engine "
                    "runs ExpSynapse)"
                )
            if proj._nnz >= 2**31:
                return f"projection {proj.name!r} has {proj._nnz} synapses (at most 2**31 - 1)"
        if network._drives:
            return f"Poisson input {network._drives[0].name!r} (the Triton engine has no Poisson inputs)"
        for mon in network._monitors:
            if isinstance(mon, StateMonitor):
                return f"a state monitor of {mon.source!r} (the Triton engine records spikes and rates)"
        if kernel_module(self.interpret) is None:
            return "Triton is not installed (pip install 'spikeforge[gpu]')"
        return None

    def prepare(self, network: _NetworkBase, state: _Sim, *, threads: int = 1) -> None:
        """Bind the network and its simulation state (``threads`` is ignored: a GPU runs its own)."""
        self.net, self.sim = network, state

    def advance(self, n_steps: int, progress: Callable[[int], object] | None = None) -> None:
        """Run ``n_steps`` steps, chunk by chunk: the state is copied into the engine's buffers,
        advanced there and copied back."""
        sim = self.sim
        kern = kernel_module(self.interpret)
        with torch.no_grad():
            st = self._build()
            st.load(sim)
            end = sim.step + n_steps
            first = True  # the plastic projections' first step of a run takes every synapse
            while sim.step < end:
                s0 = sim.step
                K = min(end - s0, st.chunk)
                inputs = self._chunk_inputs(st, s0, K)
                self._spike_sources(st, s0, K)
                st.step_t.fill_(s0)
                self._run_chunk(kern, st, K, inputs, first)
                first = False
                self._record(st, s0, K)
                sim.step = s0 + K
                if progress is not None:
                    progress(K)
            st.store(sim)

    # -- building ---------------------------------------------------------------------------

    def _build(self) -> _Static:
        """The static buffers and tables (cached while the weights, delays and parameters are
        those they were built from)."""
        net = self.net
        key = (*_network_key(net), tuple(self.sim.noise.seeds))
        if self._static is not None and self._static.key == key:
            return self._static
        self._graphs.clear()
        dev, dtype, B = net.device, net.dtype, net._B
        pops = net._neuron_pops()
        groups = net._input_groups()
        order = net._channel_order()
        projs = [net._proj(k) for k in order]
        st = _Static(key)
        # columns: neurons of every population in V, I, REF, HELD; record columns: pops then groups
        col = rec = 0
        for p in pops:
            st.pop_col[p.name] = col
            st.rec_col[p.name] = rec
            col += p.n
            rec += p.n
        for g in groups:
            st.rec_col[g.name] = rec
            rec += g.n
        st.N, st.S = max(col, 1), max(rec, 1)
        st.V = torch.zeros(B, st.N, dtype=dtype, device=dev)
        st.I = torch.zeros_like(st.V)
        st.REF = torch.zeros(B, st.N, dtype=torch.int32, device=dev)
        st.HELD = torch.zeros(B, st.N, dtype=torch.int8, device=dev)
        # channels
        goff = roff = 0
        ch = np.zeros((max(len(projs), 1), 12), np.int64)
        chf = torch.zeros(max(len(projs), 1), 2, dtype=torch.float64)
        gain = torch.ones(max(len(projs), 1), B, dtype=dtype, device=dev)
        coefs = net._coefficients()
        coef_parts: list[Tensor] = []
        ptr_parts, pre_parts, w_parts, d_parts = [], [], [], []
        ptr_off = nsyn = 0
        pblk: dict[tuple[int, bool], list[tuple[int, int, int]]] = {}
        any_w = any(p.weight.dim() > 0 for p in projs)
        any_d = any(p.shared_delay_steps() < 0 for p in projs)
        npdt = np.float32 if dtype == torch.float32 else np.float64
        for c, proj in enumerate(projs):
            n, L = proj.n_post, proj.max_delay_steps + 1
            st.ch_off[proj.name] = (goff, roff, L)
            co = coefs[proj.name]
            c1 = co.c1.to(dtype=dtype, device=dev).contiguous()
            ip_, po_, wv_, dv_ = proj.csr_arrays(np.dtype(npdt))
            post = torch.from_numpy(po_).to(device=dev, dtype=torch.int64)
            counts = torch.from_numpy(np.diff(ip_)).to(dev)
            pre = torch.repeat_interleave(torch.arange(proj.n_pre, device=dev), counts)
            # incoming synapses of each target, by presynaptic neuron, then synapse index (on the
            # device: a stable sort of 10^8 targets takes seconds on a CPU)
            perm = torch.argsort(post, stable=True)
            deg = torch.bincount(post, minlength=n)
            cptr = torch.zeros(n + 1, dtype=torch.int64, device=dev)
            cptr[1:] = torch.cumsum(deg, 0)
            ptr_parts.append(cptr[:-1] + nsyn if c < len(projs) - 1 else cptr + nsyn)
            pre_parts.append(pre[perm].to(torch.int32))
            if any_w:
                wt = (
                    torch.from_numpy(wv_).to(dev)
                    if wv_.size
                    else torch.zeros(post.numel(), dtype=dtype, device=dev)
                )
                w_parts.append(wt[perm] if wv_.size else wt)
            if any_d:
                dt_ = torch.from_numpy(dv_.astype(np.int32)).to(dev) if dv_.size else None
                d_parts.append(
                    dt_[perm] if dt_ is not None else torch.zeros(post.numel(), dtype=torch.int32, device=dev)
                )
            pad = (-n) % BLOCK
            most = torch.nn.functional.pad(deg, (0, pad)).reshape(-1, BLOCK).amax(1).tolist() if n else []
            direct = int(proj.shared_delay_steps() == 0)
            case = 0 if direct else (1 if proj.shared_delay_steps() > 0 else 2)
            rows = pblk.setdefault((case, proj.weight.dim() > 0), [])
            rows += [(c, q * BLOCK, int(most[q])) for q in range(len(most))]
            ch[c] = (
                L,
                goff,
                roff,
                n,
                direct,
                0,
                0,
                0,
                st.rec_col[proj.pre],
                int(proj.weight.dim() > 0),
                proj.shared_delay_steps(),
                ptr_off,
            )
            coef_parts.append(c1.expand(B, n))
            chf[c, 0] = float(np.array(co.decay, npdt))
            chf[c, 1] = 0.0 if proj.weight.dim() > 0 else proj.shared_weight()
            if proj.gain is not None:
                gain[c] = proj.gain.to(dtype=dtype, device=dev)
            if proj.plastic:
                st.plastic.append(_PlasticSTDP(proj, c, nsyn, perm, most, ptr_off, st.rec_col, B, dtype, dev))
            ptr_off += n
            nsyn += post.numel()
            goff += n
            roff += L * n
        st.C = len(projs)
        st.ch = torch.from_numpy(ch).to(dev)
        st.chf = chf.to(dtype=dtype, device=dev)
        st.gain = gain
        st.coef = (
            torch.cat(coef_parts, 1).contiguous() if coef_parts else torch.zeros(1, dtype=dtype, device=dev)
        )
        st.csc_ptr = _cat(ptr_parts, torch.int64, dev)
        st.csc_pre = _cat(pre_parts, torch.int32, dev)
        st.csc_w = _cat(w_parts, dtype, dev)
        st.csc_d = _cat(d_parts, torch.int32, dev)
        st.pblk = [
            (case, has_w, torch.tensor(rows, dtype=torch.int64, device=dev))
            for (case, has_w), rows in sorted(pblk.items())
        ]
        st.NG, st.NR = max(goff, 1), max(roff, 1)
        st.GS = torch.zeros(B, st.NG, dtype=dtype, device=dev)
        st.R = torch.zeros(B, st.NR, dtype=dtype, device=dev)
        # populations, their parameters and currents
        pop_index = {p.name: k for k, p in enumerate(pops)}
        chans = {p.name: [c for c, q in enumerate(projs) if q.post == p.name] for p in pops}
        cur_by_pop = sorted(range(len(net._currents)), key=lambda q: pop_index[net._currents[q].target])
        st.cur_order = cur_by_pop
        pop = np.zeros((max(len(pops), 1), 10), np.int64)
        st.prm = torch.zeros(7, B, st.N, dtype=dtype, device=dev)
        blk: list[tuple[int, int, int]] = []
        for k, p in enumerate(pops):
            m = p.module
            assert isinstance(m, LIF)
            lp_ = net._params(p)
            lp = LIFParams(lp_.tau_mem, lp_.tau_syn, lp_.v_leak, lp_.v_th, lp_.v_reset, lp_.r, lp_.t_ref)
            kk, alpha = lif_coefficients(lp, net.dt, m.integrator)
            n_ref = refractory_steps(lp.t_ref, net.dt)
            values = [kk, alpha if alpha is not None else torch.zeros(()), lp.v_leak, lp.r, lp.v_th]
            values += [lp.v_reset, n_ref]
            c0 = st.pop_col[p.name]
            for q, t in enumerate(values):
                st.prm[q, :, c0 : c0 + p.n] = _as_bn(t.detach().to(dtype), B, p.shape).to(dev)
            cs = chans[p.name]
            mine = [q for q in cur_by_pop if net._currents[q].target == p.name]
            lo = cur_by_pop.index(mine[0]) if mine else 0
            pop[k] = (
                p.n,
                st.pop_col[p.name],
                int(alpha is not None),
                int(m.reset == "subtract"),
                int(bool((n_ref > 0).any())),
                cs[0] if cs else 0,
                cs[-1] + 1 if cs else 0,
                lo,
                lo + len(mine),
                st.rec_col[p.name],
            )
            blk += [(0, k, j0) for j0 in range(0, p.n, BLOCK)]
        st.pop = torch.from_numpy(pop).to(dev)
        # Poisson groups
        pg = [g for g in groups if g.kind == "poisson"]
        st.groups = pg
        for k, g in enumerate(pg):
            blk += [(1, k, j0) for j0 in range(0, g.n, BLOCK)]
        st.blk = torch.tensor(blk or [(0, 0, 0)], dtype=torch.int64, device=dev)
        st.n_blk = len(blk)
        st.keys = torch.tensor(_philox.keys(self.sim.noise.seeds), dtype=torch.int64, device=dev)
        per_step = B * st.S
        st.chunk = max(1, min(self.chunk or _CHUNK, REC_BYTES // per_step))
        st.rec = torch.zeros(st.chunk, B, st.S, dtype=torch.int8, device=dev)
        st.step_t = torch.zeros(1, dtype=torch.int64, device=dev)
        st.pops = pops
        self._static = st
        return st

    def _chunk_inputs(self, st: _Static, s0: int, K: int) -> dict[str, Tensor]:
        """The chunk's inputs (Poisson probabilities, currents) and their tables."""
        net = self.net
        dev, dtype = net.device, net.dtype
        t = torch.arange(s0, s0 + K, dtype=torch.float64) * net.dt
        grp = np.zeros((max(len(st.groups), 1), 7), np.int64)
        parts, off = [], 0
        for k, g in enumerate(st.groups):
            p = g.group.probabilities(t, dtype)  # type: ignore[union-attr]
            cs, bs, ns = p.shape
            strm = _philox.stream(_philox.KIND_POISSON_GROUP, k)
            grp[k] = (
                g.n,
                st.rec_col[g.name],
                strm,
                off,
                bs * ns if cs > 1 else 0,
                ns if bs > 1 else 0,
                int(ns > 1),
            )
            parts.append(p.reshape(-1).to(device=dev, dtype=torch.float64))
            off += p.numel()
        cur_meta = np.zeros((max(len(st.cur_order), 1), 4), np.int64)
        cparts, coff = [], 0
        for row, q in enumerate(st.cur_order):
            vals = net._currents[q].values(t, dtype)
            cs, bs, ns = vals.shape
            cur_meta[row] = (coff, bs * ns if cs > 1 else 0, ns if bs > 1 else 0, int(ns > 1))
            cparts.append(vals.reshape(-1).to(device=dev, dtype=dtype))
            coff += vals.numel()
        return {
            "grp": torch.from_numpy(grp).to(dev),
            "pdat": torch.cat(parts) if parts else torch.zeros(1, dtype=torch.float64, device=dev),
            "cur_meta": torch.from_numpy(cur_meta).to(dev),
            "cur": torch.cat(cparts) if cparts else torch.zeros(1, dtype=dtype, device=dev),
        }

    def _spike_sources(self, st: _Static, s0: int, K: int) -> None:
        """The spike sources' spikes of steps ``[s0, s0 + K)`` written into their record columns
        (the kernels read them there as they read the populations' spikes; they are sorted and
        at most one per neuron and step, so the sums run in the compiled engine's order)."""
        for g in self.net._input_groups():
            if g.kind == "poisson":
                continue
            c = st.rec_col[g.name]
            st.rec[:K, :, c : c + g.n].zero_()
            steps, b, i = g.group.events(s0, s0 + K)  # type: ignore[union-attr]
            if steps.numel():
                dev = st.rec.device
                st.rec[(steps - s0).to(dev), b.to(dev), (i + c).to(dev)] = 1

    # -- running ----------------------------------------------------------------------------

    def _launch_chunk(
        self, kern: Any, st: _Static, K: int, inp: dict[str, Tensor], first: bool = False
    ) -> None:
        """The launches of a chunk of ``K`` steps from ``st.step_t`` on (``first``: the chunk
        starts a run, whose first step changes every plastic synapse)."""
        B = self.net._B
        f32 = self.net.dtype == torch.float32
        for k in range(K):
            kern.step_kernel[(st.n_blk, B)](
                st.step_t,
                k,
                st.blk,
                st.V,
                st.I,
                st.REF,
                st.HELD,
                st.N,
                st.pop,
                st.prm,
                st.ch,
                st.chf,
                st.gain,
                st.coef,
                st.GS,
                st.NG,
                st.R,
                st.NR,
                inp["cur"],
                inp["cur_meta"],
                inp["grp"],
                inp["pdat"],
                st.keys,
                st.rec,
                st.S,
                B,
                F32=f32,
                BLOCK=BLOCK,
                enable_fp_fusion=False,
            )
            self.launches += 1
            for case, has_w, pblk in st.pblk:
                kern.propagate_kernel[(pblk.shape[0], B)](
                    st.step_t,
                    k,
                    pblk,
                    st.ch,
                    st.chf,
                    st.gain,
                    st.csc_ptr,
                    st.csc_pre,
                    st.csc_w,
                    st.csc_d,
                    st.GS,
                    st.NG,
                    st.R,
                    st.NR,
                    st.rec,
                    st.S,
                    B,
                    CASE=case,
                    HAS_W=has_w,
                    BLOCK=BLOCK,
                    enable_fp_fusion=False,
                )
                self.launches += 1
            for pl in st.plastic:
                pl.launch(kern, st, k, B, int(first and k == 0))
                self.launches += 2

    def _run_chunk(self, kern: Any, st: _Static, K: int, inp: dict[str, Tensor], first: bool = False) -> None:
        """One chunk: launched one by one (the interpreter, the first chunk, ``graphs=False``), or
        as the replay of a CUDA graph of the chunk captured once per chunk length and input
        shapes (the chunk's inputs copied into the graph's own buffers first)."""
        direct = self.interpret or not self.graphs or self.net.device.type != "cuda" or not st.warm
        if direct or (first and st.plastic):  # a graph is captured with first=False
            self._launch_chunk(kern, st, K, inp, first)
            st.warm = True
            return
        key = (K, *((name, tuple(t.shape)) for name, t in sorted(inp.items())))
        if key not in self._graphs:
            bufs = {name: t.clone() for name, t in inp.items()}
            graph = torch.cuda.CUDAGraph()
            launches = self.launches
            with torch.cuda.graph(graph):
                self._launch_chunk(kern, st, K, bufs)  # recorded, not run
            self._graphs[key] = (graph, bufs, self.launches - launches)
            self.launches = launches
        graph, bufs, per_replay = self._graphs[key]
        for name, t in inp.items():
            bufs[name].copy_(t)
        graph.replay()
        self.replays += 1
        self.launches += per_replay

    def _record(self, st: _Static, s0: int, K: int) -> None:
        """The monitors' records of a chunk, from the spike record ``st.rec[:K]``."""
        net = self.net
        for mon in net._monitors:
            if isinstance(mon, SpikeMonitor):
                grp = net._groups[mon.source]
                c = st.rec_col[mon.source]
                k_, b_, i_ = torch.nonzero(st.rec[:K, :, c : c + grp.n], as_tuple=True)
                mon._append((k_ + s0).cpu().numpy(), b_.cpu().numpy(), i_.cpu().numpy())
            elif isinstance(mon, RateMonitor):
                grp = net._groups[mon.source]
                c = st.rec_col[mon.source]
                counts = st.rec[:K, :, c : c + grp.n].to(torch.int64).sum(-1)
                mon._append(np.arange(s0, s0 + K), counts.cpu().numpy())


def _cat(parts: list[Tensor], dtype: torch.dtype, dev: torch.device) -> Tensor:
    """The parts concatenated, or one zero (a kernel argument must be a tensor)."""
    if not parts or sum(p.numel() for p in parts) == 0:
        return torch.zeros(1, dtype=dtype, device=dev)
    return torch.cat(parts).to(dtype).contiguous()


def _network_key(net: _NetworkBase) -> tuple[Any, ...]:
    """What the static buffers depend on: the objects, their weights, delays and parameters."""
    parts: list[Any] = [net._B, net.dtype, str(net.device), net.dt, len(net._currents)]
    for name, g in net._groups.items():
        parts.append((name, g.n, g.kind, id(g.module)))
    for p in net._projs():
        parts.append((id(p), p.weight.data_ptr(), p.weight._version, p.delay_steps._version))
        if p.gain is not None:
            parts.append(p.gain._version)
    for prm in net.parameters():
        parts.append((prm.data_ptr(), prm._version))
    for buf in net.buffers():
        parts.append((buf.data_ptr(), buf._version))
    return tuple(parts)


class _Static:
    """The engine's device buffers and tables for one network layout."""

    V: Tensor
    I: Tensor
    REF: Tensor
    HELD: Tensor
    GS: Tensor
    R: Tensor
    ch: Tensor
    chf: Tensor
    gain: Tensor
    coef: Tensor
    csc_ptr: Tensor
    csc_pre: Tensor
    csc_w: Tensor
    csc_d: Tensor
    pblk: list[tuple[int, bool, Tensor]]
    pop: Tensor
    prm: Tensor
    blk: Tensor
    keys: Tensor
    rec: Tensor
    step_t: Tensor
    N: int
    S: int
    C: int
    NG: int
    NR: int
    n_blk: int
    chunk: int
    groups: list[Population]
    pops: list[Population]
    cur_order: list[int]

    def __init__(self, key: tuple[Any, ...]) -> None:
        self.key = key
        self.warm = False
        self.pop_col: dict[str, int] = {}
        self.rec_col: dict[str, int] = {}
        self.ch_off: dict[str, tuple[int, int, int]] = {}
        self.plastic: list[_PlasticSTDP] = []

    def load(self, sim: _Sim) -> None:
        """Copy the simulation state into the buffers."""
        B = self.V.shape[0]
        for p in self.pops:
            c, n = self.pop_col[p.name], p.n
            st = sim.neurons[p.name]
            self.V[:, c : c + n] = st.v.reshape(B, n)
            self.I[:, c : c + n] = st.i.reshape(B, n)
            self.REF[:, c : c + n] = st.ref.reshape(B, n)
            if p.name in sim.held:
                self.HELD[:, c : c + n] = sim.held[p.name].reshape(B, n)
        for name, (goff, roff, L) in self.ch_off.items():
            g = sim.syn[name][0]
            n = g.shape[-1]
            self.GS[:, goff : goff + n] = g
            self.R[:, roff : roff + L * n] = sim.ring[name].reshape(B, L * n)
        for pl in self.plastic:
            x, y = sim.plastic[pl.name]
            pl.XP.copy_(x.reshape(B, -1))
            pl.YP.copy_(y.reshape(B, -1))

    def store(self, sim: _Sim) -> None:
        """Copy the buffers back into the simulation state's tensors (in place)."""
        B = self.V.shape[0]
        for p in self.pops:
            c, n = self.pop_col[p.name], p.n
            st = sim.neurons[p.name]
            st.v.copy_(self.V[:, c : c + n].reshape(st.v.shape))
            st.i.copy_(self.I[:, c : c + n].reshape(st.i.shape))
            st.ref.copy_(self.REF[:, c : c + n].reshape(st.ref.shape))
            if p.name in sim.held:
                sim.held[p.name].copy_(self.HELD[:, c : c + n].reshape(B, n).bool())
        for name, (goff, roff, L) in self.ch_off.items():
            g = sim.syn[name][0]
            n = g.shape[-1]
            g.copy_(self.GS[:, goff : goff + n])
            sim.ring[name].copy_(self.R[:, roff : roff + L * n].reshape(B, L, n))
        for pl in self.plastic:
            x, y = sim.plastic[pl.name]
            x.copy_(pl.XP.reshape(x.shape))
            y.copy_(pl.YP.reshape(y.shape))
            pl.write_back(self.csc_w)


#: what :meth:`TritonEngine.supports` takes of an STDP rule: ``_kernel_plastic._mu_kind`` of mu
_MU_KINDS = {0.0: 0, 1.0: 1, 0.5: 2, 2.0: 3}
_BOUNDS = {"hard": 0, "soft": 1, "none": 2}
_SAME_STEP = {"skip": 0, "potentiate": 1, "both": 2}


def stdp_unsupported(proj: Any) -> str:
    """Why the Triton kernels cannot run the learning of the plastic projection ``proj`` ("" when
    they can): pair :class:`~spikeforge.plasticity.STDP` at sparse synapses, scalar parameters,
    ``mu`` 0, 0.5, 1 or 2, ``batch_reduce`` ``"mean"`` or ``"sum"``, no modulator.

    Example:
        >>> import spikeforge as sf
        >>> from spikeforge.circuits.engines.gpu import stdp_unsupported
        >>> net = sf.circuits.Network(dt=0.1)
        >>> _ = net.add_population("x", sf.neurons.LIF(4, dt=0.1))
        >>> rule = sf.plasticity.STDP(dt=0.1, weight_dependence="soft", mu_plus=0.3)
        >>> proj = net.connect("x", "x", p=1.0, weight=0.5, storage="sparse", plasticity=rule)
        >>> stdp_unsupported(proj)
        "projection 'x->x': STDP mu_plus=0.3 (the Triton engine: 0, 0.5, 1 or 2)"
    """
    from ...plasticity import STDP

    rule = proj.plasticity
    where = f"projection {proj.name!r}"
    if type(rule) is not STDP:
        return f"{where} learns with {type(rule).__name__} (the Triton engine runs STDP)"
    if proj.storage != "sparse":
        return f"{where} is plastic with storage={proj.storage!r} (the Triton engine: sparse synapses)"
    if proj.modulator is not None:
        return f"{where} has a modulator (the Triton engine runs STDP without one)"
    if rule.batch_reduce not in ("mean", "sum"):
        return f"{where}: STDP batch_reduce={rule.batch_reduce!r} (the Triton engine: 'mean' or 'sum')"
    for key, t in rule.named_buffers():
        if t.numel() != 1:
            return f"{where}: STDP.{key} is not a scalar (the Triton engine takes scalar parameters)"
    for key in ("mu_plus", "mu_minus"):
        mu = float(getattr(rule, key))
        if mu not in _MU_KINDS:
            return f"{where}: STDP {key}={mu:g} (the Triton engine: 0, 0.5, 1 or 2)"
    return ""


class _PlasticSTDP:
    """One plastic STDP projection of the Triton engine: its traces, parameters and target blocks,
    its two launches per step (:func:`~spikeforge.circuits._triton_kernels.stdp_kernel`, then
    :func:`~spikeforge.circuits._triton_kernels.stdp_pre_kernel`) and the write-back of the learned
    weights (in the engine's CSC order) into the projection."""

    def __init__(
        self,
        proj: Any,
        c: int,
        s0: int,
        perm: Tensor,
        most: list[int],
        cso: int,
        rec_col: dict[str, int],
        B: int,
        dtype: torch.dtype,
        dev: torch.device,
    ) -> None:
        rule = proj.plasticity
        self.proj, self.name, self.s0, self.perm = proj, proj.name, s0, perm
        self.n_pre, self.n_post, self.cso = proj.n_pre, proj.n_post, cso
        self.most = torch.tensor(most or [0], dtype=torch.int64, device=dev)
        self.n_blk = len(most)
        self.src, self.tgt = rec_col[proj.pre], rec_col[proj.post]
        self.XP = torch.zeros(B, self.n_pre, dtype=dtype, device=dev)
        self.YP = torch.zeros(B, self.n_post, dtype=dtype, device=dev)
        p = {key: float(t) for key, t in rule.named_buffers()}
        dt = float(rule.dt)
        # the values as _kernel_plastic.Plastic packs them (float64, then the network dtype)
        vals = [math.exp(-dt / p["tau_plus"]), math.exp(-dt / p["tau_minus"]), p["a_plus"], p["a_minus"]]
        vals += [p["w_min"], p["w_max"], p["mu_plus"], p["mu_minus"], float(B)]
        self.pv = torch.tensor(np.array(vals, np.float64)).to(dtype=dtype, device=dev)
        self.flags = {
            "MUP": _MU_KINDS[p["mu_plus"]],
            "MUM": _MU_KINDS[p["mu_minus"]],
            "SAME": _SAME_STEP[rule.same_step],
            "MEAN": int(rule.batch_reduce == "mean" and B > 1),
            "BOUND": _BOUNDS[rule.bound],
            "SIGN": int(proj.sign),
            "NEAREST": int(rule.pairing == "nearest"),
        }

    def launch(self, kern: Any, st: _Static, k: int, B: int, first: int) -> None:
        """The two launches of step ``k`` of the chunk, after its propagation."""
        if self.n_blk and self.most.numel():
            kern.stdp_kernel[(self.n_blk,)](
                k,
                self.most,
                st.csc_ptr,
                st.csc_pre,
                st.csc_w,
                self.cso,
                self.XP,
                self.YP,
                self.pv,
                self.n_pre,
                self.n_post,
                self.src,
                self.tgt,
                first,
                st.rec,
                st.S,
                B,
                **self.flags,
                BLOCK=BLOCK,
                enable_fp_fusion=False,
            )
        kern.stdp_pre_kernel[((self.n_pre + BLOCK - 1) // BLOCK, B)](
            k,
            self.XP,
            self.pv,
            self.n_pre,
            self.src,
            st.rec,
            st.S,
            B,
            NEAREST=self.flags["NEAREST"],
            BLOCK=BLOCK,
            enable_fp_fusion=False,
        )

    def write_back(self, csc_w: Tensor) -> None:
        """The learned weights into the projection (in its storage order)."""
        w = self.proj.w
        seg = csc_w[self.s0 : self.s0 + self.perm.numel()]
        with torch.no_grad():
            out = torch.empty_like(seg)
            out[self.perm] = seg
            w.copy_(out.to(device=w.device, dtype=w.dtype))
