r"""An estimate of the energy a chip spends on one inference, from NeuroBench's operation counts
and the chip's published energy per operation; every figure carries its source.

.. math::

    E = \sum_k n_k \, e_k

with :math:`n_k` the operations of kind :math:`k` per inference (NeuroBench's counts, from
:func:`~spikeforge.hardware.benchmark_figures`) and :math:`e_k` the published energy of one
such operation. Only dynamic energy of the counted operations: no static (leakage) power, no
input/output, no spike routing between cores (it depends on where the toolchain places the
neurons, which NeuroBench does not count). Operations without a published figure are listed as
*unpriced*, never guessed.

What is published, per target (searched for this module; the sources are in ``_FIGURES`` and
``_NO_FIGURES`` next to the numbers):

==================  ================================================================
``"loihi2"``        figures of the **first Loihi**, not Loihi 2: Davies et al. 2018, Table 2
                    (pre-silicon SDF and SPICE simulation at 0.75 V, Intel 14 nm): 23.6 pJ
                    per synaptic spike operation (a minimum), 81 pJ per active and 52 pJ per
                    inactive neuron update. Intel publishes no per-operation energy for
                    Loihi 2 (Tang et al. 2023 tabulate it as "NA"), whose cores are
                    microcoded and made in another process, so the estimate is a proxy.
``"spinnaker2"``    10 pJ per synaptic operation (Höppner et al. 2021, as tabulated by
                    Tang et al. 2023, Table 3; the primary was not read here); no neuron
                    update figure (neurons run as software on the ARM cores).
``"xylo-*"``        none: SynSense publishes measured power of whole applications (Bos and
                    Muir 2024: 291 µW dynamic, 6.6 µJ per inference for one keyword
                    spotting network on Xylo Audio 2), not energy per operation.
``"speck"``         none: Yao et al. 2024 report resting (0.42 mW) and total (0.70 mW)
                    power of an application, not energy per operation.
``"brainscales2"``  none: analog neurons and synapses; no energy per synaptic event found.
==================  ================================================================

The primary papers were not opened here: Davies et al.'s Table 2 was read in two transcriptions
that agree (the constants of the SANA-FE simulator, which cites it, and a note quoting the table
row by row; Tang et al. 2023 give the same 23.6 pJ), SpiNNaker2's figure in Tang et al.'s table.

NeuroBench's counts map to these figures as follows: effective ACs (connections fed spikes)
are synaptic spike operations; effective MACs (connections fed non-spike values) are not priced
(the published figures are for binary spikes); membrane updates (neurons whose membrane changed
in a step) are active neuron updates, and the remaining neuron-steps (``neuron_steps -
membrane_updates``: a time-stepped core updates every neuron at every step) inactive ones. That
mapping is ours; the chips' own definitions of "active" may differ.

Example:
    >>> import spikeforge as sf
    >>> e = sf.hardware.energy_estimate("loihi2", synaptic_ops=1000, membrane_updates=100,
    ...                                 neuron_steps=400)
    >>> round(e.joules * 1e12, 1)                     # 1000*23.6 + 100*81 + 300*52 pJ
    47300.0
    >>> e.same_chip                                   # first-Loihi figures used for Loihi 2
    False
    >>> sf.hardware.energy_estimate("xylo-audio2", synaptic_ops=10)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    spikeforge.errors.ParameterError: no energy estimate for target 'xylo-audio2': ...
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ParameterError
from .targets import TARGET_NAMES, ChipTarget, get_target

__all__ = ["EnergyFigure", "EnergyTerm", "EnergyEstimate", "energy_estimate", "energy_figures"]

_DAVIES_2018 = (
    "Davies et al., 'Loihi: A Neuromorphic Manycore Processor with On-Chip Learning', IEEE Micro "
    "38(1):82-99, 2018, Table 2 (pre-silicon SDF and SPICE simulation at 0.75 V, Intel 14 nm)"
)
_TANG_2023 = (
    "Tang et al., 'SENECA: building a fully digital neuromorphic processor, design trade-offs and "
    "challenges', Front. Neurosci. 17:1187252, 2023, Table 3"
)


@dataclass(frozen=True)
class EnergyFigure:
    """A published energy of one operation.

    Attributes:
        operation: ``"synaptic_op"`` (one synaptic operation on a spike), ``"neuron_update_active"``
            or ``"neuron_update_inactive"`` (one neuron at one time step).
        joules: energy of one operation, J.
        source: where the number is published, with the table and conditions.
    """

    operation: str
    joules: float
    source: str


@dataclass(frozen=True)
class _ChipEnergy:
    chip: str  # whose figures these are
    same_chip: bool  # figures of this very chip (False: another generation)
    caveat: str
    figures: tuple[EnergyFigure, ...]


_LOIHI1 = _ChipEnergy(
    chip="Intel Loihi (first generation, 14 nm)",
    same_chip=False,
    caveat=(
        "figures of the first Loihi used for Loihi 2: Intel publishes no energy per operation for "
        "Loihi 2 (Tang et al. 2023, Table 3: 'NA'), whose neuron cores are microcoded and made in "
        "another process (Intel 4); a proxy, not a Loihi 2 figure. The synaptic figure is the "
        "published minimum; spike routing and static power are not included"
    ),
    figures=(
        EnergyFigure("synaptic_op", 23.6e-12, _DAVIES_2018 + ": 'energy per synaptic spike op (min)'"),
        EnergyFigure("neuron_update_active", 81e-12, _DAVIES_2018 + ": 'energy per neuron update (active)'"),
        EnergyFigure(
            "neuron_update_inactive", 52e-12, _DAVIES_2018 + ": 'energy per neuron update (inactive)'"
        ),
    ),
)

_SPINNAKER2 = _ChipEnergy(
    chip="SpiNNaker2 (22 nm FDSOI)",
    same_chip=True,
    caveat=(
        "a secondary source: Tang et al. 2023 tabulate 10 pJ per synaptic operation for SpiNNaker2, "
        "citing Hoppner et al. 2021 ('The SpiNNaker 2 processing element architecture for hybrid "
        "digital neuromorphic computing', arXiv:2103.08392), which was not read here; Tang et al. "
        "note that the energy per synaptic operation varies between applications and is for "
        "high-level comparison only. Neuron updates run as software on the ARM cores and have no "
        "published per-update figure, so they are not priced"
    ),
    figures=(
        EnergyFigure(
            "synaptic_op",
            10e-12,
            _TANG_2023 + ": 'energy per SOp (pJ)' of SpiNNaker2 = 10, citing Hoppner et al. 2021",
        ),
    ),
)

_FIGURES: dict[str, _ChipEnergy] = {"loihi2": _LOIHI1, "spinnaker2": _SPINNAKER2}

_XYLO_NONE = (
    "SynSense publishes no energy per synaptic operation or neuron update for the Xylo chips; "
    "what is published is measured power of whole applications (Bos and Muir, 'Micro-power spoken "
    "keyword spotting on Xylo Audio 2', arXiv:2406.15112, 2024: 291 uW dynamic inference power, "
    "6.6 uJ per inference for one keyword-spotting network), and rockpool models Xylo Audio 2 in "
    "clock cycles, not joules; neither splits into a per-operation energy for another network"
)
_NO_FIGURES: dict[str, str] = {
    "xylo-audio2": _XYLO_NONE,
    "xylo-audio3": _XYLO_NONE,
    "xylo-imu": _XYLO_NONE,
    "speck": (
        "no energy per synaptic operation is published for Speck: Yao et al., 'Spike-based dynamic "
        "computing with asynchronous sensing-computing neuromorphic chip', Nat. Commun. 15:4464, "
        "2024, report resting power (0.42 mW) and total power of an application (0.70 mW) only"
    ),
    "brainscales2": (
        "BrainScaleS-2's neurons and synapses are analog circuits; no energy per synaptic event or "
        "neuron update was found in the sources searched (Pehle et al., Front. Neurosci. 16:795876, 2022)"
    ),
}


@dataclass(frozen=True)
class EnergyTerm:
    """One priced kind of operation of an :class:`EnergyEstimate`.

    Attributes:
        operation: the operation (see :class:`EnergyFigure`).
        count: operations per inference.
        joules_each: energy of one, J.
        source: where ``joules_each`` is published.
    """

    operation: str
    count: float
    joules_each: float
    source: str

    @property
    def joules(self) -> float:
        """``count * joules_each``, J."""
        return self.count * self.joules_each


@dataclass(frozen=True)
class EnergyEstimate:
    """Energy of one inference on a chip target (see the module docstring).

    Attributes:
        target: the target's name.
        chip: whose published figures were used.
        same_chip: False when they are another generation's (Loihi's for ``"loihi2"``).
        caveat: what the figures are and what the estimate leaves out.
        terms: the priced operations, each with its count, energy and source.
        unpriced: ``(operation, count, why)`` of counted operations with no published figure
            (count None: not known, e.g. idle neuron updates without ``neuron_steps``).
    """

    target: str
    chip: str
    same_chip: bool
    caveat: str
    terms: tuple[EnergyTerm, ...]
    unpriced: tuple[tuple[str, float | None, str], ...]

    @property
    def joules(self) -> float:
        """The estimate, J per inference: the sum of the priced terms (a lower bound when
        anything is unpriced)."""
        return sum(t.joules for t in self.terms)

    def to_dict(self) -> dict[str, Any]:
        """The estimate as a JSON-ready dict (``joules`` included)."""
        out = asdict(self)
        out["joules"] = self.joules
        return out

    def __str__(self) -> str:
        lines = [
            f"energy per inference on {self.target}: {self.joules * 1e9:.4g} nJ"
            + (" (a lower bound: some operations are unpriced)" if self.unpriced else ""),
            f"  figures of {self.chip}" + ("" if self.same_chip else f", NOT of {self.target}"),
        ]
        for t in self.terms:
            lines.append(
                f"  {t.operation}: {t.count:.6g} x {t.joules_each * 1e12:.4g} pJ = {t.joules * 1e9:.4g} nJ "
                f"[{t.source}]"
            )
        for op, count, why in self.unpriced:
            lines.append(f"  {op}: {'?' if count is None else f'{count:.6g}'}, not priced ({why})")
        lines.append(f"  caveat: {self.caveat}")
        return "\n".join(lines)


def energy_figures(target: str | ChipTarget) -> tuple[EnergyFigure, ...]:
    """The published energies per operation used for ``target``.

    Raises:
        ParameterError: an unknown target, or one with no published figure (the message says why
            and which targets have figures).
    """
    return _chip_energy(get_target(target).name).figures


def _chip_energy(name: str) -> _ChipEnergy:
    if name in _FIGURES:
        return _FIGURES[name]
    reason = _NO_FIGURES.get(name, "no source was looked up for it")
    raise ParameterError(
        f"no energy estimate for target {name!r}: {reason}. Targets with published per-operation "
        f"energies: {', '.join(sorted(_FIGURES))} (of {', '.join(TARGET_NAMES)})"
    )


def _count(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name} must be a number of operations, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ParameterError(f"{name} must be finite and >= 0, got {value!r}")
    return float(value)


def energy_estimate(
    target: str | ChipTarget,
    *,
    synaptic_ops: float,
    membrane_updates: float = 0.0,
    neuron_steps: float | None = None,
    macs: float = 0.0,
) -> EnergyEstimate:
    """Energy of one inference on ``target`` from NeuroBench-style counts and the chip's
    published energy per operation (see the module docstring for the sources and the mapping).

    Args:
        target: a chip target with published figures (``"loihi2"``, ``"spinnaker2"``).
        synaptic_ops: synaptic operations on spikes per inference (NeuroBench's effective ACs).
        membrane_updates: neuron updates that changed a membrane, per inference (NeuroBench's
            membrane updates): priced as active neuron updates.
        neuron_steps: every neuron at every time step, per inference
            (:attr:`BenchmarkFigures.neuron_steps`); ``neuron_steps - membrane_updates`` are
            priced as inactive updates. None: inactive updates are listed as unpriced.
        macs: multiply-accumulates on non-spike inputs per inference (NeuroBench's effective
            MACs); no chip here has a published figure for them, so they are listed as unpriced.

    Returns:
        the :class:`EnergyEstimate` (``.joules``, the terms with their sources, what is unpriced).

    Raises:
        ParameterError: an unknown target or one without published figures (naming it and why),
            a negative or non-finite count, ``neuron_steps < membrane_updates``.
    """
    name = get_target(target).name
    chip = _chip_energy(name)
    syn = _count("synaptic_ops", synaptic_ops)
    mem = _count("membrane_updates", membrane_updates)
    steps = None if neuron_steps is None else _count("neuron_steps", neuron_steps)
    mac = _count("macs", macs)
    if steps is not None and steps < mem:
        raise ParameterError(
            f"neuron_steps (every neuron at every step) must be >= membrane_updates, got "
            f"neuron_steps={neuron_steps!r} < membrane_updates={membrane_updates!r}"
        )
    figure = {f.operation: f for f in chip.figures}
    counts = {"synaptic_op": syn, "neuron_update_active": mem}
    if steps is not None:
        counts["neuron_update_inactive"] = steps - mem
    terms = []
    unpriced: list[tuple[str, float | None, str]] = []
    for op, n in counts.items():
        if op in figure:
            terms.append(EnergyTerm(op, n, figure[op].joules, figure[op].source))
        elif n > 0:
            unpriced.append((op, n, f"no published figure for {chip.chip}"))
    if steps is None and "neuron_update_inactive" in figure:
        unpriced.append(
            ("neuron_update_inactive", None, "neuron_steps not given, so the idle updates are unknown")
        )
    if mac > 0:
        unpriced.append(
            ("mac", mac, f"multiply-accumulates on non-spike inputs: no published figure for {chip.chip}")
        )
    return EnergyEstimate(
        target=name,
        chip=chip.chip,
        same_chip=chip.same_chip,
        caveat=chip.caveat,
        terms=tuple(terms),
        unpriced=tuple(unpriced),
    )
