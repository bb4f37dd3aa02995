"""PyNN's spike sources: ``SpikeSourcePoisson``, ``SpikeSourceGamma``, ``SpikeSourceArray`` and
``SpikeSourceInhGamma``."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ParameterError, UnsupportedExportError
from .cells import _CellType

__all__ = ["SpikeSourcePoisson", "SpikeSourceGamma", "SpikeSourceArray", "SpikeSourceInhGamma"]


class SpikeSourcePoisson(_CellType):
    """Poisson spike trains of ``rate`` (Hz) from ``start`` for ``duration`` (ms): a spike in a step
    starting in ``[start, start + duration)`` with probability ``rate * dt`` (spikeforge's draw).
    ``Population.set(rate=...)`` also works between runs (e.g. in a ``run`` callback)."""

    default_parameters = {"rate": 1.0, "start": 0.0, "duration": 1e10}


class SpikeSourceGamma(_CellType):
    """Renewal spike trains with gamma-distributed intervals (PyNN's): shape ``alpha`` (an integer
    >= 1, as NEST's ``gamma_sup_generator`` that ``pyNN.nest`` uses) and rate parameter ``beta``
    (Hz), so the mean interval is ``alpha / beta`` and the rate ``beta / alpha``; from ``start``
    for ``duration`` ms.

    An interval of shape ``alpha`` is the sum of ``alpha`` exponential ones of rate ``beta``: each
    neuron counts the events of a Poisson process of rate ``beta`` (one Poisson count per step,
    spikeforge's draw) and spikes at every ``alpha``-th, one step after it. The count starts at a
    uniformly drawn phase, so the trains are stationary from ``t = 0``. ``alpha = 1`` is a Poisson
    process of rate ``beta``.
    """

    default_parameters = {"alpha": 2.0, "beta": 1.0, "start": 0.0, "duration": 1e10}

    def __init__(self, **parameters: Any) -> None:
        super().__init__(**parameters)
        check_gamma(self.parameters)


def check_gamma(p: dict[str, Any]) -> None:
    """``alpha`` whole and >= 1, ``beta`` >= 0 Hz: a :class:`~spikeforge.errors.ParameterError`
    naming the value otherwise."""
    alpha, beta = np.asarray(p["alpha"], dtype=np.float64), np.asarray(p["beta"], dtype=np.float64)
    if not (np.isfinite(alpha).all() and bool((alpha >= 1).all()) and bool((alpha == np.round(alpha)).all())):
        raise ParameterError(
            f"SpikeSourceGamma: alpha must be a whole number >= 1 (as NEST's gamma_sup_generator), got "
            f"{p['alpha']!r}"
        )
    if not (np.isfinite(beta).all() and bool((beta >= 0).all())):
        raise ParameterError(f"SpikeSourceGamma: beta must be a finite rate >= 0 Hz, got {p['beta']!r}")


class SpikeSourceArray(_CellType):
    """Spikes at given times (ms): ``spike_times`` a list of times, or one list per neuron."""

    default_parameters = {"spike_times": ()}  # type: ignore[dict-item]


class SpikeSourceInhGamma(_CellType):
    """An inhomogeneous gamma process (PyNN's): in the time bin starting at ``tbins[k]`` (ms) the
    gamma parameters are ``a[k]`` (shape) and ``b[k]`` (scale, in s), from ``start`` for
    ``duration`` ms. Only ``a = 1`` everywhere, the inhomogeneous Poisson process of rate
    ``1 / b[k]`` Hz, is run (spikeforge's draw; a spike in a step with probability
    ``rate * dt``); another shape is an :class:`~spikeforge.errors.UnsupportedExportError` when
    the network is built. (pyNN.nest 0.13 maps this cell to NEST's ``inh_gamma_generator``,
    which NEST 3 no longer has, so such scripts do not run on pyNN.nest with NEST 3.)
    """

    default_parameters = {"a": (1.0,), "b": (1.0,), "tbins": (0.0,), "start": 0.0, "duration": 1e10}  # type: ignore[dict-item]

    @staticmethod
    def rate(p: dict[str, Any]) -> Any:
        """The rate per ms as a function of the step start times ``t`` (ms), for the parameters ``p``
        (a population's)."""
        a, b, bins = (
            np.asarray(getattr(p[k], "value", p[k]), dtype=np.float64).reshape(-1)
            for k in ("a", "b", "tbins")
        )
        if not (len(a) == len(b) == len(bins)) or len(bins) == 0:
            raise ParameterError(
                f"SpikeSourceInhGamma: a, b and tbins must have the same length >= 1, got {len(a)}, "
                f"{len(b)}, {len(bins)}"
            )
        if not bool((a == 1.0).all()):
            raise UnsupportedExportError(
                f"SpikeSourceInhGamma: shape a = {sorted(set(a.tolist()))}; spikeforge.pynn runs a = 1 "
                "(the inhomogeneous Poisson process of rate 1/b) only"
            )
        if bool((b <= 0).any()) or (len(bins) > 1 and bool((np.diff(bins) <= 0).any())):
            raise ParameterError("SpikeSourceInhGamma: b must be > 0 s and tbins increasing")
        rates = torch.as_tensor(1e-3 / b)  # per ms
        edges = torch.as_tensor(bins)
        start, stop = float(p["start"]), float(p["start"]) + float(p["duration"])

        def value(t: torch.Tensor) -> torch.Tensor:
            k = torch.searchsorted(edges, t + 1e-9, right=True) - 1
            r = torch.where(k >= 0, rates[k.clamp_min(0)], torch.zeros(()))
            on = (t >= start - 1e-9) & (t < stop - 1e-9)
            return torch.where(on, r, torch.zeros(())).to(torch.float64)

        return value


def rate_function(history: list[tuple[float, dict[str, np.ndarray]]], key: str) -> Any:
    """The rate per ms of a Poisson or gamma source as a function of the step start times ``t``
    (ms): ``history`` holds (from when, rate in Hz, start, duration) per neuron, one entry from the
    build and one for each ``set`` between runs (it may grow after this is made)."""

    def value(t: torch.Tensor) -> torch.Tensor:
        t = t.to(torch.float64).reshape(-1, 1)
        since = torch.as_tensor([when for when, _ in history], dtype=torch.float64)
        k = torch.searchsorted(since, t.reshape(-1) + 1e-9, right=True).clamp_min(1) - 1
        rate, start, duration = (
            torch.as_tensor(np.stack([h[name] for _, h in history]))[k] for name in (key, "start", "duration")
        )
        on = (t >= start - 1e-9) & (t < start + duration - 1e-9)
        return torch.where(on, rate / 1000.0, torch.zeros((), dtype=torch.float64))

    return value


def constant_rate(p: dict[str, np.ndarray], key: str) -> torch.Tensor | None:
    """The rate per ms, one per neuron, where it holds from ``t = 0`` on (``start = 0`` and the
    default ``duration``): the network then takes a constant, cheaper than a function of time."""
    if bool((p["start"] == 0).all()) and bool((p["duration"] >= 1e10).all()):
        return torch.as_tensor(p[key] / 1000.0)
    return None
