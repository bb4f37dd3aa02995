r"""Run a quantized Xylo network in SynSense's own simulator, ``xylosim``.

``xylosim`` (PyPI, a compiled C++ module; ``xylosim.v2`` is the core of Xylo Audio 2
(SYNS61201), Xylo Audio 3 (SYNS65302) and Xylo IMU (SYNS63300): rockpool's ``XyloSim`` of all
three wraps ``xylosim.v2.XyloLayer``; ``xylosim.v1`` is the first Xylo core, SYNS61300, which no
target here names) is the bit-exact reference of the chip's arithmetic. It ships without a
licence, so it is only an optional, test-time dependency (``pip install 'spikeforge[vendor]'``).

A chain of ``L`` layers maps onto the one Xylo core as rockpool's ``XyloSim.from_specification``
does: the first layer's weights are the input weights, the hidden layers are consecutive blocks
of the hidden ("reservoir") population joined by the recurrent weights (one
``weight_shift_rec`` for all of them), and the last layer's weights are the readout weights.
Each hidden neuron has one synapse (``dash_syns = [[dash_syn]]``). xylosim delivers the hidden
spikes of a step at the next one, as :class:`~spikeforge.hardware.QuantizedModel` does with
``timing="chip"``.

xylosim keeps raw pointers to the ``XyloSynapse`` objects it is given: the Python lists holding
them must outlive the ``XyloLayer`` (it crashes otherwise), so :func:`run_xylosim` builds and
runs the layer in one call.

Example:
    >>> import torch, spikeforge as sf
    >>> from spikeforge.hardware.xylo_vendor import run_xylosim
    >>> net = sf.Sequential(torch.nn.Linear(16, 20), sf.neurons.LIF(20, dt=5.0, reset="subtract"),
    ...                     torch.nn.Linear(20, 8), sf.neurons.LIF(8, dt=5.0, reset="subtract"))
    >>> q = sf.hardware.quantize(net, "xylo-audio2")
    >>> x = (torch.rand(30, 2, 16, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    >>> traces = run_xylosim(q, x)                      # doctest: +SKIP
    >>> _, ours = q(x)                                  # doctest: +SKIP
    >>> all(torch.equal(a.spikes, b.spikes) for a, b in zip(traces, ours))  # doctest: +SKIP
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import MissingDependencyError, ParameterError, ShapeError
from .intsim import IntTrace
from .quantize import QuantizedModel

__all__ = ["run_xylosim", "XYLOSIM_TARGETS"]

XYLOSIM_TARGETS = ("xylo-audio2", "xylo-audio3", "xylo-imu")


def _v2() -> Any:
    try:
        from xylosim import v2
    except ImportError as e:
        raise MissingDependencyError(
            "run_xylosim needs SynSense's xylosim: pip install 'spikeforge[vendor]'"
        ) from e
    return v2


def _synapses(
    v2: Any, weight: np.ndarray, n_pre: int, pre_offset: int, post_offset: int
) -> dict[int, list[Any]]:
    """``XyloSynapse`` lists per presynaptic index for ``weight [n_post, n_pre]`` (nonzeros only)."""
    out: dict[int, list[Any]] = {}
    for i in range(n_pre):
        posts = np.nonzero(weight[:, i])[0]
        out[pre_offset + i] = [v2.XyloSynapse(int(post_offset + p), 0, int(weight[p, i])) for p in posts]
    return out


def run_xylosim(q: QuantizedModel, x: Tensor) -> list[IntTrace]:
    """Run ``q``'s integer parameters in ``xylosim.v2.XyloLayer`` on input spike counts ``x``.

    Args:
        q: a Xylo :class:`~spikeforge.hardware.QuantizedModel` (``xylo-audio2``,
            ``xylo-audio3`` or ``xylo-imu``) with ``timing="chip"`` and at least two layers.
        x: input spike counts ``[T, B, n_in]`` or ``[T, n_in]`` (>= 0; xylosim clips them to 15).

    Returns:
        one :class:`~spikeforge.hardware.intsim.IntTrace` per layer, ``[T + q.latency, B, n]``
        (the input is followed by ``q.latency`` empty steps, as ``q(x)`` runs it; a batch of one
        for ``[T, n_in]``), laid out as ``q(x)[1]``: xylosim's recorded spikes, synaptic
        currents and membrane potentials. Each batch element is a fresh run (``reset_all``).

    Raises:
        ParameterError: a target xylosim does not simulate, model timing, or a single layer.
        ShapeError: ``x`` of the wrong shape.
        MissingDependencyError: ``xylosim`` is not installed.
    """
    if q.target not in XYLOSIM_TARGETS:
        raise ParameterError(f"run_xylosim runs {', '.join(XYLOSIM_TARGETS)}; q is for {q.target!r}")
    if q.timing != "chip":
        raise ParameterError(
            f"run_xylosim simulates the chip's timing; q has timing={q.timing!r}, use 'chip'"
        )
    if q.n_layers < 2:
        raise ParameterError(f"a Xylo network has a hidden and a readout layer; q has {q.n_layers} layer")
    if x.dim() == 2:
        x = x.unsqueeze(1)
    if x.dim() != 3 or x.shape[-1] != q.n_in:
        raise ShapeError(f"run_xylosim expects x of shape [T, B, {q.n_in}], got {list(x.shape)}")
    if bool((x < 0).any()):
        raise ParameterError("run_xylosim takes spike counts >= 0")
    v2 = _v2()
    layers = [{k: v.cpu().numpy() for k, v in q.layer(i).items()} for i in range(q.n_layers)]
    hidden, readout = layers[:-1], layers[-1]
    sizes = [int(p["weight"].shape[0]) for p in hidden]
    offsets = np.cumsum([0, *sizes]).tolist()
    n_hidden = offsets[-1]
    syn_in = _synapses(v2, hidden[0]["weight"], q.n_in, 0, 0)
    syn_rec: dict[int, list[Any]] = {}
    for k in range(1, len(hidden)):
        syn_rec.update(_synapses(v2, hidden[k]["weight"], sizes[k - 1], offsets[k - 1], offsets[k]))
    syn_out = _synapses(v2, readout["weight"], sizes[-1], offsets[-2], 0)
    # these lists must outlive the layer: xylosim stores pointers to the XyloSynapse objects
    synapses_in = [syn_in[i] for i in range(q.n_in)]
    synapses_rec = [syn_rec.get(i, []) for i in range(n_hidden)]
    synapses_out = [syn_out.get(i, []) for i in range(n_hidden)]

    def cat(key: str) -> list[int]:
        return [int(v) for p in hidden for v in p[key]]

    rec_shifts = sorted({q.shifts[k] for k in range(1, len(hidden))})
    if len(rec_shifts) > 1:
        raise ParameterError(f"Xylo has one weight_shift_rec; q's hidden-to-hidden layers have {rec_shifts}")
    layer = v2.XyloLayer(
        synapses_in,
        synapses_rec,
        synapses_out,
        [[] for _ in range(n_hidden)],
        cat("threshold"),
        [int(v) for v in readout["threshold"]],
        True,
        cat("bias"),
        [int(v) for v in readout["bias"]],
        q.shifts[0],
        rec_shifts[0] if rec_shifts else 0,
        q.shifts[-1],
        cat("dash_mem"),
        [int(v) for v in readout["dash_mem"]],
        [[d] for d in cat("dash_syn")],
        [[int(d)] for d in readout["dash_syn"]],
        "spikeforge",
    )
    counts = x.detach().round().clamp(max=255).to(torch.int64)
    counts = torch.cat([counts, torch.zeros_like(counts[:1]).expand(q.latency, *counts.shape[1:])])
    per_batch: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = []
    for b in range(counts.shape[1]):
        layer.reset_all()
        out = np.asarray(layer.evolve(counts[:, b].tolist()), dtype=np.int64)
        hid_s = np.asarray(layer.rec_recurrent_spikes, dtype=np.int64)
        hid_i = np.asarray(layer.rec_i_syn, dtype=np.int64).T
        hid_v = np.asarray(layer.rec_v_mem, dtype=np.int64).T
        runs = [
            (hid_s[:, lo:hi], hid_i[:, lo:hi], hid_v[:, lo:hi]) for lo, hi in zip(offsets[:-1], offsets[1:])
        ]
        runs.append(
            (
                out,
                np.asarray(layer.rec_i_syn_out, dtype=np.int64).T,
                np.asarray(layer.rec_v_mem_out, dtype=np.int64).T,
            )
        )
        per_batch.append(runs)
    del layer  # before the synapse lists it points into
    traces = []
    for k in range(q.n_layers):
        fields = [torch.from_numpy(np.stack([run[k][f] for run in per_batch], axis=1)) for f in range(3)]
        traces.append(IntTrace(*fields))
    return traces
