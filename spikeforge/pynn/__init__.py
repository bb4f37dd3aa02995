r"""spikeforge as a PyNN backend: ``import spikeforge.pynn as sim`` runs (a subset of) PyNN scripts.

A first subset, the inverse of :mod:`spikeforge.circuits.pynn_export` with the same units and
time conventions (mV, ms, nA, nF, µS, Hz; a PyNN spike time is spikeforge's plus ``dt``):

* ``setup(timestep=..., rng_seed=...)``, ``run(t, callbacks=...)``, ``end()``, ``get_time_step()``,
  ``get_current_time()``, ``num_processes()``, ``rank()``;
* cells ``IF_curr_exp``, ``IF_curr_alpha``, ``IF_curr_delta``, ``IF_cond_exp``, ``IF_cond_alpha``
  (a :class:`~spikeforge.neurons.LIF` with ``r = tau_m / cm``), ``Izhikevich``, and the sources
  ``SpikeSourcePoisson`` (``rate``, ``start``, ``duration``), ``SpikeSourceGamma`` (whole
  ``alpha``, as NEST's), ``SpikeSourceArray`` (times, one list per neuron, or a function of the
  indices) and ``SpikeSourceInhGamma`` with ``a = 1`` (an inhomogeneous Poisson process);
  ``DCSource``, ``ACSource``, ``StepCurrentSource`` and ``NoisyCurrentSource`` currents (``inject_into``,
  ``Population.inject``); one value per neuron as a list or array;
* ``Population(size, celltype, structure=..., initial_values=..., label=...)`` with ``Line``,
  ``Grid2D``, ``Grid3D`` (or PyNN's own ``pyNN.space`` structures) and ``positions``,
  ``initialize``, ``set``/``get`` of parameters (also on views and assemblies; before the first
  run, and a Poisson source's rate and a spike source's times between runs),
  ``record("spikes"`` or ``"v")``, ``get_data()`` (a Neo ``Block``, as PyNN
  returns; needs ``neo``, installed with PyNN) and ``write_data``;
* ``Projection(pre, post, connector, synapse_type=StaticSynapse(weight, delay),
  receptor_type=...)`` with ``AllToAllConnector``, ``OneToOneConnector``,
  ``FixedProbabilityConnector`` (drawn by spikeforge's generator, so not the same draw as
  another backend's), ``FixedNumberPreConnector``, ``FixedNumberPostConnector``,
  ``DistanceDependentProbabilityConnector`` (in the projection's ``Space``; drawn the same way)
  and ``FromListConnector``; ``Projection.set(weight=..., delay=...)`` before the first run;
* ``Assembly`` (also ``pop1 + pop2``): recorded, injected into, source or target of projections;
  ``PopulationView`` (``pop[2:5]``, ``pop[[4, 1]]``): the same, and initialized;
  synaptic time constants and reversal potentials are one per population and receptor;
* ``STDPMechanism(timing_dependence=SpikePairRule(...), weight_dependence=...)`` with
  ``AdditiveWeightDependence``, ``MultiplicativeWeightDependence`` and ``GutigWeightDependence``
  (``w_min = 0``): a :class:`~spikeforge.plasticity.STDP` on the projection, the inverse of the
  export's mapping (:func:`~spikeforge.circuits.pynn_export.stdp_amplitude_scale`: ``a_plus =
  A_plus * w_max ** (1 - mu_plus)``); ``dendritic_delay_fraction`` ``f`` (default 1, NEST's
  convention) splits each plastic projection's one delay ``d`` into the rule's ``dendritic_delay =
  f d`` (the post spike seen that late) and ``axonal_delay = (1 - f) d`` (whole steps), so each
  synapse's change equals pyNN.nest's (to float rounding, ``tests/test_pynn_backend_stdp.py``);
  ``Projection.get("weight"`` or ``"delay", format="array"`` or ``"list")`` reads them back.

The network is built at the first ``run`` (a :class:`~spikeforge.circuits.Network`, exact
integration), so populations and projections must come before it. Unsupported features raise
:class:`~spikeforge.errors.UnsupportedExportError` naming them; a PyNN name this module lacks
(``NoisyCurrentSource``, ``Vogels2011Rule``, ...) raises ``AttributeError`` saying so. Like PyNN itself this
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

from .cells import IF_cond_alpha, IF_cond_exp, IF_curr_alpha, IF_curr_delta, IF_curr_exp, Izhikevich
from .connectors import (
    AllToAllConnector,
    DistanceDependentProbabilityConnector,
    FixedNumberPostConnector,
    FixedNumberPreConnector,
    FixedProbabilityConnector,
    FromListConnector,
    OneToOneConnector,
)
from .currents import ACSource, DCSource, NoisyCurrentSource, StepCurrentSource
from .populations import Assembly, Population, PopulationView
from .projections import Projection
from .simulation import run
from .sources import SpikeSourceArray, SpikeSourceGamma, SpikeSourceInhGamma, SpikeSourcePoisson
from .space import Grid2D, Grid3D, Line, Space
from .state import end, get_current_time, get_time_step, num_processes, rank, setup
from .synapses import (
    AdditiveWeightDependence,
    GutigWeightDependence,
    MultiplicativeWeightDependence,
    SpikePairRule,
    StaticSynapse,
    STDPMechanism,
)

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
    "SpikeSourceGamma",
    "StaticSynapse",
    "AllToAllConnector",
    "OneToOneConnector",
    "FixedProbabilityConnector",
    "FromListConnector",
    "FixedNumberPreConnector",
    "FixedNumberPostConnector",
    "DistanceDependentProbabilityConnector",
    "DCSource",
    "ACSource",
    "StepCurrentSource",
    "NoisyCurrentSource",
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
