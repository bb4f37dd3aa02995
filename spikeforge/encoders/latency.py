r"""Latency (time-to-first-spike) coding: larger inputs spike earlier, each at most once.

Two codes map an input x to a spike time t (ms):

.. math::

    \text{log (RC charging):}\quad t = \tau \ln\frac{x}{x - \theta}
        = \tau\,\mathrm{log1p}\!\left(\frac{\theta}{x - \theta}\right)
        \quad \text{for } x > \theta, \text{ no spike otherwise;}

    \text{linear:}\quad t = t_{max}\,(1 - x) \quad \text{for } x \in [0, 1].

The log code is the first passage of an RC membrane :math:`v(t) = x\,(1 - e^{-t/\tau})` through the
threshold :math:`\theta`. Time is discretised to the nearest step: the spike is at step
:math:`k = \lfloor t/\Delta t + 1/2 \rfloor` (time :math:`k\,\Delta t`, within :math:`\Delta t/2` of
t); spikes that fall after the last step ``T - 1`` are dropped. :func:`latency_decode` inverts
the code from the first spike of each train, so ``latency(latency_decode(z)) == z`` and the decoded
spike time is within :math:`\Delta t/2` of the exact one.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from .._checks import check_choice, check_dt, check_floating
from ..errors import ParameterError, ShapeError
from .poisson import _check_number, _check_steps, _first_bad

__all__ = ["latency", "latency_decode"]

Method = Literal["log", "linear"]
TAU_DEFAULT = 5.0  # ms
THRESHOLD_DEFAULT = 0.01


def _settings(
    method: str, tau: float | None, threshold: float | None, t_max: float | None, steps: int, dt: float
) -> tuple[float, float, float]:
    """Validated ``(tau, threshold, t_max)`` for ``method``; the unused ones are 0."""
    check_choice("method", method, ("log", "linear"))
    if method == "log":
        if t_max is not None:
            raise ParameterError(f"t_max applies only to method='linear', got t_max={t_max!r} with 'log'")
        tau = _check_number("tau", TAU_DEFAULT if tau is None else tau, low=0.0)
        threshold = _check_number("threshold", THRESHOLD_DEFAULT if threshold is None else threshold, low=0.0)
        return tau, threshold, 0.0
    for name, value in (("tau", tau), ("threshold", threshold)):
        if value is not None:
            raise ParameterError(f"{name} applies only to method='log', got {name}={value!r} with 'linear'")
    t_max = _check_number("t_max", (steps - 1) * dt if t_max is None else t_max, low=0.0, strict=False)
    return 0.0, 0.0, t_max


def _check_input(x: Tensor, method: str) -> Tensor:
    x = check_floating("x", x)
    bad = torch.isnan(x)
    if bool(bad.any()):
        raise ParameterError(f"x must not be NaN, got {_first_bad(x, bad)}")
    if method == "linear":
        bad = (x < 0) | (x > 1)
        if bool(bad.any()):
            raise ParameterError(
                f"x must be in [0, 1] for method='linear' (normalise it first), got {_first_bad(x, bad)}"
            )
    return x


def _times(x: Tensor, method: str, tau: float, threshold: float, t_max: float) -> Tensor:
    if method == "linear":
        return t_max * (1.0 - x)
    above = x > threshold
    safe = torch.where(above, x - threshold, torch.ones_like(x))
    t = tau * torch.log1p(threshold / safe)
    return torch.where(above, t, torch.full_like(x, float("inf")))


def latency(
    x: Tensor,
    steps: int,
    dt: float = 1.0,
    *,
    method: Method = "log",
    tau: float | None = None,
    threshold: float | None = None,
    t_max: float | None = None,
) -> Tensor:
    r"""Time-to-first-spike coding: each input spikes at most once, larger inputs earlier.

    See the module docstring for the codes: ``"log"``,
    :math:`t = \tau \ln(x / (x - \theta))` for :math:`x > \theta` (no spike otherwise), and
    ``"linear"``, :math:`t = t_{max}(1 - x)` for x in [0, 1] (every input spikes). The spike is at
    step :math:`k = \lfloor t/\Delta t + 1/2 \rfloor`; spikes later than step ``T - 1`` are dropped.

    Args:
        x: inputs ``[*shape]``, floating dtype, no NaN; in [0, 1] for ``"linear"``.
        steps: number of time steps T (int >= 1).
        dt: step length in ms.
        method: ``"log"`` (default) or ``"linear"``.
        tau: time constant in ms of the log code, > 0 (default 5 ms); only with ``"log"``.
        threshold: threshold :math:`\theta > 0` of the log code (default 0.01); only with ``"log"``.
        t_max: latency in ms of x = 0 for the linear code, >= 0 (default ``(T - 1) * dt``, so that
            every input spikes within the window); only with ``"linear"``.

    Returns:
        Spikes ``[T, *shape]``, 0 and 1 in x's dtype, at most one per input.

    Raises:
        DTypeError: ``x`` is not a floating tensor.
        ParameterError: NaN in ``x``, ``x`` outside [0, 1] with ``"linear"``, a setting out of range
            or given for the other method, or an unknown ``method``.

    Shape:
        ``[*shape] -> [T, *shape]``.

    Example:
        >>> import torch
        >>> from spikeforge.encoders import latency
        >>> z = latency(torch.tensor([1.0, 0.5, 0.0]), steps=11, method="linear")  # t_max = 10 ms
        >>> z.argmax(0)
        tensor([ 0,  5, 10])
        >>> z = latency(torch.tensor([1.0, 0.02, 0.01]), steps=50, tau=5.0, threshold=0.01)
        >>> z.sum(0), z.argmax(0)[:2]  # 5 ms * ln 2 = 3.47 ms -> step 3; x = threshold: no spike
        (tensor([1., 1., 0.]), tensor([0, 3]))
    """
    dt = check_dt(dt)
    steps = _check_steps(steps)
    if steps == 0:
        raise ParameterError("steps must be >= 1 for latency coding, got 0")
    x = _check_input(x, method)
    tau, threshold, t_max = _settings(method, tau, threshold, t_max, steps, dt)
    t = _times(x.detach(), method, tau, threshold, t_max)
    k = torch.floor(t / dt + 0.5)
    fires = k <= steps - 1  # False for inf (no spike) and for spikes after the window
    k = torch.where(fires, k, torch.zeros_like(k)).to(torch.int64)
    out = x.new_zeros((steps, *x.shape))
    out.scatter_(0, k.unsqueeze(0), fires.to(x.dtype).unsqueeze(0))
    return out


def latency_decode(
    spikes: Tensor,
    dt: float = 1.0,
    *,
    method: Method = "log",
    tau: float | None = None,
    threshold: float | None = None,
    t_max: float | None = None,
    silent: float = 0.0,
) -> Tensor:
    r"""Invert :func:`latency`: the input whose spike time is that of the first spike.

    With the first spike at step k, :math:`t = k\,\Delta t` and

    .. math::

        \text{log:}\quad x = \frac{\theta}{1 - e^{-t/\tau}} \quad (\infty \text{ for } k = 0),
        \qquad \text{linear:}\quad x = 1 - t / t_{max}.

    Use the same settings as the encoder (``t_max`` defaults to ``(T - 1) * dt`` here too). The
    result is exact up to the time quantisation: the spike time of the decoded value is within
    ``dt / 2`` of that of the original input (for the linear code,
    :math:`|\hat x - x| \le \Delta t / (2 t_{max})`).

    Args:
        spikes: spike trains ``[T, *shape]`` (any real or bool dtype); only the first nonzero entry
            of each train counts.
        dt: step length in ms.
        method, tau, threshold, t_max: the encoder's settings.
        silent: value returned for trains without a spike (default 0.0).

    Returns:
        Decoded inputs ``[*shape]`` in the spikes' dtype (default dtype for non-floating spikes).

    Raises:
        ShapeError: ``spikes`` has no time dimension.
        ParameterError: as :func:`latency`, or ``t_max = 0`` with ``"linear"``.

    Example:
        >>> import torch
        >>> from spikeforge.encoders import latency, latency_decode
        >>> x = torch.tensor([0.3, 0.05, 0.012, 0.005])
        >>> z = latency(x, steps=100, tau=20.0, threshold=0.01)
        >>> z.argmax(0), z.sum(0)  # 0.005 <= threshold: no spike
        (tensor([ 1,  4, 36,  0]), tensor([1., 1., 1., 0.]))
        >>> latency_decode(z, tau=20.0, threshold=0.01)  # silent -> 0
        tensor([0.2050, 0.0552, 0.0120, 0.0000])
    """
    dt = check_dt(dt)
    if not isinstance(spikes, Tensor) or spikes.dim() == 0:
        got = list(spikes.shape) if isinstance(spikes, Tensor) else type(spikes).__name__
        raise ShapeError(f"spikes must be a time-major tensor [T, *shape], got {got}")
    steps = spikes.shape[0]
    if steps == 0:
        raise ShapeError(f"spikes must have at least one time step, got shape {list(spikes.shape)}")
    if isinstance(silent, bool) or not isinstance(silent, (int, float)) or silent != silent:
        raise ParameterError(f"silent must be a number (not NaN), got {silent!r}")
    tau, threshold, t_max = _settings(method, tau, threshold, t_max, steps, dt)
    if method == "linear" and t_max == 0:
        raise ParameterError("t_max must be > 0 ms to decode the linear latency code, got 0")
    dtype = spikes.dtype if spikes.is_floating_point() else torch.get_default_dtype()
    fired = spikes.detach() != 0
    any_spike = fired.any(0)
    k = fired.to(torch.uint8).argmax(0).to(dtype)  # first nonzero entry along time
    t = k * dt
    if method == "linear":
        x = 1.0 - t / t_max
    else:
        x = threshold / -torch.expm1(-t / tau)
    return torch.where(any_spike, x, torch.full_like(x, silent))
