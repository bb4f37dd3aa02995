r"""Quantization-aware training: fake-quantized weights with a straight-through gradient.

:func:`prepare_qat` registers a parametrization (``torch.nn.utils.parametrize``) on the
``weight`` of every ``nn.Linear`` / ``nn.Conv1d`` / ``nn.Conv2d`` of a model: the forward pass
sees the weights rounded to the target's signed weight bits with a per-layer scale,

.. math::

    s = \max|W| / (2^{b-1} - 1), \qquad \hat W = s\,\mathrm{clip}(\mathrm{round}(W / s),
    -2^{b-1}, 2^{b-1} - 1),

and the backward pass treats the rounding as the identity (straight-through estimator:
``W + (W_hat - W).detach()``), so the float weights keep learning. :func:`remove_qat` removes
the parametrizations and leaves the float weights (``keep_quantized=False``) or their quantized
values (``keep_quantized=True``). Train as usual in between; then
:func:`~spikeforge.hardware.quantize` maps the model to the chip.

Example:
    >>> import torch, spikeforge as sf
    >>> net = sf.Sequential(torch.nn.Linear(4, 8), sf.neurons.LIF(8))
    >>> sf.hardware.prepare_qat(net, "brainscales2")      # 6-bit weights
    Sequential(...)
    >>> int(net[0].weight.unique().numel()) <= 2**6
    True
    >>> _ = sf.hardware.remove_qat(net)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from ..errors import ParameterError
from .targets import ChipTarget, get_target

__all__ = ["FakeQuantize", "fake_quantize", "prepare_qat", "remove_qat"]

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


def fake_quantize(w: Tensor, bits: int) -> Tensor:
    """``w`` rounded to ``bits`` signed bits with the scale ``max|w| / (2**(bits-1) - 1)``, with a
    straight-through (identity) gradient."""
    qmax = 2 ** (bits - 1) - 1
    scale = w.detach().abs().max().clamp(min=torch.finfo(w.dtype).tiny) / qmax
    q = torch.clamp(torch.round(w / scale), -qmax - 1, qmax) * scale
    return w + (q - w).detach()


class FakeQuantize(nn.Module):
    """The parametrization :func:`prepare_qat` registers: ``forward(w) = fake_quantize(w, bits)``."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 16:
            raise ParameterError(f"bits must be an int in 2..16, got {bits!r}")
        self.bits = bits

    def forward(self, w: Tensor) -> Tensor:
        return fake_quantize(w, self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}"


def prepare_qat(model: nn.Module, target: str | ChipTarget, *, bits: int | None = None) -> nn.Module:
    """Fake-quantize the weights of every Linear / Conv layer of ``model`` (in place).

    Args:
        model: any module; its ``nn.Linear``, ``nn.Conv1d`` and ``nn.Conv2d`` submodules (the
            model itself included) get the parametrization.
        target: the chip whose ``weight_bits`` to use.
        bits: override the target's weight bits (2..16).

    Returns:
        ``model`` (for chaining).

    Raises:
        ParameterError: an unknown target, bad ``bits``, a model already prepared, or a model
            without Linear / Conv layers.
    """
    t = get_target(target)
    b = t.weight_bits if bits is None else bits
    layers = [m for m in model.modules() if isinstance(m, _LAYERS)]
    if not layers:
        raise ParameterError(f"prepare_qat found no Linear or Conv layer in {type(model).__name__}")
    for m in layers:
        if parametrize.is_parametrized(m, "weight"):
            raise ParameterError(f"{type(m).__name__} is already prepared for QAT (call remove_qat first)")
    for m in layers:
        parametrize.register_parametrization(m, "weight", FakeQuantize(b))
    return model


def remove_qat(model: nn.Module, *, keep_quantized: bool = False) -> nn.Module:
    """Remove the fake quantization of :func:`prepare_qat` (in place) and return ``model``.

    Args:
        keep_quantized: leave the quantized weight values (True) or the float weights the
            training updated (False, the default: :func:`~spikeforge.hardware.quantize` rounds
            them the same way).
    """
    for m in model.modules():
        if isinstance(m, _LAYERS) and parametrize.is_parametrized(m, "weight"):
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=keep_quantized)
    return model
