"""What every neuron module shares: parameter storage with constraints, input checks, and the
time loop (``forward``, ``scan``) built on the model's one-step function.

A neuron module holds parameters and simulation settings (``dt``), never simulation state: state
is an immutable ``NamedTuple`` passed in and returned by every call, and ``state=None`` starts
at rest.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import (
    ParamLike,
    _show,
    as_param,
    as_shape,
    check_dt,
    check_floating,
    check_nonnegative,
    check_positive,
    check_refractory,
    check_state_dict,
    exact_value,
)
from ..errors import DTypeError, ParameterError, ShapeError

__all__ = ["ScanResult", "NeuronModule"]


class ScanResult(NamedTuple):
    """What ``scan`` returns.

    Attributes:
        output: the output sequence ``[T, *batch, *shape]`` (spikes 0/1 for spiking models).
        state: the state after the last step.
        trace: with ``record=True``, a state of the same type whose fields are stacked over time
            (``trace.v`` is ``[T, *batch, *shape]``); ``None`` otherwise.
    """

    output: Tensor
    state: Any
    trace: Any


def _inverse_softplus(t: Tensor) -> Tensor:
    return t + torch.log(-torch.expm1(-t))


# constraint kinds: "real" (no transform), "positive" (softplus), "unit" (sigmoid, in (0, 1)),
# ("above", other) (other + softplus); "nonnegative" (>= 0, buffers only: never learnable)
Constraint = str | tuple[str, str]


class NeuronModule(nn.Module):
    """Base class of spiking neuron modules.

    Subclasses register their parameters with :meth:`_add_param`, and define :meth:`init_state`
    and :meth:`step`. :meth:`forward` and :meth:`scan` loop :meth:`step` over time; a subclass
    may override :meth:`scan` with a fused kernel that gives the same result.

    Args:
        shape: number of neurons ``n``, or a tuple such as ``(C, H, W)`` for convolutional maps.
        dt: time step in ms.
        learnable: names of parameters to learn (``nn.Parameter``); the others are buffers.
    """

    _learnable_allowed: tuple[str, ...] = ()

    check_finite: bool = True
    """Raise on NaN or infinite input (which would otherwise give silent zero spikes). One
    reduction over the whole input per ``forward``/``scan``/``step`` call (a sum, and an
    element-wise test only when the sum is not finite), so one device synchronisation per call, not
    per time step of a sequence. Opt out per module with ``layer.check_finite = False`` (for
    example when stepping on a GPU in a tight loop, where each check waits for the device)."""

    def __init__(self, shape: int | tuple[int, ...], *, dt: float, learnable: Collection[str] = ()) -> None:
        super().__init__()
        self.shape: tuple[int, ...] = as_shape("n", shape)
        self.dt: float = check_dt(dt)
        if isinstance(learnable, str):
            learnable = (learnable,)
        unknown = [p for p in learnable if p not in self._learnable_allowed]
        if unknown:
            raise ParameterError(
                f"learnable must name parameters of {type(self).__name__} among "
                f"{list(self._learnable_allowed)}, got {unknown!r}"
            )
        self.learnable: tuple[str, ...] = tuple(learnable)
        self._constrained: dict[str, Constraint] = {}
        self._kinds: dict[str, Constraint] = {}  # every parameter's constraint, checked on assignment
        # parameters given as Python numbers: their float64 values, restored by .double() (_apply)
        self._exact: dict[str, Tensor] = {}

    @property
    def n(self) -> int:
        """Number of neurons (the product of ``shape``)."""
        return math.prod(self.shape)

    # ----------------------------------------------------------------- parameters
    def _add_param(self, name: str, value: ParamLike | Tensor, constraint: Constraint = "real") -> Tensor:
        """Register ``name``: a buffer, or an ``nn.Parameter`` if ``name`` is in ``learnable``.

        A learnable parameter is expanded to one value per neuron and stored unconstrained as
        ``{name}_raw`` when its constraint is not ``"real"``; ``self.<name>`` returns the
        constrained value either way.
        """
        t = as_param(name, value, self.shape)  # validates tensors too (shape, finiteness)
        self._kinds[name] = constraint
        self._remember_exact(name, t)
        if name not in self.learnable:
            self.register_buffer(name, t.detach().clone())
            return t
        t = t.expand(self.shape).clone()
        if constraint == "real":
            self.register_parameter(name, nn.Parameter(t))
            return t
        if constraint == "positive":
            raw = _inverse_softplus(t)
        elif constraint == "unit":
            raw = torch.logit(t.clamp(1e-6, 1 - 1e-6))
        elif isinstance(constraint, tuple) and constraint[0] == "above":
            raw = _inverse_softplus(t - getattr(self, constraint[1]).detach())
        else:  # pragma: no cover - programming error
            raise ValueError(f"unknown constraint {constraint!r}")
        self._constrained[name] = constraint
        self.register_parameter(f"{name}_raw", nn.Parameter(raw))
        return t

    def _remember_exact(self, name: str, t: Tensor) -> None:
        exact = exact_value(t)
        if (
            exact is None
            or name in self._constrained
            or (name in self.learnable and self._kinds[name] != "real")
        ):
            self._exact.pop(name, None)  # a tensor given as such, or stored through a transform
        else:
            self._exact[name] = exact

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        """``nn.Module._apply`` (``.to``, ``.double()``, ``.cuda()``...); a parameter given as a
        Python number, and unchanged since, is converted to a new dtype from the value given, not
        from its rounding in the old dtype (``ALIF(tau_adapt=3.054).double().tau_adapt == 3.054``,
        and a float16 round trip does not stick)."""
        given = {}  # the parameters still holding (the rounding of) the value given: their dtypes
        for name, exact in self.__dict__.get("_exact", {}).items():
            old = self._buffers[name] if name in self._buffers else self._parameters.get(name)
            if old is not None and old.is_floating_point():
                if bool((old.detach().cpu() == exact.to(old.dtype)).all()):  # unchanged since given
                    given[name] = old.dtype
        out = super()._apply(fn, recurse)
        for name, dtype in given.items():
            new = self._buffers[name] if name in self._buffers else self._parameters.get(name)
            if new is None or new.dtype == dtype or not new.is_floating_point():
                continue  # a move between devices, or no longer floating
            value = self._exact[name].to(
                dtype=new.dtype, device=new.device
            )  # rounded once, from the value given
            if name in self._buffers:
                self._buffers[name] = value
            else:
                with torch.no_grad():
                    new.copy_(value.expand(new.shape))
        return out

    def _constrained_value(self, name: str) -> Tensor:
        constraint = self._constrained[name]
        raw: Tensor = self._parameters[f"{name}_raw"]  # type: ignore[assignment]
        if constraint == "positive":
            return F.softplus(raw)
        if constraint == "unit":
            return torch.sigmoid(raw)
        assert isinstance(constraint, tuple)
        floor: Tensor = getattr(self, constraint[1])
        value = floor + F.softplus(raw)
        # softplus(raw) underflows (or is lost in rounding against the floor) for very negative raw
        # values: the next representable number above the floor keeps the inequality strict
        return torch.maximum(value, torch.nextafter(floor, torch.full_like(floor, math.inf)))

    def __getattr__(self, name: str) -> Any:
        constrained = self.__dict__.get("_constrained")
        if constrained is not None and name in constrained:
            return self._constrained_value(name)
        return super().__getattr__(name)

    def __setattr__(self, name: str, value: Any) -> None:
        """``module.v_th = 100.0`` between runs (as in Brian2): a parameter or ``dt`` takes plain
        numbers, sequences or tensors, validated as in the constructor; learnable parameters keep
        their ``nn.Parameter`` (updated in place), so an optimizer holding them still sees them."""
        kinds = self.__dict__.get("_kinds")
        if kinds is not None and name in kinds and not isinstance(value, nn.Parameter):
            self._set_param(name, value)
        elif name == "dt" and "dt" in self.__dict__:
            dt = check_dt(value)
            if "t_ref" in self._kinds:
                check_refractory(self._buffers["t_ref"], dt)  # type: ignore[arg-type]
            for tau in ("tau_mem", "tau_syn"):
                check = getattr(type(self), "_check_time_constant", None)
                if tau in self._kinds and check is not None and getattr(self, "integrator", "") == "euler":
                    old, self.__dict__["dt"] = self.__dict__["dt"], dt
                    try:
                        check(self, tau, getattr(self, tau).detach())
                    finally:
                        self.__dict__["dt"] = old
            self.__dict__["dt"] = dt
        else:
            super().__setattr__(name, value)

    def _set_param(self, name: str, value: Any) -> None:
        """Validate ``value`` for parameter ``name`` against its own constraint and those of the
        parameters bound to it (``v_th > v_reset``), then store it; nothing changes on error."""
        t = as_param(name, value, self.shape)
        kind = self._kinds[name]
        if kind == "positive" or name.startswith("tau_"):
            check_positive(name, t, "ms" if name.startswith("tau_") else "")
        elif kind == "nonnegative":
            check_nonnegative(name, t, "ms" if name == "t_ref" else "")
        elif kind == "unit" and not bool(((t > 0) & (t <= 1)).all()):  # as in the constructors
            raise ParameterError(f"{name} must be in (0, 1], got {value!r}")
        elif isinstance(kind, tuple) and not bool((t > getattr(self, kind[1]).detach()).all()):
            raise ParameterError(f"{name} must be > {kind[1]}, got {name}={value!r}")
        for other, k in self._kinds.items():
            if isinstance(k, tuple) and k[1] == name and not bool((getattr(self, other).detach() > t).all()):
                raise ParameterError(f"{name} must be < {other}, got {name}={value!r}")
        if name == "t_ref":
            check_refractory(t, self.dt)
        check = getattr(type(self), "_check_time_constant", None)
        if name.startswith("tau_") and check is not None:
            check(self, name, t)
        old: Tensor = self._buffers[name] if name in self._buffers else getattr(self, name)  # type: ignore[assignment]
        self._remember_exact(name, t)
        t = t.to(dtype=old.dtype, device=old.device)
        if name in self._buffers:
            self._buffers[name] = t.clone()
            return
        with torch.no_grad():
            if name in self._constrained:
                kind = self._constrained[name]
                raw: Tensor = self._parameters[f"{name}_raw"]  # type: ignore[assignment]
                t = t.expand(self.shape)
                if kind == "positive":
                    raw.copy_(_inverse_softplus(t))
                elif kind == "unit":
                    raw.copy_(torch.logit(t.clamp(1e-6, 1 - 1e-6)))
                else:
                    assert isinstance(kind, tuple)
                    raw.copy_(_inverse_softplus(t - getattr(self, kind[1]).detach()))
            else:
                param: Tensor = self._parameters[name]  # type: ignore[assignment]
                param.copy_(t.expand(param.shape))

    # ----------------------------------------------------------------- loading
    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any:
        """``nn.Module.load_state_dict``, with the same (strict) semantics, after checking
        everything first: the keys (with ``strict``), shapes, dtype kinds, finiteness and the
        parameters' ranges as in the constructor (``tau_mem > 0``, ``v_th > v_reset``...). A bad
        state dict raises a ``spikeforge.errors`` type naming the key, its value and what is
        allowed, and changes nothing.

        Raises:
            ParameterError: missing or unexpected keys (``strict``), a non-finite or out-of-range
                value.
            ShapeError: a tensor of another shape than this module's.
            DTypeError: an integer tensor where this module holds a float, or the reverse.
        """
        what = f"{type(self).__name__}({', '.join(map(str, self.shape))}).load_state_dict"
        check_state_dict(self, state_dict, what, strict=strict)
        self._check_loaded_ranges(state_dict, what)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def _check_loaded_ranges(self, state: Mapping[str, Any], what: str) -> None:
        def value(name: str) -> Tensor:
            if name in state and name in self._buffers:
                return state[name].detach()  # type: ignore[no-any-return]
            return getattr(self, name).detach()  # type: ignore[no-any-return]

        for name, kind in self._kinds.items():
            if name not in state or name not in self._buffers:
                continue  # learnable ones are stored through their constraint
            t = value(name)
            unit = "ms" if name.startswith("tau_") or name == "t_ref" else ""
            try:
                if kind == "positive" or name.startswith("tau_"):
                    check_positive(name, t, unit)
                elif kind == "nonnegative":
                    check_nonnegative(name, t, unit)
                elif kind == "unit" and not bool(((t > 0) & (t <= 1)).all()):
                    raise ParameterError(f"{name} must be in (0, 1], got {t.min().item()!r}")
                elif isinstance(kind, tuple) and not bool((t > value(kind[1])).all()):
                    floor = _show(value(kind[1]))
                    raise ParameterError(
                        f"{name} must be > {kind[1]}, got {name} {_show(t)} and {kind[1]} {floor}"
                    )
                if name == "t_ref":
                    check_refractory(t, self.dt)
                check = getattr(type(self), "_check_time_constant", None)
                if name.startswith("tau_") and check is not None:
                    check(self, name, t)  # dt < 2 tau with Euler
            except ParameterError as e:
                raise ParameterError(f"{what}: {e}") from None

    # ----------------------------------------------------------------- checks
    def _check_input(self, x: Any, *, sequence: bool, name: str = "x") -> Tensor:
        x = check_floating(name, x)
        k = len(self.shape)
        need = k + 1 if sequence else k
        if x.dim() < need or tuple(x.shape[-k:]) != self.shape:
            what = "[T, *batch, " if sequence else "[*batch, "
            raise ShapeError(
                f"{type(self).__name__}({', '.join(map(str, self.shape))}) expects {name} of shape "
                f"{what}{', '.join(map(str, self.shape))}], got {list(x.shape)}"
            )
        if sequence and x.shape[0] == 0:
            raise ShapeError(f"{name} must have at least one time step, got shape {list(x.shape)}")
        if self.check_finite and not self.__dict__.get("_in_scan", False):
            self._check_finite_input(x, name, sequence)
        return x

    def _check_finite_input(self, x: Tensor, name: str, sequence: bool) -> None:
        """:attr:`check_finite`: one sum over ``x`` (NaN or inf anywhere makes it non-finite); only
        then the element-wise test, to name the first bad element (a finite sum that overflowed is
        no error)."""
        with torch.no_grad():
            total = x.detach().sum(dtype=torch.float64 if x.dtype == torch.float64 else torch.float32)
            if bool(torch.isfinite(total)):
                return
            bad = ~torch.isfinite(x.detach())
            if not bool(bad.any()):
                return
            first = [int(i) for i in bad.nonzero()[0].tolist()]
            value = x.detach()[tuple(first)].item()
        where = (
            (f"time step {first[0]}, index {first[1:]}" if sequence else f"index {first}") if first else ""
        )
        raise ParameterError(
            f"{type(self).__name__}({', '.join(map(str, self.shape))}) got a non-finite input {name}: "
            f"{value!r} at {where} ({int(bad.sum())} of {x.numel()} values are NaN or inf); the input "
            f"must be finite (a NaN or inf gives no spike, silently); check the layer before, or set "
            f"check_finite = False on this module to skip the check"
        )

    def _check_state(self, state: Any, batch_shape: tuple[int, ...], x: Tensor) -> None:
        kind = self.__dict__.get("_state_type")
        if kind is None:  # the type of this model's state, found once
            kind = type(self.init_state((), dtype=x.dtype, device="cpu"))
            self.__dict__["_state_type"] = kind
        if type(state) is not kind:
            raise ParameterError(
                f"state must be a {kind.__name__} (the state {type(self).__name__} returns), got "
                f"{type(state).__name__}"
            )
        expected = batch_shape + self.shape
        for field, value in zip(state._fields, state):
            if isinstance(value, Tensor) and tuple(value.shape) != expected:
                raise ShapeError(
                    f"state.{field} must have shape {list(expected)} to match the input, "
                    f"got {list(value.shape)}"
                )
            if isinstance(value, Tensor) and value.is_floating_point() and value.dtype != x.dtype:
                raise DTypeError(f"state.{field} has dtype {value.dtype}, the input {x.dtype}: use one dtype")
            if isinstance(value, Tensor) and value.device != x.device:
                raise ParameterError(f"state.{field} is on {value.device}, the input on {x.device}")

    def _prepare(self, x: Tensor, state: Any, batch_shape: tuple[int, ...]) -> Any:
        """``state``, checked against ``x`` and ``batch_shape``, or the resting state if None."""
        if state is None:
            return self.init_state(batch_shape, dtype=x.dtype, device=x.device)
        self._check_state(state, batch_shape, x)
        return state

    # ----------------------------------------------------------------- time loop
    def init_state(
        self,
        batch_shape: tuple[int, ...] = (),
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> Any:
        """The resting state for a batch of shape ``batch_shape``."""
        raise NotImplementedError

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Advance one step: ``x`` is ``[*batch, *shape]``; returns ``(output, new_state)``."""
        raise NotImplementedError

    def scan(self, x: Tensor, state: Any = None, *, record: bool = False) -> ScanResult:
        """Run over a sequence ``x`` of shape ``[T, *batch, *shape]`` by looping :meth:`step`."""
        x = self._check_input(x, sequence=True)  # finiteness checked once here, not per step
        outputs, states = [], []
        outer = self.__dict__.get("_in_scan", False)
        self.__dict__["_in_scan"] = True
        try:
            for t in range(x.shape[0]):
                out, state = self.step(x[t], state)
                outputs.append(out)
                if record:
                    states.append(state)
        finally:
            self.__dict__["_in_scan"] = outer
        if not outputs:
            raise ShapeError(f"x must have at least one time step, got shape {list(x.shape)}")
        trace = type(state)(*(torch.stack(f) for f in zip(*states))) if record else None
        return ScanResult(torch.stack(outputs), state, trace)

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Run over a sequence ``[T, *batch, *shape]``; returns ``(outputs, final_state)``."""
        result = self.scan(x, state)
        return result.output, result.state

    def extra_repr(self) -> str:
        learn = f", learnable={self.learnable}" if self.learnable else ""
        return f"shape={self.shape}, dt={self.dt}{learn}"
