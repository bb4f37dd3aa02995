"""PyNN's connectors: which (pre, post) pairs a ``Projection`` connects, drawn by spikeforge's
generator where random."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ParameterError, UnsupportedExportError
from .space import Space

__all__ = [
    "AllToAllConnector",
    "OneToOneConnector",
    "FixedProbabilityConnector",
    "FixedNumberPreConnector",
    "FixedNumberPostConnector",
    "DistanceDependentProbabilityConnector",
    "FromListConnector",
]


class AllToAllConnector:
    def __init__(self, allow_self_connections: bool = True) -> None:
        self.allow_self_connections = allow_self_connections

    def pairs(self, n_pre: int, n_post: int, same: bool, gen: torch.Generator) -> tuple[np.ndarray, ...]:
        pre, post = np.meshgrid(np.arange(n_pre), np.arange(n_post), indexing="ij")
        keep = np.ones_like(pre, dtype=bool) if (self.allow_self_connections or not same) else pre != post
        return pre[keep], post[keep]


class OneToOneConnector:
    def pairs(self, n_pre: int, n_post: int, same: bool, gen: torch.Generator) -> tuple[np.ndarray, ...]:
        if n_pre != n_post:
            raise ParameterError(
                f"OneToOneConnector needs populations of equal size, got {n_pre} and {n_post}"
            )
        return np.arange(n_pre), np.arange(n_pre)


class FixedProbabilityConnector:
    def __init__(self, p_connect: float, allow_self_connections: bool = True, rng: Any = None) -> None:
        if not 0.0 <= float(p_connect) <= 1.0:
            raise ParameterError(f"p_connect must be in [0, 1], got {p_connect!r}")
        self.p_connect, self.allow_self_connections = float(p_connect), allow_self_connections

    def pairs(self, n_pre: int, n_post: int, same: bool, gen: torch.Generator) -> tuple[np.ndarray, ...]:
        mask = (torch.rand(n_pre, n_post, generator=gen, dtype=torch.float64) < self.p_connect).numpy()
        if same and not self.allow_self_connections:
            np.fill_diagonal(mask, False)
        pre, post = np.nonzero(mask)
        return pre, post


def _fixed_number(
    name: str, n: int, n_from: int, n_to: int, no_self: bool, with_replacement: bool, gen: torch.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sources out of ``n_from`` for each of ``n_to`` targets: (source, target) index arrays."""
    pool = n_from - 1 if no_self else n_from
    if not with_replacement and n > pool:
        raise ParameterError(
            f"{name}: n = {n} connections per neuron without replacement need at least {n} candidates, "
            f"but there are {pool}" + (" (self-connections excluded)" if no_self else "")
        )
    if n == 0 or n_to == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    if pool <= 0:
        raise ParameterError(f"{name}: no candidates to draw n = {n} connections from")
    target = torch.arange(n_to).unsqueeze(1).expand(n_to, n)
    if with_replacement:
        src = torch.randint(pool, (n_to, n), generator=gen)
    else:
        src = torch.rand(n_to, pool, generator=gen, dtype=torch.float64).argsort(dim=1)[:, :n]
    if no_self:  # drawn among the pool without the target itself: shift past it
        src = src + (src >= target).long()
    return src.reshape(-1).numpy(), target.reshape(-1).numpy()


class FixedNumberPreConnector:
    """Each postsynaptic neuron gets ``n`` presynaptic partners drawn at random (PyNN's).

    Drawn by spikeforge's generator, so not the same draw as another backend's: scripts agree with
    them in distribution (exactly where the sources are alike).
    """

    def __init__(
        self, n: int, allow_self_connections: bool = True, with_replacement: bool = False, rng: Any = None
    ) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ParameterError(f"FixedNumberPreConnector: n must be an int >= 0, got {n!r}")
        self.n, self.allow_self_connections, self.with_replacement = (
            int(n),
            allow_self_connections,
            with_replacement,
        )

    def pairs(self, n_pre: int, n_post: int, same: bool, gen: torch.Generator) -> tuple[np.ndarray, ...]:
        no_self = same and not self.allow_self_connections
        pre, post = _fixed_number(
            "FixedNumberPreConnector", self.n, n_pre, n_post, no_self, self.with_replacement, gen
        )
        return pre, post


class FixedNumberPostConnector(FixedNumberPreConnector):
    """Each presynaptic neuron gets ``n`` postsynaptic partners drawn at random (PyNN's)."""

    def __init__(
        self, n: int, allow_self_connections: bool = True, with_replacement: bool = False, rng: Any = None
    ) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ParameterError(f"FixedNumberPostConnector: n must be an int >= 0, got {n!r}")
        super().__init__(n, allow_self_connections, with_replacement)

    def pairs(self, n_pre: int, n_post: int, same: bool, gen: torch.Generator) -> tuple[np.ndarray, ...]:
        no_self = same and not self.allow_self_connections
        post, pre = _fixed_number(
            "FixedNumberPostConnector", self.n, n_post, n_pre, no_self, self.with_replacement, gen
        )
        return pre, post


_EXPRESSION_NAMES = {
    name: getattr(np, name)
    for name in (
        "arccos arcsin arctan arctan2 ceil cos cosh exp fabs floor fmod hypot ldexp log log10 modf "
        "power sin sinh sqrt tan tanh maximum minimum e pi"
    ).split()
}


class DistanceDependentProbabilityConnector:
    """Each (pre, post) pair connects with probability ``p(d)``, ``d`` the distance between their
    positions in the projection's :class:`Space` (PyNN's).

    ``d_expression`` is a Python expression in ``d`` (``"exp(-d / 5)"``, ``"d < 3"``, with
    numpy's ``exp``, ``sqrt``, ``minimum``, ... and ``e``, ``pi``, the names PyNN's expressions
    use) or a function of a distance array. One uniform draw per pair, compared with ``p``, as
    PyNN's own connector does, but from spikeforge's generator: the same distribution as another
    backend's, not the same draw. ``allow_self_connections="NoMutual"`` is not supported.
    """

    uses_positions = True

    def __init__(
        self,
        d_expression: Any,
        allow_self_connections: bool = True,
        location_selector: Any = None,
        rng: Any = None,
        safe: bool = True,
        callback: Any = None,
    ) -> None:
        if not isinstance(allow_self_connections, bool):
            raise UnsupportedExportError(
                f"DistanceDependentProbabilityConnector: allow_self_connections={allow_self_connections!r} "
                "is not supported by spikeforge.pynn (True or False are)"
            )
        if location_selector is not None:
            raise UnsupportedExportError(
                "DistanceDependentProbabilityConnector: location_selector (multicompartment cells) is "
                "not supported"
            )
        if isinstance(d_expression, str):
            self.function = lambda d: eval(d_expression, {"__builtins__": {}}, {**_EXPRESSION_NAMES, "d": d})  # noqa: S307
        elif callable(d_expression):
            self.function = d_expression
        else:
            raise ParameterError(f"d_expression must be a string or a function of d, got {d_expression!r}")
        for d in (0.0, 1e12):  # PyNN's own check
            p = np.asarray(self.function(np.asarray(d)), dtype=np.float64)
            if not bool((p >= 0).all()):
                raise ParameterError(
                    f"d_expression {d_expression!r} gives a negative probability {float(p.min())} at "
                    f"d = {d:g}"
                )
        self.d_expression, self.allow_self_connections = d_expression, allow_self_connections

    def pairs_in_space(
        self, pre_pos: np.ndarray, post_pos: np.ndarray, space: Space, same: bool, gen: torch.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """(pre, post) indices drawn for positions ``[3, n_pre]`` and ``[3, n_post]``."""
        d = space.distances(pre_pos, post_pos)
        p = np.broadcast_to(np.asarray(self.function(d), dtype=np.float64), d.shape)
        u = torch.rand(d.shape, generator=gen, dtype=torch.float64).numpy()
        mask = u < p
        if same and not self.allow_self_connections:
            np.fill_diagonal(mask, False)
        pre, post = np.nonzero(mask)
        return pre, post


class FromListConnector:
    def __init__(self, conn_list: Any, column_names: Any = None) -> None:
        self.conn = np.asarray(conn_list, dtype=np.float64).reshape(len(conn_list), -1)
        self.columns = (
            list(column_names) if column_names is not None else ["weight", "delay"][: self.conn.shape[1] - 2]
        )

    def pairs(self, n_pre: int, n_post: int, same: bool, gen: torch.Generator) -> tuple[np.ndarray, ...]:
        out = [self.conn[:, 0].astype(np.int64), self.conn[:, 1].astype(np.int64)]
        for key in ("weight", "delay"):
            out.append(self.conn[:, 2 + self.columns.index(key)] if key in self.columns else None)  # type: ignore[arg-type]
        return tuple(out)
