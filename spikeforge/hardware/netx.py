r"""Loihi 2 through lava-dl's netx HDF5 format: :func:`write_netx` and :func:`read_netx`.

lava-dl (``lava.lib.dl.netx.hdf5.Network``) builds a Lava process network from an HDF5 file that
lava-dl slayer writes with ``export_hdf5``. The schema below is read from lava-dl 0.6.0
(``lava/lib/dl/netx/hdf5.py``, ``slayer/block/base.py`` ``export_hdf5``, ``slayer/neuron/cuba.py``
``device_params``, ``slayer/neuron/base.py``), BSD-3-Clause:

* ``layer/<i>`` groups, ``i = 0, 1, ...``; ``layer/<i>/type`` (``S10`` array of one string):
  ``input``, ``flatten``, ``dense``, ``conv`` (and ``pool``, ``average``, ``concat``,
  ``dense_rec``, ... which netx itself does not build, or which we do not read);
* ``shape``: the layer's neuron shape, ``[C, H, W]`` (``[n, 1, 1]`` or ``[n]`` for dense);
* ``dense``: ``weight [out, in]``, ``inFeatures``, ``outFeatures``, optional ``bias [out]`` and
  ``delay`` (one per output neuron: netx delays every synapse onto neuron j by ``delay[j]``);
* ``conv``: ``weight [out, in/groups, kH, kW]`` (older slayer: ``[..., 1]``), ``inChannels``,
  ``outChannels``, ``kernelSize``, ``stride``, ``padding``, ``dilation`` (``[H, W]``), ``groups``;
* ``neuron``: ``type`` (``CUBA``; ``LOIHI`` is read the same way by netx), ``vThMant``,
  ``iDecay``, ``vDecay``, ``refDelay``, ``gradedSpike`` (``LOIHI`` files add slayer training
  fields ``theta``, ``tauRho``, ``scaleRho``, ``wgtExp``, which netx ignores);
* an ``input`` layer may hold a ``neuron`` with a scalar ``weight`` and ``bias``: a layer of
  neurons driven by ``x * weight + bias``.

**Fixed-point conventions** (slayer ``cuba.Neuron`` with ``scale = 1 << 6``, ``p_scale = 1 << 12``).
The CUBA neuron is

.. math::

    u[t] = (1 - \tfrac{iDecay}{4096})\,u[t-1] + W s[t], \qquad
    v[t] = (1 - \tfrac{vDecay}{4096})\,v[t-1] + u[t] + b, \qquad
    s = v > vThMant

(reset ``v = 0``), with integer weights: slayer writes ``round(w * 64 / 2) * 2`` clipped to
``[-256, 254]`` (its ``quantize_8bit``), and ``vThMant = int(theta * 64)``. lava's bit-accurate
LIF shifts activations and threshold by 6 more bits and rounds the decays towards zero; a float
model does not reproduce that rounding (use :func:`spikeforge.hardware.quantize` for the integer
simulation).

**Mapping to spikeforge** (``weight_scale = 64``, model units are slayer's float units):

==========================  ======================================================================
netx                        spikeforge
==========================  ======================================================================
``dense`` / ``conv``        ``nn.Linear`` / ``nn.Conv2d``, weight ``= W / 64``, bias ``= b / 64``
``delay`` (per out neuron)  :class:`~spikeforge.plasticity.FixedDelay` after the Linear (ms = steps * dt)
``flatten``                 ``nn.Flatten``
neuron ``CUBA`` / ``LOIHI``  :class:`~spikeforge.neurons.LIF`: ``v_th = vThMant / 64``,
                            :math:`k = vDecay/4096`, ``tau_mem = -dt / ln(1 - k)``,
                            ``r = 1 / k`` (so that :math:`k\,r\,i = u`), ``tau_syn = -dt /
                            ln(1 - iDecay/4096)`` or ``None`` for ``iDecay = 4096``,
                            ``v_leak = v_reset = 0``, ``reset="to_value"``, ``t_ref = 0``
input with a neuron         :class:`NetxInput` (``x * weight/64 + bias/64``) then that LIF
==========================  ======================================================================

Writing inverts this: ``iDecay = round(4096 (1 - alpha))`` and ``vDecay = round(4096 k)`` from the
LIF's per-step factors (either integrator), the factor ``k r`` of each neuron is folded into its
weight row and bias (Loihi adds ``u`` to ``v`` unscaled), and weights are quantized as slayer does.
Not representable, so :class:`~spikeforge.errors.UnsupportedExportError` naming the layer:
``v_leak != 0`` or ``v_reset != 0`` (Loihi starts and resets at 0), ``reset="subtract"``,
``t_ref > 0``, a bias with a synaptic time constant (Loihi's bias enters v, spikeforge's enters the
current), no leak or no memory (``vDecay`` of 0 or 4096), graded spikes, and layer types other than
the above. Loihi adds one step of latency per layer (lava's message passing); spikeforge's
Sequential does not, so its output leads lava's by the number of layers. netx clamps delays to 62
steps (with a warning); we keep them.

:func:`read_netx` records each layer's datasets on its neuron module (attribute ``netx_meta``) and
the file's ``simulation`` group on the model, and :func:`write_netx` writes a dataset back in its
original form (shape, dtype, the ``LOIHI`` fields) whenever the model still has its value, so a
file read and written again has the same datasets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import MissingDependencyError, ParameterError, UnsupportedExportError
from ..neurons.lif import LIF, lif_coefficients
from ..plasticity.delays import FixedDelay
from ..sequential import Sequential

__all__ = ["write_netx", "read_netx", "NetxInput", "WEIGHT_SCALE", "DECAY_SCALE"]

WEIGHT_SCALE = 64  # slayer cuba.Neuron ``scale = 1 << 6``
DECAY_SCALE = 4096  # slayer ``p_scale = 1 << 12``
_META = "netx_meta"
_NEURON_TYPES = ("CUBA", "LOIHI")


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as e:
        raise MissingDependencyError(
            "read_netx and write_netx need h5py: pip install 'spikeforge[data]' (or pip install h5py)"
        ) from e
    return h5py


class NetxInput(nn.Module):
    """The element-wise input transform of a netx ``input`` layer with neurons: ``x * weight + bias``.

    Args:
        weight: a scalar or per-element tensor (model units).
        bias: a scalar or per-element tensor.
    """

    weight: Tensor
    bias: Tensor

    def __init__(self, weight: Tensor, bias: Tensor) -> None:
        super().__init__()
        self.register_buffer("weight", torch.as_tensor(weight).detach().clone())
        self.register_buffer("bias", torch.as_tensor(bias).detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.weight.to(x.dtype) + self.bias.to(x.dtype)


# ============================================================================================ read


def _str(value: Any) -> str:
    v = value[()] if hasattr(value, "shape") else value
    if isinstance(v, np.ndarray):
        v = v.reshape(-1)[0]
    return v.decode() if isinstance(v, bytes) else str(v)


def _group_dict(group: Any) -> dict[str, Any]:
    """All datasets of a group (recursively) as ``{relative path: numpy value}``."""
    out: dict[str, Any] = {}

    def visit(name: str, obj: Any) -> None:
        if hasattr(obj, "dtype"):
            out[name] = obj[()]

    group.visititems(visit)
    return out


def _lif_from_neuron(
    neuron: dict[str, Any], shape: tuple[int, ...], dt: float, where: str, scale: float
) -> LIF:
    kind = _str(neuron.get("type", b"?"))
    if kind not in _NEURON_TYPES:
        raise UnsupportedExportError(
            f"{where}: neuron type {kind!r} is not supported (only {list(_NEURON_TYPES)})"
        )
    if bool(np.any(neuron.get("gradedSpike", False))):
        raise UnsupportedExportError(f"{where}: graded spikes (gradedSpike=True) have no spikeforge LIF")
    for key in ("vThMant", "vDecay", "iDecay"):
        if key not in neuron:
            raise UnsupportedExportError(f"{where}: the neuron has no {key!r}")

    def per_neuron(key: str) -> Tensor:
        v = torch.as_tensor(np.asarray(neuron[key], dtype=np.float64))
        if v.numel() not in (1, math.prod(shape)) and v.numel() != shape[0]:
            raise UnsupportedExportError(
                f"{where}: neuron/{key} has {v.numel()} values for shape {list(shape)}"
            )
        if v.numel() == shape[0] and len(shape) > 1 and v.numel() != math.prod(shape):  # per channel
            v = v.reshape(shape[0], *([1] * (len(shape) - 1))).expand(shape)
        return v.reshape(shape) if v.numel() == math.prod(shape) else v.reshape(())

    v_decay, i_decay = per_neuron("vDecay"), per_neuron("iDecay")
    if bool(((v_decay <= 0) | (v_decay >= DECAY_SCALE)).any()):
        raise UnsupportedExportError(
            f"{where}: vDecay must be in (0, {DECAY_SCALE}) for a LIF with a finite time constant, got "
            f"{v_decay.unique().tolist()[:5]} (0: no leak, {DECAY_SCALE}: no memory)"
        )
    if bool(((i_decay <= 0) | (i_decay > DECAY_SCALE)).any()):
        raise UnsupportedExportError(
            f"{where}: iDecay must be in (0, {DECAY_SCALE}], got {i_decay.unique().tolist()[:5]}"
        )
    k = v_decay / DECAY_SCALE
    tau_mem = -dt / torch.log1p(-k)
    if bool((i_decay == DECAY_SCALE).all()):
        tau_syn = None
    elif bool((i_decay == DECAY_SCALE).any()):
        raise UnsupportedExportError(f"{where}: iDecay mixes {DECAY_SCALE} (no current) and smaller values")
    else:
        tau_syn = -dt / torch.log1p(-i_decay / DECAY_SCALE)
    v_th = per_neuron("vThMant") / scale
    return LIF(shape, tau_mem=tau_mem, tau_syn=tau_syn, v_th=v_th, r=1.0 / k, dt=dt)


def read_netx(
    path: str | Path,
    *,
    dt: float = 1.0,
    num_layers: int | None = None,
    weight_scale: float = WEIGHT_SCALE,
    dtype: torch.dtype | None = None,
) -> Sequential:
    """Read a lava-dl netx HDF5 network (``.net``) as a :class:`~spikeforge.Sequential`.

    Args:
        path: the file.
        dt: the time step in ms that one Loihi step stands for (time constants are ``dt``-relative).
        num_layers: read only the first ``num_layers`` layers (as netx's ``Network(num_layers=)``).
        weight_scale: weights, biases and thresholds are divided by it (slayer's 64).
        dtype: the model's floating dtype (default: torch's default); parameters are computed in
            float64 and rounded once to it.

    Returns:
        the model (see the module docstring for the mapping); ``x`` is ``[T, B, *input shape]``.

    Raises:
        UnsupportedExportError: a layer or neuron spikeforge cannot represent; the message names
            the layer index and type.
        MissingDependencyError: h5py is not installed.
        ParameterError: not a netx file (or not a readable HDF5 file).

    Example:
        >>> import torch, tempfile, os, spikeforge as sf
        >>> net = sf.Sequential(torch.nn.Linear(4, 3), sf.neurons.LIF(3, tau_mem=10.0, r=2.0))
        >>> path = os.path.join(tempfile.mkdtemp(), "net.net")
        >>> sf.hardware.write_netx(net, path)
        >>> back = sf.hardware.read_netx(path)
        >>> [type(m).__name__ for m in back]
        ['Linear', 'LIF']
    """
    h5py = _h5py()
    try:
        fh = h5py.File(path, "r")
    except OSError as e:  # h5py's error for a missing, truncated or non-HDF5 file
        raise ParameterError(f"read_netx: {str(path)!r} is not a readable HDF5 netx file ({e})") from None
    with fh as f:
        if "layer" not in f:
            raise ParameterError(f"{str(path)!r} is not a netx file: it has no 'layer' group")
        indices = sorted(int(k) for k in f["layer"].keys())
        if indices != list(range(len(indices))):
            raise ParameterError(f"{str(path)!r}: layer groups must be 0..n-1, got {indices}")
        if num_layers is not None:
            indices = indices[:num_layers]
        layers = [_group_dict(f[f"layer/{i}"]) for i in indices]
        simulation = _group_dict(f["simulation"]) if "simulation" in f else None
    modules: list[nn.Module] = []
    input_meta: dict[str, Any] | None = None
    for i, layer in zip(indices, layers):
        kind = _str(layer.get("type", b"?"))
        where = f"netx layer {i} ({kind!r})"
        shape = tuple(int(s) for s in np.asarray(layer.get("shape", [])).reshape(-1))
        neuron = {k[len("neuron/") :]: v for k, v in layer.items() if k.startswith("neuron/")}
        if kind == "input":
            if neuron:
                in_w = (
                    torch.as_tensor(np.asarray(layer.get("weight", WEIGHT_SCALE), dtype=np.float64))
                    / weight_scale
                )
                in_b = torch.as_tensor(np.asarray(layer.get("bias", 0.0), dtype=np.float64)) / weight_scale
                modules.append(NetxInput(in_w, in_b))
                lif = _lif_from_neuron(neuron, shape, dt, where, weight_scale)
                setattr(lif, _META, {"layer": layer})
                modules.append(lif)
            elif modules:
                raise UnsupportedExportError(f"{where}: an input layer after layer 0")
            else:
                input_meta = layer
            continue
        if kind == "flatten":
            flat = nn.Flatten()
            setattr(flat, _META, {"layer": layer})
            modules.append(flat)
            continue
        if kind not in ("dense", "conv"):
            raise UnsupportedExportError(
                f"{where}: layer type {kind!r} is not supported (input, flatten, dense, conv)"
            )
        if not neuron:
            raise UnsupportedExportError(f"{where}: a {kind} layer without neurons is not supported")
        if "weight" not in layer:
            raise UnsupportedExportError(
                f"{where}: no plain 'weight' dataset (complex weights are not supported)"
            )
        w = torch.as_tensor(np.asarray(layer["weight"], dtype=np.float64)) / weight_scale
        bias = layer.get("bias")
        i_decay = np.asarray(neuron.get("iDecay", DECAY_SCALE))
        if bias is not None and bool(np.any(np.asarray(bias) != 0)) and bool(np.any(i_decay != DECAY_SCALE)):
            raise UnsupportedExportError(
                f"{where}: a bias with a synaptic current (iDecay < {DECAY_SCALE}): Loihi adds the bias to "
                "v,"
                " spikeforge's Linear bias enters the current"
            )
        b = (
            None
            if bias is None
            else torch.as_tensor(np.asarray(bias, dtype=np.float64)).reshape(-1) / weight_scale
        )
        syn: nn.Module
        if kind == "dense":
            n_out = int(np.prod(shape))
            w = w.reshape(n_out, -1)
            syn = nn.Linear(w.shape[1], n_out, bias=b is not None, dtype=torch.float64)
            shape = (n_out,)
        else:
            w = w.reshape(w.shape[:4])
            groups = int(layer.get("groups", 1))
            syn = nn.Conv2d(
                w.shape[1] * groups,
                w.shape[0],
                kernel_size=(w.shape[2], w.shape[3]),
                stride=_pair(layer.get("stride", 1)),
                padding=_pair(layer.get("padding", 0)),
                dilation=_pair(layer.get("dilation", 1)),
                groups=groups,
                bias=b is not None,
                dtype=torch.float64,
            )
        with torch.no_grad():
            syn.weight.copy_(w)
            if b is not None:
                assert syn.bias is not None
                syn.bias.copy_(b.expand(syn.bias.shape))
        modules.append(syn.to(torch.float64))
        delay = layer.get("delay")
        if delay is not None and bool(np.any(np.asarray(delay) != 0)):
            d = np.asarray(delay, dtype=np.float64).reshape(-1)
            if kind != "dense" or d.size != shape[0]:
                raise UnsupportedExportError(
                    f"{where}: delays of shape {list(np.shape(delay))} (one per output neuron only)"
                )
            modules.append(FixedDelay(torch.as_tensor(d * dt), dt=dt))
        lif = _lif_from_neuron(neuron, shape, dt, where, weight_scale)
        setattr(lif, _META, {"layer": layer})
        modules.append(lif)
    model = Sequential(*modules).to(dtype or torch.get_default_dtype())
    setattr(model, _META, {"simulation": simulation, "input": input_meta})
    return model


def _pair(value: Any) -> tuple[int, int]:
    a = np.broadcast_to(np.asarray(value), (2,))
    return int(a[0]), int(a[1])


# =========================================================================================== write


def _quantize_weight(w: Tensor, scale: float) -> np.ndarray:
    """slayer's ``quantize_8bit`` descaled: even integers in [-256, 254]."""
    q = torch.round(w.detach().to(torch.float64) * scale / 2.0) * 2.0
    return q.clamp(-256.0, 254.0).numpy().astype(np.float32)


def _as_written(key: str, value: Any, meta: dict[str, Any] | None) -> Any:
    """The file's original representation of ``key`` when it holds the same values."""
    if meta is None or key not in meta:
        return value
    old = meta[key]
    if key == "neuron/type":  # netx reads LOIHI and CUBA neurons the same way
        return old if _str(old) in _NEURON_TYPES else value
    if key == "shape":  # dense layers are written as [n] or [n, 1, 1]: the same neurons
        a, b = np.asarray(old).reshape(-1), np.asarray(value).reshape(-1)
        return old if [x for x in a if x != 1] == [x for x in b if x != 1] else value
    try:
        same = np.array_equal(
            np.asarray(old).reshape(-1).astype(np.float64), np.asarray(value).reshape(-1).astype(np.float64)
        )
    except (TypeError, ValueError):
        same = _str(old) == _str(value)
    return old if same else value


def _neuron_datasets(lif: LIF, where: str, scale: float) -> tuple[dict[str, Any], Tensor]:
    """The neuron's netx datasets and the per-neuron factor ``k r`` folded into its weights."""
    if lif.reset != "to_value":
        raise UnsupportedExportError(f"{where}: reset='subtract' (Loihi's CUBA neuron resets v to 0)")
    for name in ("v_leak", "v_reset", "t_ref"):
        if bool((getattr(lif, name) != 0).any()):
            raise UnsupportedExportError(
                f"{where}: {name} must be 0 for Loihi's CUBA neuron (it rests and resets at 0)"
            )
    p = lif.params(torch.float64)
    k, alpha = lif_coefficients(p, lif.dt, lif.integrator)
    full = lif.shape

    def ints(t: Tensor) -> Any:
        a = torch.round(t.detach().to(torch.float64).expand(full)).to(torch.int64).numpy()
        return np.int64(a.reshape(-1)[0]) if bool((a == a.reshape(-1)[0]).all()) else a.reshape(-1)

    v_decay = ints(DECAY_SCALE * k)
    i_decay = np.int64(DECAY_SCALE) if alpha is None else ints(DECAY_SCALE * (1.0 - alpha))
    if bool(np.any(np.asarray(v_decay) <= 0)) or bool(np.any(np.asarray(v_decay) >= DECAY_SCALE)):
        raise UnsupportedExportError(f"{where}: vDecay = 4096 k rounds to {v_decay}, outside (0, 4096)")
    v_th = (p.v_th.detach() * scale).expand(full)
    th = np.trunc(v_th.numpy()).astype(np.int64)
    datasets = {
        "type": "CUBA",
        "iDecay": i_decay,
        "vDecay": v_decay,
        "vThMant": np.int64(th.reshape(-1)[0]) if bool((th == th.reshape(-1)[0]).all()) else th.reshape(-1),
        "refDelay": np.int64(1),
        "gradedSpike": np.bool_(False),
    }
    return datasets, (k * p.r).expand(full)


def write_netx(
    model: nn.Module,
    path: str | Path,
    *,
    input_shape: Sequence[int] | None = None,
    weight_scale: float = WEIGHT_SCALE,
) -> None:
    """Write a spikeforge model as a lava-dl netx HDF5 network (``.net``) for Loihi 2.

    Args:
        model: a :class:`~spikeforge.Sequential` of ``nn.Linear`` / ``nn.Conv2d`` each followed by
            a :class:`~spikeforge.neurons.LIF` (optionally a per-neuron
            :class:`~spikeforge.plasticity.FixedDelay` in between), ``nn.Flatten``, and optionally
            a leading :class:`NetxInput` + LIF (an input layer with neurons).
        path: the file to write.
        input_shape: the input's shape without time and batch, when the model starts with a
            convolution (default: the first Linear's ``in_features``).
        weight_scale: weights, biases and thresholds are multiplied by it (slayer's 64).

    Raises:
        UnsupportedExportError: a module or parameter netx cannot carry (module docstring);
            the message names the module.
        MissingDependencyError: h5py is not installed.
    """
    h5py = _h5py()
    mods = list(model.children()) if isinstance(model, nn.Sequential) else [model]
    meta_model: dict[str, Any] = getattr(model, _META, None) or {}
    layers: list[dict[str, Any]] = []
    metas: list[dict[str, Any] | None] = []
    pos = 0

    def where(idx: int) -> str:
        return f"module {idx} ({type(mods[idx]).__name__})"

    def neuron_after(idx: int) -> LIF:
        if idx >= len(mods) or not isinstance(mods[idx], LIF):
            raise UnsupportedExportError(
                f"{where(idx - 1)} must be followed by a LIF (a netx layer is synapse + neuron)"
            )
        return mods[idx]  # type: ignore[return-value]

    if mods and isinstance(mods[0], NetxInput):
        lif = neuron_after(1)
        nd, kr = _neuron_datasets(lif, where(1), weight_scale)
        if not bool((kr == kr.reshape(-1)[0]).all()):
            raise UnsupportedExportError(f"{where(1)}: an input layer needs one k*r for all neurons")
        c = float(kr.reshape(-1)[0])
        layer: dict[str, Any] = {
            "type": "input",
            "shape": np.array(lif.shape, dtype=np.int64),
            "weight": _quantize_weight(mods[0].weight * c, weight_scale),  # type: ignore[operator]
            "bias": _quantize_weight(mods[0].bias * c, weight_scale),  # type: ignore[operator]
            **{f"neuron/{k}": v for k, v in nd.items()},
        }
        layers.append(layer)
        metas.append(getattr(lif, _META, {}).get("layer"))
        pos = 2
    else:
        first = next((m for m in mods if not isinstance(m, (nn.Identity, nn.Dropout))), None)
        input_meta = meta_model.get("input")
        if input_shape is not None:
            shape = tuple(int(s) for s in input_shape)
        elif input_meta is not None and "shape" in input_meta:
            shape = tuple(int(s) for s in np.asarray(input_meta["shape"]).reshape(-1))
        elif isinstance(first, nn.Linear):
            shape = (first.in_features,)
        else:
            raise ParameterError(
                "write_netx needs input_shape= for a model that does not start with nn.Linear"
            )
        layers.append({"type": "input", "shape": np.array(shape, dtype=np.int64)})
        metas.append(meta_model.get("input"))
    while pos < len(mods):
        m = mods[pos]
        if isinstance(m, (nn.Identity, nn.Dropout)):
            pos += 1
            continue
        if isinstance(m, nn.Flatten):
            prev = layers[-1]["shape"]
            layers.append({"type": "flatten", "shape": np.array([int(np.prod(prev)), 1, 1], dtype=np.int64)})
            metas.append(getattr(m, _META, {}).get("layer"))
            pos += 1
            continue
        if not isinstance(m, (nn.Linear, nn.Conv2d)):
            raise UnsupportedExportError(
                f"{where(pos)} cannot be written to netx (Linear, Conv2d, Flatten, LIF)"
            )
        nxt = pos + 1
        delay = None
        if nxt < len(mods) and isinstance(mods[nxt], FixedDelay):
            fd: FixedDelay = mods[nxt]  # type: ignore[assignment]
            if fd.synaptic or not isinstance(m, nn.Linear):
                raise UnsupportedExportError(
                    f"{where(nxt)}: netx carries one delay per output neuron of a dense layer"
                )
            delay = fd.steps.detach().cpu().numpy().astype(np.float32)
            nxt += 1
        lif = neuron_after(nxt)
        nd, kr = _neuron_datasets(lif, where(nxt), weight_scale)
        if m.bias is not None and bool((m.bias != 0).any()) and lif.has_syn:
            raise UnsupportedExportError(
                f"{where(pos)}: a bias before a LIF with tau_syn (Loihi adds the bias to v, not the current)"
            )
        w = m.weight.detach().to(torch.float64)
        row = kr.reshape(-1) if isinstance(m, nn.Linear) else kr.reshape(kr.shape[0], -1)[:, 0]
        if isinstance(m, nn.Conv2d) and not bool((kr == row.reshape(-1, *([1] * (kr.dim() - 1)))).all()):
            raise UnsupportedExportError(f"{where(nxt)}: a conv layer needs one k*r per channel")
        wq = _quantize_weight(w * row.reshape(-1, *([1] * (w.dim() - 1))), weight_scale)
        layer = {"type": "dense" if isinstance(m, nn.Linear) else "conv"}
        if isinstance(m, nn.Linear):
            layer.update(
                shape=np.array([m.out_features], dtype=np.int64),
                inFeatures=np.int64(m.in_features),
                outFeatures=np.int64(m.out_features),
            )
        else:
            if m.padding_mode != "zeros" or isinstance(m.padding, str):
                raise UnsupportedExportError(f"{where(pos)}: only numeric zero padding")
            layer.update(
                shape=np.array(lif.shape, dtype=np.int64),
                inChannels=np.int64(m.in_channels),
                outChannels=np.int64(m.out_channels),
                kernelSize=np.array(m.kernel_size, dtype=np.int64),
                stride=np.array(m.stride, dtype=np.int64),
                padding=np.array(m.padding, dtype=np.int64),
                dilation=np.array(m.dilation, dtype=np.int64),
                groups=np.int64(m.groups),
            )
        layer["weight"] = wq
        if m.bias is not None:
            layer["bias"] = _quantize_weight(m.bias.detach().to(torch.float64) * row, weight_scale)
        if delay is not None:
            layer["delay"] = delay
        layer.update({f"neuron/{k}": v for k, v in nd.items()})
        layers.append(layer)
        metas.append(getattr(lif, _META, {}).get("layer"))
        pos = nxt + 1

    with h5py.File(path, "w") as f:
        for i, (layer, meta) in enumerate(zip(layers, metas)):
            g = f.create_group(f"layer/{i}")
            if meta is not None and meta.get("delay") is not None and "delay" not in layer:
                if not bool(np.any(np.asarray(meta["delay"]) != 0)):
                    layer["delay"] = meta["delay"]  # all-zero delays were read as no delay
            for key, value in layer.items():
                if meta is not None and key == "neuron/gradedSpike" and key not in meta and not value:
                    continue  # older (LOIHI) files have no gradedSpike; False is netx's default
                value = _as_written(key, value, meta)
                if key == "type":
                    g.create_dataset("type", (1,), "S10", [_str(value).encode("ascii")])
                elif key == "neuron/type":
                    g.create_dataset(
                        key, data=_str(value) if not isinstance(value, bytes) else value.decode()
                    )
                else:
                    g.create_dataset(key, data=value)
            if meta is not None:  # fields we do not model (slayer training fields of LOIHI neurons)
                for key, value in meta.items():
                    if key.startswith("neuron/") and key not in layer:
                        g.create_dataset(key, data=value)
        sim = meta_model.get("simulation")
        if sim:
            for key, value in sim.items():
                f.create_dataset(f"simulation/{key}", data=value)
