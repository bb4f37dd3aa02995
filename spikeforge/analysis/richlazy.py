r"""Rich versus lazy learning and the effective rank of the initial connectivity: a small
reproduction of "How connectivity structure shapes rich and lazy learning in neural circuits"
(Liu et al., ICLR 2024; ``papers.md`` section 12).

**Claim.** At equal Frobenius norm of the initial recurrent weights, a high effective rank makes
learning lazier (smaller weight, representation and tangent-kernel change) and a low rank makes it
richer, except when the low-rank structure is aligned with the task, which is lazy again.

**Network.** A leaky rate RNN of ``n`` units,

.. math::

    h_{t+1} = (1 - \alpha)\,h_t + \alpha\,\big(W \tanh(h_t) + W_{in} x_t\big),\qquad
    y = W_{out} \tanh(h_T),\qquad \alpha = \Delta t / \tau

trained by BPTT with plain SGD on all three weight matrices. With ``model="spiking"`` the units
are LIF neurons (:class:`spikeforge.neurons.LIF`, stepped, ``tau_mem = tau``, threshold 1, reset to
0, FastSigmoid surrogate) driven by the current :math:`W z_{t-1} + W_{in} x_t + b`, and the
activity is the spike train filtered with time constant ``tau`` (scaled to a rate of order 1):
:math:`a_t = e^{-\Delta t/\tau} a_{t-1} + (1 - e^{-\Delta t/\tau})(\tau/\Delta t)\,z_t`,
:math:`y = W_{out} a_T`. (This is the one place in :mod:`spikeforge.analysis` that uses a neuron
model; it is imported only when the spiking variant runs.)

**Task** (a delayed linear map): a random Gaussian cue :math:`c \in \mathbb{R}^d` is shown for
``cue_steps`` steps, then the input is 0; after ``steps`` steps the network must output
:math:`y^* = M c` with M a fixed random orthogonal :math:`d \times d` matrix. The leak forgets the
cue (:math:`(1-\alpha)^{T}` is about 1 % for the defaults), so the recurrent weights must hold it.

**Initial connectivity** (:func:`low_rank_init`): :math:`W_0 = \sum_{k \le r} u_k v_k^T` with
Gaussian :math:`u_k, v_k`, or iid Gaussian for "full" rank, rescaled to
:math:`\|W_0\|_F = g\sqrt{n}` (the norm of an iid matrix of variance :math:`g^2/n`, whose
spectral radius is g). The **aligned** initialisation takes its vectors from the task:
:math:`W_0 \propto W_{out}^T M W_{in}^T` (rank d), which already maps the input vectors to the
readout vectors the task asks for.

**Measurements** (:mod:`spikeforge.analysis.regime`), each at the first evaluation where the
probe loss is below ``target_loss`` (so every network is measured once it has learnt the task to
the same level; ``max_iters`` otherwise): relative change of W, representation change
:math:`1 - \mathrm{CKA}` of the hidden activity on probe trials (all steps), kernel distance of
the tangent kernel of the outputs with respect to all trained weights, layer rotation and the
effective rank of :math:`W_T - W_0`.

The tangent kernel is taken, as Liu et al.'s code does, with respect to the recurrent weights
only (``kernel_weights="all"`` adds ``W_in`` and ``W_out``); the SGD learning rate (0.04) is small
enough that the runs follow gradient flow (Liu et al. use 0.003 with momentum 0.9): with 0.1, a
few large first steps of the aligned runs, whose loss starts lower, inflated their kernel change.

**What reproduces** (``benchmarks/rich_lazy.py``, 16 held-out seeds): weight, representation and
kernel change fall as the rank rises (Spearman rho -0.9, -1, -1); the aligned start is lazy in
weight change (0.38 of full rank's) and in representation change (0.89, below every random low
rank), but **not in kernel distance**: there it is 1.8 times full rank's (1.3 on the tuning seeds
0-7; below random rank 1's). The aligned runs move their weights little but rotate their kernel
4.4 times more per unit of weight change than full-rank runs (2.7 against 0.6; the second
figure of the benchmark). The scale sweep shows the same split: full-rank runs with a larger
initial norm change their weights less (0.38, 0.14, 0.04 for g = 0.3, 0.6, 1.2) but their kernel
more (0.06, 0.08, 0.13). Our reading: in these tanh networks stopped at a fixed loss, the kernel
distance grows with how hard the units are driven, not only with richness. A low-rank start puts
the whole norm ``g sqrt(n)`` in a few directions (singular values ``g sqrt(n / r)``, 3 for the
aligned rank 4, against at most ``2 g`` for iid), so the units it drives work in the saturating
range of tanh, where the network Jacobian, and so the tangent kernel, turns steeply with the
weights. Liu et al.'s argument for the aligned exception is made for linear networks, which have
no such saturation.

All runs of a sweep train together, batched over (initialisation, seed), in float32 on the CPU.

Example:
    >>> from spikeforge.analysis.richlazy import RichLazyConfig, run_rich_lazy
    >>> sweep = run_rich_lazy(ranks=(1, None), seeds=(0,), config=RichLazyConfig(n=40, max_iters=20))
    >>> [r.label for r in sweep.results]
    ['rank 1', 'full', 'aligned']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor

from ..errors import ParameterError, ShapeError
from ._common import count, positive
from .connectivity import effective_rank
from .regime import kernel_distance, layer_rotation, relative_weight_change, representation_change

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "RichLazyConfig",
    "RichLazyResult",
    "RichLazySweep",
    "low_rank_init",
    "run_rich_lazy",
    "rich_lazy_sweep",
    "plot_rich_lazy",
    "rich_lazy_summary",
]

METRICS = ("weight_change", "representation_change", "kernel_distance")


def low_rank_init(
    n: int,
    rank: int | None,
    *,
    norm: float,
    generator: torch.Generator | None = None,
    u: Tensor | None = None,
    v: Tensor | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    r"""A recurrent weight matrix of a given rank and Frobenius norm.

    :math:`W_0 = c \sum_{k \le r} u_k v_k^T` with ``u, v`` ``[n, r]`` (Gaussian unless given), or an
    iid Gaussian matrix for ``rank=None`` ("full"), scaled by c so that :math:`\|W_0\|_F` = ``norm``.
    Gaussian factors give an effective rank close to r (slightly below: their singular values
    are unequal).

    Args:
        n: number of units.
        rank: r in ``1..n``, or None for full rank. Ignored when ``u`` and ``v`` are given.
        norm: Frobenius norm of the result (> 0); ``g * sqrt(n)`` matches an iid matrix of
            variance ``g**2 / n``.
        generator: random source for the Gaussian factors; default a fresh generator seeded
            with 0, so the result is deterministic (the global RNG is never used).
        u: optional left factors ``[n, r]`` (e.g. readout vectors: an aligned initialisation).
        v: optional right factors ``[n, r]`` (e.g. input vectors).
        dtype: floating dtype of the result.

    Returns:
        ``[n, n]`` tensor (``[post, pre]``).

    Raises:
        ParameterError: bad n, rank or norm; only one of u and v given; a zero matrix.
        ShapeError: u or v not ``[n, r]`` with the same r.

    Example:
        >>> import torch
        >>> from spikeforge.analysis import effective_rank
        >>> W = low_rank_init(200, 3, norm=10.0, generator=torch.Generator().manual_seed(0))
        >>> round(float(W.norm()), 4), round(effective_rank(W), 1)
        (10.0, 2.9)
    """
    n = count("n", n)
    scale = positive("norm", norm)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    if (u is None) != (v is None):
        raise ParameterError("give both u and v (the left and right factors), or neither")
    if u is not None and v is not None:
        if u.dim() != 2 or u.shape[0] != n or v.shape != u.shape:
            raise ShapeError(f"u and v must both be [n={n}, r], got {list(u.shape)} and {list(v.shape)}")
        w = u.to(dtype) @ v.to(dtype).T
    elif rank is None:
        w = torch.randn(n, n, generator=gen, dtype=dtype)
    else:
        r = count("rank", rank)
        if r > n:
            raise ParameterError(f"rank must be <= n={n} (or None for full rank), got {rank!r}")
        w = torch.randn(n, r, generator=gen, dtype=dtype) @ torch.randn(r, n, generator=gen, dtype=dtype)
    f = float(w.norm())
    if f == 0.0:
        raise ParameterError("u v^T is the zero matrix; it cannot be rescaled to the requested norm")
    return w * (scale / f)


@dataclass(frozen=True)
class RichLazyConfig:
    """Settings of the rich/lazy experiment (defaults: the reproduction in
    ``benchmarks/rich_lazy.py``). Times in ms.

    Attributes:
        n: hidden units.
        d: cue and output dimension (the aligned initialisation has rank d).
        steps: trial length T in steps of ``dt``.
        cue_steps: steps the cue is on.
        dt: step in ms.
        tau: unit time constant in ms (``alpha = dt / tau``).
        gain: g, the initial Frobenius norm is ``g * sqrt(n)``.
        readout_scale: ``W_out`` entries have standard deviation ``readout_scale / sqrt(n)``.
        lr: SGD learning rate.
        batch: trials per SGD step.
        max_iters: most SGD steps.
        target_loss: a run stops (and is measured) once its probe loss is below this.
        eval_every: SGD steps between probe evaluations.
        n_probe: probe trials for the loss and the representation.
        n_kernel: trials whose ``n_kernel * d`` outputs span the tangent kernel.
        model: ``"rate"`` (tanh units) or ``"spiking"`` (LIF units, surrogate gradients).
        task_seed: seed of the task map M and of the probe trials.
        bias: constant current added to every LIF unit (``model="spiking"`` only): above the
            threshold of 1 it keeps the units firing tonically, so the recurrence can hold the
            cue (``benchmarks/rich_lazy.py`` uses 1.2 with ``gain=2``).
        kernel_weights: the weights of the tangent kernel: ``"recurrent"`` (W only, as Liu et
            al. measure it) or ``"all"`` (W, ``W_in`` and ``W_out``).
    """

    n: int = 100
    d: int = 4
    steps: int = 20
    cue_steps: int = 5
    dt: float = 1.0
    tau: float = 5.0
    gain: float = 0.6
    readout_scale: float = 0.5
    lr: float = 0.04
    batch: int = 32
    max_iters: int = 600
    target_loss: float = 0.05
    eval_every: int = 2
    n_probe: int = 128
    n_kernel: int = 16
    model: Literal["rate", "spiking"] = "rate"
    task_seed: int = 77
    bias: float = 0.0
    kernel_weights: Literal["recurrent", "all"] = "recurrent"

    def __post_init__(self) -> None:
        ints = ("n", "d", "steps", "cue_steps", "batch", "max_iters", "eval_every", "n_probe", "n_kernel")
        for name in ints:
            count(name, getattr(self, name))
        for name in ("dt", "tau", "gain", "readout_scale", "lr", "target_loss"):
            positive(name, getattr(self, name))
        if self.cue_steps > self.steps:
            raise ParameterError(f"cue_steps must be <= steps={self.steps}, got {self.cue_steps}")
        if self.dt > self.tau:
            raise ParameterError(
                f"dt must be <= tau (alpha = dt/tau <= 1), got dt={self.dt} ms, tau={self.tau} ms"
            )
        if not math.isfinite(self.bias):
            raise ParameterError(f"bias must be finite, got {self.bias!r}")
        if self.model not in ("rate", "spiking"):
            raise ParameterError(f"model must be one of ['rate', 'spiking'], got {self.model!r}")
        if self.kernel_weights not in ("recurrent", "all"):
            raise ParameterError(
                f"kernel_weights must be one of ['recurrent', 'all'], got {self.kernel_weights!r}"
            )


@dataclass(frozen=True)
class RichLazyResult:
    """One trained network: its initialisation, how far it moved, and how well it learnt."""

    label: str  # "rank r", "full" or "aligned"
    rank: int | None  # nominal rank (None: full; d for aligned)
    aligned: bool
    seed: int
    initial_erank: float  # effective rank of W0 (participation ratio)
    weight_change: float  # ||W_T - W_0||_F / ||W_0||_F
    representation_change: float  # 1 - CKA(H_0, H_T)
    kernel_distance: float  # 1 - alignment(K_0, K_T)
    rotation: float  # 1 - cos(W_0, W_T)
    update_rank: float  # effective rank of W_T - W_0 (participation ratio)
    initial_loss: float
    final_loss: float
    iters: int  # SGD steps until the probe loss fell below target_loss (or max_iters)


@dataclass
class RichLazySweep:
    """All runs of a sweep, with summaries."""

    config: RichLazyConfig
    results: list[RichLazyResult] = field(default_factory=list)

    def labels(self) -> list[str]:
        """Initialisation labels in sweep order (unaligned by rank, then aligned)."""
        seen: dict[str, None] = {}
        for r in self.results:
            seen.setdefault(r.label, None)
        return list(seen)

    def values(self, label: str, metric: str) -> np.ndarray:
        """One metric (a :class:`RichLazyResult` field) over the seeds of one initialisation."""
        vals = [getattr(r, metric) for r in self.results if r.label == label]
        if not vals:
            raise ParameterError(f"no run labelled {label!r}; labels are {self.labels()}")
        return np.asarray(vals, dtype=np.float64)

    def mean(self, label: str, metric: str) -> float:
        """Seed average of a metric."""
        return float(self.values(label, metric).mean())

    def spearman(self, metric: str) -> float:
        """Spearman rho between the nominal rank (full = n) of the unaligned initialisations and
        the seed-averaged metric: close to -1 when learning gets lazier as the rank grows."""
        from scipy.stats import spearmanr

        ranks, means = [], []
        for label in self.labels():
            runs = [r for r in self.results if r.label == label and not r.aligned]
            if runs:
                ranks.append(self.config.n if runs[0].rank is None else runs[0].rank)
                means.append(self.mean(label, metric))
        if len(ranks) < 3:
            raise ParameterError("spearman needs at least 3 unaligned initialisations")
        return float(spearmanr(ranks, means).statistic)

    def aligned_ratio(self, metric: str) -> float:
        """Seed-averaged metric of the aligned initialisation over that of full rank (<= 1.2:
        the aligned low-rank start is about as lazy as full rank, or lazier)."""
        return self.mean("aligned", metric) / self.mean("full", metric)

    def table(self) -> str:
        """A plain-text table: mean ± std over seeds per initialisation, then the Spearman rhos."""
        head = (
            f"{'init':>9} {'erank0':>7} {'weight change':>15} {'repr change':>15} {'kernel dist':>15} "
            f"{'rotation':>9} {'upd rank':>8} {'loss0':>6} {'lossT':>6} {'iters':>5}"
        )
        lines = [head, "-" * len(head)]
        for label in self.labels():

            def ms(metric: str, fmt: str = ".3f", lab: str = label) -> str:
                v = self.values(lab, metric)
                return f"{v.mean():{fmt}}±{v.std():{fmt}}"

            lines.append(
                f"{label:>9} {self.mean(label, 'initial_erank'):7.1f} {ms('weight_change'):>15} "
                f"{ms('representation_change'):>15} {ms('kernel_distance'):>15} "
                f"{self.mean(label, 'rotation'):9.4f} {self.mean(label, 'update_rank'):8.2f} "
                f"{self.mean(label, 'initial_loss'):6.3f} {self.mean(label, 'final_loss'):6.3f} "
                f"{self.mean(label, 'iters'):5.0f}"
            )
        unaligned = {r.label for r in self.results if not r.aligned}
        if len(unaligned) >= 3:
            rhos = ", ".join(f"{m} {self.spearman(m):+.2f}" for m in METRICS)
            lines.append(f"Spearman rho (metric vs rank): {rhos}")
        if "aligned" in self.labels() and "full" in self.labels():
            ratios = ", ".join(f"{m} {self.aligned_ratio(m):.2f}" for m in METRICS)
            lines.append(f"aligned / full rank: {ratios}")
        return "\n".join(lines)

    def as_dicts(self) -> list[dict[str, Any]]:
        """The results as plain dicts (for JSON or pandas)."""
        return [asdict(r) for r in self.results]


# ---------------------------------------------------------------------------------------------
# the batched experiment


class _Task:
    """Cue ``[T, B, d]`` and target ``M c`` ``[B, d]`` of the delayed linear map."""

    def __init__(self, cfg: RichLazyConfig) -> None:
        gen = torch.Generator().manual_seed(cfg.task_seed)
        self.cfg = cfg
        self.M = torch.linalg.qr(torch.randn(cfg.d, cfg.d, generator=gen))[0]

    def sample(self, batch: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        c = torch.randn(batch, self.cfg.d, generator=gen)
        x = torch.zeros(self.cfg.steps, batch, self.cfg.d)
        x[: self.cfg.cue_steps] = c
        return x, c @ self.M.T


class _Batch:
    """C networks trained side by side: recurrent ``W [C, n, n]``, ``W_in [C, n, d]``,
    ``W_out [C, d, n]``."""

    def __init__(self, cfg: RichLazyConfig, W: Tensor, W_in: Tensor, W_out: Tensor) -> None:
        self.cfg = cfg
        self.alpha = cfg.dt / cfg.tau
        self.W = W.clone().requires_grad_(True)
        self.W_in = W_in.clone().requires_grad_(True)
        self.W_out = W_out.clone().requires_grad_(True)
        self.lif: Any = None
        if cfg.model == "spiking":
            # imported here: only the spiking variant of this experiment needs a neuron model
            from ..neurons.lif import LIF

            self.lif = LIF(cfg.n, tau_mem=cfg.tau, v_th=1.0, dt=cfg.dt)

    def params(self) -> list[Tensor]:
        return [self.W, self.W_in, self.W_out]

    def run(self, x: Tensor, W: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Outputs ``[C, B, d]`` and activity ``[C, T, B, n]`` for cues ``x``: ``[T, B, d]`` shared
        by all networks, or ``[T, C, B, d]`` one batch per network."""
        W = self.W if W is None else W
        C, n = W.shape[0], self.cfg.n
        if x.dim() == 3:
            drive_in = torch.einsum("tbd,cnd->tcbn", x, self.W_in)
        else:
            drive_in = torch.einsum("tcbd,cnd->tcbn", x, self.W_in)
        batch = drive_in.shape[2]
        acts = []
        if self.lif is None:
            h = torch.zeros(C, batch, n)
            for t in range(x.shape[0]):
                r = torch.tanh(h)
                h = (1 - self.alpha) * h + self.alpha * (torch.bmm(r, W.transpose(1, 2)) + drive_in[t])
                acts.append(torch.tanh(h))
        else:
            state = self.lif.init_state((C, batch))
            z = torch.zeros(C, batch, n)
            trace = torch.zeros(C, batch, n)
            decay = math.exp(-self.cfg.dt / self.cfg.tau)
            for t in range(x.shape[0]):
                z, state = self.lif.step(torch.bmm(z, W.transpose(1, 2)) + drive_in[t] + self.cfg.bias, state)
                trace = decay * trace + (1 - decay) * z * (self.cfg.tau / self.cfg.dt)
                acts.append(trace)
        H = torch.stack(acts, 1)
        return torch.einsum("cbn,cdn->cbd", H[:, -1], self.W_out), H

    def loss(self, x: Tensor, y: Tensor, W: Tensor | None = None) -> Tensor:
        """Mean squared error per network ``[C]``."""
        out, _ = self.run(x, W)
        return ((out - y) ** 2).mean(dim=(1, 2))

    def kernels(self, x: Tensor) -> Tensor:
        """Tangent kernels of the outputs w.r.t. the recurrent weights (or all trained weights, as
        ``cfg.kernel_weights`` says), ``[C, M, M]``, ``M = B * d``."""
        saved = (self.W, self.W_in, self.W_out)
        self.W, self.W_in, self.W_out = (p.detach().clone().requires_grad_(True) for p in saved)
        try:
            out, _ = self.run(x)
            flat = out.reshape(out.shape[0], -1)
            rows = []
            for m in range(flat.shape[1]):
                wrt = [self.W] if self.cfg.kernel_weights == "recurrent" else self.params()
                grads = torch.autograd.grad(flat[:, m].sum(), wrt, retain_graph=True)
                rows.append(torch.cat([g.reshape(g.shape[0], -1) for g in grads], 1))
        finally:
            self.W, self.W_in, self.W_out = saved
        J = torch.stack(rows, 1).double()
        return J @ J.transpose(1, 2)


def run_rich_lazy(
    ranks: Sequence[int | None] = (1, 2, 5, 20, None),
    seeds: Iterable[int] = range(4),
    config: RichLazyConfig | None = None,
    *,
    aligned: bool = True,
) -> RichLazySweep:
    """Train one network per (initialisation, seed) and measure how far each moved.

    Every seed fixes ``W_in``, ``W_out`` and the Gaussian factors, so the initialisations of one
    seed differ only in their recurrent structure; all runs see the same training trials.

    Args:
        ranks: nominal ranks of the unaligned initialisations; None is full rank (iid).
        seeds: seeds of the networks (and of their training trials).
        config: experiment settings (default :class:`RichLazyConfig`).
        aligned: also run the task-aligned rank-d initialisation.

    Returns:
        :class:`RichLazySweep` with one :class:`RichLazyResult` per run.

    Raises:
        ParameterError: no rank or no seed, a rank above n.

    Example:
        >>> sweep = run_rich_lazy(ranks=(2,), seeds=(0,), config=RichLazyConfig(n=30, max_iters=10),
        ...                       aligned=False)
        >>> sweep.results[0].label, sweep.results[0].weight_change > 0
        ('rank 2', True)
    """
    cfg = config if config is not None else RichLazyConfig()
    seed_list = [int(s) for s in seeds]
    rank_list = list(ranks)
    if not seed_list or not (rank_list or aligned):
        raise ParameterError("run_rich_lazy needs at least one seed and one initialisation")
    for r in rank_list:
        if r is not None and (isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= cfg.n):
            raise ParameterError(f"ranks must hold ints in 1..n={cfg.n} or None (full), got {r!r}")
    task = _Task(cfg)
    n, d = cfg.n, cfg.d
    norm = cfg.gain * math.sqrt(n)
    inits: list[tuple[str, int | None, bool]] = [
        ("full" if r is None else f"rank {r}", r, False) for r in rank_list
    ]
    if aligned:
        inits.append(("aligned", d, True))
    Ws, W_ins, W_outs, meta = [], [], [], []
    for label, rank, is_aligned in inits:
        for seed in seed_list:
            gen = torch.Generator().manual_seed(seed)
            W_in = torch.randn(n, d, generator=gen)
            W_out = torch.randn(d, n, generator=gen) * (cfg.readout_scale / math.sqrt(n))
            if is_aligned:
                W0 = low_rank_init(n, None, norm=norm, u=W_out.T @ task.M, v=W_in)
            else:
                W0 = low_rank_init(n, rank, norm=norm, generator=gen)
            Ws.append(W0)
            W_ins.append(W_in)
            W_outs.append(W_out)
            meta.append((label, rank, is_aligned, seed))
    net = _Batch(cfg, torch.stack(Ws), torch.stack(W_ins), torch.stack(W_outs))
    W0s = net.W.detach().clone()
    C = W0s.shape[0]

    probe_x, probe_y = task.sample(cfg.n_probe, torch.Generator().manual_seed(cfg.task_seed + 1))
    kernel_x, _ = task.sample(cfg.n_kernel, torch.Generator().manual_seed(cfg.task_seed + 2))
    with torch.no_grad():
        out0, H0 = net.run(probe_x)
        loss0 = ((out0 - probe_y) ** 2).mean(dim=(1, 2))
    K0 = net.kernels(kernel_x)

    # one generator per seed, so a run's trials do not depend on the other runs in the batch
    gens = {s: torch.Generator().manual_seed(10_000 + s) for s in seed_list}
    opt = torch.optim.SGD(net.params(), lr=cfg.lr)
    done = torch.zeros(C, dtype=torch.bool)
    iters = torch.full((C,), cfg.max_iters, dtype=torch.int64)
    for it in range(cfg.max_iters + 1):
        if it % cfg.eval_every == 0 or it == cfg.max_iters:
            with torch.no_grad():
                probe_loss = net.loss(probe_x, probe_y)
            new = (probe_loss < cfg.target_loss) & ~done
            iters[new] = it
            done |= new
            if bool(done.all()) or it == cfg.max_iters:
                break
        draws = {s: task.sample(cfg.batch, g) for s, g in gens.items()}
        x = torch.stack([draws[m[3]][0] for m in meta], 1)  # [T, C, B, d]
        y = torch.stack([draws[m[3]][1] for m in meta])  # [C, B, d]
        opt.zero_grad()
        net.loss(x, y).sum().backward()  # the networks are independent: each gets its own gradient
        for p in net.params():
            if p.grad is not None:
                p.grad[done] = 0.0  # a network that reached the target stops learning
        opt.step()

    with torch.no_grad():
        outT, HT = net.run(probe_x)
        lossT = ((outT - probe_y) ** 2).mean(dim=(1, 2))
    KT = net.kernels(kernel_x)
    WT = net.W.detach()
    sweep = RichLazySweep(cfg)
    for c, (label, rank, is_aligned, seed) in enumerate(meta):
        w0, wt = W0s[c].double().numpy(), WT[c].double().numpy()
        h0 = H0[c].reshape(-1, n).double().numpy()
        ht = HT[c].reshape(-1, n).double().numpy()
        changed = bool((wt != w0).any())
        sweep.results.append(
            RichLazyResult(
                label=label,
                rank=rank,
                aligned=is_aligned,
                seed=seed,
                initial_erank=effective_rank(w0),
                weight_change=relative_weight_change(w0, wt),
                representation_change=representation_change(h0, ht),
                kernel_distance=kernel_distance(K0[c].numpy(), KT[c].numpy()),
                rotation=layer_rotation(w0, wt),
                update_rank=effective_rank(wt - w0) if changed else 0.0,
                initial_loss=float(loss0[c]),
                final_loss=float(lossT[c]),
                iters=int(iters[c]),
            )
        )
    return sweep


def plot_rich_lazy(sweep: RichLazySweep, *, fig: Figure | None = None) -> Figure:
    """Laziness against rank: weight change, representation change and kernel distance (seed mean
    ± standard deviation) of the unaligned initialisations against their nominal rank (log axis,
    full rank at n), with the aligned initialisation as a separate marker at its rank d.

    Args:
        sweep: the output of :func:`run_rich_lazy`.
        fig: a figure to draw on (default: a new 3-panel figure).

    Returns:
        The figure.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> sweep = run_rich_lazy(ranks=(1, 2, None), seeds=(0,), config=RichLazyConfig(n=30, max_iters=5))
        >>> len(plot_rich_lazy(sweep).axes)
        3
    """
    import matplotlib.pyplot as plt

    if fig is None:
        fig = plt.figure(figsize=(11, 3.4))
    axes = fig.subplots(1, len(METRICS)) if not fig.axes else fig.axes
    titles = {
        "weight_change": "weight change ‖ΔW‖/‖W₀‖",
        "representation_change": "representation change 1 − CKA",
        "kernel_distance": "tangent-kernel distance",
    }
    n = sweep.config.n
    unaligned = [lab for lab in sweep.labels() if lab != "aligned"]
    xs = [n if lab == "full" else int(lab.split()[1]) for lab in unaligned]
    for ax, metric in zip(axes, METRICS):
        means = [sweep.mean(lab, metric) for lab in unaligned]
        stds = [float(sweep.values(lab, metric).std()) for lab in unaligned]
        ax.errorbar(xs, means, yerr=stds, marker="o", color="k", capsize=3, label="random low rank")
        if "aligned" in sweep.labels():
            v = sweep.values("aligned", metric)
            ax.errorbar([sweep.config.d], [v.mean()], yerr=[v.std()], marker="*", ms=12, color="C3",
                        capsize=3, ls="none", label="aligned with the task")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xticks(xs, [("full" if x == n else str(x)) for x in xs])
        ax.minorticks_off()
        ax.set_xlabel("rank of W₀ (same Frobenius norm)")
        ax.set_title(titles[metric], fontsize=10)
        ax.set_ylim(bottom=0.0)
    axes[0].set_ylabel("change (seed mean ± sd)")
    axes[0].legend(frameon=False, fontsize=8)
    fig.suptitle(rich_lazy_summary(sweep), fontsize=9)
    fig.tight_layout()
    return fig


def rich_lazy_summary(sweep: RichLazySweep) -> str:
    """What the sweep's own numbers show, in words: how many runs reached the target loss, whether
    weight and representation change fall as the rank rises (Spearman rho <= -0.8 over the seed
    means, the criterion of ``benchmarks/rich_lazy.py``) and the aligned / full-rank ratio of the
    weight change (<= 1.2: as lazy as full rank or lazier). The title of :func:`plot_rich_lazy`.

    Example:
        >>> sweep = run_rich_lazy(ranks=(1, 2, None), seeds=(0,), config=RichLazyConfig(n=30, max_iters=5))
        >>> rich_lazy_summary(sweep).splitlines()[0]
        'rate RNN, 1 seed: 0/4 runs reached the target loss 0.05 in 5 steps (training stopped short)'
    """
    cfg = sweep.config
    seeds = len({r.seed for r in sweep.results})
    reached = sum(r.final_loss <= cfg.target_loss for r in sweep.results)
    total = len(sweep.results)
    model = "spiking (LIF) RNN" if cfg.model == "spiking" else "rate RNN"
    line1 = (
        f"{model}, {seeds} seed{'s' if seeds != 1 else ''}: {reached}/{total} runs reached the target loss "
        f"{cfg.target_loss:g} in {cfg.max_iters} steps"
        + (" (training stopped short)" if reached < total else "")
    )
    words = {"weight_change": "weight change", "representation_change": "representation change"}
    lines = [line1]
    unaligned = {r.label for r in sweep.results if not r.aligned}
    if len(unaligned) >= 3:
        parts = []
        for metric, name in words.items():
            rho = sweep.spearman(metric)
            verb = "falls as the rank rises" if rho <= -0.8 else "does not fall steadily with rank"
            parts.append(f"{name} {verb} (rho = {rho:+.2f})")
        lines.append("; ".join(parts))
    labels = sweep.labels()
    if "aligned" in labels and "full" in labels:
        ratio = sweep.aligned_ratio("weight_change")
        lazy = "as lazy as full rank or lazier" if ratio <= 1.2 else "richer than full rank"
        lines.append(f"aligned start {lazy} in weight change ({ratio:.2f}x full rank's)")
    return "\n".join(lines)


def rich_lazy_sweep(
    ranks: Sequence[int | None] = (1, 2, 5, 20, None),
    seeds: Iterable[int] = range(8),
    config: RichLazyConfig | None = None,
    *,
    figure: bool = True,
) -> tuple[RichLazySweep, Figure | None]:
    """The rich/lazy sweep over ranks {1, 2, 5, 20, full} x seeds plus the aligned initialisation,
    and its figure (:func:`plot_rich_lazy`).

    Args:
        ranks: nominal ranks; None is full rank.
        seeds: network seeds to average over.
        config: experiment settings (default :class:`RichLazyConfig`).
        figure: also draw the figure (needs matplotlib).

    Returns:
        ``(sweep, fig)``; ``fig`` is None without ``figure``. ``sweep.table()`` prints the summary,
        ``sweep.spearman(metric)`` and ``sweep.aligned_ratio(metric)`` give the pass criteria.

    Example:
        >>> cfg = RichLazyConfig(n=30, max_iters=5)
        >>> sweep, fig = rich_lazy_sweep(ranks=(1, None), seeds=(0,), config=cfg, figure=False)
        >>> sweep.labels(), fig is None
        (['rank 1', 'full', 'aligned'], True)
    """
    sweep = run_rich_lazy(ranks, seeds, config, aligned=True)
    return sweep, (plot_rich_lazy(sweep) if figure else None)
