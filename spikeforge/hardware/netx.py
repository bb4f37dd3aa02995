"""lava-dl netx HDF5 (Loihi 2): being written; both functions raise ``NotImplementedError``."""

from __future__ import annotations

from pathlib import Path

from torch import nn

__all__ = ["write_netx", "read_netx"]


def write_netx(model: nn.Module, path: str | Path) -> None:
    """Not available yet."""
    raise NotImplementedError("write_netx is not available yet")


def read_netx(path: str | Path) -> nn.Module:
    """Not available yet."""
    raise NotImplementedError("read_netx is not available yet")
