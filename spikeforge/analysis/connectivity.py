r"""Connectivity analyses of weight matrices: degrees, E/I balance, the eigenvalue spectrum against
the circular law, effective rank, low-rank decomposition, reciprocity and 2- and 3-node motifs.

Weights follow the library's convention ``W[post, pre]`` (as ``F.linear``): ``W[i, j]`` is the
synapse from neuron j onto neuron i, so row i holds i's inputs and column j holds j's outputs.
Graph measures treat an entry with ``|W[i, j]| > threshold`` as the directed edge j -> i.

Example:
    >>> import numpy as np
    >>> from spikeforge.analysis import effective_rank, spectral_radius
    >>> rng = np.random.default_rng(0)
    >>> n = 400
    >>> W = rng.standard_normal((n, n)) * 0.5 / np.sqrt(n)     # variance sigma^2 / N, sigma = 0.5
    >>> round(spectral_radius(W), 1)                             # circular law: radius -> sigma
    0.5
    >>> U = np.linalg.qr(rng.standard_normal((n, 3)))[0]
    >>> round(effective_rank(U @ U.T, method="entropy"), 6)      # three equal singular values
    3.0
"""

from __future__ import annotations

from math import comb
from typing import Any, Literal, NamedTuple

import numpy as np

from ..errors import ParameterError, ShapeError
from ._common import as_array, as_matrix, as_square, count, nonnegative

__all__ = [
    "Degrees",
    "degrees",
    "degree_distribution",
    "EIBalance",
    "ei_balance",
    "eigenvalues",
    "spectral_radius",
    "CircularLaw",
    "circular_law",
    "singular_values",
    "effective_rank",
    "LowRank",
    "low_rank",
    "reciprocity",
    "dyad_census",
    "triad_census",
    "TRIAD_TYPES",
    "MotifCounts",
    "motif_counts",
]


# ---------------------------------------------------------------------------------------------
# degrees and E/I balance


class Degrees(NamedTuple):
    """In- and out-degrees of a weight matrix ``W[post, pre]``."""

    in_degree: np.ndarray  # [n_post]: inputs per neuron (nonzero entries of each row)
    out_degree: np.ndarray  # [n_pre]: outputs per neuron (nonzero entries of each column)


def _adjacency(W: np.ndarray, threshold: float) -> np.ndarray:
    return np.abs(W) > threshold


def degrees(W: Any, *, threshold: float = 0.0) -> Degrees:
    """Number of connections into each postsynaptic neuron and out of each presynaptic one.

    Args:
        W: weights ``[n_post, n_pre]`` (numpy or torch; dense).
        threshold: an entry is a connection if ``|W[i, j]| > threshold`` (>= 0).

    Returns:
        :class:`Degrees` ``(in_degree [n_post], out_degree [n_pre])`` as int64. A self-connection
        ``W[i, i]`` counts in both.

    Raises:
        ShapeError: ``W`` is not a non-empty 2-D matrix.
        ParameterError: negative threshold, NaN/inf weights.

    Example:
        >>> degrees([[0.0, 1.0, 2.0], [0.0, 0.0, -1.0]])
        Degrees(in_degree=array([2, 1]), out_degree=array([0, 1, 2]))
    """
    a = _adjacency(as_matrix("W", W), nonnegative("threshold", threshold))
    return Degrees(a.sum(axis=1).astype(np.int64), a.sum(axis=0).astype(np.int64))


def degree_distribution(
    W: Any, *, direction: Literal["in", "out"] = "in", threshold: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """The fraction of neurons with each in- or out-degree.

    Args:
        W: weights ``[n_post, n_pre]``.
        direction: ``"in"`` (inputs per postsynaptic neuron) or ``"out"``.
        threshold: an entry is a connection if ``|W[i, j]| > threshold``.

    Returns:
        ``(k, p)``: degrees ``0..k_max`` and the fraction of neurons with each (sums to 1).

    Example:
        >>> degree_distribution([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]], direction="in")
        (array([0, 1, 2]), array([0.33333333, 0.33333333, 0.33333333]))
    """
    if direction not in ("in", "out"):
        raise ParameterError(f"direction must be one of ['in', 'out'], got {direction!r}")
    d = degrees(W, threshold=threshold)
    k = d.in_degree if direction == "in" else d.out_degree
    p = np.bincount(k).astype(np.float64) / k.size
    return np.arange(p.size), p


class EIBalance(NamedTuple):
    """Excitatory and inhibitory input per postsynaptic neuron."""

    excitatory: np.ndarray  # [n_post], summed excitatory weights (>= 0)
    inhibitory: np.ndarray  # [n_post], summed inhibitory weights (<= 0)
    net: np.ndarray  # [n_post], excitatory + inhibitory
    ratio: float  # |sum of all inhibitory| / sum of all excitatory


def ei_balance(W: Any, *, excitatory: Any = None) -> EIBalance:
    r"""Summed excitatory and inhibitory input to each neuron, and the global I/E ratio.

    Without ``excitatory``, weights are split by sign. With an ``excitatory`` mask over the
    presynaptic neurons (Dale's law), the split is by presynaptic type: column j counts as
    excitatory if ``excitatory[j]``. A balanced network has ``net`` near 0 and ``ratio`` near 1
    (:math:`\sum |W_I| / \sum W_E`).

    Args:
        W: weights ``[n_post, n_pre]``.
        excitatory: optional boolean mask ``[n_pre]``.

    Returns:
        :class:`EIBalance` ``(excitatory, inhibitory, net, ratio)``.

    Raises:
        ShapeError: ``excitatory`` not of length ``n_pre``.
        ParameterError: no excitatory weight at all (the ratio would divide by 0).

    Example:
        >>> b = ei_balance([[1.0, -0.5], [2.0, -3.0]])
        >>> b.net, b.ratio
        (array([ 0.5, -1. ]), 1.1666666666666667)
    """
    w = as_matrix("W", W)
    if excitatory is None:
        exc = np.where(w > 0, w, 0.0).sum(axis=1)
        inh = np.where(w < 0, w, 0.0).sum(axis=1)
    else:
        mask = as_array("excitatory", excitatory, ndim=1)
        if mask.size != w.shape[1]:
            raise ShapeError(f"excitatory must have n_pre={w.shape[1]} entries, got {mask.size}")
        m = mask.astype(bool)
        exc = w[:, m].sum(axis=1)
        inh = w[:, ~m].sum(axis=1)
    total_exc = float(exc.sum())
    if total_exc == 0.0:
        raise ParameterError("W has no excitatory weight; the I/E ratio is undefined")
    return EIBalance(exc, inh, exc + inh, float(abs(inh.sum()) / total_exc))


# ---------------------------------------------------------------------------------------------
# spectra


def eigenvalues(W: Any) -> np.ndarray:
    """Eigenvalues of a square matrix (``numpy.linalg.eigvals``), complex ``[n]``.

    Example:
        >>> eigenvalues([[0.0, 1.0], [-1.0, 0.0]])
        array([0.+1.j, 0.-1.j])
    """
    return np.linalg.eigvals(as_square("W", W)).astype(np.complex128)


def spectral_radius(W: Any) -> float:
    """Largest eigenvalue modulus of a square matrix.

    Example:
        >>> spectral_radius([[0.0, 2.0], [0.5, 0.0]])
        1.0
    """
    return float(np.abs(eigenvalues(W)).max())


class CircularLaw(NamedTuple):
    """A matrix's spectrum against Girko's circular law."""

    eigenvalues: np.ndarray  # complex [n]
    predicted_radius: float  # sigma = sqrt(n * Var(W_ij))
    spectral_radius: float  # max |lambda|
    ks_statistic: float  # KS distance between |lambda| / radius and the CDF r^2 of the uniform disc
    ks_pvalue: float


def circular_law(W: Any, *, center: bool = False) -> CircularLaw:
    r"""Compare a square matrix's eigenvalues with the circular law.

    For an :math:`N \times N` matrix with iid entries of mean 0 and variance :math:`\sigma^2/N`,
    the eigenvalues fill the disc of radius :math:`\sigma` uniformly as :math:`N \to \infty`
    (Girko; Tao and Vu): the radial CDF is :math:`P(|\lambda| \le r) = (r/\sigma)^2`. The
    predicted radius is estimated from the entries, :math:`\hat\sigma = \sqrt{N\,\mathrm{Var}(W_{ij})}`
    (variance about the mean), and the radial distribution is tested against :math:`r^2` with a
    Kolmogorov-Smirnov test (``scipy.stats.kstest``).

    A nonzero entry mean :math:`\mu` adds one outlier near :math:`N\mu` (and sparse or Dale
    matrices deviate from the law, Rajan and Abbott 2006); ``center=True`` removes the mean from
    every entry before the eigendecomposition, which removes that outlier.

    Args:
        W: square matrix ``[n, n]``.
        center: subtract the mean entry first.

    Returns:
        :class:`CircularLaw` ``(eigenvalues, predicted_radius, spectral_radius, ks_statistic,
        ks_pvalue)``.

    Raises:
        ShapeError: ``W`` not square.
        ParameterError: all entries equal (zero variance: no disc to compare with).

    Example:
        >>> rng = np.random.default_rng(1)
        >>> fit = circular_law(rng.standard_normal((300, 300)) / np.sqrt(300))
        >>> round(fit.predicted_radius, 2), fit.ks_statistic < 0.1
        (1.0, True)
    """
    from scipy import stats

    w = as_square("W", W)
    n = w.shape[0]
    if center:
        w = w - w.mean()
    var = float(w.var())
    if var == 0.0:
        raise ParameterError("W has zero entry variance; the circular law does not apply")
    radius = float(np.sqrt(n * var))
    ev = np.linalg.eigvals(w).astype(np.complex128)
    r = np.abs(ev) / radius
    ks = stats.kstest(r, lambda x: np.clip(x, 0.0, 1.0) ** 2)
    return CircularLaw(ev, radius, float(np.abs(ev).max()), float(ks.statistic), float(ks.pvalue))


def singular_values(W: Any) -> np.ndarray:
    """Singular values of a matrix, descending (``numpy.linalg.svd``)."""
    return np.linalg.svd(as_matrix("W", W), compute_uv=False)


def effective_rank(
    W: Any, method: Literal["participation_ratio", "entropy"] = "participation_ratio"
) -> float:
    r"""Effective rank of a matrix from its singular values :math:`s_i`.

    - ``"participation_ratio"``: the participation ratio of the squared singular values (the
      eigenvalues :math:`\lambda_i = s_i^2` of :math:`W^T W`),

      .. math:: \mathrm{PR} = \frac{(\sum_i s_i^2)^2}{\sum_i s_i^4}
          = \frac{(\mathrm{tr}\,W^T W)^2}{\mathrm{tr}\,(W^T W)^2}

      For a data matrix (samples x units) this is the usual dimensionality of the activity
      covariance (Gao et al. 2017). For a covariance matrix C itself, whose eigenvalues are its
      singular values, pass a square root of C (or the data), not C.
    - ``"entropy"``: Roy and Vetterli (2007),

      .. math:: \mathrm{erank} = \exp\Big(-\sum_i p_i \ln p_i\Big),\qquad p_i = \frac{s_i}{\sum_j s_j}

    Both equal k exactly when W has k equal nonzero singular values and are lower when they are
    unequal; both lie in ``[1, min(W.shape)]``. The entropy version weighs small singular values
    more, so it is the larger of the two for a spread-out spectrum.

    Args:
        W: a matrix ``[m, n]`` (numpy or torch).
        method: ``"participation_ratio"`` (default) or ``"entropy"``.

    Returns:
        The effective rank (float).

    Raises:
        ShapeError: ``W`` is not a non-empty 2-D matrix.
        ParameterError: unknown method, or ``W`` is all zeros (rank undefined).

    Example:
        >>> import numpy as np
        >>> effective_rank(np.diag([1.0, 1.0, 0.0]))
        2.0
        >>> round(effective_rank(np.diag([3.0, 1.0]), method="entropy"), 4)
        1.7548
    """
    if method not in ("participation_ratio", "entropy"):
        raise ParameterError(f"method must be one of ['participation_ratio', 'entropy'], got {method!r}")
    s = singular_values(W)
    if float(s.max()) == 0.0:
        raise ParameterError("W is all zeros; its effective rank is undefined")
    s = s / s.max()  # scale-free; avoids overflow of s^4
    if method == "participation_ratio":
        s2 = s**2
        return float(s2.sum() ** 2 / (s2**2).sum())
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


class LowRank(NamedTuple):
    """A truncated singular value decomposition ``W ~ U diag(s) Vh``."""

    U: np.ndarray  # [m, r], orthonormal columns
    s: np.ndarray  # [r], descending
    Vh: np.ndarray  # [r, n], orthonormal rows
    residual: float  # ||W - U diag(s) Vh||_F / ||W||_F

    def matrix(self) -> np.ndarray:
        """The rank-r approximation ``U diag(s) Vh``, ``[m, n]``."""
        return (self.U * self.s) @ self.Vh


def low_rank(W: Any, rank: int) -> LowRank:
    r"""Best rank-r approximation of W in Frobenius norm (Eckart-Young), from the SVD.

    The relative residual is :math:`\sqrt{\sum_{i>r} s_i^2 / \sum_i s_i^2}`.

    Args:
        W: a matrix ``[m, n]``.
        rank: r, between 1 and ``min(m, n)``.

    Returns:
        :class:`LowRank` ``(U, s, Vh, residual)``; ``.matrix()`` rebuilds the approximation.

    Raises:
        ParameterError: rank out of range, or W all zeros.

    Example:
        >>> lr = low_rank(np.outer([1.0, 2.0], [3.0, 4.0]), 1)
        >>> lr.matrix().round(6), round(lr.residual, 9)
        (array([[3., 4.],
               [6., 8.]]), 0.0)
    """
    w = as_matrix("W", W)
    r = count("rank", rank)
    if r > min(w.shape):
        raise ParameterError(f"rank must be <= min(W.shape) = {min(w.shape)}, got {rank!r}")
    U, s, Vh = np.linalg.svd(w, full_matrices=False)
    total = float((s**2).sum())
    if total == 0.0:
        raise ParameterError("W is all zeros; it has no low-rank structure")
    residual = float(np.sqrt(max(float((s[r:] ** 2).sum()), 0.0) / total))
    return LowRank(U[:, :r], s[:r], Vh[:r], residual)


# ---------------------------------------------------------------------------------------------
# reciprocity and motifs


def _edges(W: Any, threshold: float) -> np.ndarray:
    """``E[src, dst]``: the edge src -> dst, self-connections removed."""
    w = as_square("W", W)
    e = _adjacency(w, nonnegative("threshold", threshold)).T.copy()
    np.fill_diagonal(e, False)
    return e


def dyad_census(W: Any, *, threshold: float = 0.0) -> dict[str, int]:
    """Counts of unordered neuron pairs by connection: ``"mutual"``, ``"asymmetric"``, ``"null"``.

    Self-connections are ignored. The counts sum to ``n (n - 1) / 2``.

    Example:
        >>> dyad_census([[0, 1, 1], [1, 0, 0], [0, 0, 0]])
        {'mutual': 1, 'asymmetric': 1, 'null': 1}
    """
    e = _edges(W, threshold)
    n = e.shape[0]
    iu = np.triu_indices(n, 1)
    fwd, bwd = e[iu], e.T[iu]
    mutual = int((fwd & bwd).sum())
    asym = int((fwd ^ bwd).sum())
    return {"mutual": mutual, "asymmetric": asym, "null": comb(n, 2) - mutual - asym}


def reciprocity(W: Any, *, threshold: float = 0.0) -> float:
    r"""Fraction of connections whose reverse connection also exists.

    .. math:: r = \frac{\sum_{i \ne j} A_{ij} A_{ji}}{\sum_{i \ne j} A_{ij}}

    (``networkx.reciprocity``'s definition; self-connections ignored). For a random directed graph
    with connection probability p it is p in expectation; cortical circuits show more reciprocal
    pairs than that (Song et al. 2005).

    Raises:
        ParameterError: a graph with no connections (the ratio is 0 / 0).

    Example:
        >>> reciprocity([[0, 1, 1], [1, 0, 0], [0, 0, 0]])
        0.6666666666666666
    """
    e = _edges(W, threshold)
    n_edges = int(e.sum())
    if n_edges == 0:
        raise ParameterError("W has no connections (above threshold); reciprocity is undefined")
    return float((e & e.T).sum() / n_edges)


TRIAD_TYPES: tuple[str, ...] = (
    "003", "012", "102", "021D", "021U", "021C", "111D", "111U",
    "030T", "030C", "201", "120D", "120U", "120C", "210", "300",
)  # fmt: skip
"""The 16 isomorphism classes of directed 3-node graphs, in MAN notation (Holland and Leinhardt)."""

# bit of each directed edge of a node triple (x, y, z)
_TRIAD_BITS = ((0, 1, 1), (1, 0, 2), (0, 2, 4), (2, 0, 8), (1, 2, 16), (2, 1, 32))


def _classify_triad(code: int) -> str:
    """MAN name of the triad whose edges are the set bits of ``code`` (see ``_TRIAD_BITS``)."""
    e = np.zeros((3, 3), dtype=bool)
    for s, d, bit in _TRIAD_BITS:
        e[s, d] = bool(code & bit)
    pairs = ((0, 1), (0, 2), (1, 2))
    mutual = [p for p in pairs if e[p] and e[p[::-1]]]
    asym = [(s, d) if e[s, d] else (d, s) for s, d in pairs if e[s, d] != e[d, s]]
    m, a = len(mutual), len(asym)
    name = f"{m}{a}{3 - m - a}"
    if name == "021":
        src, dst = [s for s, _ in asym], [d for _, d in asym]
        return name + ("D" if src[0] == src[1] else "U" if dst[0] == dst[1] else "C")
    if name == "111":  # D: the lone node sends into the mutual pair; U: it receives from it
        lone = ({0, 1, 2} - set(mutual[0])).pop()
        return name + ("D" if asym[0][0] == lone else "U")
    if name == "030":
        out = np.bincount([s for s, _ in asym], minlength=3)
        return name + ("T" if out.max() == 2 else "C")
    if name == "120":  # the lone node sends to both (D), receives from both (U), or passes on (C)
        lone = ({0, 1, 2} - set(mutual[0])).pop()
        sends = sum(s == lone for s, _ in asym)
        return name + {2: "D", 0: "U", 1: "C"}[sends]
    return name


_TRIAD_INDEX = {name: k for k, name in enumerate(TRIAD_TYPES)}
_CODE_TO_TYPE = np.array([_TRIAD_INDEX[_classify_triad(c)] for c in range(64)], dtype=np.int64)
_CODE_N_EDGES = np.array([bin(c).count("1") for c in range(64)], dtype=np.int64)


def triad_census(W: Any, *, threshold: float = 0.0) -> dict[str, int]:
    """Counts of every node triple by its connection pattern: the 16 directed triad types.

    The names are Holland and Leinhardt's MAN codes (number of Mutual, Asymmetric and Null pairs,
    plus a letter), as in ``networkx.triadic_census``:

    ====  =====================  ====  ===========================
    003   no connection           111D  A <-> B <- C
    012   A -> B                  111U  A <-> B -> C
    102   A <-> B                 030T  A -> B <- C, A -> C
    021D  A <- B -> C             030C  A <- B <- C, A -> C
    021U  A -> B <- C             201   A <-> B <-> C
    021C  A -> B -> C             120D  A <- B -> C, A <-> C
    300   all pairs mutual        120U  A -> B <- C, A <-> C
    210   A -> B <-> C, A <-> C   120C  A -> B -> C, A <-> C
    ====  =====================  ====  ===========================

    Self-connections are ignored; the counts sum to ``n (n-1) (n-2) / 6``. The census visits every
    triple, :math:`O(n^3)` work vectorised over pairs (about a second for n = 500).

    Args:
        W: square weights ``[n, n]`` (``W[post, pre]``).
        threshold: an entry is a connection if ``|W[i, j]| > threshold``.

    Returns:
        A dict from each name of :data:`TRIAD_TYPES` to its count.

    Example:
        >>> c = triad_census([[0, 1, 0], [0, 0, 1], [1, 0, 0]])    # 0 -> 2 -> 1 -> 0: a cycle
        >>> c["030C"], sum(c.values())
        (1, 1)
    """
    e = _edges(W, threshold).astype(np.int64)
    n = e.shape[0]
    counts = np.zeros(len(TRIAD_TYPES), dtype=np.int64)
    for x in range(n - 2):
        ys, zs = np.triu_indices(n - x - 1, 1)
        ys, zs = ys + x + 1, zs + x + 1
        code = e[x, ys] * 1 + e[ys, x] * 2 + e[x, zs] * 4 + e[zs, x] * 8 + e[ys, zs] * 16 + e[zs, ys] * 32
        counts += np.bincount(_CODE_TO_TYPE[code], minlength=len(TRIAD_TYPES))
    return {name: int(c) for name, c in zip(TRIAD_TYPES, counts)}


class MotifCounts(NamedTuple):
    """2- and 3-node motif counts of a directed graph and their expectation in a random graph."""

    dyads: dict[str, int]  # mutual / asymmetric / null pairs
    triads: dict[str, int]  # the 16 triad types
    density: float  # p: connections / (n (n - 1))
    expected_dyads: dict[str, float]  # in an Erdos-Renyi graph with the same p
    expected_triads: dict[str, float]


def motif_counts(W: Any, *, threshold: float = 0.0) -> MotifCounts:
    """2-node (dyad) and 3-node (triad) motif counts, with their Erdos-Renyi expectation.

    The null model connects every ordered pair independently with the graph's density p, so a
    triad type whose edge patterns have e edges each is expected
    ``C(n, 3) * sum over its patterns of p^e (1 - p)^(6 - e)`` times. Over-represented
    bidirectional pairs and triangles are the signature of cortical microcircuits (Song et al.
    2005).

    Args:
        W: square weights ``[n, n]``, at least 3 neurons.
        threshold: an entry is a connection if ``|W[i, j]| > threshold``.

    Returns:
        :class:`MotifCounts`.

    Raises:
        ShapeError: fewer than 3 neurons.

    Example:
        >>> m = motif_counts(np.ones((4, 4)))
        >>> m.dyads["mutual"], m.triads["300"], m.density
        (6, 4, 1.0)
    """
    e = _edges(W, threshold)
    n = e.shape[0]
    if n < 3:
        raise ShapeError(f"W needs at least 3 neurons for 3-node motifs, got shape {[n, n]}")
    p = float(e.sum()) / (n * (n - 1))
    pairs = comb(n, 2)
    exp_dyads = {"mutual": pairs * p * p, "asymmetric": pairs * 2 * p * (1 - p), "null": pairs * (1 - p) ** 2}
    prob = p**_CODE_N_EDGES * (1 - p) ** (6 - _CODE_N_EDGES)
    per_type = np.bincount(_CODE_TO_TYPE, weights=prob, minlength=len(TRIAD_TYPES))
    exp_triads = {name: float(comb(n, 3) * q) for name, q in zip(TRIAD_TYPES, per_type)}
    dyads, triads = dyad_census(W, threshold=threshold), triad_census(W, threshold=threshold)
    return MotifCounts(dyads, triads, p, exp_dyads, exp_triads)
