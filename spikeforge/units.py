"""Units as plain floats: time in ms, voltage in mV, rates per ms.

spikeforge has no unit objects. Multiply a number by a unit to state what it means; every
parameter is stored in the base units below.

    >>> from spikeforge import units as u
    >>> 20 * u.ms, 1.5 * u.second, 40 * u.Hz
    (20.0, 1500.0, 0.04)
"""

from __future__ import annotations

__all__ = ["us", "ms", "second", "minute", "mV", "volt", "Hz", "kHz"]

# time (base: millisecond)
ms: float = 1.0
us: float = 1e-3
second: float = 1000.0
minute: float = 60_000.0

# voltage (base: millivolt)
mV: float = 1.0
volt: float = 1000.0

# rate (base: events per millisecond)
Hz: float = 1e-3
kHz: float = 1.0
