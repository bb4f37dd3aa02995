"""``NIRGraphModule``: a NIR graph that is not a chain (branches, sums, recurrent cycles), run
step by step; built by :func:`spikeforge.hardware.from_nir`."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ShapeError, UnsupportedExportError
from ..neurons.base import NeuronModule
from ..neurons.li import LI
from ..neurons.lif import LIF
from ._nir_common import _import_nir, _np
from ._nir_export import _export_dt, _graph_metadata, _neuron_of, _write_neuron, _write_stateless

__all__ = ["NIRGraphModule", "NIRGraphState"]


def _module_keys(names: list[str]) -> list[str]:
    keys = [n.replace(".", "_") or "_" for n in names]
    if len(set(keys)) != len(keys):
        return [str(i) for i in range(len(names))]
    return keys


class _Scale(nn.Module):
    """NIR ``Scale``: ``y = x * scale`` element-wise."""

    scale: Tensor

    def __init__(self, scale: Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", scale)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


class _Threshold(nn.Module):
    """NIR ``Threshold``: ``y = H(x - threshold)``, spikes in x's dtype (no surrogate)."""

    threshold: Tensor

    def __init__(self, threshold: Tensor) -> None:
        super().__init__()
        self.register_buffer("threshold", threshold)

    def forward(self, x: Tensor) -> Tensor:
        return (x > self.threshold).to(x.dtype)


class NIRGraphState(NamedTuple):
    """State of a :class:`NIRGraphModule`: each neuron node's state, and the previous step's
    output of each node that feeds a recurrent edge."""

    neurons: dict[str, Any]
    previous: dict[str, Tensor]


class NIRGraphModule(nn.Module):
    """A NIR graph that is not a chain (branches, sums, recurrent cycles), run step by step.

    Each step runs the nodes in the topological order of the forward edges; a node's input is the
    sum of its incoming edges, and an edge that closes a cycle carries its source's output from
    the previous step (zeros at the first step). Stateless modules see ``[B, *features]``.

    Shape:
        ``forward``: ``[T, B, *features]`` in and out; ``step``: ``[B, *features]``.
    """

    def __init__(
        self,
        *,
        modules: dict[str, nn.Module],
        edges: list[tuple[str, str]],
        input_name: str,
        output_name: str,
        order: list[str],
        back_edges: set[tuple[str, str]],
        shapes: dict[str, tuple[int, ...]],
        input_shape: tuple[int, ...],
    ) -> None:
        super().__init__()
        self._keys = dict(zip(modules, _module_keys(list(modules))))
        self.nodes = nn.ModuleDict({self._keys[n]: m for n, m in modules.items()})
        self.edges = list(edges)
        self.input_name, self.output_name = input_name, output_name
        self.order = [n for n in order if n not in (input_name, output_name)]
        self.back_edges = set(back_edges)
        self.shapes = dict(shapes)
        self.input_shape = tuple(input_shape)
        self._fwd = {n: [a for a, b in edges if b == n and (a, b) not in back_edges] for n in order}
        self._back = {n: [a for a, b in edges if b == n and (a, b) in back_edges] for n in order}
        self._recurrent_sources = sorted({a for a, _ in back_edges})

    def module(self, name: str) -> nn.Module:
        """The module of NIR node ``name``."""
        return self.nodes[self._keys[name]]

    def init_state(
        self, batch_shape: tuple[int, ...], *, dtype: torch.dtype | None = None, device: Any = None
    ) -> NIRGraphState:
        """Every neuron at rest and every recurrent edge at zero."""
        dtype = dtype or torch.get_default_dtype()
        neurons = {
            n: self.module(n).init_state(batch_shape, dtype=dtype, device=device)  # type: ignore[operator]
            for n in self.order
            if isinstance(self.module(n), NeuronModule)
        }
        prev = {
            n: torch.zeros((*batch_shape, *self.shapes[n]), dtype=dtype, device=device)
            for n in self._recurrent_sources
        }
        return NIRGraphState(neurons, prev)

    def step(self, x: Tensor, state: NIRGraphState | None = None) -> tuple[Tensor, NIRGraphState]:
        """One step: ``x`` is ``[B, *features]``."""
        if tuple(x.shape[1:]) != self.input_shape:
            want = ", ".join(map(str, self.input_shape))
            raise ShapeError(f"NIRGraphModule expects x of shape [B, {want}], got {list(x.shape)}")
        if state is None:
            state = self.init_state(tuple(x.shape[:1]), dtype=x.dtype, device=x.device)
        outputs: dict[str, Tensor] = {self.input_name: x}
        neurons = dict(state.neurons)
        for name in [*self.order, self.output_name]:
            parts = [outputs[p] for p in self._fwd[name]] + [state.previous[p] for p in self._back[name]]
            inp = parts[0]
            for p in parts[1:]:
                inp = inp + p
            if name == self.output_name:
                outputs[name] = inp
                break
            module = self.module(name)
            if isinstance(module, NeuronModule):
                outputs[name], neurons[name] = module.step(inp, neurons[name])
            else:
                outputs[name] = module(inp)
        previous = {n: outputs[n] for n in self._recurrent_sources}
        return outputs[self.output_name], NIRGraphState(neurons, previous)

    def forward(self, x: Tensor, state: NIRGraphState | None = None) -> tuple[Tensor, NIRGraphState]:  # type: ignore[override]
        """Run over ``x`` of shape ``[T, B, *features]``; returns ``(outputs, final_state)``."""
        if x.dim() < 3:
            raise ShapeError(f"NIRGraphModule expects x of shape [T, B, *features], got {list(x.shape)}")
        outs = []
        for t in range(x.shape[0]):
            y, state = self.step(x[t], state)
            outs.append(y)
        assert state is not None
        return torch.stack(outs), state

    def to_nir(self, dt: float | None = None) -> Any:
        """Export back to NIR (the faithful mapping, same node names and edges)."""
        nir_lib = _import_nir()
        named = [(n, self.module(n)) for n in self.order]
        dt = _export_dt(named, dt)
        integrators = {m.integrator for _, m in named if isinstance(m, (LIF, LI))}
        if len(integrators) > 1:
            raise UnsupportedExportError(
                f"to_nir records one integrator per graph; this model mixes {sorted(integrators)}"
            )
        nodes: dict[str, Any] = {self.input_name: nir_lib.Input(input_type=np.array(self.input_shape))}
        for idx, (name, m) in enumerate(named):
            where = f"node {name!r} ({type(m).__name__}, position {idx})"
            if isinstance(m, NeuronModule):
                nodes[name] = _write_neuron(
                    nir_lib, _neuron_of(m, name, where, dt), None, dt, nodes, None, where
                )
            elif isinstance(m, _Scale):
                nodes[name] = nir_lib.Scale(scale=_np(m.scale))
            elif isinstance(m, _Threshold):
                nodes[name] = nir_lib.Threshold(threshold=_np(m.threshold))
            else:
                in_shape = self.shapes[next(a for a, b in self.edges if b == name)]
                nodes[name] = _write_stateless(nir_lib, m, in_shape, None, where, None)
        nodes[self.output_name] = nir_lib.Output(output_type=np.array(self.shapes[self.output_name]))
        meta = _graph_metadata(dt, integrators.pop() if integrators else "exact", None)
        return nir_lib.NIRGraph(nodes=nodes, edges=list(self.edges), metadata=meta, type_check=False)

    def extra_repr(self) -> str:
        back = sorted(self.back_edges)
        return f"input={self.input_name!r}, output={self.output_name!r}, recurrent_edges={back}"
