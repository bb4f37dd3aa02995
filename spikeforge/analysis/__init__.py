"""Analyses of spikes, connectivity and learning: the measurements users would otherwise write by
hand in a notebook. Arrays in (numpy or torch), floats or numpy arrays out; times in ms, rates per
ms. Bad input raises :class:`~spikeforge.errors.ParameterError` or
:class:`~spikeforge.errors.ShapeError` naming the argument; an undefined statistic (the CV of two
spikes, the Fano factor of a silent neuron) raises instead of returning NaN.

=========================================  ===================================================
spike statistics (``rates``, ``isi``)      :func:`spike_events`, :func:`firing_rates`,
                                           :func:`mean_rates`, :func:`population_rate`,
                                           :func:`isi`, :func:`cv_isi`, :func:`local_variation`,
                                           :func:`isi_histogram`, :func:`spike_counts`,
                                           :func:`fano_factor`
synchrony (``synchrony``)                  :func:`synchrony_chi`, :func:`exponential_filter`,
                                           :func:`cross_correlogram`,
                                           :func:`population_spectrum`,
                                           :func:`oscillation_peak`
spike-train distances (``distances``)      :func:`van_rossum_distance`,
                                           :func:`victor_purpura_distance`
connectivity (``connectivity``)            :func:`degrees`, :func:`degree_distribution`,
                                           :func:`ei_balance`, :func:`eigenvalues`,
                                           :func:`spectral_radius`, :func:`circular_law`,
                                           :func:`singular_values`, :func:`effective_rank`,
                                           :func:`low_rank`, :func:`reciprocity`,
                                           :func:`dyad_census`, :func:`triad_census`,
                                           :func:`motif_counts`
learning regime (``regime``)               :func:`relative_weight_change`, :func:`layer_rotation`,
                                           :func:`linear_cka`, :func:`representation_change`,
                                           :func:`tangent_kernel`, :func:`kernel_alignment`,
                                           :func:`kernel_distance`,
                                           :func:`relative_kernel_change`,
                                           :func:`target_alignment`, :func:`weight_change_rank`
plots (``plots``; matplotlib, lazily)      :func:`raster`, :func:`plot_population_rate`,
                                           :func:`plot_rate_distribution`,
                                           :func:`plot_isi_histogram`, :func:`plot_spectrum`,
                                           :func:`plot_weight_matrix`, :func:`plot_learning_curve`,
                                           :func:`plot_kernel_alignment`
rich versus lazy (``richlazy``)            :func:`low_rank_init`, :func:`run_rich_lazy`,
                                           :func:`rich_lazy_sweep`, :func:`plot_rich_lazy`,
                                           :func:`rich_lazy_summary`
results over seeds (``seeds``)             :func:`seed_summary`, :func:`mean_sd`
=========================================  ===================================================

Example:
    >>> import numpy as np
    >>> import spikeforge.analysis as sfa
    >>> rng = np.random.default_rng(0)
    >>> train = np.cumsum(rng.exponential(10.0, size=2000))     # Poisson, 0.1 spikes/ms
    >>> round(sfa.cv_isi(train), 1)
    1.0
    >>> round(sfa.effective_rank(np.eye(5), method="entropy"), 6)
    5.0
"""

from .connectivity import (
    TRIAD_TYPES,
    CircularLaw,
    Degrees,
    EIBalance,
    LowRank,
    MotifCounts,
    circular_law,
    degree_distribution,
    degrees,
    dyad_census,
    effective_rank,
    ei_balance,
    eigenvalues,
    low_rank,
    motif_counts,
    reciprocity,
    singular_values,
    spectral_radius,
    triad_census,
)
from .distances import van_rossum_distance, victor_purpura_distance
from .isi import cv_isi, fano_factor, isi, isi_histogram, local_variation, spike_counts
from .plots import (
    plot_isi_histogram,
    plot_kernel_alignment,
    plot_learning_curve,
    plot_population_rate,
    plot_rate_distribution,
    plot_spectrum,
    plot_weight_matrix,
    raster,
)
from .rates import firing_rates, mean_rates, population_rate, spike_events
from .regime import (
    kernel_alignment,
    kernel_distance,
    layer_rotation,
    linear_cka,
    relative_kernel_change,
    relative_weight_change,
    representation_change,
    tangent_kernel,
    target_alignment,
    weight_change_rank,
)
from .richlazy import (
    RichLazyConfig,
    RichLazyResult,
    RichLazySweep,
    low_rank_init,
    plot_rich_lazy,
    rich_lazy_summary,
    rich_lazy_sweep,
    run_rich_lazy,
)
from .seeds import mean_sd, seed_summary
from .synchrony import (
    OscillationPeak,
    cross_correlogram,
    exponential_filter,
    oscillation_peak,
    population_spectrum,
    synchrony_chi,
)

__all__ = [
    # rates
    "spike_events",
    "firing_rates",
    "mean_rates",
    "population_rate",
    # isi
    "isi",
    "cv_isi",
    "local_variation",
    "isi_histogram",
    "spike_counts",
    "fano_factor",
    # synchrony
    "synchrony_chi",
    "exponential_filter",
    "cross_correlogram",
    "population_spectrum",
    "oscillation_peak",
    "OscillationPeak",
    # seeds
    "seed_summary",
    "mean_sd",
    # distances
    "van_rossum_distance",
    "victor_purpura_distance",
    # connectivity
    "Degrees",
    "degrees",
    "degree_distribution",
    "EIBalance",
    "ei_balance",
    "eigenvalues",
    "spectral_radius",
    "CircularLaw",
    "circular_law",
    "singular_values",
    "effective_rank",
    "LowRank",
    "low_rank",
    "reciprocity",
    "dyad_census",
    "triad_census",
    "TRIAD_TYPES",
    "MotifCounts",
    "motif_counts",
    # regime
    "relative_weight_change",
    "layer_rotation",
    "linear_cka",
    "representation_change",
    "tangent_kernel",
    "kernel_alignment",
    "kernel_distance",
    "relative_kernel_change",
    "target_alignment",
    "weight_change_rank",
    # plots
    "raster",
    "plot_population_rate",
    "plot_rate_distribution",
    "plot_isi_histogram",
    "plot_spectrum",
    "plot_weight_matrix",
    "plot_learning_curve",
    "plot_kernel_alignment",
    # rich versus lazy
    "RichLazyConfig",
    "RichLazyResult",
    "RichLazySweep",
    "low_rank_init",
    "run_rich_lazy",
    "rich_lazy_sweep",
    "plot_rich_lazy",
    "rich_lazy_summary",
]
