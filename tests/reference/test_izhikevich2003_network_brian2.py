"""The Izhikevich (2003) network on the compiled kernel against Brian2 (numpy target, float64): the
same neurons, the same all-to-all weights and the same random thalamic input give the same spikes
over the first 100 ms.

Brian2 runs the published loop as abstract code (the model has no differential equations): in step
k the current is the thalamic input of step k plus the weights of the spikes of step k - 1 (summed
per source population, as the network's two projections onto each population are), v takes two
0.5 ms half-steps and u one step with the new v; then the threshold ``v >= 30`` and the reset
``v = c; u += d``. Every expression is written in spikeforge's order of operations, so the
arithmetic is the same.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeforge.circuits import builders

pytestmark = [
    pytest.mark.reference,
    pytest.mark.slow,  # importing brian2 and building the network: ~10 s on a loaded machine
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

N_EXC, N_INH, STEPS = 400, 100, 100  # half the published size keeps the test to seconds


def _network() -> tuple[object, np.ndarray]:
    rng = np.random.default_rng(3)
    n = N_EXC + N_INH
    thal = np.concatenate(
        [5 * rng.standard_normal((STEPS, N_EXC)), 2 * rng.standard_normal((STEPS, N_INH))], 1
    )
    net = builders.izhikevich2003(N_EXC, N_INH, seed=4, thalamic=thal, dtype=torch.float64)
    net.compiled = True
    assert n == thal.shape[1]
    return net, thal


def test_izhikevich2003_network_spikes_match_brian2() -> None:
    b2 = pytest.importorskip("brian2")
    net, thal = _network()
    mons = {pop: net.record_spikes(pop) for pop in ("exc", "inh")}
    net.run(float(STEPS), progress=False)
    assert net.last_run_info["path"] == "compiled"
    ours = set(zip(mons["exc"].t.round().astype(int).tolist(), mons["exc"].i.tolist()))
    ours |= {(int(round(t)), N_EXC + int(i)) for t, i in zip(mons["inh"].t, mons["inh"].i)}

    saved = b2.prefs.codegen.target, b2.prefs.core.default_float_dtype
    saved_opt = b2.prefs.codegen.loop_invariant_optimisations
    b2.prefs.codegen.target = "numpy"
    b2.prefs.core.default_float_dtype = np.float64
    b2.prefs.codegen.loop_invariant_optimisations = False  # keep the expressions as written
    try:
        b2.start_scope()
        b2.defaultclock.dt = 1.0 * b2.ms
        n = N_EXC + N_INH
        table = b2.TimedArray(thal, dt=1.0 * b2.ms)
        group = b2.NeuronGroup(
            n,
            """
            v : 1
            u : 1
            a : 1 (constant)
            b : 1 (constant)
            c : 1 (constant)
            d : 1 (constant)
            i_exc : 1
            i_inh : 1
            """,
            threshold="v >= 30",
            reset="v = c; u = u + d",
            namespace={"table": table},
        )
        group.run_regularly(
            """
            x = table(t, i) + i_exc + i_inh
            v = v + 0.5 * (0.04 * (v * v) + 5 * v + 140 - u + x)
            v = v + 0.5 * (0.04 * (v * v) + 5 * v + 140 - u + x)
            u = u + 1.0 * (a * (b * v - u))
            i_exc = 0
            i_inh = 0
            """,
            when="groups",
        )
        params = [
            torch.cat([net.neurons["exc"].params()[k], net.neurons["inh"].params()[k]]) for k in range(4)
        ]
        group.a, group.b, group.c, group.d = (p.double().numpy() for p in params)
        group.v = -65.0
        group.u = params[1].double().numpy() * -65.0
        syns = []
        for pre, field, off in (("exc", "i_exc", 0), ("inh", "i_inh", N_EXC)):
            s = b2.Synapses(group, group, "w : 1", on_pre=f"{field}_post += w")
            blocks = [
                (net.projections[f"{pre}->{post}"].to_dense().double().numpy(), poff)
                for post, poff in (("exc", 0), ("inh", N_EXC))
            ]
            ii, jj, ww = [], [], []
            for dense, poff in blocks:  # synapses ordered by source neuron, then target
                post_idx, pre_idx = np.nonzero(dense)
                ii.append(pre_idx + off)
                jj.append(post_idx + poff)
                ww.append(dense[post_idx, pre_idx])
            ii_, jj_, ww_ = (np.concatenate(x) for x in (ii, jj, ww))
            order = np.lexsort((jj_, ii_))
            s.connect(i=ii_[order], j=jj_[order])
            s.w = ww_[order]
            syns.append(s)
        spikes = b2.SpikeMonitor(group)
        b2.Network(group, *syns, spikes).run(STEPS * b2.ms)
        theirs = set(
            zip(np.round(np.asarray(spikes.t / b2.ms)).astype(int).tolist(), np.asarray(spikes.i).tolist())
        )
    finally:
        b2.prefs.codegen.target, b2.prefs.core.default_float_dtype = saved
        b2.prefs.codegen.loop_invariant_optimisations = saved_opt
    assert len(ours) > 250  # the network is active (the first volley and its echoes)
    assert ours == theirs, f"{len(ours ^ theirs)} spikes differ, first: {sorted(ours ^ theirs)[:5]}"
