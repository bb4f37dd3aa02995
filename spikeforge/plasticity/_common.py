"""Helpers shared by the plasticity rules: parameter checks, shape checks, the batch-reduced
outer product and the shaping of third factors. Private: the public names live in the rule files."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor

from .._checks import check_floating
from ..errors import ParameterError, ShapeError

BatchReduce = Literal["mean", "sum", "none"]
Pairing = Literal["all_to_all", "nearest"]
Bound = Literal["hard", "soft", "none"]

BATCH_REDUCE: tuple[str, ...] = ("mean", "sum", "none")
PAIRINGS: tuple[str, ...] = ("all_to_all", "nearest")
BOUNDS: tuple[str, ...] = ("hard", "soft", "none")


def scalar(name: str, value: Any, *, check: str = "finite", unit: str = "") -> Tensor:
    """A parameter as a float64 tensor (a number, or a tensor that broadcasts to the weight).

    ``check`` is ``"finite"``, ``"positive"`` (> 0) or ``"nonnegative"`` (>= 0). Stored in float64
    so that published values survive; the rules cast to the weight's dtype at each step.
    """
    if isinstance(value, bool):
        raise ParameterError(f"{name} must be a number or a tensor, got {value!r}")
    if isinstance(value, Tensor):
        t = value.detach().clone().to(torch.float64)
    else:
        try:
            t = torch.as_tensor(value, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise ParameterError(f"{name} must be a number or a tensor, got {value!r}") from None
    if not bool(torch.isfinite(t).all()):
        raise ParameterError(f"{name} must be finite, got {value!r}")
    shown = repr(t.item()) if t.numel() == 1 else f"a tensor with min {t.min().item()!r}"
    suffix = f" {unit}" if unit else ""
    if check == "positive" and not bool((t > 0).all()):
        raise ParameterError(f"{name} must be > 0{suffix}, got {shown}")
    if check == "nonnegative" and not bool((t >= 0).all()):
        raise ParameterError(f"{name} must be >= 0{suffix}, got {shown}")
    return t


def check_bounds(w_min: Tensor, w_max: Tensor) -> None:
    if not bool((w_min < w_max).all()):
        raise ParameterError(f"w_min must be < w_max, got w_min={_show(w_min)} and w_max={_show(w_max)}")


class Bounds(NamedTuple):
    """Weight bounds, for :func:`~spikeforge.plasticity.apply_weight_update`."""

    w_min: Tensor
    w_max: Tensor


def optional_bounds(w_min: Any, w_max: Any, bound: str) -> Bounds:
    """Bounds of a rule whose bounds are optional: ``-inf``/``inf`` where not given, both needed
    unless ``bound="none"``, ``w_min < w_max``."""
    if bound != "none" and (w_min is None or w_max is None):
        raise ParameterError(f"bound={bound!r} needs w_min and w_max, got w_min={w_min!r}, w_max={w_max!r}")
    lo = torch.tensor(-math.inf, dtype=torch.float64) if w_min is None else scalar("w_min", w_min)
    hi = torch.tensor(math.inf, dtype=torch.float64) if w_max is None else scalar("w_max", w_max)
    check_bounds(lo, hi)
    return Bounds(lo, hi)


def register_params(module: torch.nn.Module, values: dict[str, Tensor]) -> None:
    """Check ``w_min < w_max`` (when both are among ``values``) and register every value as a
    buffer of ``module`` (so parameters are in ``state_dict`` and move with ``.to()``)."""
    if "w_min" in values and "w_max" in values:
        check_bounds(values["w_min"], values["w_max"])
    for name, t in values.items():
        module.register_buffer(name, t)


def increment_trace(trace: Tensor, spikes: Tensor, pairing: str) -> Tensor:
    """A spike trace after this step's spikes: ``trace + spikes`` (``"all_to_all"``) or reset to
    the spike where there is one (``"nearest"``)."""
    if pairing == "all_to_all":
        return trace + spikes
    return torch.where(spikes > 0, spikes, trace)


def _show(t: Tensor) -> str:
    return repr(t.item()) if t.numel() == 1 else f"a tensor of shape {list(t.shape)}"


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise ParameterError(f"{name} must be one of {list(allowed)!r}, got {value!r}")


def check_time(name: str, value: Any) -> float:
    """A finite number > 0 (ms), returned as float."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value > 0)
    ):
        raise ParameterError(f"{name} must be a finite number > 0 ms, got {value!r}")
    return float(value)


#: the longest spike delay of a rule, in steps (as a projection's delay)
MAX_SPIKE_DELAY_STEPS = 32767


class SpikeDelays(NamedTuple):
    """How many steps after its emission a rule sees each spike: ``pre`` (axonal delay) and
    ``post`` (dendritic delay), whole steps >= 0 (see :func:`spike_delay_steps`)."""

    pre: int
    post: int


def spike_delay_steps(name: str, value: Any, dt: float) -> int:
    """A spike delay of a rule (``dendritic_delay``, ``axonal_delay``) in ms, as whole steps of
    ``dt``: a finite number >= 0, rounded to the nearest step with a midpoint rounded up (NEST's
    ``ld_round`` of a delay; Brian2 rounds a delay to the nearest step too, a midpoint to even),
    at most :data:`MAX_SPIKE_DELAY_STEPS` steps.

    Example:
        >>> spike_delay_steps("dendritic_delay", 0.35, 0.1), spike_delay_steps("dendritic_delay", 0.15, 0.1)
        (4, 2)
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ParameterError(f"{name} must be a finite number >= 0 ms, got {value!r}")
    # a relative tolerance so that 0.15 / 0.1 = 1.4999999999999998 counts as the midpoint 1.5
    steps = math.floor(value / dt + 0.5 + 1e-9)
    if steps > MAX_SPIKE_DELAY_STEPS:
        raise ParameterError(
            f"{name} must be at most {MAX_SPIKE_DELAY_STEPS} steps ({MAX_SPIKE_DELAY_STEPS * dt} ms at "
            f"dt={dt} ms), got {value!r} ms"
        )
    return steps


class Synapses(NamedTuple):
    """Sparse connectivity for a rule's step: synapse ``k`` connects presynaptic neuron
    ``pre[k]`` to postsynaptic neuron ``post[k]`` (int64 ``[n_syn]`` each). With it, weights and
    changes are per synapse, ``[n_syn]``, and the work per step grows with the synapses, not with
    ``n_post * n_pre``."""

    post: Tensor
    pre: Tensor


def check_pre_post(
    pre: Any, post: Any, w: Any, batch_reduce: str, synapses: Synapses | None = None
) -> tuple[int, ...]:
    """Check ``pre [*batch, n_pre]``, ``post [*batch, n_post]`` and ``w``; return the batch shape.

    ``w`` is ``[n_post, n_pre]``, or ``[*batch, n_post, n_pre]`` with ``batch_reduce="none"``
    (one weight matrix per batch element); with ``synapses``, ``[n_syn]`` (or ``[*batch, n_syn]``).
    """
    pre = check_floating("pre", pre)
    post = check_floating("post", post)
    w = check_floating("w", w)
    if synapses is not None:
        return _check_synapses(pre, post, w, batch_reduce, synapses)
    if w.dim() < 2:
        raise ShapeError(f"w must be [n_post, n_pre], got shape {list(w.shape)}")
    n_post, n_pre = w.shape[-2], w.shape[-1]
    if pre.dim() < 1 or pre.shape[-1] != n_pre:
        raise ShapeError(f"pre must be [*batch, {n_pre}] to match w {list(w.shape)}, got {list(pre.shape)}")
    if post.dim() < 1 or post.shape[-1] != n_post:
        raise ShapeError(
            f"post must be [*batch, {n_post}] to match w {list(w.shape)}, got {list(post.shape)}"
        )
    batch = tuple(pre.shape[:-1])
    if tuple(post.shape[:-1]) != batch:
        raise ShapeError(
            f"pre and post must have the same batch shape, got {list(pre.shape)} and {list(post.shape)}"
        )
    if w.dim() > 2 and batch_reduce != "none":
        raise ShapeError(
            f"a batched w {list(w.shape)} needs batch_reduce='none', got batch_reduce={batch_reduce!r}"
        )
    return batch


def _check_synapses(
    pre: Tensor, post: Tensor, w: Tensor, batch_reduce: str, synapses: Synapses
) -> tuple[int, ...]:
    if not isinstance(synapses, Synapses):
        raise ParameterError(
            f"synapses must be a Synapses(post, pre) of index tensors, got {type(synapses).__name__}"
        )
    idx_post, idx_pre = synapses
    for name, idx in (("synapses.post", idx_post), ("synapses.pre", idx_pre)):
        if not isinstance(idx, Tensor) or idx.dim() != 1 or idx.dtype not in (torch.int32, torch.int64):
            raise ShapeError(f"{name} must be a 1-d integer tensor, got {idx!r}")
    n_syn = idx_post.shape[0]
    if idx_pre.shape[0] != n_syn or w.dim() < 1 or w.shape[-1] != n_syn:
        raise ShapeError(
            f"synapses.post, synapses.pre and w's last dimension must have one entry per synapse, got "
            f"{idx_post.shape[0]}, {idx_pre.shape[0]} and w {list(w.shape)}"
        )
    if pre.dim() < 1 or post.dim() < 1 or tuple(pre.shape[:-1]) != tuple(post.shape[:-1]):
        raise ShapeError(
            f"pre and post must be [*batch, n] with the same batch shape, got {list(pre.shape)} and "
            f"{list(post.shape)}"
        )
    if w.dim() > 1 and batch_reduce != "none":
        raise ShapeError(f"a batched w {list(w.shape)} needs batch_reduce='none', got {batch_reduce!r}")
    return tuple(pre.shape[:-1])


def check_state(state: Any, expected: dict[str, tuple[int, ...]]) -> None:
    for field, shape in expected.items():
        value = getattr(state, field)
        if not isinstance(value, Tensor) or tuple(value.shape) != shape:
            got = list(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ShapeError(f"state.{field} must have shape {list(shape)}, got {got}")


def outer(post_f: Tensor, pre_f: Tensor, batch_reduce: str, synapses: Synapses | None = None) -> Tensor:
    """``post_f ⊗ pre_f`` per batch element, then summed or averaged over the batch.

    ``post_f`` is ``[*batch, n_post]`` and ``pre_f`` is ``[*batch, n_pre]``; the result is
    ``[n_post, n_pre]`` (``"sum"``, ``"mean"``) or ``[*batch, n_post, n_pre]`` (``"none"``); with
    ``synapses``, its entries at the synapses only: ``[n_syn]`` (``[*batch, n_syn]``).
    """
    if synapses is not None:
        at = post_f[..., synapses.post] * pre_f[..., synapses.pre]
        return reduce_batch(at, batch_reduce, event_dims=1)
    if batch_reduce == "none":
        return post_f.unsqueeze(-1) * pre_f.unsqueeze(-2)
    n_post, n_pre = post_f.shape[-1], pre_f.shape[-1]
    a = post_f.reshape(-1, n_post)
    b = pre_f.reshape(-1, n_pre)
    out = a.transpose(0, 1) @ b
    if batch_reduce == "mean" and a.shape[0] > 1:
        out = out / a.shape[0]
    return out


def reduce_batch(t: Tensor, batch_reduce: str, event_dims: int = 2) -> Tensor:
    """Sum or average a ``[*batch, n_post, n_pre]`` tensor (``event_dims=1``: ``[*batch, n_syn]``)
    over its batch dimensions."""
    if batch_reduce == "none" or t.dim() <= event_dims:
        return t
    dims = tuple(range(t.dim() - event_dims))
    return t.sum(dims) if batch_reduce == "sum" else t.mean(dims)


def third_factor(
    name: str,
    m: Any,
    lead: tuple[int, ...],
    n_post: int,
    n_pre: int,
    like: Tensor,
    synapses: Synapses | None = None,
) -> Tensor:
    """:func:`as_third_factor` for a change laid out as ``like``: ``[*lead, n_post, n_pre]``, or,
    with ``synapses``, ``[*lead, n_syn]`` (the factor shaped as for the dense layout, then taken
    at the synapses)."""
    if synapses is None:
        return as_third_factor(name, m, lead, n_post, like)
    dense_like = like.new_empty(()).expand(lead + (n_post, n_pre))
    factor = as_third_factor(name, m, lead, n_post, dense_like)
    if factor.dim() == 0:
        return factor
    full = factor.expand(tuple(factor.shape[:-2]) + (n_post, n_pre))
    return full[..., synapses.post, synapses.pre]


def modulated(
    run: Callable[[str], tuple[Tensor, Any]],
    modulator: Any,
    batch: tuple[int, ...],
    batch_reduce: str,
    n_post: int,
    n_pre: int,
    synapses: Synapses | None = None,
) -> tuple[Tensor, Any]:
    """A rule's change times a third factor (see :func:`as_third_factor`). ``run(batch_reduce)``
    computes ``(dw, state)``; a factor per sample or per neuron multiplies the per-sample changes
    before the batch is reduced."""
    if modulator is None:
        return run(batch_reduce)
    per_sample = isinstance(modulator, Tensor) and modulator.dim() > 0 and batch_reduce != "none"
    dw, state = run("none" if per_sample else batch_reduce)
    lead = batch if per_sample or batch_reduce == "none" else ()
    dw = dw * third_factor("modulator", modulator, lead, n_post, n_pre, dw, synapses)
    if per_sample:
        dw = reduce_batch(dw, batch_reduce, event_dims=2 if synapses is None else 1)
    return dw, state


def cast(t: Tensor, like: Tensor) -> Tensor | float:
    """A parameter for arithmetic with ``like``: a Python float for a CPU scalar (no device copy,
    no sync), else the tensor in ``like``'s dtype and device."""
    if t.numel() == 1 and t.dim() == 0 and t.device.type == "cpu":
        return float(t)
    return t.to(dtype=like.dtype, device=like.device)


def decay(tau: Tensor, dt: float, like: Tensor) -> Tensor | float:
    """The exact per-step decay factor ``exp(-dt / tau)`` (a float for a CPU scalar ``tau``, else
    a tensor in ``like``'s dtype and device)."""
    if tau.numel() == 1 and tau.dim() == 0 and tau.device.type == "cpu":
        return math.exp(-dt / float(tau))
    return torch.exp(-dt / tau.to(dtype=like.dtype, device=like.device))


def as_third_factor(name: str, m: Any, batch: tuple[int, ...], n_post: int, like: Tensor) -> Tensor:
    """Shape a third factor (modulator or gate) to broadcast against ``[*batch, n_post, n_pre]``.

    Accepted: a number or 0-d tensor (global), ``[*batch]`` (one value per batch element),
    ``[*batch, n_post]`` or ``[n_post]`` (one value per postsynaptic neuron), or anything that
    already broadcasts to ``[*batch, n_post, n_pre]`` with at least 2 dimensions
    (``[*batch, n_post, 1]``, the full shape). ``[*batch]`` is tried before ``[n_post]``.
    """
    if isinstance(m, bool):
        raise ParameterError(f"{name} must be a number or a tensor, got {m!r}")
    if not isinstance(m, Tensor):
        try:
            return torch.as_tensor(m, dtype=like.dtype, device=like.device)
        except (TypeError, ValueError, RuntimeError):
            raise ParameterError(f"{name} must be a number or a tensor, got {m!r}") from None
    m = m.to(dtype=like.dtype, device=like.device)
    nb = len(batch)
    shape = tuple(m.shape)
    if m.dim() == 0:
        return m
    if shape == batch + (n_post,):
        return m.unsqueeze(-1)
    if shape == batch:
        return m.reshape(batch + (1, 1))
    if shape == (n_post,):
        return m.unsqueeze(-1)
    try:
        torch.broadcast_shapes(shape, tuple(like.shape))
    except RuntimeError:
        pass
    else:
        if m.dim() >= 2:
            return m
    raise ShapeError(
        f"{name} must be a number, [*batch] = {list(batch)}, [*batch, n_post] = "
        f"{list(batch + (n_post,))} or broadcast to {list(like.shape)}, got {list(shape)}"
        + (" (batch dims first)" if nb else "")
    )


@contextlib.contextmanager
def grad_mode(differentiable: bool) -> Iterator[None]:
    """``torch.no_grad()`` unless ``differentiable``."""
    if differentiable:
        yield
    else:
        with torch.no_grad():
            yield
