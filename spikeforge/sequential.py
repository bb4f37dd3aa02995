"""``Sequential``: a feedforward SNN as one module."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ._checks import check_state_dict
from .neurons.base import NeuronModule

__all__ = ["Sequential"]


class Sequential(nn.Sequential):
    """Chain stateless torch modules and neuron modules over a whole sequence.

    Stateless modules (``Linear``, ``Conv2d``, ``Dropout``, ``Flatten``, ...) are applied to
    all time steps at once: the time and batch dimensions are merged, so a layer's input GEMM
    runs once per sequence, not once per step (``Dropout`` therefore draws a new mask for every
    step). Neuron modules (:class:`NeuronModule`) run their (fused) scan and thread their state,
    as does any module with a class attribute ``takes_sequence = True`` whose ``forward(x,
    state)`` takes ``[T, B, ...]`` and returns ``(y, state)`` (the delay layers of
    :mod:`spikeforge.plasticity`).

    Returns ``(output, states)``: ``states`` is a list with one entry per module, the final
    state of a neuron module and ``None`` for a stateless one. Pass it back as ``state=`` to
    continue a sequence where the last call ended.

    Shape:
        ``x``: ``[T, B, *features]``; each stateless module sees ``[T*B, *features]``.

    Example:
        >>> import torch, spikeforge as sf
        >>> model = sf.Sequential(torch.nn.Linear(700, 256), sf.neurons.LIF(256),
        ...                       torch.nn.Linear(256, 20), sf.neurons.LIF(20))
        >>> out, states = model(torch.rand(100, 2, 700))
        >>> out.shape, len(states)
        (torch.Size([100, 2, 20]), 4)
    """

    def forward(self, x: Tensor, state: list[Any] | None = None) -> tuple[Tensor, list[Any]]:  # type: ignore[override]
        from .errors import ParameterError, ShapeError

        if x.dim() < 3:
            raise ShapeError(f"Sequential expects x of shape [T, B, *features], got {list(x.shape)}")
        if state is not None and len(state) != len(self):
            raise ShapeError(
                f"state must be a list of {len(self)} entries (one per module), got {len(state)}"
            )
        states: list[Any] = []
        for idx, module in enumerate(self):
            if isinstance(module, NeuronModule) or getattr(module, "takes_sequence", False):
                x, s = module(x, None if state is None else state[idx])
                states.append(s)
            else:
                steps, batch = x.shape[0], x.shape[1]
                flat = x.reshape(steps * batch, *x.shape[2:])
                try:
                    y = module(flat)
                except torch.OutOfMemoryError:
                    raise
                except RuntimeError as e:  # torch's message names neither the layer nor the sequence
                    kind = (
                        ShapeError if any(w in str(e) for w in ("shape", "size", "mat1")) else ParameterError
                    )
                    raise kind(
                        f"Sequential layer {idx} ({module}) failed on x of shape {list(x.shape)} "
                        f"([T, B, *features], which it sees as {list(flat.shape)}): {e}"
                    ) from e
                x = y.reshape(steps, batch, *y.shape[1:])
                states.append(None)
        return x, states

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any:
        """``nn.Module.load_state_dict`` with the same (strict) semantics, after checking the keys,
        shapes, dtype kinds and finiteness first (and, for each neuron layer, its parameters'
        ranges): a state dict that does not fit raises a ``spikeforge.errors`` type naming the key
        and what is allowed, and changes nothing."""
        check_state_dict(self, state_dict, "Sequential.load_state_dict", strict=strict)
        for idx, module in enumerate(self):
            if isinstance(module, NeuronModule):
                prefix = f"{idx}."
                sub = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
                module._check_loaded_ranges(sub, f"Sequential.load_state_dict (layer {idx})")
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
