"""Plasticity attached to circuit projections: ``connect(..., plasticity=rule)`` learns during run."""

from __future__ import annotations

import math

import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import Network, Uniform
from spikeforge.errors import ParameterError

F64 = torch.float64


def paired(dt: float = 0.5, *, a_plus: float = 0.01, a_minus: float = 0.0105, w0: float = 0.5) -> tuple:
    """Pre spikes from a source at hand-set times; the post neuron fires one step after a driver."""
    net = Network(dt=dt, seed=0, dtype=F64)
    net.add_spike_source("pre", 2, times=[10.0, 40.0, 70.0], indices=[0, 1, 0])
    net.add_spike_source("drive", 1, times=[19.5, 30.0, 60.0], indices=[0, 0, 0])
    net.add_population("post", sf.neurons.LIF(1, tau_mem=10.0, v_th=1.0, dt=dt))
    net.connect("drive", "post", weight=5.0)
    rule = sf.plasticity.STDP(a_plus=a_plus, a_minus=a_minus, dt=dt)
    proj = net.connect("pre", "post", weight=w0 * 1e-3, plasticity=rule)
    return net, proj, rule


def test_stdp_equals_direct_rule_and_closed_form() -> None:
    net, proj, rule = paired()
    mpre, mpost = net.record_spikes("pre"), net.record_spikes("post")
    w0 = proj.weight.clone()
    net.run(100.0)
    assert net.last_run_info["path"] == "compiled"  # the kernel learns (test_kernel_plasticity.py)
    assert mpost.t.tolist() == [20.0, 30.5, 60.5]
    # the same spike trains through the rule by hand
    n = 200
    pre, post = torch.zeros(n, 1, 2, dtype=F64), torch.zeros(n, 1, 1, dtype=F64)
    pre[(torch.as_tensor(mpre.t) / 0.5).round().long(), 0, torch.as_tensor(mpre.i)] = 1.0
    post[(torch.as_tensor(mpost.t) / 0.5).round().long(), 0, 0] = 1.0
    w, state = w0.clone(), rule.init_state((1,), 2, 1, dtype=F64)
    for k in range(n):
        dw, state = rule.step(pre[k], post[k], w, state)
        w = rule.apply_update(w, dw)
    torch.testing.assert_close(proj.weight, w, rtol=0, atol=1e-15)
    # closed-form window for neuron 0: pre 10 / 70, post 20, 30.5, 60.5
    tp = [10.0, 70.0]
    tq = [20.0, 30.5, 60.5]
    ref = 5e-4
    for a in tp:
        for b in tq:
            d = b - a
            ref += 0.01 * math.exp(-d / 20.0) if d > 0 else -0.0105 * math.exp(d / 20.0)
    assert abs(float(proj.weight[0, 0]) - ref) < 1e-12
    torch.testing.assert_close(net.plasticity_state(proj).x_pre, state.x_pre)


def poisson_net(
    seed: int = 1, *, batch: int | None = None, storage: str | None = None, p: float | None = None
):
    net = Network(dt=0.5, seed=seed, batch=batch, dtype=F64)
    net.add_poisson("in", 40, rate=30 * sf.units.Hz, sign="excitatory")
    net.add_population("out", sf.neurons.LIF(5, tau_mem=10.0, v_th=1.0, dt=0.5))
    rule = sf.plasticity.STDP(a_plus=0.02, a_minus=0.021, w_min=0.0, w_max=0.3, dt=0.5)
    proj = net.connect("in", "out", weight=Uniform(0.0, 0.3), p=p, storage=storage, plasticity=rule)
    return net, proj


@pytest.mark.parametrize("storage", ["dense", "sparse"])
def test_bounds_and_mask(storage: str) -> None:
    net, proj = poisson_net(storage=storage, p=0.5)
    w0 = proj.to_dense().clone()
    net.run(300.0)
    w = proj.to_dense()
    assert not torch.equal(w, w0)
    assert float(w.min()) >= 0.0 and float(w.max()) <= 0.3 + 1e-12
    assert bool((w[w0 == 0] == 0).all())  # no weight where there is no synapse


def test_split_run_equals_one_run_batched() -> None:
    a, pa = poisson_net(batch=2)
    b, pb = poisson_net(batch=2)
    a.run(200.0)
    b.run(70.0)
    b.run(130.0)
    assert torch.equal(pa.weight, pb.weight)
    assert not torch.equal(pa.weight, poisson_net(batch=2)[1].weight)
    for x, y in zip(a.plasticity_state(pa), b.plasticity_state(pb)):
        assert torch.equal(x, y)


def test_state_dict_round_trip_keeps_learned_weights() -> None:
    a, pa = poisson_net()
    a.run(100.0)
    sd = a.state_dict()
    b, pb = poisson_net()
    b.load_state_dict(sd)
    assert torch.equal(pb.weight, pa.weight)
    a.run(100.0)
    b.run(100.0)
    assert torch.equal(pb.weight, pa.weight)
    for x, y in zip(a.plasticity_state(pa), b.plasticity_state(pb)):
        assert torch.equal(x, y)


def test_rule_the_kernel_does_not_cover_refuses_compiled() -> None:
    net = Network(dt=0.5, seed=0, compiled=True)
    net.add_poisson("in", 3, rate=0.01)
    net.add_population("out", sf.neurons.LIF(1, dt=0.5))
    rule = sf.plasticity.ThreeFactor(post_fn=torch.tanh, dt=0.5)
    net.connect("in", "out", weight=0.1, plasticity=rule, modulator=1.0)
    with pytest.raises(ParameterError, match="post_fn"):
        net.run(1.0)


def test_reward_modulated_stdp_needs_reward() -> None:
    def build(mod):
        net2 = Network(dt=0.5, seed=0, dtype=F64)
        net2.add_spike_source("pre", 2, times=[10.0, 40.0, 70.0], indices=[0, 1, 0])
        net2.add_spike_source("drive", 1, times=[19.5, 30.0, 60.0], indices=[0, 0, 0])
        net2.add_population("post", sf.neurons.LIF(1, tau_mem=10.0, v_th=1.0, dt=0.5))
        net2.connect("drive", "post", weight=5.0)
        rule = sf.plasticity.RewardModulatedSTDP(lr=1e-2, dt=0.5)
        p2 = net2.connect("pre", "post", weight=torch.tensor([[1.0, 1.0]]), plasticity=rule, modulator=mod)
        return net2, p2

    net, proj = build(0.0)
    net.run(150.0)
    assert torch.equal(proj.weight, torch.ones(1, 2, dtype=F64))
    assert float(net.plasticity_state(proj).c.abs().sum()) > 0  # tags were set
    net, proj = build(lambda t: 0.5 if 80.0 <= t < 81.0 else 0.0)
    net.run(150.0)
    assert float(proj.weight[0, 0]) != 1.0  # a reward turns the tags into weight changes
    net, proj = build(None)
    net.run(75.0)
    net.set_modulator(proj, 0.5)
    net.run(1.0)
    net.set_modulator(proj, 0.0)
    net.run(74.0)
    assert float(proj.weight[0, 0]) != 1.0


def test_connect_errors() -> None:
    net = Network(dt=0.5, seed=0)
    net.add_poisson("in", 3, rate=0.01)
    net.add_population("out", sf.neurons.LIF(1, dt=0.5))
    with pytest.raises(ParameterError, match="dt"):
        net.connect("in", "out", weight=0.1, plasticity=sf.plasticity.STDP(dt=1.0))
    with pytest.raises(ParameterError, match="learnable"):
        net.connect("in", "out", weight=0.1, learnable=True, plasticity=sf.plasticity.STDP(dt=0.5))
    with pytest.raises(ParameterError, match="modulator"):
        net.connect("in", "out", weight=0.1, modulator=1.0)
    with pytest.raises(ParameterError, match="batch_reduce"):
        net.connect("in", "out", weight=0.1, plasticity=sf.plasticity.STDP(dt=0.5, batch_reduce="none"))
    with pytest.raises(ParameterError, match="plasticity rule"):
        net.connect("in", "out", weight=0.1, plasticity=object())
    p = net.connect("in", "out", weight=0.1)
    with pytest.raises(ParameterError, match="not plastic"):
        net.set_modulator(p, 1.0)
