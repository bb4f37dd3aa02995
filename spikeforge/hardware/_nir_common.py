"""What the NIR export and import share: the lazy ``nir`` import, the importers' fixed steps and
the CubaLIF input weight that encodes spikeforge's synaptic jump."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from ..errors import MissingDependencyError

Importer = Literal["snntorch", "norse"]
Source = Literal["spikeforge", "nir", "snntorch", "norse"]
Integrator = Literal["exact", "euler"]

#: the step each importer discretises with, in seconds
IMPORTER_DT_S: dict[str, float] = {"snntorch": 1e-4, "norse": 1e-3}


def _import_nir() -> Any:
    try:
        import nir as nir_lib
    except ImportError as e:
        raise MissingDependencyError(
            "NIR export and import need the nir package: pip install 'spikeforge[nir]'"
        ) from e
    return nir_lib


def _np(t: Tensor, dtype: torch.dtype | None = None) -> np.ndarray:
    t = t.detach().cpu()
    return (t if dtype is None else t.to(dtype)).numpy().copy()


def _w_in(tau_syn: Tensor, dt: float, integrator: str) -> Tensor:
    """``w_in`` that makes the NIR synapse jump by the input, in the dtype of ``tau_syn``."""
    if integrator == "exact":
        return 1.0 / -torch.expm1(-dt / tau_syn)
    return tau_syn / dt
