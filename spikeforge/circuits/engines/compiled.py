"""The compiled CPU engine of :class:`~spikeforge.circuits.Network`: the network packed into
flat buffers (the state tensors become views of them), the CSR of all projections, and the calls
to the numba kernel of :mod:`spikeforge.circuits._kernel`, chunk by chunk, with the monitors' records."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ...neurons.alif import ALIF, adaptation_decay
from ...neurons.integrate_fire import IF
from ...neurons.izhikevich import Izhikevich
from ...neurons.lif import LIF, LIFParams, lif_coefficients, refractory_steps
from ...neurons.probabilistic import ProbabilisticNeuron, probabilistic_coefficients
from .. import _philox
from .. import synapses as syn
from .._populations import Population, _as_bn, _NetworkBase, _spike_forward_is_heaviside
from ..monitors import RateMonitor, SpikeMonitor, StateMonitor
from ..schedule import CHUNK as _CHUNK

if TYPE_CHECKING:
    from ..state import _Sim


class CompiledEngine:
    """Runs a network of LIF, ALIF, Izhikevich, IF and ProbabilisticNeuron populations without
    gradients on the CPU in
    the compiled kernel (see :class:`~spikeforge.circuits.engines.base.Engine`). It keeps the
    packed buffers and the CSR of the projections between runs while they stay valid."""

    name = "compiled"
    net: _NetworkBase
    sim: _Sim

    def __init__(self) -> None:
        self._packed: _Packed | None = None
        self._csr_cache: tuple[Any, Any] | None = None
        self.threads_used: int | None = 1

    def supports(self, network: _NetworkBase) -> str | None:
        """None when the kernel can run ``network``, else the reason, naming the part it cannot
        run."""
        if torch.is_grad_enabled() and network._requires_grad():
            return "gradients are needed (parameters or states require grad)"
        if network.device.type != "cpu":
            return f"the kernel runs on the CPU, the network is on {network.device}"
        if network.dtype not in (torch.float32, torch.float64):
            return f"dtype {network.dtype} (the kernel supports float32 and float64)"
        for pop in network._neuron_pops():
            why = self._kernel_cannot_run(pop)
            if why:
                return why
        for proj in network._projs():
            s = proj.synapse
            if isinstance(s, syn.DeltaSynapse) and s.target not in ("v", "i"):
                return f"projection {proj.name!r} jumps {s.target!r}"
        for drv in network._drives:
            if drv.field not in ("v", "i"):
                return f"Poisson input {drv.name!r} jumps {drv.field!r}"
        try:
            from .. import _kernel  # noqa: F401
        except ImportError:
            return "numba is not installed (pip install numba)"
        from .._kernel_plastic import unsupported

        for proj in network._projs():
            if why := unsupported(proj, network._B, network.dtype):
                return why
        return None

    def prepare(self, network: _NetworkBase, state: _Sim, *, threads: int = 1) -> None:
        """Bind the network and its simulation state, to run in ``threads`` parts: 1, the
        kernel of :mod:`spikeforge.circuits._kernel` (no thread pool); more, the one of
        :mod:`spikeforge.circuits._kernel_threads` on numba's threads (the same results)."""
        self.net, self.sim = network, state
        self.threads_used = threads

    def advance(self, n_steps: int, progress: Callable[[int], object] | None = None) -> None:
        """Run ``n_steps`` steps in the kernel, chunk by chunk (see :mod:`spikeforge.circuits.schedule`)."""
        nt = self.threads_used or 1
        if nt == 1:
            from .._kernel import run_steps

            self._run_kernel(self.sim, n_steps, progress, run_steps, 1)
            return
        from .. import _kernel_threads

        with _kernel_threads.threads(nt):
            self._run_kernel(self.sim, n_steps, progress, _kernel_threads.run_steps, nt)

    def _pack(self, sim: _Sim) -> _Packed:
        """Flat buffers for the kernel, with the simulation state moved into them (the state
        tensors become views of the buffers). Reused while the state tensors stay those views."""
        net = self.net
        packed = self._packed
        if packed is not None and packed.valid(sim):
            return packed
        B, dtype = net._B, net.dtype
        pops = net._neuron_pops()
        order = net._channel_order()
        N = sum(p.n for p in pops)
        projs = [net._proj(k) for k in order]
        NG = sum(p.n_post for p in projs)
        NH = sum(p.n_post for p in projs if len(p.synapse.state_names) > 1)
        NR = sum(p.n_post * (p.max_delay_steps + 1) for p in projs)
        packed = _Packed(
            V=torch.zeros(B, max(N, 1), dtype=dtype),
            I=torch.zeros(B, max(N, 1), dtype=dtype),
            X=torch.zeros(B, max(N, 1), dtype=dtype),
            REF=torch.zeros(B, max(N, 1), dtype=torch.int32),
            HELD=torch.zeros(B, max(N, 1), dtype=torch.bool),
            GS=torch.zeros(B, max(NG, 1), dtype=dtype),
            HS=torch.zeros(B, max(NH, 1), dtype=dtype),
            R=torch.zeros(B, max(NR, 1), dtype=dtype),
        )
        with torch.no_grad():
            off = 0
            for pop in pops:
                st = sim.neurons[pop.name]
                views = []
                for name, f in zip(st._fields, st):
                    buf = packed.buffer(name)
                    view = buf[:, off : off + pop.n].view(B, *pop.shape)
                    view.copy_(f.detach())
                    views.append(view)
                sim.neurons[pop.name] = type(st)(*views)
                if pop.name in sim.held:
                    held = packed.HELD[:, off : off + pop.n]
                    held.copy_(sim.held[pop.name])
                    sim.held[pop.name] = held
                packed.pop_off[pop.name] = off
                off += pop.n
            goff = hoff = roff = 0
            for proj in projs:
                n, L = proj.n_post, proj.max_delay_steps + 1
                old = sim.syn[proj.name]
                views = [packed.GS[:, goff : goff + n]]
                packed.ch_off[proj.name] = [goff, -1, roff]
                goff += n
                if len(old) > 1:
                    views.append(packed.HS[:, hoff : hoff + n])
                    packed.ch_off[proj.name][1] = hoff
                    hoff += n
                for v, o in zip(views, old):
                    v.copy_(o.detach())
                sim.syn[proj.name] = views
                ring = packed.R[:, roff : roff + L * n].view(B, L, n)
                ring.copy_(sim.ring[proj.name].detach())
                sim.ring[proj.name] = ring
                roff += L * n
        packed.remember(sim)
        self._packed = packed
        return packed

    def _kernel_cannot_run(self, pop: Population) -> str:
        """Why the kernel cannot step population ``pop``, or "" when it can: its module must be
        exactly a LIF, ALIF, Izhikevich, IF or ProbabilisticNeuron (a subclass may change the step),
        with a spike function whose forward value is the Heaviside step."""
        m = pop.module
        if type(m) not in (LIF, ALIF, Izhikevich, IF, ProbabilisticNeuron):
            return (
                f"population {pop.name!r} is a {type(m).__name__} (the kernel runs LIF, ALIF, "
                f"Izhikevich, IF and ProbabilisticNeuron)"
            )
        if isinstance(m, ProbabilisticNeuron):
            return ""
        if not isinstance(m, Izhikevich) and not _spike_forward_is_heaviside(m.surrogate):  # type: ignore[union-attr]
            return f"population {pop.name!r} has a custom spike function"
        if isinstance(m, IF) and pop.batch_params:
            return f"population {pop.name!r} is an IF with batch_params (which IF does not take)"
        return ""

    def _kernel_params(
        self, pop: Population
    ) -> tuple[int, tuple[int, int, int, int], list[Tensor], list[float]]:
        """The kernel's description of a population: model code, flags ``(has_syn, subtract,
        refractory, variant)``, parameter tensors (per neuron or shared) and constants, in the
        slots of :data:`spikeforge.circuits._kernel_models._NPRM`. The coefficients come from the
        models' own helpers, computed as their step functions compute them."""
        from .. import _kernel

        net = self.net
        m = pop.module
        p = net._params(pop)
        if isinstance(m, (LIF, ALIF)):
            lp = LIFParams(p.tau_mem, p.tau_syn, p.v_leak, p.v_th, p.v_reset, p.r, p.t_ref)
            kk, alpha = lif_coefficients(lp, net.dt, m.integrator)
            n_ref = refractory_steps(lp.t_ref, net.dt)
            values = [
                kk,
                alpha if alpha is not None else torch.zeros(()),
                lp.v_leak,
                lp.r,
                lp.v_th,
                lp.v_reset,
                n_ref,
            ]
            flags = (int(alpha is not None), int(m.reset == "subtract"), int(bool((n_ref > 0).any())), 0)
            if isinstance(m, LIF):
                return _kernel._M_LIF, flags, values, []
            values += [adaptation_decay(p.tau_adapt, net.dt, m.integrator), p.beta]
            return _kernel._M_ALIF, flags, values, [1.0]
        if isinstance(m, Izhikevich):
            dt = m.dt
            consts = [dt, 0.5 * dt, 0.04, 5.0, 140.0, 1.0]  # as izhikevich_step writes them
            values = [p.a, p.b, p.c, p.d, p.v_peak]
            return _kernel._M_IZHIKEVICH, (0, 0, 0, int(m.integrator == "izhikevich2003")), values, consts
        if isinstance(m, ProbabilisticNeuron):
            k, log_q, log_not_q = probabilistic_coefficients(p, m.dt)
            values = [k, p.v_leak, p.r, p.v_th, p.temperature, p.v_reset, p.release, log_q, log_not_q]
            return _kernel._M_PROBABILISTIC, (0, 0, 0, int(m.is_deterministic)), values, [1.0]
        assert isinstance(m, IF)
        return _kernel._M_IF, (0, int(m.reset == "subtract"), 0, 0), [p.v_th, p.v_reset, p.r], []

    def _csr(self, order: list[str], npdt: Any) -> tuple[np.ndarray, ...]:
        """All projections' CSR in one set of arrays (cached while weights and delays are unchanged)."""
        net = self.net
        projs = [net._proj(k) for k in order]
        key = tuple(
            (
                id(p),
                p.weight.data_ptr(),
                p.weight._version,
                p.delay_steps.data_ptr(),
                p.delay_steps._version,
                np.dtype(npdt).str,
            )
            for p in projs
        )
        if self._csr_cache is not None and self._csr_cache[0] == key:
            return self._csr_cache[1]  # type: ignore[no-any-return]
        ips, posts, ws, ds = [], [], [], []
        ip_off, nsyn = [], 0
        rows = 0
        arrays = [p.csr_arrays(np.dtype(npdt)) for p in projs]
        # per-synapse weights and delays only where some projection has them (a shared value is
        # stored once: no zeros per synapse)
        any_w = any(a[2].size > 0 for a in arrays)
        any_d = any(p.shared_delay_steps() < 0 for p in projs)
        for ip, po, wv, dv in arrays:
            ip_off.append(rows)
            rows += ip.size
            ips.append(ip + nsyn)
            posts.append(po)
            if any_w:
                ws.append(wv if wv.size else np.zeros(po.size, npdt))
            if any_d:
                ds.append(dv if dv.size else np.zeros(po.size, np.int16))
            nsyn += po.size
        out = (
            np.concatenate(ips) if ips else np.zeros(1, np.int64),
            np.concatenate(posts) if posts else np.zeros(1, np.int32),
            np.concatenate(ws).astype(npdt, copy=False) if any_w else np.zeros(1, npdt),
            np.concatenate(ds).astype(np.int16, copy=False) if any_d else np.zeros(1, np.int16),
            np.array(ip_off, np.int64),
        )
        # store the target indices once: sparse projections keep views of the concatenation
        start = 0
        for p, (_, po, _, _) in zip(projs, arrays):
            if p.storage == "sparse" and po.size and posts:
                p.post_idx = torch.from_numpy(out[1][start : start + po.size])
            start += po.size
        self._csr_cache = (key, out)
        return out

    def _run_kernel(
        self,
        sim: _Sim,
        n_steps: int,
        progress: Callable[[int], object] | None,
        run_steps: Callable[..., int],
        nt: int,
    ) -> None:
        """Runs ``n_steps`` steps with ``run_steps`` (the kernel's, on one thread, or
        ``_kernel_threads``', in ``nt`` parts)."""
        from .. import _kernel, _kernel_plastic

        net = self.net
        B = net._B
        npdt = np.float32 if net.dtype == torch.float32 else np.float64
        pops = net._neuron_pops()
        inputs = net._input_groups()
        P, G = len(pops), len(inputs)
        pop_index = {p.name: k for k, p in enumerate(pops)}
        src_index = {p.name: k for k, p in enumerate(pops + inputs)}
        S = P + G
        order = net._channel_order()
        C = len(order)
        with torch.no_grad():
            packed = self._pack(sim)
            # populations and parameters
            pop_meta = np.zeros((P, 9), np.int64)
            prm_parts: list[np.ndarray] = []
            prm_meta = np.zeros((_kernel._NPRM * max(P, 1), 2), np.int64)
            prm_off = 0
            for k, pop in enumerate(pops):
                model, flags, pvalues, consts = self._kernel_params(pop)
                arrays = [
                    _as_bn(t.detach().to(net.dtype), B, pop.shape).cpu().numpy().astype(npdt) for t in pvalues
                ]
                shared = all(a.shape[1] == 1 for a in arrays)
                arrays += [np.array([[c]], npdt) for c in consts]  # one value, whatever `shared`
                for q, a in enumerate(arrays):
                    if not shared and q < len(pvalues):
                        a = np.ascontiguousarray(np.broadcast_to(a, (a.shape[0], pop.n)))
                    prm_meta[_kernel._NPRM * k + q] = (prm_off, a.shape[1] if a.shape[0] > 1 else 0)
                    prm_parts.append(a.reshape(-1))
                    prm_off += a.size
                strm = net._neuron_streams(pop)[0] if model == _kernel._M_PROBABILISTIC else 0  # its streams
                pop_meta[k] = (
                    pop.n,
                    packed.pop_off[pop.name],
                    *flags[:3],
                    int(shared),
                    model,
                    flags[3],
                    strm,
                )
            prm = np.concatenate(prm_parts) if prm_parts else np.zeros(1, npdt)
            # channels
            coefs = net._coefficients()
            ch_meta = np.zeros((C, 14), np.int64)
            ch_val = np.zeros((C, 5), npdt)
            ch_gain = np.ones((C, B), npdt)
            coef_parts: list[np.ndarray] = []
            coef_meta = np.zeros((2 * max(C, 1), 3), np.int64)
            coef_off = 0
            indptr, post, wl, dl, ip_off = self._csr(order, npdt)
            for c, name in enumerate(order):
                proj = net._proj(name)
                co = coefs[name]
                goff, hoff, roff = packed.ch_off[name]
                target = getattr(proj.synapse, "target", "v")
                has_w = proj.weight.dim() > 0
                ch_meta[c] = (
                    pop_index[proj.post],
                    co.kind,
                    proj.max_delay_steps + 1,
                    src_index[proj.pre],
                    0 if target == "v" else 1,
                    proj.shared_delay_steps(),
                    int(has_w),
                    0,
                    goff,
                    hoff,
                    roff,
                    ip_off[c],
                    proj.n_post,
                    int(proj.shared_delay_steps() == 0),
                )
                ch_val[c] = (co.decay, co.coupling, co.jump, co.e_rev, 0.0 if has_w else proj.shared_weight())
                if proj.gain is not None:
                    ch_gain[c] = proj.gain.cpu().numpy()
                for q, t in enumerate((co.c1, co.c2)):
                    a = t.cpu().numpy().astype(npdt)
                    coef_meta[2 * c + q] = (
                        coef_off,
                        a.shape[1] if a.shape[0] > 1 else 0,
                        1 if a.shape[1] > 1 else 0,
                    )
                    coef_parts.append(a.reshape(-1))
                    coef_off += a.size
            coef = np.concatenate(coef_parts) if coef_parts else np.zeros(1, npdt)
            plastic = _kernel_plastic.Plastic(net, sim, order, npdt)
            V, I, REF, HELD = packed.V.numpy(), packed.I.numpy(), packed.REF.numpy(), packed.HELD.numpy()
            GS, HS, R = packed.GS.numpy(), packed.HS.numpy(), packed.R.numpy()
            spk = np.zeros((B, V.shape[1]), np.int32)
            spk_n = np.zeros((B, max(P, 1)), np.int64)
            xb = np.zeros((nt, _kernel._BLOCK), npdt)  # a scratch row per part
            zb = np.zeros((nt, _kernel._BLOCK), np.bool_)
            # monitors
            mon_src = np.zeros(max(S, 1), np.uint8)
            for m_ in net._monitors:
                if isinstance(m_, SpikeMonitor):
                    mon_src[src_index[m_.source]] = 1
            sizes = [p.n for p in pops + inputs]
            mon_total = int(sum(sizes[k] for k in range(S) if mon_src[k]))
            cap = max(4 * mon_total, 1 << 16)
            state_mons = [m_ for m_ in net._monitors if isinstance(m_, StateMonitor)]
            cols = []
            for mi, sm in enumerate(state_mons):
                if sm.source in net.projections:
                    goff, hoff, _ = packed.ch_off[sm.source]
                    kind, base = (3, goff) if sm.var == "g" else (4, hoff)
                else:
                    kind = {"v": 0, "i": 1, "ref": 2, "u": 5, "a": 5, "log_prob": 5}[sm.var]
                    base = packed.pop_off[sm.source]
                for col, j in enumerate(sm.indices):
                    cols.append((mi, kind, base + int(j), col))
            sm_cols = np.array(cols, np.int64).reshape(-1, 4)
            rate_sources = {m_.source for m_ in net._monitors if isinstance(m_, RateMonitor)}
            end = sim.step + n_steps
            out_step = np.zeros((B, cap), np.int64)
            out_src = np.zeros((B, cap), np.int32)
            out_idx = np.zeros((B, cap), np.int32)
            while sim.step < end:
                s0 = sim.step
                s1 = min(end, s0 + _CHUNK)
                n_chunk = s1 - s0
                poisson, sources, currents = net._inputs_chunk(sim, s0, s1, draw=False)
                ext_ptr, ext_id = _external_events(inputs, poisson, sources, s0, n_chunk, B)
                ext_ptr, ext_id = self._poisson_events(sim, inputs, s0, n_chunk, ext_ptr, ext_id, npdt)
                cur_meta = np.zeros((len(currents), 8), np.int64)
                cur_parts = []
                off = 0
                amp_parts: list[np.ndarray] = []
                key_rows = [np.array(_philox.keys(sim.noise.seeds), np.uint64)]
                amp_off = 0
                for q, (target, values) in enumerate(currents):
                    if values is None:  # counter-based normals, drawn in the kernel
                        cur = net._currents[q].current
                        amp = cur.amplitude.detach().cpu().to(torch.float64).numpy()
                        cur_meta[q] = (
                            pop_index[target],
                            amp_off,
                            0,
                            0,
                            int(amp.size > 1),
                            1,
                            cur.stream,
                            len(key_rows),
                        )
                        amp_parts.append(amp)
                        amp_off += amp.size
                        kr = np.array(_philox.keys(cur.seeds), np.uint64)
                        key_rows.append(np.ascontiguousarray(np.broadcast_to(kr, (B, 2))))
                        continue
                    vals = values.cpu().to(net.dtype)
                    cs, bs, ns = vals.shape
                    cur_meta[q] = (
                        pop_index[target],
                        off,
                        bs * ns if cs > 1 else 0,
                        ns if bs > 1 else 0,
                        1 if ns > 1 else 0,
                        0,
                        0,
                        0,
                    )
                    cur_parts.append(vals.reshape(-1).numpy().astype(npdt, copy=False))
                    off += vals.numel()
                cur_data = np.concatenate(cur_parts) if cur_parts else np.zeros(1, npdt)
                cur_amp = np.concatenate(amp_parts) if amp_parts else np.zeros(1, np.float64)
                rng_key = np.stack(key_rows)
                pin_meta, pin_data, pin_idx, pin_tab, pin_tab_meta = self._poisson_inputs(sim, s0, s1, npdt)
                sm_meta = np.zeros((len(state_mons), 4), np.int64)
                off = 0
                for mi, sm in enumerate(state_mons):
                    first = -(-s0 // sm.every) * sm.every
                    rows = len(range(first, s1, sm.every))
                    sm_meta[mi] = (sm.every, len(sm.indices), off, 0)
                    off += rows * B * len(sm.indices)
                out_state = np.zeros(max(off, 1), np.float64)
                out_counts = np.zeros((n_chunk, B, max(S, 1)), np.int32)
                done = 0
                recorded: list[tuple[np.ndarray, ...]] = []
                while done < n_chunk:
                    out_n = np.zeros(B, np.int64)
                    k = run_steps(
                        s0 + done,
                        n_chunk - done,
                        done,
                        B,
                        pop_meta,
                        V,
                        I,
                        REF,
                        HELD,
                        packed.X.numpy(),
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
                        wl,
                        dl,
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
                        *plastic.args(),
                    )
                    if plastic.names:
                        plastic.write_back(net, sim, wl)
                    for b in range(B):
                        cnt = int(out_n[b])
                        if cnt:
                            recorded.append(
                                (
                                    out_step[b, :cnt].copy(),
                                    np.full(cnt, b, np.int64),
                                    out_src[b, :cnt].copy(),
                                    out_idx[b, :cnt].copy(),
                                )
                            )
                    done += k
                    if k == 0:
                        cap *= 2
                        out_step = np.zeros((B, cap), np.int64)
                        out_src = np.zeros((B, cap), np.int32)
                        out_idx = np.zeros((B, cap), np.int32)
                    sim.step = s0 + done
                    if progress is not None:
                        progress(k)
                if recorded:
                    st_, b_, sr_, ix_ = (np.concatenate(a) for a in zip(*recorded))
                    order_ = np.lexsort((ix_, b_, st_))
                    st_, b_, sr_, ix_ = st_[order_], b_[order_], sr_[order_], ix_[order_]
                    for m_ in net._monitors:
                        if isinstance(m_, SpikeMonitor):
                            sel = sr_ == src_index[m_.source]
                            if sel.any():
                                m_._append(st_[sel], b_[sel], ix_[sel])
                for name in rate_sources:
                    counts = out_counts[:, :, src_index[name]].astype(np.int64)
                    for m_ in net._monitors:
                        if isinstance(m_, RateMonitor) and m_.source == name:
                            m_._append(np.arange(s0, s1), counts)
                for mi, sm in enumerate(state_mons):
                    rows = int(sm_meta[mi, 3])
                    if rows:
                        first = -(-s0 // sm.every) * sm.every
                        block = out_state[sm_meta[mi, 2] : sm_meta[mi, 2] + rows * B * len(sm.indices)]
                        sm._append(
                            np.arange(first, first + rows * sm.every, sm.every),
                            block.reshape(rows, B, len(sm.indices)).copy(),
                        )

    def _poisson_events(
        self,
        sim: _Sim,
        inputs: list[Population],
        s0: int,
        C: int,
        src_ptr: np.ndarray,
        src_id: np.ndarray,
        npdt: Any,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The input groups' spikes of steps ``[s0, s0 + C)`` as one CSR over (step, copy,
        group): the Poisson groups' drawn in numba from their counter-based uniforms
        (:func:`~spikeforge.circuits._kernel_philox.poisson_events`), the spike sources' copied
        from ``(src_ptr, src_id)``."""
        net = self.net
        from .. import _kernel_philox

        pg = [k for k, pop in enumerate(inputs) if pop.kind == "poisson"]
        if not pg:
            return src_ptr, src_id
        B, G = net._B, len(inputs)
        is_pg = np.zeros(G, np.uint8)
        size = np.array([pop.n for pop in inputs], np.int64)
        strm = np.zeros(G, np.int64)
        p_meta = np.zeros((G, 4), np.int64)
        parts, off, mean = [], 0, 0.0
        t = torch.arange(s0, s0 + C, dtype=torch.float64) * net.dt
        for k, g in enumerate(pg):
            grp = inputs[g].group
            p = grp.probabilities(t, net.dtype).cpu()  # type: ignore[union-attr]
            cs, bs, ns = p.shape
            is_pg[g] = 1
            strm[g] = _philox.stream(_philox.KIND_POISSON_GROUP, k)
            p_meta[g] = (off, bs * ns if cs > 1 else 0, ns if bs > 1 else 0, 1 if ns > 1 else 0)
            parts.append(p.reshape(-1).to(torch.float64).numpy())
            off += p.numel()
            mean += float(p.to(torch.float64).sum()) * (C / cs) * (B / bs) * (inputs[g].n / ns)
        p_data = np.concatenate(parts)
        keys = np.array(_philox.keys(sim.noise.seeds), np.uint64)
        cap = int(mean + 10.0 * mean**0.5) + src_id.size + 4096
        ptr = np.zeros(C * B * G + 1, np.int64)
        while True:
            ids = np.zeros(cap, np.int32)
            cnt = _kernel_philox.poisson_events(
                s0,
                C,
                B,
                is_pg,
                size,
                strm,
                keys,
                p_data,
                p_meta,
                npdt == np.float32,
                src_ptr,
                src_id,
                ptr,
                ids,
            )
            if cnt >= 0:
                return ptr, ids[: max(cnt, 1)]
            cap *= 2

    def _poisson_inputs(
        self, sim: _Sim, s0: int, s1: int, npdt: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The kernel's description of the Poisson inputs in steps ``[s0, s1)``: ``pin_meta`` rows
        ``(population, field, offset, n, mode, stream, idx offset, idx strides (step, copy,
        neuron))``. Mode 0 (up to ``MAX_DISTINCT_MEANS`` distinct mean counts in the chunk, the
        usual case): the kernel draws the uniforms and inverts the CDF tables ``pin_tab`` (rows
        ``pin_tab_meta``: offset, length) that ``pin_idx`` points to, the weight in
        ``pin_data[offset]``; mode 1: the values ``count * weight`` of every step, copy and neuron
        in ``pin_data`` (drawn by the PyTorch engine's function: the same numbers)."""
        net = self.net
        from ..inputs import MAX_DISTINCT_MEANS, _cdf_table

        pop_index = {p.name: k for k, p in enumerate(net._neuron_pops())}
        meta = np.zeros((len(net._drives), 10), np.int64)
        data: list[np.ndarray] = []
        idx: list[np.ndarray] = []
        tabs: list[np.ndarray] = []
        tab_meta: list[tuple[int, int]] = []
        off = ioff = toff = 0
        t = torch.arange(s0, s1, dtype=torch.float64) * net.dt
        for q, drv in enumerate(net._drives):
            lam = drv.means(t).cpu()
            vals, inv = torch.unique(lam, return_inverse=True)
            head = (pop_index[drv.target], 0 if drv.field == "v" else 1, off, drv.n_target)
            if vals.numel() > MAX_DISTINCT_MEANS:
                values = sim.noise.drive_values(q, drv, s0, s1, net.dt, net.dtype)
                data.append(values.cpu().reshape(-1).numpy().astype(npdt, copy=False))
                meta[q] = (*head, 1, 0, 0, 0, 0, 0)
                off += data[-1].size
                continue
            cs, bs, ns = lam.shape
            meta[q] = (
                *head,
                0,
                _philox.stream(_philox.KIND_POISSON_INPUT, q),
                ioff,
                bs * ns if cs > 1 else 0,
                ns if bs > 1 else 0,
                1 if ns > 1 else 0,
            )
            data.append(np.array([drv.weight], npdt))
            off += 1
            idx.append((inv + len(tab_meta)).reshape(-1).to(torch.int32).numpy())
            ioff += idx[-1].size
            for v in vals.tolist():
                tab = _cdf_table(v, torch.device("cpu")).numpy() if v > 0 else np.zeros(0)
                tabs.append(tab)
                tab_meta.append((toff, tab.size))
                toff += tab.size
        return (
            meta,
            np.concatenate(data) if data else np.zeros(1, npdt),
            np.concatenate(idx) if idx else np.zeros(1, np.int32),
            np.concatenate(tabs) if toff else np.zeros(1, np.float64),
            np.array(tab_meta, np.int64).reshape(-1, 2) if tab_meta else np.zeros((1, 2), np.int64),
        )


class _Packed:
    """The kernel's flat buffers; the simulation state tensors are views of them."""

    def __init__(self, **buffers: Tensor) -> None:
        self.V, self.I, self.REF, self.HELD = buffers["V"], buffers["I"], buffers["REF"], buffers["HELD"]
        self.X = buffers["X"]
        self.GS, self.HS, self.R = buffers["GS"], buffers["HS"], buffers["R"]
        self.pop_off: dict[str, int] = {}
        self.ch_off: dict[str, list[int]] = {}
        self._views: list[Tensor] = []

    def _current(self, sim: _Sim) -> list[Tensor]:
        out: list[Tensor] = []
        for name in self.pop_off:
            out.extend(sim.neurons[name])
            if name in sim.held:
                out.append(sim.held[name])
        for name in self.ch_off:
            out.extend(sim.syn[name])
            out.append(sim.ring[name])
        return out

    def buffer(self, field: str) -> Tensor:
        """The buffer that holds a neuron state field: v, i, ref, and u (Izhikevich), a (ALIF) or
        log_prob (ProbabilisticNeuron)."""
        x = self.X
        return {"v": self.V, "i": self.I, "ref": self.REF, "u": x, "a": x, "log_prob": x}[field]

    def remember(self, sim: _Sim) -> None:
        self._views = self._current(sim)

    def valid(self, sim: _Sim) -> bool:
        cur = self._current(sim)
        return len(cur) == len(self._views) and all(a is b for a, b in zip(cur, self._views))


def _external_events(
    inputs: list[Population],
    poisson: dict[str, Tensor],
    sources: dict[str, tuple[Tensor, Tensor, Tensor]],
    s0: int,
    C: int,
    B: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Input-group spikes of a chunk as a CSR over (step, copy, group): ``ext_ptr``, ``ext_id``."""
    G = len(inputs)
    if G == 0:
        return np.zeros(max(C * B, 1) + 1, np.int64), np.zeros(1, np.int32)
    keys, ids = [], []
    for g, pop in enumerate(inputs):
        if pop.kind == "poisson":
            if pop.name not in poisson:  # drawn by _poisson_events
                continue
            t_i, b_i, i_i = torch.nonzero(poisson[pop.name].cpu(), as_tuple=True)
        else:
            st, b_i, i_i = sources[pop.name]
            t_i = st - s0
        keys.append((t_i * B + b_i) * G + g)
        ids.append(i_i)
    if not keys:
        return np.zeros(C * B * G + 1, np.int64), np.zeros(1, np.int32)
    key = torch.cat(keys)
    idx = torch.cat(ids)
    order = torch.argsort(key, stable=True)
    counts = torch.bincount(key, minlength=C * B * G)
    ptr = np.zeros(C * B * G + 1, np.int64)
    ptr[1:] = torch.cumsum(counts, 0).numpy()
    return ptr, idx[order].to(torch.int32).numpy() if idx.numel() else np.zeros(1, np.int32)
