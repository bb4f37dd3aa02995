r"""LIF with membrane-potential batch normalization (MPBN; Guo et al., ICCV 2023).

A second batch norm just before the threshold: the LIF membrane :math:`v` is normalized, per
neuron (element-wise), and the spike tests the normalized value against the threshold
:math:`\theta` (the LIF's ``v_th``):

.. math::

    \hat y = \gamma\,\frac{v - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta, \qquad
    z = H(\hat y - \theta)

Everything else is :func:`~spikeforge.neurons.lif.lif_step`: the step is ``lif_step`` with the
spike function replaced by the normalized test, so the order of operations is LIF's (current,
membrane, refractory hold, spike, reset). **The reset acts on the raw membrane** :math:`v` (to
``v_reset``), and the state carries the raw :math:`v`; :math:`\hat y` only feeds the spike test.
This is the paper's formulation (the BN output enters the firing function, the membrane recursion
keeps :math:`u`), and it is what makes folding exact: for :math:`\gamma > 0`,

.. math::

    \hat y > \theta \iff v > \theta' = \mu + (\theta - \beta)\,\frac{\sqrt{\sigma^2 + \epsilon}}{\gamma},

so :meth:`MPBNLIF.fold` returns a plain :class:`~spikeforge.neurons.LIF` with the per-neuron
threshold :math:`\theta'` that spikes identically in eval mode. (The public reference code, a
spikingjelly ``MPBNBaseNode``, writes the normalized value back into the membrane instead, so its
later dynamics integrate :math:`\hat y`; its threshold folding then needs a "normalize residual"
correction and is not exact. We follow the paper's equations.) With :math:`\gamma \le 0` the
inequality flips or vanishes, and folding refuses with an error naming the neuron.

Spikes use spikeforge's convention :math:`\hat y > \theta` (strict, as LIF, NIR and Loihi); the
paper writes :math:`\ge`, which differs only on a set of measure zero.

**Statistics.** In training mode (``module.train()``) each step is normalized with the batch
statistics of that step (mean and biased variance over the batch dimensions, per neuron): a step
cannot see later steps, so statistics over time are not available causally. The running
statistics used in eval mode are updated once per call, like ``nn.BatchNorm1d``, from the
statistics pooled over batch and time (mean, and unbiased variance, of all ``B*T`` membrane
values), with ``momentum`` (``None``: cumulative average). Training needs more than one sample
per neuron (a batch of 1 has no variance). In eval mode the running statistics are used and
nothing is updated.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from .._checks import ParamLike, as_param
from ..errors import ParameterError, ShapeError, UnsupportedExportError
from ..surrogate import Surrogate
from .base import ScanResult
from .lif import (
    DEFAULT_SURROGATE,
    LIF,
    Integrator,
    LIFParams,
    LIFState,
    SpikeFn,
    _LIFModule,
    _short,
    lif_init_state,
    lif_step,
)

__all__ = ["MPBNLIF", "MPBNParams", "mpbn_lif_step", "mpbn_init_state", "mpbn_threshold"]


class MPBNParams(NamedTuple):
    """MPBN LIF parameters: LIF's (its ``v_th`` is the threshold :math:`\\theta` on the normalized
    membrane) and the batch norm's, each broadcastable to the population shape."""

    lif: LIFParams
    gamma: Tensor  # scale of the normalized membrane
    beta: Tensor  # shift of the normalized membrane
    mean: Tensor  # running mean of v (used without batch statistics)
    var: Tensor  # running variance of v
    eps: float


def mpbn_init_state(
    batch_shape: tuple[int, ...],
    params: MPBNParams,
    shape: tuple[int, ...],
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> LIFState:
    """The resting state, as :func:`~spikeforge.neurons.lif.lif_init_state`."""
    return lif_init_state(batch_shape, params.lif, shape, dtype=dtype, device=device)


def mpbn_lif_step(
    x: Tensor,
    state: LIFState,
    params: MPBNParams,
    *,
    dt: float,
    batch_stats: bool,
    spike_fn: SpikeFn = DEFAULT_SURROGATE,
    integrator: Integrator = "exact",
    detach_reset: bool = True,
) -> tuple[Tensor, LIFState, tuple[Tensor, Tensor]]:
    r"""One LIF step whose spike tests the batch-normalized membrane (module docstring).

    Args:
        x: input ``[*batch, *shape]``.
        state: the state before the step (raw membrane).
        params: :class:`MPBNParams`; ``params.gamma`` has the population shape, which fixes how
            many trailing dimensions of ``x`` are neurons.
        dt: step in ms.
        batch_stats: normalize with this step's batch mean and biased variance (training), or with
            ``params.mean`` and ``params.var`` (inference).
        spike_fn: spike nonlinearity with its surrogate gradient, applied to
            :math:`\hat y - \theta`.
        integrator: ``"exact"`` or ``"euler"``.
        detach_reset: as in :func:`~spikeforge.neurons.lif.lif_step`.

    Returns:
        ``(z, new_state, (mean, var))``: spikes, the state after the reset (to ``v_reset``, on the
        raw membrane) and the statistics the step normalized with (biased variance when
        ``batch_stats``).
    """
    n_neuron_dims = params.gamma.dim()
    theta = params.lif.v_th
    used: list[tuple[Tensor, Tensor]] = []

    def normalized_spike(v: Tensor) -> Tensor:
        # lif_step calls spike_fn(v - v_th); with v_th = 0 below, this is the raw membrane v
        if batch_stats:
            dims = tuple(range(v.dim() - n_neuron_dims))
            mean = v.mean(dim=dims)
            var = v.var(dim=dims, unbiased=False)
        else:
            mean, var = params.mean, params.var
        used.append((mean, var))
        y = params.gamma * (v - mean) / torch.sqrt(var + params.eps) + params.beta
        return spike_fn(y - theta)

    raw = params.lif._replace(v_th=torch.zeros_like(theta))
    z, new_state = lif_step(
        x,
        state,
        raw,
        dt=dt,
        spike_fn=normalized_spike,
        reset="to_value",
        integrator=integrator,
        detach_reset=detach_reset,
    )
    return z, new_state, used[0]


def mpbn_threshold(
    theta: Tensor, gamma: Tensor, beta: Tensor, mean: Tensor, var: Tensor, eps: float
) -> Tensor:
    r"""The folded raw-membrane threshold, computed in float64 (valid where :math:`\gamma > 0`):
    :math:`\theta' = \mu + (\theta - \beta)\sqrt{\sigma^2+\epsilon}/\gamma`."""
    f = [t.detach().to(torch.float64) for t in (theta, gamma, beta, mean, var)]
    return f[3] + (f[0] - f[2]) * torch.sqrt(f[4] + eps) / f[1]


class MPBNLIF(_LIFModule):
    r"""LIF neurons whose spike tests the batch-normalized membrane (MPBN), foldable into LIF.

    .. math::

        \hat y = \gamma\,\frac{v - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta, \qquad
        z = H(\hat y - v_{th})

    with :math:`v` the LIF membrane (:class:`~spikeforge.neurons.LIF`'s dynamics and arguments)
    and one :math:`\gamma, \beta, \mu, \sigma^2` per neuron. See :mod:`spikeforge.neurons.mpbn`
    for the ordering (reset on the raw membrane) and the statistics. After training, :meth:`fold`
    (or :func:`spikeforge.hardware.fold_mpbn` for a whole model) gives a plain LIF with a
    per-neuron threshold that spikes identically in eval mode; :func:`spikeforge.hardware.to_nir`
    folds automatically.

    Not a subclass of :class:`~spikeforge.neurons.LIF`: code that handles LIF (NIR export, the
    circuit kernel) must not take it for one without folding.

    Args:
        n: number of neurons, or a shape such as ``(C, H, W)`` (statistics are element-wise).
        tau_mem, tau_syn, v_reset, v_leak, r, t_ref, dt, integrator, surrogate, learnable,
            detach_reset: as for :class:`~spikeforge.neurons.LIF`.
        v_th: the threshold :math:`\theta` on the normalized membrane.
        momentum: running-statistics momentum (as ``nn.BatchNorm1d``), in (0, 1], or None for a
            cumulative average.
        eps: added to the variance (> 0).
        affine: learn :math:`\gamma` (init 1) and :math:`\beta` (init 0); otherwise they are
            fixed buffers.

    Shape:
        as :class:`~spikeforge.neurons.LIF`. Training mode needs a batch of more than one sample.

    Raises:
        ParameterError: LIF's parameter errors, a bad ``momentum`` or ``eps``.
        ShapeError: a wrong input shape, or a training-mode call with one sample per neuron.

    Example:
        >>> import torch, spikeforge as sf
        >>> g = torch.Generator().manual_seed(0)
        >>> layer = sf.neurons.MPBNLIF(4, tau_mem=10.0)
        >>> _ = layer(2 * torch.rand(30, 8, 4, generator=g))  # train mode: updates running stats
        >>> layer = layer.eval().double()
        >>> x = 2 * torch.rand(30, 8, 4, generator=g, dtype=torch.float64)
        >>> folded = layer.fold()                               # a plain LIF, per-neuron v_th
        >>> z = layer(x)[0]
        >>> bool(z.sum() > 0), bool(torch.equal(z, folded(x)[0]))
        (True, True)
    """

    _learnable_allowed = ("tau_mem", "tau_syn", "v_th", "v_leak", "v_reset", "r")
    _init_fn = staticmethod(mpbn_init_state)

    running_mean: Tensor
    running_var: Tensor
    num_batches_tracked: Tensor

    def __init__(
        self,
        n: int | tuple[int, ...],
        tau_mem: ParamLike = 20.0,
        tau_syn: ParamLike | None = None,
        v_th: ParamLike = 1.0,
        v_reset: ParamLike = 0.0,
        v_leak: ParamLike = 0.0,
        r: ParamLike = 1.0,
        t_ref: ParamLike = 0.0,
        dt: float = 1.0,
        integrator: Integrator = "exact",
        surrogate: Surrogate | SpikeFn | None = None,
        learnable: Collection[str] = (),
        detach_reset: bool = True,
        momentum: float | None = 0.1,
        eps: float = 1e-5,
        affine: bool = True,
    ) -> None:
        super().__init__(n, dt=dt, learnable=learnable)
        theta, reset = as_param("v_th", v_th, self.shape), as_param("v_reset", v_reset, self.shape)
        if not bool((reset < theta).all()):  # LIF's check, whose message would mislead here
            raise ParameterError(
                f"MPBNLIF needs v_reset < v_th, got v_reset={v_reset!r} and v_th={v_th!r}: v_th is the "
                "threshold theta on the normalized membrane, v_reset the raw membrane's reset value, and "
                "theta is kept above v_reset (a learnable v_th is stored as v_reset + softplus); for a "
                "lower theta lower v_reset too, e.g. v_reset=v_th - 1"
            )
        self._setup_lif(
            tau_mem=tau_mem,
            tau_syn=tau_syn,
            v_th=v_th,
            v_reset=v_reset,
            v_leak=v_leak,
            r=r,
            t_ref=t_ref,
            reset="to_value",
            integrator=integrator,
            surrogate=surrogate,
            detach_reset=detach_reset,
        )
        if momentum is not None and (
            isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0.0 < momentum <= 1.0
        ):
            raise ParameterError(f"momentum must be in (0, 1] or None, got {momentum!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (math.isfinite(eps) and eps > 0):
            raise ParameterError(f"eps must be a finite number > 0, got {eps!r}")
        self.momentum = None if momentum is None else float(momentum)
        self.eps = float(eps)
        self.affine = bool(affine)
        dtype = self.v_leak.dtype
        ones = torch.ones(self.shape, dtype=dtype)
        zeros = torch.zeros(self.shape, dtype=dtype)
        if self.affine:
            self.gamma = nn.Parameter(ones.clone())
            self.beta = nn.Parameter(zeros.clone())
        else:
            self.register_buffer("gamma", ones.clone())
            self.register_buffer("beta", zeros.clone())
        self.register_buffer("running_mean", zeros.clone())
        self.register_buffer("running_var", ones.clone())
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    # ------------------------------------------------------------------ parameters
    def params(self, dtype: torch.dtype | None = None) -> MPBNParams:
        """LIF's parameters plus the normalization (the running statistics)."""
        get = self._get
        return MPBNParams(
            self._lif_params(dtype),
            get("gamma", dtype),
            get("beta", dtype),
            get("running_mean", dtype),
            get("running_var", dtype),
            self.eps,
        )

    # ------------------------------------------------------------------ running
    def _run(self, x: Tensor, state: Any, *, record: bool, sequence: bool) -> ScanResult:
        x = self._check_input(x, sequence=sequence)
        first = 1 if sequence else 0
        batch_shape = tuple(x.shape[first : x.dim() - len(self.shape)])
        state = self._prepare(x, state, batch_shape)
        batch_stats = self.training
        if batch_stats and math.prod(batch_shape) < 2:
            raise ShapeError(
                f"MPBNLIF in training mode normalizes over the batch and needs more than one sample per "
                f"neuron, got batch shape {list(batch_shape)}; use a larger batch or call .eval()"
            )
        params = self.params(x.dtype)
        kw: dict[str, Any] = dict(
            dt=self.dt,
            batch_stats=batch_stats,
            spike_fn=self.surrogate,
            integrator=self.integrator,
            detach_reset=self.detach_reset,
        )
        steps = x if sequence else x.unsqueeze(0)
        outs, states, means, variances = [], [], [], []
        for t in range(steps.shape[0]):
            z, state, (mean, var) = mpbn_lif_step(steps[t], state, params, **kw)
            outs.append(z)
            if record:
                states.append(state)
            if batch_stats:
                means.append(mean.detach())
                variances.append(var.detach())
        if batch_stats:
            self._update_running(torch.stack(means), torch.stack(variances), math.prod(batch_shape))
        out = torch.stack(outs) if sequence else outs[0]
        trace = LIFState(*(torch.stack(f) for f in zip(*states))) if record else None
        return ScanResult(out, state, trace)

    @torch.no_grad()
    def _update_running(self, means: Tensor, variances: Tensor, batch: int) -> None:
        """Pool the per-step batch statistics over time and fold them into the running ones."""
        n = means.shape[0] * batch
        mean = means.mean(0)
        var = variances.mean(0) + means.var(0, unbiased=False)  # biased, over batch and time
        var = var * (n / (n - 1))
        self.num_batches_tracked += 1
        m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), m)
        self.running_var.lerp_(var.to(self.running_var.dtype), m)

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, LIFState]:
        """One step: ``x`` is ``[*batch, *shape]``; returns ``(spikes, state)`` (in training mode
        the running statistics are updated from this step alone)."""
        res = self._run(x, state, record=False, sequence=False)
        return res.output, res.state

    def scan(self, x: Tensor, state: Any = None, *, record: bool = False) -> ScanResult:
        """Run over ``x`` of shape ``[T, *batch, *shape]``; the trace (``record=True``) is an
        :class:`~spikeforge.neurons.LIFState` of the raw membrane after reset."""
        return self._run(x, state, record=record, sequence=True)

    # ------------------------------------------------------------------ folding
    def folded_threshold(self) -> Tensor:
        r"""The per-neuron raw threshold :math:`\theta'` (float64, population shape).

        Raises:
            UnsupportedExportError: some :math:`\gamma \le 0` (the test :math:`\hat y > \theta`
                is then no threshold on :math:`v`), or a non-finite :math:`\theta'`; the message
                names the first such neuron.
        """
        gamma = self.gamma.detach().to(torch.float64).expand(self.shape)
        bad = (gamma <= 0).flatten().nonzero()
        if bad.numel():
            i = int(bad[0])
            raise UnsupportedExportError(
                f"MPBNLIF{list(self.shape)} cannot be folded into a threshold: gamma of neuron {i}"
                f"{self._where(i)} is {gamma.flatten()[i].item()!r} <= 0 ({bad.numel()} such neurons), "
                "so the spike test gamma*(v - mean)/std + beta > theta is not v > threshold; keep the MPBN "
                "layer or retrain with gamma > 0"
            )
        theta = mpbn_threshold(
            self.v_th.expand(self.shape), gamma, self.beta, self.running_mean, self.running_var, self.eps
        ).expand(self.shape)
        bad = (~torch.isfinite(theta)).flatten().nonzero()
        if bad.numel():
            i = int(bad[0])
            raise UnsupportedExportError(
                f"MPBNLIF{list(self.shape)}: the folded threshold of neuron {i}{self._where(i)} is "
                f"{theta.flatten()[i].item()!r}"
            )
        return theta

    def _where(self, flat: int) -> str:
        if len(self.shape) == 1:
            return ""
        idx = []
        for s in reversed(self.shape):
            idx.append(flat % s)
            flat //= s
        return f" (index {tuple(reversed(idx))})"

    def fold(self) -> LIF:
        r"""A plain :class:`~spikeforge.neurons.LIF` that spikes as this layer does in eval mode.

        Its per-neuron threshold is :math:`\theta' = \mu + (\theta - \beta)\sqrt{\sigma^2 +
        \epsilon}/\gamma` from the running statistics (computed in float64, stored in this
        module's dtype); every other parameter is copied. The folded layer is for inference and
        export: its parameters are buffers (nothing learnable).

        Training often gives neurons whose :math:`\theta'` lies at or below ``v_reset`` (their
        normalized resting potential is above :math:`\theta`: they fire tonically). The reset to
        ``v_reset`` keeps them well defined, and the folded LIF carries these thresholds too
        (set after construction, since ``LIF(...)`` itself asks ``v_reset < v_th``).

        Raises:
            UnsupportedExportError: :math:`\gamma \le 0` for some neuron (the message names it).
        """
        dtype = self.v_leak.dtype
        theta = self.folded_threshold()
        v_reset = self.v_reset.detach().to(torch.float64).expand(self.shape)
        below = theta <= v_reset

        def val(name: str) -> Tensor:
            return getattr(self, name).detach().clone()

        lif = LIF(
            self.shape,
            tau_mem=val("tau_mem"),
            tau_syn=val("tau_syn") if self.has_syn else None,
            v_th=as_param("v_th", torch.where(below, v_reset + 1.0, theta).to(dtype), self.shape),
            v_reset=val("v_reset"),
            v_leak=val("v_leak"),
            r=val("r"),
            t_ref=val("t_ref"),
            dt=self.dt,
            reset="to_value",
            integrator=self.integrator,
            surrogate=self.surrogate,
            detach_reset=self.detach_reset,
        )
        lif = lif.to(dtype=dtype, device=self.v_leak.device)
        if bool(below.any()):
            # LIF's constructor asks v_reset < v_th (a guard against typos, essential only for a
            # subtractive reset); with the reset to v_reset a neuron whose threshold lies below it
            # is well defined: it fires whenever v > theta' (tonic firing), as the MPBN neuron does
            with torch.no_grad():
                lif.v_th.copy_(theta.to(dtype))
        return lif

    def extra_repr(self) -> str:
        syn = f", tau_syn={_short(self.tau_syn)}" if self.has_syn else ""
        return (
            f"{super().extra_repr()}, tau_mem={_short(self.tau_mem)}{syn}, v_th={_short(self.v_th)}, "
            f"momentum={self.momentum}, eps={self.eps}, affine={self.affine}"
        )
