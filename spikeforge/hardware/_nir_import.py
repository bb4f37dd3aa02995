"""The import half of :mod:`spikeforge.hardware.nir`: reading, validating and planning a NIR
graph, and building spikeforge modules from its nodes. Every malformed input raises a
spikeforge error that names the node (see :func:`spikeforge.hardware.from_nir`)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ParameterError, ShapeError, UnsupportedExportError
from ..neurons.li import LI
from ..neurons.lif import LIF
from ..sequential import Sequential
from ._nir_common import IMPORTER_DT_S, _import_nir, _w_in
from ._nir_graph import NIRGraphModule, _module_keys, _Scale, _Threshold
from ._nir_if import read_if

_MAX_DEPTH = 16  # nested subgraphs accepted on import


class _Reading(NamedTuple):
    """How a graph's continuous-time parameters become a discrete spikeforge model."""

    source: str
    dt: float  # ms
    integrator: str
    tau_scale: float  # a NIR tau times this is tau in ms
    w_in_jump: bool  # True: the synapse jumps by w_in * x (norse); False: w_in as in the ODE


_KNOWN = (
    "Input",
    "Output",
    "Affine",
    "Linear",
    "Conv1d",
    "Conv2d",
    "Flatten",
    "AvgPool2d",
    "SumPool2d",
    "Scale",
    "Threshold",
    "LIF",
    "CubaLIF",
    "LI",
    "CubaLI",
    "IF",
    "Delay",
    "NIRGraph",
)
_NO_MODULE = {
    "I": "spikeforge has no integrator neuron module yet",
}


def build(
    graph: Any,
    dt: float | None,
    source: str | None,
    integrator: str | None,
    dtype: torch.dtype | None,
    extra_map: Mapping[type, Callable[[Any], nn.Module]] | None,
) -> nn.Module:
    """The work of :func:`spikeforge.hardware.from_nir` (see there)."""
    nir_lib = _import_nir()
    g = _load(nir_lib, graph)
    nodes, edges = _inline_subgraphs(nir_lib, g, "", 0)
    reading = _reading(getattr(g, "metadata", None), dt, source, integrator)
    plan = _plan(nodes, edges, extra_map, peer=reading.source in ("snntorch", "norse"))
    if dtype is None:  # the weights' dtype (preset graphs keep neuron parameters in float64)
        weighted = [n for n in plan.order if getattr(nodes[n], "weight", None) is not None]
        dtype = (
            torch.float64 if any(_has_float64(nodes[n]) for n in weighted or plan.order) else torch.float32
        )
    elif dtype not in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        raise ParameterError(f"dtype must be a floating torch dtype, got {dtype!r}")
    if not plan.chain:
        delays = [n for n in plan.order if _kind(nodes[n]) == "Delay"]
        if delays:
            raise UnsupportedExportError(
                f"from_nir: node {delays[0]!r} is a Delay inside a graph that is not a chain; spikeforge "
                "imports Delay nodes in feedforward chains only (as FixedDelay in a Sequential)"
            )
    modules: dict[str, nn.Module] = {}
    for name in plan.order:
        if name in (plan.input, plan.output):
            continue
        modules[name] = _import_node(nodes[name], name, plan.in_shape[name], reading, dtype, extra_map)
    if plan.chain:
        names = [n for n in plan.order if n not in (plan.input, plan.output)]
        seq = Sequential()
        for i, (n, key) in enumerate(zip(names, _module_keys(names))):
            seq.add_module(key if key else str(i), modules[n])
        return seq
    return NIRGraphModule(
        modules=modules,
        edges=edges,
        input_name=plan.input,
        output_name=plan.output,
        order=plan.order,
        back_edges=plan.back_edges,
        shapes=plan.out_shape,
        input_shape=plan.out_shape[plan.input],
    )


# ------------------------------------------------------------------ loading


def _load(nir_lib: Any, graph: Any) -> Any:
    if isinstance(graph, (str, os.PathLike)):
        path = os.fspath(graph)
        if not os.path.isfile(path):
            raise ParameterError(f"from_nir: no NIR file at {path!r}")
        _prescan(nir_lib, path)
        try:
            return nir_lib.read(path, type_check=False)
        except AssertionError as e:
            msg = str(e) or "an internal check failed"
            cls = ShapeError if "shape" in msg.lower() else ParameterError
            raise cls(f"from_nir: nir could not read {path!r}: {msg}") from e
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OSError) as e:
            raise ParameterError(
                f"from_nir: {path!r} is not a well-formed NIR file (nir raised {type(e).__name__}: {e})"
            ) from e
    if isinstance(graph, nir_lib.NIRGraph):
        return graph
    if isinstance(graph, nir_lib.NIRNode):
        raise ParameterError(
            f"from_nir expects a nir.NIRGraph, got a single {type(graph).__name__} node; wrap it with "
            "nir.NIRGraph.from_list(node)"
        )
    raise ParameterError(
        f"from_nir expects a nir.NIRGraph or the path of a .nir file, got {type(graph).__name__}"
    )


def _prescan(nir_lib: Any, path: str) -> None:
    """Check the file's node types before nir parses it, so unknown types and hostile nesting
    give a clear error instead of nir's assertion or a recursion error."""
    import h5py

    known = set(_KNOWN) | set(_NO_MODULE)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ParameterError(f"from_nir: {path!r} is not an HDF5 NIR file ({e})") from e
    with f:
        if "node" not in f or not isinstance(f["node"], h5py.Group):
            raise ParameterError(f"from_nir: {path!r} has no 'node' group; it was not written by nir.write")

        def walk(group: Any, where: str, depth: int) -> None:
            if depth > _MAX_DEPTH:
                raise ParameterError(
                    f"from_nir: {path!r} nests subgraphs deeper than {_MAX_DEPTH} at {where!r}"
                )
            if "type" not in group:
                raise ParameterError(f"from_nir: node {where!r} in {path!r} has no 'type'")
            kind = group["type"][()]
            kind = kind.decode("utf8", "replace") if isinstance(kind, bytes) else str(kind)
            if kind not in known:
                raise UnsupportedExportError(
                    f"from_nir: node {where!r} in {path!r} has type {kind!r}, which is not a NIR node type "
                    f"spikeforge knows ({', '.join(sorted(known))})"
                )
            if kind == "NIRGraph":
                if "nodes" not in group or not isinstance(group["nodes"], h5py.Group):
                    raise ParameterError(f"from_nir: graph {where!r} in {path!r} has no 'nodes'")
                if "edges" not in group:
                    raise ParameterError(f"from_nir: graph {where!r} in {path!r} has no 'edges'")
                for key, child in group["nodes"].items():
                    if not isinstance(child, h5py.Group):
                        raise ParameterError(
                            f"from_nir: node {where + '/' + key!r} in {path!r} is not a group"
                        )
                    walk(child, f"{where}/{key}" if where else key, depth + 1)

        walk(f["node"], "", 0)


def _inline_subgraphs(
    nir_lib: Any, g: Any, prefix: str, depth: int
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Flatten nested NIRGraph nodes (snntorch writes recurrent layers as subgraphs) into one
    level, naming inner nodes ``outer.inner`` and wiring the subgraph's Input/Output through."""
    if depth > _MAX_DEPTH:
        raise ParameterError(f"from_nir: subgraphs nested deeper than {_MAX_DEPTH}")
    raw_nodes = getattr(g, "nodes", None)
    raw_edges = getattr(g, "edges", None)
    if not isinstance(raw_nodes, Mapping) or raw_nodes is None:
        raise ParameterError(f"from_nir: graph {prefix or '<root>'!r} has no nodes dictionary")
    try:
        edges = [(str(a), str(b)) for a, b in list(raw_edges or [])]
    except (TypeError, ValueError):
        raise ParameterError(
            f"from_nir: graph {prefix or '<root>'!r} has malformed edges {raw_edges!r}"
        ) from None
    nodes: dict[str, Any] = {}
    for key, node in raw_nodes.items():
        if not isinstance(key, str) or not key:
            raise ParameterError(f"from_nir: node names must be non-empty strings, got {key!r}")
        nodes[prefix + key] = node
    edges = [(prefix + a, prefix + b) for a, b in edges]
    for key in list(nodes):
        node = nodes[key]
        if not isinstance(node, nir_lib.NIRGraph):
            continue
        inner_nodes, inner_edges = _inline_subgraphs(nir_lib, node, key + ".", depth + 1)
        ins = [n for n, v in inner_nodes.items() if isinstance(v, nir_lib.Input)]
        outs = [n for n, v in inner_nodes.items() if isinstance(v, nir_lib.Output)]
        if len(ins) != 1 or len(outs) != 1:
            raise UnsupportedExportError(
                f"from_nir: subgraph {key!r} must have exactly one Input and one Output node "
                f"(has {len(ins)} and {len(outs)})"
            )
        (sub_in,), (sub_out,) = ins, outs
        after_in = [b for a, b in inner_edges if a == sub_in]
        before_out = [a for a, b in inner_edges if b == sub_out]
        del nodes[key]
        nodes.update({n: v for n, v in inner_nodes.items() if n not in (sub_in, sub_out)})
        inner = [(a, b) for a, b in inner_edges if a != sub_in and b != sub_out]
        rewired: list[tuple[str, str]] = []
        for a, b in edges:
            if b == key and a == key:
                rewired += [(x, y) for x in before_out for y in after_in]
            elif b == key:
                rewired += [(a, y) for y in after_in]
            elif a == key:
                rewired += [(x, b) for x in before_out]
            else:
                rewired.append((a, b))
        edges = rewired + inner
    return nodes, edges


def _reading(metadata: Any, dt: float | None, source: str | None, integrator: str | None) -> _Reading:
    meta = metadata if isinstance(metadata, Mapping) else {}
    if source not in (None, "spikeforge", "nir", "snntorch", "norse"):
        raise ParameterError(
            f"source must be None, 'spikeforge', 'nir', 'snntorch' or 'norse', got {source!r}"
        )
    if integrator not in (None, "exact", "euler"):
        raise ParameterError(f"integrator must be 'exact' or 'euler', got {integrator!r}")
    if dt is not None and (
        isinstance(dt, bool) or not isinstance(dt, (int, float)) or not (math.isfinite(dt) and dt > 0)
    ):
        raise ParameterError(f"dt must be a finite number > 0 ms, got {dt!r}")
    src = source or "nir"
    if src in ("snntorch", "norse"):
        dt_ms = float(dt) if dt is not None else IMPORTER_DT_S[src] * 1000.0
        scale = 1000.0 if src == "snntorch" else 1000.0 / IMPORTER_DT_S["norse"]
        return _Reading(src, dt_ms, integrator or "euler", scale, src == "norse")
    reset = meta.get("reset", "to_value")
    if _text(reset) != "to_value":
        raise UnsupportedExportError(
            f"from_nir: the graph's metadata asks for reset={_text(reset)!r}; spikeforge reads NIR "
            "neurons as resetting to v_reset ('to_value')"
        )
    meta_int = meta.get("integrator")
    if integrator is None and meta_int is not None:
        integrator = _text(meta_int)
        if integrator not in ("exact", "euler"):
            raise ParameterError(
                f"from_nir: metadata integrator must be 'exact' or 'euler', got {integrator!r}"
            )
    if dt is None:
        if "dt" not in meta:
            raise ParameterError(
                "from_nir: the graph records no dt in its metadata; pass dt= (the step in ms to simulate "
                "with)"
            )
        try:
            dt_s = float(np.asarray(meta["dt"]).reshape(()))
        except (TypeError, ValueError):
            raise ParameterError(f"from_nir: metadata dt must be a number (s), got {meta['dt']!r}") from None
        if not (math.isfinite(dt_s) and dt_s > 0):
            raise ParameterError(f"from_nir: metadata dt must be a finite number > 0 s, got {dt_s!r}")
        dt_ms = dt_s * 1000.0
        if "dt_ms" in meta:  # the exact value, when it agrees with dt in seconds
            try:
                hint = float(np.asarray(meta["dt_ms"]).reshape(()))
                if hint / 1000.0 == dt_s:
                    dt_ms = hint
            except (TypeError, ValueError):
                pass
    else:
        dt_ms = float(dt)
    return _Reading(
        "spikeforge" if src == "spikeforge" else "nir", dt_ms, integrator or "exact", 1000.0, False
    )


def _text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf8", "replace")
    if isinstance(v, np.ndarray) and v.shape == ():
        return _text(v.item())
    return str(v)


# ------------------------------------------------------------------ validation and planning


class _Plan(NamedTuple):
    input: str
    output: str
    order: list[str]  # topological order of the forward edges, input first
    back_edges: set[tuple[str, str]]  # edges that close a cycle: they carry the previous step
    in_shape: dict[str, tuple[int, ...]]
    out_shape: dict[str, tuple[int, ...]]
    chain: bool


def _kind(node: Any) -> str:
    return type(node).__name__


def _plan(
    nodes: dict[str, Any],
    edges: list[tuple[str, str]],
    extra_map: Mapping[type, Any] | None,
    *,
    peer: bool = False,
) -> _Plan:
    """Validate the graph and work out the execution order, the recurrent edges and every shape.

    ``peer``: accept the batch dimension of 1 that snntorch's and norse's exporters copy from
    their sample input into the Input/Output shapes, when the first node shows it is not a
    feature dimension."""
    for name, node in nodes.items():
        kind = _kind(node)
        if extra_map is not None and type(node) in extra_map:
            continue
        if kind in _NO_MODULE:
            raise UnsupportedExportError(f"from_nir: node {name!r} is a NIR {kind}: {_NO_MODULE[kind]}")
        if kind not in _KNOWN:
            raise UnsupportedExportError(
                f"from_nir: node {name!r} has type {type(node).__module__}.{kind}, which spikeforge cannot "
                "import (pass extra_map={type: function} for a stateless node)"
            )
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise ParameterError(
                    f"from_nir: edge ({a!r}, {b!r}) refers to node {end!r}, which is not in the graph "
                    f"(nodes: {sorted(nodes)})"
                )
    if len(set(edges)) != len(edges):
        dup = next(e for e in edges if edges.count(e) > 1)
        raise ParameterError(f"from_nir: edge {dup!r} appears more than once")
    inputs = [n for n, v in nodes.items() if _kind(v) == "Input"]
    outputs = [n for n, v in nodes.items() if _kind(v) == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedExportError(
            f"from_nir: spikeforge imports graphs with exactly one Input and one Output node; this one has "
            f"{len(inputs)} Input ({inputs}) and {len(outputs)} Output ({outputs})"
        )
    inp, out = inputs[0], outputs[0]
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    pred: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        succ[a].append(b)
        pred[b].append(a)
    if pred[inp]:
        raise ParameterError(f"from_nir: the Input node {inp!r} has incoming edges from {pred[inp]}")
    if succ[out]:
        raise ParameterError(f"from_nir: the Output node {out!r} has outgoing edges to {succ[out]}")

    # depth-first search from the input: back edges close cycles, the rest is a DAG
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    post: list[str] = []
    stack: list[tuple[str, int]] = [(inp, 0)]
    state[inp] = 1
    while stack:
        node, i = stack.pop()
        if i < len(succ[node]):
            stack.append((node, i + 1))
            nxt = succ[node][i]
            if state.get(nxt) == 1:
                back.add((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, 0))
        else:
            state[node] = 2
            post.append(node)
    order = post[::-1]
    unreached = [n for n in nodes if n not in state]
    if unreached:
        raise ParameterError(f"from_nir: nodes {unreached} are not connected to the input {inp!r}")
    if out not in state:
        raise ParameterError(f"from_nir: the output {out!r} is not reachable from the input {inp!r}")

    in_shape: dict[str, tuple[int, ...]] = {}
    out_shape: dict[str, tuple[int, ...]] = {}
    for name in order:
        node = nodes[name]
        if name == inp:
            shape = _shape_of(node, "input_type", "input", name)
            if peer and len(shape) > 1 and shape[0] == 1 and _takes_flat(nodes, succ[name], shape[1:]):
                shape = shape[1:]
            in_shape[name] = out_shape[name] = shape
            continue
        fwd = [p for p in pred[name] if (p, name) not in back]
        shapes = {out_shape[p] for p in fwd}
        if len(shapes) != 1:
            detail = ", ".join(f"{p!r} gives {list(out_shape[p])}" for p in fwd)
            raise ShapeError(f"from_nir: the inputs of node {name!r} have different shapes: {detail}")
        (shape,) = shapes
        in_shape[name] = shape
        out_shape[name] = _node_out_shape(node, name, shape, extra_map, peer)
    for a, b in back:
        if out_shape[a] != in_shape[b]:
            raise ShapeError(
                f"from_nir: recurrent edge ({a!r}, {b!r}) carries shape {list(out_shape[a])} but {b!r} "
                f"receives {list(in_shape[b])}"
            )
    chain = (
        not back
        and all(len(pred[n]) == 1 for n in nodes if n != inp)
        and all(len(succ[n]) == 1 for n in nodes if n != out)
    )
    return _Plan(inp, out, order, back, in_shape, out_shape, chain)


def _shape_of(node: Any, attr: str, key: str, name: str) -> tuple[int, ...]:
    types = getattr(node, attr, None)
    value = types.get(key) if isinstance(types, Mapping) else None
    if value is None:
        raise ShapeError(f"from_nir: node {name!r} ({_kind(node)}) has no {attr}")
    try:
        arr = np.asarray(value)
        if arr.dtype.kind not in "iuf" or arr.ndim != 1:
            raise ValueError
        shape = tuple(int(s) for s in arr)
        if any(float(s) != float(t) for s, t in zip(shape, arr)):
            raise ValueError
    except (TypeError, ValueError):
        raise ShapeError(f"from_nir: node {name!r} has a malformed {attr} {value!r}") from None
    if not shape or any(s <= 0 for s in shape):
        raise ShapeError(f"from_nir: node {name!r} has {attr} {list(shape)}; sizes must be positive")
    return shape


def _arr(node: Any, field: str, name: str, *, allow_none: bool = False) -> np.ndarray:
    """A node's numeric field as an array, checked finite."""
    value = getattr(node, field, None)
    if value is None:
        if allow_none:
            return np.asarray(np.nan)
        raise ParameterError(f"from_nir: node {name!r} ({_kind(node)}) has no {field}")
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise ParameterError(
            f"from_nir: node {name!r}: {field} is not numeric ({type(value).__name__})"
        ) from None
    if arr.dtype.kind not in "biuf":
        raise ParameterError(f"from_nir: node {name!r}: {field} must be numeric, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not bool(np.isfinite(arr).all()):
        bad = "NaN" if bool(np.isnan(arr).any()) else "infinite"
        raise ParameterError(f"from_nir: node {name!r} ({_kind(node)}): {field} contains {bad} values")
    return arr


def _ints(node: Any, field: str, name: str, n: int, *, minimum: int) -> tuple[int, ...]:
    arr = np.atleast_1d(_arr(node, field, name))
    if arr.ndim != 1 or arr.size not in (1, n) or arr.dtype.kind not in "iuf":
        raise ParameterError(
            f"from_nir: node {name!r}: {field} must be an int or {n} ints, got {arr.tolist()}"
        )
    if not bool((arr == np.round(arr)).all()) or bool((arr < minimum).any()):
        raise ParameterError(
            f"from_nir: node {name!r}: {field} must be ints >= {minimum}, got {arr.tolist()}"
        )
    vals = tuple(int(v) for v in arr)
    return vals * n if len(vals) == 1 else vals


def _padding(node: Any, name: str, n: int) -> str | tuple[int, ...]:
    pad = getattr(node, "padding", None)
    if isinstance(pad, bytes):
        pad = pad.decode("utf8", "replace")
    if isinstance(pad, np.ndarray) and pad.dtype.kind in "SUO":
        pad = _text(pad)
    if isinstance(pad, str):
        if pad not in ("same", "valid"):
            raise ParameterError(
                f"from_nir: node {name!r}: padding must be 'same', 'valid' or ints, got {pad!r}"
            )
        return pad
    return _ints(node, "padding", name, n, minimum=0)


def _weight(node: Any, name: str, ndim: int) -> np.ndarray:
    w = _arr(node, "weight", name)
    if w.ndim != ndim:
        raise ShapeError(
            f"from_nir: node {name!r} ({_kind(node)}): weight must be {ndim}-D, got shape {list(w.shape)}"
        )
    if 0 in w.shape:
        raise ShapeError(f"from_nir: node {name!r}: weight has an empty dimension {list(w.shape)}")
    return w


def _takes_flat(nodes: dict[str, Any], succ: list[str], rest: tuple[int, ...]) -> bool:
    """Whether every successor is an Affine/Linear node taking exactly ``rest``."""
    for n in succ:
        w = getattr(nodes[n], "weight", None)
        if _kind(nodes[n]) not in ("Affine", "Linear") or w is None or len(rest) != 1:
            return False
        if tuple(np.shape(w))[-1:] != rest:
            return False
    return bool(succ)


def _node_out_shape(
    node: Any, name: str, shape: tuple[int, ...], extra_map: Mapping[type, Any] | None, peer: bool = False
) -> tuple[int, ...]:
    kind = _kind(node)
    if extra_map is not None and type(node) in extra_map:
        try:
            module = extra_map[type(node)](node)
            with torch.no_grad():
                return tuple(module(torch.zeros((1, *shape))).shape[1:])
        except RuntimeError as e:
            raise ShapeError(
                f"from_nir: node {name!r} ({kind}) does not accept input {list(shape)}: {e}"
            ) from e
    if kind == "Output":
        declared = getattr(node, "output_type", None)
        if isinstance(declared, Mapping) and declared.get("output") is not None:
            want = _shape_of(node, "output_type", "output", name)
            if want != shape and not (peer and want == (1, *shape)):
                raise ShapeError(
                    f"from_nir: the Output node {name!r} declares shape {list(want)} but receives "
                    f"{list(shape)}"
                )
        return shape
    if kind in ("Affine", "Linear"):
        w = _weight(node, name, 2)
        if shape != (w.shape[1],):
            raise ShapeError(
                f"from_nir: node {name!r} ({kind}) has weight {list(w.shape)} and expects input "
                f"[{w.shape[1]}], but receives {list(shape)}"
            )
        if kind == "Affine":
            b = _arr(node, "bias", name)
            if b.shape != (w.shape[0],):
                raise ShapeError(
                    f"from_nir: node {name!r}: bias must have shape [{w.shape[0]}], got {list(b.shape)}"
                )
        return (int(w.shape[0]),)
    if kind in ("Conv1d", "Conv2d"):
        d = 1 if kind == "Conv1d" else 2
        w = _weight(node, name, d + 2)
        groups = _ints(node, "groups", name, 1, minimum=1)[0]
        if len(shape) != d + 1 or shape[0] != w.shape[1] * groups or w.shape[0] % groups:
            raise ShapeError(
                f"from_nir: node {name!r} ({kind}) has weight {list(w.shape)} with groups={groups} and "
                f"receives {list(shape)}; it needs [{w.shape[1] * groups}, {', '.join(['L'] * d)}]"
            )
        b = _arr(node, "bias", name)
        if b.shape != (w.shape[0],):
            raise ShapeError(
                f"from_nir: node {name!r}: bias must have shape [{w.shape[0]}], got {list(b.shape)}"
            )
        _ints(node, "stride", name, d, minimum=1)
        _ints(node, "dilation", name, d, minimum=1)
        _padding(node, name, d)
        return _probe(_build_conv(node, name, shape, torch.float64), shape, name)
    if kind == "Flatten":
        start, end = (_ints(node, f, name, 1, minimum=-len(shape))[0] for f in ("start_dim", "end_dim"))
        n = len(shape)
        if not (-n <= start < n and -n <= end < n) or start % n > end % n:
            raise ShapeError(
                f"from_nir: node {name!r} (Flatten) has start_dim={start}, end_dim={end}, which do not fit "
                f"its input {list(shape)}"
            )
        first, last = start % n, end % n
        merged = int(np.prod(shape[first : last + 1]))
        return (*shape[:first], merged, *shape[last + 1 :])
    if kind in ("AvgPool2d", "SumPool2d"):
        if len(shape) != 3:
            raise ShapeError(f"from_nir: node {name!r} ({kind}) needs input [C, H, W], got {list(shape)}")
        return _probe(_build_pool(node, name), shape, name)
    if kind == "Delay":
        delay = _arr(node, "delay", name)
        if delay.shape != tuple(shape):
            raise ShapeError(
                f"from_nir: node {name!r} (Delay) has delays of shape {list(delay.shape)} but receives "
                f"{list(shape)}"
            )
        if bool((delay < 0).any()):
            raise ParameterError(f"from_nir: node {name!r} (Delay) has negative delays (min {delay.min()} s)")
        return shape
    if kind in ("Scale", "Threshold"):
        p = _arr(node, "scale" if kind == "Scale" else "threshold", name)
        _check_param_shape(p, shape, name, "scale" if kind == "Scale" else "threshold")
        return shape
    if kind in _LIF_FIELDS:
        _lif_arrays(node, name, shape)
        return shape
    if kind == "IF":  # its parameters are checked where it is built
        return shape
    raise UnsupportedExportError(f"from_nir: node {name!r} has type {kind}, which spikeforge cannot import")


def _probe(module: nn.Module, shape: tuple[int, ...], name: str) -> tuple[int, ...]:
    try:
        with torch.no_grad():
            y = module(torch.zeros((1, *shape), dtype=torch.float64))
    except RuntimeError as e:
        raise ShapeError(f"from_nir: node {name!r} cannot take input {list(shape)}: {e}") from e
    out = tuple(y.shape[1:])
    if not out or 0 in out:
        raise ShapeError(
            f"from_nir: node {name!r} turns input {list(shape)} into an empty output {list(out)}"
        )
    return out


def _check_param_shape(p: np.ndarray, shape: tuple[int, ...], name: str, field: str) -> None:
    if p.shape != shape and p.size != 1:
        raise ShapeError(
            f"from_nir: node {name!r}: {field} has shape {list(p.shape)} but the node receives "
            f"{list(shape)} (parameters are one per neuron, or one scalar)"
        )


_LIF_FIELDS = {  # the neuron nodes spikeforge imports, and their fields
    "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
    "CubaLIF": ("tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
    "LI": ("tau", "r", "v_leak"),
    "CubaLI": ("tau_mem", "tau_syn", "r", "v_leak", "w_in"),
}


def _lif_arrays(node: Any, name: str, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    kind = _kind(node)
    out: dict[str, np.ndarray] = {}
    for field in _LIF_FIELDS[kind]:
        a = _arr(node, field, name, allow_none=field in ("v_reset", "w_in"))
        if field in ("v_reset", "w_in") and a.dtype.kind == "f" and a.shape == () and math.isnan(float(a)):
            a = np.asarray(0.0 if field == "v_reset" else 1.0)
        _check_param_shape(a, shape, name, field)
        out[field] = a
    for field in ("tau", "tau_mem", "tau_syn"):
        if field in out and not bool((out[field] > 0).all()):
            raise ParameterError(
                f"from_nir: node {name!r} ({kind}): {field} must be > 0 s, got min {out[field].min()!r}"
            )
    if "v_threshold" not in out:  # LI, CubaLI: no threshold
        return out
    th, rs = np.broadcast_arrays(out["v_threshold"], out["v_reset"])
    if not bool((rs < th).all()):
        raise ParameterError(
            f"from_nir: node {name!r} ({kind}): v_reset must be < v_threshold for every neuron "
            f"(got v_reset max {np.max(out['v_reset'])!r}, v_threshold min {np.min(out['v_threshold'])!r})"
        )
    return out


def _has_float64(node: Any) -> bool:
    for field in (
        "weight",
        "bias",
        "tau",
        "tau_mem",
        "tau_syn",
        "r",
        "v_leak",
        "v_threshold",
        "v_reset",
        "scale",
    ):
        v = getattr(node, field, None)
        if isinstance(v, np.ndarray) and v.dtype == np.float64:
            return True
        if isinstance(v, Tensor) and v.dtype == torch.float64:
            return True
    return False


# ------------------------------------------------------------------ building modules


def _tensor(a: np.ndarray, dtype: torch.dtype) -> Tensor:
    return torch.as_tensor(np.array(a, copy=True)).to(dtype)


def _build_conv(node: Any, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> nn.Module:
    d = 1 if _kind(node) == "Conv1d" else 2
    w = _arr(node, "weight", name)
    groups = _ints(node, "groups", name, 1, minimum=1)[0]
    cls = nn.Conv1d if d == 1 else nn.Conv2d
    conv = torch.nn.utils.skip_init(
        cls,
        int(w.shape[1] * groups),
        int(w.shape[0]),
        tuple(int(k) for k in w.shape[2:]),
        stride=_ints(node, "stride", name, d, minimum=1),
        padding=_padding(node, name, d),
        dilation=_ints(node, "dilation", name, d, minimum=1),
        groups=groups,
        bias=True,
        dtype=dtype,
    )
    with torch.no_grad():
        conv.weight.copy_(_tensor(w, dtype))
        conv.bias.copy_(_tensor(_arr(node, "bias", name), dtype))
    return conv


def _build_pool(node: Any, name: str) -> nn.Module:
    kernel = _ints(node, "kernel_size", name, 2, minimum=1)
    stride = _ints(node, "stride", name, 2, minimum=1)
    padding = _ints(node, "padding", name, 2, minimum=0)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ParameterError(
            f"from_nir: node {name!r}: padding {padding} must be at most half the kernel {kernel}"
        )
    divisor = 1 if _kind(node) == "SumPool2d" else None
    return nn.AvgPool2d(
        (kernel[0], kernel[1]), (stride[0], stride[1]), (padding[0], padding[1]), divisor_override=divisor
    )


def _import_node(
    node: Any,
    name: str,
    shape: tuple[int, ...],
    reading: _Reading,
    dtype: torch.dtype,
    extra_map: Mapping[type, Callable[[Any], nn.Module]] | None,
) -> nn.Module:
    kind = _kind(node)
    if extra_map is not None and type(node) in extra_map:
        return extra_map[type(node)](node)
    if kind in ("Affine", "Linear"):
        w = _arr(node, "weight", name)
        lin = torch.nn.utils.skip_init(
            nn.Linear, int(w.shape[1]), int(w.shape[0]), bias=kind == "Affine", dtype=dtype
        )
        with torch.no_grad():
            lin.weight.copy_(_tensor(w, dtype))
            if lin.bias is not None:
                lin.bias.copy_(_tensor(_arr(node, "bias", name), dtype))
        return lin
    if kind in ("Conv1d", "Conv2d"):
        return _build_conv(node, name, shape, dtype)
    if kind == "Flatten":
        start, end = (_ints(node, f, name, 1, minimum=-len(shape))[0] for f in ("start_dim", "end_dim"))
        return nn.Flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end)
    if kind in ("AvgPool2d", "SumPool2d"):
        return _build_pool(node, name)
    if kind == "Delay":
        return _import_delay(node, name, reading)
    if kind == "Scale":
        return _Scale(_tensor(_arr(node, "scale", name), dtype))
    if kind == "Threshold":
        return _Threshold(_tensor(_arr(node, "threshold", name), dtype))
    if kind in _LIF_FIELDS:
        return _import_neuron(node, name, shape, reading, dtype)
    if kind == "IF":
        return read_if(node, name, shape, reading.source, reading.dt, dtype)
    raise UnsupportedExportError(f"from_nir: node {name!r} has type {kind}, which spikeforge cannot import")


def _import_delay(node: Any, name: str, reading: _Reading) -> nn.Module:
    """A NIR ``Delay`` (seconds) as an element-wise :class:`FixedDelay` of whole steps of dt."""
    from ..plasticity.delays import FixedDelay

    seconds = _arr(node, "delay", name).astype(np.float64)
    steps = np.round(seconds * 1000.0 / reading.dt)
    off = np.abs(steps - seconds * 1000.0 / reading.dt)
    if bool((off > 1e-6 * np.maximum(steps, 1.0)).any()):
        k = int(np.argmax(off))
        raise ParameterError(
            f"from_nir: node {name!r} (Delay): delay[{k}] = {seconds.flat[k]!r} s is not a whole number of "
            f"steps of dt = {reading.dt} ms; import with a dt that divides every delay"
        )
    return FixedDelay(torch.from_numpy(steps * reading.dt), dt=reading.dt)


def _tau_ms(tau_s: np.ndarray, hint: Any, reading: _Reading, dtype: torch.dtype) -> Tensor:
    """Time constants in ms: ``tau * 1000``, or the exact ms values the exporter recorded when
    they reproduce ``tau`` (ms / 1000 is not invertible in floating point)."""
    if reading.source in ("nir", "spikeforge") and hint is not None:
        h = np.asarray(hint)
        if (
            h.dtype == tau_s.dtype
            and h.shape == tau_s.shape
            and h.dtype.kind == "f"
            and bool(np.isfinite(h).all())
        ):
            ht = torch.as_tensor(h.copy())
            if torch.equal(ht / 1000.0, torch.as_tensor(tau_s.copy())):
                return ht.to(dtype)
    return (torch.as_tensor(tau_s.copy()).to(torch.float64) * reading.tau_scale).to(dtype)


def _import_neuron(
    node: Any, name: str, shape: tuple[int, ...], reading: _Reading, dtype: torch.dtype
) -> LIF | LI:
    """A ``LIF`` / ``CubaLIF`` node as :class:`LIF`, an ``LI`` / ``CubaLI`` node as :class:`LI`."""
    kind = _kind(node)
    a = _lif_arrays(node, name, shape)
    meta = getattr(node, "metadata", None)
    meta = meta if isinstance(meta, Mapping) else {}

    def t(field: str) -> Tensor:
        return _tensor(a[field], dtype)

    tau_mem = _tau_ms(a["tau" if "tau" in a else "tau_mem"], meta.get("tau_ms"), reading, dtype)
    v_leak, r = t("v_leak"), t("r")
    tau_syn = None
    if "tau_syn" in a:
        tau_syn = _tau_ms(a["tau_syn"], meta.get("tau_syn_ms"), reading, dtype)
        w_in = t("w_in")
        if reading.w_in_jump:  # the current jumps by w_in * x: fold w_in into r (i is linear)
            factor = w_in
        else:  # the ODE's jump is w_in * (1 - alpha) (exact) or w_in * dt / tau_syn (Euler)
            expected = _w_in(tau_syn, reading.dt, reading.integrator)
            factor = torch.where(w_in == expected, torch.ones_like(w_in), w_in / expected)
        if not bool((factor == 1).all()):
            r = r * factor
    _check_init(meta, "v_init", v_leak, name, "v_leak (rest)")
    _check_init(meta, "i_init", torch.zeros(()), name, "0")
    try:
        if kind in ("LI", "CubaLI"):
            return LI(
                shape,
                tau_mem=tau_mem,
                tau_syn=tau_syn,
                v_leak=v_leak,
                r=r,
                dt=reading.dt,
                integrator=reading.integrator,  # type: ignore[arg-type]
            )
        return LIF(
            shape,
            tau_mem=tau_mem,
            tau_syn=tau_syn,
            v_th=t("v_threshold"),
            v_reset=t("v_reset"),
            v_leak=v_leak,
            r=r,
            dt=reading.dt,
            integrator=reading.integrator,  # type: ignore[arg-type]
        )
    except (ParameterError, ShapeError) as e:
        raise type(e)(f"from_nir: node {name!r} ({kind}): {e}") from e


def _check_init(meta: Mapping[str, Any], key: str, rest: Tensor, name: str, what: str) -> None:
    if key not in meta:
        return
    try:
        init = torch.as_tensor(np.asarray(meta[key], dtype=np.float64)).to(rest.dtype)
        same = bool((init == rest).all())
    except (TypeError, ValueError, RuntimeError):
        raise ParameterError(f"from_nir: node {name!r}: metadata {key} is malformed") from None
    if not same:
        raise UnsupportedExportError(
            f"from_nir: node {name!r} asks for initial state {key}={init.flatten()[:4].tolist()}...; "
            f"spikeforge neurons start at rest ({key[0]} = {what})"
        )
