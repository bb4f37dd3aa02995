"""Connectivity generation (fixed degrees, canonical order): the distributions of the rules, and
the compiled (numba) helpers against their PyTorch versions (the same connectivity with and
without numba)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import FixedInDegree, FixedOutDegree, Network, Normal, Uniform, _connectivity
from spikeforge.circuits.projection import _sample_distinct, _stream_length

numba_only = pytest.mark.skipif(_connectivity.compiled() is None, reason="needs numba (the compiled helpers)")


def lif(n: int) -> sf.neurons.LIF:
    return sf.neurons.LIF(n, tau_mem=10.0, v_th=1.0, dt=0.1)


def net_of(n_pre: int, n_post: int | None = None, seed: int = 0) -> Network:
    net = Network(dt=0.1, seed=seed)
    net.add_population("a", lif(n_pre))
    if n_post is not None:
        net.add_population("b", lif(n_post))
    return net


def rows_of(proj) -> list[set[int]]:
    """The presynaptic sets of each postsynaptic neuron."""
    pre, post = proj.pre_indices.tolist(), proj.post_indices.tolist()
    rows: list[set[int]] = [set() for _ in range(proj.n_post)]
    for i, j in zip(pre, post):
        rows[j].add(i)
    return rows


def test_fixed_in_degree_is_a_uniform_subset_without_autapses():
    """Each row is a uniform k-subset of the n - 1 others: exact degree, distinct, no self; the
    out-degrees are Binomial(n, k / (n - 1)); each pair of sources appears together in a row with
    probability k (k - 1) / ((n - 1)(n - 2)) (a sampler biased towards some values or pairs fails)."""
    n, k = 400, 60
    proj = net_of(n).connect("a", "a", in_degree=k, weight=1.0, autapses=False)
    pre, post = proj.pre_indices, proj.post_indices
    assert torch.equal(torch.bincount(post, minlength=n), torch.full((n,), k))
    assert not bool((pre == post).any())
    rows = rows_of(proj)
    assert all(len(r) == k for r in rows)
    p = k / (n - 1)
    out_deg = torch.bincount(pre, minlength=n).double()
    assert abs(out_deg.mean().item() - k) < 1e-9  # exact: n * k synapses
    # variance of Binomial(n - 1, p): 400 samples give its estimate within ~20 %
    assert abs(out_deg.var().item() / ((n - 1) * p * (1 - p)) - 1) < 0.25
    # chi-square of the source counts against uniform, 399 degrees of freedom: mean 399, sd 28
    chi2 = float(((out_deg - k) ** 2 / k).sum())
    assert 399 - 6 * 28 < chi2 < 399 + 6 * 28
    # co-occurrence of the source pairs (0, 1), (0, 2), ... summed over rows
    m = torch.zeros(n, n)
    for r in rows:
        idx = torch.tensor(sorted(r))
        m[idx.unsqueeze(1), idx.unsqueeze(0)] += 1
    off = m[~torch.eye(n, dtype=torch.bool)]
    # each pair of distinct sources (i, j) shares a row with probability q, over the n - 2 rows
    # that can hold both
    q = k * (k - 1) / ((n - 1) * (n - 2))
    assert abs(off.mean().item() / ((n - 2) * q) - 1) < 0.02


def test_fixed_out_degree_is_a_uniform_subset():
    n_pre, n_post, k = 300, 500, 40
    proj = net_of(n_pre, n_post).connect("a", "b", out_degree=k, weight=1.0)
    pre, post = proj.pre_indices, proj.post_indices
    assert torch.equal(torch.bincount(pre, minlength=n_pre), torch.full((n_pre,), k))
    assert len(set(zip(pre.tolist(), post.tolist()))) == n_pre * k
    in_deg = torch.bincount(post, minlength=n_post).double()
    p = k / n_post
    # in-degrees are Binomial(n_pre, p): mean exact, variance within ~20 %
    assert abs(in_deg.mean().item() - n_pre * p) < 1e-9
    assert abs(in_deg.var().item() / (n_pre * p * (1 - p)) - 1) < 0.25


@pytest.mark.parametrize("p", [0.01, 0.2])
def test_bernoulli_counts_per_neuron_are_binomial(p):
    n = 500
    proj = net_of(n).connect("a", "a", p=p, weight=1.0, autapses=False)
    total = n * (n - 1)
    assert abs(proj.n_synapses - total * p) <= 5 * math.sqrt(total * p * (1 - p))
    assert not bool((proj.pre_indices == proj.post_indices).any())
    for counts in (
        torch.bincount(proj.pre_indices, minlength=n),
        torch.bincount(proj.post_indices, minlength=n),
    ):
        c = counts.double()
        assert abs(c.var().item() / ((n - 1) * p * (1 - p)) - 1) < 0.25


def test_weights_and_delays_follow_their_synapses_after_sorting():
    """Matrices ``[n_post, n_pre]`` are read at each synapse and stay with it through the sort."""
    n_pre, n_post = 120, 90
    net = net_of(n_pre, n_post)
    g = torch.Generator().manual_seed(3)
    W = torch.rand(n_post, n_pre, generator=g, dtype=torch.float64)
    D = torch.randint(0, 30, (n_post, n_pre), generator=g).double() * 0.1
    for rule in (FixedInDegree(17), FixedOutDegree(11)):
        for weight in (W, 0.5):  # with a shared weight, only the delays need the permutation
            proj = net.connect("a", "b", rule=rule, weight=weight, delay=D)
            pre, post = proj.pre_indices, proj.post_indices
            key = pre * n_post + post
            assert bool((key[1:] > key[:-1]).all())  # sorted by (pre, post), no multapses
            w_want = W[post, pre] if isinstance(weight, torch.Tensor) else torch.full((len(pre),), 0.5)
            torch.testing.assert_close(proj.weights().double(), w_want.double(), rtol=0, atol=1e-7)
            torch.testing.assert_close(proj.delays(), D[post, pre], rtol=0, atol=1e-9)


def test_drawn_weights_and_delays_have_their_distributions():
    n = 400
    proj = net_of(n).connect(
        "a", "a", in_degree=100, weight=Normal(1.0, 0.5), delay=Uniform(0.0, 2.0), autapses=False
    )
    w = proj.weights().double()
    nnz = w.numel()
    assert abs(w.mean().item() - 1.0) < 5 * 0.5 / math.sqrt(nnz)
    assert abs(w.std().item() / 0.5 - 1) < 0.02
    steps = torch.round(proj.delays() / 0.1).long()
    # Uniform(0, 2) ms rounded to 0.1 ms steps: 1..19 have probability 1/20, 0 and 20 have 1/40
    counts = torch.bincount(steps, minlength=21).double()
    expected = torch.full((21,), nnz / 20)
    expected[0] = expected[20] = nnz / 40
    assert int(counts.numel()) == 21
    assert bool(((counts - expected).abs() < 5 * expected.sqrt() + 1).all())


def test_short_streams_are_extended_and_stay_uniform():
    """Streams far too short for k distinct values (most rows need extra draws): still exact,
    distinct and without self; and the sources still cover all candidates evenly."""
    g = torch.Generator().manual_seed(0)
    n, k = 100, 45
    out = _sample_distinct(n, k, n, True, False, g, stream=20)
    assert out.shape == (n, k)
    for r in range(n):
        row = out[r].tolist()
        assert len(set(row)) == k and r not in row and all(0 <= v < n for v in row)
    counts = torch.bincount(out.reshape(-1), minlength=n).double()
    # each source is in Binomial(99, 45/99) rows: mean 45, sd 5
    assert counts.min().item() > 45 - 6 * 5 and counts.max().item() < 45 + 6 * 5


def test_stream_length_covers_the_draws_needed():
    """The stream holds the expected number of draws (coupon collector) plus a margin."""
    for k, n in ((1000, 10000), (10, 20), (500, 1001)):
        expected = sum(n / (n - 1 - i) for i in range(k))
        m = _stream_length(k, n, True)
        assert expected + 16 < m < expected + 16 + 6 * math.sqrt(expected) + 100


@numba_only
@pytest.mark.parametrize("exclude_self", [False, True])
def test_first_distinct_compiled_equals_torch(exclude_self):
    g = torch.Generator().manual_seed(5)
    for rows, m, k, n in ((50, 30, 10, 25), (40, 12, 12, 15), (7, 0, 0, 5), (30, 200, 60, 70)):
        cand = torch.randint(0, n, (rows, m), generator=g)
        out_c, short_c = _connectivity.first_distinct(cand, k, n, exclude_self, 3, use_compiled=True)
        out_t, short_t = _connectivity.first_distinct(cand, k, n, exclude_self, 3, use_compiled=False)
        assert torch.equal(short_c, short_t)
        assert torch.equal(out_c[~short_c], out_t[~short_t])


@numba_only
def test_canonical_order_compiled_equals_stable_argsort():
    g = torch.Generator().manual_seed(6)
    n_pre, n_post = 40, 30
    pre = torch.randint(0, n_pre, (2000,), generator=g)
    post = torch.randint(0, n_post, (2000,), generator=g)  # with multapses: stability matters
    post_sorted_first = torch.sort(post).values  # the second pass alone
    for p, q in ((pre, post), (pre, post_sorted_first), (torch.sort(pre).values, post_sorted_first)):
        want = torch.argsort(p * n_post + q, stable=True)
        for compiled in (True, False):
            order, post_s = _connectivity.canonical_order(p, q, n_pre, n_post, True, use_compiled=compiled)
            got = torch.arange(p.numel()) if order is None else order
            assert torch.equal(got, want)
            assert post_s.dtype == torch.int32 and torch.equal(post_s.long(), q[want])
            no_order, post_s2 = _connectivity.canonical_order(
                p, q, n_pre, n_post, False, use_compiled=compiled
            )
            assert no_order is None and torch.equal(post_s2, post_s)
    key = pre * n_post + post
    s = torch.argsort(key, stable=True)
    for compiled in (True, False):
        order, _ = _connectivity.canonical_order(pre[s], post[s], n_pre, n_post, True, use_compiled=compiled)
        assert order is None  # already in order


@numba_only
def test_connectivity_does_not_depend_on_numba(monkeypatch):
    """The same seed gives the same synapses, weights and delays with and without numba."""

    def build() -> list[tuple[np.ndarray, ...]]:
        net = net_of(300, 200, seed=4)
        projs = [
            net.connect(
                "a", "a", in_degree=40, weight=Uniform(0.0, 1.0), delay=Uniform(0.0, 3.0), autapses=False
            ),
            net.connect("a", "b", out_degree=30, weight=0.5),
            net.connect("a", "b", rule=FixedInDegree(20, multapses=True), weight=Normal(0.0, 1.0)),
            net.connect("b", "a", p=0.05, weight=Uniform(0.0, 1.0)),
        ]
        return [
            (p.indptr.numpy(), p.post_idx.numpy(), p.weights().numpy(), p.delays().numpy()) for p in projs
        ]

    compiled = build()
    monkeypatch.setattr(_connectivity, "compiled", lambda: None)
    plain = build()
    for a, b in zip(compiled, plain):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


@numba_only
def test_compiled_run_stores_target_indices_once():
    """After a compiled run, the sparse projections' target indices are views of the kernel's
    concatenated array (not a second copy), with the same values, and a second run still works."""
    net = net_of(200, 150, seed=1)
    a = net.connect("a", "b", in_degree=20, weight=0.5, delay=0.3)
    b = net.connect("b", "a", p=0.1, weight=0.2)
    before = [a.post_idx.clone(), b.post_idx.clone()]
    net.run(1.0, progress=False)
    cache = net._engines["compiled"]._csr_cache[1][1]
    start, stop = cache.ctypes.data, cache.ctypes.data + cache.nbytes
    for proj, old in zip((a, b), before):
        assert start <= proj.post_idx.data_ptr() < stop
        assert torch.equal(proj.post_idx, old)
    net.run(1.0, progress=False)
