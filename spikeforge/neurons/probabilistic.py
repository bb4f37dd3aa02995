r"""The probabilistic meta neuron: a leaky membrane with stochastic release and stochastic firing.

.. math::

    \tau_{mem} \frac{dv}{dt} = (v_{leak} - v) + r\,m\,x, \qquad m \sim \mathrm{Bernoulli}(q),
    \qquad z \sim \mathrm{Bernoulli}(p), \quad p = \sigma(a), \quad a = \frac{v - v_{th}}{T}

Each step's input current ``x`` of a neuron is transmitted with the release probability ``q``
(one per neuron, applied to the neuron's summed input: per-synapse release belongs to the layer
that owns the synapses). The neuron fires with probability :math:`p`, :math:`\sigma` being the
logistic function and :math:`T` the temperature (in the units of v); after a spike the membrane
is reset to ``v_reset``. As :math:`T \to 0` and :math:`q = 1` it is a LIF neuron without
synaptic current.

Order of operations within one step of length :math:`\Delta t` (:func:`probabilistic_step`):

1. draw ``u = rand(2, *batch, *shape)`` from ``generator`` (release first, then spike);
2. release :math:`m = [u_0 < q]`, input current :math:`i = m\,x`;
3. membrane, holding :math:`i` fixed over the step (exact):
   :math:`v \leftarrow v + k\,(v_{leak} + r\,i - v)`, :math:`k = 1 - e^{-\Delta t/\tau_{mem}}`;
4. spike :math:`z = [u_1 < p]`; ``log_prob`` gains
   :math:`\log P(m) + \log P(z) = m\log q + (1-m)\log(1-q) + z\log p + (1-z)\log(1-p)`;
5. reset :math:`v \leftarrow v_{reset}` where :math:`z = 1` (the reset carries no gradient).

Deterministic mode (evaluation) draws nothing: :math:`m = q` (the expected current),
:math:`z = [p > 1/2]` (that is :math:`v > v_{th}`), and ``log_prob`` is unchanged.

Gradients (``estimator``):

- ``"straight_through"``: the forward pass uses the sample; the backward pass treats
  :math:`\partial z/\partial a` as :math:`\sigma'(a)` (``ste_variant="sigmoid"``, the default: the
  gradient of :math:`E[z] = p`, bounded by 1/4 and vanishing far from threshold) or as 1
  (``"identity"``, Bengio et al. 2013: :math:`\partial L/\partial a := \partial L/\partial z`),
  and :math:`\partial m/\partial q` as 1.
- ``"reinforce"``: spikes and release draws carry no gradient; the score-function estimator
  :math:`\hat g = (L - b)\,\nabla \log P(z, m)` comes from the surrogate loss
  ``(loss + (loss.detach() - b) * state.log_prob.sum(-1)).mean()``, with ``loss`` one value per
  batch element (``[*batch]``) and ``state.log_prob`` the log-probability of every draw since the
  state was created. Parameters after the neuron (a readout) still get their ordinary gradient
  through ``loss``. It is unbiased for any baseline ``b`` that does not depend on the sample (a
  constant, a running mean of past losses, or the mean loss of the *other* batch elements), and
  a good baseline lowers its variance. With truncated BPTT, start each chunk from
  ``state._replace(v=state.v.detach(), log_prob=torch.zeros_like(state.log_prob))``.

Randomness comes only from ``generator``; the global RNG is never used. Draws follow the order
(time, release/spike, batch, neuron), so a run split into chunks equals one run.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import ParamLike, as_param, check_choice, check_positive
from ..errors import ParameterError
from .base import NeuronModule

__all__ = [
    "ProbabilisticNeuron",
    "ProbabilisticParams",
    "ProbabilisticState",
    "probabilistic_coefficients",
    "probabilistic_init_state",
    "probabilistic_step",
]

Estimator = Literal["straight_through", "reinforce"]
SteVariant = Literal["sigmoid", "identity"]


class ProbabilisticParams(NamedTuple):
    """Parameters of the meta neuron; each a tensor broadcastable to the population shape."""

    tau_mem: Tensor  # ms, > 0
    v_leak: Tensor  # mV
    v_th: Tensor  # mV, > v_reset: where p = 1/2
    v_reset: Tensor  # mV
    r: Tensor  # input gain
    temperature: Tensor  # mV, > 0: the width of the firing sigmoid
    release: Tensor  # release probability q in (0, 1]


class ProbabilisticState(NamedTuple):
    """State of the meta neuron, each ``[*batch, *shape]``."""

    v: Tensor  # membrane after reset
    log_prob: Tensor  # log-probability of all release and spike draws so far (for REINFORCE)


def probabilistic_init_state(
    batch_shape: tuple[int, ...],
    params: ProbabilisticParams,
    shape: tuple[int, ...],
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> ProbabilisticState:
    """The resting state: ``v = v_leak``, ``log_prob = 0``."""
    full = tuple(batch_shape) + tuple(shape)
    dtype = dtype or params.v_leak.dtype
    v = params.v_leak.detach().to(dtype=dtype, device=device).expand(full).clone()
    return ProbabilisticState(v, torch.zeros(full, dtype=dtype, device=device))


def _uniform(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    if generator is None:  # a private, randomly seeded generator: never the global RNG
        generator = torch.Generator(device=like.device)
        generator.seed()
    u = torch.rand(shape, generator=generator, dtype=like.dtype, device=generator.device)
    return u.to(like.device)


def probabilistic_coefficients(params: ProbabilisticParams, dt: float) -> tuple[Tensor, Tensor, Tensor]:
    r"""The per-step constants of :func:`probabilistic_step`, as it computes them: the membrane
    factor :math:`k = 1 - e^{-\Delta t/\tau_{mem}}`, :math:`\log q` and :math:`\log(1 - q)` (each
    kept finite where unused: 0 at :math:`q = 1`).

    Example:
        >>> import torch
        >>> from spikeforge.neurons.probabilistic import ProbabilisticNeuron, probabilistic_coefficients
        >>> params = ProbabilisticNeuron(2, release=1.0).params()
        >>> k, log_q, log_not_q = probabilistic_coefficients(params, 1.0)
        >>> round(float(k), 6), float(log_q), abs(float(log_not_q))
        (0.048771, 0.0, 0.0)
    """
    q = params.release
    k = -torch.expm1(-dt / params.tau_mem)
    # at q = 1 every draw is a hit (u < 1), and the inner where keeps the unused log(1 - q) finite
    # so that its gradient is 0, not NaN
    log_q = torch.log(torch.where(q > 0, q, 1.0))
    log_not_q = torch.log1p(-torch.where(q < 1, q, 0.0))
    return k, log_q, log_not_q


def probabilistic_step(
    x: Tensor,
    state: ProbabilisticState,
    params: ProbabilisticParams,
    *,
    dt: float,
    generator: torch.Generator | None = None,
    estimator: Estimator = "straight_through",
    deterministic: bool = False,
    ste_variant: SteVariant = "sigmoid",
    uniforms: Tensor | None = None,
    sigmoid: Callable[[Tensor], Tensor] = torch.sigmoid,
) -> tuple[Tensor, ProbabilisticState]:
    """One step of the meta neuron (equations and order in the module docstring).

    Args:
        x: input current ``[*batch, *shape]``.
        state: the state before the step.
        params: parameters, tensors broadcastable to ``[*shape]``, in x's dtype.
        dt: step in ms.
        generator: source of the release and spike draws; None uses a fresh randomly seeded
            generator (never the global RNG). Unused when ``deterministic``.
        estimator: ``"straight_through"`` or ``"reinforce"`` (see the module docstring).
        deterministic: no draws: release ``q`` in expectation, spikes where ``p > 1/2``.
        ste_variant: ``"sigmoid"`` (backward ``sigma'(a)``) or ``"identity"`` (backward 1).
        uniforms: the draws ``[2, *batch, *shape]`` (release, then spike) in x's dtype, taken
            instead of ``generator``'s (a network's counter-based numbers); None draws them.
        sigmoid: the logistic function that gives ``p`` (a network passes one that its compiled
            engine evaluates bitwise alike).

    Returns:
        ``(z, new_state)`` with spikes ``z`` (0/1) in x's dtype.
    """
    q = params.release
    k, log_q, log_not_q = probabilistic_coefficients(params, dt)
    straight = estimator == "straight_through"
    log_prob = state.log_prob
    if deterministic:
        m = q
    else:
        u = _uniform((2, *state.v.shape), x, generator) if uniforms is None else uniforms
        hit = u[0] < q
        m_hard = hit.to(x.dtype)
        log_prob = log_prob + torch.where(hit, log_q, log_not_q)
        m = m_hard + (q - q.detach()) if straight else m_hard
    v = torch.lerp(state.v, params.v_leak + params.r * (m * x), k)
    a = (v - params.v_th) / params.temperature
    p = sigmoid(a)
    if deterministic:
        z_hard = (p > 0.5).to(x.dtype)
    else:
        z_hard = (u[1] < p).to(x.dtype)
        log_prob = log_prob - F.binary_cross_entropy_with_logits(a, z_hard, reduction="none")
    if straight:
        g = p if ste_variant == "sigmoid" else a
        z = z_hard + (g - g.detach())  # exactly z_hard forward; dz/da = sigma'(a) or 1 backward
    else:
        z = z_hard
    v_new = torch.where(z_hard > 0, params.v_reset, v)
    return z, ProbabilisticState(v_new, log_prob)


class ProbabilisticNeuron(NeuronModule):
    r"""A population of probabilistic meta neurons (stochastic release and firing).

    .. math::

        \tau_{mem} \frac{dv}{dt} = (v_{leak} - v) + r\,m\,x, \quad m \sim \mathrm{Bernoulli}(q),
        \quad z \sim \mathrm{Bernoulli}\big(\sigma((v - v_{th})/T)\big)

    See :mod:`spikeforge.neurons.probabilistic` for the discrete step, its order of operations,
    the gradient estimators and how to use REINFORCE. In training mode (``module.train()``) the
    neuron samples; in evaluation mode (``module.eval()``) it is deterministic (release ``q`` in
    expectation, spikes where ``p > 1/2``); ``deterministic=True`` or ``False`` overrides the mode.

    Args:
        n: number of neurons, or a shape such as ``(C, H, W)``.
        tau_mem: membrane time constant in ms (> 0).
        v_th: threshold in mV, where the firing probability is 1/2; must exceed ``v_reset``.
        v_reset: membrane value after a spike, mV.
        v_leak: resting potential, mV; the state starts here.
        r: input gain (resistance).
        temperature: width of the firing sigmoid in mV (> 0); 0.1 to 0.5 of ``v_th - v_leak``.
        release: release probability ``q`` in (0, 1]. A learnable ``q`` is stored through a
            sigmoid, so 1 becomes 1 - 1e-6 and barely moves: start it at 0.5 to 0.9 to learn it.
        dt: time step in ms (> 0).
        estimator: ``"straight_through"`` or ``"reinforce"``.
        generator: the ``torch.Generator`` of all draws (its state advances with each call);
            None draws from fresh randomly seeded generators. Draws are made on the
            generator's device and moved to the input's.
        learnable: among ``v_th``, ``tau_mem``, ``temperature``, ``release``; each is one value
            per neuron. ``tau_mem`` and ``temperature`` stay positive (softplus), ``release`` in
            (0, 1) (sigmoid) and ``v_th`` above ``v_reset`` (``v_reset`` + softplus).
        deterministic: None (default) follows ``not self.training``; True or False forces it.
        ste_variant: backward of the straight-through estimator: ``"sigmoid"`` (default,
            :math:`\partial z/\partial a = \sigma'(a)`) or ``"identity"`` (1).

    Shape:
        input ``[T, *batch, n]`` (``forward``/``scan``) or ``[*batch, n]`` (``step``); output
        the same, spikes 0/1 in the input's dtype. ``state.v`` and ``state.log_prob`` are
        ``[*batch, n]``.

    Raises:
        ParameterError: ``tau_mem``, ``temperature`` or ``dt`` not > 0, ``release`` outside
            (0, 1], ``v_reset >= v_th``, unknown ``estimator`` or ``ste_variant``, a
            ``generator`` that is not a ``torch.Generator``.
        ShapeError: input whose last dimension is not ``n`` (at call time).
        DTypeError: non-floating input (at call time).

    Example:
        >>> import torch
        >>> from spikeforge.neurons.probabilistic import ProbabilisticNeuron
        >>> g = torch.Generator().manual_seed(0)
        >>> neuron = ProbabilisticNeuron(3, temperature=0.2, release=0.8, generator=g,
        ...                              estimator="reinforce", learnable=("v_th", "release"))
        >>> x = torch.full((50, 16, 3), 0.15)        # [T, batch, n]
        >>> spikes, state = neuron(x)                # training mode: sampled
        >>> loss = (spikes.mean(0).sum(-1) - 3.0).pow(2)   # one loss per batch element
        >>> baseline = (loss.sum() - loss) / (loss.numel() - 1)   # leave-one-out mean
        >>> total = (loss + (loss - baseline).detach() * state.log_prob.sum(-1)).mean()
        >>> total.backward()                         # REINFORCE gradients
        >>> neuron.v_th_raw.grad.shape, neuron.release_raw.grad.shape
        (torch.Size([3]), torch.Size([3]))
        >>> _ = neuron.eval()
        >>> bool((neuron(x)[0] == neuron(x)[0]).all())    # evaluation mode is deterministic
        True
    """

    _learnable_allowed = ("v_th", "tau_mem", "temperature", "release")

    def __init__(
        self,
        n: int | tuple[int, ...],
        *,
        tau_mem: ParamLike = 20.0,
        v_th: ParamLike = 1.0,
        v_reset: ParamLike = 0.0,
        v_leak: ParamLike = 0.0,
        r: ParamLike = 1.0,
        temperature: ParamLike = 0.2,
        release: ParamLike = 1.0,
        dt: float = 1.0,
        estimator: Estimator = "straight_through",
        generator: torch.Generator | None = None,
        learnable: Collection[str] = (),
        deterministic: bool | None = None,
        ste_variant: SteVariant = "sigmoid",
    ) -> None:
        super().__init__(n, dt=dt, learnable=learnable)
        check_choice("estimator", estimator, ("straight_through", "reinforce"))
        check_choice("ste_variant", ste_variant, ("sigmoid", "identity"))
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ParameterError(f"generator must be a torch.Generator or None, got {generator!r}")
        if deterministic is not None and not isinstance(deterministic, bool):
            raise ParameterError(f"deterministic must be True, False or None, got {deterministic!r}")
        self.estimator: Estimator = estimator
        self.ste_variant: SteVariant = ste_variant
        self.generator = generator
        self.deterministic = deterministic

        tau_t = as_param("tau_mem", tau_mem, self.shape)
        check_positive("tau_mem", tau_t, "ms")
        temp_t = as_param("temperature", temperature, self.shape)
        check_positive("temperature", temp_t, "mV")
        q_t = as_param("release", release, self.shape)
        if not bool(((q_t > 0) & (q_t <= 1)).all()):
            raise ParameterError(f"release must be in (0, 1], got {release!r}")
        v_th_t, v_reset_t = as_param("v_th", v_th, self.shape), as_param("v_reset", v_reset, self.shape)
        if not bool((v_reset_t < v_th_t).all()):
            raise ParameterError(f"v_reset must be < v_th, got v_reset={v_reset!r} and v_th={v_th!r}")
        self._add_param("tau_mem", tau_t, "positive")
        self._add_param("v_leak", v_leak)
        self._add_param("v_reset", v_reset_t)
        self._add_param("v_th", v_th_t, ("above", "v_reset"))
        self._add_param("r", r)
        self._add_param("temperature", temp_t, "positive")
        self._add_param("release", q_t, "unit")

    @property
    def is_deterministic(self) -> bool:
        """Whether calls are deterministic now: ``deterministic``, or else ``not self.training``."""
        return not self.training if self.deterministic is None else self.deterministic

    def params(self, dtype: torch.dtype | None = None) -> ProbabilisticParams:
        """The constrained parameter values (differentiable for learnable ones)."""
        names = ProbabilisticParams._fields
        values = [getattr(self, f) for f in names]
        return ProbabilisticParams(*(t if dtype is None else t.to(dtype) for t in values))

    def init_state(
        self,
        batch_shape: tuple[int, ...] = (),
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> ProbabilisticState:
        """Resting state for a batch of shape ``batch_shape``."""
        device = device if device is not None else self.v_leak.device
        return probabilistic_init_state(batch_shape, self.params(), self.shape, dtype=dtype, device=device)

    def step(self, x: Tensor, state: ProbabilisticState | None = None) -> tuple[Tensor, ProbabilisticState]:
        """One step: ``x`` is ``[*batch, *shape]``; returns ``(spikes, state)``."""
        x = self._check_input(x, sequence=False)
        batch_shape = tuple(x.shape[: x.dim() - len(self.shape)])
        if state is None:
            state = self.init_state(batch_shape, dtype=x.dtype, device=x.device)
        else:
            self._check_state(state, batch_shape, x)
        return probabilistic_step(
            x,
            state,
            self.params(x.dtype),
            dt=self.dt,
            generator=self.generator,
            estimator=self.estimator,
            deterministic=self.is_deterministic,
            ste_variant=self.ste_variant,
        )

    def extra_repr(self) -> str:
        det = "" if self.deterministic is None else f", deterministic={self.deterministic}"
        return f"{super().extra_repr()}, estimator={self.estimator!r}{det}"
