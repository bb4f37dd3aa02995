r"""Leaky integrators (NIR ``LI``): the LIF membrane without threshold, for readouts.

.. math::

    \tau_{syn} \frac{di}{dt} = -i \quad (+\,x \text{ each step}), \qquad
    \tau_{mem} \frac{dv}{dt} = (v_{leak} - v) + r\,i

The output is the membrane ``v`` itself, so a max-over-time or last-step readout of an ``LI``
layer trains with ordinary cross-entropy. One step (:func:`li_step`) is steps 1 and 2 of
:func:`~spikeforge.neurons.lif.lif_step`, with the same coefficients
(:func:`~spikeforge.neurons.lif.lif_coefficients`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from .._checks import ParamLike, as_param, check_choice, check_positive
from ..errors import ParameterError
from .base import NeuronModule, ScanResult
from .lif import LIFParams, lif_coefficients

__all__ = ["LI", "LIState", "li_step"]


class LIState(NamedTuple):
    """Leaky-integrator state, each ``[*batch, *shape]``."""

    v: Tensor  # membrane
    i: Tensor  # synaptic current (the last input when tau_syn is None)


def li_step(
    x: Tensor,
    state: LIState,
    params: LIFParams,
    *,
    dt: float,
    integrator: Literal["exact", "euler"] = "exact",
) -> tuple[Tensor, LIState]:
    """One leaky-integrator step: ``i <- alpha*i + x`` (or ``i = x``), then
    ``v <- v + k*(v_leak + r*i - v)``. Returns ``(v, state)``; ``params.v_th``, ``v_reset`` and
    ``t_ref`` are ignored."""
    k, alpha = lif_coefficients(params, dt, integrator)
    i = x if alpha is None else torch.addcmul(x, alpha, state.i)
    v = torch.lerp(state.v, params.v_leak + params.r * i, k)
    return v, LIState(v, i)


class LI(NeuronModule):
    """A population of leaky integrators; outputs the membrane (no spikes).

    Args:
        n: number of neurons (or a shape).
        tau_mem: membrane time constant in ms (> 0).
        tau_syn: synaptic time constant in ms (> 0), or None: the input is the current.
        v_leak: resting value; the state starts here.
        r: input gain.
        dt: time step in ms.
        integrator: ``"exact"`` or ``"euler"`` (needs dt < 2 tau).
        learnable: among ``tau_mem``, ``tau_syn``, ``v_leak``, ``r``.

    Example:
        >>> import torch, spikeforge as sf
        >>> readout = sf.neurons.LI(2, tau_mem=10.0)
        >>> v, state = readout(torch.ones(100, 2))
        >>> round(float(v[-1, 0]), 4)                 # approaches r * I = 1
        1.0
    """

    _learnable_allowed = ("tau_mem", "tau_syn", "v_leak", "r")

    def __init__(
        self,
        n: int | tuple[int, ...],
        tau_mem: ParamLike = 20.0,
        tau_syn: ParamLike | None = None,
        v_leak: ParamLike = 0.0,
        r: ParamLike = 1.0,
        dt: float = 1.0,
        integrator: Literal["exact", "euler"] = "exact",
        learnable: Collection[str] = (),
    ) -> None:
        super().__init__(n, dt=dt, learnable=learnable)
        check_choice("integrator", integrator, ("exact", "euler"))
        if tau_syn is None and "tau_syn" in self.learnable:
            raise ParameterError("learnable names 'tau_syn' but tau_syn is None (no synaptic state)")
        self.integrator = integrator
        self.has_syn = tau_syn is not None
        for name, value in (("tau_mem", tau_mem), ("tau_syn", tau_syn)):
            if value is None:
                continue
            t = as_param(name, value, self.shape)
            check_positive(name, t, "ms")
            if integrator == "euler" and not bool((self.dt < 2 * t).all()):
                raise ParameterError(
                    f"dt={self.dt} ms is too large for the Euler integrator: it needs dt < 2*{name} "
                    f"(got {name} min {t.min().item()} ms); lower dt or use integrator='exact'"
                )
            self._add_param(name, t, "positive")
        self._add_param("v_leak", v_leak)
        self._add_param("r", r)

    def params(self, dtype: torch.dtype | None = None) -> LIFParams:
        """Parameters as :class:`LIFParams` (threshold +inf, no reset, no refractory period)."""

        def get(name: str) -> Tensor:
            t: Tensor = getattr(self, name)
            return t if dtype is None else t.to(dtype)

        inf = torch.full((), float("inf"), dtype=dtype or self.v_leak.dtype, device=self.v_leak.device)
        zero = torch.zeros((), dtype=inf.dtype, device=inf.device)
        return LIFParams(
            get("tau_mem"),
            get("tau_syn") if self.has_syn else None,
            get("v_leak"),
            inf,
            zero,
            get("r"),
            zero,
        )

    def init_state(
        self,
        batch_shape: tuple[int, ...] = (),
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> LIState:
        """Resting state: ``v = v_leak``, ``i = 0``."""
        device = device if device is not None else self.v_leak.device
        dtype = dtype or self.v_leak.dtype
        full = tuple(batch_shape) + self.shape
        v = self.v_leak.detach().to(dtype=dtype, device=device).expand(full).clone()
        return LIState(v, torch.zeros(full, dtype=dtype, device=device))

    def step(self, x: Tensor, state: LIState | None = None) -> tuple[Tensor, LIState]:
        """One step: ``x`` is ``[*batch, *shape]``; returns ``(v, state)``."""
        x = self._check_input(x, sequence=False)
        state = self._prepare(x, state, tuple(x.shape[: x.dim() - len(self.shape)]))
        return li_step(x, state, self.params(x.dtype), dt=self.dt, integrator=self.integrator)

    def scan(self, x: Tensor, state: LIState | None = None, *, record: bool = False) -> ScanResult:
        """Run over ``x`` ``[T, *batch, *shape]``; the output is the membrane trace."""
        return super().scan(x, state, record=record)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, integrator={self.integrator!r}"
