r"""Integrate-and-fire neurons without leak (NIR ``IF``; norse's ``IAFCell``, snntorch's
``Leaky(beta=1)``).

Each step adds the input, scaled by ``r``, to the membrane, then fires and resets:

.. math::

    v \leftarrow v + r\,x, \qquad z = \Theta(v - v_{th}), \qquad
    v \leftarrow v_{reset} \text{ where } z = 1 \ (\text{or } v - (v_{th} - v_{reset}))

So the input ``x`` of a step is a jump (for spikes through weights ``w``: a jump of ``r w`` per
spike), the discrete form of NIR's :math:`\dot v = R I` with ``I = x`` held over the step and
:math:`R = r / \Delta t` (see :mod:`spikeforge.hardware.nir`). The state starts at ``v_reset``.
A neuron under a constant input ``x > 0`` fires every :math:`\lfloor (v_{th} - v_{reset})/(r x)
\rfloor + 1` steps.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

import torch
from torch import Tensor

from .._checks import ParamLike, as_param, check_choice
from ..errors import ParameterError, ShapeError
from ..surrogate import Surrogate
from .base import NeuronModule, ScanResult
from .lif import DEFAULT_SURROGATE, Reset, SpikeFn, _reset

__all__ = ["IF", "IFParams", "IFState", "if_step", "if_scan"]


class IFParams(NamedTuple):
    """IF parameters, each broadcastable to ``[*shape]``."""

    v_th: Tensor
    v_reset: Tensor
    r: Tensor


class IFState(NamedTuple):
    """IF state: the membrane after reset, ``[*batch, *shape]``."""

    v: Tensor


def if_step(
    x: Tensor,
    state: IFState,
    params: IFParams,
    *,
    spike_fn: SpikeFn = DEFAULT_SURROGATE,
    reset: Reset = "to_value",
    detach_reset: bool = True,
) -> tuple[Tensor, IFState]:
    """One IF step: ``v <- v + r*x``, spikes ``z = spike_fn(v - v_th)``, reset. Returns
    ``(z, state)`` with ``z`` in x's dtype.

    Example:
        >>> import torch
        >>> p = IFParams(torch.tensor(1.0), torch.tensor(0.0), torch.tensor(1.0))
        >>> state, spikes = IFState(torch.zeros(1)), []
        >>> for _ in range(6):
        ...     z, state = if_step(torch.full((1,), 0.4), state, p)
        ...     spikes.append(int(z))
        >>> spikes                                  # 0.4, 0.8, 1.2 > 1: every third step
        [0, 0, 1, 0, 0, 1]
    """
    v = state.v + params.r * x
    z = spike_fn(v - params.v_th)
    return z, IFState(_reset(v, z, params.v_th, params.v_reset, reset, detach_reset))


def if_scan(
    x: Tensor,
    state: IFState,
    params: IFParams,
    *,
    spike_fn: SpikeFn = DEFAULT_SURROGATE,
    reset: Reset = "to_value",
    detach_reset: bool = True,
    record: bool = False,
    _interpret: bool = False,
) -> ScanResult:
    """:func:`if_step` over ``x`` of shape ``[T, *batch, *shape]`` (a loop; same results).

    On a CUDA tensor with Triton installed and a :class:`~spikeforge.surrogate.Surrogate` of
    :mod:`spikeforge.surrogate`, the sequence runs as one Triton kernel forward and one backward
    (:mod:`spikeforge.neurons._triton_if`) with the loop's results; ``_interpret=True`` runs those
    kernels on CPU tensors through Triton's interpreter (for tests only).

    Returns:
        ``ScanResult(output, state, trace)``; with ``record=True`` the trace is an
        :class:`IFState` whose ``v`` is ``[T, *batch, *shape]`` (after reset).

    Raises:
        ShapeError: ``x`` has no time step.

    Example:
        >>> import torch
        >>> p = IFParams(torch.tensor(1.0), torch.tensor(0.0), torch.tensor(1.0))
        >>> res = if_scan(torch.full((6, 1), 0.4), IFState(torch.zeros(1)), p)
        >>> res.output.flatten().tolist()
        [0.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    """
    if x.dim() == 0 or x.shape[0] == 0:
        raise ShapeError(f"x must have at least one time step, got shape {list(x.shape)}")
    if isinstance(spike_fn, Surrogate) and (x.is_cuda or _interpret):
        from ._triton_if import if_scan_function

        fused = if_scan_function(x, spike_fn, interpret=_interpret and not x.is_cuda)
        if fused is not None:
            z, v_pre = fused.apply(
                x, state.v, params.r, params.v_th, params.v_reset, spike_fn, reset, detach_reset
            )
            if not record:
                v_last = _reset(v_pre[-1], z[-1], params.v_th, params.v_reset, reset, detach_reset)
                return ScanResult(z, IFState(v_last), None)
            v_post = _reset(v_pre, z, params.v_th, params.v_reset, reset, detach_reset)
            return ScanResult(z, IFState(v_post[-1]), IFState(v_post))
    outs, states = [], []
    for t in range(x.shape[0]):
        z, state = if_step(x[t], state, params, spike_fn=spike_fn, reset=reset, detach_reset=detach_reset)
        outs.append(z)
        if record:
            states.append(state)
    trace = IFState(torch.stack([s.v for s in states])) if record else None
    return ScanResult(torch.stack(outs), state, trace)


class IF(NeuronModule):
    """A population of integrate-and-fire neurons without leak (see the module docstring).

    On a CUDA tensor with Triton installed, ``forward``/``scan`` run one fused kernel per
    direction (:func:`if_scan`).

    Args:
        n: number of neurons (or a shape).
        v_th: threshold.
        v_reset: reset value (< v_th); the state starts here.
        r: input gain (the jump per unit input).
        dt: time step in ms (only recorded: the dynamics have no time constant).
        reset: ``"to_value"`` or ``"subtract"``.
        surrogate: spike function with its surrogate gradient (default: the package default).
        detach_reset: if True the reset carries no gradient.
        learnable: among ``v_th``, ``v_reset``, ``r``.

    Example:
        >>> import torch, spikeforge as sf
        >>> neurons = sf.neurons.IF(3, v_th=1.0)
        >>> z, state = neurons(torch.full((10, 3), 0.25))   # [T, n]
        >>> z[:, 0].nonzero().flatten().tolist()            # 0.25 per step: fires on steps 5 and 10
        [4, 9]
    """

    _learnable_allowed = ("v_th", "v_reset", "r")

    def __init__(
        self,
        n: int | tuple[int, ...],
        v_th: ParamLike = 1.0,
        v_reset: ParamLike = 0.0,
        r: ParamLike = 1.0,
        dt: float = 1.0,
        reset: Reset = "to_value",
        surrogate: Surrogate | SpikeFn | None = None,
        detach_reset: bool = True,
        learnable: Collection[str] = (),
    ) -> None:
        super().__init__(n, dt=dt, learnable=learnable)
        check_choice("reset", reset, ("to_value", "subtract"))
        if surrogate is not None and not callable(surrogate):
            raise ParameterError(f"surrogate must be a spikeforge.surrogate.Surrogate, got {surrogate!r}")
        self.reset: Reset = reset
        self.surrogate: Surrogate | SpikeFn = surrogate if surrogate is not None else DEFAULT_SURROGATE
        self.detach_reset = bool(detach_reset)
        v_th_t, v_reset_t = as_param("v_th", v_th, self.shape), as_param("v_reset", v_reset, self.shape)
        if not bool((v_reset_t < v_th_t).all()):
            raise ParameterError(f"v_reset must be < v_th, got v_reset={v_reset!r} and v_th={v_th!r}")
        self._add_param("v_reset", v_reset_t)
        self._add_param("v_th", v_th_t, ("above", "v_reset"))
        self._add_param("r", r)

    def params(self, dtype: torch.dtype | None = None) -> IFParams:
        """The parameters (constrained values; differentiable for learnable ones)."""

        def get(name: str) -> Tensor:
            t: Tensor = getattr(self, name)
            return t if dtype is None else t.to(dtype)

        return IFParams(get("v_th"), get("v_reset"), get("r"))

    def init_state(
        self,
        batch_shape: tuple[int, ...] = (),
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> IFState:
        """The state after a reset: ``v = v_reset``."""
        v_reset: Tensor = self.v_reset
        device = device if device is not None else v_reset.device
        full = tuple(batch_shape) + self.shape
        return IFState(v_reset.detach().to(dtype=dtype or v_reset.dtype, device=device).expand(full).clone())

    def step(self, x: Tensor, state: IFState | None = None) -> tuple[Tensor, IFState]:
        """One step: ``x`` is ``[*batch, *shape]``; returns ``(spikes, state)``."""
        x = self._check_input(x, sequence=False)
        state = self._prepare(x, state, tuple(x.shape[: x.dim() - len(self.shape)]))
        return if_step(
            x,
            state,
            self.params(x.dtype),
            spike_fn=self.surrogate,
            reset=self.reset,
            detach_reset=self.detach_reset,
        )

    def scan(self, x: Tensor, state: IFState | None = None, *, record: bool = False) -> ScanResult:
        """Run over ``x`` of shape ``[T, *batch, *shape]`` (:func:`if_scan`)."""
        x = self._check_input(x, sequence=True)
        state = self._prepare(x, state, tuple(x.shape[1 : x.dim() - len(self.shape)]))
        return if_scan(
            x,
            state,
            self.params(x.dtype),
            spike_fn=self.surrogate,
            reset=self.reset,
            detach_reset=self.detach_reset,
            record=record,
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, reset={self.reset!r}"
