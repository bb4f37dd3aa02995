"""Neuromorphic chip targets as data: sizes, precisions and what each chip can run.

Every number carries its source (:meth:`ChipTarget.source`). Sources are the vendors' open
toolchains and their documentation; a number we could not confirm from such a source is marked
``"unverified"`` in its source string, and ``None`` means the chip has no such limit, or no
figure we could find (the source says which).

==================  ==================================================================
``"loihi2"``        Intel Loihi 2 (lava, lava-dl): CUBA LIF, 8-bit weight mantissa with an
                    exponent, 24-bit u and v, 12-bit decays, delays 0..62 steps
``"xylo-audio2"``   SynSense Xylo Audio 2, SYNS61201 (rockpool, xylosim): 16 inputs,
                    1000 hidden, 8 outputs, int8 weights, 16-bit state, bit-shift decays
``"xylo-audio3"``   SynSense Xylo Audio 3, SYNS65302 (rockpool): 16 inputs, 992 hidden,
                    32 outputs, same neuron as Xylo Audio 2
``"xylo-imu"``      SynSense Xylo IMU, SYNS63300 (rockpool): 16 inputs, 496 hidden,
                    16 outputs, same neuron as Xylo Audio 2
``"speck"``         SynSense Speck / DynapCNN (sinabs, samna): IAF only, 9 convolutional
                    layers, 8-bit weights, 16-bit state, no recurrence; limits only, not
                    supported otherwise (sinabs' dynapcnn backend needs samna)
``"spinnaker2"``    SpiNNaker2 (py-spinnaker2): ARM cores, LIF in software; mostly
                    unverified; circuits go through the PyNN export
``"brainscales2"``  BrainScaleS-2 (hxtorch): 512 analog AdEx/LIF neurons, 6-bit weights;
                    circuits go through the PyNN export
==================  ==================================================================

Only Loihi 2 and the Xylo targets have an integer simulation (:func:`~spikeforge.hardware.quantize`).
SpiNNaker2 and BrainScaleS-2 are reached through the PyNN export of a
:class:`~spikeforge.circuits.Network` (``Network.to_pynn(sim)``, ``Network.to_pynn_script(path)``,
:mod:`spikeforge.circuits.pynn_export`); Speck is not supported beyond :func:`check`.
:attr:`ChipTarget.simulation` says which, and what it was checked against.

Example:
    >>> from spikeforge.hardware.targets import targets
    >>> [t.name for t in targets()][:2]
    ['loihi2', 'xylo-audio2']
    >>> t = targets("xylo-audio2")
    >>> t.max_inputs, t.weight_bits, t.source("max_inputs")[:6]
    (16, 8, 'rockpo')
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal, overload

from ..errors import ParameterError

__all__ = ["ChipTarget", "targets", "get_target", "TARGET_NAMES"]

Decay = Literal["bitshift", "fraction12", "float", "analog", "none"]


@dataclass(frozen=True)
class ChipTarget:
    """What one chip can run; every field's source is in :meth:`source`.

    Attributes:
        name: the target's name (``"loihi2"``, ``"xylo-audio2"``, ...).
        description: the chip, in words.
        max_inputs: input channels (the first layer's fan-in), or None.
        max_outputs: output (readout) neurons, or None.
        max_neurons: neurons in all (every neuron layer counted), or None.
        max_hidden: neurons of the layers before the readout layer, or None.
        max_neurons_per_core: neurons one core holds, or None; informational (the toolchains
            split larger layers over cores), :func:`check` tests ``max_neurons``.
        max_cores: cores per chip, or None.
        max_fan_in: synapses into one neuron (non-zero weights of a row), or None.
        max_layers: neuron layers, or None.
        weight_bits: signed weight bits (mantissa for Loihi 2).
        membrane_bits: membrane state bits, or None (floating point or analog).
        synapse_bits: synaptic current state bits, or None.
        threshold_bits: threshold bits, or None.
        decay: how leaks are represented: ``"bitshift"`` (``x - (x >> dash)``, ``dash`` in
            ``decay_range``), ``"fraction12"`` (``x * (4096 - d) / 4096``, d 12 bits),
            ``"float"``, ``"analog"`` or ``"none"`` (integrate-and-fire only).
        decay_range: the range of the decay parameter (``dash`` for bit shifts), or None.
        max_delay_steps: the longest synaptic or axonal delay in steps (0: no delays).
        neuron_types: neuron models it runs, among ``"LIF"`` (no synaptic state), ``"CubaLIF"``
            (with ``tau_syn``) and ``"IF"`` (no leak).
        layer_types: connection and shape layers it runs, as torch / spikeforge class names.
        resets: reset modes: ``"to_zero"`` (to ``v_leak``) and/or ``"subtract"`` (``v`` lowered by
            ``v_th - v_leak`` on a spike: ``LIF(reset="subtract")`` with ``v_reset == v_leak``).
        recurrent: whether recurrent connections are allowed.
        refractory: whether a refractory period is supported.
        bias: whether neurons take a constant bias.
        sources: ``(field, source)`` pairs; see :meth:`source`.
        simulation: what :func:`~spikeforge.hardware.quantize` simulates for this chip and what
            that simulation was checked against (vendor simulator, vendor source, documents),
            or why there is none and which route to the chip remains (the PyNN export), if any.
    """

    name: str
    description: str
    max_inputs: int | None
    max_outputs: int | None
    max_neurons: int | None
    max_hidden: int | None
    max_neurons_per_core: int | None
    max_cores: int | None
    max_fan_in: int | None
    max_layers: int | None
    weight_bits: int
    membrane_bits: int | None
    synapse_bits: int | None
    threshold_bits: int | None
    decay: Decay
    decay_range: tuple[int, int] | None
    max_delay_steps: int
    neuron_types: tuple[str, ...]
    layer_types: tuple[str, ...]
    resets: tuple[str, ...]
    recurrent: bool
    refractory: bool
    bias: bool
    sources: tuple[tuple[str, str], ...]
    simulation: str = "none: check() tests the limits; quantize() has no integer form of this chip"

    def source(self, field: str) -> str:
        """Where the value of ``field`` comes from (``"unverified"`` when we could not confirm it)."""
        names = {f.name for f in fields(self)}
        if field not in names:
            raise ParameterError(f"field must be one of {sorted(names)}, got {field!r}")
        for key, text in self.sources:
            if key == field:
                return text
        return self._default_source

    @property
    def _default_source(self) -> str:
        return dict(self.sources).get("*", "unverified")

    def limits(self) -> tuple[str, ...]:
        """The names of the limits :func:`~spikeforge.hardware.check` tests for this target."""
        out = [
            f
            for f in (
                "max_inputs",
                "max_outputs",
                "max_neurons",
                "max_hidden",
                "max_fan_in",
                "max_layers",
            )
            if getattr(self, f) is not None
        ]
        out += ["weight_bits", "neuron_types", "layer_types", "resets", "max_delay_steps"]
        if self.decay_range is not None:
            out.append("decay_range")
        if not self.recurrent:
            out.append("recurrent")
        if not self.refractory:
            out.append("refractory")
        if not self.bias:
            out.append("bias")
        return tuple(out)


_XYLO_NEURON = (
    "xylosim XyloIAFNeuron.h/.cpp (the bit-exact Xylo neuron that rockpool's XyloSim wraps): "
    "BITS_STATE 16, BITS_WEIGHT 8, 4-bit dash, subtract reset, MAX_NUM_SPIKES 31"
)
_XYLO_LAYERS = ("Linear", "Identity", "Dropout")

_LOIHI2 = ChipTarget(
    name="loihi2",
    description="Intel Loihi 2 (lava CUBA LIF, lava-dl netx)",
    max_inputs=None,
    max_outputs=None,
    max_neurons=128 * 8192,
    max_hidden=None,
    max_neurons_per_core=8192,
    max_cores=128,
    max_fan_in=None,
    max_layers=None,
    weight_bits=8,
    membrane_bits=24,
    synapse_bits=24,
    threshold_bits=17,
    decay="fraction12",
    decay_range=(0, 4095),
    max_delay_steps=62,
    neuron_types=("LIF", "CubaLIF"),
    layer_types=("Linear", "Conv2d", "Flatten", "AvgPool2d", "LPPool2d", "Identity", "Dropout", "FixedDelay"),
    resets=("to_zero",),
    recurrent=True,
    refractory=False,
    bias=True,
    sources=(
        ("*", "lava: src/lava/proc/lif/models.py (PyLifModelBitAcc) and src/lava/proc/dense/models.py"),
        (
            "max_neurons",
            "Intel Loihi 2 brief: 128 neuro cores, up to 1M neurons per chip (8192 per core); "
            "not in an open toolchain, unverified",
        ),
        ("max_neurons_per_core", "Intel Loihi 2 brief (8192 per core), unverified"),
        ("max_cores", "Intel Loihi 2 brief (128 neuro cores), unverified"),
        ("max_fan_in", "no per-neuron fan-in limit in lava's Dense; synapse memory per core unverified"),
        (
            "weight_bits",
            "lava src/lava/utils/weightutils.py: 8-bit signed weights (mixed sign: even values in "
            "[-256, 254]) scaled by 2**weight_exp in Dense (PyDenseModelBitAcc)",
        ),
        ("membrane_bits", "lava PyLifModelBitAcc: u and v are 24-bit (uv_bitwidth = 24)"),
        ("synapse_bits", "lava PyLifModelBitAcc: u and v are 24-bit (uv_bitwidth = 24)"),
        ("threshold_bits", "lava PyLifModelBitAcc: vth unsigned 17-bit, left-shifted by 6"),
        ("decay", "lava PyLifModelBitAcc: du, dv unsigned 12-bit out of 4096 (decay_shift = 12)"),
        ("decay_range", "lava PyLifModelBitAcc: du, dv in 0..4095"),
        (
            "max_delay_steps",
            "papers.md (vendor toolchain, <= 62 steps); lava DelayDense checks 0..63 in its bit-accurate "
            "model",
        ),
        ("resets", "lava PyLifModelBitAcc.reset_voltage: v = 0 on a spike"),
        (
            "refractory",
            "lava PyLifModelBitAcc has no refractory period (LIFRefractory is a separate process)",
        ),
        ("recurrent", "lava Dense buffers one step so recurrent connections run (PyDenseModelBitAcc)"),
    ),
    simulation=(
        "bit-accurate integer simulation of lava's PyDenseModelBitAcc + PyLifModelBitAcc "
        "(spikeforge.hardware.intsim), checked rule by rule against lava's source and run against "
        "lava's own subthr_dynamics and weightutils code; per-neuron synaptic delays (netx's) "
        "as lava's DelayDense delivers them"
    ),
)


def _xylo(name: str, description: str, hidden: int, outputs: int, part: str) -> ChipTarget:
    return ChipTarget(
        name=name,
        description=description,
        max_inputs=16,
        max_outputs=outputs,
        max_neurons=hidden + outputs,
        max_hidden=hidden,
        max_neurons_per_core=None,
        max_cores=1,
        max_fan_in=None,
        max_layers=None,
        weight_bits=8,
        membrane_bits=16,
        synapse_bits=16,
        threshold_bits=16,
        decay="bitshift",
        decay_range=(1, 15),
        max_delay_steps=0,
        neuron_types=("LIF", "CubaLIF", "IF"),
        layer_types=_XYLO_LAYERS,
        resets=("subtract",),
        recurrent=True,
        refractory=False,
        bias=True,
        sources=(
            ("*", f"rockpool rockpool.devices.xylo.{part} (XyloSim, mapper) and {_XYLO_NEURON}"),
            ("max_inputs", f"rockpool rockpool.devices.xylo.{part}: 16 input channels"),
            ("max_outputs", f"rockpool rockpool.devices.xylo.{part}: {outputs} output neurons"),
            ("max_hidden", f"rockpool rockpool.devices.xylo.{part}: {hidden} hidden neurons"),
            ("max_neurons", f"rockpool rockpool.devices.xylo.{part}: {hidden} hidden + {outputs} outputs"),
            (
                "max_fan_in",
                "no fan-in limit beyond the 16 inputs and the hidden population (dense weight "
                "matrices in rockpool's XyloSim); unverified",
            ),
            ("weight_bits", _XYLO_NEURON + "; weights shifted left by weight_shift_inp/rec/out"),
            ("membrane_bits", _XYLO_NEURON),
            ("synapse_bits", _XYLO_NEURON),
            ("threshold_bits", _XYLO_NEURON + " (int16_t v_th)"),
            (
                "decay",
                _XYLO_NEURON + "; tau = -dt / ln(1 - 2**-dash) (papers.md), rockpool "
                "calc_bitshift_decay: dash = round(log2(tau / dt))",
            ),
            (
                "decay_range",
                "4-bit dash (xylosim); dash 0 would clear a state in one step, so 1..15 are useful",
            ),
            ("max_delay_steps", "no programmable delays on Xylo (xylosim XyloLayer)"),
            (
                "resets",
                _XYLO_NEURON + ": v_mem -= v_th per spike; run in xylosim 0.1.3: v_mem >= v_th spikes, "
                "floor(v_mem / v_th) spikes a step (at most 31), v_mem keeps the remainder",
            ),
            ("refractory", "xylosim XyloIAFNeuron has no refractory period"),
            ("recurrent", "xylosim XyloLayer: recurrent weights between hidden neurons"),
            ("bias", "xylosim XyloIAFNeuron: has_bias, int16 bias added to v_mem each step"),
            ("layer_types", "Xylo runs dense weight matrices only (rockpool LinearTorch / LIFTorch)"),
        ),
        simulation="bit-accurate integer simulation of xylosim's XyloLayer (spikeforge.hardware.intsim), "
        "checked equal to SynSense's xylosim 0.1.3 (xylosim.v2, the core of Xylo Audio 2, Audio 3 and "
        "IMU: rockpool's XyloSim of syns61201 and syns63300 builds xylosim.v2.XyloLayer, and syns65302 "
        "imports syns63300's) for every neuron at every step (spikeforge.hardware.run_xylosim)",
    )


_XYLO_AUDIO2 = _xylo("xylo-audio2", "SynSense Xylo Audio 2 (SYNS61201)", 1000, 8, "syns61201")
_XYLO_AUDIO3 = _xylo("xylo-audio3", "SynSense Xylo Audio 3 (SYNS65302)", 992, 32, "syns65302")
_XYLO_IMU = _xylo("xylo-imu", "SynSense Xylo IMU (SYNS63300)", 496, 16, "syns63300")

_SPECK = ChipTarget(
    name="speck",
    description="SynSense Speck (DynapCNN cores; sinabs-dynapcnn, samna)",
    max_inputs=2 * 128 * 128,
    max_outputs=None,
    max_neurons=None,
    max_hidden=None,
    max_neurons_per_core=None,
    max_cores=9,
    max_fan_in=None,
    max_layers=9,
    weight_bits=8,
    membrane_bits=16,
    synapse_bits=None,
    threshold_bits=16,
    decay="none",
    decay_range=None,
    max_delay_steps=0,
    neuron_types=("IF",),
    layer_types=("Conv2d", "Linear", "AvgPool2d", "LPPool2d", "Flatten", "Identity", "Dropout"),
    resets=("to_zero", "subtract"),
    recurrent=False,
    refractory=False,
    bias=True,
    sources=(
        ("*", "sinabs-dynapcnn (sinabs.backend.dynapcnn) and papers.md; unverified beyond these"),
        ("max_inputs", "sinabs-dynapcnn: DVS input of 128 x 128 pixels, 2 polarities"),
        ("max_cores", "sinabs-dynapcnn: 9 DynapCNN cores"),
        ("max_layers", "papers.md / sinabs-dynapcnn: 9 feedforward layers, one per core"),
        ("weight_bits", "papers.md / sinabs-dynapcnn: 8-bit weights"),
        ("membrane_bits", "papers.md / sinabs-dynapcnn: 16-bit neuron state"),
        ("threshold_bits", "sinabs-dynapcnn: 16-bit thresholds; unverified"),
        ("neuron_types", "papers.md: IAF only (sinabs IAFSqueeze), no leak"),
        ("recurrent", "sinabs-dynapcnn: feedforward chains only"),
        ("resets", "sinabs IAF: membrane_subtract or reset to zero; unverified which the chip takes"),
        ("max_fan_in", "kernel memory per core; figure unverified"),
        ("max_neurons_per_core", "neuron memory per core; figure unverified"),
    ),
    simulation=(
        "none: not supported beyond check(); sinabs' dynapcnn backend (sinabs.backend.dynapcnn) "
        "imports samna, which cannot be installed here, so spikeforge has no Speck simulation, no "
        "sinabs-compatible export, and nothing was checked against the vendor"
    ),
)

_SPINNAKER2 = ChipTarget(
    name="spinnaker2",
    description="SpiNNaker2 (py-spinnaker2, LIF in software on ARM cores)",
    max_inputs=None,
    max_outputs=None,
    max_neurons=152 * 250,
    max_hidden=None,
    max_neurons_per_core=250,
    max_cores=152,
    max_fan_in=None,
    max_layers=None,
    weight_bits=4,
    membrane_bits=None,
    synapse_bits=None,
    threshold_bits=None,
    decay="float",
    decay_range=None,
    max_delay_steps=7,
    neuron_types=("LIF", "CubaLIF", "IF"),
    layer_types=("Linear", "Identity", "Dropout", "FixedDelay"),
    resets=("to_zero", "subtract"),
    recurrent=True,
    refractory=False,
    bias=True,
    sources=(
        ("*", "papers.md: SpiNNaker2 limits unverified"),
        ("max_cores", "SpiNNaker2 chip: 152 ARM processing elements; unverified"),
        ("max_neurons", "152 cores x 250 neurons; unverified"),
        ("max_neurons_per_core", "py-spinnaker2 lif application default of 250 neurons per core; unverified"),
        ("weight_bits", "py-spinnaker2 synapse words with 4-bit weights; unverified"),
        ("max_delay_steps", "py-spinnaker2 synapse words with 3-bit delays; unverified"),
        ("decay", "py-spinnaker2 runs LIF in floating point on the ARM cores; unverified"),
    ),
    simulation=(
        "none: no integer model (the chip runs LIF in software); circuits go through the PyNN export: "
        "Network.to_pynn(sim) / Network.to_pynn_script(path) (spikeforge.circuits.pynn_export), "
        "checked with PyNN's NEST backend only; pyNN.spiNNaker (sPyNNaker) runs SpiNNaker 1 and "
        "py-spinnaker2's own API is not PyNN, so nothing was run on SpiNNaker2 or its software; "
        "Sequential (trained) models have no route"
    ),
)

_BRAINSCALES2 = ChipTarget(
    name="brainscales2",
    description="BrainScaleS-2 (hxtorch; analog AdEx/LIF neurons)",
    max_inputs=None,
    max_outputs=None,
    max_neurons=512,
    max_hidden=None,
    max_neurons_per_core=512,
    max_cores=1,
    max_fan_in=256,
    max_layers=None,
    weight_bits=6,
    membrane_bits=None,
    synapse_bits=None,
    threshold_bits=10,
    decay="analog",
    decay_range=None,
    max_delay_steps=0,
    neuron_types=("LIF", "CubaLIF"),
    layer_types=("Linear", "Identity", "Dropout"),
    resets=("to_zero",),
    recurrent=True,
    refractory=True,
    bias=False,
    sources=(
        ("*", "hxtorch and papers.md"),
        ("max_neurons", "papers.md / hxtorch: 512 neuron circuits"),
        ("max_neurons_per_core", "papers.md / hxtorch: 512 neuron circuits"),
        ("max_fan_in", "hxtorch: 256 synapse rows per neuron column; unverified"),
        ("weight_bits", "papers.md / hxtorch: 6-bit synapse weights (sign from the row's polarity)"),
        ("threshold_bits", "10-bit capacitive-memory DAC for neuron parameters; unverified"),
        ("decay", "analog leak; the time constant is a calibrated analog parameter"),
        ("resets", "hxtorch LIF: reset to a reset potential (here v_leak)"),
        ("bias", "no per-neuron bias current in hxtorch's LIF layers; unverified"),
    ),
    simulation=(
        "none: analog neurons, no bit-exact model exists; circuits go through the PyNN export: "
        "Network.to_pynn(sim) / Network.to_pynn_script(path) (spikeforge.circuits.pynn_export), "
        "checked with PyNN's NEST backend only; BrainScaleS-2's PyNN (pynn_brainscales.brainscales2) "
        "runs its own cell types (HXNeuron, CalibHXNeuronCuba), not the exported IF_curr_exp, so "
        "the cells need mapping by hand and nothing was run on the chip; Sequential (trained) models "
        "have no route (hxtorch is not supported)"
    ),
)

_ALL = (_LOIHI2, _XYLO_AUDIO2, _XYLO_AUDIO3, _XYLO_IMU, _SPECK, _SPINNAKER2, _BRAINSCALES2)
TARGET_NAMES: tuple[str, ...] = tuple(t.name for t in _ALL)


def get_target(target: str | ChipTarget) -> ChipTarget:
    """The :class:`ChipTarget` named ``target`` (a ChipTarget passes through).

    Raises:
        ParameterError: an unknown name; the message lists the allowed ones.
    """
    if isinstance(target, ChipTarget):
        return target
    for t in _ALL:
        if t.name == target:
            return t
    raise ParameterError(f"target must be one of {list(TARGET_NAMES)}, got {target!r}")


@overload
def targets() -> tuple[ChipTarget, ...]: ...
@overload
def targets(name: str) -> ChipTarget: ...
def targets(name: str | None = None) -> tuple[ChipTarget, ...] | ChipTarget:
    """All chip targets, or the one called ``name``.

    Raises:
        ParameterError: an unknown name; the message lists the allowed ones.
    """
    if name is None:
        return _ALL
    return get_target(name)
