"""Izhikevich neurons (Izhikevich 2003, "Simple model of spiking neurons"; 2004, "Which model to
use for cortical spiking neurons?").

Time in ms, voltage in mV; the input ``x`` of a step is the paper's current ``I``, held over the
step. Equations and the order of operations within a step: :func:`izhikevich_step`.

Integrators. ``"euler"`` (default) is forward Euler on v and u, as Brian2's ``method='euler'``:
at dt = 0.1 ms it gives Brian2's spike steps, and v within 1e-10 mV, over 1 s.
``"izhikevich2003"`` is the published code (v in two dt/2 half-steps, then u with the new v), to
reproduce the 2003 network; its u update sees v's overshoot past v_peak, which makes later spike
times sensitive to round-off (float32 and float64 drift apart by ms). Each v update spans at most
0.5 ms (dt <= 0.5 for Euler, <= 1.0 for the 2003 scheme), else it leaves its stable range. One
step from v < v_peak stays finite and a v past v_peak is reset in the same step, so v cannot run
away to inf or NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor

from .._checks import ParamLike, as_param, check_choice, check_dt, check_positive
from ..errors import ParameterError
from ..surrogate import FastSigmoid, Surrogate
from .base import NeuronModule

__all__ = ["Izhikevich", "IzhikevichParams", "IzhikevichState", "izhikevich_init_state", "izhikevich_step"]

Integrator = Literal["euler", "izhikevich2003"]
SpikeFn = Callable[[Tensor], Tensor]

#: (a, b, c, d) of Izhikevich 2003 Fig. 2 / 2004 Fig. 1.
PRESETS: dict[str, tuple[float, float, float, float]] = {
    "RS": (0.02, 0.2, -65.0, 8.0),  # regular spiking
    "IB": (0.02, 0.2, -55.0, 4.0),  # intrinsically bursting
    "CH": (0.02, 0.2, -50.0, 2.0),  # chattering
    "FS": (0.1, 0.2, -65.0, 2.0),  # fast spiking
    "LTS": (0.02, 0.25, -65.0, 2.0),  # low-threshold spiking
    "TC": (0.02, 0.25, -65.0, 0.05),  # thalamo-cortical
    "RZ": (0.1, 0.26, -65.0, 2.0),  # resonator
}
#: Largest dt (ms) per integrator: each v update spans at most 0.5 ms.
MAX_DT: dict[str, float] = {"euler": 0.5, "izhikevich2003": 1.0}
#: Default surrogate: v - v_peak is in mV and v moves by tens of mV per step near the peak, so the
#: slope is 0.1/mV (half height 4 mV from the peak), not the 25 used for unit thresholds.
DEFAULT_SURROGATE = FastSigmoid(slope=0.1)


class IzhikevichParams(NamedTuple):
    """Izhikevich parameters; each a tensor broadcastable to the population shape."""

    a: Tensor  # 1/ms, > 0: recovery rate of u
    b: Tensor  # sensitivity of u to v
    c: Tensor  # mV: v after a spike, < v_peak
    d: Tensor  # mV/ms: jump of u after a spike
    v_peak: Tensor  # mV: spike cut-off (30 in the papers)


class IzhikevichState(NamedTuple):
    """Izhikevich state, each ``[*batch, *shape]``, after the reset of the step."""

    v: Tensor  # membrane potential, mV
    u: Tensor  # recovery variable, mV/ms


def _check_settings(dt: float, integrator: str) -> float:
    check_choice("integrator", integrator, tuple(MAX_DT))
    dt = check_dt(dt)
    if dt > MAX_DT[integrator]:
        raise ParameterError(
            f"dt must be <= {MAX_DT[integrator]} ms with integrator={integrator!r} (larger steps "
            f"make v unstable and spike times unreliable), got {dt!r}"
        )
    return dt


def izhikevich_init_state(
    batch_shape: tuple[int, ...],
    params: IzhikevichParams,
    shape: tuple[int, ...],
    *,
    v0: float = -65.0,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> IzhikevichState:
    """The initial state of the 2003 code: ``v = v0`` (-65 mV) and ``u = b * v0``."""
    full = tuple(batch_shape) + tuple(shape)
    dtype = dtype or params.b.dtype
    b = params.b.detach().to(dtype=dtype, device=device)
    v = torch.full(full, float(v0), dtype=dtype, device=device)
    return IzhikevichState(v, (b * v0).expand(full).clone())


def _spike(spike_fn: SpikeFn, x: Tensor) -> Tensor:
    """``1`` where ``x >= 0`` (v >= v_peak, as the papers), with the gradient of ``spike_fn(x)``."""
    hard = (x >= 0).to(x.dtype)
    if not (torch.is_grad_enabled() and x.requires_grad):
        return hard
    z = spike_fn(x)
    return z + (hard - z).detach()


def izhikevich_step(
    x: Tensor,
    state: IzhikevichState,
    params: IzhikevichParams,
    *,
    dt: float,
    spike_fn: SpikeFn = DEFAULT_SURROGATE,
    integrator: Integrator = "euler",
    detach_reset: bool = True,
) -> tuple[Tensor, IzhikevichState]:
    r"""One step of the Izhikevich model.

    .. math::

        \frac{dv}{dt} = 0.04 v^2 + 5 v + 140 - u + I, \qquad \frac{du}{dt} = a (b v - u), \qquad
        \text{if } v \ge v_{peak}: \; v \leftarrow c, \; u \leftarrow u + d

    Order of operations, with :math:`f(v, u) = 0.04 v^2 + 5 v + 140 - u + x`:

    1. integrate over the step, holding ``x`` fixed:

       * ``"euler"`` (forward Euler on both, as Brian2's ``method='euler'``):
         :math:`v' = v + \Delta t\, f(v, u)`, :math:`u' = u + \Delta t\, a (b v - u)`;
       * ``"izhikevich2003"`` (the published code): two half-steps
         :math:`v_{1/2} = v + \tfrac{\Delta t}{2} f(v, u)`,
         :math:`v' = v_{1/2} + \tfrac{\Delta t}{2} f(v_{1/2}, u)`, then
         :math:`u' = u + \Delta t\, a (b v' - u)` with the new ``v'`` (unclamped, as published);

    2. spike :math:`z = [v' \ge v_{peak}]`; the backward pass uses ``spike_fn``'s surrogate
       gradient at :math:`v' - v_{peak}` (the forward value is this step, including equality,
       whatever ``spike_fn`` returns);
    3. reset: :math:`v \leftarrow (1 - z) v' + z c` (exactly ``c``), :math:`u \leftarrow u' + z d`.

    The spike due to the input of step ``k`` is in output ``k`` (Brian2 stamps it ``k * dt``). The
    state is after the reset, so a recorded ``v`` never exceeds ``v_peak`` and reads ``c`` on spike
    steps, as Brian2's ``StateMonitor``; for the papers' plots use ``torch.where(z > 0, v_peak, v)``.

    Args:
        x: input current ``I`` over the step, ``[*batch, *shape]`` (mV/ms).
        state: the state before the step.
        params: parameters, broadcastable to ``[*shape]``, in x's dtype.
        dt: step in ms; at most 0.5 (``"euler"``) or 1.0 (``"izhikevich2003"``).
        spike_fn: surrogate for the backward pass, e.g. ``FastSigmoid(0.1)``.
        integrator: ``"euler"`` or ``"izhikevich2003"``.
        detach_reset: if True the reset carries no gradient (only the spike output does).

    Returns:
        ``(z, new_state)`` with spikes ``z`` (0/1) in x's dtype.

    Raises:
        ParameterError: unknown integrator, or dt not in (0, MAX_DT[integrator]].
    """
    dt = _check_settings(dt, integrator)
    v, u = state
    if integrator == "euler":
        v_new = v + dt * (0.04 * (v * v) + 5.0 * v + 140.0 - u + x)
        u_new = u + dt * (params.a * (params.b * v - u))
    else:
        h = 0.5 * dt
        v_half = v + h * (0.04 * (v * v) + 5.0 * v + 140.0 - u + x)
        v_new = v_half + h * (0.04 * (v_half * v_half) + 5.0 * v_half + 140.0 - u + x)
        u_new = u + dt * (params.a * (params.b * v_new - u))
    z = _spike(spike_fn, v_new - params.v_peak)
    zr = z.detach() if detach_reset else z
    return z, IzhikevichState((1.0 - zr) * v_new + zr * params.c, u_new + zr * params.d)


class Izhikevich(NeuronModule):
    r"""A population of Izhikevich neurons (equations and step order in :func:`izhikevich_step`).

    Args:
        n: number of neurons, or a shape such as ``(C, H, W)``.
        preset: ``"RS"``, ``"IB"``, ``"CH"``, ``"FS"``, ``"LTS"``, ``"TC"`` or ``"RZ"`` (Izhikevich
            2003 Fig. 2), or None to give all of a, b, c, d.
        a: recovery rate in 1/ms (> 0); overrides the preset. Scalar or per neuron, as b, c, d.
        b: sensitivity of u to v.
        c: reset potential in mV (< v_peak).
        d: jump of u after a spike in mV/ms.
        v_peak: spike cut-off in mV (30).
        dt: time step in ms (<= 0.5 with ``"euler"``, <= 1.0 with ``"izhikevich2003"``).
        integrator: ``"euler"`` (default; forward Euler, as Brian2's ``method='euler'``) or
            ``"izhikevich2003"`` (the 2003 code: v in two dt/2 half-steps, then u in one step).
        surrogate: spike surrogate for training; default ``FastSigmoid(slope=0.1)`` (per mV).
        learnable: parameters to learn among a, b, c, d (a stays positive through softplus).
        detach_reset: whether the reset carries no gradient (default True, as LIF).

    The state starts as in the 2003 code, ``v = -65`` mV and ``u = b * v``.

    Shape:
        input ``[T, *batch, n]`` (``forward``/``scan``) or ``[*batch, n]`` (``step``); output
        the same, spikes 0/1 in the input's dtype; ``scan(..., record=True).trace.v`` is
        ``[T, *batch, n]`` (after reset).

    Raises:
        ParameterError: unknown preset or integrator, ``a <= 0``, ``c >= v_peak``, dt out of range.
        ShapeError: a parameter not broadcastable to ``n``; at call time, input not ``[..., n]``.
        DTypeError: non-floating input (at call time).

    Example:
        >>> import torch
        >>> from spikeforge.neurons.izhikevich import Izhikevich
        >>> rs_fs = dict(a=torch.tensor([0.02, 0.1]), d=torch.tensor([8.0, 2.0]))
        >>> neurons = Izhikevich(2, "RS", **rs_fs, dt=0.25)  # an RS and an FS neuron
        >>> x = torch.full((1000, 2), 10.0)  # [T, n]: I = 10 for 250 ms
        >>> spikes, state = neurons(x)
        >>> spikes.sum(0).tolist()
        [6.0, 31.0]
        >>> neurons.scan(x, record=True).trace.v.shape
        torch.Size([1000, 2])
    """

    _learnable_allowed = ("a", "b", "c", "d")

    def __init__(
        self,
        n: int | tuple[int, ...],
        preset: str | None = "RS",
        *,
        a: ParamLike | None = None,
        b: ParamLike | None = None,
        c: ParamLike | None = None,
        d: ParamLike | None = None,
        v_peak: ParamLike = 30.0,
        dt: float = 0.1,
        integrator: Integrator = "euler",
        surrogate: Surrogate | SpikeFn | None = None,
        learnable: Collection[str] = (),
        detach_reset: bool = True,
    ) -> None:
        super().__init__(n, dt=dt, learnable=learnable)
        _check_settings(self.dt, integrator)
        if preset is not None:
            check_choice("preset", preset, tuple(PRESETS))
        if surrogate is not None and not callable(surrogate):
            raise ParameterError(f"surrogate must be a spikeforge.surrogate.Surrogate, got {surrogate!r}")
        defaults = PRESETS[preset] if preset is not None else (None, None, None, None)
        values: dict[str, Tensor] = {}
        for name, given, default in zip("abcd", (a, b, c, d), defaults):
            value = given if given is not None else default
            if value is None:
                raise ParameterError(f"{name} must be given when preset is None, got None")
            values[name] = as_param(name, value, self.shape)
        check_positive("a", values["a"], "1/ms")
        v_peak_t = as_param("v_peak", v_peak, self.shape)
        if not bool((values["c"] < v_peak_t).all()):
            raise ParameterError(
                f"c must be < v_peak ({v_peak!r} mV), got c with max {values['c'].max().item()!r} mV"
            )
        for name, t in values.items():
            self._add_param(name, t, "positive" if name == "a" else "real")
        self._add_param("v_peak", v_peak_t)
        self.preset = preset
        self.integrator: Integrator = integrator
        self.surrogate: Surrogate | SpikeFn = surrogate if surrogate is not None else DEFAULT_SURROGATE
        self.detach_reset = bool(detach_reset)

    @classmethod
    def heterogeneous(
        cls, n_exc: int, n_inh: int, *, generator: torch.Generator | None = None, **kwargs: Any
    ) -> Izhikevich:
        """The heterogeneous population of Izhikevich 2003: excitatory neurons first.

        With ``r ~ U(0, 1)`` drawn per neuron from ``generator`` (excitatory draws first):
        excitatory ``a=0.02, b=0.2, c=-65+15r^2, d=8-6r^2``; inhibitory ``a=0.02+0.08r,
        b=0.25-0.05r, c=-65, d=2``. The global RNG is never used; ``generator=None`` uses a
        fresh, non-deterministically seeded generator.

        Args:
            n_exc: number of excitatory neurons (>= 0).
            n_inh: number of inhibitory neurons (>= 0); ``n_exc + n_inh > 0``.
            generator: source of the draws.
            **kwargs: the other arguments of :class:`Izhikevich`: ``dt``, ``integrator``,
                ``v_peak``, ``surrogate``, ``learnable``, ``detach_reset``.

        Example:
            >>> import torch
            >>> from spikeforge.neurons.izhikevich import Izhikevich
            >>> net = Izhikevich.heterogeneous(800, 200, generator=torch.Generator().manual_seed(0))
            >>> net.n, net.c[800:].unique().tolist(), net.d[800:].unique().tolist()
            (1000, [-65.0], [2.0])
        """
        for name, k in (("n_exc", n_exc), ("n_inh", n_inh)):
            if isinstance(k, bool) or not isinstance(k, int) or k < 0:
                raise ParameterError(f"{name} must be an int >= 0, got {k!r}")
        if n_exc + n_inh == 0:
            raise ParameterError("n_exc + n_inh must be > 0, got 0 and 0")
        if generator is None:
            generator = torch.Generator()
            generator.seed()
        elif not isinstance(generator, torch.Generator):
            raise ParameterError(f"generator must be a torch.Generator or None, got {generator!r}")
        re = torch.rand(n_exc, generator=generator, dtype=torch.float64, device=generator.device)
        ri = torch.rand(n_inh, generator=generator, dtype=torch.float64, device=generator.device)
        e, i, dtype = torch.ones_like(re), torch.ones_like(ri), torch.get_default_dtype()
        a = torch.cat([0.02 * e, 0.02 + 0.08 * ri]).to(dtype)
        b = torch.cat([0.2 * e, 0.25 - 0.05 * ri]).to(dtype)
        c = torch.cat([-65.0 + 15.0 * (re * re), -65.0 * i]).to(dtype)
        d = torch.cat([8.0 - 6.0 * (re * re), 2.0 * i]).to(dtype)
        return cls(n_exc + n_inh, None, a=a, b=b, c=c, d=d, **kwargs)

    def params(self, dtype: torch.dtype | None = None) -> IzhikevichParams:
        """The parameter values (differentiable for learnable ones), optionally cast to dtype."""
        ts = [getattr(self, name) for name in IzhikevichParams._fields]
        return IzhikevichParams(*(t if dtype is None else t.to(dtype) for t in ts))

    def init_state(
        self,
        batch_shape: tuple[int, ...] = (),
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        v0: float = -65.0,
    ) -> IzhikevichState:
        """The initial state ``v = v0``, ``u = b * v0`` for a batch of shape ``batch_shape``."""
        device = device if device is not None else self.b.device
        return izhikevich_init_state(
            batch_shape, self.params(), self.shape, v0=v0, dtype=dtype, device=device
        )

    def step(self, x: Tensor, state: IzhikevichState | None = None) -> tuple[Tensor, IzhikevichState]:
        """One step: ``x`` is ``[*batch, *shape]``; returns ``(spikes, state)``."""
        x = self._check_input(x, sequence=False)
        batch_shape = tuple(x.shape[: x.dim() - len(self.shape)])
        if state is None:
            state = self.init_state(batch_shape, dtype=x.dtype, device=x.device)
        else:
            if not isinstance(state, IzhikevichState):
                raise ParameterError(f"state must be an IzhikevichState or None, got {type(state).__name__}")
            self._check_state(state, batch_shape, x)
        return izhikevich_step(
            x,
            state,
            self.params(x.dtype),
            dt=self.dt,
            spike_fn=self.surrogate,
            integrator=self.integrator,
            detach_reset=self.detach_reset,
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, preset={self.preset!r}, integrator={self.integrator!r}"
