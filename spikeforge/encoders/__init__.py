"""Encoders: turn values, images and signals into spike trains, and spike trains into features.

Every output is time-major, ``[T, *shape]``; rates are in events per ms (``spikeforge.units.Hz``);
random encoders draw only from an explicit ``torch.Generator`` (never the global RNG).

=============================  ==================================================================
``poisson``                    Bernoulli/Poisson trains of constant rates, ``[*s] -> [T, *s]``
``poisson_time_varying``       the same with one rate per step, ``[T, *s] -> [T, *s]``
``poisson_step``               one step of either (functional core; carries refractoriness)
``latency``                    time to first spike, log (RC) or linear code, ``[*s] -> [T, *s]``
``latency_decode``             its inverse, within the time quantisation
``delta``                      send-on-delta events (signed counts), ``[T, *s] -> [T, *s]``
``delta_decode``               the delta reference, rebuilt from the events (exact)
``split_polarity``             signed counts to ON/OFF channels
``population``                 Gaussian receptive fields + Poisson, ``[*s] -> [T, *s, N]``
``population_rates``           the deterministic rates of the population
``population_centres``         the preferred values of the population
``lz_complexity``              normalised LZ76 complexity of a 0/1 sequence
``lz_complexity_batch``        the same for every sequence along a dimension
``lz_phrase_count``            the raw LZ76 component count c(n)
=============================  ==================================================================
"""

from .camera import emulate_events, saccade_frames
from .complexity import lz_complexity, lz_complexity_batch, lz_phrase_count
from .delta import delta, delta_decode, split_polarity
from .latency import latency, latency_decode
from .poisson import poisson, poisson_step, poisson_time_varying
from .population import population, population_centres, population_rates

__all__ = [
    "emulate_events",
    "saccade_frames",
    "poisson",
    "poisson_time_varying",
    "poisson_step",
    "latency",
    "latency_decode",
    "delta",
    "delta_decode",
    "split_polarity",
    "population",
    "population_rates",
    "population_centres",
    "lz_complexity",
    "lz_complexity_batch",
    "lz_phrase_count",
]
