r"""Delta modulation (send-on-delta): events when a signal moves by a threshold.

Each element keeps a reference :math:`x_{ref}`, starting at ``initial`` (default ``x[0]``, so the
first step sends nothing). At every step t it emits ON events while :math:`x_t - x_{ref} \ge \theta`
and OFF events while :math:`x_t - x_{ref} \le -\theta`, moving the reference by :math:`\pm\theta`
per event, so a jump of several thresholds sends several events in one step:

.. math::

    n_t = \begin{cases}
        \min\{\,j \ge 0 : x_t - x_{ref}(m_{t-1} + j) < \theta\,\} & x_t - x_{ref}(m_{t-1}) \ge \theta\\
        -\min\{\,j \ge 0 : x_t - x_{ref}(m_{t-1} - j) > -\theta\,\} & x_t - x_{ref}(m_{t-1}) \le -\theta\\
        0 & \text{otherwise}
    \end{cases}
    \qquad m_t = m_{t-1} + n_t, \quad x_{ref}(m) = x_{init} + m\,\theta .

The reference is never accumulated: it is computed from the integer event count :math:`m`, so
:func:`delta_decode`, which rebuilds :math:`x_{ref}` from the events with the same expression, gives
it bitwise, and :math:`|x_t - x_{ref,t}| < \theta` holds exactly at every step (in the floating
arithmetic of x's dtype). The output is the signed count :math:`n_t` per step and element (ON > 0,
OFF < 0); :func:`split_polarity` turns it into ON and OFF channels.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._checks import ParamLike, as_param, check_floating, check_positive
from ..errors import DTypeError, ParameterError, ShapeError
from .poisson import _first_bad

__all__ = ["delta", "delta_decode", "split_polarity"]

_MAX_FIXUPS = 64  # corrections of the count estimate per step (1 or 2 are needed in practice)


def _check_sequence(name: str, x: Tensor) -> Tensor:
    x = check_floating(name, x)
    if x.dim() == 0:
        raise ShapeError(f"{name} must be a time-major sequence [T, *shape], got a 0-d tensor")
    return x


def _as_like(name: str, value: ParamLike, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """A finite number or tensor broadcastable to ``shape``, in ``like``'s dtype and device (a
    Python number is converted directly, not through the default dtype)."""
    t = as_param(name, value, shape)
    if not isinstance(value, Tensor):
        t = torch.as_tensor(value, dtype=like.dtype)
    return t.to(dtype=like.dtype, device=like.device)


def _threshold(threshold: ParamLike, shape: tuple[int, ...], like: Tensor) -> Tensor:
    th = _as_like("threshold", threshold, shape, like)
    check_positive("threshold", th)
    return th


def _initial(initial: ParamLike | None, x: Tensor) -> Tensor:
    shape = tuple(x.shape[1:])
    if initial is None:
        if x.shape[0] == 0:
            return x.new_zeros(shape)
        return x[0].detach().clone()
    return _as_like("initial", initial, shape, x).expand(shape)


def _reference(initial: Tensor, m: Tensor, threshold: Tensor) -> Tensor:
    """:math:`x_{ref} = x_{init} + m\\,\\theta`, the one expression the encoder and decoder share."""
    return initial + m.to(initial.dtype) * threshold


def delta(
    x: Tensor,
    threshold: ParamLike,
    *,
    off_events: bool = True,
    initial: ParamLike | None = None,
) -> Tensor:
    r"""Send-on-delta events of a sequence (see the module docstring for the rule).

    Args:
        x: signal ``[T, *shape]``, time-major, floating dtype, finite.
        threshold: :math:`\theta > 0`, in x's units; a number or a tensor broadcastable to
            ``[*shape]`` (one threshold per element).
        off_events: if False, OFF events are dropped from the output (it holds only ON counts);
            the reference still follows the signal down, so only ON crossings are reported and
            :func:`delta_decode` cannot rebuild the signal.
        initial: the reference before the first step, a number or a tensor broadcastable to
            ``[*shape]``; default ``x[0]``. To continue a
            sequence in chunks pass ``delta_decode(events, threshold, initial)[-1]`` of the
            previous chunk.

    Returns:
        Signed event counts ``[T, *shape]`` in x's dtype: +n for n ON events, -n for n OFF events.

    Raises:
        DTypeError: ``x`` is not a floating tensor.
        ShapeError: ``x`` is 0-d, or ``threshold`` or ``initial`` does not broadcast to ``[*shape]``.
        ParameterError: ``x`` has NaN or inf, ``threshold`` is not > 0, or it is too small for
            x's magnitude and dtype to be resolved (the reference cannot get within it).

    Shape:
        ``[T, *shape] -> [T, *shape]``.

    Example:
        >>> import torch
        >>> from spikeforge.encoders import delta, delta_decode
        >>> x = torch.tensor([0.0, 0.3, 1.0, 1.0, 0.1, 0.6])
        >>> ev = delta(x, 0.25)
        >>> ev
        tensor([ 0.,  1.,  3.,  0., -3.,  1.])
        >>> delta_decode(ev, 0.25, x[0])  # the reference, within 0.25 of x at every step
        tensor([0.0000, 0.2500, 1.0000, 1.0000, 0.2500, 0.5000])
    """
    x = _check_sequence("x", x).detach()
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        raise ParameterError(f"x must be finite, got {_first_bad(x, bad)}")
    shape = tuple(x.shape[1:])
    th = _threshold(threshold, shape, x)
    init = _initial(initial, x)
    m = torch.zeros(shape, dtype=torch.int64, device=x.device)
    out = x.new_zeros(x.shape)
    for t in range(x.shape[0]):
        n = _count(x[t], init, m, th)
        m = m + n
        out[t] = n.to(x.dtype)
    if not off_events:
        out = out.clamp(min=0)
    return out


def _count(x: Tensor, init: Tensor, m: Tensor, th: Tensor) -> Tensor:
    """The signed event count of one step (the module docstring's :math:`n_t`), exact."""
    r0 = x - _reference(init, m, th)
    on, off = r0 >= th, r0 <= -th
    if not bool((on | off).any()):
        return torch.zeros_like(m)
    est = (r0 / th).clamp(-(2.0**62), 2.0**62).to(torch.int64)  # the cast truncates toward zero
    n = torch.where(on, est.clamp(min=1), torch.where(off, est.clamp(max=-1), torch.zeros_like(est)))
    for _ in range(_MAX_FIXUPS):
        r = x - _reference(init, m + n, th)
        r_back = x - _reference(init, m + n - torch.sign(n), th)  # before the last event
        more = (on & (r >= th)) | (off & (r <= -th))
        fewer = (on & (n > 1) & (r_back < th)) | (off & (n < -1) & (r_back > -th))
        if not bool((more | fewer).any()):
            return n
        step = torch.where(more, torch.sign(n), torch.zeros_like(n)) - torch.where(fewer, torch.sign(n), 0)
        n = n + step
    raise ParameterError(
        f"threshold is too small for the magnitude of x in {x.dtype}: the reference x_init + m * threshold "
        f"cannot get within it (threshold min {th.min().item()!r}, |x| max {x.abs().max().item()!r}); "
        "use a larger threshold or float64"
    )


def delta_decode(events: Tensor, threshold: ParamLike, initial: ParamLike) -> Tensor:
    r"""Rebuild the reference :math:`x_{ref,t} = x_{init} + \theta \sum_{s \le t} n_s` from delta events.

    With the encoder's ``threshold`` and ``initial`` (``x[0]`` by default there) this is the
    encoder's reference bitwise, so :math:`|x_t - x_{ref,t}| < \theta` at every step.

    Args:
        events: signed event counts ``[T, *shape]`` from :func:`delta` (integer values).
        threshold: the encoder's threshold (number or tensor broadcastable to ``[*shape]``).
        initial: the reference before the first step, a number or a tensor broadcastable to
            ``[*shape]`` (``x[0]`` for the encoder's default).

    Returns:
        The reference after each step, ``[T, *shape]``, in the events' dtype.

    Raises:
        DTypeError: ``events`` is not a floating tensor.
        ShapeError: ``events`` is 0-d, or ``threshold`` or ``initial`` does not broadcast.
        ParameterError: non-integer or non-finite counts, or ``threshold`` not > 0.

    Example:
        >>> import torch
        >>> from spikeforge.encoders import delta, delta_decode
        >>> x = torch.sin(torch.linspace(0, 6.28, 200, dtype=torch.float64))
        >>> rec = delta_decode(delta(x, 0.1), 0.1, x[0])
        >>> bool(((x - rec).abs() < 0.1).all())
        True
    """
    events = _check_sequence("events", events).detach()
    bad = ~torch.isfinite(events) | (events != torch.round(events))
    if bool(bad.any()):
        raise ParameterError(f"events must be integer event counts, got {_first_bad(events, bad)}")
    shape = tuple(events.shape[1:])
    th = _threshold(threshold, shape, events)
    init = _as_like("initial", initial, shape, events).expand(shape)
    m = torch.cumsum(events.to(torch.int64), dim=0)
    return _reference(init, m, th)


def split_polarity(events: Tensor, dim: int = -1) -> Tensor:
    """ON and OFF channels from signed event counts: ``stack([relu(e), relu(-e)], dim)``.

    Args:
        events: signed counts, e.g. ``[T, *shape]`` from :func:`delta`.
        dim: where the polarity axis (index 0 ON, 1 OFF) goes in the output, as in
            ``torch.stack``; default last.

    Returns:
        Non-negative counts with one more dimension, of size 2 at ``dim``, in the events' dtype.

    Example:
        >>> import torch
        >>> from spikeforge.encoders import split_polarity
        >>> split_polarity(torch.tensor([2.0, 0.0, -1.0]))
        tensor([[2., 0.],
                [0., 0.],
                [0., 1.]])
    """
    if not isinstance(events, Tensor):
        raise DTypeError(f"events must be a torch.Tensor, got {type(events).__name__}")
    if not -events.dim() - 1 <= dim <= events.dim():
        raise ParameterError(f"dim must be in [{-events.dim() - 1}, {events.dim()}], got {dim!r}")
    zero = torch.zeros_like(events)
    return torch.stack(
        [torch.where(events > 0, events, zero), torch.where(events < 0, -events, zero)], dim=dim
    )
