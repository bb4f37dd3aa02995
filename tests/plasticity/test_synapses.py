"""Rules at sparse synapses (``synapses=Synapses(post, pre)``): the change at each synapse equals
the dense rule's change at that (post, pre) entry, and a circuit with a sparse plastic projection
learns the same weights as with dense storage, with work that grows with the synapses."""

from __future__ import annotations

import pytest
import torch

import spikeforge as sf
from spikeforge.errors import ParameterError, ShapeError
from spikeforge.plasticity import (
    STDP,
    EligibilityTrace,
    RewardModulatedSTDP,
    Synapses,
    SynapticScaling,
    TripletSTDP,
)

F64 = torch.float64


def _connectivity(gen: torch.Generator, n_post: int, n_pre: int, p: float = 0.4) -> Synapses:
    post, pre = torch.nonzero(torch.rand(n_post, n_pre, generator=gen) < p, as_tuple=True)
    return Synapses(post, pre)


def _modulators(batch: tuple[int, ...], n_post: int, gen: torch.Generator) -> list[object]:
    return [
        None,
        0.7,
        torch.rand(batch, generator=gen, dtype=F64),  # per sample
        torch.rand(batch + (n_post,), generator=gen, dtype=F64),  # per sample and neuron
        torch.rand(n_post, generator=gen, dtype=F64),  # per neuron
    ]


RULES = [
    lambda: STDP(weight_dependence="additive", batch_reduce="mean"),
    lambda: STDP(weight_dependence="multiplicative", pairing="nearest", same_step="both", batch_reduce="sum"),
    lambda: STDP(weight_dependence="soft", mu_plus=0.3, mu_minus=0.8, same_step="potentiate"),
    lambda: TripletSTDP(batch_reduce="mean"),
    lambda: TripletSTDP.from_preset("hippocampal_nearest", batch_reduce="sum"),
]


@pytest.mark.parametrize("make", RULES)
def test_changes_at_synapses_equal_the_dense_changes(make, gen):
    n_pre, n_post, batch, steps = 7, 5, (3,), 40
    rule = make()
    syn = _connectivity(gen, n_post, n_pre)
    w_dense = torch.rand(n_post, n_pre, generator=gen, dtype=F64)
    w_syn = w_dense[syn.post, syn.pre].clone()
    pre = (torch.rand((steps,) + batch + (n_pre,), generator=gen) < 0.3).to(F64)
    post = (torch.rand((steps,) + batch + (n_post,), generator=gen) < 0.3).to(F64)
    for modulator in _modulators(batch, n_post, gen):
        s_dense = s_syn = None
        for t in range(steps):
            dw_dense, s_dense = rule.step(pre[t], post[t], w_dense, s_dense, modulator=modulator)
            dw_syn, s_syn = rule.step(pre[t], post[t], w_syn, s_syn, modulator=modulator, synapses=syn)
            assert dw_syn.shape == (syn.post.numel(),)
            torch.testing.assert_close(dw_syn, dw_dense[syn.post, syn.pre], rtol=0, atol=1e-15)
            w_dense = rule.apply_update(w_dense, dw_dense)
            w_syn = rule.apply_update(w_syn, dw_syn)
        for a, b in zip(s_dense, s_syn):
            assert torch.equal(a, b)
        torch.testing.assert_close(w_syn, w_dense[syn.post, syn.pre], rtol=0, atol=1e-14)


@pytest.mark.parametrize("batch_reduce", ["sum", "none"])
def test_reward_modulated_tags_at_synapses_equal_the_dense_tags(batch_reduce, gen):
    """R-STDP with tags per synapse: the tags, the changes and the weights equal the dense rule's
    at the synapses, with dopamine released now and then (one level per sample with "none")."""
    n_pre, n_post, batch, steps = 7, 5, (3,), 60
    rule = RewardModulatedSTDP(lr=0.0005, d_baseline=0.1, tau_c=50.0, batch_reduce=batch_reduce).double()
    syn = _connectivity(gen, n_post, n_pre)
    w_dense = torch.rand(n_post, n_pre, generator=gen, dtype=F64) * 4
    if batch_reduce == "none":
        w_dense = w_dense.expand(batch + (n_post, n_pre)).clone()
    w_syn = w_dense[..., syn.post, syn.pre].clone()
    w0 = w_syn.clone()
    pre = (torch.rand((steps,) + batch + (n_pre,), generator=gen) < 0.1).to(F64)
    post = (torch.rand((steps,) + batch + (n_post,), generator=gen) < 0.1).to(F64)
    s_dense = s_syn = None
    for t in range(steps):
        release = (
            None
            if t % 7
            else (torch.rand(batch, generator=gen, dtype=F64) if batch_reduce == "none" else 0.5)
        )
        dw_dense, s_dense = rule.step(pre[t], post[t], w_dense, s_dense, modulator=release)
        dw_syn, s_syn = rule.step(pre[t], post[t], w_syn, s_syn, modulator=release, synapses=syn)
        torch.testing.assert_close(dw_syn, dw_dense[..., syn.post, syn.pre], rtol=0, atol=1e-15)
        w_dense, w_syn = rule.apply_update(w_dense, dw_dense), rule.apply_update(w_syn, dw_syn)
    torch.testing.assert_close(s_syn.c, s_dense.c[..., syn.post, syn.pre], rtol=0, atol=1e-15)
    assert torch.equal(s_syn.d, s_dense.d) and float(s_syn.d.abs().sum()) > 0
    torch.testing.assert_close(w_syn, w_dense[..., syn.post, syn.pre], rtol=0, atol=1e-14)
    assert not torch.equal(w_syn, w0) and bool(((w_syn > 0) & (w_syn < 4)).any())  # learned, in bounds


@pytest.mark.parametrize(
    "make",
    [
        lambda: EligibilityTrace(STDP(batch_reduce="none"), tau_e=80.0, lr=0.1, batch_reduce="sum"),
        lambda: EligibilityTrace(TripletSTDP(batch_reduce="sum"), tau_e=80.0, lr=0.1),
    ],
)
def test_eligibility_at_synapses_equals_the_dense_eligibility(make, gen):
    """Eligibility per synapse: the eligibility, the changes and the weights equal the dense
    rule's at the synapses, for global, per-sample (one eligibility per sample) and per-neuron
    modulators."""
    n_pre, n_post, batch, steps = 7, 5, (3,), 50
    syn = _connectivity(gen, n_post, n_pre)
    pre = (torch.rand((steps,) + batch + (n_pre,), generator=gen) < 0.2).to(F64)
    post = (torch.rand((steps,) + batch + (n_post,), generator=gen) < 0.2).to(F64)
    per_sample = make().rule.batch_reduce == "none"
    modulators = [0.7, torch.rand(n_post, generator=gen, dtype=F64)]
    if per_sample:
        modulators.append(torch.rand(batch, generator=gen, dtype=F64))
    for modulator in modulators:
        rule = make().double()
        w_dense = torch.rand(n_post, n_pre, generator=gen, dtype=F64)
        w_syn = w_dense[syn.post, syn.pre].clone()
        s_dense = s_syn = None
        for t in range(steps):
            m = modulator if t % 5 == 4 else None
            dw_dense, s_dense = rule.step(pre[t], post[t], w_dense, s_dense, modulator=m)
            dw_syn, s_syn = rule.step(pre[t], post[t], w_syn, s_syn, modulator=m, synapses=syn)
            torch.testing.assert_close(dw_syn, dw_dense[..., syn.post, syn.pre], rtol=0, atol=1e-15)
            w_dense, w_syn = rule.apply_update(w_dense, dw_dense), rule.apply_update(w_syn, dw_syn)
        torch.testing.assert_close(s_syn.e, s_dense.e[..., syn.post, syn.pre], rtol=0, atol=1e-15)
        torch.testing.assert_close(w_syn, w_dense[syn.post, syn.pre], rtol=0, atol=1e-14)
        assert float(s_syn.e.abs().sum()) > 0


def test_per_sample_changes_at_synapses(gen):
    """``batch_reduce="none"``: one change per batch element and synapse."""
    rule = STDP(batch_reduce="none")
    syn = _connectivity(gen, 4, 6)
    w = torch.rand(4, 6, generator=gen, dtype=F64)
    pre = (torch.rand(2, 6, generator=gen) < 0.5).to(F64)
    post = (torch.rand(2, 4, generator=gen) < 0.5).to(F64)
    state = rule.init_state((2,), 6, 4, dtype=F64)
    state = state._replace(x_pre=torch.rand(2, 6, generator=gen, dtype=F64))
    dw, _ = rule.step(pre, post, w.expand(2, 4, 6), state)
    dw_syn, _ = rule.step(pre, post, w[syn.post, syn.pre].expand(2, -1), state, synapses=syn)
    assert dw_syn.shape == (2, syn.post.numel())
    torch.testing.assert_close(dw_syn, dw[:, syn.post, syn.pre], rtol=0, atol=1e-15)


def test_bad_synapses_are_refused(gen):
    rule = STDP()
    syn = _connectivity(gen, 3, 4)
    pre, post = torch.zeros(4), torch.zeros(3)
    with pytest.raises(ShapeError, match="one entry per synapse"):
        rule.step(pre, post, torch.zeros(syn.post.numel() + 1), synapses=syn)
    with pytest.raises(ShapeError, match="integer"):
        rule.step(pre, post, torch.zeros(2), synapses=Synapses(torch.zeros(2), torch.zeros(2)))
    with pytest.raises(ParameterError, match="synapses= needs a wrapped rule that takes them"):
        EligibilityTrace(SynapticScaling(target_rate=0.01)).step(
            pre, post, torch.zeros(syn.post.numel()), synapses=syn
        )
    with pytest.raises(ParameterError, match="synapses must be a Synapses"):
        rule.step(pre, post, torch.zeros(syn.post.numel()), synapses=(syn.post, syn.pre, 0))  # type: ignore[arg-type]


def _network(storage: str, rule, modulator=None) -> tuple[sf.circuits.Network, sf.circuits.Projection]:
    net = sf.circuits.Network(dt=0.5, seed=4, dtype=F64)
    net.add_poisson("in", 60, rate=25 * sf.units.Hz, sign="excitatory")
    net.add_population("out", sf.neurons.LIF(20, tau_mem=10.0, v_th=1.0, dt=0.5))
    proj = net.connect(
        "in",
        "out",
        weight=sf.circuits.Uniform(0.0, 0.3),
        p=0.3,
        storage=storage,
        plasticity=rule,
        modulator=modulator,
    )
    return net, proj


@pytest.mark.parametrize(
    ("make", "modulator"),
    [
        (lambda: STDP(a_plus=0.02, a_minus=0.021, w_max=0.3, dt=0.5), None),
        (lambda: TripletSTDP(dt=0.5), None),
        (lambda: RewardModulatedSTDP(lr=0.01, d_baseline=0.5, w_max=0.3, dt=0.5), None),
        (lambda: EligibilityTrace(STDP(a_plus=0.02, a_minus=0.021, w_max=0.3, dt=0.5), tau_e=50.0), 0.5),
    ],
)
def test_sparse_plastic_projection_learns_what_dense_storage_learns(make, modulator):
    """Sparse storage (the rule at the synapses: event-driven for STDP and triplet, tags and
    eligibility per synapse for the others) learns the weights dense storage learns."""
    (dense_net, dense), (sparse_net, sparse) = (
        _network("dense", make(), modulator),
        _network("sparse", make(), modulator),
    )
    assert sparse.storage == "sparse" and dense.storage == "dense"
    torch.testing.assert_close(sparse.to_dense(), dense.to_dense(), rtol=0, atol=0)  # same synapses
    w0 = dense.to_dense().clone()
    dense_net.run(300.0, progress=False)
    sparse_net.run(300.0, progress=False)
    assert not torch.equal(dense.to_dense(), w0)
    torch.testing.assert_close(sparse.to_dense(), dense.to_dense(), rtol=0, atol=1e-12)
    state = sparse_net.plasticity_state(sparse)  # tags / eligibility kept per synapse
    for field in {"c", "e"} & set(state._fields):
        assert getattr(state, field).shape[-1] == sparse.n_synapses


def _recurrent(rule, w_max: float = 0.3, storage: str = "sparse", high: float = 0.3):
    net = sf.circuits.Network(dt=0.5, seed=9, dtype=F64)
    net.add_population("x", sf.neurons.LIF(80, tau_mem=10.0, v_th=1.0, dt=0.5))
    net.add_poisson_input("ext", "x", n=50, rate=0.02, weight=0.12)
    proj = net.connect(
        "x", "x", p=0.2, weight=sf.circuits.Uniform(0.0, high), storage=storage, plasticity=rule
    )
    return net, proj


@pytest.mark.parametrize(
    "make",
    [lambda: STDP(a_plus=0.02, a_minus=0.021, w_max=0.3, dt=0.5), lambda: TripletSTDP(w_max=0.3, dt=0.5)],
)
def test_event_driven_updates_equal_updates_of_every_synapse(make, monkeypatch):
    """An event-driven rule changes only the synapses of neurons that spiked: the circuit passes
    it just those (after a first step with all of them, which puts weights set out of bounds
    where the rule wants them), and learns bitwise what it learns passing every synapse, over a
    run split in two."""
    (a, pa), (b, pb) = _recurrent(make(), high=0.5), _recurrent(make(), high=0.5)  # some start above w_max
    assert float(pa.weight.max()) > 0.3
    a.run(100.0, progress=False)
    a.run(150.0, progress=False)
    monkeypatch.setattr(type(pb.plasticity), "event_driven", False)
    b.run(250.0, progress=False)
    assert torch.equal(pa.weight, pb.weight)
    assert float(pa.weight.max()) <= 0.3
    rec = a.record_spikes("x")
    a.run(50.0, progress=False)
    assert rec.t.size > 20  # the network is active: the rule had events to learn from
