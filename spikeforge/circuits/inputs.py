r"""Input sources of a network: Poisson groups, given spike times, and time-varying currents.

Time is in ms and rates are per ms (``40 * sf.units.Hz == 0.04``). A time-varying value is a
callable of the time: it gets the start times ``t`` of a block of steps (a float64 tensor ``[C]``
in ms, ``t = step * dt``) and returns a tensor ``[C]``, ``[C, n]`` or ``[C, B, n]``, held over
each step. :class:`TimedArray` turns a table of values into such a callable (Brian2's
``TimedArray``).

* **Poisson group** (:meth:`Network.add_poisson <spikeforge.circuits.Network.add_poisson>`): in
  step ``k`` neuron ``i`` of copy ``b`` spikes when ``u < rate(t_k) * dt`` with ``u`` uniform (in
  the network dtype), Brian2's ``PoissonGroup``. ``u`` is the counter-based draw of
  :mod:`spikeforge.circuits._philox` keyed by the copy's noise seed, with counter (neuron, step,
  stream of the group: its ordinal among the network's Poisson groups). So the draws depend on
  neither how a run is split nor the engine (the compiled engine draws the same numbers in
  numba), and copy ``b`` draws what an unbatched network with its noise seed draws.
* **Spike source** (:meth:`Network.add_spike_source
  <spikeforge.circuits.Network.add_spike_source>`): spike ``k`` of neuron ``indices[k]`` in step
  ``round(times[k] / dt)`` (times are rounded to the nearest step, as Brian2's
  ``SpikeGeneratorGroup`` bins them), in every batch copy or in copy ``batch[k]``.
* **Poisson input** (:meth:`Network.add_poisson_input
  <spikeforge.circuits.Network.add_poisson_input>`): Brian2's ``PoissonInput``. Each target
  neuron receives ``n`` independent Poisson trains of rate ``rate`` through a delta synapse of
  weight ``w``, without simulating them: in step ``k`` neuron ``i`` of copy ``b`` gets ``w`` times
  a count :math:`c \sim \mathrm{Poisson}(\lambda)`, :math:`\lambda = n\,\mathrm{rate}(t_k)\,dt`
  (mean :math:`\lambda w`, variance :math:`\lambda w^2`). One float64 uniform ``u`` per neuron and
  step (the counter-based draw keyed by the copy's noise seed, in the Poisson inputs' own streams,
  one per input in the order they were added, so that adding a Poisson input leaves the groups'
  spikes) gives the count by inversion of the CDF (the smallest ``c`` with ``u < F(c)``,
  :func:`poisson_counts`). The counts therefore do not depend on the network's dtype, on the
  engine or on how a run is split. Costs one draw per neuron and step instead of ``n`` Bernoulli
  draws and ``n`` synapses per neuron.
* **Current** (:meth:`Network.add_current <spikeforge.circuits.Network.add_current>`): a value
  added to the input ``x`` of the target neurons in every step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import ParameterError, ShapeError

__all__ = ["TimedArray", "PoissonGroup", "PoissonInput", "SpikeSource", "CurrentInput"]

TimeFunction = Callable[[Tensor], Tensor]

#: Poisson inputs with up to this many distinct mean counts in a block use CDF tables.
MAX_DISTINCT_MEANS = 32


class TimedArray:
    """A table of values as a function of time (Brian2's ``TimedArray``).

    ``TimedArray(values, dt)(t)`` is ``values[floor(t / dt)]``, clipped to the first and last rows.

    Args:
        values: ``[T]``, ``[T, n]`` or ``[T, B, n]``: row ``r`` holds over ``[r*dt, (r+1)*dt)``.
        dt: time between rows in ms (> 0).

    Example:
        >>> import torch
        >>> from spikeforge.circuits import TimedArray
        >>> rate = TimedArray(torch.tensor([0.0, 0.05], dtype=torch.float64), dt=100.0)  # 0, then 50 Hz
        >>> rate(torch.tensor([0.0, 99.9, 100.0, 500.0])).tolist()
        [0.0, 0.0, 0.05, 0.05]
    """

    def __init__(self, values: Any, dt: float) -> None:
        t = torch.as_tensor(values)
        if t.dim() == 0 or t.shape[0] == 0:
            raise ShapeError(f"values must be [T, ...] with T >= 1, got shape {list(t.shape)}")
        if not t.is_floating_point():
            t = t.to(torch.get_default_dtype())
        if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not (math.isfinite(dt) and dt > 0):
            raise ParameterError(f"dt must be a finite number > 0 ms, got {dt!r}")
        self.values = t
        self.dt = float(dt)

    def __call__(self, t: Tensor) -> Tensor:
        # the small offset makes t = r*dt land in row r despite rounding (Brian2 does the same)
        idx = torch.floor(t.to(torch.float64) / self.dt + 1e-9).to(torch.int64)
        idx = idx.clamp(0, self.values.shape[0] - 1)
        return self.values[idx.to(self.values.device)]

    def __repr__(self) -> str:
        return f"TimedArray(shape={list(self.values.shape)}, dt={self.dt})"


def _as_values(name: str, value: Any, n: int, batch: int, t: Tensor, dtype: torch.dtype) -> Tensor:
    """Evaluate a constant or time function to ``[C or 1, B or 1, n or 1]``."""
    if callable(value) and not isinstance(value, Tensor):
        out = value(t)
        if not isinstance(out, Tensor):
            out = torch.as_tensor(out)
        c = t.numel()
        if out.dim() == 0:
            out = out.reshape(1, 1, 1)
        elif out.dim() == 1:
            if out.shape[0] != c:
                raise ShapeError(
                    f"{name}(t) must return [C], [C, n] or [C, B, n] for C={c} times, got {list(out.shape)}"
                )
            out = out.reshape(c, 1, 1)
        elif out.dim() == 2:
            out = out.unsqueeze(1)
        if (
            out.dim() != 3
            or out.shape[0] not in (1, c)
            or out.shape[1] not in (1, batch)
            or out.shape[2] not in (1, n)
        ):
            raise ShapeError(
                f"{name}(t) must return [C], [C, n] or [C, B, n] with C={c}, B={batch}, n={n}, "
                f"got {list(out.shape)}"
            )
    else:
        out = value.reshape(1, *value.shape)  # constant: [1, B|1, n|1]
    cast = out.to(dtype)
    if not bool(torch.isfinite(cast).all()):
        c, b, i = (int(k) for k in (~torch.isfinite(cast)).nonzero()[0])
        v = out[c, b, i].item()
        at = f"at t={float(t.flatten()[c if out.shape[0] > 1 else 0]):g} ms, copy {b}, neuron {i}"
        if math.isfinite(v):  # finite, but beyond the range of the network's dtype
            raise ParameterError(
                f"{name} {v!r} ({at}) exceeds the range of the network's dtype {dtype} "
                f"(|value| <= {torch.finfo(dtype).max:.4g}): it would become inf"
            )
        raise ParameterError(f"{name} must be finite, got {v!r} {at}")
    return cast


def _constant(name: str, value: Any, n: int, batch: int, device: torch.device) -> Any:
    """A constant as ``[B|1, n|1]`` (float64), or the callable unchanged."""
    if callable(value) and not isinstance(value, Tensor):
        return value
    if isinstance(value, bool):
        raise ParameterError(f"{name} must be a number, a tensor or a function of time, got {value!r}")
    try:
        t = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise ParameterError(
            f"{name} must be a number, a tensor or a function of time, got {value!r}"
        ) from None
    if t.dim() == 0:
        t = t.reshape(1, 1)
    elif t.dim() == 1:
        if t.shape[0] not in (1, n):
            raise ShapeError(f"{name} must be a scalar, [n={n}] or [B={batch}, n], got shape {list(t.shape)}")
        t = t.reshape(1, -1)
    elif t.dim() == 2:
        if t.shape[0] not in (1, batch) or t.shape[1] not in (1, n):
            raise ShapeError(f"{name} must be a scalar, [n={n}] or [B={batch}, n], got shape {list(t.shape)}")
    else:
        raise ShapeError(f"{name} must be a scalar, [n={n}] or [B={batch}, n], got shape {list(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ParameterError(f"{name} must be finite, got {value!r}")
    return t.to(device)


def as_indices(name: str, value: Any) -> Tensor:
    """Whole-number indices as a flat int64 tensor; fractional, non-finite or non-numeric values
    are refused (never truncated)."""
    try:
        a = np.asarray(value)
        if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
            raise TypeError
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be whole numbers (indices), got {value!r}") from None
    if np.issubdtype(a.dtype, np.bool_) or np.issubdtype(a.dtype, np.complexfloating):
        raise ParameterError(f"{name} must be whole numbers (indices), got dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.floating):
        bad = ~np.isfinite(a) | (a != np.round(a))
        if bad.any():
            raise ParameterError(
                f"{name} must be whole numbers, got {float(a.reshape(-1)[bad.reshape(-1)][0])!r}"
            )
        if a.size and np.abs(a).max() >= 2.0**62:
            raise ParameterError(f"{name} must be below 2**62, got {float(np.abs(a).max())!r}")
    return torch.as_tensor(a.astype(np.int64)).reshape(-1)


def _check_rate(name: str, rate: Tensor, dt: float) -> None:
    """A train's rate is >= 0 and at most one spike per step: ``rate * dt <= 1`` (rates are per
    ms, so a rate meant in Hz, ``rate=12``, is caught at the usual dt)."""
    if bool((rate < 0).any()):
        raise ParameterError(f"rate of {name!r} must be >= 0 per ms, got min {float(rate.min())!r}")
    top = float(rate.max()) * dt
    if top > 1.0:
        raise ParameterError(
            f"rate of {name!r} must be <= 1/dt = {1 / dt:g} per ms (one spike per step), got "
            f"{float(rate.max())!r} per ms ({float(rate.max()) / 1e-3:g} Hz); rates are per ms: "
            f"write rate=40 * sf.units.Hz"
        )


class PoissonGroup:
    """``n`` independent Poisson spike trains (see the module docstring); made by
    :meth:`Network.add_poisson <spikeforge.circuits.Network.add_poisson>`."""

    def __init__(self, name: str, n: int, rate: Any, *, dt: float, batch: int, device: torch.device) -> None:
        self.name, self.n, self.dt, self.batch = name, n, dt, batch
        self.rate = _constant("rate", rate, n, batch, device)
        if isinstance(self.rate, Tensor):
            self._check(self.rate)

    def _check(self, rate: Tensor) -> None:
        _check_rate(self.name, rate, self.dt)

    def probabilities(self, t: Tensor, dtype: torch.dtype) -> Tensor:
        """Spike probabilities ``rate(t) * dt`` as ``[C|1, B|1, n|1]``."""
        rate = _as_values("rate", self.rate, self.n, self.batch, t, dtype)
        if callable(self.rate):
            self._check(rate)
        return rate * self.dt


class SpikeSource:
    """Neurons that spike at given times; made by :meth:`Network.add_spike_source
    <spikeforge.circuits.Network.add_spike_source>`."""

    def __init__(
        self, name: str, n: int, times: Any, indices: Any, batch_indices: Any, *, dt: float, batch: int
    ) -> None:
        self.name, self.n, self.dt, self.batch = name, n, dt, batch
        try:
            t = torch.as_tensor(np.asarray(times, dtype=np.float64)).reshape(-1)
        except (TypeError, ValueError):
            raise ParameterError(f"times must be numbers (ms), got {times!r}") from None
        i = as_indices("indices", indices)
        if t.numel() != i.numel():
            raise ShapeError(f"times and indices must have the same length, got {t.numel()} and {i.numel()}")
        if i.numel() and (i.is_floating_point() and bool((i != i.round()).any())):
            raise ParameterError("indices must be integers")
        i = i.to(torch.int64)
        if t.numel():
            if not bool(torch.isfinite(t).all()) or float(t.min()) < 0:
                raise ParameterError(f"times must be finite and >= 0 ms, got min {float(t.min())!r}")
            if float(t.max()) / dt >= 2.0**62:  # the step index is int64: it would wrap
                raise ParameterError(
                    f"times must be below 2**62 steps of dt={dt} ms, got max {float(t.max())!r} ms"
                )
            if int(i.min()) < 0 or int(i.max()) >= n:
                raise ParameterError(
                    f"indices must be in [0, {n}), got range [{int(i.min())}, {int(i.max())}]"
                )
        steps = torch.round(t / dt).to(torch.int64)
        if batch_indices is None:
            b = torch.arange(batch).repeat_interleave(steps.numel())
            steps, i = steps.repeat(batch), i.repeat(batch)
        else:
            b = as_indices("batch", batch_indices)
            if b.numel() != steps.numel():
                raise ShapeError(
                    f"batch must have one copy index per spike ({steps.numel()}), got {b.numel()}"
                )
            if b.numel() and (int(b.min()) < 0 or int(b.max()) >= batch):
                raise ParameterError(
                    f"batch indices must be in [0, {batch}), got range [{int(b.min())}, {int(b.max())}]"
                )
        key = (steps * batch + b) * n + i
        order = torch.argsort(key, stable=True)
        key = key[order]
        if key.numel() > 1 and bool((key[1:] == key[:-1]).any()):
            k = int(key[1:][key[1:] == key[:-1]][0])
            raise ParameterError(
                f"neuron {k % n} of {name!r} has two spikes in step {k // n // batch} "
                f"(t = {k // n // batch * dt:g} ms, copy {k // n % batch}); at most one spike per step"
            )
        self.steps, self.b, self.i = steps[order], b[order], i[order]

    def events(self, s0: int, s1: int) -> tuple[Tensor, Tensor, Tensor]:
        """``(step, copy, index)`` of the spikes in steps ``[s0, s1)``, sorted."""
        lo = int(torch.searchsorted(self.steps, s0))
        hi = int(torch.searchsorted(self.steps, s1))
        return self.steps[lo:hi], self.b[lo:hi], self.i[lo:hi]


class CurrentInput:
    """A current added to a population's input every step; made by :meth:`Network.add_current
    <spikeforge.circuits.Network.add_current>`."""

    def __init__(
        self, name: str, target: str, n: int, current: Any, *, batch: int, device: torch.device
    ) -> None:
        self.name, self.target, self.n, self.batch = name, target, n, batch
        self.current = _constant("current", current, n, batch, device)

    def values(self, t: Tensor, dtype: torch.dtype) -> Tensor:
        """The current in steps starting at times ``t`` as ``[C|1, B|1, n|1]``."""
        return _as_values(f"current {self.name!r}", self.current, self.n, self.batch, t, dtype)


class PoissonInput:
    """The summed input of ``n`` Poisson trains per target neuron, drawn as one Poisson count per
    neuron and step (see the module docstring); made by :meth:`Network.add_poisson_input
    <spikeforge.circuits.Network.add_poisson_input>`."""

    def __init__(
        self,
        name: str,
        target: str,
        field: str,
        n_target: int,
        n: int,
        rate: Any,
        weight: float,
        *,
        dt: float,
        batch: int,
        device: torch.device,
    ) -> None:
        self.name, self.target, self.field, self.n_target = name, target, field, n_target
        self.n, self.weight, self.dt, self.batch = n, weight, dt, batch
        self.rate = _constant("rate", rate, n_target, batch, device)
        if isinstance(self.rate, Tensor):
            self._check(self.rate)

    def _check(self, rate: Tensor) -> None:
        _check_rate(self.name, rate, self.dt)  # per train, as for a Poisson group

    def means(self, t: Tensor) -> Tensor:
        """Mean counts ``n * rate(t) * dt`` as ``[C|1, B|1, n_target|1]`` (float64)."""
        rate = _as_values("rate", self.rate, self.n_target, self.batch, t, torch.float64)
        if callable(self.rate):
            self._check(rate)
        return rate * (self.n * self.dt)


def _cdf_table(lam: float, device: torch.device) -> Tensor:
    """The Poisson CDF ``F(0..K)`` (float64) for mean ``lam > 0``, up to a tail below 1e-20."""
    k = int(math.ceil(lam + 12.0 * math.sqrt(lam) + 30.0))
    c = torch.arange(k + 1, dtype=torch.float64, device=device)
    logp = c * math.log(lam) - lam - torch.lgamma(c + 1.0)
    return torch.cumsum(torch.exp(logp), 0)


def poisson_counts(lam: Tensor, u: Tensor) -> Tensor:
    r"""Poisson counts (int64) with means ``lam`` (broadcastable to ``u``) from uniforms ``u``
    (float64) by inversion of the CDF: the smallest ``c`` with
    :math:`u < F(c) = \sum_{j \le c} e^{-\lambda}\lambda^j/j!`.

    Up to :data:`MAX_DISTINCT_MEANS` distinct means (the usual case: a rate shared by the
    neurons) are looked up in a table of the CDF, one ``searchsorted`` per distinct mean; more
    are inverted element by element (the search over ``c`` stops when every ``u`` is placed).

    Example:
        >>> import torch
        >>> from spikeforge.circuits.inputs import poisson_counts
        >>> u = torch.tensor([0.1, 0.5, 0.9, 0.99], dtype=torch.float64)
        >>> poisson_counts(torch.tensor(1.0), u).tolist()  # F(0..3) = 0.37, 0.74, 0.92, 0.98
        [0, 1, 2, 4]
    """
    lam = lam.to(torch.float64)
    if u.numel() == 0:
        return torch.zeros(u.shape, dtype=torch.int64, device=u.device)
    lo, hi = float(lam.min()), float(lam.max())
    if lo == hi:  # one mean: checked before broadcasting, so a shared rate costs nothing here
        if lo <= 0:
            return torch.zeros(u.shape, dtype=torch.int64, device=u.device)
        return torch.searchsorted(_cdf_table(lo, u.device), u, right=True)
    flat_u, flat_lam = u.reshape(-1), lam.expand_as(u).reshape(-1)
    out = torch.zeros(flat_u.shape, dtype=torch.int64, device=u.device)
    vals, inv = torch.unique(flat_lam, return_inverse=True)
    if vals.numel() <= MAX_DISTINCT_MEANS:
        for r, value in enumerate(vals.tolist()):
            if value > 0:
                sel = inv == r
                out[sel] = torch.searchsorted(_cdf_table(value, u.device), flat_u[sel], right=True)
        return out.reshape(u.shape)
    # element by element: carry F(c) of the still unplaced draws and drop those placed; the terms
    # are computed in log space (exp(-lam) underflows for lam > 745)
    idx = torch.nonzero(flat_lam > 0).reshape(-1)
    ll, uu = flat_lam[idx], flat_u[idx]
    log_l = torch.log(ll)
    cdf = torch.exp(-ll)
    c = 0
    while idx.numel():
        go = uu >= cdf
        out[idx[~go]] = c
        keep = torch.nonzero(go).reshape(-1)
        idx, cdf, uu, ll, log_l = idx[keep], cdf[keep], uu[keep], ll[keep], log_l[keep]
        c += 1
        grown = cdf + torch.exp(c * log_l - ll - math.lgamma(c + 1))
        stuck = (grown == cdf) & (c > ll)  # past the mode and u within rounding of 1: tail spent
        cdf = grown
        if bool(stuck.any()):
            out[idx[stuck]] = c
            live = torch.nonzero(~stuck).reshape(-1)
            idx, cdf, uu, ll, log_l = idx[live], cdf[live], uu[live], ll[live], log_l[live]
    return out.reshape(u.shape)
