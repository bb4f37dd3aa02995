"""A model file that carries its own description: the architecture, dt, the neuron parameters, the
dataset's binning and the package version beside the weights.

``spikeforge train`` and ``spikeforge demo`` write their ``model.pt`` with :func:`save_model`;
:func:`load` rebuilds the network from the file alone, so ``spikeforge export`` exports any model
``train`` makes, at its own dt. The file is a ``torch.save`` of a plain dict (readable with
``torch.load(..., weights_only=True)``)::

    {"format": "spikeforge.model", "version": 1, "spikeforge_version": "0.1.0",
     "layers": [{"type": "Linear", "in_features": 200, "out_features": 64, "bias": True},
                {"type": "LIF", "shape": [64], "dt": 20.0, "params": {"tau_mem": 20.0, ...},
                 "reset": "to_value", "integrator": "exact", "surrogate": ["FastSigmoid", {"slope": 10.0}]},
                ...],
     "data": {"dataset": "ndigits", "bin_ms": 20.0, ...},
     "checksum": "...", "state_dict": {...}}

Example:
    >>> import tempfile, os, torch, spikeforge as sf
    >>> net = sf.Sequential(torch.nn.Linear(4, 3), sf.neurons.LIF(3, dt=20.0, tau_syn=None))
    >>> path = save_model(net, os.path.join(tempfile.mkdtemp(), "model.pt"), data={"bin_ms": 20.0})
    >>> again, info = load_model(path)
    >>> again[1].dt, info["data"]["bin_ms"], bool(torch.equal(again[0].weight, net[0].weight))
    (20.0, 20.0, True)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import surrogate as _surrogate
from .errors import ParameterError, SpikeforgeError, UnsupportedExportError
from .neurons import LIF
from .plasticity.delays import LearnableDelay
from .sequential import Sequential

__all__ = ["MODEL_FORMAT", "MODEL_VERSION", "ModelFileError", "save_model", "load_model", "load", "describe"]

MODEL_FORMAT = "spikeforge.model"
MODEL_VERSION = 1
_LIF_PARAMS = ("tau_mem", "tau_syn", "v_leak", "v_th", "v_reset", "r", "t_ref")


class ModelFileError(SpikeforgeError, ValueError):
    """A model file that cannot be read or does not describe a model this version rebuilds; the
    message names the file."""


def _value(t: torch.Tensor) -> float | list[Any]:
    t = t.detach().cpu().to(torch.float64)
    return float(t.item()) if t.numel() == 1 and t.dim() == 0 else t.tolist()  # type: ignore[no-any-return]


def _describe_surrogate(s: Any) -> list[Any] | None:
    if isinstance(s, _surrogate.Surrogate) and dataclasses.is_dataclass(s):
        return [type(s).__name__, {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}]
    return None  # a plain function: rebuilt with the default surrogate (export does not need it)


def describe(model: nn.Module) -> list[dict[str, Any]]:
    """The layers of ``model`` (a Sequential of ``Linear``, ``LearnableDelay`` and ``LIF`` modules)
    as plain data (a ``LearnableDelay``'s delays and width are in the weights).

    Raises:
        UnsupportedExportError: a module other than ``nn.Linear``, ``LearnableDelay`` or ``LIF``.
    """
    modules = list(model) if isinstance(model, nn.Sequential) else [model]
    layers: list[dict[str, Any]] = []
    for i, m in enumerate(modules):
        if isinstance(m, nn.Linear):
            layers.append(
                {
                    "type": "Linear",
                    "in_features": m.in_features,
                    "out_features": m.out_features,
                    "bias": m.bias is not None,
                }
            )
        elif isinstance(m, LearnableDelay):
            layers.append(
                {
                    "type": "LearnableDelay",
                    "in_features": m.n_in,
                    "out_features": m.n_out,
                    "max_delay": m.max_steps * m.dt,
                    "dt": m.dt,
                    "bias": m.bias is not None,
                    "learn_delays": bool(m.delay.requires_grad),
                }
            )
        elif type(m) is LIF:
            params: dict[str, Any] = {
                name: _value(getattr(m, name)) for name in _LIF_PARAMS if name != "tau_syn" or m.has_syn
            }
            if not m.has_syn:
                params["tau_syn"] = None
            layers.append(
                {
                    "type": "LIF",
                    "shape": list(m.shape),
                    "dt": m.dt,
                    "params": params,
                    "learnable": list(m.learnable),
                    "reset": m.reset,
                    "integrator": m.integrator,
                    "detach_reset": m.detach_reset,
                    "surrogate": _describe_surrogate(m.surrogate),
                }
            )
        else:
            raise UnsupportedExportError(
                f"save_model describes Sequentials of nn.Linear, LearnableDelay and LIF; module {i} is "
                f"{type(m).__name__}"
            )
    return layers


def save_model(
    model: nn.Module, path: str | os.PathLike[str], *, data: Mapping[str, Any] | None = None
) -> Path:
    """Write ``model`` with its description (see the module docstring).

    Args:
        model: a Sequential of ``nn.Linear``, ``LearnableDelay`` and ``LIF`` modules.
        path: the file (its folder is created).
        data: how the inputs were made (``{"dataset": ..., "bin_ms": ..., "duration_ms": ...}``).

    Returns:
        The path.
    """
    from ._version import __version__
    from .training.checkpoint import tensors_checksum

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    obj = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "spikeforge_version": __version__,
        "layers": describe(model),
        "data": dict(data or {}),
        "checksum": tensors_checksum(state),
        "state_dict": state,
    }
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, p)
    return p


def _surrogate_from(spec: Any, where: str) -> Any:
    if spec is None:
        return None
    try:
        name, kwargs = spec
        cls = getattr(_surrogate, name)
        if not (isinstance(cls, type) and issubclass(cls, _surrogate.Surrogate)):
            raise TypeError
        return cls(**kwargs)
    except (TypeError, ValueError, AttributeError):
        raise ModelFileError(f"{where}: unknown surrogate {spec!r}") from None


def _build(layers: Any, where: str) -> Sequential:
    if not isinstance(layers, list) or not layers:
        raise ModelFileError(f"{where}: 'layers' must be a non-empty list, got {layers!r}")
    modules: list[nn.Module] = []
    for i, spec in enumerate(layers):
        if not isinstance(spec, Mapping):
            raise ModelFileError(f"{where}: layer {i} must be a dict, got {spec!r}")
        try:
            if spec.get("type") == "Linear":
                modules.append(
                    nn.Linear(int(spec["in_features"]), int(spec["out_features"]), bool(spec["bias"]))
                )
            elif spec.get("type") == "LearnableDelay":
                modules.append(
                    LearnableDelay(
                        int(spec["in_features"]),
                        int(spec["out_features"]),
                        max_delay=float(spec["max_delay"]),
                        dt=float(spec["dt"]),
                        bias=bool(spec["bias"]),
                        learn_delays=bool(spec.get("learn_delays", True)),
                        generator=torch.Generator(),
                    )
                )
            elif spec.get("type") == "LIF":
                params = dict(spec["params"])
                modules.append(
                    LIF(
                        tuple(spec["shape"]),
                        dt=spec["dt"],
                        learnable=tuple(spec.get("learnable", ())),
                        reset=spec.get("reset", "to_value"),
                        integrator=spec.get("integrator", "exact"),
                        detach_reset=bool(spec.get("detach_reset", True)),
                        surrogate=_surrogate_from(spec.get("surrogate"), where),
                        **{k: (torch.tensor(v) if isinstance(v, list) else v) for k, v in params.items()},
                    )
                )
            else:
                raise ModelFileError(f"{where}: layer {i} has unknown type {spec.get('type')!r}")
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, SpikeforgeError):
                raise ModelFileError(f"{where}: layer {i}: {e}") from None
            raise ModelFileError(f"{where}: layer {i} is malformed ({type(e).__name__}: {e})") from None
    return Sequential(*modules)


def load_model(path: str | os.PathLike[str]) -> tuple[Sequential, dict[str, Any]]:
    """Rebuild the model of a file written by :func:`save_model`.

    Returns:
        ``(model, info)``: the network with its weights, and the file's dict without the weights
        (``info["layers"]``, ``info["data"]``, ``info["spikeforge_version"]``).

    Raises:
        FileNotFoundError: no such file.
        ModelFileError: unreadable, not a spikeforge model file, a newer version, a malformed
            description, weights that do not fit it or fail the checksum.
    """
    from ._checks import check_state_dict
    from .training.checkpoint import tensors_checksum

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such model file: {p}")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises pickle, zip and runtime errors of many kinds
        raise ModelFileError(f"{p}: not a readable torch file ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict) or obj.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{p} is not a spikeforge model file (no format {MODEL_FORMAT!r})")
    version = obj.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version > MODEL_VERSION:
        raise ModelFileError(
            f"{p}: model file version {version!r}; this spikeforge reads versions up to {MODEL_VERSION}"
        )
    state = obj.get("state_dict")
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"{p}: 'state_dict' must map names to tensors")
    if obj.get("checksum") != tensors_checksum(state):
        raise ModelFileError(f"{p}: the weights do not match the file's checksum (the file is corrupt)")
    model = _build(obj.get("layers"), str(p))
    try:
        check_state_dict(model, state, str(p))
    except ParameterError as e:
        raise ModelFileError(str(e)) from None
    model.load_state_dict(state)
    info = {k: v for k, v in obj.items() if k != "state_dict"}
    if not isinstance(info.get("data"), dict):
        info["data"] = {}
    return model, info


def load(path: str | os.PathLike[str]) -> Sequential:
    """The model of a file written by :func:`save_model` (``spikeforge train`` and ``demo``'s
    ``model.pt``); see :func:`load_model` for its description too."""
    return load_model(path)[0]
