"""Neuron models: each a pure step function plus an ``nn.Module`` around it.

=========================  ==========================================================
``LIF``                    current-based leaky integrate-and-fire (NIR LIF / CubaLIF)
``LI``                     leaky integrator (membrane output, no spikes), for readouts
``IF``                     integrate-and-fire without leak (NIR IF, norse IAFCell)
``ALIF``                   LIF with an adaptive threshold (Bellec et al. 2018, LSNN)
``Izhikevich``             Izhikevich 2003 model with the published presets
``ProbabilisticNeuron``    stochastic firing and release, learnable internal parameters
``MPBNLIF``                LIF with membrane-potential batch norm, foldable into LIF thresholds
=========================  ==========================================================
"""

from .alif import ALIF, ALIFParams, ALIFState, adaptation_decay, alif_init_state, alif_scan, alif_step
from .base import NeuronModule, ScanResult
from .integrate_fire import IF, IFParams, IFState, if_scan, if_step
from .izhikevich import Izhikevich, IzhikevichParams, IzhikevichState, izhikevich_init_state, izhikevich_step
from .li import LI, LIState, li_step
from .lif import LIF, LIFParams, LIFState, lif_init_state, lif_scan, lif_step
from .mpbn import MPBNLIF, MPBNParams, mpbn_lif_step
from .probabilistic import ProbabilisticNeuron, ProbabilisticParams, ProbabilisticState, probabilistic_step

__all__ = [
    "NeuronModule",
    "ScanResult",
    "LIF",
    "LI",
    "LIState",
    "IF",
    "IFParams",
    "IFState",
    "if_step",
    "if_scan",
    "li_step",
    "LIFParams",
    "LIFState",
    "lif_init_state",
    "lif_scan",
    "lif_step",
    "ALIF",
    "ALIFParams",
    "ALIFState",
    "adaptation_decay",
    "alif_init_state",
    "alif_scan",
    "alif_step",
    "Izhikevich",
    "IzhikevichParams",
    "IzhikevichState",
    "izhikevich_init_state",
    "izhikevich_step",
    "ProbabilisticNeuron",
    "ProbabilisticParams",
    "ProbabilisticState",
    "probabilistic_step",
    "MPBNLIF",
    "MPBNParams",
    "mpbn_lif_step",
]
