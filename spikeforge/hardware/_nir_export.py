"""The export half of :mod:`spikeforge.hardware.nir`: one NIR node per spikeforge module (neurons,
delays, stateless layers) and the graph's metadata. :func:`~spikeforge.hardware.nir.to_nir` (chains)
and :meth:`~spikeforge.hardware.nir.NIRGraphModule.to_nir` (graphs) both write with these, so this
module imports neither of theirs: ``nir -> _nir_import -> _nir_graph -> _nir_export ->
_nir_common``."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ParameterError, ShapeError, UnsupportedExportError
from ..neurons.base import NeuronModule
from ..neurons.integrate_fire import IF
from ..neurons.li import LI
from ..neurons.lif import LIF
from ..plasticity.delays import FixedDelay
from ._nir_common import IMPORTER_DT_S, _np, _w_in


@dataclass
class _Neuron:
    """A LIF or LI layer's parameters (ms, the model's dtype) and per-step factors (float64): the
    common input of the faithful and the preset writers. An LI layer has ``spiking=False`` (its
    ``v_th`` is +inf and ``v_reset`` 0, unused)."""

    name: str
    spiking: bool
    syn: bool
    tau_mem: Tensor
    tau_syn: Tensor | None
    v_leak: Tensor
    v_th: Tensor
    v_reset: Tensor
    r: Tensor
    k: Tensor  # membrane update fraction per step
    alpha: Tensor | None  # synaptic decay per step
    w_in: Tensor | None  # faithful CubaLIF input weight, model dtype


def _graph_metadata(dt: float, integrator: str, importer: str | None) -> dict[str, Any]:
    from .._version import __version__

    meta: dict[str, Any] = {
        "producer": "spikeforge",
        "spikeforge_version": __version__,
        "time_unit": "s",
        "reset": "to_value",
        "initial_state": "rest",
        "importer": importer or "nir",
    }
    if importer is None:
        meta.update(dt=dt / 1000.0, dt_ms=dt, integrator=integrator)
    else:  # the graph is the importer's discretisation: Euler at its fixed step
        meta.update(
            dt=IMPORTER_DT_S[importer],
            dt_ms=IMPORTER_DT_S[importer] * 1000.0,
            integrator="euler",
            source_dt_ms=dt,
            source_integrator=integrator,
        )
    return meta


def _export_dt(named: list[tuple[str, nn.Module]], dt: float | None) -> float:
    dts = {m.dt for _, m in named if isinstance(m, NeuronModule)}
    if dt is None:
        if not dts:
            raise ParameterError("to_nir needs dt (ms) for a model without neuron modules")
        if len(dts) > 1:
            raise ParameterError(f"the model's neurons run at different dt {sorted(dts)}; NIR records one dt")
        return dts.pop()
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not (math.isfinite(dt) and dt > 0):
        raise ParameterError(f"dt must be a finite number > 0 ms, got {dt!r}")
    for name, m in named:
        if isinstance(m, NeuronModule) and m.dt != dt:
            raise ParameterError(
                f"to_nir got dt={dt} ms but module {name!r} ({type(m).__name__}) runs at dt={m.dt} ms; "
                f"pass dt={m.dt} or rebuild the model at dt={dt}"
            )
    return float(dt)


def _export_input_shape(
    named: list[tuple[str, nn.Module]], input_shape: Sequence[int] | None
) -> tuple[int, ...]:
    if input_shape is not None:
        try:
            shape = tuple(int(s) for s in input_shape)
        except (TypeError, ValueError):
            raise ParameterError(f"input_shape must be a sequence of ints, got {input_shape!r}") from None
        if not shape or any(s <= 0 for s in shape):
            raise ParameterError(f"input_shape must be positive ints, got {input_shape!r}")
        return shape
    for _, m in named:
        if isinstance(m, (nn.Identity, nn.Dropout)):
            continue
        if isinstance(m, nn.Linear):
            return (m.in_features,)
        if isinstance(m, NeuronModule):
            return tuple(m.shape)
        if isinstance(m, FixedDelay) and not m.synaptic:
            return (m.n_in,)
        break
    first = next((type(m).__name__ for _, m in named if not isinstance(m, (nn.Identity, nn.Dropout))), "?")
    raise ParameterError(
        f"to_nir needs input_shape= (the input's feature shape, e.g. (C, H, W)) for a model that starts "
        f"with {first}"
    )


def _model_dtype(model: nn.Module) -> torch.dtype:
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            return t.dtype
    return torch.get_default_dtype()


_NO_LI_IMPORT = {  # what each importer does with NIR LI / CubaLI nodes (read from its source)
    "snntorch": "snntorch 1.0's import_nir maps no LI or CubaLI node (it raises 'Unknown node type')",
    "norse": "norse 1.1.0's from_nir maps no LI or CubaLI node and silently drops it from the graph",
}

_WHY_NOT = {
    "ALIF": "NIR has no adaptive threshold",
    "Izhikevich": "NIR has no Izhikevich node (quadratic membrane with a recovery variable)",
    "ProbabilisticNeuron": "NIR nodes are deterministic; a stochastic neuron has no NIR node",
}


def _check_representable(module: NeuronModule, where: str) -> None:
    kind = type(module).__name__
    if isinstance(module, LI):
        return  # no threshold, reset or refractory period: always representable
    if isinstance(module, IF):
        if module.reset != "to_value":
            raise UnsupportedExportError(
                f"{where} uses reset='subtract', which NIR cannot represent (NIR's IF resets to "
                "v_reset); rebuild it with reset='to_value'"
            )
        return
    if not isinstance(module, LIF):
        why = _WHY_NOT.get(kind, "NIR has no node for this neuron model")
        raise UnsupportedExportError(f"{where} cannot be exported to NIR: {why}")
    if module.reset != "to_value":
        raise UnsupportedExportError(
            f"{where} uses reset='subtract', which NIR cannot represent (NIR's LIF and CubaLIF reset "
            "to v_reset); rebuild it with reset='to_value'"
        )
    if bool((module.t_ref > 0).any()):
        raise UnsupportedExportError(
            f"{where} has a refractory period t_ref={module.t_ref.max().item()} ms, which NIR cannot "
            "represent; set t_ref=0"
        )


def _neuron_of(module: NeuronModule, name: str, where: str, dt: float) -> _Neuron:
    _check_representable(module, where)
    assert isinstance(module, (LIF, LI))
    p = module.params()
    shape = tuple(module.shape)

    def f64(t: Tensor) -> Tensor:
        return t.detach().to(torch.float64).expand(shape).clone()

    def native(t: Tensor) -> Tensor:
        return t.detach().expand(shape).clone()

    from ..neurons.lif import lif_coefficients

    k, alpha = lif_coefficients(p, dt, module.integrator)
    return _Neuron(
        name=name,
        spiking=isinstance(module, LIF),
        syn=module.has_syn,
        tau_mem=native(p.tau_mem),
        tau_syn=None if p.tau_syn is None else native(p.tau_syn),
        v_leak=native(p.v_leak),
        v_th=native(p.v_th),
        v_reset=native(p.v_reset),
        r=native(p.r),
        k=f64(k),
        alpha=None if alpha is None else f64(alpha),
        w_in=None if p.tau_syn is None else native(_w_in(p.tau_syn, dt, module.integrator)),
    )


def _write_neuron(
    nir_lib: Any,
    n: _Neuron,
    importer: str | None,
    dt: float,
    nodes: dict[str, Any],
    prev: str | None,
    where: str,
) -> Any:
    if importer is None:
        meta: dict[str, Any] = {"tau_ms": _np(n.tau_mem), "v_init": _np(n.v_leak)}
        if not n.spiking:
            return _write_li(nir_lib, n, meta)
        common = dict(r=_np(n.r), v_leak=_np(n.v_leak), v_threshold=_np(n.v_th), v_reset=_np(n.v_reset))
        if not n.syn:
            return nir_lib.LIF(tau=_np(n.tau_mem / 1000.0), metadata=meta, **common)
        assert n.tau_syn is not None and n.alpha is not None
        assert n.w_in is not None
        meta.update(tau_syn_ms=_np(n.tau_syn), i_init=np.zeros(n.tau_syn.shape, dtype=_np(n.tau_syn).dtype))
        return nir_lib.CubaLIF(
            tau_mem=_np(n.tau_mem / 1000.0),
            tau_syn=_np(n.tau_syn / 1000.0),
            w_in=_np(n.w_in),
            metadata=meta,
            **common,
        )
    if not n.spiking:  # to_nir refuses these before writing anything
        raise UnsupportedExportError(f"{where}: {_NO_LI_IMPORT[importer]}")
    dt_imp = IMPORTER_DT_S[importer]
    f64 = torch.float64
    v_th, v_reset, v_leak, r = (t.to(f64) for t in (n.v_th, n.v_reset, n.v_leak, n.r))
    if not bool((r > 0).all()):
        raise UnsupportedExportError(
            f"{where}: the {importer} preset rescales the membrane by r, which needs r > 0 "
            f"(got min {r.min().item()})"
        )
    tau_mem = dt_imp / n.k
    if importer == "snntorch":
        if not bool((v_leak == v_reset).all()):
            raise UnsupportedExportError(
                f"{where}: snntorch starts every membrane at 0 and resets to 0, so its preset needs "
                "v_leak == v_reset (both are shifted to 0)"
            )
        scale = n.k * r  # membrane unit: u = (v - v_reset) / (k r) follows mem <- beta*mem + input
        theta = (v_th - v_reset) / scale
        if not bool((theta == theta.flatten()[0]).all()):
            theta = _fold_into_previous(nodes, prev, scale / (v_th - v_reset), where, importer)
        common = dict(
            v_leak=np.zeros(theta.shape),
            v_reset=np.zeros(theta.shape),
            v_threshold=theta.numpy(),
            r=(tau_mem / dt_imp).numpy(),
        )
        meta = {"v_init": np.zeros(theta.shape), "preset": "snntorch"}
        if not n.syn:
            return nir_lib.LIF(tau=tau_mem.numpy(), metadata=meta, **common)
        assert n.alpha is not None
        tau_syn = dt_imp / (1.0 - n.alpha)
        meta["i_init"] = np.zeros(theta.shape)
        return nir_lib.CubaLIF(
            tau_mem=tau_mem.numpy(),
            tau_syn=tau_syn.numpy(),
            w_in=(tau_syn / dt_imp).numpy(),
            metadata=meta,
            **common,
        )
    # norse
    if not n.syn:
        leak = (v_leak - v_reset) / r
        return nir_lib.LIF(
            tau=tau_mem.numpy(),
            r=np.ones(leak.shape),
            v_leak=leak.numpy(),
            v_threshold=((v_th - v_reset) / r).numpy(),
            v_reset=np.zeros(leak.shape),
            metadata={"v_init": leak.numpy(), "preset": "norse"},
        )
    if not bool((v_leak == v_reset).all()):
        raise UnsupportedExportError(
            f"{where}: norse's CubaLIF import lets the synaptic current leak towards the membrane's "
            "v_leak and starts it there, so its preset needs v_leak == v_reset (both shifted to 0)"
        )
    assert n.alpha is not None
    one_minus_alpha = 1.0 - n.alpha
    zeros = np.zeros(v_th.shape)
    return nir_lib.CubaLIF(
        tau_mem=tau_mem.numpy(),
        tau_syn=(dt_imp / one_minus_alpha).numpy(),
        w_in=(1.0 / one_minus_alpha).numpy(),
        r=r.numpy(),
        v_leak=zeros,
        v_threshold=(v_th - v_reset).numpy(),
        v_reset=zeros,
        metadata={"v_init": zeros, "i_init": zeros, "preset": "norse"},
    )


def _write_li(nir_lib: Any, n: _Neuron, meta: dict[str, Any]) -> Any:
    """The faithful ``LI`` / ``CubaLI`` node of a leaky-integrator layer."""
    common = dict(r=_np(n.r), v_leak=_np(n.v_leak))
    if not n.syn:
        return nir_lib.LI(tau=_np(n.tau_mem / 1000.0), metadata=meta, **common)
    assert n.tau_syn is not None and n.w_in is not None
    meta.update(tau_syn_ms=_np(n.tau_syn), i_init=np.zeros(n.tau_syn.shape, dtype=_np(n.tau_syn).dtype))
    return nir_lib.CubaLI(
        tau_mem=_np(n.tau_mem / 1000.0),
        tau_syn=_np(n.tau_syn / 1000.0),
        w_in=_np(n.w_in),
        metadata=meta,
        **common,
    )


def _fold_into_previous(
    nodes: dict[str, Any], prev: str | None, factor: Tensor, where: str, importer: str
) -> Tensor:
    """Scale the rows of the preceding Affine/Linear node by ``factor``; returns the threshold 1."""
    node = nodes.get(prev) if prev is not None else None
    if node is None or type(node).__name__ not in ("Affine", "Linear") or factor.dim() != 1:
        raise UnsupportedExportError(
            f"{where}: {importer} needs one threshold per layer; (v_th - v_reset)/(k r) differs between "
            "neurons and there is no preceding Linear layer to fold the difference into"
        )
    w = torch.as_tensor(np.asarray(node.weight), dtype=torch.float64)
    node.weight = (w * factor[:, None]).numpy().astype(np.asarray(node.weight).dtype)
    if type(node).__name__ == "Affine":
        b = torch.as_tensor(np.asarray(node.bias), dtype=torch.float64)
        node.bias = (b * factor).numpy().astype(np.asarray(node.bias).dtype)
    return torch.ones(factor.shape, dtype=torch.float64)


def _write_delay(
    nir_lib: Any, m: FixedDelay, shape: tuple[int, ...], importer: str | None, dt: float, where: str
) -> Any:
    """An element-wise :class:`FixedDelay` as a NIR ``Delay`` (seconds; the steps are whole)."""
    if importer is not None:
        raise UnsupportedExportError(
            f"{where}: the {importer} importer cannot run a NIR Delay node; export with importer=None"
        )
    if m.synaptic:
        raise UnsupportedExportError(
            f"{where}: synaptic delays [n_out, n_in] have no single NIR node (NIR's Delay delays each "
            "channel of its input); use nn.Linear followed by an element-wise FixedDelay [n] when the "
            "delays depend on the output channel only"
        )
    if m.dt != dt:
        raise UnsupportedExportError(f"{where} has dt={m.dt} ms but the graph is exported at dt={dt} ms")
    if (m.n_in,) != shape:
        raise ShapeError(f"{where} delays {m.n_in} channels but receives {list(shape)}")
    seconds = m.steps.detach().cpu().to(torch.float64).numpy() * (dt / 1000.0)
    return nir_lib.Delay(delay=seconds, metadata={"delay_steps": m.steps.cpu().numpy(), "dt_ms": dt})


def _pair(v: Any) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _write_stateless(
    nir_lib: Any,
    m: nn.Module,
    shape: tuple[int, ...],
    importer: str | None,
    where: str,
    extra_map: Mapping[type, Callable[[nn.Module], Any]] | None,
) -> Any:
    if extra_map is not None and type(m) in extra_map:
        return extra_map[type(m)](m)
    no = {  # what each importer cannot run (see the module docstring)
        "snntorch": (nn.Conv1d, nn.Flatten, "SumPool2d"),
        "norse": (nn.Conv1d, nn.Flatten, "AvgPool2d"),
    }.get(importer or "", ())

    def refuse(what: str, why: str) -> None:
        if what in no or type(m) in no:
            raise UnsupportedExportError(f"{where}: the {importer} importer cannot run {what}: {why}")

    if isinstance(m, nn.Linear):
        w = _np(m.weight)
        if m.bias is None:
            return nir_lib.Linear(weight=w)
        return nir_lib.Affine(weight=w, bias=_np(m.bias))
    if isinstance(m, (nn.Conv1d, nn.Conv2d)):
        refuse(type(m).__name__, "it has no Conv1d import")
        if m.padding_mode != "zeros":
            raise UnsupportedExportError(
                f"{where}: NIR convolutions pad with zeros, got padding_mode={m.padding_mode!r}"
            )
        bias = _np(m.bias) if m.bias is not None else np.zeros(m.out_channels, dtype=_np(m.weight).dtype)
        if isinstance(m, nn.Conv1d):
            return nir_lib.Conv1d(
                input_shape=int(shape[-1]),
                weight=_np(m.weight),
                stride=int(m.stride[0]),
                padding=m.padding if isinstance(m.padding, str) else int(m.padding[0]),
                dilation=int(m.dilation[0]),
                groups=int(m.groups),
                bias=bias,
            )
        return nir_lib.Conv2d(
            input_shape=tuple(int(s) for s in shape[-2:]),
            weight=_np(m.weight),
            stride=tuple(int(s) for s in m.stride),
            padding=m.padding if isinstance(m.padding, str) else tuple(int(p) for p in m.padding),
            dilation=tuple(int(d) for d in m.dilation),
            groups=int(m.groups),
            bias=bias,
        )
    if isinstance(m, nn.Flatten):
        refuse(
            "Flatten",
            "it builds torch.nn.Flatten(start_dim, end_dim) from NIR's dims, which do not count the "
            "batch dimension, so the batch is flattened into the features",
        )
        start, end = m.start_dim, m.end_dim
        if start == 0 or end == 0:
            raise UnsupportedExportError(f"{where}: a Flatten over the batch dimension has no NIR form")
        return nir_lib.Flatten(
            input_type={"input": np.array(shape)},
            start_dim=start - 1 if start > 0 else start,
            end_dim=end - 1 if end > 0 else end,
        )
    if isinstance(m, nn.AvgPool2d):
        if m.ceil_mode or not m.count_include_pad:
            raise UnsupportedExportError(
                f"{where}: NIR pooling has no ceil_mode or count_include_pad=False (got ceil_mode="
                f"{m.ceil_mode}, count_include_pad={m.count_include_pad})"
            )
        kernel = _pair(m.kernel_size)
        stride = _pair(m.stride if m.stride is not None else m.kernel_size)
        padding = _pair(m.padding)
        if m.divisor_override is None:
            refuse("AvgPool2d", "it has no AvgPool2d import")
            return nir_lib.AvgPool2d(
                kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array(padding)
            )
        if m.divisor_override == 1:
            refuse("SumPool2d", "it has no SumPool2d import")
            return nir_lib.SumPool2d(
                kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array(padding)
            )
        raise UnsupportedExportError(
            f"{where}: AvgPool2d with divisor_override={m.divisor_override} has no NIR form"
        )
    if isinstance(m, nn.LPPool2d):
        if m.norm_type != 1 or m.ceil_mode:
            raise UnsupportedExportError(f"{where}: only LPPool2d(norm_type=1) (sum pooling) has a NIR form")
        refuse("SumPool2d", "it has no SumPool2d import")
        kernel = _pair(m.kernel_size)
        stride = _pair(m.stride if m.stride is not None else m.kernel_size)
        return nir_lib.SumPool2d(
            kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array((0, 0))
        )
    raise UnsupportedExportError(
        f"{where} cannot be exported to NIR: no mapping for {type(m).__module__}.{type(m).__name__} "
        "(pass extra_map={type: function} for a stateless module)"
    )
