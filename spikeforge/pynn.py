r"""spikeforge as a PyNN backend: ``import spikeforge.pynn as sim`` runs (a subset of) PyNN scripts.

A first subset, the inverse of :mod:`spikeforge.circuits.pynn_export` with the same units and
time conventions (mV, ms, nA, nF, µS, Hz; a PyNN spike time is spikeforge's plus ``dt``):

* ``setup(timestep=..., rng_seed=...)``, ``run(t, callbacks=...)``, ``end()``, ``get_time_step()``,
  ``get_current_time()``, ``num_processes()``, ``rank()``;
* cells ``IF_curr_exp``, ``IF_curr_alpha``, ``IF_curr_delta``, ``IF_cond_exp``, ``IF_cond_alpha``
  (a :class:`~spikeforge.neurons.LIF` with ``r = tau_m / cm``), ``Izhikevich``, and the sources
  ``SpikeSourcePoisson`` (constant ``rate``), ``SpikeSourceArray`` (times, one list per neuron, or
  a function of the indices) and ``SpikeSourceInhGamma`` with ``a = 1`` (an inhomogeneous Poisson
  process); ``DCSource`` and ``StepCurrentSource`` currents (``inject_into``,
  ``Population.inject``); one value per neuron as a list or array;
* ``Population(size, celltype, structure=..., initial_values=..., label=...)`` with ``Line``,
  ``Grid2D``, ``Grid3D`` (or PyNN's own ``pyNN.space`` structures) and ``positions``,
  ``initialize``, ``record("spikes"`` or ``"v")``, ``get_data()`` (a Neo ``Block``, as PyNN
  returns; needs ``neo``, installed with PyNN) and ``write_data``;
* ``Projection(pre, post, connector, synapse_type=StaticSynapse(weight, delay),
  receptor_type=...)`` with ``AllToAllConnector``, ``OneToOneConnector``,
  ``FixedProbabilityConnector`` (drawn by spikeforge's generator, so not the same draw as
  another backend's), ``FixedNumberPreConnector``, ``FixedNumberPostConnector``,
  ``DistanceDependentProbabilityConnector`` (in the projection's ``Space``; drawn the same way)
  and ``FromListConnector``; ``Projection.set(weight=..., delay=...)`` before the first run;
* ``Assembly`` (also ``pop1 + pop2``): recorded, injected into, source or target of projections;
  ``PopulationView`` (``pop[2:5]``, ``pop[[4, 1]]``): the same, and initialized;
* ``STDPMechanism(timing_dependence=SpikePairRule(...), weight_dependence=...)`` with
  ``AdditiveWeightDependence``, ``MultiplicativeWeightDependence`` and ``GutigWeightDependence``
  (``w_min = 0``): a :class:`~spikeforge.plasticity.STDP` on the projection, the inverse of the
  export's mapping (:func:`~spikeforge.circuits.pynn_export.stdp_amplitude_scale`: ``a_plus =
  A_plus * w_max ** (1 - mu_plus)``); only the default ``dendritic_delay_fraction = 1`` (NEST's
  convention; spikeforge pairs the post spike without the delay, so a pair at lag ``t`` changes the
  weight as NEST's at ``t + delay``: within 3% at delay = dt <= 0.5 ms and tau >= 15 ms);
  ``Projection.get("weight"`` or ``"delay", format="array"`` or ``"list")`` reads them back.

The network is built at the first ``run`` (a :class:`~spikeforge.circuits.Network`, exact
integration), so populations and projections must come before it. Unsupported features raise
:class:`~spikeforge.errors.UnsupportedExportError` naming them; a PyNN name this module lacks
(``ACSource``, ``Vogels2011Rule``, ...) raises ``AttributeError`` saying so. Like PyNN itself this
module keeps one simulation state, reset by ``setup``.

Example:
    >>> import spikeforge.pynn as sim
    >>> _ = sim.setup(timestep=0.1)
    >>> src = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0, 7.0, 9.0]))
    >>> cell = sim.Population(1, sim.IF_curr_exp(tau_m=10.0, cm=10.0, v_thresh=-60.0))
    >>> prj = sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=20.0, delay=1.0))
    >>> cell.record("spikes")
    >>> sim.run(20.0)
    20.0
    >>> [round(float(t), 6) for t in cell.spike_times()[0]]  # pyNN.nest (on_grid): the same
    [8.8, 10.7, 12.7, 16.3]
    >>> sim.end()
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .circuits import AlphaConductance, AlphaSynapse, DeltaSynapse, ExpConductance, ExpSynapse, Network
from .circuits.projection import Explicit
from .circuits.pynn_export import stdp_amplitude_scale
from .errors import MissingDependencyError, ParameterError, UnsupportedExportError
from .neurons import LIF
from .neurons import Izhikevich as _IzhikevichNeuron
from .plasticity import STDP

__all__ = [
    "setup",
    "run",
    "num_processes",
    "rank",
    "end",
    "get_time_step",
    "get_current_time",
    "Population",
    "Projection",
    "IF_curr_exp",
    "IF_curr_alpha",
    "IF_curr_delta",
    "IF_cond_exp",
    "IF_cond_alpha",
    "Izhikevich",
    "SpikeSourcePoisson",
    "SpikeSourceArray",
    "StaticSynapse",
    "AllToAllConnector",
    "OneToOneConnector",
    "FixedProbabilityConnector",
    "FromListConnector",
    "FixedNumberPreConnector",
    "FixedNumberPostConnector",
    "DistanceDependentProbabilityConnector",
    "DCSource",
    "StepCurrentSource",
    "SpikeSourceInhGamma",
    "Line",
    "Grid2D",
    "Grid3D",
    "Space",
    "Assembly",
    "PopulationView",
    "STDPMechanism",
    "SpikePairRule",
    "AdditiveWeightDependence",
    "MultiplicativeWeightDependence",
    "GutigWeightDependence",
]


# PyNN names this module does not implement: a script using one stops with a clear message
_NOT_IMPLEMENTED = frozenset(
    {
        "EIF_cond_exp_isfa_ista",
        "EIF_cond_alpha_isfa_ista",
        "IF_cond_exp_gsfa_grr",
        "HH_cond_exp",
        "IF_facets_hardware1",
        "SpikeSourceGamma",
        "ACSource",
        "NoisyCurrentSource",
        "ArrayConnector",
        "CSAConnector",
        "FixedTotalNumberConnector",
        "IndexBasedProbabilityConnector",
        "SmallWorldConnector",
        "CloneConnector",
        "DisplacementDependentProbabilityConnector",
        "TsodyksMarkramSynapse",
        "Vogels2011Rule",
        "AdditivePotentiationMultiplicativeDepression",
        "NumpyRNG",
        "GSLRNG",
        "NativeRNG",
        "RandomDistribution",
        "RandomStructure",
        "Cuboid",
        "Sphere",
    }
)


def __getattr__(name: str) -> Any:
    if name in _NOT_IMPLEMENTED:
        raise AttributeError(
            f"spikeforge.pynn does not implement PyNN's {name} (see the table of covered features "
            "in the docs, 'Coming from NEST and PyNN')"
        )
    raise AttributeError(f"module 'spikeforge.pynn' has no attribute {name!r}")


class _CellType:
    default_parameters: dict[str, float] = {}
    default_initial_values: dict[str, float] = {}
    synapse: str = ""

    def __init__(self, **parameters: Any) -> None:
        unknown = set(parameters) - set(self.default_parameters)
        if unknown:
            raise ParameterError(
                f"{type(self).__name__} has no parameters {sorted(unknown)}; it takes "
                f"{sorted(self.default_parameters)}"
            )
        self.parameters = {**self.default_parameters, **parameters}
        for key, value in parameters.items():  # one value per neuron: PyNN takes lists and arrays
            if isinstance(self.default_parameters[key], float) and isinstance(
                value, (list, tuple, np.ndarray)
            ):
                self.parameters[key] = np.asarray(value, dtype=np.float64)


_LIF = {
    "v_rest": -65.0,
    "cm": 1.0,
    "tau_m": 20.0,
    "tau_refrac": 0.1,
    "i_offset": 0.0,
    "v_reset": -65.0,
    "v_thresh": -50.0,
}


class IF_curr_exp(_CellType):  # noqa: N801 - PyNN's name
    """LIF with exponential current synapses (PyNN's parameters and defaults)."""

    default_parameters = {**_LIF, "tau_syn_E": 5.0, "tau_syn_I": 5.0}
    default_initial_values = {"v": -65.0}
    synapse = "exp"


class IF_curr_alpha(IF_curr_exp):  # noqa: N801
    """LIF with alpha current synapses."""

    default_parameters = {**_LIF, "tau_syn_E": 0.5, "tau_syn_I": 0.5}
    synapse = "alpha"


class IF_curr_delta(_CellType):  # noqa: N801
    """LIF whose synapses jump v (weights in mV)."""

    default_parameters = dict(_LIF)
    default_initial_values = {"v": -65.0}
    synapse = "delta"


class IF_cond_exp(_CellType):  # noqa: N801
    """LIF with exponential conductance synapses (weights in µS)."""

    default_parameters = {**_LIF, "tau_syn_E": 5.0, "tau_syn_I": 5.0, "e_rev_E": 0.0, "e_rev_I": -70.0}
    default_initial_values = {"v": -65.0}
    synapse = "cond_exp"


class IF_cond_alpha(IF_cond_exp):  # noqa: N801
    """LIF with alpha conductance synapses."""

    default_parameters = {**IF_cond_exp.default_parameters, "tau_syn_E": 0.3, "tau_syn_I": 0.5}
    synapse = "cond_alpha"


class Izhikevich(_CellType):
    """Izhikevich (2003) cell; delta synapses onto v (weights in mV), ``i_offset`` in nA."""

    default_parameters = {"a": 0.02, "b": 0.2, "c": -65.0, "d": 2.0, "i_offset": 0.0}
    default_initial_values = {"v": -70.0, "u": -14.0}
    synapse = "delta"


class SpikeSourcePoisson(_CellType):
    """Poisson spike trains of a constant ``rate`` (Hz)."""

    default_parameters = {"rate": 1.0}


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

    def rate(self, size: int) -> Any:
        """The rate per ms as a function of the step start times ``t`` (ms)."""
        p = self.parameters
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
    ``[w_min, w_max]``) and ``delay`` (ms) as in :class:`StaticSynapse`. Only the default
    ``dendritic_delay_fraction = 1`` and no ``voltage_dependence``.

    Example:
        >>> import spikeforge.pynn as sim
        >>> stdp = sim.STDPMechanism(
        ...     timing_dependence=sim.SpikePairRule(A_plus=0.02, A_minus=0.024),
        ...     weight_dependence=sim.AdditiveWeightDependence(w_max=0.5), weight=0.25, delay=1.0)
        >>> rule = stdp.rule(dt=0.1)
        >>> round(float(rule.a_plus), 6), round(float(rule.a_minus), 6)  # A * w_max
        (0.01, 0.012)
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
        if isinstance(dendritic_delay_fraction, bool) or dendritic_delay_fraction != 1.0:
            raise UnsupportedExportError(
                f"STDPMechanism: dendritic_delay_fraction={dendritic_delay_fraction!r} is not supported "
                "by spikeforge.pynn; only the default 1.0 (NEST's convention, the one the export writes)"
            )
        weight = _finite("STDPMechanism", "weight", weight)
        wd = weight_dependence
        if not wd.w_min <= weight <= wd.w_max:
            raise ParameterError(
                f"STDPMechanism: weight={weight!r} must lie in [w_min, w_max] = [{wd.w_min}, {wd.w_max}]"
            )
        super().__init__(weight, delay)
        self.timing_dependence, self.weight_dependence = timing_dependence, weight_dependence

    def rule(self, dt: float) -> STDP:
        """The spikeforge rule: ``a_plus = A_plus * w_max ** (1 - mu_plus)`` (the same for minus)."""
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
        )


class AllToAllConnector:
    def __init__(self, allow_self_connections: bool = True) -> None:
        self.allow_self_connections = allow_self_connections

    def pairs(self, n_pre: int, n_post: int, same: bool, gen: torch.Generator) -> tuple[np.ndarray, ...]:
        pre, post = np.meshgrid(np.arange(n_pre), np.arange(n_post), indexing="ij")
        keep = np.ones_like(pre, dtype=bool) if (self.allow_self_connections or not same) else pre != post
        return pre[keep], post[keep]


class OneToOneConnector:
    def pairs(self, n_pre: int, n_post: int, same: bool, gen: torch.Generator) -> tuple[np.ndarray, ...]:
        if n_pre != n_post:
            raise ParameterError(
                f"OneToOneConnector needs populations of equal size, got {n_pre} and {n_post}"
            )
        return np.arange(n_pre), np.arange(n_pre)


class FixedProbabilityConnector:
    def __init__(self, p_connect: float, allow_self_connections: bool = True, rng: Any = None) -> None:
        if not 0.0 <= float(p_connect) <= 1.0:
            raise ParameterError(f"p_connect must be in [0, 1], got {p_connect!r}")
        self.p_connect, self.allow_self_connections = float(p_connect), allow_self_connections

    def pairs(self, n_pre: int, n_post: int, same: bool, gen: torch.Generator) -> tuple[np.ndarray, ...]:
        mask = (torch.rand(n_pre, n_post, generator=gen, dtype=torch.float64) < self.p_connect).numpy()
        if same and not self.allow_self_connections:
            np.fill_diagonal(mask, False)
        pre, post = np.nonzero(mask)
        return pre, post


def _fixed_number(
    name: str, n: int, n_from: int, n_to: int, no_self: bool, with_replacement: bool, gen: torch.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sources out of ``n_from`` for each of ``n_to`` targets: (source, target) index arrays."""
    pool = n_from - 1 if no_self else n_from
    if not with_replacement and n > pool:
        raise ParameterError(
            f"{name}: n = {n} connections per neuron without replacement need at least {n} candidates, "
            f"but there are {pool}" + (" (self-connections excluded)" if no_self else "")
        )
    if n == 0 or n_to == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    if pool <= 0:
        raise ParameterError(f"{name}: no candidates to draw n = {n} connections from")
    target = torch.arange(n_to).unsqueeze(1).expand(n_to, n)
    if with_replacement:
        src = torch.randint(pool, (n_to, n), generator=gen)
    else:
        src = torch.rand(n_to, pool, generator=gen, dtype=torch.float64).argsort(dim=1)[:, :n]
    if no_self:  # drawn among the pool without the target itself: shift past it
        src = src + (src >= target).long()
    return src.reshape(-1).numpy(), target.reshape(-1).numpy()


class FixedNumberPreConnector:
    """Each postsynaptic neuron gets ``n`` presynaptic partners drawn at random (PyNN's).

    Drawn by spikeforge's generator, so not the same draw as another backend's: scripts agree with
    them in distribution (exactly where the sources are alike).
    """

    def __init__(
        self, n: int, allow_self_connections: bool = True, with_replacement: bool = False, rng: Any = None
    ) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ParameterError(f"FixedNumberPreConnector: n must be an int >= 0, got {n!r}")
        self.n, self.allow_self_connections, self.with_replacement = (
            int(n),
            allow_self_connections,
            with_replacement,
        )

    def pairs(self, n_pre: int, n_post: int, same: bool, gen: torch.Generator) -> tuple[np.ndarray, ...]:
        no_self = same and not self.allow_self_connections
        pre, post = _fixed_number(
            "FixedNumberPreConnector", self.n, n_pre, n_post, no_self, self.with_replacement, gen
        )
        return pre, post


class FixedNumberPostConnector(FixedNumberPreConnector):
    """Each presynaptic neuron gets ``n`` postsynaptic partners drawn at random (PyNN's)."""

    def __init__(
        self, n: int, allow_self_connections: bool = True, with_replacement: bool = False, rng: Any = None
    ) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ParameterError(f"FixedNumberPostConnector: n must be an int >= 0, got {n!r}")
        super().__init__(n, allow_self_connections, with_replacement)

    def pairs(self, n_pre: int, n_post: int, same: bool, gen: torch.Generator) -> tuple[np.ndarray, ...]:
        no_self = same and not self.allow_self_connections
        post, pre = _fixed_number(
            "FixedNumberPostConnector", self.n, n_post, n_pre, no_self, self.with_replacement, gen
        )
        return pre, post


class DCSource:
    """A constant current ``amplitude`` (nA) from ``start`` to ``stop`` (ms; ``None``: to the end).

    It acts in the steps that start at ``t`` with ``start <= t < stop``, as NEST's ``dc_generator``
    through ``pyNN.nest``. Inject it with ``source.inject_into(population)`` or
    ``population.inject(source)``.
    """

    def __init__(self, amplitude: float = 1.0, start: float = 0.0, stop: float | None = None) -> None:
        for key, value in (("amplitude", amplitude), ("start", start), ("stop", stop)):
            if value is None and key == "stop":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise ParameterError(f"DCSource: {key} must be a finite number, got {value!r}")
        if start < 0 or (stop is not None and stop < start):
            raise ParameterError(
                f"DCSource: need 0 <= start <= stop (ms), got start={start!r}, stop={stop!r}"
            )
        self.amplitude, self.start, self.stop = float(amplitude), float(start), stop

    def inject_into(self, cells: Any) -> None:
        """Inject this current into every neuron of ``cells`` (a population)."""
        cells.inject(self)

    def current(self, scale: float, dt: float) -> Any:  # noqa: ARG002 - the interface of StepCurrentSource
        """The current as a function of the step start times ``t`` (ms), times ``scale``."""
        amp, start = self.amplitude * scale, self.start
        stop = float("inf") if self.stop is None else float(self.stop)

        def value(t: torch.Tensor) -> torch.Tensor:
            return amp * ((t >= start - 1e-9) & (t < stop - 1e-9)).to(torch.float64)

        return value


class StepCurrentSource:
    """A current that steps to ``amplitudes[k]`` (nA) at ``times[k]`` (ms), 0 before the first
    time and the last amplitude to the end (PyNN's).

    The times are rounded to the step grid and the current ``amplitudes[k]`` acts in the steps
    that start at ``t`` with ``times[k] <= t < times[k + 1]``, as NEST's
    ``step_current_generator`` through ``pyNN.nest`` (checked against it); of two times that
    round to the same step the last amplitude holds. Inject it as a :class:`DCSource`.
    """

    def __init__(self, times: Any = (), amplitudes: Any = ()) -> None:
        t = np.asarray(getattr(times, "value", times), dtype=np.float64).reshape(-1)
        a = np.asarray(getattr(amplitudes, "value", amplitudes), dtype=np.float64).reshape(-1)
        if t.shape != a.shape:
            raise ParameterError(
                "StepCurrentSource: times and amplitudes must have the same length, got "
                f"{len(t)} and {len(a)}"
            )
        if not (np.isfinite(t).all() and np.isfinite(a).all()):
            raise ParameterError("StepCurrentSource: times and amplitudes must be finite")
        if len(t) and (t.min() < 0 or (len(t) > 1 and np.diff(t).min() <= 0)):
            raise ParameterError(
                f"StepCurrentSource: times must be >= 0 ms and strictly increasing, got {t.tolist()}"
            )
        self.times, self.amplitudes = t, a

    def inject_into(self, cells: Any) -> None:
        """Inject this current into every neuron of ``cells`` (a population or an assembly)."""
        cells.inject(self)

    def current(self, scale: float, dt: float) -> Any:
        """The current as a function of the step start times ``t`` (ms), times ``scale``."""
        grid = np.round(self.times / dt) * dt
        keep = np.append(grid[1:] != grid[:-1], True) if len(grid) else np.zeros(0, bool)  # the last wins
        edges = torch.as_tensor(grid[keep])
        amps = torch.as_tensor(self.amplitudes[keep] * scale)

        def value(t: torch.Tensor) -> torch.Tensor:
            if len(edges) == 0:
                return torch.zeros_like(t, dtype=torch.float64)
            k = torch.searchsorted(edges, t.to(torch.float64) + 1e-9 * dt, right=True) - 1
            return torch.where(k >= 0, amps[k.clamp_min(0)], torch.zeros((), dtype=torch.float64))

        return value


_EXPRESSION_NAMES = {
    name: getattr(np, name)
    for name in (
        "arccos arcsin arctan arctan2 ceil cos cosh exp fabs floor fmod hypot ldexp log log10 modf "
        "power sin sinh sqrt tan tanh maximum minimum e pi"
    ).split()
}


class Space:
    """Where distances are measured (PyNN's ``Space``): ``axes`` (``"x"``, ``"xy"``, ...; None is
    ``"xyz"``), ``scale_factor`` and ``offset`` applied to the postsynaptic positions
    (``d = pre - scale_factor * (post + offset)``), and ``periodic_boundaries`` (one
    ``(min, max)`` or None per axis)."""

    _AXES = {
        "x": [0],
        "y": [1],
        "z": [2],
        "xy": [0, 1],
        "yz": [1, 2],
        "xz": [0, 2],
        "xyz": [0, 1, 2],
        None: [0, 1, 2],
    }

    def __init__(
        self,
        axes: str | None = None,
        scale_factor: float = 1.0,
        offset: Any = 0.0,
        periodic_boundaries: Any = None,
    ) -> None:
        if axes not in self._AXES:
            raise ParameterError(
                f"Space: axes must be one of {[k for k in self._AXES if k]} or None, got {axes!r}"
            )
        self.axes, self.scale_factor, self.offset = self._AXES[axes], float(scale_factor), offset
        self.periodic_boundaries = periodic_boundaries

    @classmethod
    def _of(cls, space: Any) -> Space:
        """``space`` as a :class:`Space`: None (the default), ours, or PyNN's ``pyNN.space.Space``."""
        if space is None:
            return cls()
        if isinstance(space, Space):
            return space
        fields = ("axes", "scale_factor", "offset", "periodic_boundaries")
        if all(hasattr(space, f) for f in fields):  # pyNN.space.Space: axes as indices
            out = cls(None, space.scale_factor, space.offset, space.periodic_boundaries)
            out.axes = [int(a) for a in np.asarray(space.axes).reshape(-1)]
            return out
        raise UnsupportedExportError(
            f"Projection: space {type(space).__name__} is not supported (Space of spikeforge.pynn or "
            "pyNN.space is)"
        )

    def distances(self, pre: np.ndarray, post: np.ndarray) -> np.ndarray:
        """``[n_pre, n_post]`` distances between positions ``pre [3, n_pre]`` and ``post [3, n_post]``."""
        post = self.scale_factor * (post + np.asarray(self.offset, dtype=np.float64).reshape(-1, 1))
        d2 = np.zeros((pre.shape[1], post.shape[1]))
        for axis in self.axes:
            diff = pre[axis][:, None] - post[axis][None, :]
            bounds = None if self.periodic_boundaries is None else self.periodic_boundaries[axis]
            if bounds is not None:
                width = bounds[1] - bounds[0]
                diff = np.minimum(np.abs(diff), width - np.abs(diff))
            d2 += diff * diff
        return np.sqrt(d2)


class _Structure:
    def positions(self, n: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class Line(_Structure):
    """Neurons on a line (PyNN's default structure): ``x = x0 + dx * i``, ``y``, ``z`` fixed."""

    def __init__(self, dx: float = 1.0, x0: float = 0.0, y: float = 0.0, z: float = 0.0) -> None:
        self.dx, self.x0, self.y, self.z = float(dx), float(x0), float(y), float(z)

    def positions(self, n: int) -> np.ndarray:
        """``[3, n]`` positions."""
        return np.stack(
            [self.x0 + self.dx * np.arange(n, dtype=np.float64), np.full(n, self.y), np.full(n, self.z)]
        )


class Grid2D(_Structure):
    """Neurons on an ``nx x ny`` grid, ``nx = sqrt(n * aspect_ratio)``, filled with y fastest (PyNN's);
    ``fill_order="sequential"`` only."""

    def __init__(
        self,
        aspect_ratio: float = 1.0,
        dx: float = 1.0,
        dy: float = 1.0,
        x0: float = 0.0,
        y0: float = 0.0,
        z: float = 0.0,
        fill_order: str = "sequential",
        rng: Any = None,
    ) -> None:
        if fill_order != "sequential":
            raise UnsupportedExportError(
                f"Grid2D: fill_order={fill_order!r}; spikeforge.pynn fills 'sequential'"
            )
        self.aspect_ratio, self.dx, self.dy, self.x0, self.y0, self.z = (
            float(v) for v in (aspect_ratio, dx, dy, x0, y0, z)
        )

    def positions(self, n: int) -> np.ndarray:
        """``[3, n]`` positions."""
        nx = int(round(np.sqrt(n * self.aspect_ratio)))
        if nx < 1 or nx * (n // nx) != n:
            raise ParameterError(
                f"Grid2D: {n} neurons do not fill a grid of aspect ratio {self.aspect_ratio}"
            )
        x, y = np.indices((nx, n // nx), dtype=np.float64)
        return np.stack([self.x0 + self.dx * x.ravel(), self.y0 + self.dy * y.ravel(), np.full(n, self.z)])


class Grid3D(_Structure):
    """Neurons on an ``nx x ny x nz`` grid, z fastest (PyNN's); ``fill_order="sequential"`` only."""

    def __init__(
        self,
        aspect_ratioXY: float = 1.0,  # noqa: N803 - PyNN's names
        aspect_ratioXZ: float = 1.0,  # noqa: N803
        dx: float = 1.0,
        dy: float = 1.0,
        dz: float = 1.0,
        x0: float = 0.0,
        y0: float = 0.0,
        z0: float = 0.0,
        fill_order: str = "sequential",
        rng: Any = None,
    ) -> None:
        if fill_order != "sequential":
            raise UnsupportedExportError(
                f"Grid3D: fill_order={fill_order!r}; spikeforge.pynn fills 'sequential'"
            )
        self.ratios = (float(aspect_ratioXY), float(aspect_ratioXZ))
        self.d = (float(dx), float(dy), float(dz))
        self.origin = (float(x0), float(y0), float(z0))

    def positions(self, n: int) -> np.ndarray:
        """``[3, n]`` positions."""
        a, b = self.ratios
        nx = int(round((n * a * b) ** (1 / 3)))
        ny, nz = int(round(nx / a)), int(round(nx / b))
        if nx * ny * nz != n:
            raise ParameterError(f"Grid3D: {n} neurons do not fill a grid of aspect ratios {self.ratios}")
        idx = np.indices((nx, ny, nz), dtype=np.float64).reshape(3, -1)
        return np.stack([o + d * i for o, d, i in zip(self.origin, self.d, idx)])


class DistanceDependentProbabilityConnector:
    """Each (pre, post) pair connects with probability ``p(d)``, ``d`` the distance between their
    positions in the projection's :class:`Space` (PyNN's).

    ``d_expression`` is a Python expression in ``d`` (``"exp(-d / 5)"``, ``"d < 3"``, with
    numpy's ``exp``, ``sqrt``, ``minimum``, ... and ``e``, ``pi``, the names PyNN's expressions
    use) or a function of a distance array. One uniform draw per pair, compared with ``p``, as
    PyNN's own connector does, but from spikeforge's generator: the same distribution as another
    backend's, not the same draw. ``allow_self_connections="NoMutual"`` is not supported.
    """

    uses_positions = True

    def __init__(
        self,
        d_expression: Any,
        allow_self_connections: bool = True,
        location_selector: Any = None,
        rng: Any = None,
        safe: bool = True,
        callback: Any = None,
    ) -> None:
        if not isinstance(allow_self_connections, bool):
            raise UnsupportedExportError(
                f"DistanceDependentProbabilityConnector: allow_self_connections={allow_self_connections!r} "
                "is not supported by spikeforge.pynn (True or False are)"
            )
        if location_selector is not None:
            raise UnsupportedExportError(
                "DistanceDependentProbabilityConnector: location_selector (multicompartment cells) is "
                "not supported"
            )
        if isinstance(d_expression, str):
            self.function = lambda d: eval(d_expression, {"__builtins__": {}}, {**_EXPRESSION_NAMES, "d": d})  # noqa: S307
        elif callable(d_expression):
            self.function = d_expression
        else:
            raise ParameterError(f"d_expression must be a string or a function of d, got {d_expression!r}")
        for d in (0.0, 1e12):  # PyNN's own check
            p = np.asarray(self.function(np.asarray(d)), dtype=np.float64)
            if not bool((p >= 0).all()):
                raise ParameterError(
                    f"d_expression {d_expression!r} gives a negative probability {float(p.min())} at "
                    f"d = {d:g}"
                )
        self.d_expression, self.allow_self_connections = d_expression, allow_self_connections

    def pairs_in_space(
        self, pre_pos: np.ndarray, post_pos: np.ndarray, space: Space, same: bool, gen: torch.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """(pre, post) indices drawn for positions ``[3, n_pre]`` and ``[3, n_post]``."""
        d = space.distances(pre_pos, post_pos)
        p = np.broadcast_to(np.asarray(self.function(d), dtype=np.float64), d.shape)
        u = torch.rand(d.shape, generator=gen, dtype=torch.float64).numpy()
        mask = u < p
        if same and not self.allow_self_connections:
            np.fill_diagonal(mask, False)
        pre, post = np.nonzero(mask)
        return pre, post


class FromListConnector:
    def __init__(self, conn_list: Any, column_names: Any = None) -> None:
        self.conn = np.asarray(conn_list, dtype=np.float64).reshape(len(conn_list), -1)
        self.columns = (
            list(column_names) if column_names is not None else ["weight", "delay"][: self.conn.shape[1] - 2]
        )

    def pairs(self, n_pre: int, n_post: int, same: bool, gen: torch.Generator) -> tuple[np.ndarray, ...]:
        out = [self.conn[:, 0].astype(np.int64), self.conn[:, 1].astype(np.int64)]
        for key in ("weight", "delay"):
            out.append(self.conn[:, 2 + self.columns.index(key)] if key in self.columns else None)  # type: ignore[arg-type]
        return tuple(out)


class _State:
    def __init__(self, dt: float, seed: int = 0) -> None:
        self.dt = dt
        self.seed = seed
        self.populations: list[Population] = []
        self.projections: list[Projection] = []
        self.net: Network | None = None
        self.t = 0.0


_state: _State | None = None


def _current() -> _State:
    if _state is None:
        raise ParameterError("call spikeforge.pynn.setup(timestep=...) first")
    return _state


def setup(timestep: float = 0.1, min_delay: Any = "auto", **extra: Any) -> int:
    """Start a new simulation with step ``timestep`` (ms); ``rng_seed`` (as pyNN.nest takes it)
    seeds spikeforge's generator (random connectors, Poisson sources; default 0); other PyNN
    arguments are ignored."""
    global _state
    seed = extra.get("rng_seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"setup: rng_seed must be an int >= 0, got {seed!r}")
    _state = _State(float(timestep), int(seed))
    return 0


def get_time_step() -> float:
    return _current().dt


def get_current_time() -> float:
    return _current().t


def end() -> None:
    global _state
    _state = None


class Population:
    """``size`` neurons of a cell type (PyNN's ``Population``)."""

    def __init__(
        self,
        size: int,
        cellclass: Any,
        cellparams: dict[str, Any] | None = None,
        structure: Any = None,
        initial_values: dict[str, Any] | None = None,
        label: str | None = None,
    ) -> None:
        st = _current()
        if st.net is not None:
            raise ParameterError(
                "spikeforge.pynn builds the network at the first run: create populations before"
            )
        self.size = int(size)
        self.celltype = cellclass(**(cellparams or {})) if isinstance(cellclass, type) else cellclass
        if not isinstance(self.celltype, _CellType):
            raise UnsupportedExportError(f"cell type {cellclass!r} is not supported by spikeforge.pynn")
        self.label = label or f"population{len(st.populations)}"
        self.initial = {**self.celltype.default_initial_values, **(initial_values or {})}
        self.structure = structure or Line()
        if isinstance(self.structure, _Structure):
            self._positions = self.structure.positions(self.size)
        elif callable(getattr(self.structure, "generate_positions", None)):  # PyNN's pyNN.space classes
            self._positions = np.asarray(self.structure.generate_positions(self.size), dtype=np.float64)
        else:
            raise UnsupportedExportError(
                f"structure {type(self.structure).__name__} is not supported by spikeforge.pynn (Line, "
                "Grid2D, Grid3D, of spikeforge.pynn or of pyNN.space, are)"
            )
        self.recorded: set[str] = set()
        self.sources: list[tuple[DCSource | StepCurrentSource, np.ndarray | None]] = []
        self._monitors: dict[str, Any] = {}
        self.annotations: dict[str, Any] = {}
        st.populations.append(self)

    def __len__(self) -> int:
        return self.size

    def initialize(self, **values: Any) -> None:
        self.initial.update(values)

    @property
    def positions(self) -> np.ndarray:
        """``[3, size]`` positions (x, y, z) of the neurons: the structure's, or as set."""
        return self._positions.copy()

    @positions.setter
    def positions(self, value: Any) -> None:
        pos = np.asarray(value, dtype=np.float64)
        if pos.shape != (3, self.size) or not np.isfinite(pos).all():
            raise ParameterError(
                f"population {self.label!r}: positions must be a finite [3, {self.size}] array, got shape "
                f"{list(pos.shape)}"
            )
        self._positions = pos.copy()

    def __getitem__(self, selector: Any) -> PopulationView:
        if isinstance(selector, (int, np.integer)):
            raise UnsupportedExportError(
                f"population {self.label!r}[{selector}]: single cells (PyNN's ID objects) are not "
                "supported by spikeforge.pynn; take a view, population[k:k+1]"
            )
        return PopulationView(self, selector)

    def inject(
        self, current_source: DCSource | StepCurrentSource, _indices: np.ndarray | None = None
    ) -> None:
        """Inject a current source (``DCSource``, ``StepCurrentSource``) into every neuron of this
        population."""
        if _current().net is not None:
            raise ParameterError("spikeforge.pynn builds the network at the first run: inject before")
        if not isinstance(current_source, (DCSource, StepCurrentSource)):
            raise UnsupportedExportError(
                f"current source {type(current_source).__name__} is not supported by spikeforge.pynn "
                "(DCSource and StepCurrentSource are)"
            )
        if isinstance(self.celltype, (SpikeSourcePoisson, SpikeSourceArray, SpikeSourceInhGamma)):
            raise UnsupportedExportError(
                f"population {self.label!r}: a current cannot be injected into a spike source "
                f"({type(self.celltype).__name__})"
            )
        self.sources.append((current_source, _indices))

    def record(self, variables: Any) -> None:
        names = [variables] if isinstance(variables, str) else list(variables)
        for v in names:
            if v not in ("spikes", "v"):
                raise UnsupportedExportError(f"spikeforge.pynn records 'spikes' and 'v', got {v!r}")
        self.recorded.update(names)

    def spike_times(self) -> list[np.ndarray]:
        """Spike times (ms, PyNN's stamps) of each neuron."""
        mon = self._monitors.get("spikes")
        if mon is None:
            raise ParameterError(f"population {self.label!r}: call record('spikes') before run")
        t, i = np.asarray(mon.t) + _current().dt, np.asarray(mon.i)
        return [np.sort(t[i == k]) for k in range(self.size)]

    def get_data(self, variables: Any = "all", clear: bool = False) -> Any:
        """The recorded data as a Neo ``Block`` (one segment), as PyNN returns it."""
        try:
            import neo
            import quantities as pq
        except ImportError as e:
            raise MissingDependencyError("get_data needs neo: pip install 'spikeforge[pynn]'") from e
        seg = neo.Segment()
        t_stop = _current().t
        if "spikes" in self._monitors:
            for k, times in enumerate(self.spike_times()):
                seg.spiketrains.append(
                    neo.SpikeTrain(
                        times,
                        t_stop=t_stop + _current().dt,
                        units=pq.ms,
                        source_index=k,
                        source_population=self.label,
                    )
                )
        if "v" in self._monitors:
            mon = self._monitors["v"]
            values = np.asarray(mon.values)  # [T, n]
            seg.analogsignals.append(
                neo.AnalogSignal(values, units=pq.mV, sampling_period=_current().dt * pq.ms, name="v")
            )
        block = neo.Block(name=self.label)
        block.segments.append(seg)
        return block

    def write_data(
        self,
        io: Any,
        variables: Any = "all",
        gather: bool = True,
        clear: bool = False,
        annotations: dict[str, Any] | None = None,
    ) -> None:
        """Write :meth:`get_data` with Neo: ``io`` a file name (its extension picks Neo's IO,
        ``.pkl`` for pickle) or a Neo IO object."""
        block = self.get_data(variables)
        block.annotations.update(annotations or {})
        _write_block(io, block)

    def annotate(self, **annotations: Any) -> None:
        """Annotations written with the data (PyNN's)."""
        self.annotations.update(annotations)

    def __add__(self, other: Population | Assembly) -> Assembly:
        return Assembly(self, other)


def _merge_signals(sigs: list[Any]) -> Any:
    out = sigs[0].copy()
    out.segment = None  # neo merges only signals of one segment
    for sig in sigs[1:]:
        other = sig.copy()
        other.segment = None
        out = out.merge(other)
    return out


def _write_block(io: Any, block: Any) -> None:
    import os

    import neo

    if isinstance(io, str):
        folder = os.path.dirname(io)
        if folder:
            os.makedirs(folder, exist_ok=True)  # as PyNN's own get_io does
        io = neo.io.get_io(io)
    io.write_block(block)


class Assembly:
    """Populations taken together (PyNN's ``Assembly``; also ``pop1 + pop2``).

    Neuron ``k`` of the assembly is neuron ``k - offset`` of the population it falls in (in the
    order given). It can be recorded, injected into and be the source or target of a
    ``Projection`` (the connector draws over the whole assembly, split into one projection per
    pair of populations); ``get_data`` merges the populations' blocks, as PyNN does.
    """

    def __init__(self, *populations: Population | Assembly, label: str | None = None) -> None:
        flat: list[Population] = []
        for p in populations:
            if isinstance(p, Assembly):
                flat.extend(p.populations)
            elif isinstance(p, Population):
                flat.append(p)
            else:
                raise ParameterError(
                    f"Assembly takes spikeforge.pynn populations or assemblies, got {type(p).__name__}"
                )
        if len(set(map(id, flat))) != len(flat):
            raise ParameterError("Assembly: a population appears twice")
        self.populations: list[Population] = flat
        self.label = label or "+".join(p.label for p in flat)

    @property
    def size(self) -> int:
        return sum(p.size for p in self.populations)

    def __len__(self) -> int:
        return self.size

    def __add__(self, other: Population | Assembly) -> Assembly:
        return Assembly(self, other)

    def record(self, variables: Any) -> None:
        for p in self.populations:
            p.record(variables)

    @property
    def positions(self) -> np.ndarray:
        """``[3, size]`` positions of the populations' neurons, in order."""
        return np.concatenate([p.positions for p in self.populations], axis=1)

    def inject(self, current_source: DCSource | StepCurrentSource) -> None:
        for p in self.populations:
            p.inject(current_source)

    def write_data(
        self,
        io: Any,
        variables: Any = "all",
        gather: bool = True,
        clear: bool = False,
        annotations: dict[str, Any] | None = None,
    ) -> None:
        """Write :meth:`get_data` with Neo (as :meth:`Population.write_data`)."""
        block = self.get_data(variables)
        block.annotations.update(annotations or {})
        _write_block(io, block)

    def get_data(self, variables: Any = "all", clear: bool = False) -> Any:
        """The populations' recorded data merged into one Neo ``Block``."""
        import neo

        segments = [p.get_data(variables).segments[0] for p in self.populations]
        seg = neo.Segment()
        for part in segments:
            seg.spiketrains.extend(part.spiketrains)
        for name in dict.fromkeys(sig.name for part in segments for sig in part.analogsignals):
            sigs = [sig for part in segments for sig in part.analogsignals if sig.name == name]
            # one signal per variable, the populations' channels side by side (as PyNN merges them)
            seg.analogsignals.append(_merge_signals(sigs))
        block = neo.Block(name=self.label)
        block.segments.append(seg)
        return block


def _parts(cells: Population | Assembly | PopulationView) -> list[tuple[Population, int, np.ndarray]]:
    """(population, offset of the part's first neuron in ``cells``, the part's neurons in the
    population) of a population, a view or an assembly."""
    if isinstance(cells, Population):
        return [(cells, 0, np.arange(cells.size))]
    if isinstance(cells, PopulationView):
        return [(cells.parent, 0, cells.indices)]
    out, offset = [], 0
    for p in cells.populations:
        out.append((p, offset, np.arange(p.size)))
        offset += p.size
    return out


class PopulationView:
    """Some neurons of a population (PyNN's ``PopulationView``: ``pop[2:5]``, ``pop[[0, 3]]``,
    ``pop[mask]``), in the order given: a source or target of a ``Projection`` (its indices are
    the view's), injected into (only its neurons get the current), recorded (the population
    records, ``get_data`` of the view returns its neurons), initialized."""

    def __init__(self, parent: Population, selector: Any, label: str | None = None) -> None:
        idx = np.arange(parent.size)[selector]
        idx = np.atleast_1d(idx).astype(np.int64)
        if len(set(idx.tolist())) != len(idx):
            raise ParameterError(f"PopulationView of {parent.label!r}: a neuron appears twice")
        self.parent, self.indices = parent, idx
        self.size = len(idx)
        self.celltype = parent.celltype
        self.label = label or f"view of {parent.label} with indices {idx.tolist()}"

    def __len__(self) -> int:
        return self.size

    @property
    def positions(self) -> np.ndarray:
        """``[3, size]`` positions of the view's neurons."""
        return self.parent.positions[:, self.indices]

    def record(self, variables: Any) -> None:
        self.parent.record(variables)

    def initialize(self, **values: Any) -> None:
        for key, value in values.items():
            old = np.broadcast_to(
                np.asarray(self.parent.initial.get(key, 0.0), dtype=np.float64), (self.parent.size,)
            ).copy()
            old[self.indices] = value
            self.parent.initial[key] = old

    def inject(self, current_source: DCSource | StepCurrentSource) -> None:
        self.parent.inject(current_source, _indices=self.indices)

    def get_data(self, variables: Any = "all", clear: bool = False) -> Any:
        """The view's neurons of :meth:`Population.get_data`."""
        block = self.parent.get_data(variables)
        seg = block.segments[0]
        keep = {int(k): n for n, k in enumerate(self.indices)}
        trains = [st for st in seg.spiketrains if int(st.annotations["source_index"]) in keep]
        for st in trains:
            st.annotations["source_index"] = keep[int(st.annotations["source_index"])]
        seg.spiketrains = sorted(trains, key=lambda st: st.annotations["source_index"])
        seg.analogsignals = [sig[:, self.indices] for sig in seg.analogsignals]
        block.name = self.label
        return block


class Projection:
    """Synapses from ``pre`` to ``post`` made by ``connector`` (PyNN's ``Projection``)."""

    def __init__(
        self,
        presynaptic_population: Population | Assembly,
        postsynaptic_population: Population | Assembly,
        connector: Any,
        synapse_type: StaticSynapse | None = None,
        source: str | None = None,
        receptor_type: str | None = None,
        space: Space | None = None,
        label: str | None = None,
    ) -> None:
        st = _current()
        if source is not None:
            raise UnsupportedExportError(
                f"Projection: source={source!r} (multicompartment cells) is not supported"
            )
        self.space = Space._of(space)
        if st.net is not None:
            raise ParameterError(
                "spikeforge.pynn builds the network at the first run: create projections before"
            )
        if synapse_type is not None and not isinstance(synapse_type, StaticSynapse):
            raise UnsupportedExportError(
                f"synapse type {type(synapse_type).__name__} is not supported by spikeforge.pynn "
                "(StaticSynapse is)"
            )
        for role, cells in (
            ("presynaptic", presynaptic_population),
            ("postsynaptic", postsynaptic_population),
        ):
            if not isinstance(cells, (Population, Assembly, PopulationView)):
                raise ParameterError(
                    f"Projection: the {role} population must be a Population, a PopulationView or an "
                    f"Assembly, got {type(cells).__name__}"
                )
        self.pre, self.post, self.connector = presynaptic_population, postsynaptic_population, connector
        self.synapse = synapse_type or StaticSynapse()
        self.receptor_type = receptor_type or "excitatory"
        if self.receptor_type not in ("excitatory", "inhibitory"):
            raise UnsupportedExportError(
                f"receptor_type must be 'excitatory' or 'inhibitory', got {receptor_type!r}"
            )
        self.label = label or f"{self.pre.label}->{self.post.label}#{len(st.projections)}"
        # (spikeforge projection, pre offset, post offset, pre neurons, post neurons in their populations)
        self._parts: list[tuple[str, int, int, np.ndarray, np.ndarray]] = []
        self._set: dict[str, Any] = {}  # Projection.set before the first run
        st.projections.append(self)

    def set(self, **attributes: Any) -> None:
        """Set ``weight`` and/or ``delay`` (ms) of all synapses before the first ``run``: a number,
        or an ``[n_pre, n_post]`` array read at each synapse's (pre, post) (PyNN's ``set``).

        Example:
            >>> import numpy as np, spikeforge.pynn as sim
            >>> _ = sim.setup(timestep=0.1)
            >>> src = sim.Population(2, sim.SpikeSourceArray(spike_times=[1.0]))
            >>> cell = sim.Population(1, sim.IF_curr_exp())
            >>> prj = sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(0.5, 1.0))
            >>> prj.set(weight=np.array([[0.25], [0.75]]), delay=2.0)
            >>> _ = sim.run(0.0)
            >>> prj.get(["weight", "delay"], format="list")
            [(0, 0, 0.25, 2.0), (1, 0, 0.75, 2.0)]
            >>> sim.end()
        """
        if _current().net is not None:
            raise UnsupportedExportError(
                f"projection {self.label!r}: spikeforge.pynn sets weights and delays before the first run "
                "(the network is built then)"
            )
        for key, value in attributes.items():
            if key not in ("weight", "delay"):
                raise UnsupportedExportError(
                    f"Projection.set: attribute {key!r} is not supported by spikeforge.pynn ('weight' and "
                    "'delay' are)"
                )
            v = np.asarray(value, dtype=np.float64) if not isinstance(value, (int, float)) else float(value)
            if isinstance(v, np.ndarray) and v.shape != (self.pre.size, self.post.size):
                raise ParameterError(
                    f"Projection.set: {key} must be a number or an [n_pre, n_post] = "
                    f"[{self.pre.size}, {self.post.size}] array, got shape {list(v.shape)}"
                )
            if not bool(np.isfinite(v).all()):
                raise ParameterError(f"Projection.set: {key} must be finite")
            self._set[key] = v

    def __len__(self) -> int:
        net = _current().net
        if net is None:
            return 0
        subs: list[Any] = [net.projections[part[0]] for part in self._parts]
        return sum(int(sub.weights().numel()) for sub in subs)

    def get(
        self,
        attribute_names: str | list[str],
        format: str = "list",  # noqa: A002 - PyNN's name
        gather: bool = True,
        with_address: bool = True,
        multiple_synapses: str = "sum",
    ) -> Any:
        """The synapses' ``"weight"`` (learned ones after ``run``) or ``"delay"`` (ms), as PyNN returns.

        ``format="list"``: ``(i, j, value)`` tuples (``(value,)`` without the address) in the
        connector's order (for an assembly: pair of populations after pair); ``"array"``: an
        ``[n_pre, n_post]`` array, ``nan`` where no synapse, several synapses of one pair combined by
        ``multiple_synapses`` (``"sum"``, ``"min"``, ``"max"``, ``"first"``, ``"last"``). A list of
        names gives one value (list) or a list of arrays (array) per name. The network is built at
        the first ``run`` (``run(0)`` builds it).

        Example:
            >>> import spikeforge.pynn as sim
            >>> _ = sim.setup(timestep=0.1)
            >>> src = sim.Population(2, sim.SpikeSourceArray(spike_times=[1.0]))
            >>> cell = sim.Population(1, sim.IF_curr_exp())
            >>> prj = sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(0.5, 1.0))
            >>> _ = sim.run(0.0)
            >>> prj.get("weight", format="list")
            [(0, 0, 0.5), (1, 0, 0.5)]
            >>> prj.get("delay", format="array").shape
            (2, 1)
            >>> sim.end()
        """
        names = [attribute_names] if isinstance(attribute_names, str) else list(attribute_names)
        for a in names:
            if a not in ("weight", "delay"):
                raise UnsupportedExportError(
                    f"Projection.get: attribute {a!r} is not supported by spikeforge.pynn ('weight' and "
                    "'delay' are)"
                )
        if format not in ("list", "array"):
            raise ParameterError(f"Projection.get: format must be 'list' or 'array', got {format!r}")
        combine = {"sum": np.add, "min": np.fmin, "max": np.fmax}
        if multiple_synapses not in (*combine, "first", "last"):
            raise ParameterError(
                "Projection.get: multiple_synapses must be 'sum', 'min', 'max', 'first' or 'last', got "
                f"{multiple_synapses!r}"
            )
        net = _current().net
        if net is None:
            raise ParameterError(
                f"projection {self.label!r}: spikeforge.pynn builds the network at the first run; call "
                "run (run(0) builds it) before get"
            )
        pre, post = [], []
        values: dict[str, list[np.ndarray]] = {a: [] for a in names}
        for name, oa, ob, map_a, map_b in self._parts:
            sub: Any = net.projections[name]
            inv_a = np.full(int(map_a.max(initial=-1)) + 1, -1)
            inv_a[map_a] = np.arange(len(map_a))
            inv_b = np.full(int(map_b.max(initial=-1)) + 1, -1)
            inv_b[map_b] = np.arange(len(map_b))
            pre.append(inv_a[sub.pre_indices.cpu().numpy()] + oa)
            post.append(inv_b[sub.post_indices.cpu().numpy()] + ob)
            for a in names:
                v = sub.weights() if a == "weight" else sub.delays()
                values[a].append(v.detach().cpu().numpy().astype(np.float64))
        i = np.concatenate(pre or [np.empty(0, np.int64)]).astype(np.int64)
        j = np.concatenate(post or [np.empty(0, np.int64)]).astype(np.int64)
        cols = [np.concatenate(values[a] or [np.empty(0)]) for a in names]
        if format == "list":
            head = [i.tolist(), j.tolist()] if with_address else []
            rows = list(zip(*head, *(c.tolist() for c in cols)))
            if not with_address and isinstance(attribute_names, str):
                return [row[0] for row in rows]  # PyNN: plain values for one name without address
            return rows
        arrays = []
        for c in cols:
            out = np.full((self.pre.size, self.post.size), np.nan)
            for k in range(len(i)) if multiple_synapses != "last" else reversed(range(len(i))):
                old = out[i[k], j[k]]
                if np.isnan(old):
                    out[i[k], j[k]] = c[k]
                elif multiple_synapses in combine:
                    out[i[k], j[k]] = combine[multiple_synapses](old, c[k])
            arrays.append(out)
        return arrays[0] if isinstance(attribute_names, str) else arrays


def _lif_kwargs(p: dict[str, Any], dt: float) -> dict[str, Any]:
    return dict(
        tau_mem=p["tau_m"],
        r=p["tau_m"] / p["cm"],
        v_leak=p["v_rest"],
        v_th=p["v_thresh"],
        v_reset=p["v_reset"],
        t_ref=p["tau_refrac"],
        dt=dt,
    )


def _synapse(prj: Projection, target: Population) -> Any:
    """The spikeforge synapse of ``prj`` onto the cells of ``target``."""
    c = target.celltype
    suffix = "E" if prj.receptor_type == "excitatory" else "I"
    if c.synapse == "delta":
        return DeltaSynapse()
    if c.synapse in ("exp", "alpha"):
        return (ExpSynapse if c.synapse == "exp" else AlphaSynapse)(tau=c.parameters[f"tau_syn_{suffix}"])
    if c.synapse in ("cond_exp", "cond_alpha"):
        kind = ExpConductance if c.synapse == "cond_exp" else AlphaConductance
        return kind(tau=c.parameters[f"tau_syn_{suffix}"], e_rev=c.parameters[f"e_rev_{suffix}"])
    raise UnsupportedExportError(
        f"projection {prj.label!r}: {type(c).__name__} ({target.label!r}) cannot be a target"
    )


def _check_weight_signs(prj: Projection, target: Population, w: np.ndarray) -> None:
    """PyNN's sign convention (``pyNN.standardmodels.base.check_weights``): weights onto
    conductance-based cells and excitatory receptors are >= 0, onto current-based inhibitory
    receptors <= 0 (the sign is the weight's; the receptor only picks the time constant)."""
    if not len(w):
        return
    conductance = target.celltype.synapse in ("cond_exp", "cond_alpha")
    if (conductance or prj.receptor_type == "excitatory") and float(w.min()) < 0:
        raise ParameterError(
            f"projection {prj.label!r}: weights onto {'conductance-based' if conductance else 'excitatory'} "
            f"synapses of {target.label!r} must be >= 0 (PyNN's convention), got min {float(w.min())!r}"
        )
    if not conductance and prj.receptor_type == "inhibitory" and float(w.max()) > 0:
        raise ParameterError(
            f"projection {prj.label!r}: weights onto current-based inhibitory synapses of "
            f"{target.label!r} must be <= 0 (PyNN's convention), got max {float(w.max())!r}"
        )


def _build(st: _State) -> Network:
    dt = st.dt
    net = Network(dt=dt, seed=st.seed, dtype=torch.float64)
    for pop in st.populations:
        c, p = pop.celltype, pop.celltype.parameters
        if isinstance(c, SpikeSourcePoisson):
            net.add_poisson(pop.label, pop.size, float(p["rate"]) / 1000.0)
            continue
        if isinstance(c, SpikeSourceInhGamma):
            net.add_poisson(pop.label, pop.size, c.rate(pop.size))
            continue
        if isinstance(c, SpikeSourceArray):
            trains = p["spike_times"]
            if callable(trains):  # PyNN: a function of the neuron indices
                trains = trains(np.arange(pop.size))
            trains = getattr(trains, "value", trains)  # a pyNN.parameters.Sequence
            if len(trains) and np.ndim(getattr(trains[0], "value", trains[0])) == 0:
                trains = [trains] * pop.size
            parts = [np.asarray(getattr(t, "value", t), dtype=np.float64).reshape(-1) for t in trains]
            times = np.concatenate(parts or [np.empty(0)])
            index = np.concatenate([np.full(len(t), k) for k, t in enumerate(parts)] or [np.empty(0)])
            net.add_spike_source(pop.label, pop.size, times - dt, index)  # PyNN stamps: + dt
            continue
        if isinstance(c, Izhikevich):
            module: Any = _IzhikevichNeuron(
                pop.size, a=p["a"], b=p["b"], c=p["c"], d=p["d"], dt=dt, integrator="euler"
            )
            current = 1000.0 * np.asarray(p["i_offset"], dtype=np.float64)
        else:
            module = LIF(pop.size, **_lif_kwargs(p, dt))
            current = np.asarray(p["i_offset"], dtype=np.float64)
        init = {k: np.asarray(v, dtype=np.float64) for k, v in pop.initial.items() if k in ("v", "u")}
        net.add_population(pop.label, module, init=init)
        if bool((current != 0).any()):
            i_offset = torch.as_tensor(np.broadcast_to(current, (pop.size,)).copy())
            net.add_current(f"{pop.label}:i_offset", pop.label, i_offset)
        scale = 1000.0 if isinstance(c, Izhikevich) else 1.0
        for k, (source, indices) in enumerate(pop.sources):
            kind = type(source).__name__
            f = source.current(scale, dt)
            if indices is not None:  # a view: only its neurons
                mask = torch.zeros(pop.size, dtype=torch.float64)
                mask[torch.as_tensor(indices)] = 1.0
                f = _masked(f, mask)
            net.add_current(f"{pop.label}:{kind}{k}", pop.label, f)
    gen = net.generator
    for prj in st.projections:
        same = prj.pre is prj.post
        if getattr(prj.connector, "uses_positions", False):
            out = prj.connector.pairs_in_space(prj.pre.positions, prj.post.positions, prj.space, same, gen)
        else:
            out = prj.connector.pairs(prj.pre.size, prj.post.size, same, gen)
        pre_all, post_all = np.asarray(out[0]), np.asarray(out[1])
        weight_all = (
            out[2]
            if len(out) > 2 and out[2] is not None
            else np.full(len(pre_all), float(prj.synapse.weight))
        )
        d0 = prj.synapse.delay if prj.synapse.delay is not None else dt
        delay_all = out[3] if len(out) > 3 and out[3] is not None else np.full(len(pre_all), float(d0))
        for key, value in prj._set.items():
            new = value[pre_all, post_all] if isinstance(value, np.ndarray) else np.full(len(pre_all), value)
            if key == "weight":
                weight_all = new
            else:
                delay_all = new
        if len(pre_all) and float(np.min(delay_all)) < dt - 1e-9:
            raise ParameterError(f"projection {prj.label!r}: delays must be >= timestep = {dt} ms")
        pre_parts, post_parts = _parts(prj.pre), _parts(prj.post)
        for a, oa, map_a in pre_parts:
            for b, ob, map_b in post_parts:
                na, nb = len(map_a), len(map_b)
                keep = (pre_all >= oa) & (pre_all < oa + na) & (post_all >= ob) & (post_all < ob + nb)
                if len(pre_parts) * len(post_parts) > 1 and not keep.any():
                    continue
                name = (
                    prj.label
                    if len(pre_parts) * len(post_parts) == 1
                    else f"{prj.label}[{a.label}->{b.label}]"
                )
                _check_weight_signs(prj, b, weight_all[keep])
                if isinstance(prj.synapse, STDPMechanism):
                    wd = prj.synapse.weight_dependence
                    w_keep = weight_all[keep]
                    if len(w_keep) and not (wd.w_min <= w_keep.min() and w_keep.max() <= wd.w_max):
                        raise ParameterError(
                            f"projection {prj.label!r}: STDP weights must lie in [w_min, w_max] = "
                            f"[{wd.w_min}, {wd.w_max}], got [{w_keep.min()}, {w_keep.max()}]"
                        )
                prj._parts.append((name, oa, ob, map_a, map_b))
                net.connect(
                    a.label,
                    b.label,
                    rule=Explicit(
                        torch.as_tensor(map_a[pre_all[keep] - oa]),
                        torch.as_tensor(map_b[post_all[keep] - ob]),
                    ),
                    weight=torch.as_tensor(weight_all[keep], dtype=torch.float64),
                    delay=torch.as_tensor(delay_all[keep], dtype=torch.float64),
                    synapse=_synapse(prj, b),
                    storage="sparse",
                    name=name,
                    plasticity=prj.synapse.rule(dt) if isinstance(prj.synapse, STDPMechanism) else None,
                )
    for pop in st.populations:
        if "spikes" in pop.recorded:
            pop._monitors["spikes"] = net.record_spikes(pop.label)
        if "v" in pop.recorded:
            pop._monitors["v"] = net.record_state(pop.label, "v")
    return net


def _masked(f: Any, mask: torch.Tensor) -> Any:
    def value(t: torch.Tensor) -> torch.Tensor:
        return f(t).reshape(-1, 1) * mask

    return value


def run(simtime: float, callbacks: Any = None) -> float:
    """Advance by ``simtime`` ms (building the network at the first call); returns the time.

    ``callbacks``: functions of the time ``t`` (ms) that return the next time they want to be
    called (PyNN's): each is called at the start and then at the times it asks for (the run
    stops there, calls it, and goes on), e.g. to read weights during a run.
    """
    st = _current()
    if st.net is None:
        st.net = _build(st)
    end_t = st.t + float(simtime)
    events = [(float(cb(st.t)), k) for k, cb in enumerate(callbacks or [])]
    while events and st.t + 1e-9 < end_t:
        events.sort()
        nxt = min(events[0][0], end_t)
        due = [k for when, k in events if when < nxt + 0.5 * st.dt]
        if nxt > st.t + 1e-9:
            st.net.run(nxt - st.t, progress=False)
            st.t = float(st.net.t)
        events = [e for e in events if e[1] not in due] + [(float(callbacks[k](st.t)), k) for k in due]
    if end_t > st.t + 1e-9:
        st.net.run(end_t - st.t, progress=False)
    st.t = float(st.net.t)
    return st.t


def num_processes() -> int:
    """1: spikeforge runs in one process."""
    return 1


def rank() -> int:
    """0: spikeforge runs in one process."""
    return 0
