"""Ready-made circuits.

=========================  ====================================================================
``cuba``                   Vogels & Abbott (2005) current-based benchmark (Brian2's CUBA example)
``coba``                   the conductance-based benchmark (Brette et al. 2007)
``brunel``                 Brunel (2000) sparse E/I network; regimes ``"SR"``, ``"AI"``,
                           ``"SI_fast"``, ``"SI_slow"``
``izhikevich2003``         Izhikevich (2003) heterogeneous 800 E / 200 I network (alpha, gamma)
``winner_take_all``        excitatory groups competing through a shared inhibitory pool
``reservoir``              heterogeneous Izhikevich reservoir with input and readout populations
``disinhibitory``          E, PV, SST and VIP populations (the VIP -> SST -> E disinhibition)
=========================  ====================================================================

Every builder takes ``seed`` (connectivity and, by default, the noise seeds) and the
:class:`~spikeforge.circuits.Network` options, and returns the network unrun, with the
populations named in its docstring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch

from ..errors import ParameterError, ShapeError
from ..neurons.izhikevich import Izhikevich
from ..neurons.lif import LIF
from . import _philox
from .inputs import TimedArray
from .network import Network
from .projection import Explicit, Normal, OneToOne, Uniform
from .synapses import ExpConductance, ExpSynapse

__all__ = [
    "cuba",
    "coba",
    "brunel",
    "BRUNEL_REGIMES",
    "izhikevich2003",
    "winner_take_all",
    "reservoir",
    "disinhibitory",
    "GaussianCurrent",
]


def cuba(
    n: int = 4000,
    seed: int | None = 0,
    *,
    dt: float = 0.1,
    p: float | None = 0.02,
    in_degree: int | None = None,
    delay: float = 0.0,
    batch: int | None = None,
    noise_seed: int | Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    compiled: bool | None = None,
) -> Network:
    r"""The CUBA network: 80 % excitatory and 20 % inhibitory LIF neurons with exponential currents.

    As Brian2's ``examples/CUBA.py``:

    .. math::

        \tau_m \dot v = (g_e + g_i) - (v - E_l), \qquad \tau_e \dot g_e = -g_e, \qquad
        \tau_i \dot g_i = -g_i

    with :math:`\tau_m = 20`, :math:`\tau_e = 5`, :math:`\tau_i = 10` ms, threshold -50 mV,
    reset -60 mV, :math:`E_l = -49` mV (above threshold, so activity is self-sustained), refractory
    5 ms, and each spike adding :math:`w_e = 60 \cdot 0.27/10 = 1.62` mV to :math:`g_e` or
    :math:`w_i = -20 \cdot 4.5/10 = -9` mV to :math:`g_i` of its targets. The membranes start
    uniform in [-60, -50) mV, drawn per copy from the copy's noise generator.

    In spikeforge terms: populations ``"exc"`` and ``"inh"`` of :class:`~spikeforge.neurons.LIF`
    (exact integrator, ``r = 1``), four projections ``exc->exc``, ``exc->inh`` (``ExpSynapse(5)``,
    weight 1.62) and ``inh->exc``, ``inh->inh`` (``ExpSynapse(10)``, weight -9), whose exact
    propagator makes the discrete step equal to Brian2's ``method='exact'``. Brian2's refractory
    period counts the spike's own step, LIF's ``t_ref`` the steps after it, so Brian2's 5 ms is
    ``t_ref = 5 - dt``.

    Args:
        n: number of neurons (80 % excitatory, rounded).
        seed: the network seed (connectivity, and by default the copies' noise seeds).
        dt: step in ms.
        p: connection probability (Brian2's 0.02), used when ``in_degree`` is None.
        in_degree: instead of ``p``, a fixed number of inputs per neuron, 80 % of them excitatory
            (the benchmark uses 80 at every size, the in-degree of ``p = 0.02`` at 4000 neurons).
        delay: synaptic delay in ms (0 in Brian2's example: a spike acts on the next step).
        batch, noise_seed, dtype, device, compiled: as for :class:`~spikeforge.circuits.Network`.

    Returns:
        the network (not yet run).

    Example:
        >>> from spikeforge.circuits import builders
        >>> net = builders.cuba(n=400, seed=0)
        >>> [p.name for p in net.projections.values()]
        ['exc->exc', 'exc->inh', 'inh->exc', 'inh->inh']
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 5:
        raise ParameterError(f"n must be an int >= 5, got {n!r}")
    if in_degree is None and p is None:
        raise ParameterError("give p or in_degree")
    net = Network(
        dt, batch=batch, seed=seed, noise_seed=noise_seed, dtype=dtype, device=device, compiled=compiled
    )
    dtype = net.dtype
    n_exc = int(round(0.8 * n))
    n_inh = n - n_exc

    def lif(k: int) -> LIF:
        def t(x: float) -> torch.Tensor:
            return torch.tensor(x, dtype=dtype)

        return LIF(
            k, tau_mem=t(20.0), v_th=t(-50.0), v_reset=t(-60.0), v_leak=t(-49.0), t_ref=t(5.0 - dt), dt=dt
        )

    v0 = Uniform(-60.0, -50.0)
    net.add_population("exc", lif(n_exc), sign="excitatory", init={"v": v0})
    net.add_population("inh", lif(n_inh), sign="inhibitory", init={"v": v0})
    we, wi = 60 * 0.27 / 10, -20 * 4.5 / 10
    syn_e, syn_i = ExpSynapse(tau=5.0), ExpSynapse(tau=10.0)
    if in_degree is not None:
        k_e = int(round(0.8 * in_degree))
        k_i = in_degree - k_e
        for post in ("exc", "inh"):
            net.connect("exc", post, in_degree=k_e, weight=we, delay=delay, synapse=syn_e)
        for post in ("exc", "inh"):
            net.connect("inh", post, in_degree=k_i, weight=wi, delay=delay, synapse=syn_i)
    else:
        for post in ("exc", "inh"):
            net.connect("exc", post, p=p, weight=we, delay=delay, synapse=syn_e)
        for post in ("exc", "inh"):
            net.connect("inh", post, p=p, weight=wi, delay=delay, synapse=syn_i)
    return net


# ---------------------------------------------------------------------------------------------
# shared pieces


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParameterError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _check_positive(name: str, value: Any, unit: str = "") -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value > 0)
    ):
        raise ParameterError(f"{name} must be a finite number > 0{' ' + unit if unit else ''}, got {value!r}")
    return float(value)


def _check_nonnegative(name: str, value: Any, unit: str = "") -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value >= 0)
    ):
        raise ParameterError(
            f"{name} must be a finite number >= 0{' ' + unit if unit else ''}, got {value!r}"
        )
    return float(value)


def _network(
    dt: float,
    seed: int | None,
    batch: int | None,
    noise_seed: int | Sequence[int] | None,
    dtype: torch.dtype | None,
    device: torch.device | str | None,
    compiled: bool | None,
) -> Network:
    return Network(
        dt, batch=batch, seed=seed, noise_seed=noise_seed, dtype=dtype, device=device, compiled=compiled
    )


def _lif(
    n: int,
    dt: float,
    dtype: torch.dtype,
    *,
    tau_mem: float,
    v_th: float,
    v_reset: float,
    v_leak: float,
    t_ref: float,
    integrator: Literal["exact", "euler"] = "exact",
) -> LIF:
    def t(x: float) -> torch.Tensor:
        return torch.tensor(x, dtype=dtype)

    return LIF(
        n,
        tau_mem=t(tau_mem),
        v_th=t(v_th),
        v_reset=t(v_reset),
        v_leak=t(v_leak),
        t_ref=t(t_ref),
        dt=dt,
        integrator=integrator,
    )


class GaussianCurrent(_philox.NormalNoise):
    """White Gaussian input, a fresh ``amplitude * N(0, 1)`` per neuron and step (the thalamic
    input of Izhikevich 2003), as a function of time for :meth:`Network.add_current
    <spikeforge.circuits.Network.add_current>`.

    The normal of neuron ``j`` in step ``k`` of copy ``b`` is the counter-based draw of
    :mod:`spikeforge.circuits._philox` keyed by ``seeds[b]`` with counter ``(j, k, stream)``
    (Box-Muller, float64), so it depends on neither how a run is split nor the order of calls,
    and the compiled engine draws the same numbers inside its kernel.

    Args:
        amplitude: ``[n]`` (or a scalar) standard deviation per neuron, in the unit of the input.
        n: the number of neurons.
        dt: the network's step in ms.
        seeds: one seed per batch copy (the network's ``noise_seeds``).
        batched: whether the network has a batch axis (then values are ``[C, B, n]``).
        stream: the stream index (below 2**24): currents of one network need distinct streams.

    Example:
        >>> import torch
        >>> from spikeforge.circuits.builders import GaussianCurrent
        >>> cur = GaussianCurrent(2.0, 3, 1.0, [7], batched=False, stream=0)
        >>> x = cur(torch.arange(4, dtype=torch.float64))  # steps 0..3
        >>> x.shape, bool(torch.equal(cur(torch.tensor([2.0]))[0], x[2]))
        (torch.Size([4, 3]), True)
    """

    def __init__(
        self, amplitude: Any, n: int, dt: float, seeds: Sequence[int], *, batched: bool, stream: int = 0
    ) -> None:
        self.amplitude = torch.as_tensor(amplitude, dtype=torch.float64).reshape(-1)
        if self.amplitude.numel() not in (1, n):
            raise ShapeError(f"amplitude must be a scalar or [n={n}], got {self.amplitude.numel()} values")
        if isinstance(stream, bool) or not isinstance(stream, int) or not 0 <= stream < 1 << 24:
            raise ParameterError(f"stream must be an int in [0, 2**24), got {stream!r}")
        self.n, self.dt, self.seeds, self.batched = n, float(dt), list(seeds), batched
        self.stream = _philox.stream(_philox.KIND_NORMAL, stream)

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        steps = torch.round(t.to(torch.float64) / self.dt).to(torch.int64).reshape(-1)
        out = _philox.normal(self.seeds, self.stream, steps, self.n) * self.amplitude  # [C, B, n]
        return out if self.batched else out[:, 0]

    def __repr__(self) -> str:
        return f"GaussianCurrent(n={self.n}, copies={len(self.seeds)})"


# ---------------------------------------------------------------------------------------------
# COBA


def coba(
    n: int = 4000,
    seed: int | None = 0,
    *,
    dt: float = 0.1,
    p: float = 0.02,
    we: float = 0.6,
    wi: float = 6.7,
    delay: float = 0.0,
    batch: int | None = None,
    noise_seed: int | Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    compiled: bool | None = None,
) -> Network:
    r"""The COBA benchmark (Vogels & Abbott 2005; Brette et al. 2007): 80 % excitatory and 20 %
    inhibitory LIF neurons with conductance-based exponential synapses.

    .. math::

        \tau_m \dot v = (E_l - v) + g_e (E_e - v) + g_i (E_i - v), \qquad
        \tau_e \dot g_e = -g_e, \qquad \tau_i \dot g_i = -g_i

    with conductances relative to the leak, :math:`\tau_m = 20`, :math:`\tau_e = 5`,
    :math:`\tau_i = 10` ms, :math:`E_l = V_r = -60`, :math:`V_t = -50`, :math:`E_e = 0`,
    :math:`E_i = -80` mV, refractory 5 ms, p = 0.02, and jumps :math:`w_e = 6\,\mathrm{nS}/10\,
    \mathrm{nS} = 0.6` and :math:`w_i = 67/10 = 6.7`. Forward Euler, as the Brian script
    (``method='euler'``).

    :math:`E_l < V_t`: the activity is not self-starting. As in the Brian script of Brette et al.
    (2007), the membranes start uniform in :math:`[V_r, V_t) = [-60, -50)` mV (``Vr + rand() *
    (Vt - Vr)``) and the conductances at :math:`g_e \sim \mathcal N(4, 1.5^2)`,
    :math:`g_i \sim \mathcal N(20, 12^2)`, all drawn per copy from the copy's noise generator
    (``init`` of :meth:`~spikeforge.circuits.Network.add_population` and
    :meth:`~spikeforge.circuits.Network.connect`), so they act from the first step, as in Brian.
    A projection has its own conductance per target neuron, and the two projections onto a
    population with the same kinetics sum linearly, so the initial :math:`g_e` of a population is
    the ``g`` of the projection from ``"exc"`` onto it and :math:`g_i` that from ``"inh"``. To start
    from other values, call :meth:`~spikeforge.circuits.Network.set_state` before the run, e.g.
    ``net.set_state("exc->exc", "g", ge0)``.

    Populations: ``"exc"`` (80 %, rounded; Dale sign excitatory) and ``"inh"`` of
    :class:`~spikeforge.neurons.LIF` (Euler integrator, ``t_ref = 5 - dt`` as in :func:`cuba`);
    projections ``exc->exc``, ``exc->inh`` (``ExpConductance(5, e_rev=0)``, weight ``we``),
    ``inh->exc``, ``inh->inh`` (``ExpConductance(10, e_rev=-80)``, weight ``wi``). A conductance
    weight is the (positive) jump of ``g``; inhibition comes from the reversal potential, so
    ``"inh"`` carries no Dale sign (spikeforge's inhibitory sign asks for weights <= 0).

    Args:
        n: number of neurons (>= 5).
        seed: the network seed (connectivity, and by default the noise seeds).
        dt: step in ms.
        p: connection probability (0.02). Smaller networks need the benchmark's mean in-degree
            (80) to stay active: with ``p = 0.02``, 1000 neurons fall silent within ~40 ms; with
            ``p = 0.08`` they do not.
        we: excitatory conductance jump, relative to the leak (6 nS / 10 nS).
        wi: inhibitory conductance jump, relative to the leak (67 nS / 10 nS).
        delay: synaptic delay in ms (0: a spike acts on the next step).
        batch, noise_seed, dtype, device, compiled: as for :class:`~spikeforge.circuits.Network`.

    Returns:
        the network (not yet run).

    Example:
        >>> from spikeforge.circuits import builders
        >>> net = builders.coba(n=400, seed=0)
        >>> sorted(net.neurons.keys())
        ['exc', 'inh']
    """
    n = _check_int("n", n, 5)
    we = _check_nonnegative("we", we)
    wi = _check_nonnegative("wi", wi)
    net = _network(dt, seed, batch, noise_seed, dtype, device, compiled)
    n_exc = int(round(0.8 * n))
    n_inh = n - n_exc
    kw: dict[str, Any] = dict(
        tau_mem=20.0, v_th=-50.0, v_reset=-60.0, v_leak=-60.0, t_ref=5.0 - dt, integrator="euler"
    )
    v0 = Uniform(-60.0, -50.0)
    net.add_population("exc", _lif(n_exc, dt, net.dtype, **kw), sign="excitatory", init={"v": v0})  # type: ignore[arg-type]
    net.add_population("inh", _lif(n_inh, dt, net.dtype, **kw), init={"v": v0})  # type: ignore[arg-type]
    syn_e = ExpConductance(tau=5.0, e_rev=0.0)
    syn_i = ExpConductance(tau=10.0, e_rev=-80.0)
    ge0, gi0 = Normal(4.0, 1.5), Normal(20.0, 12.0)
    for post in ("exc", "inh"):
        net.connect("exc", post, p=p, weight=we, delay=delay, synapse=syn_e, init={"g": ge0})
    for post in ("exc", "inh"):
        net.connect("inh", post, p=p, weight=wi, delay=delay, synapse=syn_i, init={"g": gi0})
    return net


# ---------------------------------------------------------------------------------------------
# Brunel 2000

#: (g, eta) of the four states of Brunel (2000), Fig. 8.
BRUNEL_REGIMES: dict[str, tuple[float, float]] = {
    "SR": (3.0, 2.0),  # synchronous regular
    "AI": (5.0, 2.0),  # asynchronous irregular
    "SI_fast": (6.0, 4.0),  # synchronous irregular, fast oscillation
    "SI_slow": (4.5, 0.9),  # synchronous irregular, slow oscillation
}


def brunel(
    regime: Literal["AI", "SR", "SI_fast", "SI_slow"] = "AI",
    n_exc: int = 10000,
    scale: float = 1.0,
    seed: int | None = 0,
    *,
    g: float | None = None,
    eta: float | None = None,
    J: float | None = None,
    epsilon: float = 0.1,
    delay: float = 1.5,
    dt: float = 0.1,
    max_p_ext: float = 0.1,
    external: Literal["input", "group"] = "input",
    batch: int | None = None,
    noise_seed: int | Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    compiled: bool | None = None,
) -> Network:
    r"""The sparsely connected E/I network of Brunel (2000, model A) with a regime preset.

    .. math::

        \tau \dot v = -v + \tau \sum_j J_j \sum_k \delta(t - t_j^k - D), \qquad
        v \ge \theta:\ v \leftarrow V_r \text{ for } t_{ref}

    with :math:`\tau = 20` ms, :math:`\theta = 20` mV, :math:`V_r = 10` mV, :math:`t_{ref} = 2`
    ms, :math:`D = 1.5` ms, jumps :math:`J` from excitatory and :math:`-gJ` from inhibitory
    neurons, fixed in-degrees :math:`C_E = \epsilon N_E` and :math:`C_I = \epsilon N_I`
    (:math:`N_I = N_E / 4`), and external excitatory Poisson input of rate
    :math:`\eta\,\nu_{thr}` from each of :math:`C_E` sources, :math:`\nu_{thr} = \theta/(J C_E
    \tau)`. Regimes (g, eta) as in the paper: ``"SR"`` (3, 2), ``"AI"`` (5, 2), ``"SI_fast"``
    (6, 4), ``"SI_slow"`` (4.5, 0.9).

    **Scaling.** ``n_exc * scale`` excitatory neurons (``N_E = 10000``, ``C_E = 1000``, J = 0.1 mV
    in the paper). The in-degrees follow :math:`\epsilon N`; unless ``J`` is given,
    :math:`J = 0.1 \cdot 1000 / C_E` mV keeps :math:`J C_E` (the mean recurrent input) and
    :math:`\nu_{thr} C_E` (the external drive) of the paper. Smaller networks have larger jumps,
    so stronger fluctuations; the regimes keep their signatures down to a few thousand neurons.

    **External input.** Each neuron receives :math:`C_E \eta \nu_{thr} = \eta\theta/(J\tau)` spikes
    per ms (20 per ms in the AI state at full scale: several per step), each a jump ``J``.

    * ``external="input"`` (default): two Poisson inputs (:meth:`Network.add_poisson_input`),
      ``"ext_exc"`` and ``"ext_inh"``, of :math:`C_E` trains of rate :math:`\eta\nu_{thr}` per
      neuron: one Poisson count per neuron and step, no input group and no synapses. The input
      acts at the end of its step (no delay: for a stationary input a delay only shifts it).
    * ``external="group"``: the explicit construction. A Poisson group emits at most one spike per
      step, so the input of each neuron is split over ``K`` independent trains of rate
      :math:`C_E\eta\nu_{thr}/K`, with ``K`` the smallest count that keeps the spike probability
      per step at or below ``max_p_ext``: the input group ``"ext"`` has ``K * N`` trains, train
      ``j`` onto neuron ``j % N`` of ``exc`` then ``inh`` (``N = N_E + N_I``), through projections
      ``ext->exc`` and ``ext->inh`` with delay ``delay``. The sum is Poisson up to the Bernoulli
      discretisation (count variance :math:`\times (1 - p)`). Slower: ``K * N`` draws and
      synapses per step instead of ``N`` draws.

    Populations ``"exc"`` (Dale excitatory) and ``"inh"`` (inhibitory) of
    :class:`~spikeforge.neurons.LIF` (exact integrator, ``v_leak = 0``, ``t_ref = 2`` ms counted
    after the spike step as in NEST), membranes starting uniform in [0, 20) mV; projections
    ``exc->exc``, ``exc->inh``, ``inh->exc``, ``inh->inh`` (:class:`DeltaSynapse`, delay
    ``delay``); the external input as above.

    Args:
        regime: ``"AI"``, ``"SR"``, ``"SI_fast"`` or ``"SI_slow"``.
        n_exc: number of excitatory neurons before scaling (the paper: 10000).
        scale: factor on the numbers of neurons and in-degrees (> 0).
        seed: the network seed (connectivity, and by default the noise seeds).
        g: relative inhibitory strength; overrides the regime's.
        eta: external rate relative to :math:`\nu_{thr}`; overrides the regime's.
        J: excitatory jump in mV (default: see Scaling).
        epsilon: connection probability defining the in-degrees (0.1).
        delay: synaptic delay in ms (1.5).
        dt: step in ms (0.1).
        max_p_ext: the largest spike probability per step of one external train
            (``external="group"`` only, see above).
        external: ``"input"`` (Poisson inputs, default) or ``"group"`` (a Poisson group and
            projections), see above.
        batch, noise_seed, dtype, device, compiled: as for :class:`~spikeforge.circuits.Network`.

    Returns:
        the network (not yet run).

    Raises:
        ParameterError: an unknown regime, a scale leaving fewer than 4 excitatory neurons or an
            in-degree of 0, non-positive parameters.

    Example:
        >>> from spikeforge.circuits import builders
        >>> net = builders.brunel("AI", scale=0.05, seed=0)
        >>> net.neurons["exc"].n, net.neurons["inh"].n, net.projections["exc->exc"].n_synapses // 500
        (500, 125, 50)
    """
    if regime not in BRUNEL_REGIMES:
        raise ParameterError(f"regime must be one of {list(BRUNEL_REGIMES)}, got {regime!r}")
    g0, eta0 = BRUNEL_REGIMES[regime]
    g = _check_positive("g", g0 if g is None else g)
    eta = _check_nonnegative("eta", eta0 if eta is None else eta)
    n_exc = _check_int("n_exc", n_exc, 4)
    scale = _check_positive("scale", scale)
    epsilon = _check_positive("epsilon", epsilon)
    if epsilon > 1:
        raise ParameterError(f"epsilon must be in (0, 1], got {epsilon!r}")
    max_p_ext = _check_positive("max_p_ext", max_p_ext)
    if max_p_ext > 1:
        raise ParameterError(f"max_p_ext must be in (0, 1], got {max_p_ext!r}")
    _check_nonnegative("delay", delay, "ms")
    if external not in ("input", "group"):
        raise ParameterError(f"external must be 'input' or 'group', got {external!r}")
    n_e = int(round(n_exc * scale))
    n_i = int(round(n_e / 4))
    c_e, c_i = int(round(epsilon * n_e)), int(round(epsilon * n_i))
    if n_e < 4 or c_e < 1 or c_i < 1:
        raise ParameterError(
            f"scale={scale!r} with n_exc={n_exc!r} leaves N_E={n_e}, C_E={c_e}, C_I={c_i}; "
            f"raise scale so that every in-degree is >= 1"
        )
    J = _check_positive("J", 0.1 * 1000.0 / c_e if J is None else J, "mV")
    tau, theta = 20.0, 20.0
    nu_thr = theta / (J * c_e * tau)  # per ms
    rate_in = c_e * eta * nu_thr  # external spikes per ms into each neuron
    net = _network(dt, seed, batch, noise_seed, dtype, device, compiled)
    kw: dict[str, Any] = dict(tau_mem=tau, v_th=theta, v_reset=10.0, v_leak=0.0, t_ref=2.0)
    v0 = Uniform(0.0, theta)
    net.add_population("exc", _lif(n_e, dt, net.dtype, **kw), sign="excitatory", init={"v": v0})  # type: ignore[arg-type]
    net.add_population("inh", _lif(n_i, dt, net.dtype, **kw), sign="inhibitory", init={"v": v0})  # type: ignore[arg-type]
    for post in ("exc", "inh"):
        net.connect("exc", post, in_degree=c_e, weight=J, delay=delay, autapses=False)
    for post in ("exc", "inh"):
        net.connect("inh", post, in_degree=c_i, weight=-g * J, delay=delay, autapses=False)
    if external == "input":
        for post in ("exc", "inh"):
            net.add_poisson_input(f"ext_{post}", post, n=c_e, rate=eta * nu_thr, weight=J)
        return net
    n = n_e + n_i
    k = max(1, math.ceil(rate_in * dt / max_p_ext - 1e-12))
    net.add_poisson("ext", k * n, rate=rate_in / k, sign="excitatory")
    src = torch.arange(k * n)
    for post, lo, hi in (("exc", 0, n_e), ("inh", n_e, n)):
        sel = (src % n >= lo) & (src % n < hi)
        net.connect("ext", post, rule=Explicit(src[sel], src[sel] % n - lo), weight=J, delay=delay)
    return net


# ---------------------------------------------------------------------------------------------
# Izhikevich 2003


def izhikevich2003(
    n_exc: int = 800,
    n_inh: int = 200,
    seed: int | None = 0,
    *,
    dt: float = 1.0,
    integrator: Literal["izhikevich2003", "euler"] = "izhikevich2003",
    noise_exc: float = 5.0,
    noise_inh: float = 2.0,
    thalamic: Any = None,
    batch: int | None = None,
    noise_seed: int | Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    compiled: bool | None = None,
) -> Network:
    r"""The heterogeneous Izhikevich (2003) network: 800 excitatory and 200 inhibitory neurons,
    all-to-all, driven by random thalamic input; alpha (~10 Hz) and gamma (~40 Hz) rhythms emerge.

    .. math::

        \dot v = 0.04 v^2 + 5 v + 140 - u + I, \qquad \dot u = a (b v - u), \qquad
        v \ge 30:\ v \leftarrow c,\ u \leftarrow u + d

    With :math:`r \sim U(0, 1)` per neuron: excitatory a = 0.02, b = 0.2, c = -65 + 15 r^2,
    d = 8 - 6 r^2; inhibitory a = 0.02 + 0.08 r, b = 0.25 - 0.05 r, c = -65, d = 2
    (:meth:`Izhikevich.heterogeneous <spikeforge.neurons.Izhikevich.heterogeneous>`). Weights
    S[post, pre] = 0.5 U(0, 1) from excitatory and -U(0, 1) from inhibitory neurons (self
    connections included, as the published code). Input each step: ``noise_exc * N(0, 1)`` to
    excitatory and ``noise_inh * N(0, 1)`` to inhibitory neurons, plus the weights of the
    neurons that fired in the previous step.

    With ``dt = 1`` and the ``"izhikevich2003"`` integrator (default) this is the published loop:
    the spikes of step k enter the current of step k + 1 for one step only
    (``ExpSynapse(tau=dt, integrator="euler")``, whose Euler decay ``1 - dt/tau`` is exactly 0),
    then v advances in two 0.5 ms half-steps and u in one step. ``integrator="euler"`` needs
    ``dt <= 0.5``; the noise is then drawn per step (its strength per ms is not rescaled).

    Populations ``"exc"`` (Dale excitatory) and ``"inh"`` (inhibitory) of
    :class:`~spikeforge.neurons.Izhikevich`, starting at v = -65, u = b v; projections
    ``exc->exc``, ``exc->inh``, ``inh->exc``, ``inh->inh`` (dense); the current inputs
    ``"thalamic_exc"`` and ``"thalamic_inh"``. Runs on the compiled kernel where it can (see
    :class:`~spikeforge.circuits.Network`).

    Args:
        n_exc: number of excitatory neurons (800).
        n_inh: number of inhibitory neurons (200).
        seed: the network seed: neuron parameters (drawn from the structure generator, excitatory
            first), weights, and by default the noise seeds.
        dt: step in ms (1.0 as published).
        integrator: ``"izhikevich2003"`` (published) or ``"euler"``.
        noise_exc: standard deviation of the thalamic input to excitatory neurons (5).
        noise_inh: standard deviation of the thalamic input to inhibitory neurons (2).
        thalamic: instead of the generated noise, the full input table ``[T, n_exc + n_inh]``
            (row k held over step k, clipped to the last row), e.g. the random arrays of a
            reference implementation; the noise amplitudes are then ignored.
        batch, noise_seed, dtype, device, compiled: as for :class:`~spikeforge.circuits.Network`; each copy
            draws its own thalamic noise (a :class:`GaussianCurrent` seeded by the copy's noise
            seed).

    Returns:
        the network (not yet run).

    Example:
        >>> from spikeforge.circuits import builders
        >>> net = builders.izhikevich2003(80, 20, seed=0)
        >>> net.projections["inh->exc"].to_dense().shape
        torch.Size([80, 20])
    """
    n_exc = _check_int("n_exc", n_exc, 1)
    n_inh = _check_int("n_inh", n_inh, 1)
    _check_nonnegative("noise_exc", noise_exc)
    _check_nonnegative("noise_inh", noise_inh)
    net = _network(dt, seed, batch, noise_seed, dtype, device, compiled)
    gen = net.generator
    exc = Izhikevich.heterogeneous(n_exc, 0, generator=gen, dt=dt, integrator=integrator)
    inh = Izhikevich.heterogeneous(0, n_inh, generator=gen, dt=dt, integrator=integrator)
    net.add_population("exc", exc, sign="excitatory")
    net.add_population("inh", inh, sign="inhibitory")
    pulse = ExpSynapse(tau=dt, integrator="euler")
    for pre, w in (("exc", Uniform(0.0, 0.5)), ("inh", Uniform(-1.0, 0.0))):
        for post in ("exc", "inh"):
            net.connect(pre, post, weight=w, synapse=pulse, storage="dense")
    n = n_exc + n_inh
    if thalamic is not None:
        table = torch.as_tensor(thalamic, dtype=torch.float64)
        if table.dim() != 2 or table.shape[1] != n or table.shape[0] < 1:
            raise ShapeError(f"thalamic must be [T, n_exc + n_inh = {n}], got shape {list(table.shape)}")
        net.add_current("thalamic_exc", "exc", TimedArray(table[:, :n_exc].clone(), dt))
        net.add_current("thalamic_inh", "inh", TimedArray(table[:, n_exc:].clone(), dt))
        return net
    for name, pop, k, amp, tag in (
        ("thalamic_exc", "exc", n_exc, noise_exc, 1),
        ("thalamic_inh", "inh", n_inh, noise_inh, 2),
    ):
        cur = GaussianCurrent(amp, k, dt, net.noise_seeds, batched=batch is not None, stream=tag)
        net.add_current(name, pop, cur)
    return net


# ---------------------------------------------------------------------------------------------
# winner-take-all, reservoir, disinhibitory microcircuit


def winner_take_all(
    n_groups: int = 4,
    group_size: int = 50,
    seed: int | None = 0,
    *,
    n_inh: int | None = None,
    rates: Any = None,
    n_inputs: int = 20,
    w_in: float = 3.0,
    w_self: float = 0.5,
    w_ei: float = 1.0,
    w_ie: float = -3.0,
    p: float = 0.5,
    dt: float = 0.1,
    batch: int | None = None,
    noise_seed: int | Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    compiled: bool | None = None,
) -> Network:
    r"""A soft winner-take-all circuit: ``n_groups`` excitatory groups with recurrent
    self-excitation, sharing one inhibitory pool; the group with the strongest input wins.

    LIF neurons (:math:`\tau_m = 20` ms, rest 0, threshold 20 mV, reset 10 mV, refractory 2 ms;
    inhibitory :math:`\tau_m = 10` ms) with delta synapses of delay 1 ms. Group ``k`` of
    ``"exc"`` is neurons ``[k * group_size, (k + 1) * group_size)``; it excites itself with
    probability ``p`` (weight ``w_self``) and the pool ``"inh"`` with probability ``p``
    (``w_ei``); the pool inhibits every excitatory neuron with probability ``p`` (``w_ie``).
    Input: ``"input"``, ``n_inputs`` Poisson trains per group at ``rates[k]`` (per ms), each
    onto its group with probability ``p`` (``w_in``).

    Args:
        n_groups: number of competing groups (>= 2).
        group_size: excitatory neurons per group.
        seed: the network seed.
        n_inh: size of the inhibitory pool (default ``n_groups * group_size // 4``, at least 1).
        rates: ``[n_groups]`` input rates per ms (default: 40 Hz for group 0 and 30 Hz for the
            others); a float gives every group the same rate.
        n_inputs: Poisson trains per group.
        w_in, w_self, w_ei: excitatory jumps in mV (>= 0).
        w_ie: inhibitory jump in mV (<= 0).
        p: connection probability of every projection.
        dt, batch, noise_seed, dtype, device, compiled: as for :class:`~spikeforge.circuits.Network`.

    Returns:
        the network; populations ``"exc"`` (``n_groups * group_size``), ``"inh"`` and the input
        group ``"input"`` (``n_groups * n_inputs``).

    Example:
        >>> from spikeforge.circuits import builders
        >>> net = builders.winner_take_all(3, 20, seed=0)
        >>> net.neurons["exc"].n, net.neurons["inh"].n
        (60, 15)
    """
    n_groups = _check_int("n_groups", n_groups, 2)
    group_size = _check_int("group_size", group_size, 1)
    n_inputs = _check_int("n_inputs", n_inputs, 1)
    n_inh = _check_int("n_inh", max(1, n_groups * group_size // 4) if n_inh is None else n_inh, 1)
    for name, value in (("w_in", w_in), ("w_self", w_self), ("w_ei", w_ei)):
        _check_nonnegative(name, value, "mV")
    if (
        isinstance(w_ie, bool)
        or not isinstance(w_ie, (int, float))
        or not (math.isfinite(w_ie) and w_ie <= 0)
    ):
        raise ParameterError(f"w_ie must be a finite number <= 0 mV, got {w_ie!r}")
    if rates is None:
        rates_t = torch.full((n_groups,), 30e-3, dtype=torch.float64)
        rates_t[0] = 40e-3
    else:
        rates_t = torch.as_tensor(rates, dtype=torch.float64).reshape(-1)
        if rates_t.numel() == 1:
            rates_t = rates_t.expand(n_groups).clone()
        if rates_t.numel() != n_groups:
            raise ShapeError(f"rates must be a scalar or [n_groups={n_groups}], got {rates_t.numel()} values")
    net = _network(dt, seed, batch, noise_seed, dtype, device, compiled)
    v0 = Uniform(0.0, 20.0)
    n_e = n_groups * group_size
    kw: dict[str, Any] = dict(v_th=20.0, v_reset=10.0, v_leak=0.0, t_ref=2.0)
    net.add_population("exc", _lif(n_e, dt, net.dtype, tau_mem=20.0, **kw), sign="excitatory", init={"v": v0})  # type: ignore[arg-type]
    net.add_population(
        "inh", _lif(n_inh, dt, net.dtype, tau_mem=10.0, **kw), sign="inhibitory", init={"v": v0}
    )  # type: ignore[arg-type]
    net.add_poisson("input", n_groups * n_inputs, rate=rates_t.repeat_interleave(n_inputs), sign="excitatory")
    gen = net.generator
    pre_in, post_in, pre_ee, post_ee = [], [], [], []
    for k in range(n_groups):
        m = torch.rand(group_size, n_inputs, generator=gen, dtype=torch.float64) < p
        post, pre = m.nonzero(as_tuple=True)
        pre_in.append(pre + k * n_inputs)
        post_in.append(post + k * group_size)
        m = torch.rand(group_size, group_size, generator=gen, dtype=torch.float64) < p
        m.fill_diagonal_(False)
        post, pre = m.nonzero(as_tuple=True)
        pre_ee.append(pre + k * group_size)
        post_ee.append(post + k * group_size)
    net.connect("input", "exc", rule=Explicit(torch.cat(pre_in), torch.cat(post_in)), weight=w_in, delay=1.0)
    net.connect("exc", "exc", rule=Explicit(torch.cat(pre_ee), torch.cat(post_ee)), weight=w_self, delay=1.0)
    net.connect("exc", "inh", p=p, weight=w_ei, delay=1.0)
    net.connect("inh", "exc", p=p, weight=w_ie, delay=1.0)
    return net


def reservoir(
    n: int = 1000,
    n_inputs: int = 50,
    n_readout: int = 10,
    seed: int | None = 0,
    *,
    frac_exc: float = 0.8,
    p: float = 0.1,
    p_in: float = 0.2,
    w_exc: float = 0.5,
    w_inh: float = 1.0,
    w_in: float = 20.0,
    input_rate: Any = 0.0,
    w_readout: float = 0.01,
    dt: float = 0.5,
    batch: int | None = None,
    noise_seed: int | Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    compiled: bool | None = None,
) -> Network:
    r"""A heterogeneous Izhikevich reservoir with an input group and a learnable readout.

    The reservoir is the Izhikevich (2003) population (``"exc"`` and ``"inh"``, parameters from
    :meth:`Izhikevich.heterogeneous <spikeforge.neurons.Izhikevich.heterogeneous>`, Euler
    integrator) with sparse random recurrence: probability ``p``, weights
    :math:`w_{exc} U(0, 1)` from excitatory and :math:`-w_{inh} U(0, 1)` from inhibitory neurons,
    as one-step current pulses (as in :func:`izhikevich2003`). The input group ``"input"``
    (``n_inputs`` Poisson trains at ``input_rate``, per ms: a number, ``[n_inputs]`` or a function
    of time, e.g. a :class:`TimedArray` encoding a stimulus) drives every reservoir neuron with
    probability ``p_in`` (weight :math:`w_{in} U(0, 1)`). The readout ``"readout"`` is
    ``n_readout`` LIF neurons (:math:`\tau_m = 20` ms, threshold 1, reset 0) receiving all-to-all
    ``ExpSynapse(5)`` input from ``"exc"`` with learnable weights (``learnable=True``,
    initially ``w_readout``: Dale's law keeps them >= 0 as ``softplus`` of a parameter, so they
    cannot start at 0); train them with gradients on the PyTorch path or with a plasticity rule.

    Args:
        n: reservoir size (``round(frac_exc * n)`` excitatory).
        n_inputs: number of input trains.
        n_readout: number of readout neurons.
        seed: the network seed.
        frac_exc: fraction of excitatory neurons.
        p: recurrent connection probability.
        p_in: input connection probability.
        w_exc, w_inh: recurrent weight scales (>= 0; the inhibitory ones are negated).
        w_in: input weight scale.
        input_rate: input rate per ms.
        w_readout: initial readout weight (> 0).
        dt: step in ms (<= 0.5, Euler).
        batch, noise_seed, dtype, device, compiled: as for :class:`~spikeforge.circuits.Network`
            (the learnable readout runs compiled only without gradients, e.g. under
            ``torch.no_grad()``).

    Returns:
        the network: populations ``"exc"``, ``"inh"``, ``"readout"``, input group ``"input"``;
        projections ``exc->exc``, ``exc->inh``, ``inh->exc``, ``inh->inh``, ``input->exc``,
        ``input->inh``, ``exc->readout``.

    Example:
        >>> from spikeforge.circuits import builders
        >>> net = builders.reservoir(100, 10, 2, seed=0)
        >>> net.projections["exc->readout"].to_dense().shape
        torch.Size([2, 80])
    """
    n = _check_int("n", n, 2)
    n_inputs = _check_int("n_inputs", n_inputs, 1)
    n_readout = _check_int("n_readout", n_readout, 1)
    if not (isinstance(frac_exc, (int, float)) and 0 < frac_exc < 1):
        raise ParameterError(f"frac_exc must be in (0, 1), got {frac_exc!r}")
    for name, value in (("w_exc", w_exc), ("w_inh", w_inh), ("w_in", w_in)):
        _check_nonnegative(name, value)
    _check_positive("w_readout", w_readout)
    n_e = min(n - 1, max(1, int(round(frac_exc * n))))
    net = _network(dt, seed, batch, noise_seed, dtype, device, compiled)
    gen = net.generator
    net.add_population("exc", Izhikevich.heterogeneous(n_e, 0, generator=gen, dt=dt), sign="excitatory")
    net.add_population("inh", Izhikevich.heterogeneous(0, n - n_e, generator=gen, dt=dt), sign="inhibitory")
    net.add_population(
        "readout",
        _lif(n_readout, dt, net.dtype, tau_mem=20.0, v_th=1.0, v_reset=0.0, v_leak=0.0, t_ref=0.0),
    )
    net.add_poisson("input", n_inputs, rate=input_rate, sign="excitatory")
    pulse = ExpSynapse(tau=dt, integrator="euler")
    for pre, w in (("exc", Uniform(0.0, w_exc)), ("inh", Uniform(-w_inh, 0.0))):
        for post in ("exc", "inh"):
            net.connect(pre, post, p=p, weight=w, synapse=pulse, autapses=False)
    for post in ("exc", "inh"):
        net.connect("input", post, p=p_in, weight=Uniform(0.0, w_in), synapse=pulse)
    net.connect("exc", "readout", weight=w_readout, synapse=ExpSynapse(tau=5.0), learnable=True)
    return net


def disinhibitory(
    n_exc: int = 400,
    n_pv: int = 50,
    n_sst: int = 30,
    n_vip: int = 20,
    seed: int | None = 0,
    *,
    topdown_rate: Any = 0.0,
    background_rate: float = 20e-3,
    n_background: int = 100,
    p: float = 0.2,
    dt: float = 0.1,
    batch: int | None = None,
    noise_seed: int | Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    compiled: bool | None = None,
) -> Network:
    r"""A disinhibitory cortical microcircuit: pyramidal cells (E), PV, SST and VIP interneurons,
    with a top-down input onto VIP that inhibits SST and so disinhibits E (the VIP -> SST -> E
    motif; Pi et al. 2013, Pfeffer et al. 2013).

    LIF neurons (rest -70, threshold -50, reset -60 mV; refractory 2 ms; :math:`\tau_m` 20 ms
    for E, 10 ms for PV, 20 ms for SST and VIP) with ``ExpSynapse`` currents (excitatory 5 ms,
    inhibitory 10 ms), delay 1 ms, connection probability ``p``. Weights (mV of current, see
    :mod:`spikeforge.circuits.synapses`), the classic connectivity (Pfeffer et al. 2013):

    ==========  =====  =====  =====  =====
    pre -> post  E      PV     SST    VIP
    ==========  =====  =====  =====  =====
    E           1.0    2.0    1.0    1.0
    PV          -4.0   -3.0   .      .
    SST         -3.0   -2.0   .      -2.0
    VIP         .      .      -4.0   .
    ==========  =====  =====  =====  =====

    Inputs: ``"background"`` (``n_background`` Poisson trains at ``background_rate`` per ms onto
    every population with probability ``p``, weight 12) and ``"topdown"`` (``n_vip`` trains at
    ``topdown_rate`` per ms, one-to-one onto VIP, weight 30: a number or a function of time, the
    gating signal). Raising ``topdown_rate`` silences SST and raises the E rate.

    Args:
        n_exc, n_pv, n_sst, n_vip: population sizes.
        seed: the network seed.
        topdown_rate: rate of the top-down trains per ms.
        background_rate: rate of the background trains per ms.
        n_background: number of background trains.
        p: connection probability of every random projection.
        dt, batch, noise_seed, dtype, device, compiled: as for :class:`~spikeforge.circuits.Network`.

    Returns:
        the network: populations ``"exc"``, ``"pv"``, ``"sst"``, ``"vip"``, input groups
        ``"background"`` and ``"topdown"``.

    Example:
        >>> from spikeforge.circuits import builders
        >>> net = builders.disinhibitory(seed=0)
        >>> sorted(net.neurons.keys())
        ['exc', 'pv', 'sst', 'vip']
    """
    sizes = {
        "exc": _check_int("n_exc", n_exc, 1),
        "pv": _check_int("n_pv", n_pv, 1),
        "sst": _check_int("n_sst", n_sst, 1),
        "vip": _check_int("n_vip", n_vip, 1),
    }
    n_background = _check_int("n_background", n_background, 1)
    net = _network(dt, seed, batch, noise_seed, dtype, device, compiled)
    tau = {"exc": 20.0, "pv": 10.0, "sst": 20.0, "vip": 20.0}
    v0 = Uniform(-70.0, -50.0)
    for name, k in sizes.items():
        lif = _lif(k, dt, net.dtype, tau_mem=tau[name], v_th=-50.0, v_reset=-60.0, v_leak=-70.0, t_ref=2.0)
        net.add_population(name, lif, sign="excitatory" if name == "exc" else "inhibitory", init={"v": v0})
    net.add_poisson("background", n_background, rate=background_rate, sign="excitatory")
    net.add_poisson("topdown", sizes["vip"], rate=topdown_rate, sign="excitatory")
    syn_e, syn_i = ExpSynapse(tau=5.0), ExpSynapse(tau=10.0)
    weights = {
        ("exc", "exc"): 1.0,
        ("exc", "pv"): 2.0,
        ("exc", "sst"): 1.0,
        ("exc", "vip"): 1.0,
        ("pv", "exc"): -4.0,
        ("pv", "pv"): -3.0,
        ("sst", "exc"): -3.0,
        ("sst", "pv"): -2.0,
        ("sst", "vip"): -2.0,
        ("vip", "sst"): -4.0,
    }
    for (pre, post), w in weights.items():
        net.connect(pre, post, p=p, weight=w, delay=1.0, synapse=syn_e if w > 0 else syn_i, autapses=False)
    for post in sizes:
        net.connect("background", post, p=p, weight=12.0, delay=1.0, synapse=syn_e)
    net.connect("topdown", "vip", rule=OneToOne(), weight=30.0, delay=1.0, synapse=syn_e)
    return net
