r"""Synaptic delays: learnable (DCLS) and fixed (ring buffer).

**Learnable delays** (Hammouamri, Khalfaoui-Hassani & Masquelier 2023, "Learning delays in
spiking neural networks using dilated convolutions with learnable spacings"). Each synapse
:math:`i \to j` has a weight :math:`w_{ji}` and a real delay :math:`d_{ji}` (in steps); the layer
is a causal temporal convolution whose kernel has one Gaussian-interpolated tap per synapse:

.. math::

    y_j[t] = \sum_i \sum_{k=0}^{D-1} K_{ji}[k]\, x_i[t-k], \qquad
    K_{ji}[k] = w_{ji} \frac{g(k - d_{ji})}{\sum_{k'} g(k' - d_{ji})}, \qquad
    g(u) = e^{-u^2 / 2\sigma^2}

with :math:`D = \mathrm{max\_delay}/\Delta t + 1` taps (delays 0 to ``max_delay``) and causal
zero history (or the history carried in the state). The Gaussian spreads each tap so that the
delay gets a gradient; :math:`\sigma` is annealed toward 0 during training
(:func:`sigma_schedule`, :meth:`LearnableDelay.set_sigma`) and at :math:`\sigma = 0` the tap sits
on the rounded delay: the layer is then an integer delay line (exactly so with
``method="shift"``; the other methods add float rounding),
:math:`y_j[t] = \sum_i w_{ji}\, x_i[t - \mathrm{round}(d_{ji})]`
(:meth:`LearnableDelay.rounded_delays`, :meth:`LearnableDelay.to_fixed`). A delay outside
``[0, max_delay]`` acts as the nearest end (the normalised Gaussian puts its mass on the edge tap).

**Fixed delays** (:class:`FixedDelay`): integer delays per channel (element-wise, the NIR
``Delay`` node) or per synapse with weights, run step by step through a ring buffer
``DelayState(buffer[D, *batch, n_in], head)``: slot ``(head + k) % D`` holds the input of ``D - k``
steps ago, and the next input is written at ``head``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_dt, check_floating
from ..errors import ParameterError, ShapeError
from ._spectral import Workspace, spectral_conv, spectral_cost

__all__ = [
    "DelayMethod",
    "DelayState",
    "RoundedDelays",
    "delay_kernel",
    "delayed_linear",
    "sigma_schedule",
    "LearnableDelay",
    "FixedDelay",
]


class DelayState(NamedTuple):
    """Ring buffer of the last ``D`` inputs, ``buffer`` ``[D, *batch, n_in]``, and ``head``, an
    int64 scalar: the slot of the oldest input, where the next one is written."""

    buffer: Tensor
    head: Tensor


class RoundedDelays(NamedTuple):
    """Integer per-synapse delays ``[n_out, n_in]``: ``steps`` (int64) and ``ms`` (``steps * dt``)."""

    steps: Tensor
    ms: Tensor


def _zero_state(
    n_slots: int, batch: tuple[int, ...], n: int, dtype: torch.dtype, device: torch.device
) -> DelayState:
    return DelayState(
        torch.zeros((n_slots,) + batch + (n,), dtype=dtype, device=device),
        torch.zeros((), dtype=torch.int64, device=device),
    )


def _ordered(state: DelayState) -> Tensor:
    """The buffer in time order, oldest first."""
    head = int(state.head)
    return state.buffer if head == 0 else torch.roll(state.buffer, shifts=-head, dims=0)


def _check_delay_state(state: DelayState, n_slots: int, batch: tuple[int, ...], n: int) -> None:
    expected = (n_slots,) + batch + (n,)
    if not isinstance(state, DelayState) or tuple(state.buffer.shape) != expected:
        got = list(state.buffer.shape) if isinstance(state, DelayState) else type(state).__name__
        raise ShapeError(f"state.buffer must have shape {list(expected)}, got {got}")


def delay_kernel(weight: Tensor, delay: Tensor, *, sigma: float, n_taps: int) -> Tensor:
    r"""The DCLS kernel ``[n_out, n_in, n_taps]``: :math:`K_{ji}[k] = w_{ji}\, \mathrm{softmax}_k
    (-(k - d_{ji})^2 / 2\sigma^2)`; with ``sigma=0``, :math:`w_{ji}` at tap
    :math:`\mathrm{round}(d_{ji})` (clipped to the taps) and exact zeros elsewhere.

    Args:
        weight: ``[n_out, n_in]``.
        delay: ``[n_out, n_in]``, in steps.
        sigma: Gaussian width in steps (>= 0).
        n_taps: kernel length ``D``.
    """
    k = torch.arange(n_taps, dtype=weight.dtype, device=weight.device)
    if sigma == 0:
        idx = delay.detach().round().clamp(0, n_taps - 1).long()
        zeros = weight.new_zeros(weight.shape + (n_taps,))
        return zeros.scatter(-1, idx.unsqueeze(-1), weight.unsqueeze(-1))
    out: Tensor = _GaussTaps.apply(weight, delay, float(sigma), k, False)
    return out


def _taps_first_kernel(weight: Tensor, delay: Tensor, sigma: float, n_taps: int) -> Tensor:
    """:func:`delay_kernel` of the transposed synapses, taps first: ``[D, n_in, n_out]``,
    ``[k, i, j] = K_{ji}[k]``, contiguous."""
    if sigma == 0:
        idx = delay.detach().T.round().clamp(0, n_taps - 1).long().unsqueeze(0)
        zeros = weight.new_zeros((n_taps,) + tuple(weight.T.shape))
        return zeros.scatter(0, idx, weight.T.unsqueeze(0))
    k = torch.arange(n_taps, dtype=weight.dtype, device=weight.device)
    out: Tensor = _GaussTaps.apply(weight.T.contiguous(), delay.T.contiguous(), float(sigma), k, True)
    return out


class _GaussTaps(torch.autograd.Function):
    """``K = w * softmax_k(-(k - d)^2 / 2 sigma^2)`` (taps last, or first with ``taps_first``) with
    a hand-written backward pass (three passes over the kernel instead of autograd's dozen):

    ``dL/dw = sum_k G_k g_k`` and ``dL/dd = (w / sigma^2) (sum_k G_k g_k k - (dL/dw) m)``,
    with ``G = dL/dK``, ``g`` the normalised Gaussian and ``m = sum_k g_k k`` its mean. Taps below
    ``eps**2`` are set to exactly 0."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, weight: Tensor, delay: Tensor, sigma: float, k: Tensor, taps_first: bool
    ) -> Tensor:
        dim = 0 if taps_first else -1
        kk = k.view(-1, *([1] * delay.dim())) if taps_first else k
        s = (kk - delay.unsqueeze(dim)).square_().mul_(-0.5 / (sigma * sigma))
        # Taps below eps^2 of the sum are below any output's rounding: they are set to exactly 0.
        # Computing them would cost more than the rest (exp of large negative numbers, and
        # subnormal results, are tens of times slower on a CPU), so the exponents are first cut
        # at log(eps^2 / (e D)) below each synapse's largest. A wide Gaussian has no such tap:
        # g_k >= exp(-span^2 / 2 sigma^2) / D.
        eps2 = torch.finfo(s.dtype).eps ** 2
        lo, hi = (float(v) for v in torch.aminmax(delay.detach()))
        span = max(hi, k.numel() - 1 - lo)
        narrow = math.exp(-(span * span) / (2 * sigma * sigma)) / k.numel() <= eps2
        if narrow:
            s.sub_(s.amax(dim, keepdim=True)).clamp_(min=math.log(eps2 / k.numel()) - 1.0)
        g = torch.softmax(s, dim=dim)
        del s
        if narrow:
            torch.threshold_(g, eps2, 0.0)
        ctx.save_for_backward(weight, g, k)
        ctx.sigma, ctx.taps_first = sigma, taps_first
        return g * weight.unsqueeze(dim)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None, None, None]:  # type: ignore[override]
        weight, g, k = ctx.saved_tensors
        p = grad * g

        def tap_sum(t: Tensor, vec: Tensor | None) -> Tensor:  # sum_k t_k (vec_k or 1)
            if ctx.taps_first:
                flat = t.reshape(t.shape[0], -1)
                return (flat.sum(0) if vec is None else vec @ flat).view(t.shape[1:])
            return t.sum(-1) if vec is None else t @ vec

        gw = tap_sum(p, None)
        gd = None
        if ctx.needs_input_grad[1]:
            gd = (tap_sum(p, k) - gw * tap_sum(g, k)) * (weight / (ctx.sigma * ctx.sigma))
        return (gw if ctx.needs_input_grad[0] else None), gd, None, None, None


DelayMethod = Literal["auto", "spectral", "direct", "shift"]


def _shift_conv(full: Tensor, weight: Tensor, delay_steps: Tensor, steps: int) -> Tensor:
    """Integer delays: ``y[t] = sum_d full[D - 1 + t - d] @ W_d^T``, ``W_d`` the weights of the synapses
    of delay ``d``, for each delay in use (exact: each product sums the same terms as a delay line)."""
    n_taps = full.shape[0] - steps + 1
    y = full.new_zeros((steps,) + tuple(full.shape[1:-1]) + (weight.shape[0],))
    zero = torch.zeros((), dtype=weight.dtype, device=weight.device)
    for d in torch.unique(delay_steps).tolist():
        w_d = torch.where(delay_steps == d, weight, zero)
        y = y + full[n_taps - 1 - d : n_taps - 1 - d + steps] @ w_d.T
    return y


def delayed_linear(
    x: Tensor,
    weight: Tensor,
    delay: Tensor,
    *,
    sigma: float,
    n_taps: int,
    history: Tensor | None = None,
    bias: Tensor | None = None,
    method: DelayMethod = "auto",
    workspace: Workspace | None = None,
) -> Tensor:
    r"""The learnable-delay layer as a function: :math:`y_j[t] = \sum_{i,k} K_{ji}[k]\, x_i[t-k]`,
    with :math:`K` the DCLS kernel of :func:`delay_kernel`.

    Three ways to compute the same sum (they differ only by rounding):

    * ``"spectral"``: by the discrete Fourier transform along time, one complex matrix product per
      frequency, :math:`Y_f = K_f X_f` (overlap-save blocks when ``T`` is long), the kernel
      spectrum made a few frequencies at a time (see :mod:`spikeforge.plasticity._spectral`). Its
      arithmetic does not grow with the number of taps ``D``: the products are about 2 to 2.5
      times those of a plain linear layer, where the direct convolution's are ``D`` times; with
      the transforms and the kernel, an SHD layer (26 taps, ``T = 100``, batch 32) trains at 5 to
      7 times a linear layer's time on a CPU (``benchmarks/delays.py``). Rounding errors of order
      ``eps * |K| |x|``.
    * ``"direct"``: the convolution ``F.conv1d`` with the ``[n_out, n_in, D]`` kernel.
    * ``"shift"`` (``sigma=0`` only): integer delays, one matrix product per delay in use with the
      weights of the synapses of that delay; it sums exactly the terms of an explicit delay line
      (:class:`FixedDelay` does the same), so exactly representable inputs give exact outputs.

    ``"auto"`` takes the one of least arithmetic: ``"spectral"`` for long kernels, ``"direct"`` for
    short ones or short sequences, ``"shift"`` (at ``sigma=0``) when few distinct delays are in use.
    Pass ``method="shift"`` where integer delays must sum exactly as a delay line does.

    Args:
        x: input ``[T, *batch, n_in]``.
        weight: ``[n_out, n_in]``.
        delay: ``[n_out, n_in]`` in steps.
        sigma: Gaussian width in steps (>= 0).
        n_taps: ``D``.
        history: the ``D - 1`` inputs before ``x`` ``[D - 1, *batch, n_in]``, oldest first
            (zeros if None).
        bias: ``[n_out]`` or None.
        method: ``"auto"``, ``"spectral"``, ``"direct"`` or ``"shift"``.
        workspace: scratch buffers of the spectral method kept between calls (a layer keeps
            one: fresh pages at every call cost more than the arithmetic); None allocates.

    Returns:
        ``[T, *batch, n_out]``.

    Raises:
        ParameterError: an unknown ``method``, or ``"shift"`` with ``sigma > 0``.

    Example:
        >>> import torch
        >>> from spikeforge.plasticity import delayed_linear
        >>> x = torch.zeros(6, 1, 2); x[0, 0, 0] = 1.0          # one spike on input 0 at t = 0
        >>> w = torch.tensor([[2.0, 1.0]]); d = torch.tensor([[3.0, 0.0]])
        >>> delayed_linear(x, w, d, sigma=0.0, n_taps=5)[:, 0, 0].tolist()
        [0.0, 0.0, 0.0, 2.0, 0.0, 0.0]
    """
    if method not in ("auto", "spectral", "direct", "shift"):
        raise ParameterError(f"method must be 'auto', 'spectral', 'direct' or 'shift', got {method!r}")
    if method == "shift" and sigma != 0:
        raise ParameterError(f"method='shift' needs integer delays (sigma=0), got sigma={sigma!r}")
    steps, batch, n_in = x.shape[0], tuple(x.shape[1:-1]), x.shape[-1]
    n_out = weight.shape[0]
    flat = x.reshape(steps, -1, n_in)
    cols = flat.shape[1]
    hist = (
        flat.new_zeros((n_taps - 1, cols, n_in))
        if history is None
        else history.reshape(n_taps - 1, cols, n_in)
    )
    full = torch.cat([hist, flat], 0)  # full[D - 1 + t] = x[t]
    idx = delay.detach().round().clamp(0, n_taps - 1).long() if sigma == 0 else None
    if method == "auto":  # the least arithmetic per synapse
        costs: dict[DelayMethod, float] = {
            "spectral": spectral_cost(steps, n_taps, cols)[1],
            "direct": float(n_taps * steps * cols),
        }
        if idx is not None:
            costs["shift"] = float(torch.unique(idx).numel() * steps * cols)
        method = min(costs, key=lambda m: costs[m])
    if method == "shift":
        assert idx is not None
        y = _shift_conv(full, weight, idx, steps)
    elif method == "spectral":
        y = spectral_conv(full, _taps_first_kernel(weight, delay, sigma, n_taps), steps, workspace)
    else:
        kernel = delay_kernel(weight, delay, sigma=sigma, n_taps=n_taps)
        y = F.conv1d(full.permute(1, 2, 0), kernel.flip(-1)).permute(2, 0, 1)  # [T, N, n_out]
    if bias is not None:
        y = y + bias
    return y.reshape((steps,) + batch + (n_out,))


def sigma_schedule(
    epoch: int, n_epochs: int, *, sigma_start: float, sigma_end: float = 0.5, fraction: float = 0.5
) -> float:
    r"""The DCLS annealing of :math:`\sigma`: exponential from ``sigma_start`` to ``sigma_end``
    over the first ``fraction`` of the epochs, then constant (set it to 0 at the end for integer
    delays).

    .. math::

        \sigma_e = \sigma_{start} \left(\frac{\sigma_{end}}{\sigma_{start}}\right)^{\min(1,\ e / (f N))}

    Example:
        >>> from spikeforge.plasticity import sigma_schedule
        >>> [round(sigma_schedule(e, 10, sigma_start=8.0, sigma_end=0.5), 3) for e in (0, 5, 9)]
        [8.0, 0.5, 0.5]
    """
    if sigma_start <= 0 or sigma_end <= 0:
        raise ParameterError(f"sigma_start and sigma_end must be > 0, got {sigma_start!r}, {sigma_end!r}")
    if n_epochs <= 0 or not 0 < fraction <= 1:
        raise ParameterError(f"need n_epochs > 0 and 0 < fraction <= 1, got {n_epochs!r}, {fraction!r}")
    progress = min(1.0, epoch / (fraction * n_epochs))
    return float(sigma_start * (sigma_end / sigma_start) ** progress)


def _steps_of(name: str, value: float, dt: float) -> int:
    steps = value / dt
    if not math.isfinite(steps) or steps < 0 or abs(steps - round(steps)) > 1e-6 * max(1.0, steps):
        raise ParameterError(f"{name} must be a multiple of dt={dt} ms and >= 0, got {value!r} ms")
    return int(round(steps))


class LearnableDelay(nn.Module):
    r"""A fully connected layer with one learnable delay per synapse, in the DCLS manner.

    .. math::

        y_j[t] = b_j + \sum_i w_{ji}\, \big(x_i * \tilde g_\sigma(\cdot - d_{ji})\big)[t]

    i.e. :math:`y_j[t] = \sum_i w_{ji}\, x_i[t - d_{ji}]` with the delay interpolated by a
    normalised Gaussian of width :math:`\sigma` (see :mod:`spikeforge.plasticity.delays`).
    Delays are stored in steps (``delay``, an ``nn.Parameter``); DCLS trains them with a learning
    rate 100 to 150 times that of the weights, and anneals :math:`\sigma` from about a third of
    the maximum delay to 0.5 step or less, then 0.

    Args:
        n_in, n_out: input and output sizes.
        max_delay: largest delay in ms (a multiple of dt); the kernel has ``max_delay/dt + 1``
            taps.
        dt: time step in ms.
        sigma: initial Gaussian width in ms (>= 0); default ``max_delay / 3``.
        bias: add a learnable bias.
        delays: initial delays in ms, a number or ``[n_out, n_in]`` (default: uniform in
            ``[0, max_delay]``).
        learn_delays: whether ``delay`` is trainable (``requires_grad``).
        generator: draws the initial weights (uniform in :math:`\pm 1/\sqrt{n_{in}}`, as
            ``nn.Linear``) and delays; default: torch's global generator, as ``torch.nn``
            layers do.
        method: how :func:`delayed_linear` computes the convolution: ``"auto"`` (the cheapest),
            ``"spectral"``, ``"direct"`` or ``"shift"`` (exact integer delay lines; ``sigma=0``
            only).

    Shape:
        ``forward(x, state=None)``: ``x`` ``[T, *batch, n_in]`` -> ``(y [T, *batch, n_out], state)``.

    Example:
        >>> import torch
        >>> from spikeforge.plasticity import LearnableDelay
        >>> layer = LearnableDelay(2, 3, max_delay=10.0, dt=1.0, generator=torch.Generator().manual_seed(0))
        >>> y, state = layer(torch.rand(40, 8, 2))            # [T, B, n_in] -> [T, B, n_out]
        >>> y.shape, state.buffer.shape
        (torch.Size([40, 8, 3]), torch.Size([11, 8, 2]))
        >>> opt = torch.optim.Adam([{"params": [layer.weight]},
        ...                         {"params": [layer.delay], "lr": 100 * 1e-3}], lr=1e-3)
        >>> layer.set_sigma(0.0); layer.rounded_delays().steps.shape
        torch.Size([3, 2])
    """

    takes_sequence = True  # sf.Sequential passes it the whole [T, *B, n] sequence and its state

    sigma: Tensor

    def __init__(
        self,
        n_in: int,
        n_out: int,
        max_delay: float = 25.0,
        dt: float = 1.0,
        *,
        sigma: float | None = None,
        bias: bool = False,
        delays: float | Tensor | None = None,
        learn_delays: bool = True,
        generator: torch.Generator | None = None,
        method: DelayMethod = "auto",
    ) -> None:
        super().__init__()
        if method not in ("auto", "spectral", "direct", "shift"):
            raise ParameterError(f"method must be 'auto', 'spectral', 'direct' or 'shift', got {method!r}")
        self.method: DelayMethod = method
        for name, v in (("n_in", n_in), ("n_out", n_out)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ParameterError(f"{name} must be a positive int, got {v!r}")
        self.dt = check_dt(dt)
        if isinstance(max_delay, bool) or not isinstance(max_delay, (int, float)):
            raise ParameterError(f"max_delay must be a number of ms, got {max_delay!r}")
        self.max_steps = _steps_of("max_delay", float(max_delay), self.dt)
        self.n_taps = self.max_steps + 1
        self.n_in, self.n_out = n_in, n_out
        dtype = torch.get_default_dtype()
        bound = 1.0 / math.sqrt(n_in)
        w = (torch.rand(n_out, n_in, generator=generator, dtype=dtype) * 2 - 1) * bound
        self.weight = nn.Parameter(w)
        if delays is None:
            d = torch.rand(n_out, n_in, generator=generator, dtype=dtype) * self.max_steps
        else:
            dt_ms = torch.as_tensor(delays, dtype=dtype)
            try:
                d = (dt_ms / self.dt).expand(n_out, n_in).clone()
            except RuntimeError:
                raise ShapeError(
                    f"delays must be a number or [n_out, n_in] = [{n_out}, {n_in}], got {list(dt_ms.shape)}"
                ) from None
            if not bool(torch.isfinite(d).all()) or bool((d < 0).any()) or bool((d > self.max_steps).any()):
                raise ParameterError(f"delays must be in [0, max_delay={max_delay}] ms, got {delays!r}")
        self.delay = nn.Parameter(d, requires_grad=learn_delays)
        if bias:
            self.bias: nn.Parameter | None = nn.Parameter(
                (torch.rand(n_out, generator=generator, dtype=dtype) * 2 - 1) * bound
            )
        else:
            self.register_parameter("bias", None)
        self.register_buffer("sigma", torch.tensor(0.0, dtype=torch.float64))
        self.set_sigma(max_delay / 3 if sigma is None else sigma)
        self._workspace = Workspace()  # scratch buffers of the spectral method (not state)

    @property
    def sigma_steps(self) -> float:
        """:math:`\\sigma` in steps."""
        return float(self.sigma) / self.dt

    def set_sigma(self, sigma: float) -> None:
        """Set the Gaussian width in ms (>= 0; 0 gives integer delays)."""
        if (
            isinstance(sigma, bool)
            or not isinstance(sigma, (int, float))
            or not (math.isfinite(sigma) and sigma >= 0)
        ):
            raise ParameterError(f"sigma must be a finite number >= 0 ms, got {sigma!r}")
        self.sigma.fill_(float(sigma))

    @property
    def delays_ms(self) -> Tensor:
        """The (real-valued) delays in ms, ``[n_out, n_in]``."""
        return self.delay.detach() * self.dt

    def rounded_delays(self) -> RoundedDelays:
        """The integer delays (rounded, within ``[0, max_delay]``), in steps and in ms."""
        steps = self.delay.detach().round().clamp(0, self.max_steps).to(torch.int64)
        return RoundedDelays(steps, steps.to(self.weight.dtype) * self.dt)

    def kernel(self) -> Tensor:
        """The current kernel ``[n_out, n_in, n_taps]``."""
        return delay_kernel(self.weight, self.delay, sigma=self.sigma_steps, n_taps=self.n_taps)

    def init_state(
        self,
        batch_shape: tuple[int, ...] = (),
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> DelayState:
        """Zero history."""
        return _zero_state(
            self.n_taps,
            tuple(batch_shape),
            self.n_in,
            dtype or self.weight.dtype,
            torch.device(device) if device is not None else self.weight.device,
        )

    def forward(self, x: Tensor, state: DelayState | None = None) -> tuple[Tensor, DelayState]:
        """Run over a sequence ``[T, *batch, n_in]``; returns ``(y, state)``.

        The state carries the last ``n_taps`` inputs, so a run split into chunks gives the same
        output as one run.
        """
        x = check_floating("x", x)
        if x.dim() < 2 or x.shape[-1] != self.n_in or x.shape[0] == 0:
            raise ShapeError(
                f"LearnableDelay({self.n_in}, {self.n_out}) expects x [T, *batch, {self.n_in}], "
                f"got {list(x.shape)}"
            )
        batch = tuple(x.shape[1:-1])
        if state is None:
            past = torch.zeros((self.n_taps,) + batch + (self.n_in,), dtype=x.dtype, device=x.device)
        else:
            _check_delay_state(state, self.n_taps, batch, self.n_in)
            past = _ordered(state)
        y = delayed_linear(
            x,
            self.weight,
            self.delay,
            sigma=self.sigma_steps,
            n_taps=self.n_taps,
            history=past[1:],
            bias=self.bias,
            method=self.method,
            workspace=self._workspace,
        )
        steps = x.shape[0]
        full = x[-self.n_taps :] if steps >= self.n_taps else torch.cat([past[steps:], x], dim=0)
        return y, DelayState(full, torch.zeros((), dtype=torch.int64, device=x.device))

    def step(self, x: Tensor, state: DelayState | None = None) -> tuple[Tensor, DelayState]:
        """One step: ``x`` ``[*batch, n_in]`` -> ``([*batch, n_out], state)``."""
        y, state = self.forward(x.unsqueeze(0), state)
        return y[0], state

    def to_fixed(self) -> FixedDelay:
        """The equivalent :class:`FixedDelay` with the rounded delays (exact at ``sigma=0``)."""
        r = self.rounded_delays()
        return FixedDelay(
            r.ms,
            dt=self.dt,
            weight=self.weight.detach(),
            bias=None if self.bias is None else self.bias.detach(),
        )

    def extra_repr(self) -> str:
        return (
            f"n_in={self.n_in}, n_out={self.n_out}, max_delay={self.max_steps * self.dt}, "
            f"dt={self.dt}, sigma={float(self.sigma)}, bias={self.bias is not None}"
        )


class FixedDelay(nn.Module):
    r"""Fixed heterogeneous integer delays, run through a ring buffer.

    Two forms:

    * element-wise (``delays`` ``[n]``, no weight): :math:`y_i[t] = x_i[t - d_i]`, NIR's
      ``Delay`` node;
    * synaptic (``delays`` ``[n_out, n_in]``): :math:`y_j[t] = b_j + \sum_i w_{ji}\, x_i[t - d_{ji}]`
      (weights default to 1).

    A step writes the input at ``head`` first and then reads, so a delay of 0 passes the input
    through in the same step.

    Args:
        delays: delays in ms (>= 0, multiples of dt), ``[n]`` or ``[n_out, n_in]``.
        dt: time step in ms.
        weight: ``[n_out, n_in]`` (synaptic form only).
        bias: ``[n_out]`` (synaptic form only).

    Example:
        >>> import torch
        >>> from spikeforge.plasticity import FixedDelay
        >>> line = FixedDelay(torch.tensor([0.0, 2.0]), dt=1.0)
        >>> x = torch.zeros(4, 2); x[0] = 1.0
        >>> y, state = line(x)
        >>> y.tolist()
        [[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    """

    takes_sequence = True  # sf.Sequential passes it the whole [T, *B, n] sequence and its state

    steps: Tensor
    weight: Tensor | None
    bias: Tensor | None

    def __init__(
        self,
        delays: Tensor | Sequence[float] | Sequence[Sequence[float]],
        *,
        dt: float = 1.0,
        weight: Tensor | None = None,
        bias: Tensor | None = None,
    ) -> None:
        super().__init__()
        self.dt = check_dt(dt)
        try:
            d = torch.as_tensor(delays, dtype=torch.float64).detach().cpu()
        except (TypeError, ValueError, RuntimeError):
            raise ParameterError(
                f"delays must be a tensor or a sequence of numbers (ms), got {delays!r}"
            ) from None
        if d.dim() not in (1, 2) or d.numel() == 0:
            raise ShapeError(f"delays must be [n] or [n_out, n_in], got shape {list(d.shape)}")
        if not bool(torch.isfinite(d).all()) or bool((d < 0).any()):
            raise ParameterError(f"delays must be finite and >= 0 ms, got {delays!r}")
        steps = torch.round(d / self.dt)
        if bool(((steps - d / self.dt).abs() > 1e-6 * steps.clamp(min=1.0)).any()):
            raise ParameterError(f"delays must be multiples of dt={self.dt} ms, got {delays!r}")
        self.register_buffer("steps", steps.to(torch.int64))
        self.synaptic = d.dim() == 2
        if self.synaptic:
            self.n_out, self.n_in = int(d.shape[0]), int(d.shape[1])
            if weight is None:
                weight = torch.ones(self.n_out, self.n_in)
            if tuple(weight.shape) != (self.n_out, self.n_in):
                raise ShapeError(
                    f"weight must be [n_out, n_in] = {[self.n_out, self.n_in]}, got {list(weight.shape)}"
                )
            if bias is not None and tuple(bias.shape) != (self.n_out,):
                raise ShapeError(f"bias must be [{self.n_out}], got {list(bias.shape)}")
            self.register_buffer("weight", weight.detach().clone())
            self.register_buffer("bias", None if bias is None else bias.detach().clone())
        else:
            if weight is not None or bias is not None:
                raise ParameterError(
                    "weight and bias need synaptic delays [n_out, n_in]; got element-wise delays [n]"
                )
            self.n_in = self.n_out = int(d.shape[0])
            self.register_buffer("weight", None)
            self.register_buffer("bias", None)
        self.n_slots = int(self.steps.max()) + 1

    def init_state(
        self,
        batch_shape: tuple[int, ...] = (),
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> DelayState:
        """An empty (zero) buffer."""
        return _zero_state(
            self.n_slots,
            tuple(batch_shape),
            self.n_in,
            dtype or torch.get_default_dtype(),
            torch.device(device) if device is not None else self.steps.device,
        )

    def _check_x(self, x: Tensor, sequence: bool) -> tuple[int, ...]:
        x = check_floating("x", x)
        need = 2 if sequence else 1
        if x.dim() < need or x.shape[-1] != self.n_in or (sequence and x.shape[0] == 0):
            what = "[T, *batch, " if sequence else "[*batch, "
            raise ShapeError(f"FixedDelay expects x {what}{self.n_in}], got {list(x.shape)}")
        return tuple(x.shape[1:-1] if sequence else x.shape[:-1])

    def step(self, x: Tensor, state: DelayState | None = None) -> tuple[Tensor, DelayState]:
        """One step: ``x`` ``[*batch, n_in]``; returns ``(y, state)``."""
        batch = self._check_x(x, sequence=False)
        if state is None:
            state = self.init_state(batch, dtype=x.dtype, device=x.device)
        else:
            _check_delay_state(state, self.n_slots, batch, self.n_in)
        head = state.head
        buffer = state.buffer.index_copy(0, head.reshape(1), x.unsqueeze(0))
        slots = torch.remainder(head - self.steps, self.n_slots)
        if not self.synaptic:
            idx = slots.reshape((1,) * (len(batch) + 1) + (self.n_in,)).expand((1,) + batch + (self.n_in,))
            y = buffer.gather(0, idx)[0]
        else:
            moved = buffer.movedim(0, -1)  # [*batch, n_in, D]
            cols = torch.arange(self.n_in, device=x.device).expand(self.n_out, self.n_in)
            v = moved[..., cols, slots]  # [*batch, n_out, n_in]
            assert self.weight is not None
            y = (v * self.weight.to(v)).sum(-1)
            if self.bias is not None:
                y = y + self.bias.to(y)
        return y, DelayState(buffer, torch.remainder(head + 1, self.n_slots))

    def forward(self, x: Tensor, state: DelayState | None = None) -> tuple[Tensor, DelayState]:
        """Run over a sequence ``[T, *batch, n_in]``; returns ``(y, state)``, equal to a loop of
        :meth:`step`."""
        batch = self._check_x(x, sequence=True)
        if state is None:
            past = torch.zeros((self.n_slots,) + batch + (self.n_in,), dtype=x.dtype, device=x.device)
        else:
            _check_delay_state(state, self.n_slots, batch, self.n_in)
            past = _ordered(state)
        steps, D = x.shape[0], self.n_slots
        full = torch.cat([past[1:], x], dim=0)  # full[D - 1 + t] = x[t]
        if not self.synaptic:
            t = torch.arange(steps, device=x.device).unsqueeze(-1)
            idx = (D - 1 + t - self.steps).reshape((steps,) + (1,) * len(batch) + (self.n_in,))
            y = full.gather(0, idx.expand((steps,) + batch + (self.n_in,)))
        else:
            assert self.weight is not None
            w = self.weight.to(x)
            y = x.new_zeros((steps,) + batch + (self.n_out,))
            for d in torch.unique(self.steps).tolist():
                w_d = torch.where(self.steps == d, w, torch.zeros_like(w))
                y = y + full[D - 1 - d : D - 1 - d + steps] @ w_d.transpose(0, 1)
            if self.bias is not None:
                y = y + self.bias.to(y)
        new = torch.cat([past, x], dim=0)[-D:]
        return y, DelayState(new, torch.zeros((), dtype=torch.int64, device=x.device))

    def extra_repr(self) -> str:
        form = f"n_in={self.n_in}, n_out={self.n_out}" if self.synaptic else f"n={self.n_in}"
        return f"{form}, max_delay={(self.n_slots - 1) * self.dt}, dt={self.dt}"
