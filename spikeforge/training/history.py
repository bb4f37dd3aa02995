"""The per-epoch record of a training run, and its learning-curve plot."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ParameterError, SpikeforgeError

__all__ = ["History"]


@dataclass
class History:
    """Per-epoch record of a training run (one entry per completed epoch).

    Attributes:
        epoch: epoch number, from 1.
        step: optimizer steps done at the end of the epoch.
        train_loss: mean training loss over the epoch's samples.
        train_accuracy: training accuracy over the epoch (on the fly, while the weights change).
        val_loss: validation loss after the epoch, or None without a validation loader.
        val_accuracy: validation accuracy after the epoch, or None.
        wall_time: seconds the epoch took, training and validation (over all sessions of a
            resumed epoch).

    Example:
        >>> h = History()
        >>> h.append(epoch=1, step=10, train_loss=0.7, train_accuracy=0.6, val_loss=None,
        ...          val_accuracy=None, wall_time=1.5)
        >>> len(h), h.train_loss
        (1, [0.7])
    """

    epoch: list[int] = field(default_factory=list)
    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)
    wall_time: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.epoch)

    def append(self, **row: Any) -> None:
        """Add one epoch; the keyword names are the field names, all required."""
        names = [f.name for f in fields(self)]
        if sorted(row) != sorted(names):
            raise ParameterError(f"History.append needs exactly the fields {names}, got {sorted(row)}")
        for name in names:
            getattr(self, name).append(row[name])

    def to_dict(self) -> dict[str, list[Any]]:
        """Plain lists, for a checkpoint or JSON."""
        return {f.name: list(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, list[Any]]) -> History:
        """Inverse of :meth:`to_dict`."""
        return cls(**{f.name: list(d.get(f.name, [])) for f in fields(cls)})

    def plot(self, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
        """Save the learning curve (loss and accuracy per epoch) as an image.

        Uses matplotlib's Agg canvas directly, so it changes no global matplotlib state.

        Args:
            path: output file; the format follows the suffix (``.png``, ``.pdf``, ``.svg``).
            title: figure title.

        Returns:
            The path written.

        Raises:
            SpikeforgeError: the history is empty.
        """
        if not len(self):
            raise SpikeforgeError("History.plot needs at least one completed epoch")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(9.0, 3.4))
        FigureCanvasAgg(fig)
        ax_loss, ax_acc = fig.subplots(1, 2)
        ax_loss.plot(self.epoch, self.train_loss, "o-", label="train")
        ax_acc.plot(self.epoch, [100 * a for a in self.train_accuracy], "o-", label="train")
        val = [(e, lo, a) for e, lo, a in zip(self.epoch, self.val_loss, self.val_accuracy) if a is not None]
        if val:
            ax_loss.plot([v[0] for v in val], [v[1] for v in val], "s-", label="validation")
            ax_acc.plot([v[0] for v in val], [100 * v[2] for v in val], "s-", label="validation")
        ax_loss.set(xlabel="epoch", ylabel="loss")
        ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", ylim=(0, 100))
        for ax in (ax_loss, ax_acc):
            ax.grid(alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=120)
        return out
