r"""Recursive least squares (RLS) for a linear readout: the learning rule of FORCE (Sussillo & Abbott
2009, "Generating coherent patterns of activity from chaotic neural networks").

A readout :math:`y = W x` of a network's activity :math:`x` (rates, filtered spikes) learns online
the least-squares fit of a target :math:`s`. :math:`P` is a running estimate of the inverse of the
input correlation matrix plus a regulariser, :math:`P(0) = I / \alpha`; at every step, with the
error :math:`M = s - W x` computed *before* the update (FORCE's :math:`e_-`, sign flipped),

.. math::

    k = \frac{g\, P x}{\lambda + g\, x^\top P x}, \qquad
    P \leftarrow \frac{P - k\, (P x)^\top}{\lambda}, \qquad
    \Delta W = M\, k^\top ,

with a sample weight (gate) :math:`g \in [0, 1]` and a forgetting factor :math:`\lambda \in (0, 1]`
(FORCE: :math:`\lambda = 1`). After :math:`N` steps from :math:`W_0` the weights are exactly the
solution of the regularised, weighted least-squares problem

.. math::

    W_N = \arg\min_W \sum_{t=1}^{N} \lambda^{N-t} g_t \lVert s_t - W x_t \rVert^2
          + \lambda^{N} \alpha \lVert W - W_0 \rVert^2 ,

(ridge regression on everything seen, for :math:`\lambda = 1`; the tests check this). A step with
:math:`g = 0` changes nothing, not even by forgetting. With :math:`\lambda = 1`, :math:`P` shrinks
like the inverse of the number of samples, so the effective learning rate falls and a readout
that has converged adapts slowly to a new target: the reason FORCE needs an explicit reset of
:math:`P` (a fresh state) to relearn, or :math:`\lambda < 1`.

The rule never writes ``W``; the caller applies ``dw``. Each batch element is a separate learner
with its own :math:`P` and weights.

Example:
    >>> import torch
    >>> from spikeforge.plasticity import RLSReadout
    >>> rule = RLSReadout(alpha=1e-3)
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(50, 4, generator=g, dtype=torch.float64)
    >>> w_true = torch.tensor([[1.0, -2.0, 0.5, 0.0]], dtype=torch.float64)
    >>> w, state = torch.zeros(1, 4, dtype=torch.float64), None
    >>> for t in range(50):
    ...     y = rule.output(w, x[t])
    ...     dw, state = rule.step(x[t], y, w, state, target=w_true @ x[t])
    ...     w = w + dw
    >>> torch.allclose(w, w_true, atol=1e-4)
    True
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from .._checks import check_floating
from ..errors import ParameterError, ShapeError
from ._common import grad_mode, scalar

__all__ = ["RLSState", "rls_init_state", "rls_step", "RLSReadout"]


class RLSState(NamedTuple):
    """``p`` ``[*batch, n_pre, n_pre]``: the running inverse correlation matrix of the input (plus
    the regulariser), one per batch element."""

    p: Tensor


def rls_init_state(
    batch_shape: tuple[int, ...],
    n_pre: int,
    *,
    alpha: float = 1.0,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> RLSState:
    r""":math:`P = I / \alpha` for every batch element (``alpha`` > 0)."""
    a = float(scalar("alpha", alpha, check="positive"))
    eye = torch.eye(n_pre, dtype=dtype, device=device) / a
    return RLSState(eye.expand(tuple(batch_shape) + (n_pre, n_pre)).clone())


def rls_step(
    x: Tensor,
    error: Tensor,
    state: RLSState,
    *,
    gate: Tensor | float | None = None,
    forgetting: float = 1.0,
    differentiable: bool = False,
) -> tuple[Tensor, RLSState]:
    r"""One RLS step; returns ``(dw, state)`` (equations in :mod:`spikeforge.plasticity.rls`).

    Args:
        x: the readout's input ``[*batch, n_pre]``.
        error: :math:`M = s - W x` (with the weights before this step) ``[*batch, n_post]``.
        state: :class:`RLSState` with ``p`` ``[*batch, n_pre, n_pre]``.
        gate: sample weight :math:`g \in [0, 1]`: a number or ``[*batch]``; ``None`` means 1.
        forgetting: :math:`\lambda \in (0, 1]`.
        differentiable: record for autograd (default ``no_grad``).

    Returns:
        ``dw`` ``[*batch, n_post, n_pre]`` and the new state.
    """
    with grad_mode(differentiable):
        p = state.p
        px = (p @ x.unsqueeze(-1)).squeeze(-1)  # [*batch, n_pre]
        xpx = (x * px).sum(-1, keepdim=True)  # [*batch, 1]
        g = (
            torch.ones_like(xpx)
            if gate is None
            else torch.as_tensor(gate, dtype=x.dtype, device=x.device).expand(xpx.shape[:-1]).unsqueeze(-1)
        )
        lam = torch.where(g > 0, torch.full_like(g, forgetting), torch.ones_like(g))
        k = g * px / (lam + g * xpx)  # [*batch, n_pre]
        p_new = (p - k.unsqueeze(-1) * px.unsqueeze(-2)) / lam.unsqueeze(-1)
        dw = error.unsqueeze(-1) * k.unsqueeze(-2)
    return dw, RLSState(p_new)


class RLSReadout(nn.Module):
    r"""Recursive least squares for a linear readout (FORCE's rule), online, one learner per batch
    element.

    See :mod:`spikeforge.plasticity.rls` for the equations. :meth:`output` gives :math:`y = W x`;
    pass it as ``post`` with the ``target`` to :meth:`step` (the error is ``target - post``), or
    pass the error itself as ``modulator``. There is no reset method: a fresh state
    (``state=None`` or :meth:`init_state`) is FORCE's explicit reset of :math:`P`.

    Args:
        alpha: regulariser :math:`\alpha > 0`, :math:`P(0) = I / \alpha` (FORCE's
            :math:`1/\alpha` is its initial learning rate).
        forgetting: :math:`\lambda \in (0, 1]` (1: FORCE, every sample counts forever).
        differentiable: let gradients flow through :meth:`step`.

    Raises:
        ParameterError: ``alpha`` not > 0, ``forgetting`` outside (0, 1].

    Example:
        >>> import torch
        >>> from spikeforge.plasticity import RLSReadout
        >>> rule = RLSReadout(alpha=0.5)
        >>> w = torch.zeros(2, 3)
        >>> dw, s = rule.step(torch.ones(3), torch.zeros(2), w, target=torch.ones(2), gate=0.0)
        >>> bool((dw == 0).all()), torch.equal(s.p, torch.eye(3) / 0.5)   # closed gate: no change
        (True, True)
    """

    alpha: Tensor

    def __init__(self, *, alpha: float = 1.0, forgetting: float = 1.0, differentiable: bool = False) -> None:
        super().__init__()
        self.register_buffer("alpha", scalar("alpha", alpha, check="positive"))
        if (
            isinstance(forgetting, bool)
            or not isinstance(forgetting, (int, float))
            or not (0.0 < float(forgetting) <= 1.0)
        ):
            raise ParameterError(f"forgetting must be a number in (0, 1], got {forgetting!r}")
        self.forgetting = float(forgetting)
        self.differentiable = bool(differentiable)

    def init_state(
        self,
        batch_shape: tuple[int, ...],
        n_pre: int,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> RLSState:
        r""":math:`P = I / \alpha` per batch element (the reset of FORCE)."""
        return rls_init_state(batch_shape, n_pre, alpha=float(self.alpha), dtype=dtype, device=device)

    @staticmethod
    def output(w: Tensor, x: Tensor) -> Tensor:
        """The readout :math:`y = W x`: ``w`` ``[*batch, n_post, n_pre]`` (or ``[n_post, n_pre]``),
        ``x`` ``[*batch, n_pre]``; gives ``[*batch, n_post]``."""
        return (w @ x.unsqueeze(-1)).squeeze(-1)

    def step(
        self,
        x: Tensor,
        post: Tensor,
        w: Tensor,
        state: RLSState | None = None,
        *,
        modulator: Tensor | float | None = None,
        target: Tensor | float | None = None,
        gate: Tensor | float | None = None,
    ) -> tuple[Tensor, RLSState]:
        """One online step; returns ``(dw, state)`` with ``dw`` shaped like ``w``.

        Args:
            x: the readout's input ``[*batch, n_pre]``.
            post: the readout ``[*batch, n_post]`` with the current weights (:meth:`output`);
                used only with ``target``.
            w: weights ``[*batch, n_post, n_pre]`` (``[n_post, n_pre]`` without batch).
            state: the state before the step (``None``: fresh, :math:`P = I/\\alpha`).
            modulator: the error :math:`M` itself, a number or ``[*batch, n_post]``; overrides
                ``target``.
            target: the target :math:`s`; the error is ``target - post``.
            gate: the sample weight :math:`g \\in [0, 1]`, a number or ``[*batch]`` (``None``: 1).

        With neither ``modulator`` nor ``target`` there is no change (and ``P`` is kept).
        """
        x = check_floating("x", x)
        w = check_floating("w", w)
        batch, n_pre = tuple(x.shape[:-1]), x.shape[-1]
        if tuple(w.shape[:-2]) != batch or w.shape[-1] != n_pre:
            raise ShapeError(
                f"w must be [*batch, n_post, n_pre] = {list(batch) + ['n_post', n_pre]} for x "
                f"{list(x.shape)} (one learner per batch element), got {list(w.shape)}"
            )
        n_post = w.shape[-2]
        if state is None:
            state = self.init_state(batch, n_pre, dtype=w.dtype, device=w.device)
        elif not isinstance(state, RLSState) or tuple(state.p.shape) != batch + (n_pre, n_pre):
            got = list(state.p.shape) if isinstance(state, RLSState) else type(state).__name__
            raise ShapeError(f"state.p must be {list(batch) + [n_pre, n_pre]}, got {got}")
        if modulator is None and target is None:
            return torch.zeros_like(w), state
        try:
            if modulator is not None:
                m = torch.as_tensor(modulator, dtype=w.dtype, device=w.device)
            else:
                m = torch.as_tensor(target, dtype=w.dtype, device=w.device) - post
            m = m.expand(batch + (n_post,))
        except RuntimeError:
            raise ShapeError(
                f"the error (target - post, or modulator) must broadcast to {list(batch) + [n_post]}, "
                f"got target or modulator {modulator if modulator is not None else target!r} and post "
                f"{list(post.shape)}"
            ) from None
        if gate is not None:
            g = torch.as_tensor(gate, dtype=w.dtype, device=w.device)
            if g.dim() > 0 and tuple(g.shape) != batch:
                raise ShapeError(f"gate must be a number or [*batch] = {list(batch)}, got {list(g.shape)}")
            if bool(((g < 0) | (g > 1)).any()):
                raise ParameterError(f"gate must be in [0, 1], got {gate!r}")
            gate = g
        return rls_step(
            x, m, state, gate=gate, forgetting=self.forgetting, differentiable=self.differentiable
        )

    def forward(
        self,
        x: Tensor,
        post: Tensor,
        w: Tensor,
        state: RLSState | None = None,
        *,
        modulator: Tensor | float | None = None,
        target: Tensor | float | None = None,
        gate: Tensor | float | None = None,
    ) -> tuple[Tensor, RLSState]:
        """Same as :meth:`step`."""
        return self.step(x, post, w, state, modulator=modulator, target=target, gate=gate)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha.item()}, forgetting={self.forgetting}"
