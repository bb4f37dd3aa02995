"""Connection rules, weights, delays, Dale's law and the storage of projections."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import (
    DistanceDependent,
    Explicit,
    ExpSynapse,
    FixedInDegree,
    FixedOutDegree,
    Network,
    Normal,
    OneToOne,
    Uniform,
)
from spikeforge.errors import ParameterError


def lif(n: int | tuple[int, ...]) -> sf.neurons.LIF:
    return sf.neurons.LIF(n, tau_mem=10.0, v_th=1.0, dt=0.1)


def two_pops(n_pre: int = 300, n_post: int = 200, seed: int = 0, **kw) -> Network:
    net = Network(dt=0.1, seed=seed, **kw)
    net.add_population("a", lif(n_pre))
    net.add_population("b", lif(n_post))
    return net


@pytest.mark.parametrize("p", [0.0, 0.003, 0.05, 0.5, 1.0])
def test_bernoulli_count_within_binomial_bounds(p):
    net = two_pops()
    proj = net.connect("a", "b", p=p, weight=1.0)
    total = 300 * 200
    mean, sd = total * p, math.sqrt(total * p * (1 - p))
    assert abs(proj.n_synapses - mean) <= 5 * sd + 1e-9
    pairs = set(zip(proj.pre_indices.tolist(), proj.post_indices.tolist()))
    assert len(pairs) == proj.n_synapses  # no multapses


def test_bernoulli_is_uniform_over_pairs():
    net = two_pops(400, 400)
    proj = net.connect("a", "b", p=0.05, weight=1.0)
    per_pre = torch.bincount(proj.pre_indices, minlength=400).double()
    per_post = torch.bincount(proj.post_indices, minlength=400).double()
    # each count is Binomial(400, 0.05): mean 20, sd 4.36; the means over 400 neurons are tight
    assert abs(per_pre.mean().item() - 20) < 1.0 and abs(per_post.mean().item() - 20) < 1.0
    assert 3.0 < per_pre.std().item() < 6.0 and 3.0 < per_post.std().item() < 6.0


def test_recurrent_autapses_excluded_on_request():
    net = Network(dt=0.1, seed=0)
    net.add_population("a", lif(100))
    with_self = net.connect("a", "a", p=1.0, weight=1.0)
    without = net.connect("a", "a", p=1.0, weight=1.0, autapses=False)
    assert with_self.n_synapses == 100 * 100
    assert without.n_synapses == 100 * 99
    assert not bool((without.pre_indices == without.post_indices).any())
    fixed = net.connect("a", "a", in_degree=99, weight=1.0, autapses=False)
    assert not bool((fixed.pre_indices == fixed.post_indices).any())


@pytest.mark.parametrize("k", [1, 7, 150, 299])
def test_fixed_in_degree_exact_and_distinct(k):
    net = two_pops()
    proj = net.connect("a", "b", in_degree=k, weight=1.0)
    assert torch.equal(torch.bincount(proj.post_indices, minlength=200), torch.full((200,), k))
    pairs = set(zip(proj.pre_indices.tolist(), proj.post_indices.tolist()))
    assert len(pairs) == 200 * k


@pytest.mark.parametrize("k", [1, 13, 199])
def test_fixed_out_degree_exact_and_distinct(k):
    net = two_pops()
    proj = net.connect("a", "b", out_degree=k, weight=1.0)
    assert torch.equal(torch.bincount(proj.pre_indices, minlength=300), torch.full((300,), k))
    assert len(set(zip(proj.pre_indices.tolist(), proj.post_indices.tolist()))) == 300 * k


def test_fixed_degree_multapses_and_too_large():
    net = two_pops(10, 10)
    proj = net.connect("a", "b", rule=FixedInDegree(30, multapses=True), weight=1.0)
    assert proj.n_synapses == 300
    with pytest.raises(ParameterError, match="distinct"):
        net.connect("a", "b", rule=FixedOutDegree(11), weight=1.0)


def test_one_to_one_and_explicit():
    net = two_pops(50, 50)
    proj = net.connect("a", "b", rule=OneToOne(), weight=2.0)
    assert torch.equal(proj.to_dense(), 2.0 * torch.eye(50))
    pre, post = [3, 0, 3, 7], [1, 2, 1, 0]  # a multapse 3 -> 1
    w = torch.tensor([1.0, 2.0, 3.0, 4.0])
    e = net.connect("a", "b", rule=Explicit(pre, post), weight=w)
    dense = e.to_dense()
    assert dense[1, 3] == 4.0 and dense[2, 0] == 2.0 and dense[0, 7] == 4.0
    assert dense.abs().sum() == 10.0


def test_distance_dependent_falls_off_with_distance():
    net = Network(dt=0.1, seed=0)
    net.add_population("g", lif((30, 30)))  # a 2-D module: grid positions
    proj = net.connect("g", "g", rule=DistanceDependent(p_max=0.8, sigma=2.0), weight=1.0, autapses=False)
    pos = (
        torch.stack(torch.meshgrid(torch.arange(30), torch.arange(30), indexing="ij"), -1)
        .reshape(-1, 2)
        .double()
    )
    d = (pos[proj.pre_indices] - pos[proj.post_indices]).norm(dim=1)
    all_d = torch.cdist(pos, pos)
    for lo, hi in [(0.5, 1.5), (1.5, 2.5), (2.5, 3.5), (3.5, 5.0)]:
        pairs = ((all_d >= lo) & (all_d < hi)).sum().item()
        hits = ((d >= lo) & (d < hi)).sum().item()
        expected = 0.8 * torch.exp(-(all_d[(all_d >= lo) & (all_d < hi)] ** 2) / 8.0).mean().item()
        assert abs(hits / pairs - expected) < 0.05, (lo, hi, hits / pairs, expected)
    assert d.max() < 12.0  # p(12) = 0.8 exp(-18) ~ 1e-8


def test_distance_dependent_periodic_and_positions():
    net = Network(dt=0.1, seed=0)
    pos = torch.tensor([[0.0, 0.0], [9.5, 0.0]])
    net.add_population("a", lif(2), positions=pos)
    open_ = net.connect("a", "a", rule=DistanceDependent(1.0, 0.1), weight=1.0, autapses=False)
    torus = net.connect(
        "a", "a", rule=DistanceDependent(1.0, 1.0, extent=(10.0, 10.0)), weight=1.0, autapses=False
    )
    assert open_.n_synapses == 0  # distance 9.5, p ~ 0
    assert torus.n_synapses >= 1  # wrapped distance 0.5, p = 0.88 per pair


def test_weight_forms_and_order():
    net = two_pops(20, 10)
    wmat = torch.arange(200, dtype=torch.float32).reshape(10, 20)
    proj = net.connect("a", "b", p=0.5, weight=wmat)
    assert torch.equal(proj.weights(), wmat[proj.post_indices, proj.pre_indices])
    drawn = net.connect("a", "b", p=0.5, weight=Normal(1.0, 0.1))
    assert drawn.weight.shape == (drawn.n_synapses,)
    assert abs(drawn.weight.double().mean().item() - 1.0) < 0.05
    shared = net.connect("a", "b", p=0.5, weight=0.25)
    assert shared.weight.dim() == 0 and torch.allclose(
        shared.to_dense()[shared.post_indices, shared.pre_indices], torch.tensor(0.25)
    )


def test_connectivity_is_deterministic_under_seed():
    def build(seed):
        net = two_pops(seed=seed)
        return net.connect("a", "b", p=0.1, weight=Uniform(0.0, 1.0), delay=Uniform(0.0, 2.0))

    a, b, c = build(3), build(3), build(4)
    assert torch.equal(a.pre_indices, b.pre_indices) and torch.equal(a.weight, b.weight)
    assert torch.equal(a.delays(), b.delays())
    assert not torch.equal(a.pre_indices[: c.n_synapses], c.pre_indices[: a.n_synapses])


def test_delays_to_steps_and_rounding_of_distributions():
    net = two_pops(20, 10)
    proj = net.connect("a", "b", p=0.5, weight=1.0, delay=Uniform(0.0, 5.0))
    steps = proj.delay_steps
    assert steps.dtype == torch.int16
    assert torch.allclose(proj.delays(), steps.double() * 0.1)
    given = net.connect("a", "b", p=0.5, weight=1.0, delay=0.3)  # 0.3 / 0.1 = 2.9999999999999996
    assert given.shared_delay_steps() == 3


def test_dale_signs_enforced():
    net = Network(dt=0.1, seed=0)
    net.add_population("e", lif(20), sign="excitatory")
    net.add_population("i", lif(20), sign="inhibitory")
    with pytest.raises(ParameterError, match="Dale"):
        net.connect("e", "i", weight=-0.1)
    with pytest.raises(ParameterError, match="Dale"):
        net.connect("i", "e", weight=Uniform(-1.0, 0.5))
    with pytest.raises(ParameterError, match="sign"):
        net.add_population("x", lif(2), sign="positive")
    ok = net.connect("i", "e", weight=Uniform(-1.0, -0.5))
    assert bool((ok.weight <= 0).all())


def test_dale_sign_survives_learning_and_updates():
    net = Network(dt=0.1, seed=0)
    net.add_population("i", lif(10), sign="inhibitory")
    net.add_population("e", lif(10), sign="excitatory")
    learn = net.connect("i", "e", weight=Uniform(-1.0, -0.1), learnable=True)
    opt = torch.optim.SGD(learn.parameters(), lr=10.0)
    for _ in range(5):
        opt.zero_grad()
        (-learn.weight.sum()).backward()  # pushes every weight up, towards positive
        opt.step()
    assert bool((learn.weight < 0).all())
    plastic = net.connect("e", "i", weight=Uniform(0.1, 1.0), storage="sparse")
    plastic.apply_weight_update(torch.full_like(plastic.weight, -5.0))
    assert bool((plastic.weight == 0).all())
    shared = net.connect("e", "i", weight=0.5, storage="sparse")
    with pytest.raises(ParameterError, match="shared weight"):
        shared.apply_weight_update(torch.zeros(()))


def test_sparse_bytes_per_synapse():
    net = Network(dt=0.1, seed=0, dtype=torch.float32)
    net.add_population("a", lif(2000))
    hetero = net.connect("a", "a", in_degree=100, weight=Uniform(0.0, 1.0), delay=Uniform(0.0, 20.0))
    assert hetero.storage == "sparse"
    assert hetero.bytes_per_synapse <= 12.0
    assert hetero.post_idx.dtype == torch.int32 and hetero.weight.dtype == torch.float32
    shared = net.connect("a", "a", in_degree=100, weight=0.1, delay=1.0)
    assert shared.bytes_per_synapse <= 4.2  # int32 target + the row pointer


def test_dense_and_sparse_storage_agree():
    net = two_pops(30, 20)
    w = torch.randn(20, 30, generator=torch.Generator().manual_seed(0))
    dense = net.connect("a", "b", weight=w, storage="dense")
    sparse = net.connect("a", "b", weight=w, storage="sparse")
    assert dense.storage == "dense" and sparse.storage == "sparse"
    assert torch.equal(dense.to_dense(), sparse.to_dense())
    assert torch.equal(dense.pre_indices, sparse.pre_indices) and torch.equal(
        dense.weights(), sparse.weights()
    )
    masked = net.connect("a", "b", p=0.3, weight=1.0, storage="dense")
    assert masked.mask is not None and int(masked.mask.sum()) == masked.n_synapses


def test_large_sparse_projection_builds_quickly():
    net = Network(dt=0.1, seed=0, dtype=torch.float32)
    net.add_population("a", lif(100_000))
    proj = net.connect("a", "a", in_degree=20, weight=0.1, synapse=ExpSynapse(5.0))
    assert proj.n_synapses == 2_000_000
    assert proj.nbytes <= 12 * proj.n_synapses
    np.testing.assert_array_equal(np.bincount(proj.post_indices.numpy(), minlength=100_000), 20)
