"""Reading and atomically writing training checkpoints (the format is described in
:mod:`spikeforge.training.trainer`)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from ..errors import SpikeforgeError

__all__ = ["load_checkpoint", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "CHECKPOINT_NAME"]

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
    if int(ckpt.get("version", -1)) > CHECKPOINT_VERSION:
        raise SpikeforgeError(
            f"{p} is a checkpoint of version {ckpt['version']}; this spikeforge reads versions up to "
            f"{CHECKPOINT_VERSION}: upgrade spikeforge"
        )
    return ckpt


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
