"""Spike delays of a plastic projection's rule (``STDP(dendritic_delay=, axonal_delay=)``): the
pair window at the synapse's lag (on the PyTorch and the compiled CPU engine), split runs and
``state_dict``, the Triton engine's refusal and the checks of the values (the two CPU engines
against each other: ``test_kernel_plasticity.py``)."""

from __future__ import annotations

import math

import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import Network
from spikeforge.circuits.engines import CompiledEngine, TorchEngine, TritonEngine
from spikeforge.circuits.state import _leaves
from spikeforge.errors import ParameterError

F64 = torch.float64
PRE_T = [4.0, 4.5, 5.0, 5.25, 5.5, 6.0, 7.0]  # one spike per presynaptic neuron (ms)
A_PLUS, A_MINUS, TAU_PLUS, TAU_MINUS = 0.01, 0.012, 20.0, 15.0


def one_pairing(
    dt: float, delay: float, storage: str, compiled: bool | None = None, **delays: float
) -> tuple[Network, object, object]:
    """Presynaptic neuron ``j`` spikes at ``PRE_T[j]``; the postsynaptic cell once, driven at 5 ms.
    The plastic weights (1e-6) are too weak to matter; ``w_min = -1`` keeps depression visible."""
    net = Network(dt=dt, seed=0, dtype=F64, compiled=compiled)
    net.add_spike_source("pre", len(PRE_T), times=PRE_T, indices=list(range(len(PRE_T))))
    net.add_spike_source("drive", 1, times=[5.0], indices=[0])
    net.add_population("post", sf.neurons.LIF(1, tau_mem=10.0, v_th=1.0, dt=dt))
    net.connect("drive", "post", weight=5.0, delay=dt)
    rule = sf.plasticity.STDP(
        a_plus=A_PLUS, a_minus=A_MINUS, tau_plus=TAU_PLUS, tau_minus=TAU_MINUS, w_min=-1.0, dt=dt, **delays
    )
    proj = net.connect("pre", "post", weight=1e-6, delay=delay, plasticity=rule, storage=storage)
    return net, proj, rule


@pytest.mark.parametrize("compiled", [False, None])
@pytest.mark.parametrize(
    ("dt", "delay", "dendritic", "axonal", "storage"),
    [
        (0.1, 0.3, 0.33, 0.0, "dense"),  # 3.3 steps: 3
        (0.1, 0.5, 0.5, 0.0, "sparse"),  # NEST's convention (all dendritic)
        (0.25, 0.75, 0.55, 0.2, "sparse"),  # 2.2 and 0.8 steps: 2 and 1
        (0.25, 0.75, 0.0, 0.75, "dense"),  # Brian2's (on_pre delayed by the delay)
        (0.25, 0.5, 0.375, 0.0, "dense"),  # 1.5 steps, a midpoint: 2 (NEST's rounding, up)
    ],
)
def test_each_pair_changes_the_weight_at_the_synapses_lag(
    dt: float, delay: float, dendritic: float, axonal: float, storage: str, compiled: bool | None
) -> None:
    """Each synapse's change is the pair window at the lag ``(t_post + d_den) - (t_pre + d_ax)``
    with the delays rounded to whole steps (the nearest, a midpoint up); a pair that meets at the
    synapse in one step does not pair (``same_step="skip"``). On both CPU engines."""
    net, proj, rule = one_pairing(
        dt, delay, storage, compiled, dendritic_delay=dendritic, axonal_delay=axonal
    )
    mpre, mpost = net.record_spikes("pre"), net.record_spikes("post")
    net.run(12.0)
    assert net.last_run_info["path"] == ("torch" if compiled is False else "compiled")
    assert len(mpost.t) == 1 and sorted(mpre.i.tolist()) == list(range(len(PRE_T)))
    pre_t = dict(zip(mpre.i.tolist(), mpre.t.tolist()))  # the stamps on the grid
    t_post = float(mpost.t[0])
    n_den, n_ax = math.floor(dendritic / dt + 0.5 + 1e-9), math.floor(axonal / dt + 0.5 + 1e-9)
    assert tuple(rule.spike_delays) == (n_ax, n_den)
    dw = proj.to_dense()[0] - 1e-6
    lags = []
    for j in range(len(PRE_T)):
        lag = (t_post + n_den * dt) - (pre_t[j] + n_ax * dt)
        lags.append(lag)
        if lag > 1e-9:
            expected = A_PLUS * math.exp(-lag / TAU_PLUS)
        elif lag < -1e-9:
            expected = -A_MINUS * math.exp(lag / TAU_MINUS)
        else:
            expected = 0.0
        assert float(dw[j]) == pytest.approx(expected, abs=1e-12), (j, lag)
    assert min(lags) < 0 < max(lags)  # both sides of the window
    # the delays matter: without them at least one pair changes sign or size
    plain, plain_proj, _ = one_pairing(dt, delay, storage)
    plain.run(12.0)
    assert float((plain_proj.to_dense()[0] - proj.to_dense()[0]).abs().max()) > 1e-4


def poisson_net(batch: int | None = 2, **delays: float) -> tuple[Network, object]:
    net = Network(dt=0.25, seed=3, batch=batch, dtype=F64, compiled=False)
    net.add_poisson("in", 30, rate=40 * sf.units.Hz, sign="excitatory")
    net.add_population("out", sf.neurons.LIF(4, tau_mem=10.0, v_th=1.0, dt=0.25))
    rule = sf.plasticity.STDP(a_plus=0.02, a_minus=0.021, w_max=0.3, dt=0.25, **delays)
    proj = net.connect("in", "out", weight=0.15, delay=1.0, plasticity=rule)
    return net, proj


def test_split_run_and_state_dict_equal_one_run() -> None:
    """The spikes on their way to the rule are in the state: a run split in two, or restored from
    ``state_dict`` mid-run, learns as one run."""
    kw = dict(dendritic_delay=1.0, axonal_delay=0.5)
    a, pa = poisson_net(**kw)
    a.run(300.0)
    b, pb = poisson_net(**kw)
    b.run(101.25)
    c, pc = poisson_net(**kw)
    c.load_state_dict(b.state_dict())
    b.run(198.75)
    c.run(198.75)
    assert torch.equal(pa.weight, pb.weight) and torch.equal(pa.weight, pc.weight)
    for x, y in zip(_leaves(a.plasticity_state(pa)), _leaves(c.plasticity_state(pc))):
        assert torch.equal(x, y)
    assert a.plasticity_state(pa).post.shape == (2, 4, 4)  # [B, dendritic steps, n_post]
    assert not torch.equal(pa.weight, poisson_net()[1].weight)
    plain, pp = poisson_net()
    plain.run(300.0)
    assert not torch.equal(pa.weight, pp.weight)  # the delays change what is learned


def test_zero_delays_keep_the_rule_state_and_the_compiled_engine() -> None:
    net, proj = poisson_net(batch=None)
    net.compiled = None
    net.run(5.0)
    assert net.last_run_info["path"] == "compiled"
    assert type(net.plasticity_state(proj)).__name__ == "STDPState"


def test_eligibility_trace_sees_its_rules_delays() -> None:
    """An EligibilityTrace passes the spikes on to its rule, so the network delays them for it:
    the wrapped rule's traces end as those of the rule alone, not as without the delay."""
    states = []
    for delay in (0.3, 0.0):
        net, proj, rule = one_pairing(0.1, 0.3, "dense", dendritic_delay=delay)
        net.run(12.0)
        states.append(net.plasticity_state(proj))
    rule = sf.plasticity.STDP(
        a_plus=A_PLUS, a_minus=A_MINUS, tau_plus=TAU_PLUS, tau_minus=TAU_MINUS, dt=0.1, dendritic_delay=0.3
    )
    net2 = Network(dt=0.1, seed=0, dtype=F64)
    net2.add_spike_source("pre", len(PRE_T), times=PRE_T, indices=list(range(len(PRE_T))))
    net2.add_spike_source("drive", 1, times=[5.0], indices=[0])
    net2.add_population("post", sf.neurons.LIF(1, tau_mem=10.0, v_th=1.0, dt=0.1))
    net2.connect("drive", "post", weight=5.0, delay=0.1)
    trace = sf.plasticity.EligibilityTrace(rule, tau_e=1e9, dt=0.1)
    proj2 = net2.connect("pre", "post", weight=1e-6, delay=0.3, plasticity=trace, modulator=1.0)
    net2.run(12.0)
    assert net2.last_run_info["path"] == "compiled"
    inner = net2.plasticity_state(proj2).rule.rule  # DelayedRuleState -> EligibilityState -> STDPState
    delayed, plain = states[0].rule, states[1]
    for x, y in zip(inner, delayed):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-15)
    assert not torch.allclose(inner.y_post, plain.y_post)


def test_cpu_engines_run_spike_delays_and_triton_refuses_them_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    why = (
        r"projection 'pre->post': STDP has dendritic_delay=0\.1 ms, axonal_delay=0 ms \(a rule with "
        r"spike delays runs on the PyTorch engine\)"
    )
    net, _, _ = one_pairing(0.1, 0.1, "sparse", dendritic_delay=0.1)
    net.run(1.0)
    assert net.last_run_info["path"] == "compiled"
    net.run(1.0, engine=CompiledEngine())
    net.run(1.0, engine=TorchEngine())
    net.compiled = True
    net.run(1.0)
    assert net.last_run_info["path"] == "compiled"
    # the Triton engine (here as if it could run the rest of the network) names the delays
    monkeypatch.setattr(TritonEngine, "supports", lambda self, network: None)
    with pytest.raises(ParameterError, match="engine='triton' cannot run this network: " + why):
        net.run(1.0, engine=TritonEngine())


@pytest.mark.parametrize("name", ["dendritic_delay", "axonal_delay"])
@pytest.mark.parametrize("value", [-0.1, math.nan, math.inf, "0.1", True, None])
def test_bad_spike_delays_are_named(name: str, value: object) -> None:
    for cls in (sf.plasticity.STDP, sf.plasticity.TripletSTDP):
        with pytest.raises(ParameterError, match=f"{name} must be a finite number >= 0 ms, got {value!r}"):
            cls(dt=0.1, **{name: value})  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=rf"{name} must be at most 32767 steps .* got 3277\.0 ms"):
        sf.plasticity.STDP(dt=0.1, **{name: 3277.0})


def test_spike_delays_round_to_the_nearest_step_a_midpoint_up() -> None:
    cases = [
        (0.1, 0.0, 0),
        (0.1, 0.04, 0),
        (0.1, 0.05, 1),
        (0.1, 0.15, 2),
        (0.1, 0.33, 3),
        (0.25, 0.375, 2),
        (0.25, 0.3, 1),
        (1.0, 2.5, 3),
    ]
    for dt, d, steps in cases:
        rule = sf.plasticity.TripletSTDP(dt=dt, dendritic_delay=d, axonal_delay=d)
        assert tuple(rule.spike_delays) == (steps, steps), (dt, d)
    assert rule.dendritic_delay == 2.5  # as given


@pytest.mark.parametrize("compiled", [False, None])
def test_triplet_rule_sees_the_post_spikes_late_as_by_hand(compiled: bool | None) -> None:
    """TripletSTDP in a network with spike delays equals the rule stepped by hand on the recorded
    trains shifted by its delays (3 steps post, 1 step pre), on both CPU engines."""
    dt = 0.1
    net = Network(dt=dt, seed=0, dtype=F64, compiled=compiled)
    net.add_spike_source("pre", len(PRE_T), times=PRE_T, indices=list(range(len(PRE_T))))
    net.add_spike_source("drive", 1, times=[5.0, 6.3], indices=[0, 0])
    net.add_population("post", sf.neurons.LIF(1, tau_mem=10.0, v_th=1.0, dt=dt))
    net.connect("drive", "post", weight=5.0, delay=dt)
    rule = sf.plasticity.TripletSTDP(dt=dt, dendritic_delay=0.3, axonal_delay=0.1, w_min=-1.0)
    proj = net.connect("pre", "post", weight=1e-6, delay=0.4, plasticity=rule)
    mpre, mpost = net.record_spikes("pre"), net.record_spikes("post")
    n = 120
    net.run(n * dt)
    assert net.last_run_info["path"] == ("torch" if compiled is False else "compiled") and len(mpost.t) == 2
    pre, post = torch.zeros(n, 1, len(PRE_T), dtype=F64), torch.zeros(n, 1, 1, dtype=F64)
    pre[(torch.as_tensor(mpre.t) / dt).round().long() + 1, 0, torch.as_tensor(mpre.i)] = 1.0
    post[(torch.as_tensor(mpost.t) / dt).round().long() + 3, 0, 0] = 1.0
    w, state = torch.full((1, len(PRE_T)), 1e-6, dtype=F64), None
    for k in range(n):
        dw, state = rule.step(pre[k], post[k], w, state)
        w = rule.apply_update(w, dw)
    torch.testing.assert_close(proj.to_dense(), w, rtol=0, atol=1e-15)
    assert float((w - 1e-6).abs().max()) > 1e-3
