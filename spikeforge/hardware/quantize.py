r"""``quantize(model, target)``: post-training quantization into a chip's integer form, and a
module that runs the chip's integer arithmetic bit for bit.

The float model is a chain ``Linear -> LIF -> Linear -> LIF ...`` (:class:`~spikeforge.Sequential`;
``Identity`` and ``Dropout`` are skipped). Its LIF step (exact integrator, ``tau_syn`` optional) is

.. math::

    i_t = \alpha\, i_{t-1} + W s_t + b, \qquad
    v_t = (1 - k)\, v_{t-1} + k\,(v_{leak} + r\, i_t), \qquad
    k = 1 - e^{-\Delta t/\tau_{mem}},\ \alpha = e^{-\Delta t/\tau_{syn}}

(``i_t = W s_t + b`` without ``tau_syn``), spike when :math:`v_t > v_{th}`. Shifting ``v`` by
``v_leak`` and scaling it by a per-layer factor :math:`S` (integer units per unit of ``v``), the
effective weight is :math:`S\,k\,r\,W` and the threshold :math:`S (v_{th} - v_{leak})`.

**Loihi 2** (lava CUBA LIF, see :mod:`spikeforge.hardware.intsim`): ``dv = round(4096 k)``;
``du = round(4096 (1 - alpha)) - 1`` with ``tau_syn`` and ``du = 4095`` without (lava adds 1,
so the current is cleared every step and ``u`` is the step's input). The weights are
``2 * m`` with an 8-bit mantissa ``m = round(S k r W / 2**(weight_exp + 7))`` in [-128, 127];
``weight_exp`` (lava's Dense takes any integer; [-8, 7] here, the chip's range unverified) is
the largest exponent in [-8, 7] that keeps ``S (v_th - v_leak) <= 2**21`` (a
factor 4 of headroom below the 24-bit state), and ``S = 127 * 2**(weight_exp + 7) / max|k r W|``.
Threshold mantissa ``vth = round(S (v_th - v_leak) / 64)`` (17 bits); the bias
``S k r b`` (divided by ``1 - alpha`` with ``tau_syn``: lava adds it to ``v``, the float model to
``i``; steady state equal) as a 13-bit mantissa and a 3-bit exponent. Reset to 0 and the strict
``>`` threshold are those of spikeforge's LIF, so the only differences are the rounding.

**Xylo** (Audio 2, Audio 3, IMU; xylosim semantics, see :mod:`spikeforge.hardware.intsim`):
``dash_mem = round(log2(tau_mem / dt))`` (rockpool's ``calc_bitshift_decay``), clipped to
1..15; the Xylo neuron always has a synaptic current, so a LIF without ``tau_syn`` gets the
fastest synapse, ``dash_syn = 1`` (half the current stays for the next step), and a CubaLIF
``dash_syn = round(log2(tau_syn / dt))``. Weights int8 ``round(g S k r W / 2**weight_shift)``
with ``g = 1 / (1 - 2**-dash_syn)`` (the synaptic decay applied in the step of arrival),
``weight_shift`` in 0..7 the largest that keeps the threshold ``<= 2**13``. Xylo subtracts
its threshold per spike and may fire up to 31 spikes per step in hidden layers (1 in the
readout), where spikeforge's LIF fires once (a LIF that resets to a value, not by
``reset="subtract"``, is quantized all the same, with the warning of :func:`check`); with
``calibration`` data, the gain ``g``
of each layer is chosen among a few values to best match the float layer's spike counts. Xylo
has one ``weight_shift_rec`` for all hidden-to-hidden weights, so in a chain of more than two
layers the middle layers share the smallest of their shifts.

**Delays** (Loihi 2 only): an element-wise :class:`~spikeforge.plasticity.FixedDelay` between a
Linear and its LIF (netx's per-neuron delays, as :func:`~spikeforge.hardware.read_netx` builds
them) becomes the layer's ``delay`` (steps): lava's ``DelayDense`` delivers neuron ``j``'s input
``delay[j]`` steps later. Xylo has no delays (:class:`~spikeforge.errors.UnsupportedExportError`).

**Timing.** ``timing="chip"`` (default) adds the chips' one-step synaptic delays: on Xylo every
layer after the first receives the spikes of the previous step; in lava every Dense sends its
input one step later (so an ``L``-layer network answers ``L`` steps later). ``timing="model"``
keeps spikeforge's timing (a spike reaches the next layer in the same step), to separate the
effect of the arithmetic from that of the delays.

**Sizes.** :func:`quantize` simulates the arithmetic whatever the network's size: a network
larger than the chip (the 200-input, 10-output demo network on Xylo Audio's 16 inputs and 8
outputs) runs here, and :func:`~spikeforge.hardware.check` reports the size violations. Only
``loihi2`` and the Xylo targets have an integer simulation; the others raise
:class:`~spikeforge.errors.UnsupportedExportError`.

Example:
    >>> import torch, spikeforge as sf
    >>> net = sf.Sequential(torch.nn.Linear(16, 32), sf.neurons.LIF(32, tau_mem=20.0, dt=10.0),
    ...                     torch.nn.Linear(32, 8), sf.neurons.LIF(8, tau_mem=20.0, dt=10.0))
    >>> q = sf.hardware.quantize(net, "loihi2")
    >>> x = (torch.rand(30, 4, 16, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    >>> out, _ = q(x)
    >>> out.shape
    torch.Size([30, 4, 8])
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ParameterError, ShapeError, UnsupportedExportError
from ..neurons import LIF
from ..plasticity.delays import FixedDelay
from .check import bitshift_dash, check
from .intsim import (
    XYLO_MAX_HIDDEN_SPIKES,
    XYLO_MAX_INPUT_SPIKES,
    IntTrace,
    loihi_layer_scan,
    xylo_layer_scan,
)
from .targets import ChipTarget, get_target

__all__ = ["QuantizedModel", "quantize", "INTSIM_TARGETS"]

Timing = Literal["chip", "model"]
INTSIM_TARGETS = ("loihi2", "xylo-audio2", "xylo-audio3", "xylo-imu")
_XYLO_GAINS = (0.5, 0.71, 1.0, 1.41, 2.0)


class QuantizedModel(nn.Module):
    """A network in a chip's integer form, run with the chip's integer arithmetic.

    The integer parameters are buffers (``state_dict`` holds them): ``layer{i}_weight`` and, per
    neuron, Xylo's ``dash_mem``, ``dash_syn``, ``threshold``, ``bias`` or Loihi 2's ``du``,
    ``dv``, ``vth``, ``bias_mant``, ``bias_exp`` (and ``delay`` in steps where the float model has
    netx's per-neuron delays); the per-layer shifts are in :attr:`shifts`.

    ``forward(x)`` takes ``[T, B, n_in]`` (or ``[T, n_in]``) spike counts in any dtype (rounded,
    negative values are an error) and returns ``(spikes, traces)``: the readout's spike counts
    per step in ``x``'s dtype and one :class:`~spikeforge.hardware.intsim.IntTrace` per layer.
    With ``timing="chip"`` the chip answers :attr:`latency` steps late: the input is followed by
    ``latency`` empty steps, as a deployment would run them, and the readout is returned from
    step ``latency`` on (``[T, B, n_out]``, aligned with the input); the traces keep all
    ``T + latency`` steps.
    """

    def __init__(
        self, target: str, timing: Timing, layers: list[dict[str, Tensor]], shifts: list[int]
    ) -> None:
        super().__init__()
        self.target = target
        self.timing = timing
        self.family = "loihi" if target == "loihi2" else "xylo"
        self.shifts = list(shifts)
        self.n_layers = len(layers)
        self._names = [sorted(layer) for layer in layers]
        for i, layer in enumerate(layers):
            for k, v in layer.items():
                self.register_buffer(f"layer{i}_{k}", v.to(torch.int64))

    def layer(self, i: int) -> dict[str, Tensor]:
        """The integer parameters of layer ``i``."""
        return {k: getattr(self, f"layer{i}_{k}") for k in self._names[i]}

    @property
    def latency(self) -> int:
        """Steps the chip's synaptic delays add between input and readout (0 with ``timing="model"``)."""
        if self.timing == "model":
            return 0
        return self.n_layers if self.family == "loihi" else self.n_layers - 1

    @property
    def n_in(self) -> int:
        return int(self.layer(0)["weight"].shape[1])

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, list[IntTrace]]:  # noqa: ARG002
        squeeze = x.dim() == 2
        if squeeze:
            x = x.unsqueeze(1)
        if x.dim() != 3 or x.shape[-1] != self.n_in:
            raise ShapeError(f"QuantizedModel expects x of shape [T, B, {self.n_in}], got {list(x.shape)}")
        if bool((x < 0).any()) or (x.is_floating_point() and not bool(torch.isfinite(x).all())):
            raise ParameterError("QuantizedModel takes finite spike counts >= 0 (NaN would become INT64_MIN)")
        s = x.detach().round().to(torch.int64)
        lag = self.latency
        if lag:  # run the pipeline `lag` steps longer so the last inputs reach the readout
            s = torch.cat([s, torch.zeros_like(s[:1]).expand(lag, *s.shape[1:])])
        traces: list[IntTrace] = []
        for i in range(self.n_layers):
            p = self.layer(i)
            delayed = self.timing == "chip" and (self.family == "loihi" or i > 0)
            if delayed:
                s = torch.cat([torch.zeros_like(s[:1]), s[:-1]])
            if self.family == "xylo":
                tr = xylo_layer_scan(
                    s,
                    p["weight"],
                    self.shifts[i],
                    p["dash_mem"],
                    p["dash_syn"],
                    p["threshold"],
                    p["bias"],
                    max_in_spikes=XYLO_MAX_INPUT_SPIKES if i == 0 else XYLO_MAX_HIDDEN_SPIKES,
                    max_spikes=1 if i == self.n_layers - 1 else XYLO_MAX_HIDDEN_SPIKES,
                )
            else:
                tr = loihi_layer_scan(
                    s,
                    p["weight"],
                    self.shifts[i],
                    p["du"],
                    p["dv"],
                    p["vth"],
                    p["bias_mant"],
                    p["bias_exp"],
                    delay=p.get("delay"),
                )
            traces.append(tr)
            s = tr.spikes
        out = s[lag:].to(x.dtype)
        return (out[:, 0] if squeeze else out), traces

    def integer_parameters(self) -> dict[str, np.ndarray]:
        """Every integer parameter as numpy arrays (``layer{i}_{name}``, ``layer{i}_shift``)."""
        out: dict[str, np.ndarray] = {}
        for i in range(self.n_layers):
            for k, v in self.layer(i).items():
                out[f"layer{i}_{k}"] = v.cpu().numpy()
            key = "weight_exp" if self.family == "loihi" else "weight_shift"
            out[f"layer{i}_{key}"] = np.array(self.shifts[i], dtype=np.int64)
        return out

    @classmethod
    def from_integer_parameters(
        cls, target: str, params: Mapping[str, Any], timing: Timing = "chip"
    ) -> QuantizedModel:
        """The model back from :meth:`integer_parameters` (e.g. the ``.npz`` that ``spikeforge
        export --target xylo-audio2`` writes; its ``.json`` holds ``timing``).

        Raises:
            ParameterError: an unknown target or timing, or ``params`` without ``layer0_*``
                arrays or a layer's shift.

        Example:
            >>> import torch, spikeforge as sf
            >>> net = sf.Sequential(torch.nn.Linear(4, 3), sf.neurons.LIF(3, dt=10.0, reset="subtract"))
            >>> q = sf.hardware.quantize(net, "xylo-audio2")
            >>> params = q.integer_parameters()             # what `spikeforge export` saves as .npz
            >>> back = sf.hardware.QuantizedModel.from_integer_parameters("xylo-audio2", params)
            >>> back.shifts == q.shifts and torch.equal(back.layer(0)["weight"], q.layer(0)["weight"])
            True
        """
        t = get_target(target)
        if t.name not in INTSIM_TARGETS:
            raise ParameterError(f"target must be one of {', '.join(INTSIM_TARGETS)}, got {t.name!r}")
        if timing not in ("chip", "model"):
            raise ParameterError(f"timing must be 'chip' or 'model', got {timing!r}")
        key = "weight_exp" if t.name == "loihi2" else "weight_shift"
        layers: list[dict[str, Tensor]] = []
        shifts: list[int] = []
        while any(k.startswith(f"layer{len(layers)}_") for k in params):
            i = len(layers)
            if f"layer{i}_{key}" not in params:
                raise ParameterError(f"params has layer{i}_* arrays but no layer{i}_{key}")
            shifts.append(int(np.asarray(params[f"layer{i}_{key}"])))
            prefix = f"layer{i}_"
            layers.append(
                {
                    k[len(prefix) :]: torch.as_tensor(np.asarray(v))
                    for k, v in params.items()
                    if k.startswith(prefix) and k != f"layer{i}_{key}"
                }
            )
        if not layers:
            raise ParameterError("params holds no layer0_* arrays (integer_parameters' layout)")
        return cls(t.name, timing, layers, shifts)

    def extra_repr(self) -> str:
        return f"target={self.target!r}, layers={self.n_layers}, timing={self.timing!r}"


def _delays(model: nn.Module) -> list[Tensor | None]:
    """Per (Linear, LIF) pair, the steps of an element-wise ``FixedDelay`` between them (netx's
    per-neuron delays, as :func:`~spikeforge.hardware.read_netx` builds them), else None."""
    children = list(model.children()) if isinstance(model, nn.Sequential) else [model]
    out: list[Tensor | None] = []
    for m in children:
        if isinstance(m, nn.Linear):
            out.append(None)
        elif isinstance(m, FixedDelay) and out:
            out[-1] = m.steps.detach().cpu().to(torch.int64)
    return out


def _chain(model: nn.Module) -> list[tuple[nn.Linear, LIF]]:
    """The (Linear, LIF) pairs of a feedforward chain (an element-wise ``FixedDelay`` may sit
    between them: :func:`_delays`), or a clear error naming the module."""
    children = list(model.named_children()) if isinstance(model, nn.Sequential) else [("0", model)]
    modules = [(name, m) for name, m in children if not isinstance(m, (nn.Identity, nn.Dropout))]
    kept: list[tuple[str, nn.Module]] = []
    for name, m in modules:
        after_linear = bool(kept) and isinstance(kept[-1][1], nn.Linear)
        if isinstance(m, FixedDelay) and not m.synaptic and after_linear:
            continue  # netx's per-neuron delay of the Linear's output
        kept.append((name, m))
    modules = kept
    pairs: list[tuple[nn.Linear, LIF]] = []
    for idx in range(0, len(modules), 2):
        (lin_name, lin), (neu_name, neu) = (
            modules[idx],
            modules[idx + 1] if idx + 1 < len(modules) else ("end", None),
        )
        if not isinstance(lin, nn.Linear):
            raise UnsupportedExportError(
                f"quantize runs chains of Linear -> LIF pairs; module {lin_name!r} is {type(lin).__name__}"
            )
        if not isinstance(neu, LIF):
            got = "missing (the chain ends)" if neu is None else type(neu).__name__
            raise UnsupportedExportError(
                f"quantize runs chains of Linear -> LIF pairs; the module after {lin_name!r} is {got}"
            )
        if neu.integrator != "exact":
            raise UnsupportedExportError(
                f"quantize maps the exact LIF integrator; module {neu_name!r} uses {neu.integrator!r}"
            )
        if bool((neu.t_ref > 0).any()):
            raise UnsupportedExportError(f"module {neu_name!r}: refractory periods have no integer form here")
        if lin.out_features != neu.n:
            raise ShapeError(
                f"module {lin_name!r} has {lin.out_features} outputs but LIF {neu_name!r} has {neu.n} neurons"
            )
        pairs.append((lin, neu))
    if not pairs:
        raise ParameterError("quantize got an empty model")
    return pairs


def _float_layer(lin: nn.Linear, neu: LIF) -> dict[str, Any]:
    """The float quantities of one layer in float64: effective weights and bias, k, alpha, theta."""
    n = neu.n
    dt = neu.dt
    tau_mem = neu.tau_mem.detach().double().expand(n)
    k = -torch.expm1(-dt / tau_mem)
    r = neu.r.detach().double().expand(n)
    alpha = torch.exp(-dt / neu.tau_syn.detach().double().expand(n)) if neu.has_syn else None
    w = lin.weight.detach().double() * (k * r)[:, None]
    b = torch.zeros(n, dtype=torch.float64) if lin.bias is None else lin.bias.detach().double() * k * r
    if alpha is not None:
        b = b / (1 - alpha)
    theta = (neu.v_th.detach().double() - neu.v_leak.detach().double()).expand(n)
    ss = (r if alpha is None else r / (1 - alpha))[:, None]  # v_inf per unit of constant input
    w_ss = lin.weight.detach().double() * ss
    b_ss = (torch.zeros(n, dtype=torch.float64) if lin.bias is None else lin.bias.detach().double()) * ss[
        :, 0
    ]
    return {
        "w": w,
        "b": b,
        "w_ss": w_ss,
        "b_ss": b_ss,
        "k": k,
        "alpha": alpha,
        "theta": theta,
        "tau_mem": tau_mem,
        "neu": neu,
    }


def _loihi_layer(f: dict[str, Any]) -> tuple[dict[str, Tensor], int]:
    wmax = float(f["w"].abs().max())
    theta_max = float(f["theta"].max())
    if wmax == 0:
        wmax = 1.0
    exp = -8
    for e in range(7, -9, -1):
        s = 127 * 2 ** (e + 7) / wmax
        if s * theta_max <= 2**21:
            exp = e
            break
    s = 127 * 2 ** (exp + 7) / wmax
    m = torch.round(f["w"] * s / 2 ** (exp + 7)).clamp(-128, 127)
    vth = torch.round(f["theta"] * s / 64).clamp(1, 2**17 - 1)
    dv = torch.round(4096 * f["k"]).clamp(0, 4095)
    du = (
        torch.full_like(dv, 4095.0)
        if f["alpha"] is None
        else (torch.round(4096 * (1 - f["alpha"])) - 1).clamp(0, 4095)
    )
    b_int = torch.round(f["b"] * s)
    bias_exp = torch.zeros_like(b_int)
    for _ in range(7):
        too_big = torch.round(b_int / 2**bias_exp).abs() > 4095
        bias_exp = torch.where(too_big, bias_exp + 1, bias_exp)
    bias_mant = torch.round(b_int / 2**bias_exp).clamp(-4096, 4095)
    params = {"weight": 2 * m, "du": du, "dv": dv, "vth": vth, "bias_mant": bias_mant, "bias_exp": bias_exp}
    return {k: v.to(torch.int64) for k, v in params.items()}, exp


def _xylo_layer(
    f: dict[str, Any], gain: float = 1.0, shift: int | None = None
) -> tuple[dict[str, Tensor], int]:
    neu: LIF = f["neu"]
    dt = neu.dt
    dash_mem = torch.tensor([min(15, max(1, bitshift_dash(float(t), dt))) for t in f["tau_mem"]])
    if neu.has_syn:
        tau_syn = neu.tau_syn.detach().double().expand(neu.n)
        dash_syn = torch.tensor([min(15, max(1, bitshift_dash(float(t), dt))) for t in tau_syn])
    else:
        dash_syn = torch.ones(neu.n, dtype=torch.int64)
    keep_syn = 1 - 2.0 ** (-dash_syn.double())  # beta_s
    leak_mem = 2.0 ** (-dash_mem.double())  # 1 - beta_m
    # steady state for a constant drive: V = X beta_s / ((1 - beta_s)(1 - beta_m)) must equal S v_inf
    g = gain * (1 - keep_syn) * leak_mem / keep_syn
    w = f["w_ss"] * g[:, None]
    wmax = float(w.abs().max()) or 1.0
    theta_max = float(f["theta"].max())
    if shift is None:
        shift = 0
        for sh in range(7, -1, -1):
            if 127 * 2**sh / wmax * theta_max <= 2**13:
                shift = sh
                break
    s = 127 * 2**shift / wmax
    weight = torch.round(w * s / 2**shift).clamp(-128, 127)
    threshold = torch.round(f["theta"] * s).clamp(1, 2**15 - 1)
    bias = torch.round(gain * f["b_ss"] * leak_mem * s).clamp(-(2**15), 2**15 - 1)
    params = {
        "weight": weight,
        "dash_mem": dash_mem,
        "dash_syn": dash_syn,
        "threshold": threshold,
        "bias": bias,
    }
    return {k: v.to(torch.int64) for k, v in params.items()}, shift


def _calibrate_xylo(
    pairs: list[tuple[nn.Linear, LIF]], floats: list[dict[str, Any]], calibration: Tensor
) -> list[float]:
    """Per layer, the gain in ``_XYLO_GAINS`` whose integer spike counts are closest (mean squared
    error of the per-neuron counts) to the float layer's, both fed the float model's spikes."""
    x = calibration.detach()
    if x.dim() == 2:
        x = x.unsqueeze(1)
    n_in = pairs[0][0].in_features
    if x.dim() != 3 or x.shape[-1] != n_in:
        raise ShapeError(f"calibration must be [T, B, {n_in}] input spikes, got {list(calibration.shape)}")
    gains: list[float] = []
    with torch.no_grad():
        for i, ((lin, neu), f) in enumerate(zip(pairs, floats)):
            steps, batch = x.shape[0], x.shape[1]
            ref, _ = neu(lin(x.reshape(steps * batch, -1).to(lin.weight.dtype)).reshape(steps, batch, -1))
            last = i == len(pairs) - 1
            errors = []
            for gain in _XYLO_GAINS:
                p, sh = _xylo_layer(f, gain)
                tr = xylo_layer_scan(
                    x.round().to(torch.int64),
                    p["weight"],
                    sh,
                    p["dash_mem"],
                    p["dash_syn"],
                    p["threshold"],
                    p["bias"],
                    max_in_spikes=XYLO_MAX_INPUT_SPIKES if i == 0 else XYLO_MAX_HIDDEN_SPIKES,
                    max_spikes=1 if last else XYLO_MAX_HIDDEN_SPIKES,
                )
                errors.append(float(((tr.spikes.sum(0).double() - ref.sum(0).double()) ** 2).mean()))
            gains.append(_XYLO_GAINS[min(range(len(errors)), key=errors.__getitem__)])
            x = ref
    return gains


def quantize(
    model: nn.Module,
    target: str | ChipTarget,
    *,
    calibration: Tensor | None = None,
    timing: Timing = "chip",
) -> QuantizedModel:
    """Post-training quantization of ``model`` into ``target``'s integer form.

    Args:
        model: a Sequential chain of ``Linear -> LIF`` pairs (see the module docstring).
        target: ``"loihi2"``, ``"xylo-audio2"``, ``"xylo-audio3"`` or ``"xylo-imu"``.
        calibration: optional input spikes ``[T, B, n_in]``; for Xylo, each layer's weight gain
            is chosen (among 0.5, 0.71, 1, 1.41, 2) to best match the float model's spike
            counts of that layer, layer after layer. Loihi 2 needs none (its 24-bit state keeps
            the float dynamics to within rounding).
        timing: ``"chip"`` (the chips' one-step synaptic delays) or ``"model"``.

    Returns:
        a :class:`QuantizedModel` (an ``nn.Module``) running the integer simulation.

    Raises:
        ParameterError: an unknown target or timing, a NaN or infinite weight or parameter.
        UnsupportedExportError: a target without integer simulation, or a model that is not a
            chain of Linear -> LIF pairs (the message names the module).

    Warns:
        UserWarning: the model breaks the target's limits (:func:`~spikeforge.hardware.check`
            finds violations); it is quantized and simulated all the same.
    """
    t = get_target(target)
    if t.name not in INTSIM_TARGETS:
        raise UnsupportedExportError(
            f"quantize: no integer simulation of {t.name!r} (available: {', '.join(INTSIM_TARGETS)}); "
            f"check(model, {t.name!r}) still reports what does not fit"
        )
    if timing not in ("chip", "model"):
        raise ParameterError(f"timing must be 'chip' or 'model', got {timing!r}")
    pairs = _chain(model)
    for i, (lin, neu) in enumerate(pairs):  # NaN or inf would round to INT64_MIN without a word
        for pname, value in [*lin.named_parameters(), *neu.named_parameters(), *neu.named_buffers()]:
            flat = value.detach().flatten()
            if flat.is_floating_point() and not bool(torch.isfinite(flat).all()):
                bad = flat[~torch.isfinite(flat)][0].item()
                raise ParameterError(f"quantize: layer {i} {pname} must be finite, got {bad!r}")
    delays = _delays(model)
    if t.name != "loihi2" and any(d is not None for d in delays):
        raise UnsupportedExportError(f"{t.name} has no synaptic delays; remove the FixedDelay layers")
    report = check(model, t)
    if not report.ok:
        warnings.warn(
            f"quantize: the model does not fit {t.name} ({len(report.violations)} violation(s), the first: "
            f"{report.violations[0]}); the integer simulation runs it anyway, the chip would not. "
            f"check(model, {t.name!r}) lists them all",
            UserWarning,
            stacklevel=2,
        )
    floats = [_float_layer(lin, neu) for lin, neu in pairs]
    layers: list[dict[str, Tensor]] = []
    shifts: list[int] = []
    if t.name == "loihi2":
        for f, d in zip(floats, delays):
            p, e = _loihi_layer(f)
            if d is not None:
                p["delay"] = d.expand(p["vth"].shape).clone()
            layers.append(p)
            shifts.append(e)
        return QuantizedModel(t.name, timing, layers, shifts)
    gains = [1.0] * len(floats)
    if calibration is not None:
        gains = _calibrate_xylo(pairs, floats, calibration)
    built = [_xylo_layer(f, g) for f, g in zip(floats, gains)]
    if len(built) > 2:  # Xylo has one weight_shift_rec for every hidden-to-hidden matrix
        common = min(sh for _, sh in built[1:-1])
        built[1:-1] = [_xylo_layer(f, g, shift=common) for f, g in zip(floats[1:-1], gains[1:-1])]
    layers = [p for p, _ in built]
    shifts = [sh for _, sh in built]
    return QuantizedModel(t.name, timing, layers, shifts)
