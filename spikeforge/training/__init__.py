"""Training spiking networks: losses, metrics, a trainer with exact-resume checkpoints, and
data-parallel training.

================================  ==========================================================
:class:`Trainer`                  BPTT with surrogate gradients, checkpoints, progress, DDP
:class:`History`                  per-epoch losses and accuracies, ``plot(path)``
:func:`make_loader`               a DataLoader whose order depends only on a seed
:func:`spike_count_cross_entropy` loss on spike counts (also ``max_membrane``, ``first_spike``)
:func:`predict`, :func:`accuracy`  predictions from a readout
:func:`run_distributed`           start N local processes in one process group (gloo on CPU)
:class:`DelayAnnealing`           the DCLS recipe for learnable delays (with :func:`delay_param_groups`)
================================  ==========================================================

Example:
    >>> import torch, spikeforge as sf
    >>> from spikeforge.training import Trainer
    >>> model = sf.Sequential(torch.nn.Linear(10, 3), sf.neurons.LIF(3))
    >>> trainer = Trainer(model, torch.optim.Adam(model.parameters(), 1e-3), progress=False)
    >>> trainer.readout
    'spike_count'
"""

from .checkpoint import load_checkpoint
from .delays import DelayAnnealing, delay_layers, delay_param_groups
from .distributed import run_distributed
from .history import History
from .loaders import make_loader
from .losses import (
    FirstSpikeTimeLoss,
    MaxMembraneCrossEntropy,
    SpikeCountCrossEntropy,
    first_spike_time_loss,
    first_spike_times,
    max_membrane_cross_entropy,
    spike_count_cross_entropy,
)
from .metrics import MeanMeter, Readout, accuracy, confusion_matrix, predict
from .trainer import Trainer

__all__ = [
    "Trainer",
    "DelayAnnealing",
    "delay_param_groups",
    "delay_layers",
    "History",
    "make_loader",
    "load_checkpoint",
    "run_distributed",
    "spike_count_cross_entropy",
    "max_membrane_cross_entropy",
    "first_spike_times",
    "first_spike_time_loss",
    "SpikeCountCrossEntropy",
    "MaxMembraneCrossEntropy",
    "FirstSpikeTimeLoss",
    "Readout",
    "predict",
    "accuracy",
    "confusion_matrix",
    "MeanMeter",
]
