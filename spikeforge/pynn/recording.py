"""Recorded data as Neo objects, as PyNN returns them (``get_data``) and writes them
(``write_data``); needs ``neo``, installed with PyNN."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import MissingDependencyError

__all__: list[str] = []


def _neo() -> tuple[Any, Any]:
    try:
        import neo
        import quantities as pq
    except ImportError as e:
        raise MissingDependencyError("get_data needs neo: pip install 'spikeforge[pynn]'") from e
    return neo, pq


def neo_block(
    label: str, spike_times: list[np.ndarray] | None, v: np.ndarray | None, t_stop: float, dt: float
) -> Any:
    """A Neo ``Block`` of one segment: one ``SpikeTrain`` per neuron (times in ms, PyNN's stamps,
    annotated with ``source_index`` and ``source_population``) and the membrane potential ``v``
    (``[T, n]``, mV, sampled every ``dt`` ms) where given."""
    neo, pq = _neo()
    seg = neo.Segment()
    for k, times in enumerate(spike_times or []):
        seg.spiketrains.append(
            neo.SpikeTrain(times, t_stop=t_stop + dt, units=pq.ms, source_index=k, source_population=label)
        )
    if v is not None:
        seg.analogsignals.append(neo.AnalogSignal(v, units=pq.mV, sampling_period=dt * pq.ms, name="v"))
    block = neo.Block(name=label)
    block.segments.append(seg)
    return block


def merge_blocks(label: str, blocks: list[Any]) -> Any:
    """The blocks' first segments in one block: spike trains one after the other, one signal per
    variable with the blocks' channels side by side (as PyNN merges an assembly's data)."""
    neo, _ = _neo()
    segments = [b.segments[0] for b in blocks]
    seg = neo.Segment()
    for part in segments:
        seg.spiketrains.extend(part.spiketrains)
    for name in dict.fromkeys(sig.name for part in segments for sig in part.analogsignals):
        sigs = [sig for part in segments for sig in part.analogsignals if sig.name == name]
        seg.analogsignals.append(merge_signals(sigs))
    block = neo.Block(name=label)
    block.segments.append(seg)
    return block


def select_neurons(block: Any, indices: np.ndarray, label: str) -> Any:
    """``block`` with the neurons ``indices`` only, renumbered ``0, 1, ...`` in that order."""
    seg = block.segments[0]
    keep = {int(k): n for n, k in enumerate(indices)}
    trains = [st for st in seg.spiketrains if int(st.annotations["source_index"]) in keep]
    for st in trains:
        st.annotations["source_index"] = keep[int(st.annotations["source_index"])]
    seg.spiketrains = sorted(trains, key=lambda st: st.annotations["source_index"])
    seg.analogsignals = [sig[:, indices] for sig in seg.analogsignals]
    block.name = label
    return block


def merge_signals(sigs: list[Any]) -> Any:
    """Neo analog signals side by side (channels of the first, then of the second, ...)."""
    out = sigs[0].copy()
    out.segment = None  # neo merges only signals of one segment
    for sig in sigs[1:]:
        other = sig.copy()
        other.segment = None
        out = out.merge(other)
    return out


def write_block(io: Any, block: Any) -> None:
    """Write ``block`` with Neo: ``io`` a file name (its extension picks Neo's IO, ``.pkl`` for
    pickle; missing folders are made, as PyNN's ``get_io`` does) or a Neo IO object."""
    neo, _ = _neo()
    if isinstance(io, str):
        folder = os.path.dirname(io)
        if folder:
            os.makedirs(folder, exist_ok=True)
        io = neo.io.get_io(io)
    io.write_block(block)
