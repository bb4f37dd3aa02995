r"""Metaplasticity for continual learning: optimizers whose per-weight plasticity depends on the
weight's history.

* :class:`Metaplastic` (Laborieux et al. 2021, "Synaptic metaplasticity in binarized neural
  networks", Nat. Commun. 12:2549): Adam on the hidden weights :math:`W_h` of a binarized network
  (:math:`W_b = \mathrm{sign}(W_h)`, see :func:`binarize`), where an update that moves
  :math:`W_h` toward zero (toward a sign flip) is scaled by

  .. math::

      f_{meta}(W_h) = 1 - \tanh^2(m\, W_h),

  and an update away from zero applies in full. The more a weight has grown, the harder it is to
  flip, so what earlier tasks consolidated survives later ones. :math:`m = 0` is plain Adam.
* :class:`FastSlow`: fast and slow weights, :math:`W = W_{slow} + W_{fast}`. The fast part learns
  each task quickly and decays; :meth:`FastSlow.consolidate` moves a fraction of it into the slow
  part and resets it.
* :class:`CLASSP` (Ludwig 2024, "CLASSP: a biologically-inspired approach to continual learning
  through adjustment suppression and sparsity promotion"): a weight moves only when its gradient
  exceeds a threshold, and its learning rate decays with its accumulated (thresholded) gradients,
  a generalised AdaGrad.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from ..errors import ParameterError

__all__ = ["binarize", "Metaplastic", "FastSlow", "CLASSP"]

Params = Iterable[Tensor] | Iterable[dict[str, Any]]


def _number(name: str, value: Any, *, low: float | None = None, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if v != v or v in (float("inf"), float("-inf")):
        raise ParameterError(f"{name} must be finite, got {value!r}")
    if low is not None and (v <= low if low_open else v < low):
        raise ParameterError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    return v


def binarize(w: Tensor) -> Tensor:
    r"""``sign(w)`` in the forward pass, identity in the backward pass (straight-through).

    The binarized weight :math:`W_b = \mathrm{sign}(W_h)` of a binarized network (0 stays 0);
    gradients with respect to :math:`W_b` reach the hidden weight :math:`W_h` unchanged, as in
    Courbariaux et al. 2016 and Laborieux et al. 2021.

    Example:
        >>> import torch
        >>> from spikeforge.plasticity import binarize
        >>> w = torch.tensor([-0.3, 0.2], requires_grad=True)
        >>> (binarize(w) * torch.tensor([1.0, 2.0])).sum().backward()
        >>> binarize(w).tolist(), w.grad.tolist()
        ([-1.0, 1.0], [1.0, 2.0])
    """
    return w + (torch.sign(w) - w).detach()


class Metaplastic(Optimizer):
    r"""Adam with the metaplastic attenuation of Laborieux et al. 2021.

    With the Adam moments :math:`m_t, v_t` (exactly as :class:`torch.optim.Adam` computes them)
    the update of a hidden weight :math:`W` is

    .. math::

        W \leftarrow W - \frac{\mathrm{lr}}{1 - \beta_1^t}
            \frac{\hat m_t}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon}, \qquad
        \hat m_t = \begin{cases}
            (1 - \tanh^2(m\, W))\, m_t & \text{if } \mathrm{sign}(W)\, m_t > 0
                \text{ (the step moves } W \text{ toward 0)} \\
            m_t & \text{otherwise,}
        \end{cases}

    as in the public code of the paper (``Adam_meta``), which applies the factor to Adam's first
    moment in the update. With ``m=0`` the result is bitwise that of ``torch.optim.Adam``
    (``foreach=False``). As in that code, 1-D parameters (biases, norm scales) get plain Adam
    unless ``meta_1d=True``.

    Args:
        params: parameters or parameter groups (a group may set its own ``m``).
        lr: learning rate (0.005 in the paper).
        m: metaplasticity strength (>= 0); the paper uses 0.5 to 1.5 (1.3 on permuted MNIST).
        betas, eps, weight_decay: as in Adam (L2 weight decay added to the gradient).
        meta_1d: also attenuate 1-D parameters.

    Example:
        >>> import torch
        >>> from spikeforge.plasticity import Metaplastic
        >>> w = torch.nn.Parameter(torch.tensor([2.0, 2.0]))
        >>> opt = Metaplastic([w], lr=0.1, m=1.0, meta_1d=True)
        >>> w.grad = torch.tensor([1.0, -1.0])     # first entry: step toward 0; second: away
        >>> opt.step()
        >>> [round(v, 4) for v in (w.detach() - 2.0).tolist()]   # 0.1 * (1 - tanh(2)^2) and 0.1
        [-0.0071, 0.1]
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        m: float = 1.3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        meta_1d: bool = False,
    ) -> None:
        lr = _number("lr", lr, low=0.0)
        m = _number("m", m, low=0.0)
        eps = _number("eps", eps, low=0.0)
        weight_decay = _number("weight_decay", weight_decay, low=0.0)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise ParameterError(f"betas must be a pair of numbers in [0, 1), got {betas!r}")
        for i, b in enumerate(betas):
            if not (0.0 <= _number(f"betas[{i}]", b) < 1.0):
                raise ParameterError(f"betas[{i}] must be in [0, 1), got {b!r}")
        defaults = dict(lr=lr, m=m, betas=tuple(betas), eps=eps, weight_decay=weight_decay, meta_1d=meta_1d)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One optimisation step; ``closure`` re-evaluates the loss (optional)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
            meta = _number("m", group["m"], low=0.0)
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if grad.is_sparse:
                    raise ParameterError("Metaplastic does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0, dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                exp_avg, exp_avg_sq, step_t = state["exp_avg"], state["exp_avg_sq"], state["step"]
                step_t += 1
                if wd != 0:
                    grad = grad.add(p, alpha=wd)
                # the same operations, in the same order, as torch.optim.Adam (single tensor)
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                step = step_t.item()
                bias_correction1 = 1 - beta1**step
                bias_correction2 = 1 - beta2**step
                step_size = lr / bias_correction1
                bias_correction2_sqrt = bias_correction2**0.5
                denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
                numer = exp_avg
                if meta != 0.0 and (p.dim() > 1 or group["meta_1d"]):
                    toward_zero = torch.sign(p) * exp_avg > 0
                    f_meta = 1.0 - torch.tanh(meta * p) ** 2
                    numer = torch.where(toward_zero, f_meta * exp_avg, exp_avg)
                p.addcdiv_(numer, denom, value=-step_size)
        return loss


class FastSlow:
    r"""Fast and slow weights, :math:`W = W_{slow} + W_{fast}`, around any optimizer.

    The wrapped optimizer updates :math:`W` (the parameters the model uses). After each step the
    fast part decays toward the slow weights,

    .. math::

        W_{fast} \leftarrow (1 - \lambda_{decay})\, (W - W_{slow}), \qquad W = W_{slow} + W_{fast},

    and :meth:`consolidate` (call it at the end of a task, or every few steps) moves a fraction
    :math:`\lambda` of the fast part into the slow weights and resets the fast part:
    :math:`W_{slow} \leftarrow W_{slow} + \lambda W_{fast}`, :math:`W \leftarrow W_{slow}`.
    With ``fast_decay=0`` and ``consolidation=1`` it is the wrapped optimizer unchanged.

    Args:
        optimizer: the optimizer of the model's parameters (e.g. ``torch.optim.SGD``).
        fast_decay: :math:`\lambda_{decay}` in [0, 1], the fraction of the fast part lost per step.
        consolidation: :math:`\lambda` in [0, 1].

    Example:
        >>> import torch
        >>> from spikeforge.plasticity import FastSlow
        >>> w = torch.nn.Parameter(torch.zeros(2))
        >>> opt = FastSlow(torch.optim.SGD([w], lr=1.0), fast_decay=0.5, consolidation=1.0)
        >>> w.grad = torch.tensor([-1.0, 2.0]); opt.step()
        >>> w.tolist(), opt.fast(w).tolist()            # the fast part halved after the step
        ([0.5, -1.0], [0.5, -1.0])
        >>> opt.consolidate(); opt.slow(w).tolist(), opt.fast(w).tolist()
        ([0.5, -1.0], [0.0, 0.0])
    """

    def __init__(self, optimizer: Optimizer, *, fast_decay: float = 0.01, consolidation: float = 1.0) -> None:
        if not isinstance(optimizer, Optimizer):
            raise ParameterError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        self.fast_decay = _number("fast_decay", fast_decay, low=0.0)
        self.consolidation = _number("consolidation", consolidation, low=0.0)
        if self.fast_decay > 1.0:
            raise ParameterError(f"fast_decay must be in [0, 1], got {fast_decay!r}")
        if self.consolidation > 1.0:
            raise ParameterError(f"consolidation must be in [0, 1], got {consolidation!r}")
        self.optimizer = optimizer
        self._slow: dict[Tensor, Tensor] = {}
        for group in optimizer.param_groups:
            for p in group["params"]:
                self._slow[p] = p.detach().clone()

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.optimizer.param_groups

    def slow(self, p: Tensor) -> Tensor:
        """The slow weights of parameter ``p`` (a copy)."""
        return self._slow[p].clone()

    def fast(self, p: Tensor) -> Tensor:
        """The fast weights of parameter ``p``: ``p - slow``."""
        return p.detach() - self._slow[p]

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """The wrapped optimizer's step, then the decay of the fast weights."""
        loss = self.optimizer.step(closure)  # type: ignore[func-returns-value]
        if self.fast_decay > 0:
            keep = 1.0 - self.fast_decay
            for p, slow in self._slow.items():
                p.copy_(slow + keep * (p - slow))
        return loss

    @torch.no_grad()
    def consolidate(self) -> None:
        """:math:`W_{slow} \\leftarrow W_{slow} + \\lambda W_{fast}`; the fast part is reset."""
        for p, slow in self._slow.items():
            slow.add_(p - slow, alpha=self.consolidation)
            p.copy_(slow)

    def state_dict(self) -> dict[str, Any]:
        """The wrapped optimizer's state and the slow weights (in parameter order)."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "slow": [s.clone() for s in self._slow.values()],
            "fast_decay": self.fast_decay,
            "consolidation": self.consolidation,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        slow = state["slow"]
        if len(slow) != len(self._slow):
            raise ParameterError(f"state has {len(slow)} slow tensors, the optimizer {len(self._slow)}")
        for s, new in zip(self._slow.values(), slow):
            s.copy_(new)
        self.fast_decay = float(state["fast_decay"])
        self.consolidation = float(state["consolidation"])


class CLASSP(Optimizer):
    r"""CLASSP (Ludwig 2024): thresholded updates with per-weight decaying learning rates.

    For each weight, with gradient :math:`g` and mask :math:`u = \mathbb{1}[|g| > \theta]`:

    .. math::

        S \leftarrow S + u\, |g|^p, \qquad
        w \leftarrow w - \mathrm{lr}\, \frac{u\, g}{(\epsilon + S)^{1/p}}

    Weights whose gradient stays below the threshold do not move and keep their learning rate
    (sparsity promotion); weights that have moved a lot get small learning rates (adjustment
    suppression). ``p=2`` is AdaGrad restricted to supra-threshold gradients.

    The paper's public code (``CLASSP_optimizer``) compares the threshold with the whole tensor
    (``(grad**2).any() > threshold``) and accumulates :math:`|g|` whatever the power; this class
    follows the element-wise rule described in the paper.

    Args:
        params: parameters or parameter groups.
        lr: learning rate.
        threshold: :math:`\theta` (>= 0) on :math:`|g|`.
        power: :math:`p` (> 0).
        eps: :math:`\epsilon` (> 0).

    Example:
        >>> import torch
        >>> from spikeforge.plasticity import CLASSP
        >>> w = torch.nn.Parameter(torch.zeros(3))
        >>> opt = CLASSP([w], lr=0.1, threshold=0.5, power=2, eps=1e-12)
        >>> w.grad = torch.tensor([0.1, 1.0, -2.0]); opt.step()
        >>> [round(v, 4) for v in w.tolist()]          # below threshold: no move
        [0.0, -0.1, 0.1]
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.01,
        threshold: float = 0.0,
        power: float = 2.0,
        eps: float = 1e-5,
    ) -> None:
        defaults = dict(
            lr=_number("lr", lr, low=0.0),
            threshold=_number("threshold", threshold, low=0.0),
            power=_number("power", power, low=0.0, low_open=True),
            eps=_number("eps", eps, low=0.0, low_open=True),
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One optimisation step."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, theta, power, eps = group["lr"], group["threshold"], group["power"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                state = self.state[p]
                if not state:
                    state["grad_sum"] = torch.zeros_like(p)
                mask = g.abs() > theta
                gm = torch.where(mask, g, torch.zeros_like(g))
                state["grad_sum"].add_(gm.abs().pow(power))
                scale = (state["grad_sum"] + eps).pow(1.0 / power)
                p.sub_(lr * gm / scale)
        return loss

    def learning_rates(self, p: Tensor) -> Tensor:
        """The current per-weight learning rates ``lr / (eps + S)^(1/p)`` of parameter ``p``."""
        for group in self.param_groups:
            if any(q is p for q in group["params"]):
                s = self.state[p].get("grad_sum", torch.zeros_like(p))
                return group["lr"] / (s + group["eps"]).pow(1.0 / group["power"])
        raise ParameterError("p is not a parameter of this optimizer")
