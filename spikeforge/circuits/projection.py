r"""Projections: who connects to whom (connection rules), with what weight and delay, stored
densely or as a compressed sparse matrix.

Connection rules are small objects passed to :meth:`Network.connect
<spikeforge.circuits.Network.connect>` (``rule=``), or through its shortcuts ``p=``,
``in_degree=`` and ``out_degree=``:

=================================  =============================================================
rule                               synapses
=================================  =============================================================
``AllToAll()``                     every (pre, post) pair (the default)
``Bernoulli(p)``                   each pair independently with probability ``p``
``FixedInDegree(k)``               each target gets exactly ``k`` distinct sources
``FixedOutDegree(k)``              each source gets exactly ``k`` distinct targets
``OneToOne()``                     pre ``i`` to post ``i``
``Explicit(pre, post)``            the given index pairs (multapses allowed)
``DistanceDependent(p_max, s)``    each pair with probability :math:`p_{max} e^{-d^2/2s^2}` on a
                                   2-D grid (positions of the populations)
=================================  =============================================================

All draws come from the network's structure generator, in a fixed order, so a seed gives the same
connectivity on every machine, with or without numba. Synapses are kept sorted by (pre, post).

**Generation cost.** The draws are vectorised; what follows them is compiled when numba is
installed (:mod:`spikeforge.circuits._connect_kernel`, else the same steps in PyTorch): a fixed
degree takes, per neuron, the first ``k`` distinct admissible values of a stream of uniform draws
(a uniform ``k``-subset), and the canonical order is two counting-sort passes, so building is
linear in the number of synapses (the full Brunel network, 15.6 million synapses, in under a
second on one core).

**Weights and delays** are a number (one value for all synapses, stored once), a tensor
``[n_post, n_pre]`` (read at each synapse), a tensor ``[n_synapses]`` (in the order of an
``Explicit`` rule's pairs, sorted by (pre, post)), or a distribution: a callable
``(n, generator) -> Tensor[n]`` such as :class:`Uniform` or :class:`Normal`, drawn in synapse order.
Delays are in ms, >= 0, and must be multiples of ``dt`` (values drawn from a distribution are
rounded to the nearest step instead); at most 32767 steps.

**Dale's law.** A population added with ``sign="excitatory"`` (``"inhibitory"``) can only make
projections whose weights are all >= 0 (<= 0); a wrong sign is an error. Learnable weights keep the
sign: they are parametrised as :math:`w = s\,\mathrm{softplus}(\theta)`, and
:meth:`Projection.apply_weight_update` clips at zero.

**Storage.** ``"sparse"`` (compressed sparse rows over the presynaptic neuron, the layout the
event-driven propagation reads): an ``int64`` row pointer ``[n_pre + 1]``, the target index as
``int32``, the weight in the network dtype (only if weights differ between synapses) and the delay
in steps as ``int16`` (only if delays differ). That is 10 bytes per synapse with heterogeneous
float32 weights and delays, 14 with float64 weights, 4 with a shared weight and delay, plus
8 bytes per presynaptic neuron. ``"dense"`` keeps a ``[n_post, n_pre]`` weight matrix (zeros and a
mask where there is no synapse), fast for small all-to-all projections and their gradients.

**Plasticity.** A projection made with ``plasticity=rule`` (any
:class:`~spikeforge.plasticity.PlasticityRule`, e.g. :class:`~spikeforge.plasticity.STDP`) learns
while the network runs: after the spikes of each step are propagated, the network calls
``rule.step(pre_spikes [B, n_pre], post_spikes [B, n_post], w [n_post, n_pre], state,
modulator=m)`` and :meth:`Projection.apply_plastic_update` adds the change, within the rule's
bounds (``rule.apply_update``), then keeps Dale's sign and the connectivity mask. The weight
matrix the rule sees is the dense one (:meth:`Projection.to_dense`); sparse projections take the
change only at their synapses (a multapse pair gets the change computed for the summed weight).
Plastic weights are always stored per synapse (a scalar weight is expanded).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ParameterError, ShapeError
from . import _connectivity
from .synapses import Synapse

__all__ = [
    "Rule",
    "AllToAll",
    "Bernoulli",
    "FixedInDegree",
    "FixedOutDegree",
    "OneToOne",
    "Explicit",
    "DistanceDependent",
    "Uniform",
    "Normal",
    "Projection",
]

Storage = Literal["dense", "sparse"]
MAX_DELAY_STEPS = 32767
_DENSE_AUTO_LIMIT = 1 << 22  # n_pre * n_post up to which all-to-all projections are stored densely


# ---------------------------------------------------------------------------------------------
# distributions


@dataclass(frozen=True)
class Uniform:
    """Uniform distribution on ``[low, high)``: ``Uniform(low, high)(n, generator)``."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low <= self.high):
            raise ParameterError(
                f"Uniform needs finite low <= high, got low={self.low!r}, high={self.high!r}"
            )

    def __call__(self, n: int, generator: torch.Generator) -> Tensor:
        u = torch.rand(n, generator=generator, dtype=torch.float64, device=generator.device)
        return self.low + (self.high - self.low) * u


@dataclass(frozen=True)
class Normal:
    """Normal distribution ``N(mean, std**2)``: ``Normal(mean, std)(n, generator)``."""

    mean: float
    std: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean) and math.isfinite(self.std) and self.std >= 0):
            raise ParameterError(f"Normal needs a finite mean and std >= 0, got {self.mean!r}, {self.std!r}")

    def __call__(self, n: int, generator: torch.Generator) -> Tensor:
        z = torch.randn(n, generator=generator, dtype=torch.float64, device=generator.device)
        return self.mean + self.std * z


# ---------------------------------------------------------------------------------------------
# connection rules


@dataclass(frozen=True)
class _Context:
    n_pre: int
    n_post: int
    same: bool  # pre and post are the same population
    autapses: bool
    generator: torch.Generator
    pre_positions: Tensor | None
    post_positions: Tensor | None
    pre_name: str
    post_name: str

    @property
    def exclude_self(self) -> bool:
        return self.same and not self.autapses


class Rule:
    """Base class of connection rules: :meth:`pairs` returns ``(pre, post)`` int64 indices."""

    def pairs(self, ctx: _Context) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    #: whether the rule can connect a pair more than once
    multapses: bool = False


@dataclass(frozen=True)
class AllToAll(Rule):
    """Every presynaptic neuron to every postsynaptic one (without self-connections when the
    projection is recurrent and ``autapses=False``)."""

    def pairs(self, ctx: _Context) -> tuple[Tensor, Tensor]:
        pre = torch.arange(ctx.n_pre).repeat_interleave(ctx.n_post)
        post = torch.arange(ctx.n_post).repeat(ctx.n_pre)
        return _drop_self(pre, post, ctx)


@dataclass(frozen=True)
class Bernoulli(Rule):
    """Each pair independently with probability ``p`` (Brian2 ``connect(p=...)``).

    The number of synapses is Binomial(n_pre * n_post, p). Sampled without visiting all pairs
    (geometric gaps between successive synapses), so it scales with the number of synapses.
    """

    p: float

    def __post_init__(self) -> None:
        p = self.p
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not (0.0 <= p <= 1.0):
            raise ParameterError(f"p must be a probability in [0, 1], got {p!r}")

    def pairs(self, ctx: _Context) -> tuple[Tensor, Tensor]:
        total = ctx.n_pre * ctx.n_post
        p = float(self.p)
        if p == 0.0 or total == 0:
            flat = torch.zeros(0, dtype=torch.int64)
        elif p == 1.0:
            flat = torch.arange(total, dtype=torch.int64)
        else:
            log_q = math.log1p(-p)
            mean = total * p
            block = int(mean + 6.0 * math.sqrt(mean * (1.0 - p)) + 64)
            chunks = []
            last = -1
            while True:
                u = torch.rand(block, dtype=torch.float64, generator=ctx.generator)
                gaps = torch.floor(torch.log1p(-u) / log_q).to(torch.int64) + 1
                pos = last + torch.cumsum(gaps, 0)
                inside = pos[pos < total]
                chunks.append(inside)
                if inside.numel() < block:
                    break
                last = int(pos[-1])
            flat = torch.cat(chunks)
        pre, post = flat // ctx.n_post, flat % ctx.n_post
        return _drop_self(pre, post, ctx)


def _drop_self(pre: Tensor, post: Tensor, ctx: _Context) -> tuple[Tensor, Tensor]:
    if ctx.exclude_self:
        keep = pre != post
        return pre[keep], post[keep]
    return pre, post


def _check_degree(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ParameterError(f"the degree must be an int >= 0, got {k!r}")
    return k


def _stream_length(k: int, n: int, exclude_self: bool) -> int:
    """Draws per row that hold ``k`` distinct admissible values out of ``n`` except with a
    vanishing probability: the mean number of draws plus 6 standard deviations (the draws until
    the ``i``-th new value are geometric with success probability ``(n - s - i) / n``)."""
    s = 1 if exclude_self else 0
    i = np.arange(k, dtype=np.float64)
    p = (n - s - i) / n
    mean = float((1.0 / p).sum())
    sd = math.sqrt(float(((1.0 - p) / (p * p)).sum()))
    return int(math.ceil(mean + 6.0 * sd)) + 16


def _sample_distinct(
    rows: int,
    k: int,
    n: int,
    exclude_self: bool,
    multapses: bool,
    generator: torch.Generator,
    stream: int | None = None,
) -> Tensor:
    """``[rows, k]`` indices in ``[0, n)``, distinct within each row (unless ``multapses``), and
    never equal to the row number when ``exclude_self``.

    Without multapses and for ``k`` up to half the candidates, each row takes the first ``k``
    admissible distinct values of a stream of uniform draws (sequential sampling without
    replacement: a uniform ``k``-subset). The streams are ``stream`` draws long (default
    :func:`_stream_length`), drawn in blocks of rows; a row that runs short gets a further
    ``stream`` draws (after its block) and takes its values from the longer stream.
    """
    available = n - 1 if exclude_self else n
    if k == 0 or rows == 0:
        return torch.zeros(rows, k, dtype=torch.int64)
    if available <= 0 or (not multapses and k > available):
        raise ParameterError(
            f"cannot draw {k} distinct partners from {available} candidates; lower the degree"
            + (" or allow autapses" if exclude_self else "")
        )
    if not multapses and k > available // 2:
        # dense case: the k smallest of random keys per row, in chunks of rows
        out = torch.empty(rows, k, dtype=torch.int64)
        step = max(1, (1 << 22) // max(n, 1))
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            keys = torch.rand(r1 - r0, n, dtype=torch.float64, generator=generator)
            if exclude_self:
                keys[torch.arange(r1 - r0), torch.arange(r0, r1)] = 2.0
            out[r0:r1] = torch.topk(keys, k, dim=1, largest=False).indices
        return out
    if multapses:
        cand = torch.randint(0, n, (rows, k), generator=generator, dtype=torch.int64)
        row_ids = torch.arange(rows).unsqueeze(1)
        while exclude_self:
            bad = cand == row_ids
            count = int(bad.sum())
            if count == 0:
                break
            cand[bad] = torch.randint(0, n, (count,), generator=generator, dtype=torch.int64)
        return cand
    m = _stream_length(k, n, exclude_self) if stream is None else stream
    out = torch.empty(rows, k, dtype=torch.int64)
    step = max(1, (1 << 23) // m)
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        cand = torch.randint(0, n, (r1 - r0, m), generator=generator, dtype=torch.int64)
        out[r0:r1], short = _connectivity.first_distinct(cand, k, n, exclude_self, r0)
        rest = torch.nonzero(short).reshape(-1)
        pending = cand[rest]
        while rest.numel():
            more = torch.randint(0, n, (rest.numel(), m), generator=generator, dtype=torch.int64)
            pending = torch.cat([pending, more], 1)
            still = []
            for q, r in enumerate(rest.tolist()):  # rare: one row at a time
                vals, short_q = _connectivity.first_distinct(pending[q : q + 1], k, n, exclude_self, r0 + r)
                if bool(short_q[0]):
                    still.append(q)
                else:
                    out[r0 + r] = vals[0]
            keep = torch.tensor(still, dtype=torch.int64)
            rest, pending = rest[keep], pending[keep]
    return out


@dataclass(frozen=True)
class FixedInDegree(Rule):
    """Each postsynaptic neuron receives exactly ``k`` synapses from distinct presynaptic neurons
    drawn uniformly (``multapses=True``: with replacement), NEST's ``fixed_indegree``.

    Each target takes the first ``k`` distinct sources (other than itself when autapses are
    excluded) of a stream of uniform draws, so its sources are a uniform ``k``-subset; above half
    of the candidates, the ``k`` smallest of uniform keys instead."""

    k: int
    multapses: bool = False

    def __post_init__(self) -> None:
        _check_degree(self.k)

    def pairs(self, ctx: _Context) -> tuple[Tensor, Tensor]:
        cand = _sample_distinct(
            ctx.n_post, self.k, ctx.n_pre, ctx.exclude_self, self.multapses, ctx.generator
        )
        post = torch.arange(ctx.n_post).repeat_interleave(self.k)
        return cand.reshape(-1), post


@dataclass(frozen=True)
class FixedOutDegree(Rule):
    """Each presynaptic neuron makes exactly ``k`` synapses onto distinct postsynaptic neurons
    drawn uniformly (``multapses=True``: with replacement)."""

    k: int
    multapses: bool = False

    def __post_init__(self) -> None:
        _check_degree(self.k)

    def pairs(self, ctx: _Context) -> tuple[Tensor, Tensor]:
        cand = _sample_distinct(
            ctx.n_pre, self.k, ctx.n_post, ctx.exclude_self, self.multapses, ctx.generator
        )
        pre = torch.arange(ctx.n_pre).repeat_interleave(self.k)
        return pre, cand.reshape(-1)


@dataclass(frozen=True)
class OneToOne(Rule):
    """Presynaptic neuron ``i`` to postsynaptic neuron ``i`` (equal sizes)."""

    def pairs(self, ctx: _Context) -> tuple[Tensor, Tensor]:
        if ctx.n_pre != ctx.n_post:
            raise ShapeError(
                f"OneToOne needs populations of equal size, got {ctx.pre_name!r} ({ctx.n_pre}) and "
                f"{ctx.post_name!r} ({ctx.n_post})"
            )
        idx = torch.arange(ctx.n_pre)
        return idx, idx.clone()


class Explicit(Rule):
    """The given synapses: ``pre[s] -> post[s]`` (Brian2 ``connect(i=..., j=...)``).

    Args:
        pre: presynaptic indices (ints, array-like).
        post: postsynaptic indices, the same length.
    """

    multapses = True

    def __init__(self, pre: Any, post: Any) -> None:
        self.pre = _as_index("pre", pre)
        self.post = _as_index("post", post)
        if self.pre.shape != self.post.shape:
            raise ShapeError(
                f"pre and post must have the same length, got {self.pre.numel()} and {self.post.numel()}"
            )

    def __repr__(self) -> str:
        return f"Explicit(<{self.pre.numel()} pairs>)"

    def pairs(self, ctx: _Context) -> tuple[Tensor, Tensor]:
        for name, idx, n, pop in (
            ("pre", self.pre, ctx.n_pre, ctx.pre_name),
            ("post", self.post, ctx.n_post, ctx.post_name),
        ):
            if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
                raise ParameterError(
                    f"{name} indices must be in [0, {n}) for population {pop!r}, got range "
                    f"[{int(idx.min())}, {int(idx.max())}]"
                )
        return self.pre.clone(), self.post.clone()


def _as_index(name: str, value: Any) -> Tensor:
    t = torch.as_tensor(np.asarray(value) if not isinstance(value, Tensor) else value)
    if t.dim() != 1:
        t = t.reshape(-1) if t.dim() == 0 else t
    if t.dim() != 1:
        raise ShapeError(f"{name} must be a 1-D array of indices, got shape {list(t.shape)}")
    if t.is_floating_point() or t.dtype == torch.bool or t.is_complex():
        raise ParameterError(f"{name} must hold integer indices, got dtype {t.dtype}")
    return t.to(torch.int64)


@dataclass(frozen=True)
class DistanceDependent(Rule):
    r"""Each pair with probability :math:`p(d) = p_{max}\,e^{-d^2 / (2\sigma^2)}` (or
    ``profile(d)``), ``d`` the distance between the neurons' positions (2-D grid).

    Positions come from ``Network.add_population(..., positions=...)``, or from the grid of a
    population whose neuron module has a 2-D shape ``(rows, cols)`` (unit spacing).

    Args:
        p_max: probability at distance 0, in [0, 1].
        sigma: width, in the unit of the positions (> 0).
        extent: ``(width, height)`` of a torus for periodic boundaries, or None.
        profile: optional callable ``d -> p`` (a tensor of distances to probabilities) used
            instead of the Gaussian.
    """

    p_max: float = 1.0
    sigma: float = 1.0
    extent: tuple[float, float] | None = None
    profile: Callable[[Tensor], Tensor] | None = None

    def __post_init__(self) -> None:
        if not (0.0 <= float(self.p_max) <= 1.0):
            raise ParameterError(f"p_max must be a probability in [0, 1], got {self.p_max!r}")
        if not (math.isfinite(self.sigma) and self.sigma > 0):
            raise ParameterError(f"sigma must be > 0, got {self.sigma!r}")

    def pairs(self, ctx: _Context) -> tuple[Tensor, Tensor]:
        if ctx.pre_positions is None or ctx.post_positions is None:
            missing = ctx.pre_name if ctx.pre_positions is None else ctx.post_name
            raise ParameterError(
                f"DistanceDependent needs positions for population {missing!r}: pass "
                f"positions=[n, 2] to add_population, or give its neuron module a 2-D shape"
            )
        pre_pos = ctx.pre_positions.to(torch.float64)
        post_pos = ctx.post_positions.to(torch.float64)
        pres, posts = [], []
        step = max(1, (1 << 22) // max(ctx.n_pre, 1))
        for r0 in range(0, ctx.n_post, step):
            r1 = min(ctx.n_post, r0 + step)
            delta = (post_pos[r0:r1, None, :] - pre_pos[None, :, :]).abs()
            if self.extent is not None:
                ext = torch.tensor(self.extent, dtype=torch.float64)
                delta = torch.minimum(delta, ext - delta)
            d = torch.sqrt((delta * delta).sum(-1))  # [rows, n_pre]
            prob = (
                self.profile(d)
                if self.profile is not None
                else self.p_max * torch.exp(-(d * d) / (2 * self.sigma**2))
            )
            u = torch.rand(r1 - r0, ctx.n_pre, dtype=torch.float64, generator=ctx.generator)
            hit = u < prob
            if ctx.exclude_self:
                rows = torch.arange(r0, r1)
                hit[rows - r0, rows] = False
            post_i, pre_i = torch.nonzero(hit, as_tuple=True)
            pres.append(pre_i)
            posts.append(post_i + r0)
        return torch.cat(pres), torch.cat(posts)


def grid_positions(shape: tuple[int, int], spacing: float = 1.0) -> Tensor:
    """Positions ``[rows * cols, 2]`` (row, column) of a 2-D grid, row-major."""
    rows, cols = shape
    r, c = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    return torch.stack([r.reshape(-1), c.reshape(-1)], 1).to(torch.float64) * spacing


# ---------------------------------------------------------------------------------------------
# values (weights and delays)


def resolve_values(
    name: str,
    spec: Any,
    pre: Tensor,
    post: Tensor,
    n_pre: int,
    n_post: int,
    generator: torch.Generator,
) -> tuple[Tensor, bool]:
    """Weights or delays for the synapses ``(pre, post)`` as float64.

    Returns ``(values, drawn)``: a 0-d tensor (one shared value) or ``[n_synapses]``, and whether
    they came from a distribution.
    """
    nnz = pre.numel()
    if isinstance(spec, bool):
        raise ParameterError(f"{name} must be a number, a tensor or a distribution, got {spec!r}")
    if isinstance(spec, (int, float)):
        value = torch.tensor(float(spec), dtype=torch.float64)
        drawn = False
    elif isinstance(spec, (Tensor, np.ndarray)):
        t = torch.as_tensor(spec).detach()
        if not (t.is_floating_point() or t.dtype in (torch.int16, torch.int32, torch.int64, torch.int8)):
            raise ParameterError(f"{name} must be real, got dtype {t.dtype}")
        t = t.to(torch.float64)
        if t.dim() == 0:
            value = t
        elif t.shape == (n_post, n_pre):
            value = t[post, pre]
        elif t.dim() == 1 and t.numel() == nnz:
            value = t.clone()
        else:
            raise ShapeError(
                f"{name} must be a scalar, a tensor [n_post, n_pre] = [{n_post}, {n_pre}] or one value "
                f"per synapse [{nnz}], got shape {list(t.shape)}"
            )
        drawn = False
    elif callable(spec):
        value = spec(nnz, generator)
        if not isinstance(value, Tensor) or value.shape != (nnz,):
            got = list(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ShapeError(f"the {name} distribution must return a tensor [{nnz}] for n={nnz}, got {got}")
        value = value.detach().to(torch.float64)
        drawn = True
    else:
        raise ParameterError(f"{name} must be a number, a tensor or a callable (n, generator), got {spec!r}")
    if not bool(torch.isfinite(value).all()):
        raise ParameterError(f"{name} must be finite, got non-finite values")
    return value, drawn


def delay_steps(delay: Tensor, dt: float, drawn: bool) -> Tensor:
    """Delays in ms to whole steps (int16): given values must be multiples of dt, drawn ones are
    rounded to the nearest step."""
    if delay.numel() and float(delay.min()) < 0:
        raise ParameterError(f"delay must be >= 0 ms, got min {float(delay.min())!r} ms")
    steps = delay / dt
    rounded = torch.round(steps)
    if not drawn and delay.numel():
        off = (steps - rounded).abs().max()
        if float(off) > 1e-6 * max(1.0, float(steps.abs().max())):
            bad = float(delay.reshape(-1)[int(torch.argmax((steps - rounded).abs().reshape(-1)))])
            raise ParameterError(
                f"delay must be a multiple of dt={dt} ms, got {bad!r} ms; round it, e.g. "
                f"delay=round(d / dt) * dt (delays drawn from a distribution are rounded for you)"
            )
    if rounded.numel() and float(rounded.max()) > MAX_DELAY_STEPS:
        raise ParameterError(
            f"delay must be at most {MAX_DELAY_STEPS} steps ({MAX_DELAY_STEPS * dt} ms at dt={dt} ms), "
            f"got {float(delay.max())!r} ms"
        )
    return rounded.to(torch.int16)


def _inverse_softplus(t: Tensor) -> Tensor:
    return t + torch.log(-torch.expm1(-t))


# ---------------------------------------------------------------------------------------------
# projection


class Projection(nn.Module):
    """Synapses from one population to another, their weights, delays and kinetics.

    Made by :meth:`Network.connect <spikeforge.circuits.Network.connect>`; not built directly.

    Attributes:
        name: the projection's name in the network (``"pre->post"`` by default).
        pre, post: population names.
        n_pre, n_post: their sizes.
        synapse: the kinetics (:mod:`spikeforge.circuits.synapses`).
        sign: +1 (excitatory source), -1 (inhibitory) or 0 (no Dale constraint).
        storage: ``"dense"`` or ``"sparse"``.
        gain: ``[B]`` non-negative factor per batch copy on every weight, or None.
    """

    indptr: Tensor
    post_idx: Tensor
    delay_steps: Tensor
    mask: Tensor | None
    w: Tensor | None
    w_raw: nn.Parameter | None
    gain: Tensor | None

    def __init__(
        self,
        *,
        name: str,
        pre: str,
        post: str,
        n_pre: int,
        n_post: int,
        pre_idx: Tensor,
        post_idx: Tensor,
        weight: Tensor,
        delay: Tensor,
        synapse: Synapse,
        sign: int,
        dt: float,
        storage: Storage,
        learnable: bool,
        gain: Tensor | None,
        dtype: torch.dtype,
        device: torch.device,
        plasticity: Any = None,
        modulator: Any = None,
    ) -> None:
        super().__init__()
        self.name, self.pre, self.post = name, pre, post
        if plasticity is not None and learnable:
            raise ParameterError(
                "a projection is either learnable (trained by an optimizer) or plastic (learns by a "
                "local rule during run), not both"
            )
        plastic = plasticity is not None
        self.n_pre, self.n_post = n_pre, n_post
        self.synapse = synapse
        self.sign = sign
        self.dt = dt
        self.storage: Storage = storage
        self.learnable = learnable
        # canonical order: by pre, then post (stable for multapses); dense storage scatters
        # the synapses into matrices, in any order
        if storage == "dense":
            order = None
        else:  # post_idx becomes int32; pre_idx only serves counts below
            want = weight.dim() > 0 or delay.dim() > 0
            order, post_idx = _connectivity.canonical_order(pre_idx, post_idx, n_pre, n_post, want)
        if order is not None:
            if weight.dim():
                weight = weight[order]
            if delay.dim():
                delay = delay[order]
        self._nnz = int(pre_idx.numel())
        if (learnable or plastic) and weight.dim() == 0:
            weight = weight.expand(self._nnz).clone()
        if delay.dim() and self._nnz and bool((delay == delay[0]).all()):
            delay = delay[0].clone()
        elif delay.dim() and self._nnz == 0:
            delay = torch.zeros((), dtype=torch.int16)
        self.max_delay_steps = int(delay.max()) if delay.numel() else 0
        if storage == "dense":
            counts = torch.zeros(n_post * n_pre, dtype=torch.int64)
            counts.index_add_(0, post_idx * n_pre + pre_idx, torch.ones_like(post_idx))
            if bool((counts > 1).any()):
                raise ParameterError(
                    "storage='dense' cannot hold multapses (a pair connected twice); use 'sparse'"
                )
            w = torch.zeros(n_post, n_pre, dtype=torch.float64)
            w[post_idx, pre_idx] = weight.to(torch.float64)
            full = self._nnz == n_pre * n_post
            self.register_buffer("mask", None if full else counts.reshape(n_post, n_pre).bool())
            wd = w.to(dtype=dtype, device=device)
            if delay.dim():
                d = torch.zeros(n_post, n_pre, dtype=torch.int16)
                d[post_idx, pre_idx] = delay
                delay = d
        else:
            indptr = torch.zeros(n_pre + 1, dtype=torch.int64)
            indptr[1:] = torch.cumsum(torch.bincount(pre_idx, minlength=n_pre), 0)
            self.register_buffer("indptr", indptr.to(device))
            self.register_buffer("post_idx", post_idx.to(torch.int32).to(device))
            self.register_buffer("mask", None)
            wd = weight.to(dtype=dtype, device=device)
        self.register_buffer("delay_steps", delay.to(torch.int16).to(device))
        if learnable:
            raw = wd.abs() if sign != 0 else wd
            if sign != 0:
                if bool((raw == 0).any() if self.mask is None else ((raw == 0) & self.mask).any()):
                    raise ParameterError(
                        "learnable weights under Dale's law are s*softplus(theta) and must be nonzero "
                        "at the start; got a zero weight"
                    )
                raw = _inverse_softplus(raw.clamp_min(torch.finfo(wd.dtype).tiny))
            self.w_raw = nn.Parameter(raw)
            self.register_buffer("w", None)
        else:
            self.register_parameter("w_raw", None)
            self.register_buffer("w", wd)
        self.register_buffer("gain", None if gain is None else gain.to(dtype=dtype, device=device))
        #: the plasticity rule (an ``nn.Module`` rule is a submodule, its parameters in
        #: ``state_dict``), or None
        self.plasticity = plasticity
        #: the modulator source: None, a number/tensor (constant) or a callable ``t_ms -> value``
        self.modulator = modulator

    # ------------------------------------------------------------------ values
    @property
    def n_synapses(self) -> int:
        """Number of synapses."""
        return self._nnz

    @property
    def weight(self) -> Tensor:
        """The effective weights: ``[n_synapses]`` (sparse, in (pre, post) order), a 0-d tensor
        (one shared weight), or ``[n_post, n_pre]`` (dense). Differentiable when learnable."""
        if self.w_raw is None:
            assert self.w is not None
            return self.w
        if self.sign == 0:
            return self.w_raw
        w = self.sign * F.softplus(self.w_raw)
        return w if self.mask is None else w * self.mask

    @property
    def pre_indices(self) -> Tensor:
        """Presynaptic index of each synapse (int64, sorted by (pre, post))."""
        if self.storage == "dense":
            post, pre = self._dense_pairs()
            return pre
        counts = self.indptr[1:] - self.indptr[:-1]
        return torch.repeat_interleave(torch.arange(self.n_pre, device=counts.device), counts)

    @property
    def post_indices(self) -> Tensor:
        """Postsynaptic index of each synapse (int64, in the order of :attr:`pre_indices`)."""
        if self.storage == "dense":
            post, pre = self._dense_pairs()
            return post
        return self.post_idx.to(torch.int64)

    def _dense_pairs(self) -> tuple[Tensor, Tensor]:
        if self.mask is None:
            pre = torch.arange(self.n_pre).repeat_interleave(self.n_post)
            post = torch.arange(self.n_post).repeat(self.n_pre)
            return post, pre
        pre_i, post_i = torch.nonzero(self.mask.t().cpu(), as_tuple=True)
        return post_i, pre_i

    def weights(self) -> Tensor:
        """One weight per synapse ``[n_synapses]``, in the order of :attr:`pre_indices`."""
        w = self.weight
        if self.storage == "dense":
            post, pre = self._dense_pairs()
            return w[post.to(w.device), pre.to(w.device)]
        return w.expand(self._nnz) if w.dim() == 0 else w

    def delays(self) -> Tensor:
        """One delay per synapse in ms ``[n_synapses]`` (float64), in the order of :attr:`pre_indices`."""
        d = self.delay_steps
        if d.dim() == 0:
            return torch.full((self._nnz,), float(d) * self.dt, dtype=torch.float64)
        if self.storage == "dense":
            post, pre = self._dense_pairs()
            d = d[post.to(d.device), pre.to(d.device)]
        return d.to(torch.float64).cpu() * self.dt

    def to_dense(self) -> Tensor:
        """The weight matrix ``[n_post, n_pre]`` (multapses summed; zeros where no synapse)."""
        w = self.weight
        if self.storage == "dense":
            return w
        out = torch.zeros(self.n_post * self.n_pre, dtype=w.dtype, device=w.device)
        flat = self.post_indices * self.n_pre + self.pre_indices
        vals = w.expand(self._nnz) if w.dim() == 0 else w
        return out.index_add(0, flat.to(w.device), vals).reshape(self.n_post, self.n_pre)

    @property
    def nbytes(self) -> int:
        """Bytes that store the connectivity, weights and delays."""
        tensors: list[Tensor | None] = [self.delay_steps, self.mask]
        tensors.append(self.w if self.w_raw is None else self.w_raw)
        if self.storage == "sparse":
            tensors += [self.indptr, self.post_idx]
        return sum(t.numel() * t.element_size() for t in tensors if t is not None and t.dim() > 0)

    @property
    def bytes_per_synapse(self) -> float:
        """:attr:`nbytes` / :attr:`n_synapses` (the row pointer included)."""
        return self.nbytes / max(self._nnz, 1)

    # ------------------------------------------------------------------ learning
    @torch.no_grad()
    def apply_weight_update(self, dw: Tensor) -> None:
        """Add ``dw`` (shaped as :attr:`weight`) to the weights, keeping Dale's sign: weights of an
        excitatory (inhibitory) source are clipped at 0 from below (above).

        Raises:
            ParameterError: the projection is learnable (use an optimizer) or has a shared
                scalar weight (connect with a per-synapse weight to make it plastic).
            ShapeError: ``dw`` does not have the shape of :attr:`weight`.
        """
        if self.w_raw is not None:
            raise ParameterError(
                "apply_weight_update is for non-learnable projections; a learnable one is updated by "
                "its optimizer"
            )
        assert self.w is not None
        if self.w.dim() == 0:
            raise ParameterError(
                f"projection {self.name!r} has one shared weight; connect it with a per-synapse weight "
                f"(a tensor or distribution) to make it plastic"
            )
        if tuple(dw.shape) != tuple(self.w.shape):
            raise ShapeError(
                f"dw must have the shape of the weights {list(self.w.shape)}, got {list(dw.shape)}"
            )
        w = self.w + dw.to(self.w.dtype)
        if self.sign > 0:
            w = w.clamp_min(0.0)
        elif self.sign < 0:
            w = w.clamp_max(0.0)
        if self.mask is not None:
            w = w * self.mask
        self.w.copy_(w)

    @property
    def plastic(self) -> bool:
        """Whether the projection learns during ``Network.run`` (made with ``plasticity=``)."""
        return self.plasticity is not None

    def modulator_at(self, t: float) -> Any:
        """The modulator for the step at time ``t`` (ms): the callable's value, the constant, or
        None."""
        m = self.modulator
        return m(t) if callable(m) else m

    @torch.no_grad()
    def apply_plastic_update(self, dw: Tensor, *, inplace: bool = True, at: Tensor | None = None) -> None:
        """Add a rule's change ``dw`` ``[n_post, n_pre]`` (the dense layout the rule saw), or, for
        sparse storage, ``[n_synapses]`` (a rule that took ``synapses=``): within the rule's bounds
        (its ``apply_update``, else a plain sum), then Dale's sign (weights of an excitatory source
        stay >= 0, of an inhibitory one <= 0) and the mask (no weight appears where there is no
        synapse). Sparse storage takes a dense ``dw`` at its synapses only.

        ``inplace=False`` replaces the weight tensor instead of writing into it (the network does
        so while autograd may still need the old weights).
        """
        assert self.w is not None and self.w_raw is None
        if at is not None:  # the change of the synapses ``at`` only (sparse storage)
            self._apply_at(dw, at, inplace)
            return
        per_synapse = self.storage == "sparse" and tuple(dw.shape) == (self._nnz,)
        if tuple(dw.shape) != (self.n_post, self.n_pre) and not per_synapse:
            raise ShapeError(
                f"the plasticity rule of {self.name!r} returned dw of shape {list(dw.shape)}, expected "
                f"[n_post, n_pre] = [{self.n_post}, {self.n_pre}]"
                + (f" or [n_synapses] = [{self._nnz}]" if self.storage == "sparse" else "")
                + " (batch_reduce must not be 'none')"
            )
        dw = dw.to(dtype=self.w.dtype, device=self.w.device)
        if self.storage == "sparse" and not per_synapse:
            post, pre = self.post_indices.to(dw.device), self.pre_indices.to(dw.device)
            dw = dw[post, pre]
        rule = self.plasticity
        update = getattr(rule, "apply_update", None)
        w = update(self.w, dw) if callable(update) else self.w + dw
        if self.sign > 0:
            w = w.clamp_min(0.0)
        elif self.sign < 0:
            w = w.clamp_max(0.0)
        if self.mask is not None:
            w = w * self.mask
        w = w.to(self.w.dtype)
        if inplace:
            self.w.copy_(w)
        else:
            self.w = w

    def _apply_at(self, dw: Tensor, at: Tensor, inplace: bool) -> None:
        """:meth:`apply_plastic_update` of the synapses ``at`` (int64 ``[k]``) of sparse storage,
        ``dw`` ``[k]``; the other weights are left as they are (an event-driven rule's change is
        zero there)."""
        assert self.w is not None
        if self.storage != "sparse" or tuple(dw.shape) != tuple(at.shape):
            raise ShapeError(
                f"a change at given synapses needs sparse storage and one value per synapse; got "
                f"dw {list(dw.shape)} for {list(at.shape)} synapses of {self.storage} {self.name!r}"
            )
        w_at = self.w[at]
        update = getattr(self.plasticity, "apply_update", None)
        new = update(w_at, dw.to(w_at)) if callable(update) else w_at + dw.to(w_at)
        if self.sign > 0:
            new = new.clamp_min(0.0)
        elif self.sign < 0:
            new = new.clamp_max(0.0)
        new = new.to(self.w.dtype)
        if inplace:
            self.w.index_copy_(0, at, new)
        else:
            self.w = self.w.index_copy(0, at, new)

    # ------------------------------------------------------------------ kernel view
    def csr_arrays(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(indptr int64, post int32, weight [nnz] or [0], delay int16 [nnz] or [0])`` as numpy
        (CPU), the layout of the compiled kernel: views of the buffers for sparse storage, a
        conversion for dense storage (the network caches the result while the weights are
        unchanged)."""
        with torch.no_grad():
            w = self.weight.detach()
            if self.storage == "sparse":
                indptr = self.indptr.cpu().numpy()
                post = self.post_idx.cpu().numpy()
                wv = w.cpu().numpy().astype(dtype, copy=False) if w.dim() else np.zeros(0, dtype)
                d = self.delay_steps
                dv = d.cpu().numpy() if d.dim() else np.zeros(0, np.int16)
                return indptr, post, wv, dv
            post_i, pre_i = self._dense_pairs()
            counts = torch.bincount(pre_i, minlength=self.n_pre)
            indptr_t = torch.zeros(self.n_pre + 1, dtype=torch.int64)
            indptr_t[1:] = torch.cumsum(counts, 0)
            wv = w.cpu()[post_i, pre_i].numpy().astype(dtype)
            d = self.delay_steps
            dv = d.cpu()[post_i, pre_i].numpy() if d.dim() else np.zeros(0, np.int16)
            return indptr_t.numpy(), post_i.to(torch.int32).numpy(), wv, dv

    def shared_weight(self) -> float:
        """The one shared weight (only when :attr:`weight` is 0-d)."""
        return float(self.weight.detach())

    def shared_delay_steps(self) -> int:
        """The one shared delay in steps, or -1 when delays differ."""
        d = self.delay_steps
        return int(d) if d.dim() == 0 else -1

    def extra_repr(self) -> str:
        return (
            f"{self.pre!r} -> {self.post!r}, n_synapses={self._nnz}, synapse={self.synapse}, "
            f"storage={self.storage!r}, max_delay={self.max_delay_steps * self.dt:g} ms"
        )
