"""Plasticity: local learning rules and learnable delays.

Every rule has a pure step function that returns the weight change and the new state, and a
module implementing :class:`PlasticityRule` (``init_state(batch_shape, n_pre, n_post)``,
``step(pre, post, w, state, *, modulator=None) -> (dw, state)``); the caller applies ``dw``.

=============================  ===============================================================
``STDP``                       pair STDP with traces; additive, multiplicative, soft-bounded
``TripletSTDP``                Pfister & Gerstner 2006, with the published parameter sets
``EligibilityTrace``           any rule into an eligibility trace, times a modulator
``ThreeFactor``                Hebbian eligibility x modulator (reward, error) x gate
``RewardModulatedSTDP``        Izhikevich 2007: STDP tags and dopamine (distal reward)
``ErrorGatedReadout``          error-modulated, attention-gated readout; offline consolidation
``RLSReadout``                 recursive least squares for a readout (FORCE, Sussillo & Abbott 2009)
``SynapticScaling``            multiplicative scaling toward a target rate
``ThresholdAdaptation``        intrinsic threshold plasticity toward a target rate
``Metaplastic``                Laborieux et al. 2021 metaplastic Adam (binarized networks)
``FastSlow``                   fast and slow weights with consolidation
``CLASSP``                     thresholded updates with decaying per-weight learning rates
``LearnableDelay``             per-synapse learnable delays (DCLS), [T, B, n_in] -> [T, B, n_out]
``FixedDelay``                 integer delays through a ring buffer (element-wise or synaptic)
=============================  ===============================================================

Sparse connectivity: ``STDP``, ``TripletSTDP``, ``RewardModulatedSTDP`` and ``EligibilityTrace``
(of such a rule) also step with ``synapses=Synapses(post, pre)`` (index tensors ``[n_syn]``):
weights, changes (and tags, eligibility) are then per synapse, and the work per step grows with
the synapses instead of ``n_post * n_pre`` (circuits use it for sparse plastic projections; the
first two are event-driven, ``event_driven``).

Spike delays: ``STDP`` and ``TripletSTDP`` take ``dendritic_delay`` and ``axonal_delay`` (ms), the
time a post and a pre spike take to reach the synapse (NEST's ``stdp_synapse``: the whole
connection delay is dendritic; Brian2: the ``on_pre`` delay is axonal); a circuits ``Network``
applies them (``SpikeDelays``, in steps).
"""

from .delays import (
    DelayState,
    FixedDelay,
    LearnableDelay,
    RoundedDelays,
    delay_kernel,
    delayed_linear,
    sigma_schedule,
)
from .homeostasis import RateState, SynapticScaling, ThresholdAdaptation, ThresholdState, rate_step
from .metaplasticity import CLASSP, FastSlow, Metaplastic, binarize
from .readout import ErrorGatedReadout, ReadoutParams, ReadoutState, readout_output, readout_step
from .rls import RLSReadout, RLSState, rls_init_state, rls_step
from .stdp import (
    STDP,
    WEIGHT_DEPENDENCE,
    PlasticityRule,
    SpikeDelays,
    STDPParams,
    STDPState,
    Synapses,
    apply_weight_update,
    stdp_init_state,
    stdp_step,
    weight_dependence,
)
from .three_factor import (
    EligibilityState,
    EligibilityTrace,
    RewardModulatedSTDP,
    RewardModulatedSTDPState,
    ThreeFactor,
    ThreeFactorParams,
    ThreeFactorState,
    three_factor_step,
)
from .triplet import (
    TRIPLET_PRESETS,
    TripletParams,
    TripletState,
    TripletSTDP,
    triplet_init_state,
    triplet_step,
)

__all__ = [
    "PlasticityRule",
    "Synapses",
    "SpikeDelays",
    "STDP",
    "STDPParams",
    "STDPState",
    "stdp_init_state",
    "stdp_step",
    "weight_dependence",
    "apply_weight_update",
    "WEIGHT_DEPENDENCE",
    "TripletSTDP",
    "TripletParams",
    "TripletState",
    "triplet_init_state",
    "triplet_step",
    "TRIPLET_PRESETS",
    "EligibilityTrace",
    "EligibilityState",
    "ThreeFactor",
    "ThreeFactorParams",
    "ThreeFactorState",
    "three_factor_step",
    "RewardModulatedSTDP",
    "RewardModulatedSTDPState",
    "ErrorGatedReadout",
    "ReadoutParams",
    "ReadoutState",
    "readout_step",
    "RLSReadout",
    "RLSState",
    "rls_init_state",
    "rls_step",
    "readout_output",
    "SynapticScaling",
    "ThresholdAdaptation",
    "ThresholdState",
    "RateState",
    "rate_step",
    "Metaplastic",
    "FastSlow",
    "CLASSP",
    "binarize",
    "LearnableDelay",
    "FixedDelay",
    "DelayState",
    "RoundedDelays",
    "delay_kernel",
    "delayed_linear",
    "sigma_schedule",
]
