r"""NIR ``IF`` nodes (integrate-and-fire without leak) to and from :class:`~spikeforge.neurons.IF`.

NIR's ``IF`` is :math:`\dot v = R\,I`, reset to ``v_reset`` above ``v_threshold``. spikeforge's
``IF`` adds ``r * x`` to ``v`` each step: the ODE with ``I = x`` held over the step of
:math:`\Delta t` seconds, so the faithful node has :math:`R = r / \Delta t` (the exact ``r`` is
kept in the node's metadata as ``r_step``, used when it reproduces ``R``). Reading a graph:

* ``source="nir"`` / ``"spikeforge"`` (the ODE): ``r = R * dt``;
* ``source="norse"``: norse's ``IAFCell`` adds its input unscaled, ``v <- v + x``, and exports
  ``R = 1``: the node is read as a jump of ``R x`` per step, ``r = R``.

Presets: ``importer="norse"`` writes ``R = 1``, ``v_reset = 0`` and the threshold
``(v_th - v_reset) / r`` (the membrane in units of ``r`` measured from ``v_reset``; norse's importer
ignores ``r`` and ``v_reset`` and starts at 0, which is then spikeforge's start at ``v_reset``).
snntorch's importer builds a ``Leaky(beta=0.9)`` for ``IF``, a leaky neuron, so
``importer="snntorch"`` refuses ``IF``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..errors import ParameterError, ShapeError, UnsupportedExportError
from ..neurons.integrate_fire import IF


def write_if(nir_lib: Any, module: IF, importer: str | None, dt: float, where: str) -> Any:
    """The NIR ``IF`` node of an :class:`IF` layer run at ``dt`` ms (see the module docstring)."""
    if module.reset != "to_value":
        raise UnsupportedExportError(
            f"{where} uses reset='subtract', which NIR cannot represent (NIR's IF resets to v_reset); "
            "rebuild it with reset='to_value'"
        )
    p = module.params()
    shape = tuple(module.shape)
    v_th, v_reset, r = (t.detach().expand(shape).clone() for t in p)
    if importer == "snntorch":
        raise UnsupportedExportError(
            f"{where}: snntorch's importer builds a Leaky(beta=0.9) for a NIR IF node (a leaky neuron), "
            "so no snntorch preset reproduces IF; export with importer=None or importer='norse'"
        )
    if importer == "norse":
        f64 = torch.float64
        if not bool((r > 0).all()):
            raise UnsupportedExportError(
                f"{where}: the norse preset measures the membrane in units of r, which needs r > 0 "
                f"(got min {r.min().item()})"
            )
        theta = (v_th.to(f64) - v_reset.to(f64)) / r.to(f64)
        zeros = np.zeros(shape)
        return nir_lib.IF(
            r=np.ones(shape),
            v_threshold=theta.numpy(),
            v_reset=zeros,
            metadata={"v_init": zeros, "preset": "norse"},
        )
    meta = {"r_step": r.numpy(), "v_init": v_reset.numpy()}
    return nir_lib.IF(
        r=(r.to(torch.float64) * (1000.0 / dt)).numpy().astype(r.numpy().dtype),
        v_threshold=v_th.numpy(),
        v_reset=v_reset.numpy(),
        metadata=meta,
    )


def read_if(node: Any, name: str, shape: tuple[int, ...], source: str, dt: float, dtype: torch.dtype) -> IF:
    """An ``IF`` node as :class:`IF` at ``dt`` ms, read as ``source`` describes (see the module
    docstring)."""
    fields = {}
    for field in ("r", "v_threshold", "v_reset"):
        value = getattr(node, field, None)
        a = np.asarray(0.0 if value is None and field == "v_reset" else value, dtype=np.float64)
        if a.dtype.kind != "f" or not bool(np.isfinite(a).all()):
            raise ParameterError(
                f"from_nir: node {name!r} (IF): {field} must be finite numbers, got {value!r}"
            )
        if a.shape not in ((), shape) and a.size != 1:
            raise ShapeError(
                f"from_nir: node {name!r} (IF): {field} has shape {list(a.shape)} but the node receives "
                f"{list(shape)}"
            )
        fields[field] = np.asarray(value if value is not None else a)
    meta = getattr(node, "metadata", None)
    meta = meta if isinstance(meta, Mapping) else {}
    r_nir = torch.as_tensor(np.array(fields["r"], copy=True))
    if source == "norse" or meta.get("preset") == "norse":
        r = r_nir
    else:
        r = (r_nir.to(torch.float64) * (dt / 1000.0)).to(r_nir.dtype)
        hint = meta.get("r_step")
        if hint is not None:
            h = torch.as_tensor(np.array(hint, copy=True))
            if h.shape == r_nir.shape and h.dtype == r_nir.dtype:
                back = (h.to(torch.float64) * (1000.0 / dt)).to(h.dtype)
                if torch.equal(back, r_nir):
                    r = h
    v_th = torch.as_tensor(np.array(fields["v_threshold"], copy=True)).to(dtype)
    v_reset = torch.as_tensor(np.array(fields["v_reset"], copy=True)).to(dtype)
    if "v_init" in meta:
        init = torch.as_tensor(np.asarray(meta["v_init"], dtype=np.float64)).to(dtype)
        if not bool((init == v_reset).all()):
            raise UnsupportedExportError(
                f"from_nir: node {name!r} (IF) asks for initial state "
                f"v_init={init.flatten()[:4].tolist()}...; spikeforge's IF starts at v_reset"
            )
    try:
        return IF(shape, v_th=v_th, v_reset=v_reset, r=r.to(dtype), dt=dt)
    except (ParameterError, ShapeError) as e:
        raise type(e)(f"from_nir: node {name!r} (IF): {e}") from e
