"""The PyTorch engine of :class:`~spikeforge.circuits.Network` (the reference): step by step, on
any device, differentiable; neuron steppers, synaptic delivery and scheduling (ring buffers, direct
delta-0 projections, event-driven sparse propagation) and the learning step of plastic projections
(see :mod:`spikeforge.circuits.schedule` for the order of operations)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ...errors import ParameterError
from ...neurons.alif import ALIF, alif_step
from ...neurons.izhikevich import Izhikevich, izhikevich_step
from ...neurons.lif import LIF, lif_step
from ...neurons.probabilistic import ProbabilisticNeuron, probabilistic_step
from ...plasticity import Synapses
from ...surrogate import heaviside
from .. import _philox
from .. import synapses as syn
from .._events import _members, _PlasticEvents
from .._populations import Population, _NetworkBase, _spike_forward_is_heaviside
from .._rule_delays import DelayedRuleState, seen_spikes
from ..monitors import RateMonitor, SpikeMonitor, StateMonitor
from ..projection import Projection
from ..schedule import CHUNK as _CHUNK

if TYPE_CHECKING:
    from ..state import _Sim


def _jump(state: Any, field: str, amount: Tensor, held: Tensor | None) -> Any:
    """``state`` with ``amount`` added to its ``field`` (a delta synapse's jump), except, for ``v``,
    where ``held`` (see :func:`_held`): Brian2 applies such a jump in a step in which v is held (or
    before the reset that overwrites it)."""
    f = getattr(state, field)
    amount = amount.reshape(f.shape)
    if field == "v" and held is not None:
        zero = torch.zeros((), dtype=amount.dtype, device=amount.device)
        amount = torch.where(held.reshape(f.shape), zero, amount)
    return state._replace(**{field: f + amount})


def _held(before: Any, after: Any, z: Tensor, to_value: bool) -> Tensor:
    """``[B, n]`` bool: the neurons whose v Brian2 holds in the step from ``before`` to ``after``,
    so that a jump of v delivered after the step is lost: refractory in it (held, or spiking with
    a refractory period to follow), or spiking with a reset to a value (after the synapses)."""
    held = (before.ref.reshape(z.shape) > 0) | (after.ref.reshape(z.shape) > 0)
    return held | (z.detach() > 0) if to_value else held


class TorchEngine:
    """Runs a network step by step with PyTorch operations: any network, any device, gradients
    (the reference engine; see :class:`~spikeforge.circuits.engines.base.Engine`)."""

    name = "torch"
    threads_used: int | None = None
    net: _NetworkBase
    sim: _Sim
    _step = 0  # the step being taken (the stochastic neurons' counter)

    def supports(self, network: _NetworkBase) -> str | None:
        """None: this engine runs every network ``Network`` accepts (a module that draws from its
        own generator is refused when the run starts, naming the population)."""
        return None

    def prepare(self, network: _NetworkBase, state: _Sim, *, threads: int = 1) -> None:
        """Bind the network and its simulation state (``threads`` is ignored: PyTorch's own
        threads run the operations, see ``torch.set_num_threads``)."""
        self.net, self.sim = network, state

    def advance(self, n_steps: int, progress: Callable[[int], object] | None = None) -> None:
        """Run ``n_steps`` steps (see :mod:`spikeforge.circuits.schedule`)."""
        self._run_torch(self.sim, n_steps, progress)

    def _stepper(self, pop: Population, grad: bool) -> Callable[[Tensor, Any], tuple[Tensor, Any]]:
        """The population's pure step function with its parameters bound. Without gradients the
        spike function is the plain Heaviside step (the surrogate's forward value, without the
        autograd overhead)."""
        net = self.net
        m = pop.module
        if type(m) is LIF or (isinstance(m, LIF) and type(m).step is LIF.step):
            lp = net._params(pop)
            kw = m._settings()  # type: ignore[union-attr]
            if not grad and _spike_forward_is_heaviside(kw["spike_fn"]):
                kw["spike_fn"] = heaviside
            return lambda x, st: lif_step(x, st, lp, **kw)
        if isinstance(m, ALIF) and type(m).step is ALIF.step:
            ap = net._params(pop)
            akw = m._settings()
            if not grad and _spike_forward_is_heaviside(akw["spike_fn"]):
                akw["spike_fn"] = heaviside
            return lambda x, st: alif_step(x, st, ap, **akw)
        if isinstance(m, Izhikevich) and type(m).step is Izhikevich.step:
            ip = net._params(pop)
            ikw = dict(dt=m.dt, spike_fn=m.surrogate, integrator=m.integrator, detach_reset=m.detach_reset)
            return lambda x, st: izhikevich_step(x, st, ip, **ikw)  # type: ignore[arg-type]
        if isinstance(m, ProbabilisticNeuron) and type(m).step is ProbabilisticNeuron.step:
            return self._probabilistic_stepper(pop, m)
        if pop.batch_params:
            raise ParameterError(
                f"batch_params need a LIF, ALIF, Izhikevich or ProbabilisticNeuron population, "
                f"{pop.name!r} is {type(m).__name__}"
            )
        if isinstance(getattr(m, "generator", None), torch.Generator):
            raise ParameterError(
                f"population {pop.name!r}: {type(m).__name__} draws from its own generator, which the "
                f"network cannot save or split by copy; use a model the network supports"
            )
        assert m is not None
        return m.step

    def _probabilistic_stepper(
        self, pop: Population, m: ProbabilisticNeuron
    ) -> Callable[[Tensor, Any], tuple[Tensor, Any]]:
        """Stochastic neurons draw the counter-based uniforms of their population's two streams
        (release, spike; :mod:`spikeforge.circuits._philox`) keyed by each copy's noise seed, and
        take ``p`` from :func:`~spikeforge.circuits._philox.sigmoid`: the numbers the compiled
        engine draws and computes, and copy ``b`` equals an unbatched network with that copy's
        noise seed (the module's own generator is not used)."""
        net = self.net
        seeds = self.sim.noise.seeds
        params = net._params(pop)
        streams = net._neuron_streams(pop)
        det = m.is_deterministic
        kw = dict(dt=m.dt, estimator=m.estimator, deterministic=det, ste_variant=m.ste_variant)
        shape = (net._B, *pop.shape)

        def step(x: Tensor, st: Any) -> tuple[Tensor, Any]:
            u = None
            if not det:
                steps = torch.tensor([self._step])
                draws = [_philox.uniform(seeds, k, steps, pop.n, net.dtype, net.device) for k in streams]
                u = torch.stack([d[0].reshape(shape) for d in draws])
            return probabilistic_step(x, st, params, uniforms=u, sigmoid=_philox.sigmoid, **kw)  # type: ignore[arg-type]

        return step

    def _run_torch(self, sim: _Sim, n_steps: int, progress: Callable[[int], object] | None) -> None:
        net = self.net
        B = net._B
        grad = torch.is_grad_enabled() and net._requires_grad()
        pops = net._neuron_pops()
        inputs = net._input_groups()
        steppers = {p.name: self._stepper(p, grad) for p in pops}
        to_value = {p.name: getattr(p.module, "reset", "to_value") == "to_value" for p in pops}
        coefs = net._coefficients()
        order = net._channel_order()
        projs = {k: net._proj(k) for k in order}
        weights = {k: p.weight for k, p in projs.items()}
        delay_groups = {
            k: _delay_groups(p, weights[k]) for k, p in projs.items() if p.shared_delay_steps() < 0
        }
        gains = {k: p.gain.reshape(B, 1) for k, p in projs.items() if p.gain is not None}
        plastic = [k for k in order if projs[k].plastic]
        # sparse plastic projections whose rule works at given synapses: every synapse each step,
        # or, for an event-driven rule, those of the neurons that spiked (the first step of a run
        # takes all: it keeps weights set out of bounds between runs where the rule puts them)
        sparse_rules: dict[str, Synapses] = {}
        events: dict[str, _PlasticEvents] = {}
        for k in plastic:
            rule = projs[k].plasticity
            if projs[k].storage != "sparse" or not getattr(rule, "takes_synapses", False):
                continue
            if getattr(rule, "event_driven", False):
                events[k] = _PlasticEvents(projs[k], net.device)
            else:
                sparse_rules[k] = Synapses(
                    projs[k].post_indices.to(net.device), projs[k].pre_indices.to(net.device)
                )
        group_idx = {k: _group_synapses(projs[k]) for k in plastic if k in delay_groups}
        by_post: dict[str, list[str]] = {p.name: [k for k in order if projs[k].post == p.name] for p in pops}
        state_mons = [(mi, sm) for mi, sm in enumerate(net._monitors) if isinstance(sm, StateMonitor)]
        spike_sources = {m.source for m in net._monitors if isinstance(m, (SpikeMonitor, RateMonitor))}
        end = sim.step + n_steps
        while sim.step < end:
            s0 = sim.step
            s1 = min(end, s0 + _CHUNK)
            C = s1 - s0
            poisson, sources, currents = net._inputs_chunk(sim, s0, s1)
            src_dense: dict[str, Tensor] = {}
            for grp in inputs:
                if grp.kind == "poisson":
                    src_dense[grp.name] = poisson[grp.name]
                else:
                    st, sb, si = sources[grp.name]
                    dense = torch.zeros(C, B, grp.n, dtype=torch.bool, device=net.device)
                    dense[(st - s0).to(net.device), sb.to(net.device), si.to(net.device)] = True
                    src_dense[grp.name] = dense
            rec: dict[str, Tensor] = {
                n: torch.zeros(C, B, net._groups[n].n, dtype=torch.bool, device=net.device)
                for n in spike_sources
                if net._groups[n].kind == "neurons"
            }
            samples: dict[int, list[tuple[int, np.ndarray]]] = {k: [] for k, _ in state_mons}
            neurons = dict(sim.neurons)
            held = dict(sim.held)
            syns = {k: list(v) for k, v in sim.syn.items()}
            rings = {k: list(sim.ring[k].unbind(1)) for k in order}
            pending = {k: (sim.ring[k].detach().abs().sum((0, 2)) > 0).tolist() for k in order}
            for s in range(s0, s1):
                ti = s - s0
                self._step = s  # the step whose draws the stochastic neurons take
                # 1. deliver
                for k in order:
                    slots = rings[k]
                    slot = s % len(slots)
                    if not pending[k][slot]:
                        continue
                    pending[k][slot] = False
                    acc = slots[slot]
                    if grad:
                        slots[slot] = torch.zeros_like(acc)
                    else:
                        acc = acc.clone()
                        slots[slot].zero_()
                    if k in gains:
                        acc = acc * gains[k]
                    proj = projs[k]
                    co = coefs[k]
                    if co.kind == syn.KIND_DELTA:
                        target = proj.synapse.target  # type: ignore[attr-defined]
                        neurons[proj.post] = _jump(neurons[proj.post], target, acc, held.get(proj.post))
                    elif co.kind in (syn.KIND_EXP, syn.KIND_EXP_COND):
                        syns[k][0] = syns[k][0] + acc
                    else:
                        syns[k][1] = syns[k][1] + co.jump * acc
                # 2. sample
                for mi, sm in state_mons:
                    if s % sm.every == 0:
                        samples[mi].append((s, self._sample(sm, neurons, syns)))
                # 3. input, 4. neurons
                spikes: dict[str, Tensor] = {}
                for pop in pops:
                    x = torch.zeros(B, pop.n, dtype=net.dtype, device=net.device)
                    for target, values in currents:
                        if target == pop.name:
                            x = x + values[ti if values.shape[0] > 1 else 0]
                    for k in by_post[pop.name]:
                        co = coefs[k]
                        if co.kind == syn.KIND_DELTA:
                            continue
                        g = syns[k][0]
                        if co.kind == syn.KIND_EXP:
                            x = x + co.c1 * g
                            syns[k][0] = g * co.decay
                        elif co.kind == syn.KIND_EXP_COND:
                            v_m = neurons[pop.name].v.reshape(B, pop.n)
                            x = x + g * (co.e_rev - v_m)
                            syns[k][0] = g * co.decay
                        else:
                            h = syns[k][1]
                            if co.kind == syn.KIND_ALPHA:
                                x = x + (co.c1 * g + co.c2 * h)
                            else:
                                v_m = neurons[pop.name].v.reshape(B, pop.n)
                                x = x + g * (co.e_rev - v_m)
                            syns[k][0] = co.decay * g + co.coupling * h
                            syns[k][1] = co.decay * h
                    before = neurons[pop.name]
                    z, neurons[pop.name] = steppers[pop.name](x.reshape(B, *pop.shape), before)
                    zf = z.reshape(B, pop.n)
                    if pop.name in held:
                        held[pop.name] = _held(before, neurons[pop.name], zf, to_value[pop.name])
                    spikes[pop.name] = zf
                    if pop.name in rec:
                        rec[pop.name][ti] = zf.detach() > 0
                for g_ in inputs:
                    spikes[g_.name] = src_dense[g_.name][ti].to(net.dtype)
                # 5. schedule (the spiking neurons of each source found once per step)
                nz: dict[str, tuple[Tensor, Tensor] | None] = {}
                if not grad:
                    for name, z in spikes.items():
                        b_i, n_i = torch.nonzero(z, as_tuple=True)
                        nz[name] = (b_i, n_i) if b_i.numel() else None
                for k in order:
                    proj = projs[k]
                    z = spikes[proj.pre]
                    if not grad and nz[proj.pre] is None:
                        continue
                    if proj.shared_delay_steps() == 0:
                        self._direct(
                            proj,
                            coefs[k],
                            z,
                            weights[k],
                            gains.get(k),
                            neurons,
                            held.get(projs[k].post),
                            syns[k],
                            grad,
                            nz.get(proj.pre),
                        )
                    else:
                        self._schedule(
                            proj,
                            z,
                            weights[k],
                            rings[k],
                            sim.ring[k],
                            s,
                            grad,
                            delay_groups.get(k),
                            pending[k],
                            nz.get(proj.pre),
                        )
                # 5b. Poisson inputs (as delay-0 delta synapses, after the projections)
                for drv in net._drives:
                    neurons[drv.target] = _jump(
                        neurons[drv.target], drv.field, poisson[drv.name][ti], held.get(drv.target)
                    )
                # 6. learn (after the spikes of this step went out with the old weights)
                for k in plastic:
                    proj = projs[k]
                    extra: dict[str, Any] = {}
                    at = None
                    rule_state = sim.plastic[k]
                    pre_s, post_s = spikes[proj.pre].detach(), spikes[proj.post].detach()
                    lines = None
                    if isinstance(rule_state, DelayedRuleState):  # the rule sees spikes late
                        pre_s, post_s, lines = seen_spikes(rule_state, pre_s, post_s, s)
                        rule_state = lines.rule
                    if proj.storage == "dense":
                        w_rule = weights[k]
                    elif k in events:  # the synapses of the neurons that spiked: [n_active]
                        ev = events[k]
                        at = ev.active(pre_s, post_s)
                        w_rule, extra["synapses"] = weights[k][at], Synapses(ev.post[at], ev.pre[at])
                    elif k in sparse_rules:  # the rule works at the synapses: [n_syn]
                        w_rule, extra["synapses"] = weights[k], sparse_rules[k]
                    else:
                        w_rule = proj.to_dense()
                    with torch.no_grad():
                        dw, rule_state = proj.plasticity.step(
                            pre_s,
                            post_s,
                            w_rule.detach(),
                            rule_state,
                            modulator=proj.modulator_at(s * net.dt),
                            **extra,
                        )
                    sim.plastic[k] = lines._replace(rule=rule_state) if lines is not None else rule_state
                    proj.apply_plastic_update(dw, inplace=not grad, at=at)
                    weights[k] = proj.weight
                    if k in group_idx:
                        delay_groups[k] = [
                            (d, pre, post, _gather(proj, weights[k], idx))
                            for (d, pre, post, _), idx in zip(delay_groups[k], group_idx[k])
                        ]
            # 7. record (per chunk)
            steps_arr = np.arange(s0, s1)
            for name in spike_sources:
                dense = rec[name] if name in rec else src_dense[name]
                t_r, b_r, i_r = (a.cpu().numpy() for a in torch.nonzero(dense, as_tuple=True))
                net._record_spike_chunk(name, t_r + s0, b_r, i_r)
                counts = dense.sum(-1).cpu().numpy()
                for m in net._monitors:
                    if isinstance(m, RateMonitor) and m.source == name:
                        m._append(steps_arr, counts)
            for mi, sm in state_mons:
                if samples[mi]:
                    sm._append(np.array([s for s, _ in samples[mi]]), np.stack([v for _, v in samples[mi]]))
            sim.neurons = neurons
            sim.held = held
            sim.syn = syns
            if grad:
                for k in order:
                    sim.ring[k] = torch.stack(rings[k], 1)
            sim.step = s1
            if progress is not None:
                progress(C)

    def _sample(self, m: StateMonitor, neurons: dict[str, Any], syns: dict[str, list[Tensor]]) -> np.ndarray:
        net = self.net
        B = net._B
        idx = torch.as_tensor(m.indices, device=net.device)
        if m.source in net.projections:
            proj = net._proj(m.source)
            t = syns[m.source][proj.synapse.state_names.index(m.var)]  # type: ignore[union-attr]
        else:
            t = getattr(neurons[m.source], m.var)
        return t.detach().reshape(B, -1)[:, idx].to(torch.float64).cpu().numpy()

    def _events(
        self, proj: Projection, z: Tensor, w: Tensor, nz: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The synapses of the neurons that spiked: ``(copy, synapse, post, weight)``, in the
        kernel's order (by copy, presynaptic neuron, then synapse)."""
        b_idx, pre_idx = nz if nz is not None else torch.nonzero(z, as_tuple=True)
        seg, syn_idx = _members(proj.indptr, pre_idx)
        bb = b_idx[seg]
        post = proj.post_idx[syn_idx].to(torch.int64)
        vals = w[syn_idx] if w.dim() else w.expand(syn_idx.numel())
        return bb, syn_idx, post, vals

    def _direct(
        self,
        proj: Projection,
        co: syn.SynapseCoefficients,
        z: Tensor,
        w: Tensor,
        gain: Tensor | None,
        neurons: dict[str, Any],
        held: Tensor | None,
        states: list[Tensor],
        grad: bool,
        nz: tuple[Tensor, Tensor] | None = None,
    ) -> None:
        """Phase 5 for a projection with all delays 0: add the weights straight into the target
        state (Brian2's ``on_pre``), which is read first in the next step, after its delivery;
        jumps of v are lost where ``held`` (see :func:`_jump`)."""
        B = self.net._B
        if co.kind == syn.KIND_DELTA:
            field = proj.synapse.target  # type: ignore[attr-defined]
            st = neurons[proj.post]
            target = getattr(st, field).reshape(B, proj.n_post)
        else:
            field = ""
            target = states[1 if co.kind in (syn.KIND_ALPHA, syn.KIND_ALPHA_COND) else 0]
        jump = co.jump
        if proj.storage == "dense" or grad:
            if proj.storage == "dense":
                contrib = z @ w.t()
            else:
                pre, post = proj.pre_indices.to(z.device), proj.post_indices.to(z.device)
                wv = w.expand(pre.numel()) if w.dim() == 0 else w
                contrib = torch.zeros_like(target).index_add(1, post, z[:, pre] * wv)
            scale = gain * jump if gain is not None else (jump if jump != 1.0 else None)
            add = contrib * scale if scale is not None else contrib
            if co.kind == syn.KIND_DELTA:
                neurons[proj.post] = _jump(st, field, add, held)
                return
            new = target + add
        else:
            bb, _, post, vals = self._events(proj, z, w, nz)
            if gain is not None:
                vals = (gain.reshape(-1) * jump)[bb] * vals
            elif jump != 1.0:
                vals = jump * vals
            if co.kind == syn.KIND_DELTA and field == "v" and held is not None:
                vals = vals * ~held[bb, post]  # lost on a held v
            new = target.index_put_((bb, post), vals, accumulate=True)
        if co.kind == syn.KIND_DELTA:
            neurons[proj.post] = st._replace(**{field: new.reshape(getattr(st, field).shape)})
        elif co.kind in (syn.KIND_ALPHA, syn.KIND_ALPHA_COND):
            states[1] = new
        else:
            states[0] = new

    def _schedule(
        self,
        proj: Projection,
        z: Tensor,
        w: Tensor,
        slots: list[Tensor],
        ring: Tensor,
        s: int,
        grad: bool,
        groups: list[tuple[int, Tensor, Tensor, Tensor]] | None,
        pending: list[bool],
        nz: tuple[Tensor, Tensor] | None = None,
    ) -> None:
        """Phase 5 for one projection: add ``w * z[pre]`` at each synapse's arrival slot."""
        L = len(slots)
        base = (s + 1) % L
        sd = proj.shared_delay_steps()
        if proj.storage == "dense" and groups is None:
            slot = (base + sd) % L
            contrib = z @ w.t() if w.dim() == 2 else z.sum(-1, keepdim=True) * w
            slots[slot] = slots[slot] + contrib if grad else slots[slot].add_(contrib)
            pending[slot] = True
            return
        if grad or proj.storage == "dense":
            # all synapses, grouped by delay (differentiable in z and w)
            if groups is None:
                pre, post = proj.pre_indices.to(z.device), proj.post_indices.to(z.device)
                wv = w.expand(pre.numel()) if w.dim() == 0 else w
                groups = [(sd, pre, post, wv)]
            for d, pre, post, wv in groups:
                slot = (base + d) % L
                contrib = torch.zeros_like(slots[slot]).index_add(1, post, z[:, pre] * wv)
                slots[slot] = slots[slot] + contrib if grad else slots[slot].add_(contrib)
                pending[slot] = True
            return
        # event-driven: only the rows of neurons that spiked
        bb, syn_idx, post, vals = self._events(proj, z, w, nz)
        if vals.numel() == 0:
            return
        if sd >= 0:
            slot = (base + sd) % L
            slots[slot].index_put_((bb, post), vals, accumulate=True)
            pending[slot] = True
        else:
            sl = (base + proj.delay_steps[syn_idx].to(torch.int64)) % L
            ring.index_put_((bb, sl, post), vals, accumulate=True)
            for k in torch.unique(sl).tolist():
                pending[k] = True


def _group_synapses(proj: Projection) -> list[Tensor]:
    """For each group of :func:`_delay_groups` (same order), the indices that read its weights
    from the current weight tensor: flat ``post * n_pre + pre`` (dense) or synapse indices."""
    d = proj.delays()
    steps = torch.round(d / proj.dt).to(torch.int64)
    out = []
    for k in torch.unique(steps).tolist():
        idx = torch.nonzero(steps == k).reshape(-1)
        if proj.storage == "dense":
            idx = proj.post_indices[idx] * proj.n_pre + proj.pre_indices[idx]
        out.append(idx.to(proj.delay_steps.device))
    return out


def _gather(proj: Projection, w: Tensor, idx: Tensor) -> Tensor:
    return w.reshape(-1)[idx.to(w.device)]


def _delay_groups(proj: Projection, w: Tensor) -> list[tuple[int, Tensor, Tensor, Tensor]]:
    """Synapses grouped by delay: ``(steps, pre, post, weight)`` per distinct delay."""
    pre, post = proj.pre_indices, proj.post_indices
    d = proj.delays()
    steps = torch.round(d / proj.dt).to(torch.int64)
    wv = proj.weights() if w.dim() else w.expand(pre.numel())
    out = []
    for k in torch.unique(steps).tolist():
        sel = (steps == k).to(pre.device)
        out.append((int(k), pre[sel].to(w.device), post[sel].to(w.device), wv[sel.to(wv.device)]))
    return out
