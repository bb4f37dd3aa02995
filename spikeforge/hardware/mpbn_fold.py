"""Fold every membrane-potential batch norm of a model into plain LIF thresholds.

See :mod:`spikeforge.neurons.mpbn` for the maths and why the folding is exact.
"""

from __future__ import annotations

import copy

from torch import nn

from ..neurons.mpbn import MPBNLIF

__all__ = ["fold_mpbn", "has_mpbn"]


def has_mpbn(model: nn.Module) -> bool:
    """Whether ``model`` is or contains an :class:`~spikeforge.neurons.MPBNLIF`."""
    return any(isinstance(m, MPBNLIF) for m in model.modules())


def fold_mpbn(model: nn.Module) -> nn.Module:
    r"""A copy of ``model`` with every :class:`~spikeforge.neurons.MPBNLIF` replaced by its folded
    :class:`~spikeforge.neurons.LIF` (:meth:`MPBNLIF.fold <spikeforge.neurons.MPBNLIF.fold>`).

    The threshold of neuron :math:`j` becomes
    :math:`\theta'_j = \mu_j + (\theta_j - \beta_j)\sqrt{\sigma_j^2 + \epsilon}/\gamma_j` from the
    running statistics; the copy spikes exactly as ``model`` does in eval mode (float64: bitwise;
    float32: except where the membrane is within rounding of :math:`\theta'`). ``model`` itself is
    not changed. A model without MPBN comes back as an (unchanged) copy.

    Args:
        model: any module: a single ``MPBNLIF``, an :class:`~spikeforge.Sequential`, or a module
            holding them at any depth.

    Returns:
        the folded copy, in ``model``'s train/eval mode.

    Raises:
        UnsupportedExportError: some :math:`\gamma_j \le 0`, or :math:`\theta'_j \le` ``v_reset``;
            the message names the layer and the neuron.

    Example:
        >>> import torch, spikeforge as sf
        >>> net = sf.Sequential(torch.nn.Linear(3, 5), sf.neurons.MPBNLIF(5)).eval()
        >>> folded = sf.hardware.fold_mpbn(net)
        >>> type(folded[1]).__name__, folded[1].v_th.shape
        ('LIF', torch.Size([5]))
    """
    from ..errors import UnsupportedExportError

    if isinstance(model, MPBNLIF):
        return model.fold().train(model.training)
    out = copy.deepcopy(model)
    for name, module in list(out.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, MPBNLIF):
                where = f"{name}.{child_name}" if name else child_name
                try:
                    folded = child.fold()
                except UnsupportedExportError as e:
                    raise UnsupportedExportError(f"module {where!r}: {e}") from None
                setattr(module, child_name, folded.train(child.training))
    return out
