r"""Synapse kinetics of a projection: what a delivered spike does to its target neuron.

Every projection has one synapse object. Its state lives in the network, one value per target
neuron (per batch copy): the weights of all spikes that arrive in a step are summed first (``a``,
the delivered weight), then the kinetics below act on the sum, so a projection's synaptic state is
that of a Brian2 ``Synapses`` object writing to a summed variable of its target group.

=====================  ======================================================  ====================
object                 on delivery (``a``: summed weights)  / between spikes     input to the neuron
=====================  ======================================================  ====================
``DeltaSynapse()``     ``v += a`` (or another state field, ``target``)         none
``ExpSynapse(tau)``    ``g += a``;  :math:`\tau\,\dot g = -g`                   current ``g``
``AlphaSynapse(tau)``  ``h += e a``; :math:`\tau\dot g = h - g,\ \tau\dot h = -h`  current ``g``
``ExpConductance``     ``g += a``;  :math:`\tau\,\dot g = -g`                   :math:`g\,(E - v)`
``AlphaConductance``   ``h += e a``; as ``AlphaSynapse``                       :math:`g\,(E - v)`
=====================  ======================================================  ====================

Weights are in the unit of the state they jump: mV for ``DeltaSynapse`` on ``v``; the unit of the
neuron's input current for the current-based ones (mV with the network LIF, whose
:math:`\tau_{mem}\dot v = (v_{leak} - v) + r\,x`, so ``ExpSynapse`` gives Brian2's
``dv/dt = (ge - (v - El))/taum`` with ``ge`` in mV); conductances are relative to the leak
(dimensionless), so :math:`\tau_{mem}\dot v = (v_{leak} - v) + g\,(E - v)` as in the COBA
benchmark. The alpha kernels peak at the weight: a single spike of weight ``w`` gives
:math:`g(t) = w\,(t/\tau)\,e^{1 - t/\tau}`.

Discretisation, within the network step described in :mod:`spikeforge.circuits.network` (the
delivered weights are added first, then the input of the step is computed from the state, then the
state advances by one step of length :math:`\Delta t`):

* ``integrator="exact"``: :math:`g \leftarrow e^{-\Delta t/\tau} g` (alpha:
  :math:`g \leftarrow e^{-\Delta t/\tau}(g + \tfrac{\Delta t}{\tau} h)`,
  :math:`h \leftarrow e^{-\Delta t/\tau} h`). Onto a :class:`~spikeforge.neurons.LIF` or
  :class:`~spikeforge.neurons.ALIF` with the exact integrator and no ``tau_syn``, the current
  handed to the neuron is not the value at the start of the step but the one that makes the
  neuron's step exact for the decaying current (the propagator of Rotter & Diesmann 1999, NEST's
  ``iaf_psc_exp``/``iaf_psc_alpha``, and Brian2's ``method='exact'`` for these linear equations):
  :math:`x = c_1 g + c_2 h` with :math:`c_m = P_{0m}/(1 - e^{-\Delta t/\tau_{mem}})` from
  :math:`P = \exp(A\,\Delta t)` of the joint linear system. For any other neuron the current is
  held at its value at the start of the step.
* ``integrator="euler"``: :math:`g \leftarrow g\,(1 - \Delta t/\tau)` (alpha: the Euler step of
  both equations), the current held at the start of the step: Brian2's ``method='euler'``.
  Needs :math:`\Delta t < 2\tau`.
* ``integrator=None`` (default): the target neuron's integrator where it has one
  (``LIF(integrator=...)``, Izhikevich: ``"euler"``), else ``"exact"``.

Conductance synapses always hold :math:`g` and :math:`v` at the start of the step (with the
neuron's Euler integrator this is Brian2's ``method='euler'`` for the COBA equations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

import torch
from torch import Tensor

from ..errors import ParameterError

__all__ = [
    "Synapse",
    "DeltaSynapse",
    "ExpSynapse",
    "AlphaSynapse",
    "ExpConductance",
    "AlphaConductance",
    "SynapseCoefficients",
]

Integrator = Literal["exact", "euler"]

# kind codes shared with the compiled kernel
KIND_DELTA = 0
KIND_EXP = 1
KIND_ALPHA = 2
KIND_EXP_COND = 3
KIND_ALPHA_COND = 4


def _check_tau(tau: Any) -> float:
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not (math.isfinite(tau) and tau > 0):
        raise ParameterError(f"tau must be a finite number > 0 ms, got {tau!r}")
    return float(tau)


def _check_integrator(integrator: Any) -> None:
    if integrator not in (None, "exact", "euler"):
        raise ParameterError(f"integrator must be None, 'exact' or 'euler', got {integrator!r}")


def _check_real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParameterError(f"{name} must be a finite number (mV), got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Synapse:
    """Base class of synapse kinetics (see the module docstring)."""

    #: names of the per-target state variables, for ``Network.record_state(projection, name)``
    state_names: ClassVar[tuple[str, ...]] = ()

    @property
    def kind(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError


@dataclass(frozen=True)
class DeltaSynapse(Synapse):
    """Each delivered spike adds its weight to the target neuron's state field ``target``
    (default ``"v"``: a jump of the membrane, Brian2's ``on_pre='v += w'``).

    Args:
        target: the state field to jump, e.g. ``"v"`` or ``"i"`` (a ``LIF`` with ``tau_syn``).
    """

    target: str = "v"

    def __post_init__(self) -> None:
        if not isinstance(self.target, str) or not self.target:
            raise ParameterError(f"target must be the name of a state field such as 'v', got {self.target!r}")

    @property
    def kind(self) -> int:
        return KIND_DELTA


@dataclass(frozen=True)
class ExpSynapse(Synapse):
    """Exponentially decaying current: ``g += w`` per spike, :math:`\\tau\\dot g = -g`.

    Args:
        tau: decay time constant in ms (> 0).
        integrator: ``"exact"``, ``"euler"`` or None (the target neuron's).
    """

    tau: float = 5.0
    integrator: Integrator | None = None
    state_names: ClassVar[tuple[str, ...]] = ("g",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau", _check_tau(self.tau))
        _check_integrator(self.integrator)

    @property
    def kind(self) -> int:
        return KIND_EXP


@dataclass(frozen=True)
class AlphaSynapse(Synapse):
    """Alpha-shaped current peaking at the weight ``tau`` ms after a spike.

    Args:
        tau: time constant in ms (> 0); the time to peak.
        integrator: ``"exact"``, ``"euler"`` or None (the target neuron's).
    """

    tau: float = 5.0
    integrator: Integrator | None = None
    state_names: ClassVar[tuple[str, ...]] = ("g", "h")

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau", _check_tau(self.tau))
        _check_integrator(self.integrator)

    @property
    def kind(self) -> int:
        return KIND_ALPHA


@dataclass(frozen=True)
class ExpConductance(Synapse):
    """Conductance-based exponential synapse (COBA): input current :math:`g\\,(E_{rev} - v)`.

    Args:
        tau: decay time constant in ms (> 0).
        e_rev: reversal potential in mV (0 for AMPA-like excitation, -80 for GABA-A-like
            inhibition in the COBA benchmark).
        integrator: ``"exact"``, ``"euler"`` or None (the target neuron's).
    """

    tau: float = 5.0
    e_rev: float = 0.0
    integrator: Integrator | None = None
    state_names: ClassVar[tuple[str, ...]] = ("g",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau", _check_tau(self.tau))
        object.__setattr__(self, "e_rev", _check_real("e_rev", self.e_rev))
        _check_integrator(self.integrator)

    @property
    def kind(self) -> int:
        return KIND_EXP_COND


@dataclass(frozen=True)
class AlphaConductance(Synapse):
    """Conductance-based alpha synapse: alpha-shaped :math:`g` (peak = weight), current
    :math:`g\\,(E_{rev} - v)`.

    Args:
        tau: time constant in ms (> 0); the time to peak.
        e_rev: reversal potential in mV.
        integrator: ``"exact"``, ``"euler"`` or None (the target neuron's).
    """

    tau: float = 5.0
    e_rev: float = 0.0
    integrator: Integrator | None = None
    state_names: ClassVar[tuple[str, ...]] = ("g", "h")

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau", _check_tau(self.tau))
        object.__setattr__(self, "e_rev", _check_real("e_rev", self.e_rev))
        _check_integrator(self.integrator)

    @property
    def kind(self) -> int:
        return KIND_ALPHA_COND


class SynapseCoefficients(NamedTuple):
    """Per-step constants of one projection's kinetics, resolved against its target neuron.

    ``decay`` and ``coupling`` advance the state; the input current is ``c1 * g + c2 * h``
    (current synapses) or ``g * (e_rev - v)`` (conductances).
    """

    kind: int
    decay: float  # g <- decay * g (+ coupling * h for alpha); h <- decay * h
    coupling: float  # alpha only
    jump: float  # delivered weight multiplier of the updated variable (e for alpha kernels)
    c1: Tensor  # [n_post] or [1]
    c2: Tensor  # [n_post] or [1]
    e_rev: float
    euler: bool


def resolve_integrator(synapse: Synapse, post_module: Any) -> Integrator:
    """The integrator a synapse uses onto ``post_module`` (its own, else the neuron's)."""
    own = getattr(synapse, "integrator", None)
    if own is not None:
        return own  # type: ignore[no-any-return]
    neuron = getattr(post_module, "integrator", None)
    return "euler" if neuron == "euler" else "exact"


def _exact_membrane_module(module: Any) -> bool:
    from ..neurons.alif import ALIF
    from ..neurons.lif import LIF

    return (
        isinstance(module, (LIF, ALIF))
        and getattr(module, "integrator", None) == "exact"
        and not getattr(module, "has_syn", True)
    )


def coefficients(
    synapse: Synapse, post_module: Any, tau_mem: Tensor | None, dt: float, dtype: torch.dtype
) -> SynapseCoefficients:
    """Resolve ``synapse`` against its target population.

    Args:
        synapse: the kinetics.
        post_module: the target neuron module (decides the integrator and whether the exact
            membrane propagator applies).
        tau_mem: the target's membrane time constants (``[n]`` or scalar) when the propagator
            applies; ignored otherwise.
        dt: step in ms.
        dtype: dtype of the returned coefficient tensors.

    Raises:
        ParameterError: Euler kinetics with ``dt >= 2 * tau``.
    """
    one = torch.ones(1, dtype=dtype)
    zero = torch.zeros(1, dtype=dtype)
    if isinstance(synapse, DeltaSynapse):
        return SynapseCoefficients(KIND_DELTA, 1.0, 0.0, 1.0, one, zero, 0.0, False)
    tau = float(synapse.tau)  # type: ignore[attr-defined]
    integrator = resolve_integrator(synapse, post_module)
    euler = integrator == "euler"
    if euler and not dt < 2 * tau:
        raise ParameterError(
            f"dt={dt} ms is too large for the Euler kinetics of {type(synapse).__name__}: it needs "
            f"dt < 2*tau, got tau={tau} ms; lower dt or use integrator='exact'"
        )
    alpha_kernel = isinstance(synapse, (AlphaSynapse, AlphaConductance))
    if euler:
        decay, coupling = 1.0 - dt / tau, dt / tau
    else:
        decay = math.exp(-dt / tau)
        coupling = (dt / tau) * decay
    jump = math.e if alpha_kernel else 1.0
    e_rev = float(getattr(synapse, "e_rev", 0.0))
    c1, c2 = one, zero
    if (
        isinstance(synapse, (ExpSynapse, AlphaSynapse))
        and not euler
        and tau_mem is not None
        and _exact_membrane_module(post_module)
    ):
        c1, c2 = _propagator_coefficients(tau_mem, tau, dt, alpha_kernel)
        c1, c2 = c1.to(dtype), c2.to(dtype)
    return SynapseCoefficients(synapse.kind, decay, coupling, jump, c1, c2, e_rev, euler)


def _propagator_coefficients(tau_mem: Tensor, tau: float, dt: float, alpha: bool) -> tuple[Tensor, Tensor]:
    r"""``(c1, c2)`` such that ``v + k (v_leak + r (c1 g + c2 h) - v)``, with LIF's
    ``k = 1 - exp(-dt/tau_mem)``, is the exact solution over one step of
    :math:`\tau_m \dot v = v_{leak} - v + r g`, with ``g`` exponential (``h = 0``) or alpha.
    Computed in float64 from the matrix exponential of the joint system, per distinct tau_mem
    (so ``tau == tau_mem`` needs no special case)."""
    tm = tau_mem.detach().to(torch.float64).reshape(-1)
    values, inverse = torch.unique(tm, return_inverse=True)
    size = 3 if alpha else 2
    a = torch.zeros(values.numel(), size, size, dtype=torch.float64)
    a[:, 0, 0] = -1.0 / values
    a[:, 0, 1] = 1.0 / values
    a[:, 1, 1] = -1.0 / tau
    if alpha:
        a[:, 1, 2] = 1.0 / tau
        a[:, 2, 2] = -1.0 / tau
    p = torch.linalg.matrix_exp(a * dt)
    k = -torch.expm1(-dt / values)
    c1 = (p[:, 0, 1] / k)[inverse]
    c2 = (p[:, 0, 2] / k)[inverse] if alpha else torch.zeros_like(c1)
    return c1, c2
