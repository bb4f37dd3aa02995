"""Neuron models: each a pure step function plus an ``nn.Module`` around it."""

from .base import NeuronModule, ScanResult
from .lif import LIF, LIFParams, LIFState, lif_init_state, lif_scan, lif_step

__all__ = [
    "NeuronModule", "ScanResult",
    "LIF", "LIFParams", "LIFState", "lif_init_state", "lif_scan", "lif_step",
]
