"""Connectivity analyses: effective rank of rank-k matrices, the circular law, SVD/eigenvalues
against scipy, reciprocity of random graphs, and motif counts against brute-force counting."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.linalg
import torch

import spikeforge.analysis as sfa
from spikeforge.errors import ParameterError, ShapeError


def random_graph(n: int, p: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = (rng.random((n, n)) < p).astype(float)
    np.fill_diagonal(w, 0.0)
    return w


# ---------------------------------------------------------------------------------------------
# effective rank and low-rank decomposition


@pytest.mark.parametrize("k", [1, 2, 5, 20])
@pytest.mark.parametrize("method", ["participation_ratio", "entropy"])
def test_effective_rank_of_equal_singular_values_is_exactly_k(k, method):
    rng = np.random.default_rng(k)
    u = np.linalg.qr(rng.standard_normal((300, k)))[0]
    v = np.linalg.qr(rng.standard_normal((200, k)))[0]
    assert sfa.effective_rank(3.7 * u @ v.T, method=method) == pytest.approx(k, abs=1e-8)


@pytest.mark.parametrize("k", [1, 2, 5, 10, 20])
def test_effective_rank_of_random_rank_k_matrix_is_near_k(k):
    rng = np.random.default_rng(10 + k)
    w = rng.standard_normal((400, k)) @ rng.standard_normal((k, 400))
    # Gaussian factors have unequal singular values: the participation ratio is k (1 - O(k/N))
    assert sfa.effective_rank(w) == pytest.approx(k, rel=0.12)
    assert sfa.effective_rank(w, method="entropy") == pytest.approx(k, rel=0.03)
    assert sfa.effective_rank(w) <= sfa.effective_rank(w, method="entropy") <= k + 1e-9


def test_effective_rank_against_scipy_singular_values():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((60, 40)) * np.linspace(0.1, 3.0, 40)
    s = scipy.linalg.svdvals(w)
    np.testing.assert_allclose(sfa.singular_values(w), s, rtol=1e-12)
    assert sfa.effective_rank(w) == pytest.approx((s**2).sum() ** 2 / (s**4).sum(), rel=1e-12)
    p = s / s.sum()
    assert sfa.effective_rank(w, method="entropy") == pytest.approx(
        math.exp(-(p * np.log(p)).sum()), rel=1e-12
    )
    assert sfa.effective_rank(torch.tensor(w)) == pytest.approx(sfa.effective_rank(w), rel=1e-12)


def test_effective_rank_of_low_rank_plus_noise():
    """W = U V^T (rank k, singular values s) + iid noise of variance sigma^2: the participation
    ratio is computed from the expected squared singular values, s^2 + N sigma^2 per direction."""
    rng = np.random.default_rng(1)
    n, k, s, sigma = 400, 3, 20.0, 0.5 / math.sqrt(400)
    u = np.linalg.qr(rng.standard_normal((n, k)))[0]
    v = np.linalg.qr(rng.standard_normal((n, k)))[0]
    w = s * u @ v.T + sigma * rng.standard_normal((n, n))
    noise_sq = sfa.singular_values(sigma * rng.standard_normal((n, n))) ** 2
    lam = np.concatenate([np.full(k, s**2), noise_sq])  # to first order the spectra add
    predicted = lam.sum() ** 2 / (lam**2).sum()
    assert sfa.effective_rank(w) == pytest.approx(predicted, rel=0.05)


def test_low_rank_is_the_truncated_svd():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((30, 20))
    lr = sfa.low_rank(w, 5)
    U, s, Vh = scipy.linalg.svd(w, full_matrices=False)
    np.testing.assert_allclose(lr.matrix(), (U[:, :5] * s[:5]) @ Vh[:5], atol=1e-12)
    assert lr.residual == pytest.approx(np.linalg.norm(w - lr.matrix()) / np.linalg.norm(w), rel=1e-10)
    exact = sfa.low_rank(np.outer(np.arange(1.0, 5.0), np.arange(1.0, 4.0)), 1)
    assert exact.residual == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# spectra and the circular law


@pytest.fixture(scope="module", params=[0.5, 1.5])
def ginibre(request):
    """An N = 500 matrix with iid entries of variance sigma^2 / N and its circular-law fit."""
    sigma, n = request.param, 500
    w = np.random.default_rng(int(sigma * 10)).standard_normal((n, n)) * sigma / math.sqrt(n)
    try:  # module-scoped: set up before the per-test thread limit of conftest.py applies
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional (comes with scikit-learn)
        return sigma, w, sfa.circular_law(w)
    with threadpool_limits(limits=1):
        return sigma, w, sfa.circular_law(w)


def test_spectral_radius_follows_the_circular_law(ginibre):
    sigma, w, fit = ginibre
    assert fit.predicted_radius == pytest.approx(sigma, rel=0.01)
    # the largest |lambda| overshoots at finite N (a few % at N = 500) ...
    assert fit.spectral_radius == pytest.approx(sigma, rel=0.08)
    # ... while the bulk radius, from the 90 % quantile of |lambda| (CDF r^2), is within 2 %
    assert np.quantile(np.abs(fit.eigenvalues), 0.9) / math.sqrt(0.9) == pytest.approx(sigma, rel=0.02)
    assert sfa.spectral_radius(w) == pytest.approx(fit.spectral_radius, rel=1e-12)


def test_eigenvalues_fill_the_disc_uniformly(ginibre):
    sigma, w, fit = ginibre
    n = w.shape[0]
    r = np.abs(fit.eigenvalues) / fit.predicted_radius
    for q in (0.3, 0.5, 0.7, 0.9):  # radial CDF r^2
        assert (r <= q).mean() == pytest.approx(q**2, abs=0.04)
    assert fit.ks_statistic < 0.05 and fit.ks_pvalue > 0.01
    # the phases are uniform as well
    hist, _ = np.histogram(np.angle(fit.eigenvalues), bins=8, range=(-np.pi, np.pi))
    assert np.all(np.abs(hist - n / 8) < 5 * math.sqrt(n / 8))


def test_a_structured_spectrum_fails_the_circular_law():
    w = np.diag(np.linspace(-1, 1, 100))
    assert sfa.circular_law(w).ks_statistic > 0.3


def test_mean_outlier_and_centering():
    n, mu = 200, 0.03
    w = np.random.default_rng(4).standard_normal((n, n)) / math.sqrt(n) + mu
    fit = sfa.circular_law(w)
    assert fit.spectral_radius == pytest.approx(n * mu, rel=0.15)  # the outlier
    assert sfa.circular_law(w, center=True).spectral_radius == pytest.approx(1.0, rel=0.08)


def test_eigenvalues_against_scipy():
    w = np.random.default_rng(5).standard_normal((40, 40))
    ours = np.sort_complex(sfa.eigenvalues(w))
    ref = np.sort_complex(scipy.linalg.eigvals(w))
    np.testing.assert_allclose(ours, ref, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# degrees and E/I balance


def test_degrees_follow_the_post_pre_convention():
    w = np.zeros((3, 4))
    w[0, :] = 1.0  # neuron 0 receives from everyone
    w[2, 3] = -0.5
    d = sfa.degrees(w)
    assert d.in_degree.tolist() == [4, 0, 1]
    assert d.out_degree.tolist() == [1, 1, 1, 2]
    assert sfa.degrees(w, threshold=0.6).in_degree.tolist() == [4, 0, 0]


def test_degree_distribution_of_random_graph_is_binomial():
    from scipy.stats import binom

    n, p = 400, 0.1
    w = (np.random.default_rng(6).random((n, n)) < p).astype(float)
    k, frac = sfa.degree_distribution(w, direction="out")
    assert frac.sum() == pytest.approx(1.0)
    pmf = binom.pmf(k, n, p)
    assert np.abs(frac - pmf).max() < 0.03


def test_ei_balance_by_sign_and_by_type():
    w = np.array([[1.0, 2.0, -3.0], [0.5, 0.0, -0.5]])
    b = sfa.ei_balance(w)
    assert b.excitatory.tolist() == [3.0, 0.5] and b.inhibitory.tolist() == [-3.0, -0.5]
    assert b.net.tolist() == [0.0, 0.0] and b.ratio == 1.0
    typed = sfa.ei_balance(np.abs(w), excitatory=[True, True, False])  # Dale: sign from the type
    assert typed.inhibitory.tolist() == [3.0, 0.5]


# ---------------------------------------------------------------------------------------------
# reciprocity and motifs


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5])
def test_reciprocity_of_random_graph_is_p(p):
    w = random_graph(300, p, seed=int(p * 100))
    edges = w.sum()
    # each edge is reciprocated with probability p: binomial over the edges (pairs counted twice)
    assert sfa.reciprocity(w) == pytest.approx(p, abs=5 * math.sqrt(p * (1 - p) / (edges / 2)))


def test_reciprocity_of_known_graphs():
    assert sfa.reciprocity(np.ones((5, 5))) == 1.0
    assert sfa.reciprocity(np.triu(np.ones((5, 5)), 1)) == 0.0
    w = np.zeros((3, 3))
    w[0, 1] = w[1, 0] = w[2, 0] = 1.0  # 0 <-> 1 and 0 -> 2: 2 of 3 edges reciprocated
    assert sfa.reciprocity(w) == pytest.approx(2 / 3)


# representatives of the 16 triad types as edge lists over nodes A=0, B=1, C=2, written from the
# definitions in the triad_census docstring
REPRESENTATIVES = {
    "003": [],
    "012": [(0, 1)],
    "102": [(0, 1), (1, 0)],
    "021D": [(1, 0), (1, 2)],
    "021U": [(0, 1), (2, 1)],
    "021C": [(0, 1), (1, 2)],
    "111D": [(0, 1), (1, 0), (2, 1)],
    "111U": [(0, 1), (1, 0), (1, 2)],
    "030T": [(0, 1), (2, 1), (0, 2)],
    "030C": [(1, 0), (2, 1), (0, 2)],
    "201": [(0, 1), (1, 0), (1, 2), (2, 1)],
    "120D": [(1, 0), (1, 2), (0, 2), (2, 0)],
    "120U": [(0, 1), (2, 1), (0, 2), (2, 0)],
    "120C": [(0, 1), (1, 2), (0, 2), (2, 0)],
    "210": [(0, 1), (1, 2), (2, 1), (0, 2), (2, 0)],
    "300": [(i, j) for i in range(3) for j in range(3) if i != j],
}


def brute_triad_census(edges: set[tuple[int, int]], n: int) -> dict[str, int]:
    """Classify each triple by testing every relabelling against the representatives."""
    reps = {name: frozenset(e) for name, e in REPRESENTATIVES.items()}
    counts = dict.fromkeys(REPRESENTATIVES, 0)
    for trio in itertools.combinations(range(n), 3):
        local = {(a, b) for a in range(3) for b in range(3) if (trio[a], trio[b]) in edges}
        matches = [
            name
            for name, rep in reps.items()
            if any(
                frozenset((perm[a], perm[b]) for a, b in local) == rep
                for perm in itertools.permutations(range(3))
            )
        ]
        assert len(matches) == 1, (trio, local, matches)  # the 16 types partition all triads
        counts[matches[0]] += 1
    return counts


@pytest.mark.parametrize(("n", "p", "seed"), [(9, 0.3, 0), (12, 0.5, 1), (10, 0.15, 2)])
def test_triad_census_matches_brute_force(n, p, seed):
    w = random_graph(n, p, seed)
    edges = {(j, i) for i in range(n) for j in range(n) if w[i, j] != 0}  # W[post, pre]: j -> i
    ours = sfa.triad_census(w)
    assert list(ours) == list(sfa.TRIAD_TYPES)
    assert ours == brute_triad_census(edges, n)
    assert sum(ours.values()) == math.comb(n, 3)


@pytest.mark.parametrize("name", list(REPRESENTATIVES))
def test_each_representative_is_classified_by_name(name):
    w = np.zeros((3, 3))
    for a, b in REPRESENTATIVES[name]:
        w[b, a] = 1.0  # edge a -> b is W[post=b, pre=a]
    census = sfa.triad_census(w)
    assert census[name] == 1 and sum(census.values()) == 1


def test_dyad_census_and_motif_expectations():
    n, p = 60, 0.2
    w = random_graph(n, p, seed=3)
    dyads = sfa.dyad_census(w)
    iu = np.triu_indices(n, 1)
    a, b = w[iu] != 0, w.T[iu] != 0
    assert dyads == {
        "mutual": int((a & b).sum()),
        "asymmetric": int((a ^ b).sum()),
        "null": int((~a & ~b).sum()),
    }
    m = sfa.motif_counts(w)
    assert m.density == pytest.approx(w.sum() / (n * (n - 1)))
    assert sum(m.expected_triads.values()) == pytest.approx(math.comb(n, 3))
    assert sum(m.expected_dyads.values()) == pytest.approx(math.comb(n, 2))
    # an Erdos-Renyi graph matches its own null model for the common motifs
    for name in ("003", "012", "102", "021C"):
        assert m.triads[name] == pytest.approx(m.expected_triads[name], rel=0.1)


def test_ignores_self_connections():
    w = random_graph(8, 0.4, seed=4)
    w_self = w + np.eye(8)
    assert sfa.triad_census(w_self) == sfa.triad_census(w)
    assert sfa.reciprocity(w_self) == sfa.reciprocity(w)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: sfa.effective_rank(np.zeros((3, 3))), ParameterError, "all zeros"),
        (lambda: sfa.effective_rank(np.eye(3), method="svd"), ParameterError, "method"),
        (lambda: sfa.effective_rank(np.ones(3)), ShapeError, "W must be 2-D"),
        (lambda: sfa.low_rank(np.eye(3), 4), ParameterError, "rank must be <= "),
        (lambda: sfa.low_rank(np.eye(3), 0), ParameterError, "rank must be an int >= 1"),
        (lambda: sfa.eigenvalues(np.ones((2, 3))), ShapeError, "square"),
        (lambda: sfa.circular_law(np.ones((3, 3))), ParameterError, "zero entry variance"),
        (lambda: sfa.reciprocity(np.zeros((4, 4))), ParameterError, "no connections"),
        (lambda: sfa.degrees(np.eye(3), threshold=-1.0), ParameterError, "threshold"),
        (lambda: sfa.degree_distribution(np.eye(3), direction="both"), ParameterError, "direction"),
        (lambda: sfa.ei_balance(-np.eye(3)), ParameterError, "no excitatory"),
        (lambda: sfa.ei_balance(np.eye(3), excitatory=[True]), ShapeError, "excitatory"),
        (lambda: sfa.motif_counts(np.ones((2, 2))), ShapeError, "at least 3"),
        (lambda: sfa.triad_census(np.full((3, 3), np.inf)), ParameterError, "finite"),
    ],
)
def test_bad_input_raises_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()
