"""PyNN's synapse types: ``StaticSynapse`` and pair-based STDP (``STDPMechanism`` with
``SpikePairRule`` and the additive, multiplicative and Gütig weight dependences)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..circuits.pynn_export import stdp_amplitude_scale
from ..errors import ParameterError, UnsupportedExportError
from ..plasticity import STDP

__all__ = [
    "StaticSynapse",
    "STDPMechanism",
    "SpikePairRule",
    "AdditiveWeightDependence",
    "MultiplicativeWeightDependence",
    "GutigWeightDependence",
]


class StaticSynapse:
    """A fixed weight (nA, µS or mV by cell type) and delay (ms, >= one step)."""

    def __init__(self, weight: float = 0.0, delay: float | None = None) -> None:
        self.weight, self.delay = weight, delay


def _finite(owner: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ParameterError(f"{owner}: {key} must be a number, got {value!r}")
    if not np.isfinite(value):
        raise ParameterError(f"{owner}: {key} must be finite, got {value!r}")
    return float(value)


class SpikePairRule:
    """PyNN's pair-based timing dependence: amplitudes ``A_plus``, ``A_minus`` (PyNN's, relative to
    ``w_max``), time constants ``tau_plus``, ``tau_minus`` (ms), all spikes paired."""

    def __init__(
        self, tau_plus: float = 20.0, tau_minus: float = 20.0, A_plus: float = 0.01, A_minus: float = 0.01
    ) -> None:
        p = {"tau_plus": tau_plus, "tau_minus": tau_minus, "A_plus": A_plus, "A_minus": A_minus}
        self.parameters = {k: _finite("SpikePairRule", k, v) for k, v in p.items()}
        for k in ("tau_plus", "tau_minus"):
            if self.parameters[k] <= 0:
                raise ParameterError(f"SpikePairRule: {k} must be > 0 ms, got {p[k]!r}")


class _WeightDependence:
    weight_dependence = ""
    mu = (0.0, 0.0)

    def __init__(self, w_min: float = 0.0, w_max: float = 1.0) -> None:
        name = type(self).__name__
        self.w_min, self.w_max = _finite(name, "w_min", w_min), _finite(name, "w_max", w_max)
        if self.w_max <= 0 or not self.w_min <= self.w_max:
            raise ParameterError(
                f"{name}: need 0 < w_max and w_min <= w_max, got w_min={w_min!r}, w_max={w_max!r}"
            )


class AdditiveWeightDependence(_WeightDependence):
    """Weight changes independent of the weight, clipped to ``[w_min, w_max]``."""

    weight_dependence = "additive"


class MultiplicativeWeightDependence(_WeightDependence):
    """Potentiation by ``A_plus (w_max - w)``, depression by ``A_minus (w - w_min)`` (PyNN's)."""

    weight_dependence = "multiplicative"
    mu = (1.0, 1.0)


class GutigWeightDependence(_WeightDependence):
    """Gütig et al. (2003): ``A_plus w_max^(1-mu_plus) (w_max - w)^mu_plus``, ``A_minus
    w_max^(1-mu_minus) w^mu_minus``; only ``w_min = 0``, as in NEST."""

    weight_dependence = "soft"

    def __init__(
        self, w_min: float = 0.0, w_max: float = 1.0, mu_plus: float = 0.5, mu_minus: float = 0.5
    ) -> None:
        super().__init__(w_min, w_max)
        if self.w_min != 0:
            raise UnsupportedExportError(
                f"GutigWeightDependence: w_min={w_min!r}; spikeforge.pynn (as NEST and the export) "
                "takes only w_min = 0, the soft bound being relative to w_max"
            )
        name = "GutigWeightDependence"
        self.mu = (_finite(name, "mu_plus", mu_plus), _finite(name, "mu_minus", mu_minus))
        if min(self.mu) < 0:
            raise ParameterError(
                f"GutigWeightDependence: mu_plus and mu_minus must be >= 0, got {mu_plus!r}, {mu_minus!r}"
            )


class STDPMechanism(StaticSynapse):
    """Pair-based STDP (PyNN's): a :class:`~spikeforge.plasticity.STDP` on the projection.

    ``timing_dependence`` must be a :class:`SpikePairRule`, ``weight_dependence`` one of
    :class:`AdditiveWeightDependence`, :class:`MultiplicativeWeightDependence`,
    :class:`GutigWeightDependence` (all of this module); ``weight`` (initial, in
    ``[w_min, w_max]``) and ``delay`` (ms) as in :class:`StaticSynapse`; no
    ``voltage_dependence``.

    ``dendritic_delay_fraction`` ``f`` (PyNN's, 0 to 1, default 1): the part of each synapse's
    delay ``d`` that is dendritic. The rule sees the post spike ``f d`` and the pre spike ``(1 -
    f) d`` after its emission (:class:`~spikeforge.plasticity.STDP` ``dendritic_delay`` and
    ``axonal_delay``, whole steps: ``round(f d / dt)``, a midpoint up, and the rest of the delay).
    ``f = 1`` is NEST's ``stdp_synapse`` (the whole delay dendritic: a pair at lag ``t`` changes the
    weight as at ``t + d``), ``f = 0`` pyNN.brian2's (the whole delay axonal). A rule has one
    dendritic delay, so a projection whose synapses have several delays becomes one network
    projection per delay, each with its rule (each synapse's as NEST's).

    Example:
        >>> import spikeforge.pynn as sim
        >>> stdp = sim.STDPMechanism(
        ...     timing_dependence=sim.SpikePairRule(A_plus=0.02, A_minus=0.024),
        ...     weight_dependence=sim.AdditiveWeightDependence(w_max=0.5), weight=0.25, delay=1.0)
        >>> rule = stdp.rule(dt=0.1, delay=1.0)
        >>> round(float(rule.a_plus), 6), round(float(rule.a_minus), 6)  # A * w_max
        (0.01, 0.012)
        >>> rule.dendritic_delay, rule.axonal_delay  # dendritic_delay_fraction = 1: NEST's
        (1.0, 0.0)
    """

    def __init__(
        self,
        timing_dependence: Any = None,
        weight_dependence: Any = None,
        voltage_dependence: Any = None,
        dendritic_delay_fraction: float = 1.0,
        weight: float = 0.0,
        delay: float | None = None,
    ) -> None:
        if not isinstance(timing_dependence, SpikePairRule):
            raise UnsupportedExportError(
                f"STDPMechanism: timing_dependence {type(timing_dependence).__name__} is not supported "
                "by spikeforge.pynn (spikeforge.pynn.SpikePairRule is)"
            )
        if not isinstance(weight_dependence, _WeightDependence):
            raise UnsupportedExportError(
                f"STDPMechanism: weight_dependence {type(weight_dependence).__name__} is not supported "
                "by spikeforge.pynn (AdditiveWeightDependence, MultiplicativeWeightDependence and "
                "GutigWeightDependence of spikeforge.pynn are)"
            )
        if voltage_dependence is not None:
            raise UnsupportedExportError(
                f"STDPMechanism: voltage_dependence={voltage_dependence!r} is not supported by "
                "spikeforge.pynn (None is)"
            )
        fraction = _finite("STDPMechanism", "dendritic_delay_fraction", dendritic_delay_fraction)
        if not 0.0 <= fraction <= 1.0:
            raise ParameterError(
                f"STDPMechanism: dendritic_delay_fraction must lie in [0, 1] (the dendritic part of the "
                f"delay), got {dendritic_delay_fraction!r}"
            )
        self.dendritic_delay_fraction = fraction
        weight = _finite("STDPMechanism", "weight", weight)
        wd = weight_dependence
        if not wd.w_min <= weight <= wd.w_max:
            raise ParameterError(
                f"STDPMechanism: weight={weight!r} must lie in [w_min, w_max] = [{wd.w_min}, {wd.w_max}]"
            )
        super().__init__(weight, delay)
        self.timing_dependence, self.weight_dependence = timing_dependence, weight_dependence

    def rule(self, dt: float, delay: float) -> STDP:
        """The spikeforge rule for synapses of delay ``delay`` ms at step ``dt`` ms: ``a_plus =
        A_plus * w_max ** (1 - mu_plus)`` (the same for minus), ``dendritic_delay`` ``round(f
        delay / dt)`` steps (a midpoint up) and ``axonal_delay`` the rest of the delay."""
        steps = round(delay / dt)
        dendritic = math.floor(self.dendritic_delay_fraction * steps + 0.5 + 1e-9)
        t, wd = self.timing_dependence.parameters, self.weight_dependence
        mu_p, mu_m = wd.mu
        soft = wd.weight_dependence == "soft"
        return STDP(
            tau_plus=t["tau_plus"],
            tau_minus=t["tau_minus"],
            a_plus=t["A_plus"] * stdp_amplitude_scale(wd.w_max, mu_p),
            a_minus=t["A_minus"] * stdp_amplitude_scale(wd.w_max, mu_m),
            w_min=wd.w_min,
            w_max=wd.w_max,
            weight_dependence=wd.weight_dependence,
            mu_plus=mu_p if soft else None,
            mu_minus=mu_m if soft else None,
            dt=dt,
            dendritic_delay=dendritic * dt,
            axonal_delay=(steps - dendritic) * dt,
        )
