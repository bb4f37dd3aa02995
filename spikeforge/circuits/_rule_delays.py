"""Spike delays of a plastic projection's rule (``dendritic_delay``, ``axonal_delay`` of
:class:`~spikeforge.plasticity.STDP` and :class:`~spikeforge.plasticity.TripletSTDP`) as the
PyTorch engine applies them: the rule sees each presynaptic spike ``spike_delays.pre`` steps and
each postsynaptic spike ``spike_delays.post`` steps after the step it was emitted in. The spikes
on their way are part of the projection's rule state (:class:`DelayedRuleState`), so that they
are saved in ``state_dict`` and a run split in two equals one run."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..plasticity import SpikeDelays


class DelayedRuleState(NamedTuple):
    """The state of a plastic projection whose rule has spike delays: the rule's own state and
    the spikes not yet seen, ``pre [B, spike_delays.pre, n_pre]`` and ``post [B,
    spike_delays.post, n_post]``, the spike of step ``s`` in slot ``s % steps``."""

    rule: Any
    pre: Tensor
    post: Tensor


def rule_spike_delays(rule: Any) -> SpikeDelays:
    """The spike delays (steps) of a rule, or of the rule an ``EligibilityTrace`` wraps (it
    passes the spikes on unchanged); ``(0, 0)`` for a rule without them."""
    delays = getattr(rule, "spike_delays", None)
    if delays is None:
        delays = getattr(getattr(rule, "rule", None), "spike_delays", None)
    return SpikeDelays(0, 0) if delays is None else SpikeDelays(*delays)


def with_delay_lines(
    rule: Any, state: Any, batch: int, n_pre: int, n_post: int, dtype: torch.dtype, device: torch.device
) -> Any:
    """``state`` (the rule's) with empty delay lines where the rule has spike delays, else itself."""
    d = rule_spike_delays(rule)
    if d == (0, 0):
        return state
    return DelayedRuleState(
        state,
        torch.zeros(batch, d.pre, n_pre, dtype=dtype, device=device),
        torch.zeros(batch, d.post, n_post, dtype=dtype, device=device),
    )


def _through(line: Tensor, spikes: Tensor, step: int) -> tuple[Tensor, Tensor]:
    """The spikes of ``step - steps`` (the line's slot ``step % steps``) and the line with
    this step's spikes in their place."""
    if line.shape[1] == 0:
        return spikes, line
    slot = step % line.shape[1]
    out = line[:, slot]
    line = line.clone()
    line[:, slot] = spikes
    return out, line


def seen_spikes(state: DelayedRuleState, pre: Tensor, post: Tensor, step: int) -> tuple[Tensor, Tensor, Any]:
    """The spikes ``[B, n]`` the rule sees at ``step`` (emitted ``spike_delays`` steps earlier)
    and the state with this step's spikes on their way (``rule`` unchanged).

    Example:
        >>> import torch
        >>> st = DelayedRuleState(None, torch.zeros(1, 0, 1), torch.zeros(1, 2, 1))  # post: 2 steps
        >>> seen = []
        >>> for s in range(5):
        ...     _, post, st = seen_spikes(st, torch.zeros(1, 1), torch.full((1, 1), float(s == 1)), s)
        ...     seen.append(int(post.item()))
        >>> seen
        [0, 0, 0, 1, 0]
    """
    pre_seen, pre_line = _through(state.pre, pre, step)
    post_seen, post_line = _through(state.post, post, step)
    return pre_seen, post_seen, DelayedRuleState(state.rule, pre_line, post_line)
