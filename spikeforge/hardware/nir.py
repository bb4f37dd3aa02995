r"""Export to and import from NIR, the Neuromorphic Intermediate Representation (nir 1.0.x).

NIR nodes are continuous-time ODEs in seconds, with no time step. spikeforge works in ms with a
time step, so :func:`to_nir` divides time constants by 1000 and records how the graph is meant to
be discretised in ``graph.metadata``; :func:`from_nir` reads it back. The ``nir`` package is
imported only when one of these functions is called (``pip install 'spikeforge[nir]'``).

**Mapping** (``importer=None``, the faithful graph):

=====================================  ====================================================
spikeforge                             NIR
=====================================  ====================================================
``nn.Linear`` (with / without bias)    ``Affine`` / ``Linear``
``nn.Conv1d``, ``nn.Conv2d``           ``Conv1d``, ``Conv2d`` (``padding_mode="zeros"``)
``nn.Flatten``                         ``Flatten`` (dims without the batch dimension)
``nn.AvgPool2d``                       ``AvgPool2d``; with ``divisor_override=1``: ``SumPool2d``
``nn.LPPool2d(norm_type=1)``           ``SumPool2d``
``FixedDelay`` (element-wise, ``[n]``)  ``Delay(delay=d_ms/1000)``: :math:`y_i(t) = x_i(t - d_i)`
``LIF`` (``tau_syn=None``)             ``LIF(tau=tau_mem/1000, r, v_leak, v_threshold, v_reset)``
``LIF`` (with ``tau_syn``)             ``CubaLIF(tau_mem, tau_syn, r, v_leak, v_threshold,
                                       v_reset, w_in)``
``LI`` (``tau_syn=None``)              ``LI(tau=tau_mem/1000, r, v_leak)``
``LI`` (with ``tau_syn``)              ``CubaLI(tau_mem, tau_syn, r, v_leak, w_in)``
``IF``                                 ``IF(r=r/dt, v_threshold, v_reset)`` (:mod:`._nir_if`)
``nn.Identity``, ``nn.Dropout``        nothing (identity at inference)
=====================================  ====================================================

``CubaLIF.w_in`` (and ``CubaLI.w_in``) carries the discretisation of the synaptic jump:
spikeforge adds each step's input ``x`` to the current, :math:`i \leftarrow \alpha i + x`. Read
as the NIR ODE :math:`\tau_{syn}\dot I = -I + w_{in} S` with ``S = x`` held over the step, that
is :math:`w_{in} = 1/(1-\alpha)` with the exact integrator and
:math:`w_{in} = \tau_{syn}/\Delta t` with Euler (the value snntorch uses too).

``graph.metadata`` holds ``producer="spikeforge"``, ``dt`` (s) and ``dt_ms``, ``integrator``,
``reset="to_value"``, ``initial_state="rest"`` (``v = v_leak``, ``i = 0``) and ``importer``. Each
neuron node's metadata holds its time constants in ms (``tau_ms``, ``tau_syn_ms``: ms / 1000 / s
is not invertible in floating point, so :func:`from_nir` uses them when, and only when,
``tau_ms / 1000`` reproduces the node's ``tau``) and its initial state (``v_init``, ``i_init``).
``LI`` and ``CubaLI`` import as :class:`~spikeforge.neurons.LI`, whose output is the membrane
``v``; the round trip is bitwise, as for the spiking nodes.

``MPBNLIF`` (membrane-potential batch norm) is folded first (:func:`~spikeforge.hardware.fold_mpbn`):
it exports as the ``LIF`` / ``CubaLIF`` with the folded per-neuron ``v_threshold``.

**Not representable**, so :func:`to_nir` raises :class:`~spikeforge.errors.UnsupportedExportError`
naming the module: ``ALIF`` (adaptive threshold), ``Izhikevich``, ``ProbabilisticNeuron``
(stochastic), a refractory period ``t_ref > 0``, ``reset="subtract"`` (NIR neurons reset to
``v_reset``), and any other module.

**Importer presets.** ``to_nir(model, dt, importer="snntorch" | "norse")`` writes a graph that
this importer runs with the same spikes as spikeforge, by undoing the importer's own convention
(read from snntorch 1.0 ``snntorch/import_nir.py`` and norse 1.1.0
``norse/torch/utils/import_nir.py``). Both discretise with forward Euler at a fixed step, so the
preset writes :math:`\tau' = \Delta t_{imp} / k` with :math:`k = 1 - e^{-\Delta t/\tau}` (exact)
or :math:`\Delta t/\tau` (Euler), which makes the importer's decay equal spikeforge's.

- ``"snntorch"``: snntorch fixes ``dt = 1e-4`` s, builds ``Leaky``/``Synaptic`` with
  ``beta = 1 - dt/tau``, requires ``v_leak = 0`` and ``r = tau/dt``, ignores ``v_reset`` (it
  resets to 0 and starts at 0) and needs one threshold per layer. The preset writes the membrane
  in units of ``k*r``: ``u = (v - v_reset)/(k r)``, threshold ``(v_th - v_reset)/(k r)``,
  ``r = tau/1e-4``, ``w_in = tau_syn/1e-4``. It needs ``v_leak == v_reset`` (snntorch starts at
  its reset value); when the threshold differs between neurons the factor ``k*r/(v_th - v_reset)``
  is folded into the preceding ``Linear`` weights instead. snntorch's importer has no ``Conv1d``,
  ``SumPool2d``, ``LI`` or ``CubaLI`` (it raises "Unknown node type"), and builds ``Flatten`` with
  NIR's dims as torch dims, flattening the batch, so these raise. Its ``IF`` import is a ``Leaky``
  with ``beta = 0.9``.
- ``"norse"``: norse's ``from_nir`` defaults to ``dt = 1e-3`` s, ignores ``r`` of ``LIF``,
  ignores ``v_reset`` (resets to 0), starts every neuron at ``v_leak`` and in ``CubaLIF`` lets
  the synaptic current leak towards the membrane's ``v_leak`` too. The preset writes
  ``u = (v - v_reset)/r`` for ``LIF`` (``r = 1``, ``v_leak' = (v_leak - v_reset)/r``,
  threshold ``(v_th - v_reset)/r``) and, for ``CubaLIF``, needs ``v_leak == v_reset`` and writes
  ``w_in = 1/(1 - alpha')``; for ``IF`` it writes ``r = 1``, ``v_reset = 0`` and the threshold
  ``(v_th - v_reset)/r`` (:mod:`spikeforge.hardware._nir_if`). norse imports no ``Conv1d``,
  ``AvgPool2d``, ``LI`` or ``CubaLI``,
  and has the same ``Flatten`` problem, so these raise (norse 1.1.0 drops an ``LI`` node without
  a word: its graph runs with the layer left out).

**Reading peers' exports.** ``from_nir(graph, source="snntorch")`` reads snntorch's
``export_to_nir`` graphs as forward Euler at 0.1 ms (what snntorch's ``beta = 1 - dt/tau``, ``r =
tau/dt`` and ``w_in = tau_syn/dt`` encode), recurrent ``RLeaky``/``RSynaptic`` subgraphs included.
``source="norse"`` reads ``norse.torch.to_nir`` graphs as forward Euler at 1 ms; norse writes
``dt / tau_mem_inv`` (that is ``dt * tau``) as ``tau``, so the true time constant is ``tau / 1e-3``,
and its ``LIFCell`` adds the input to the current unscaled (read as a jump of ``w_in * x``), its
``IAFCell`` to the membrane (``IF`` read as a jump of ``r * x``). Both
exporters copy the sample's batch dimension of 1 into the Input shape, which is dropped. Neither
records the reset: snntorch writes ``v_reset = 0`` for its default subtractive ``Leaky`` (and
nothing about ``Synaptic(reset_delay=True)``, whose zero reset also drops the next step's input),
and norse drops ``v_reset``; such models do not run the same anywhere after export.

**Graphs that are not chains** (branches, sums, recurrent cycles) import as a
:class:`NIRGraphModule`, which runs one node after the other per step; an edge that closes a cycle
carries the previous step's value. It exports back with :func:`to_nir`.

Example:
    >>> import torch, spikeforge as sf
    >>> from spikeforge.hardware import to_nir, from_nir
    >>> net = sf.Sequential(torch.nn.Linear(4, 8), sf.neurons.LIF(8, tau_mem=10.0))
    >>> graph = to_nir(net, dt=1.0)
    >>> sorted(graph.nodes), f"tau = {graph.nodes['1'].tau[0]:.4g} s", graph.metadata["dt"]
    (['0', '1', 'input', 'output'], 'tau = 0.01 s', 0.001)
    >>> net2 = from_nir(graph)
    >>> x = torch.rand(20, 2, 4)
    >>> bool(torch.equal(net(x)[0], net2(x)[0]))
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ParameterError, ShapeError, UnsupportedExportError
from ..neurons.base import NeuronModule
from ..neurons.integrate_fire import IF
from ..neurons.li import LI
from ..neurons.lif import LIF
from ..plasticity.delays import FixedDelay, LearnableDelay
from ._nir_common import IMPORTER_DT_S, Importer, Integrator, Source, _import_nir
from ._nir_export import (
    _NO_LI_IMPORT,
    _check_representable,
    _export_dt,
    _export_input_shape,
    _graph_metadata,
    _model_dtype,
    _neuron_of,
    _write_delay,
    _write_neuron,
    _write_stateless,
)
from ._nir_graph import NIRGraphModule, NIRGraphState
from ._nir_if import write_if
from .mpbn_fold import fold_mpbn, has_mpbn

__all__ = ["to_nir", "from_nir", "NIRGraphModule", "NIRGraphState", "IMPORTER_DT_S"]


def to_nir(
    model: nn.Module,
    dt: float | None = None,
    *,
    importer: Importer | None = None,
    input_shape: Sequence[int] | None = None,
    extra_map: Mapping[type, Callable[[nn.Module], Any]] | None = None,
) -> Any:
    """Export a feedforward spikeforge model to a ``nir.NIRGraph``.

    Args:
        model: an :class:`~spikeforge.Sequential` (any ``nn.Sequential``) of the modules in the
            module docstring's table, a single such module, or a :class:`NIRGraphModule`.
        dt: time step in ms the model runs at; must equal every neuron's ``dt`` (default: theirs).
        importer: ``None`` for the faithful graph, or ``"snntorch"`` / ``"norse"`` for a graph
            that importer runs with spikeforge's spikes (see the module docstring).
        input_shape: feature shape of the input, without time and batch (``(C, H, W)``); needed
            when the first module does not fix it (a convolution or a pooling layer).
        extra_map: ``{module type: function(module) -> nir node}`` for further stateless modules.

    Returns:
        a ``nir.NIRGraph`` with ``input``, one node per module (named as in the Sequential) and
        ``output``, chained; write it with ``nir.write(path, graph)``.

    Raises:
        UnsupportedExportError: a module NIR (or the chosen importer) cannot represent; the
            message names the module and the reason.
        ParameterError: ``dt`` different from a neuron's, an unknown importer, a missing
            ``input_shape``.
        MissingDependencyError: nir is not installed.
    """
    nir_lib = _import_nir()
    if importer not in (None, "snntorch", "norse"):
        raise ParameterError(f"importer must be None, 'snntorch' or 'norse', got {importer!r}")
    if isinstance(model, NIRGraphModule):
        if importer is not None:
            raise UnsupportedExportError(
                f"importer={importer!r} presets cover chains (Sequential); a NIRGraphModule is exported "
                "faithfully only (importer=None)"
            )
        return model.to_nir(dt)
    if has_mpbn(model):  # MPBN folds exactly into per-neuron LIF thresholds (NIR v_threshold)
        model = fold_mpbn(model)
    if isinstance(model, nn.Sequential):
        named = [(name, m) for name, m in model.named_children()]
    else:
        named = [("0", model)]
    if not named:
        raise ParameterError("to_nir got an empty model")
    for idx, (name, module) in enumerate(named):  # what NIR cannot represent, before anything else
        if isinstance(module, NeuronModule):
            _check_representable(module, f"module {name!r} ({type(module).__name__}, position {idx})")
    dt = _export_dt(named, dt)
    integrators = {m.integrator for _, m in named if isinstance(m, (LIF, LI))}
    if len(integrators) > 1:
        raise UnsupportedExportError(
            f"to_nir records one integrator per graph; this model mixes {sorted(integrators)}"
        )
    integrator = integrators.pop() if integrators else "exact"
    if importer is not None:
        for idx, (name, module) in enumerate(named):
            if isinstance(module, LI):
                raise UnsupportedExportError(
                    f"module {name!r} (LI, position {idx}): the {importer} importer cannot run a leaky "
                    f"integrator: {_NO_LI_IMPORT[importer]}; export with importer=None (NIR "
                    f"{'CubaLI' if module.has_syn else 'LI'}) and read the membrane with a tool that "
                    "imports it, or end the model with a spiking layer"
                )
    shape = _export_input_shape(named, input_shape)

    nodes: dict[str, Any] = {"input": nir_lib.Input(input_type=np.array(shape))}
    order: list[str] = []
    cur = tuple(shape)
    dtype = _model_dtype(model)
    for idx, (name, module) in enumerate(named):
        where = f"module {name!r} ({type(module).__name__}, position {idx})"
        if isinstance(module, (nn.Identity, nn.Dropout)):
            continue
        if name in ("input", "output"):
            raise UnsupportedExportError(f"{where}: the node names 'input' and 'output' are reserved")
        if isinstance(module, NeuronModule):
            if tuple(module.shape) != cur:
                raise ShapeError(f"{where} has shape {list(module.shape)} but receives {list(cur)}")
            if isinstance(module, IF):
                node = write_if(nir_lib, module, importer, dt, where)
            else:
                neuron = _neuron_of(module, name, where, dt)
                prev = order[-1] if order else None
                node = _write_neuron(nir_lib, neuron, importer, dt, nodes, prev, where)
        elif isinstance(module, FixedDelay):
            node = _write_delay(nir_lib, module, cur, importer, dt, where)
        elif isinstance(module, LearnableDelay):
            raise UnsupportedExportError(
                f"{where}: learnable per-synapse delays have no NIR node (NIR's Delay delays each channel "
                "of its input); after training, round them (LearnableDelay.rounded_delays()) into "
                "spikeforge.circuits projections or, where they depend on the output channel only, into "
                "nn.Linear followed by an element-wise FixedDelay [n], which exports as NIR Delay"
            )
        else:
            node = _write_stateless(nir_lib, module, cur, importer, where, extra_map)
            with torch.no_grad():
                probe = torch.zeros((1, *cur), dtype=dtype)
                try:
                    cur = tuple(module(probe).shape[1:])
                except RuntimeError as e:
                    raise ShapeError(f"{where} does not accept input of shape {list(cur)}: {e}") from e
        nodes[name] = node
        order.append(name)
    nodes["output"] = nir_lib.Output(output_type=np.array(cur))
    chain = ["input", *order, "output"]
    edges = list(zip(chain[:-1], chain[1:]))
    return nir_lib.NIRGraph(nodes=nodes, edges=edges, metadata=_graph_metadata(dt, integrator, importer))


def from_nir(
    graph: Any,
    dt: float | None = None,
    *,
    source: Source | None = None,
    integrator: Integrator | None = None,
    dtype: torch.dtype | None = None,
    extra_map: Mapping[type, Callable[[Any], nn.Module]] | None = None,
) -> nn.Module:
    """Build a spikeforge model from a NIR graph or ``.nir`` file.

    A chain ``input -> ... -> output`` becomes a :class:`~spikeforge.Sequential`; any other graph
    (branches, recurrent cycles, nested subgraphs) a :class:`NIRGraphModule`, which runs the nodes
    step by step and feeds each edge that closes a cycle with the previous step's value.

    Args:
        graph: a ``nir.NIRGraph``, or the path of a file written by ``nir.write``.
        dt: time step in ms. Default: the graph's ``metadata["dt"]`` (seconds, as written by
            :func:`to_nir`), or the source's step (snntorch 0.1 ms, norse 1 ms).
        source: the convention the graph was written in: ``"spikeforge"`` / ``"nir"`` (the
            ODEs as NIR defines them; the default), ``"snntorch"`` (``export_to_nir``) or
            ``"norse"`` (``norse.torch.to_nir``); see the module docstring.
        integrator: ``"exact"`` or ``"euler"``. Default: the graph's metadata, ``"euler"`` for
            snntorch and norse, else ``"exact"``.
        dtype: dtype of the parameters; default: that of the graph's weights (float64 if they
            are float64, else float32).
        extra_map: ``{nir node type: function(node) -> nn.Module}`` for further stateless nodes.

    Raises:
        UnsupportedExportError: a node type spikeforge cannot run (the message names it), or
            metadata asking for a reset or initial state spikeforge does not have.
        ParameterError: a missing node, a NaN or out-of-range parameter, a malformed file.
        ShapeError: parameters or edges whose shapes do not fit.
        MissingDependencyError: nir is not installed.
    """
    from ._nir_import import build

    return build(graph, dt, source, integrator, dtype, extra_map)
