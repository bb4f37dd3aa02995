"""Exception types of spikeforge.

Every error raised on bad user input is one of these, and its message names the argument,
the value given and what is allowed::

    >>> import spikeforge as sf
    >>> try:
    ...     sf.neurons.LIF(10, tau_mem=-5.0)
    ... except sf.errors.ParameterError as e:
    ...     print(e)
    tau_mem must be > 0 ms, got -5.0
"""

from __future__ import annotations

__all__ = [
    "SpikeforgeError",
    "ParameterError",
    "ShapeError",
    "DTypeError",
    "UnsupportedExportError",
    "MissingDependencyError",
]


class SpikeforgeError(Exception):
    """Base class of every spikeforge error."""


class ParameterError(SpikeforgeError, ValueError):
    """A parameter is out of its allowed range or of the wrong kind."""


class ShapeError(SpikeforgeError, ValueError):
    """A tensor does not have the shape a model expects."""


class DTypeError(SpikeforgeError, TypeError):
    """A tensor has a dtype the model cannot use (for example an integer input)."""


class UnsupportedExportError(SpikeforgeError, NotImplementedError):
    """A model or node has no representation in the requested export format."""


class MissingDependencyError(SpikeforgeError, ImportError):
    """An optional dependency is needed for this feature; the message says how to install it."""
