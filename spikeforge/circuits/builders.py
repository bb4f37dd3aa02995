"""Ready-made circuits.

``cuba``: the Vogels & Abbott (2005) current-based benchmark as in Brian2's CUBA example
(Brette et al. 2007). More builders (COBA, Brunel 2000, Izhikevich 2003, reservoirs,
disinhibitory microcircuits, winner-take-all) follow.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import ParameterError
from ..neurons.lif import LIF
from .network import Network
from .projection import Uniform
from .synapses import ExpSynapse

__all__ = ["cuba"]


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
