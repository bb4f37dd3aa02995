"""Plasticity attachment of :class:`~spikeforge.circuits.Network`: the checks of a rule given to
``connect(..., plasticity=rule)``, the modulator (third factor) and the rule state (the learning
step itself is phase 6 of the PyTorch path, :mod:`spikeforge.circuits.engines.torch`)."""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor

from ..errors import ParameterError
from .projection import Projection
from .state import _StateMixin


class _PlasticMixin(_StateMixin):
    """Plastic projections: rule checks, modulators, rule state."""

    def _check_rule(self, rule: Any, learnable: bool) -> None:
        if not (callable(getattr(rule, "init_state", None)) and callable(getattr(rule, "step", None))):
            raise ParameterError(
                f"plasticity must be a plasticity rule with init_state and step (e.g. "
                f"sf.plasticity.STDP(dt={self.dt})), got {rule!r}"
            )
        if learnable:
            raise ParameterError(
                "a projection is either learnable (trained by an optimizer) or plastic (learns by a "
                "local rule during run), not both"
            )
        rdt = getattr(rule, "dt", None)
        if isinstance(rdt, (int, float)) and not math.isclose(float(rdt), self.dt, rel_tol=1e-9):
            raise ParameterError(
                f"the plasticity rule has dt={rdt} ms but the network's dt is {self.dt} ms; build the "
                f"rule with dt={self.dt}"
            )
        if getattr(rule, "batch_reduce", None) == "none":
            raise ParameterError(
                "a plastic projection has one weight matrix for all batch copies; build the rule with "
                "batch_reduce='mean' or 'sum', not 'none'"
            )

    def set_modulator(self, projection: str | Projection, value: Any) -> None:
        """Set the modulator (third factor: reward, dopamine, error) of a plastic projection from
        the next step on: a number, a tensor the rule accepts (e.g. ``[B]`` per copy), a callable
        ``t_ms -> value``, or None. A value that is not a callable is saved in ``state_dict``.

        Raises:
            ParameterError: not a plastic projection of this network.
        """
        name = projection.name if isinstance(projection, Projection) else projection
        if not isinstance(name, str) or name not in self.projections:
            raise ParameterError(
                f"projection must name a projection of this network {list(self.projections)}, got {name!r}"
            )
        proj = self._proj(name)
        if not proj.plastic:
            raise ParameterError(f"projection {name!r} is not plastic (connect it with plasticity=...)")
        if isinstance(value, Tensor):
            value = value.detach().to(self.device)
        proj.modulator = value

    def plasticity_state(self, projection: str | Projection) -> Any:
        """The current state of a plastic projection's rule (its NamedTuple: traces, tags, ...),
        with the batch axis ``B`` (size 1 for an unbatched network). For a rule with spike delays
        (``dendritic_delay``, ``axonal_delay``) a
        :class:`~spikeforge.circuits._rule_delays.DelayedRuleState`: the rule's state and the
        spikes on their way to it."""
        name = projection.name if isinstance(projection, Projection) else projection
        if not isinstance(name, str) or name not in self.projections or not self._proj(name).plastic:
            raise ParameterError(f"projection must name a plastic projection of this network, got {name!r}")
        return self._ensure_state().plastic[name]
