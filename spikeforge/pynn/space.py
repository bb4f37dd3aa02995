"""Positions and distances (PyNN's ``pyNN.space``): the structures ``Line``, ``Grid2D``, ``Grid3D``
that place a population's neurons, and the ``Space`` in which a projection measures distances."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ParameterError, UnsupportedExportError

__all__ = ["Space", "Line", "Grid2D", "Grid3D"]


class Space:
    """Where distances are measured (PyNN's ``Space``): ``axes`` (``"x"``, ``"xy"``, ...; None is
    ``"xyz"``), ``scale_factor`` and ``offset`` applied to the postsynaptic positions
    (``d = pre - scale_factor * (post + offset)``), and ``periodic_boundaries`` (one
    ``(min, max)`` or None per axis)."""

    _AXES = {
        "x": [0],
        "y": [1],
        "z": [2],
        "xy": [0, 1],
        "yz": [1, 2],
        "xz": [0, 2],
        "xyz": [0, 1, 2],
        None: [0, 1, 2],
    }

    def __init__(
        self,
        axes: str | None = None,
        scale_factor: float = 1.0,
        offset: Any = 0.0,
        periodic_boundaries: Any = None,
    ) -> None:
        if axes not in self._AXES:
            raise ParameterError(
                f"Space: axes must be one of {[k for k in self._AXES if k]} or None, got {axes!r}"
            )
        self.axes, self.scale_factor, self.offset = self._AXES[axes], float(scale_factor), offset
        self.periodic_boundaries = periodic_boundaries

    @classmethod
    def _of(cls, space: Any) -> Space:
        """``space`` as a :class:`Space`: None (the default), ours, or PyNN's ``pyNN.space.Space``."""
        if space is None:
            return cls()
        if isinstance(space, Space):
            return space
        fields = ("axes", "scale_factor", "offset", "periodic_boundaries")
        if all(hasattr(space, f) for f in fields):  # pyNN.space.Space: axes as indices
            out = cls(None, space.scale_factor, space.offset, space.periodic_boundaries)
            out.axes = [int(a) for a in np.asarray(space.axes).reshape(-1)]
            return out
        raise UnsupportedExportError(
            f"Projection: space {type(space).__name__} is not supported (Space of spikeforge.pynn or "
            "pyNN.space is)"
        )

    def distances(self, pre: np.ndarray, post: np.ndarray) -> np.ndarray:
        """``[n_pre, n_post]`` distances between positions ``pre [3, n_pre]`` and ``post [3, n_post]``."""
        post = self.scale_factor * (post + np.asarray(self.offset, dtype=np.float64).reshape(-1, 1))
        d2 = np.zeros((pre.shape[1], post.shape[1]))
        for axis in self.axes:
            diff = pre[axis][:, None] - post[axis][None, :]
            bounds = None if self.periodic_boundaries is None else self.periodic_boundaries[axis]
            if bounds is not None:
                width = bounds[1] - bounds[0]
                diff = np.minimum(np.abs(diff), width - np.abs(diff))
            d2 += diff * diff
        return np.sqrt(d2)


class _Structure:
    def positions(self, n: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class Line(_Structure):
    """Neurons on a line (PyNN's default structure): ``x = x0 + dx * i``, ``y``, ``z`` fixed."""

    def __init__(self, dx: float = 1.0, x0: float = 0.0, y: float = 0.0, z: float = 0.0) -> None:
        self.dx, self.x0, self.y, self.z = float(dx), float(x0), float(y), float(z)

    def positions(self, n: int) -> np.ndarray:
        """``[3, n]`` positions."""
        return np.stack(
            [self.x0 + self.dx * np.arange(n, dtype=np.float64), np.full(n, self.y), np.full(n, self.z)]
        )


def _grid2d_side(n: int, aspect_ratio: float) -> int | None:
    """``nx`` of the ``nx x ny`` grid of ``n`` neurons with ``nx / ny = aspect_ratio``
    (``nx = sqrt(n * aspect_ratio)`` whole and dividing ``n``), or None if there is none."""
    root = math.sqrt(n * aspect_ratio)
    nx = round(root)
    if nx >= 1 and abs(root - nx) <= 1e-9 * root and n % nx == 0:
        return nx
    return None


def _grid2d_sizes_near(n: int, aspect_ratio: float) -> list[int]:
    """The largest size below ``n`` and the smallest above it that fill a grid of ``aspect_ratio``
    (those found with ``nx`` up to 10,000)."""
    below, above = None, None
    for nx in range(1, 10_001):
        size = nx * max(round(nx / aspect_ratio), 1)
        if _grid2d_side(size, aspect_ratio) != nx:
            continue
        if size < n:
            below = size
        elif size > n:
            above = size
            break
    return [s for s in (below, above) if s is not None]


class Grid2D(_Structure):
    """Neurons on an ``nx x ny`` grid, ``nx = sqrt(n * aspect_ratio)``, filled with y fastest (PyNN's);
    ``fill_order="sequential"`` only.

    ``aspect_ratio`` is ``nx / ny`` (points per side), so ``n * aspect_ratio`` must be the square of a
    whole ``nx`` that divides ``n``: 9 or 16 neurons for the default 1, not 12. Other sizes raise a
    :class:`~spikeforge.errors.ParameterError` when the population is created (PyNN's ``Grid2D``
    raises when it places them; for a few sizes where ``sqrt(n * aspect_ratio)`` is not whole but
    divides ``n`` it places a grid of the wrong size or aspect ratio instead).
    """

    def __init__(
        self,
        aspect_ratio: float = 1.0,
        dx: float = 1.0,
        dy: float = 1.0,
        x0: float = 0.0,
        y0: float = 0.0,
        z: float = 0.0,
        fill_order: str = "sequential",
        rng: Any = None,
    ) -> None:
        if fill_order != "sequential":
            raise UnsupportedExportError(
                f"Grid2D: fill_order={fill_order!r}; spikeforge.pynn fills 'sequential'"
            )
        if (
            isinstance(aspect_ratio, bool)
            or not isinstance(aspect_ratio, (int, float))
            or not (math.isfinite(aspect_ratio) and aspect_ratio > 0)
        ):
            raise ParameterError(
                f"Grid2D: aspect_ratio must be a finite number > 0 (nx / ny), got {aspect_ratio!r}"
            )
        self.aspect_ratio, self.dx, self.dy, self.x0, self.y0, self.z = (
            float(v) for v in (aspect_ratio, dx, dy, x0, y0, z)
        )

    def positions(self, n: int) -> np.ndarray:
        """``[3, n]`` positions.

        Raises:
            ParameterError: ``n`` neurons do not fill an ``nx x ny`` grid with
                ``nx / ny = aspect_ratio``; the message names the nearest sizes that do.
        """
        nx = _grid2d_side(n, self.aspect_ratio)
        if nx is None:
            near = " or ".join(str(s) for s in _grid2d_sizes_near(n, self.aspect_ratio))
            raise ParameterError(
                f"Grid2D: {n} neurons do not fill a grid with aspect_ratio={self.aspect_ratio!r}: the "
                "size must be nx * ny with nx / ny = aspect_ratio (sqrt(n * aspect_ratio) a whole "
                f"number that divides n), as in PyNN"
                + (f"; the nearest sizes that fit: {near}" if near else "")
            )
        x, y = np.indices((nx, n // nx), dtype=np.float64)
        return np.stack([self.x0 + self.dx * x.ravel(), self.y0 + self.dy * y.ravel(), np.full(n, self.z)])


class Grid3D(_Structure):
    """Neurons on an ``nx x ny x nz`` grid, z fastest (PyNN's); ``fill_order="sequential"`` only."""

    def __init__(
        self,
        aspect_ratioXY: float = 1.0,  # noqa: N803 - PyNN's names
        aspect_ratioXZ: float = 1.0,  # noqa: N803
        dx: float = 1.0,
        dy: float = 1.0,
        dz: float = 1.0,
        x0: float = 0.0,
        y0: float = 0.0,
        z0: float = 0.0,
        fill_order: str = "sequential",
        rng: Any = None,
    ) -> None:
        if fill_order != "sequential":
            raise UnsupportedExportError(
                f"Grid3D: fill_order={fill_order!r}; spikeforge.pynn fills 'sequential'"
            )
        self.ratios = (float(aspect_ratioXY), float(aspect_ratioXZ))
        self.d = (float(dx), float(dy), float(dz))
        self.origin = (float(x0), float(y0), float(z0))

    def positions(self, n: int) -> np.ndarray:
        """``[3, n]`` positions."""
        a, b = self.ratios
        nx = int(round((n * a * b) ** (1 / 3)))
        ny, nz = int(round(nx / a)), int(round(nx / b))
        if nx * ny * nz != n:
            raise ParameterError(f"Grid3D: {n} neurons do not fill a grid of aspect ratios {self.ratios}")
        idx = np.indices((nx, ny, nz), dtype=np.float64).reshape(3, -1)
        return np.stack([o + d * i for o, d, i in zip(self.origin, self.d, idx)])
