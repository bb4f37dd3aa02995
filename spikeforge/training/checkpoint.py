"""Reading and atomically writing training checkpoints (the format is described in
:mod:`spikeforge.training.trainer`)."""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import SpikeforgeError

__all__ = [
    "load_checkpoint",
    "tensors_checksum",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CHECKPOINT_NAME",
]

CHECKPOINT_FORMAT = "spikeforge.training.checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_NAME = "last.pt"


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a training checkpoint (a file, or a folder holding ``last.pt``) onto the CPU.

    Args:
        path: the checkpoint file or the trainer's ``checkpoint_dir``.

    Returns:
        The checkpoint dict (its fields are listed in :mod:`spikeforge.training.trainer`).

    Raises:
        FileNotFoundError: no checkpoint there.
        SpikeforgeError: an unreadable file, not a spikeforge training checkpoint, or one of a
            newer version.

    Example:
        >>> load_checkpoint("no/such/dir")
        Traceback (most recent call last):
        ...
        FileNotFoundError: no training checkpoint at no/such/dir/last.pt
    """
    p = Path(path)
    if p.is_dir() or (not p.exists() and not p.suffix):
        p = p / CHECKPOINT_NAME
    if not p.is_file():
        raise FileNotFoundError(f"no training checkpoint at {p}")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as e:
        raise SpikeforgeError(f"cannot read the checkpoint {p} (truncated or not a torch file?): {e}") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise SpikeforgeError(
            f"{p} is not a spikeforge training checkpoint (no format {CHECKPOINT_FORMAT!r})"
        )
    version = ckpt.get("version", -1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise SpikeforgeError(f"{p}: the checkpoint's version must be an int, got {version!r}")
    if version > CHECKPOINT_VERSION:
        raise SpikeforgeError(
            f"{p} is a checkpoint of version {ckpt['version']}; this spikeforge reads versions up to "
            f"{CHECKPOINT_VERSION}: upgrade spikeforge"
        )
    _check_fields(ckpt, p)
    return ckpt


_INT_FIELDS = ("epoch", "batch", "step", "world_size")


def _check_fields(ckpt: dict[str, Any], p: Path) -> None:
    """Every field a resume reads, with its type and range, and the weights' checksum."""
    need = ("epoch", "batch", "step", "model", "optimizer", "scheduler", "rng", "meters", "history")
    missing = [k for k in (*need, "world_size", "readout") if k not in ckpt]
    if missing:
        raise SpikeforgeError(f"{p}: the checkpoint lacks the field(s) {missing}")
    for key in _INT_FIELDS:
        v = ckpt[key]
        low = 1 if key == "world_size" else 0
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise SpikeforgeError(f"{p}: the checkpoint's {key} must be an int >= {low}, got {v!r}")
    if not isinstance(ckpt["model"], Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in ckpt["model"].items()
    ):
        raise SpikeforgeError(f"{p}: the checkpoint's model must be a state_dict (names -> tensors)")
    if not isinstance(ckpt["optimizer"], Mapping):
        raise SpikeforgeError(f"{p}: the checkpoint's optimizer must be a state_dict")
    rng = ckpt["rng"]
    if (
        not isinstance(rng, Mapping)
        or not isinstance(rng.get("trainer"), torch.Tensor)
        or rng["trainer"].dtype != torch.uint8
        or not isinstance(rng.get("epoch_start"), (list, tuple))
        or not all(isinstance(g, torch.Tensor) and g.dtype == torch.uint8 for g in rng["epoch_start"])
    ):
        raise SpikeforgeError(f"{p}: the checkpoint's rng must hold generator states (uint8 tensors)")
    hist = ckpt["history"]
    if not isinstance(hist, Mapping) or not all(isinstance(v, list) for v in hist.values()):
        raise SpikeforgeError(f"{p}: the checkpoint's history must map names to lists")
    if not isinstance(ckpt["meters"], list):
        raise SpikeforgeError(f"{p}: the checkpoint's meters must be a list")
    stored = ckpt.get("checksum")
    if stored is not None and stored != tensors_checksum(ckpt["model"]):
        raise SpikeforgeError(
            f"{p}: the model weights do not match the checkpoint's checksum (the file is corrupt)"
        )


def tensors_checksum(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a state_dict's names, dtypes, shapes and bytes (what a checkpoint stores beside
    the weights, so a flipped byte is found before anything is loaded).

    Example:
        >>> a = tensors_checksum({"w": torch.zeros(2)})
        >>> a == tensors_checksum({"w": torch.zeros(2)}), a == tensors_checksum({"w": torch.ones(2)})
        (True, False)
    """
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{list(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
