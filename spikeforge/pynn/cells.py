"""PyNN's standard neuron types: the LIF cells (current- and conductance-based, exponential,
alpha and delta synapses) and Izhikevich, with PyNN's parameter names, units and defaults."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ParameterError

__all__ = ["IF_curr_exp", "IF_curr_alpha", "IF_curr_delta", "IF_cond_exp", "IF_cond_alpha", "Izhikevich"]


class _CellType:
    default_parameters: dict[str, float] = {}
    default_initial_values: dict[str, float] = {}
    synapse: str = ""

    def __init__(self, **parameters: Any) -> None:
        unknown = set(parameters) - set(self.default_parameters)
        if unknown:
            raise ParameterError(
                f"{type(self).__name__} has no parameters {sorted(unknown)}; it takes "
                f"{sorted(self.default_parameters)}"
            )
        self.parameters = {**self.default_parameters, **parameters}
        for key, value in parameters.items():  # one value per neuron: PyNN takes lists and arrays
            if isinstance(self.default_parameters[key], float) and isinstance(
                value, (list, tuple, np.ndarray)
            ):
                self.parameters[key] = np.asarray(value, dtype=np.float64)


_LIF = {
    "v_rest": -65.0,
    "cm": 1.0,
    "tau_m": 20.0,
    "tau_refrac": 0.1,
    "i_offset": 0.0,
    "v_reset": -65.0,
    "v_thresh": -50.0,
}


class IF_curr_exp(_CellType):  # noqa: N801 - PyNN's name
    """LIF with exponential current synapses (PyNN's parameters and defaults)."""

    default_parameters = {**_LIF, "tau_syn_E": 5.0, "tau_syn_I": 5.0}
    default_initial_values = {"v": -65.0}
    synapse = "exp"


class IF_curr_alpha(IF_curr_exp):  # noqa: N801
    """LIF with alpha current synapses."""

    default_parameters = {**_LIF, "tau_syn_E": 0.5, "tau_syn_I": 0.5}
    synapse = "alpha"


class IF_curr_delta(_CellType):  # noqa: N801
    """LIF whose synapses jump v (weights in mV)."""

    default_parameters = dict(_LIF)
    default_initial_values = {"v": -65.0}
    synapse = "delta"


class IF_cond_exp(_CellType):  # noqa: N801
    """LIF with exponential conductance synapses (weights in µS)."""

    default_parameters = {**_LIF, "tau_syn_E": 5.0, "tau_syn_I": 5.0, "e_rev_E": 0.0, "e_rev_I": -70.0}
    default_initial_values = {"v": -65.0}
    synapse = "cond_exp"


class IF_cond_alpha(IF_cond_exp):  # noqa: N801
    """LIF with alpha conductance synapses."""

    default_parameters = {**IF_cond_exp.default_parameters, "tau_syn_E": 0.3, "tau_syn_I": 0.5}
    synapse = "cond_alpha"


class Izhikevich(_CellType):
    """Izhikevich (2003) cell; delta synapses onto v (weights in mV), ``i_offset`` in nA."""

    default_parameters = {"a": 0.02, "b": 0.2, "c": -65.0, "d": 2.0, "i_offset": 0.0}
    default_initial_values = {"v": -70.0, "u": -14.0}
    synapse = "delta"
