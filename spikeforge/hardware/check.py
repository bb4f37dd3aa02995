"""``check(model, target)``: every way a model does not fit a chip, in words.

The model is an :class:`~spikeforge.Sequential` (any ``nn.Sequential``), a single module, or a
:class:`~spikeforge.hardware.NIRGraphModule` (whose cycles are recurrent connections). Each
limit of the :class:`~spikeforge.hardware.targets.ChipTarget` is tested:

* sizes: input channels (the first connection's fan-in), output neurons (the last neuron
  layer), hidden neurons (the other neuron layers), all neurons, neuron layers;
* fan-in: non-zero weights into one neuron (a convolution's ``in_channels / groups x kernel``);
* neuron types (``LIF``, ``CubaLIF``, ``IF``; other neuron models are named), layer types,
  reset mode, refractory periods, biases, recurrent connections;
* delays: the longest delay of ``FixedDelay`` / ``LearnableDelay`` layers, in steps;
* decays: for bit-shift decays, ``dash = round(log2(tau / dt))`` must be in the chip's range;
  for Loihi's 12-bit decays, ``round(4096 (1 - exp(-dt / tau)))`` must be in 1..4095;
* weights: non-finite weights, and the dynamic range: the fraction of non-zero weights that
  round to 0 at the chip's weight bits with a per-layer scale ``max|w| / (2**(bits-1) - 1)``
  must not exceed ``max_lost_fraction``.

Example:
    >>> import torch, spikeforge as sf
    >>> net = sf.Sequential(torch.nn.Linear(200, 128), sf.neurons.LIF(128, dt=10.0),
    ...                     torch.nn.Linear(128, 10), sf.neurons.LIF(10, dt=10.0))
    >>> report = sf.hardware.check(net, "xylo-audio2")
    >>> report.ok
    False
    >>> print(report.violations[0])
    layer 0 (Linear 200->128): 200 input channels exceed xylo-audio2's 16
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import ParameterError
from ..neurons import LIF, NeuronModule
from ..plasticity.delays import FixedDelay, LearnableDelay
from .targets import ChipTarget, get_target

__all__ = ["CheckReport", "check", "neuron_kind", "bitshift_dash"]


@dataclass
class CheckReport:
    """What :func:`check` found.

    Attributes:
        target: the target's name.
        violations: each violation in words, naming the layer, the value and the limit.
        limits: the limit behind each violation (a :meth:`ChipTarget.limits` name), in the same
            order as ``violations``.
        summary: sizes of the model as the check saw them (inputs, outputs, neurons, layers).
    """

    target: str
    violations: list[str] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the model fits the target (no violation)."""
        return not self.violations

    def add(self, limit: str, message: str) -> None:
        """Record a violation of ``limit``."""
        self.limits.append(limit)
        self.violations.append(message)

    def __str__(self) -> str:
        sizes = ", ".join(f"{k} {v}" for k, v in self.summary.items())
        head = f"check against {self.target}: " + (
            "fits" if self.ok else f"{len(self.violations)} violation(s)"
        )
        lines = [head + (f" ({sizes})" if sizes else "")]
        lines += [f"  - {v}" for v in self.violations]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dictionary."""
        return {
            "target": self.target,
            "ok": self.ok,
            "violations": list(self.violations),
            "limits": list(self.limits),
            "summary": dict(self.summary),
        }


def bitshift_dash(tau: float, dt: float) -> int:
    """rockpool's bit-shift decay parameter for a time constant: ``round(log2(tau / dt))``
    (``rockpool.nn.modules.torch.lif_bitshift_torch.calc_bitshift_decay``); the decay is then
    ``x - (x >> dash)``, i.e. ``tau = -dt / ln(1 - 2**-dash)``."""
    return int(round(math.log2(tau / dt)))


def neuron_kind(module: nn.Module) -> str:
    """``"LIF"``, ``"CubaLIF"`` or ``"IF"`` for a :class:`~spikeforge.neurons.LIF` (``IF`` when
    every ``tau_mem`` is at least ``1e6 * dt``: a leak below 1e-6 per step); the class name for
    any other neuron module."""
    if isinstance(module, LIF):
        if module.has_syn:
            return "CubaLIF"
        if bool((module.tau_mem.detach() >= 1e6 * module.dt).all()):
            return "IF"
        return "LIF"
    return type(module).__name__


def _describe(module: nn.Module) -> str:
    if isinstance(module, nn.Linear):
        return f"Linear {module.in_features}->{module.out_features}"
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        return f"{type(module).__name__} {module.in_channels}->{module.out_channels}"
    if isinstance(module, NeuronModule):
        return f"{neuron_kind(module)} {module.n}"
    if isinstance(module, (FixedDelay, LearnableDelay)):
        return f"{type(module).__name__} {module.n_in}->{module.n_out}"
    return type(module).__name__


def _weight(module: nn.Module) -> torch.Tensor | None:
    w = getattr(module, "weight", None)
    return w.detach() if isinstance(w, torch.Tensor) else None


def _fan_in(module: nn.Module) -> int | None:
    w = _weight(module)
    if w is None:
        return None
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        return int(math.prod(w.shape[1:]))
    if w.dim() == 2:
        return int((w != 0).sum(1).max()) if w.numel() else 0
    return None


def _in_features(module: nn.Module) -> int | None:
    for attr in ("in_features", "n_in"):
        v = getattr(module, attr, None)
        if isinstance(v, int):
            return v
    return None


def _layers(model: nn.Module) -> tuple[list[tuple[str, nn.Module]], list[tuple[str, str]]]:
    """The modules in execution order and the recurrent (cycle-closing) edges."""
    from ._nir_graph import NIRGraphModule

    if isinstance(model, NIRGraphModule):
        return [(n, model.module(n)) for n in model.order], sorted(model.back_edges)
    if isinstance(model, nn.Sequential):
        return list(model.named_children()), []
    return [("0", model)], []


def check(model: nn.Module, target: str | ChipTarget, *, max_lost_fraction: float = 0.05) -> CheckReport:
    """Check ``model`` against every limit of ``target``.

    Args:
        model: a Sequential, a single module or a NIRGraphModule.
        target: a target name (see :func:`~spikeforge.hardware.targets`) or a ChipTarget.
        max_lost_fraction: the largest fraction of a layer's non-zero weights that may round to 0
            at the chip's weight bits (the dynamic-range check), in [0, 1].

    Returns:
        a :class:`CheckReport`; ``report.ok`` is True when nothing is violated.

    Raises:
        ParameterError: an unknown target, a model that is not an ``nn.Module``, or
            ``max_lost_fraction`` outside [0, 1].

    Example:
        >>> import torch, spikeforge as sf
        >>> net = sf.Sequential(torch.nn.Linear(8, 16), sf.neurons.LIF(16, tau_mem=20.0, dt=1.0))
        >>> sf.hardware.check(net, "loihi2").ok
        True
    """
    t = get_target(target)
    if not isinstance(model, nn.Module):
        raise ParameterError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not (0.0 <= float(max_lost_fraction) <= 1.0):
        raise ParameterError(f"max_lost_fraction must be in [0, 1], got {max_lost_fraction!r}")
    report = CheckReport(t.name)
    named, back_edges = _layers(model)
    neurons = [(i, m) for i, (_, m) in enumerate(named) if isinstance(m, NeuronModule)]
    sizes = [m.n for _, m in neurons]

    def where(i: int) -> str:
        return f"layer {i} ({_describe(named[i][1])})"

    # ---- sizes
    first = next(((i, m) for i, (_, m) in enumerate(named) if _in_features(m) is not None), None)
    n_inputs = _in_features(first[1]) if first is not None else None
    if n_inputs is not None:
        report.summary["inputs"] = n_inputs
    report.summary["neurons"] = sum(sizes)
    report.summary["neuron_layers"] = len(sizes)
    if sizes:
        report.summary["outputs"] = sizes[-1]
    if first is not None and n_inputs is not None and t.max_inputs is not None and n_inputs > t.max_inputs:
        report.add(
            "max_inputs", f"{where(first[0])}: {n_inputs} input channels exceed {t.name}'s {t.max_inputs}"
        )
    if neurons and t.max_outputs is not None and sizes[-1] > t.max_outputs:
        report.add(
            "max_outputs",
            f"{where(neurons[-1][0])}: {sizes[-1]} output neurons exceed {t.name}'s {t.max_outputs}",
        )
    hidden = sum(sizes[:-1])
    if t.max_hidden is not None and hidden > t.max_hidden:
        report.add(
            "max_hidden",
            f"{hidden} hidden neurons (layers {', '.join(str(i) for i, _ in neurons[:-1])}) exceed "
            f"{t.name}'s {t.max_hidden}",
        )
    if t.max_neurons is not None and sum(sizes) > t.max_neurons:
        report.add("max_neurons", f"{sum(sizes)} neurons in all exceed {t.name}'s {t.max_neurons}")
    if t.max_layers is not None and len(sizes) > t.max_layers:
        report.add("max_layers", f"{len(sizes)} neuron layers exceed {t.name}'s {t.max_layers}")

    # ---- recurrence
    if back_edges and not t.recurrent:
        edges = ", ".join(f"{a}->{b}" for a, b in back_edges)
        report.add("recurrent", f"recurrent connections ({edges}): {t.name} runs feedforward networks only")

    dts = {m.dt for _, m in neurons}
    for i, (_, m) in enumerate(named):
        if isinstance(m, NeuronModule):
            _check_neuron(report, t, where(i), m)
            continue
        name = type(m).__name__
        if name not in t.layer_types:
            report.add(
                "layer_types",
                f"{where(i)}: {t.name} does not run {name} layers (it runs {', '.join(t.layer_types)})",
            )
        fan_in = _fan_in(m)
        if fan_in is not None and t.max_fan_in is not None and fan_in > t.max_fan_in:
            report.add("max_fan_in", f"{where(i)}: fan-in {fan_in} exceeds {t.name}'s {t.max_fan_in}")
        bias = getattr(m, "bias", None)
        if not t.bias and isinstance(bias, torch.Tensor) and bool((bias.detach() != 0).any()):
            report.add("bias", f"{where(i)}: non-zero bias, which {t.name} cannot add to its neurons")
        _check_delays(report, t, where(i), m, dts)
        w = _weight(m)
        if w is not None:
            _check_weights(report, t, where(i), w, max_lost_fraction)
    return report


def _check_neuron(report: CheckReport, t: ChipTarget, where: str, m: NeuronModule) -> None:
    kind = neuron_kind(m)
    if kind not in t.neuron_types:
        report.add(
            "neuron_types",
            f"{where}: {t.name} does not run {kind} neurons (it runs {', '.join(t.neuron_types)})",
        )
    if not isinstance(m, LIF):
        return
    same_rest = bool(torch.equal(m.v_reset.detach().expand(m.shape), m.v_leak.detach().expand(m.shape)))
    if m.reset == "subtract":
        reset = "subtract" if same_rest else "subtract_gap"
    else:
        reset = "to_zero" if same_rest else "to_value"
    if reset not in t.resets:
        report.add("resets", f"{where}: {_reset_advice(reset, t)}")
    if not t.refractory and bool((m.t_ref.detach() > 0).any()):
        report.add("refractory", f"{where}: refractory period t_ref > 0, which {t.name} does not have")
    if t.decay == "fraction12" and t.decay_range is not None and kind != "IF":
        lo, hi = t.decay_range
        taus = {"tau_mem": m.tau_mem.detach()}
        if m.has_syn:
            taus["tau_syn"] = m.tau_syn.detach()
        for name, tau in taus.items():
            d = torch.round(-4096 * torch.expm1(-m.dt / tau.double()))
            bad = (d < max(lo, 1)) | (d > hi)
            if bool(bad.any()):
                report.add(
                    "decay_range",
                    f"{where}: {name} {float(tau.min()):g}..{float(tau.max()):g} ms at dt {m.dt:g} ms needs "
                    f"12-bit decays {int(d.min())}..{int(d.max())} of 4096, outside {t.name}'s 1..{hi} "
                    "(0 would lose the leak)",
                )
    if t.decay == "bitshift" and t.decay_range is not None and kind != "IF":
        lo, hi = t.decay_range
        taus = {"tau_mem": m.tau_mem.detach()}
        if m.has_syn:
            taus["tau_syn"] = m.tau_syn.detach()
        for name, tau in taus.items():
            finite = tau[torch.isfinite(tau)]
            if finite.numel() == 0:
                continue
            dashes = [bitshift_dash(float(v), m.dt) for v in (finite.min(), finite.max())]
            if min(dashes) < lo or max(dashes) > hi:
                report.add(
                    "decay_range",
                    f"{where}: {name} {float(finite.min()):g}..{float(finite.max()):g} ms at dt {m.dt:g} ms "
                    f"needs bit-shift dash {min(dashes)}..{max(dashes)}, outside {t.name}'s {lo}..{hi}",
                )


_RESET_SAID = {
    "to_zero": "resets to v_reset = v_leak",
    "to_value": "resets to v_reset != v_leak",
    "subtract": "subtracts v_th - v_reset",
    "subtract_gap": "subtracts v_th - v_reset != v_th - v_leak",
}


def _reset_advice(reset: str, t: ChipTarget) -> str:
    """Why a reset mode does not run on ``t``, and what to change."""
    said = _RESET_SAID[reset]
    if t.resets == ("subtract",):  # Xylo: xylosim's neuron, run in tests/hardware/test_xylosim.py
        return (
            f"{said}; {t.name} subtracts v_th - v_leak per spike (several a step), which no reset to a "
            "value equals: train with reset='subtract', v_reset == v_leak (`spikeforge train --reset "
            "subtract`; NIR has no subtractive reset, so export the model file, not a .nir)"
        )
    if t.resets == ("to_zero",):  # Loihi 2, BrainScaleS-2
        return f"{said}; {t.name} resets to v_leak: train with reset='to_value', v_reset == v_leak"
    return f"{said}; {t.name} has {' or '.join(t.resets)} with v_reset == v_leak"


def _check_delays(report: CheckReport, t: ChipTarget, where: str, m: nn.Module, dts: set[float]) -> None:
    if isinstance(m, FixedDelay):
        steps = int(m.steps.max())
    elif isinstance(m, LearnableDelay):
        steps = int(m.max_steps)
    else:
        return
    if steps > t.max_delay_steps:
        limit = "no delays" if t.max_delay_steps == 0 else f"at most {t.max_delay_steps} steps"
        report.add("max_delay_steps", f"{where}: delays up to {steps} steps; {t.name} has {limit}")


def _check_weights(report: CheckReport, t: ChipTarget, where: str, w: torch.Tensor, max_lost: float) -> None:
    if not bool(torch.isfinite(w).all()):
        report.add("weight_bits", f"{where}: non-finite weights (NaN or inf)")
        return
    nonzero = w[w != 0].abs().double()
    if nonzero.numel() == 0:
        return
    qmax = 2 ** (t.weight_bits - 1) - 1
    scale = float(nonzero.max()) / qmax
    lost = int((nonzero < scale / 2).sum())
    frac = lost / nonzero.numel()
    if frac > max_lost:
        report.add(
            "weight_bits",
            f"{where}: {lost} of {nonzero.numel()} non-zero weights ({100 * frac:.1f}%) round to 0 at "
            f"{t.name}'s {t.weight_bits}-bit weights (dynamic range max/min "
            f"{float(nonzero.max() / nonzero.min()):.3g} > {qmax}); allowed {100 * max_lost:.1f}%",
        )
