"""Circuits: clock-driven simulation of networks of spiking populations, inputs and projections.

=============================  ============================================================
``Network``                    populations, inputs, projections, monitors; ``run(duration)``
``DeltaSynapse`` ...           synapse kinetics: delta, exponential, alpha, conductances
``Bernoulli`` ...              connection rules (``p=``, ``in_degree=``, ``out_degree=``)
``Uniform``, ``Normal``        weight, delay and initial-value distributions
``TimedArray``                 a table of values as a function of time (rates, currents)
``PoissonInput``               summed Poisson drive, one count per neuron and step (``add_poisson_input``)
``builders``                   ready-made circuits (``builders.cuba``)
=============================  ============================================================

See :mod:`spikeforge.circuits.schedule` for the order of operations within a step, and
:mod:`spikeforge.circuits.engines` for the engines that run it.
"""

from . import builders
from .inputs import CurrentInput, PoissonGroup, PoissonInput, SpikeSource, TimedArray
from .monitors import RateMonitor, SpikeMonitor, StateMonitor, raster
from .network import Network, Population
from .projection import (
    AllToAll,
    Bernoulli,
    DistanceDependent,
    Explicit,
    FixedInDegree,
    FixedOutDegree,
    Normal,
    OneToOne,
    Projection,
    Rule,
    Uniform,
    grid_positions,
)
from .synapses import AlphaConductance, AlphaSynapse, DeltaSynapse, ExpConductance, ExpSynapse, Synapse

__all__ = [
    "Network",
    "Population",
    "Projection",
    "Synapse",
    "DeltaSynapse",
    "ExpSynapse",
    "AlphaSynapse",
    "ExpConductance",
    "AlphaConductance",
    "Rule",
    "AllToAll",
    "Bernoulli",
    "FixedInDegree",
    "FixedOutDegree",
    "OneToOne",
    "Explicit",
    "DistanceDependent",
    "grid_positions",
    "Uniform",
    "Normal",
    "TimedArray",
    "PoissonGroup",
    "PoissonInput",
    "SpikeSource",
    "CurrentInput",
    "SpikeMonitor",
    "StateMonitor",
    "RateMonitor",
    "raster",
    "builders",
]
