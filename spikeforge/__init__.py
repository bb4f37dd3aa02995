"""spikeforge: spiking and neuroscience-inspired models in PyTorch.

>>> import torch, spikeforge as sf
>>> model = sf.Sequential(torch.nn.Linear(4, 8), sf.neurons.LIF(8), torch.nn.Linear(8, 2), sf.neurons.LIF(2))
>>> out, states = model(torch.rand(10, 3, 4))     # [T, B, 4] -> [T, B, 2]
>>> out.shape
torch.Size([10, 3, 2])
"""

from . import (
    analysis,
    circuits,
    data,
    encoders,
    errors,
    hardware,
    neurons,
    plasticity,
    surrogate,
    training,
    units,
)
from ._version import __version__
from .modelfile import load
from .sequential import Sequential

__all__ = [
    "analysis",
    "circuits",
    "data",
    "encoders",
    "errors",
    "hardware",
    "neurons",
    "plasticity",
    "surrogate",
    "training",
    "units",
    "Sequential",
    "load",
    "__version__",
]
