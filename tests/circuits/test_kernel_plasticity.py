"""Learning on the compiled path: STDP and TripletSTDP in the numba kernel equal the PyTorch path
(weights to 1e-12 in float64, spikes identical) for every option of the rules, sparse and dense
storage, delays, batched copies, split runs, ``state_dict`` mid-run and dt other than 1; what the
kernel does not cover runs the PyTorch path and says why."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import Network, Uniform
from spikeforge.errors import ParameterError

pytest.importorskip("numba")

F64 = torch.float64
DT = 0.25


@pytest.fixture(autouse=True)
def one_thread() -> Any:
    """Tiny matrix products on the PyTorch path are much slower with several threads on a busy
    machine; the results do not depend on it."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def stdp(**kw: Any) -> sf.plasticity.STDP:
    base: dict[str, Any] = dict(a_plus=0.02, a_minus=0.021, w_min=0.0, w_max=0.3, dt=DT)
    base.update(kw)
    return sf.plasticity.STDP(**base)


def build(
    compiled: bool | None,
    rules: dict[str, Any],
    *,
    storage: str = "sparse",
    batch: int | None = None,
    modulator: Any = None,
    recurrent: Any = None,
    dtype: torch.dtype = F64,
    sign: str | None = "excitatory",
    weight: Any = None,
    dt: float = DT,
) -> tuple[Network, list[Any], list[Any]]:
    """Poisson inputs onto LIF neurons through a plastic projection per rule (each onto its own
    population), and a plastic recurrent projection with heterogeneous delays on the first
    population when ``recurrent`` is a rule. Returns the network, the plastic projections and the
    spike monitors."""
    net = Network(dt=dt, seed=3, batch=batch, dtype=dtype, compiled=compiled)
    net.add_poisson("in", 40, rate=40 * sf.units.Hz, sign=sign)
    if sign == "inhibitory":  # something to inhibit: a second, static excitatory drive
        net.add_poisson("exc", 40, rate=60 * sf.units.Hz, sign="excitatory")
    projs, mons = [], []
    for name, rule in rules.items():
        net.add_population(
            name, sf.neurons.LIF(12, tau_mem=10.0, v_th=1.0, t_ref=0.6, dt=dt), sign="excitatory"
        )
        projs.append(
            net.connect(
                "in",
                name,
                weight=Uniform(0.05, 0.3) if weight is None else weight,
                p=0.6,
                storage=storage,
                plasticity=rule,
                modulator=modulator,
                delay=0.5,
            )
        )
        if sign == "inhibitory":
            net.connect("exc", name, weight=0.3, p=0.5)
        mons.append(net.record_spikes(name))
    if recurrent is not None:
        first = next(iter(rules))
        projs.append(
            net.connect(
                first,
                first,
                weight=Uniform(0.0, 0.1),
                p=0.4,
                storage=storage,
                delay=Uniform(0.0, 2.0),
                plasticity=recurrent,
            )
        )
    return net, projs, mons


def assert_same(a: tuple, b: tuple, atol: float = 1e-12) -> None:
    assert a[0].last_run_info["path"] == "torch"
    assert b[0].last_run_info["path"] == "compiled", b[0].last_run_info["why_not_compiled"]
    for ma, mb in zip(a[2], b[2]):
        assert ma.t.tolist() == mb.t.tolist() and ma.i.tolist() == mb.i.tolist()
        assert ma.batch.tolist() == mb.batch.tolist()
    for pa, pb in zip(a[1], b[1]):
        torch.testing.assert_close(pb.weight, pa.weight, rtol=0, atol=atol)
        for x, y in zip(a[0].plasticity_state(pa), b[0].plasticity_state(pb)):
            torch.testing.assert_close(y, x, rtol=0, atol=atol)


def both(rules: Any, ms: float = 100.0, recurrent: Any = None, **kw: Any) -> tuple[tuple, tuple]:
    """The same network on both paths, run for ``ms``; ``rules`` and ``recurrent`` make fresh rules."""
    nets = [build(c, rules(), recurrent=recurrent and recurrent(), **kw) for c in (False, True)]
    w0 = [p.weight.clone() for p in nets[0][1]]
    for net in nets:
        net[0].run(ms, progress=False)
    for m, p, w in zip(nets[0][2], nets[0][1], w0):
        assert len(m.t) > 20, "the test needs spikes"
        assert not torch.equal(p.weight, w), "the test needs learning"
    return nets[0], nets[1]


RULES = {
    "additive": lambda: stdp(),
    "multiplicative": lambda: stdp(weight_dependence="multiplicative"),
    "soft_half": lambda: stdp(weight_dependence="soft"),
    "soft_mu": lambda: stdp(weight_dependence="soft", mu_plus=0.7, mu_minus=2.0),
    "nearest": lambda: stdp(pairing="nearest"),
    "potentiate": lambda: stdp(same_step="potentiate"),
    "both": lambda: stdp(same_step="both", a_minus=0.03),
    "sum": lambda: stdp(batch_reduce="sum"),
    "soft_bound": lambda: stdp(bound="soft"),
    "no_bound": lambda: stdp(bound="none", w_min=0.1),
    "triplet": lambda: sf.plasticity.TripletSTDP(a3_plus=0.05, a2_minus=0.02, dt=DT, w_max=0.3),
    "triplet_nearest": lambda: sf.plasticity.TripletSTDP.from_preset(
        "hippocampal_nearest", dt=DT, w_max=0.3, bound="soft"
    ),
    "triplet_sum": lambda: sf.plasticity.TripletSTDP.from_preset(
        "hippocampal", dt=DT, w_max=0.3, batch_reduce="sum"
    ),
}


def all_rules() -> dict[str, Any]:
    return {k: f() for k, f in RULES.items()}


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["sparse", "dense"])
def test_every_rule_and_option_batched(storage: str) -> None:
    a, b = both(all_rules, storage=storage, batch=3)
    assert_same(a, b)


@pytest.mark.parametrize("storage", ["sparse", "dense"])
def test_recurrent_with_delays_unbatched(storage: str) -> None:
    def rec() -> Any:
        return stdp(same_step="potentiate", w_max=0.1, a_plus=0.01, a_minus=0.0105)

    a, b = both(lambda: {"o": RULES["soft_half"]()}, storage=storage, recurrent=rec)
    assert_same(a, b)
    assert b[1][1].delay_steps.dim() > 0  # heterogeneous delays


def test_dale_sign_kept() -> None:
    # bounds beyond the sign: an inhibitory source's weights stay <= 0, an excitatory's >= 0
    a, b = both(
        lambda: {"o": stdp(w_min=-0.3, w_max=0.1, a_minus=-0.02)},
        sign="inhibitory",
        weight=Uniform(-0.3, -0.05),
        batch=2,
    )
    assert_same(a, b)
    assert float(b[1][0].weight.max()) == 0.0
    a, b = both(lambda: {"o": stdp(w_min=-0.1, a_minus=0.05)}, batch=2)
    assert_same(a, b)
    assert float(b[1][0].weight.min()) == 0.0


@pytest.mark.parametrize("kind", ["number", "per_copy", "per_target"])
def test_constant_modulators(kind: str) -> None:
    mod = {
        "number": 0.7,
        "per_copy": torch.tensor([1.0, -0.5, 2.0]),
        "per_target": torch.linspace(-1.0, 1.0, 12),
    }[kind]
    rules = {k: RULES[k] for k in ("soft_mu", "potentiate", "triplet")}
    a, b = both(lambda: {k: f() for k, f in rules.items()}, batch=3, modulator=mod)
    assert_same(a, b)


def test_set_modulator_and_split_runs() -> None:
    nets = [build(c, {"o": RULES["triplet"]()}, batch=2, modulator=0.0) for c in (False, True, True)]
    for k, (net, projs, _) in enumerate(nets):
        if k < 2:
            net.run(40.0, progress=False)
        else:  # the same in five pieces
            for ms in (10.0, 0.25, 9.75, 12.5, 7.5):
                net.run(ms, progress=False)
        net.set_modulator(projs[0], torch.tensor([1.5, 0.5]))
        net.run(40.0, progress=False)
        net.set_modulator(projs[0], 1.0)
        net.run(20.0, progress=False)
    assert_same(nets[0], nets[1])
    assert_same(nets[0], nets[2])


def test_state_dict_mid_run_and_engines_mixed() -> None:
    def make(compiled: bool) -> tuple:
        return build(compiled, {"o": RULES["nearest"]()}, batch=2, recurrent=RULES["triplet"]())

    a, b, c, d = make(False), make(True), make(True), make(False)
    a[0].run(50.0, progress=False)
    b[0].run(50.0, progress=False)
    c[0].load_state_dict(b[0].state_dict())
    d[0].load_state_dict(a[0].state_dict())
    d[0].compiled = True  # the second half of a PyTorch-path run on the kernel
    for net in (a, b, c, d):
        net[0].run(50.0, progress=False)
    assert_same(a, b)
    for x in (c, d):
        for p, q in zip(b[1], x[1]):
            torch.testing.assert_close(q.weight, p.weight, rtol=0, atol=1e-12)
            for u, v in zip(b[0].plasticity_state(p), x[0].plasticity_state(q)):
                torch.testing.assert_close(v, u, rtol=0, atol=1e-12)
        late = x[2][0].t >= 50.0
        assert x[2][0].t[late].tolist() == b[2][0].t[b[2][0].t >= 50.0].tolist()


def test_first_step_of_a_run_takes_every_synapse() -> None:
    # weights set beyond the bounds before a run are clipped at its first step, spikes or not
    for storage in ("sparse", "dense"):
        a, b = both(
            lambda: {"o": stdp(), "p": RULES["soft_bound"]()},
            ms=20.0,
            weight=Uniform(0.0, 0.6),
            storage=storage,
        )
        assert_same(a, b)
        assert float(b[1][0].weight.max()) == 0.3


#: the options of pair STDP (one copy: the kernel's fused event-driven pass, ``stdp_events``)
PAIR = [k for k, f in RULES.items() if type(f()) is sf.plasticity.STDP]


@pytest.mark.parametrize("storage", ["sparse", "dense"])
def test_one_copy_of_pair_stdp_every_option_in_pieces(storage: str) -> None:
    # every option of pair STDP, a recurrent projection with delays and nearest pairing, initial
    # weights partly beyond the bounds (clipped at the first step of a run), the kernel's run in
    # pieces (each starts with a first step) and through a state_dict mid-run
    def rules() -> dict[str, Any]:
        return {k: RULES[k]() for k in PAIR}

    def rec() -> Any:
        return stdp(pairing="nearest", same_step="both", w_max=0.1, a_plus=0.01, a_minus=0.0105)

    kw: dict[str, Any] = dict(storage=storage, weight=Uniform(0.0, 0.4))
    nets = [build(c, rules(), recurrent=rec(), **kw) for c in (False, True, True)]
    w0 = [p.weight.clone() for p in nets[0][1]]
    nets[0][0].run(60.0, progress=False)
    for ms in (20.0, 0.25, 4.75):
        nets[1][0].run(ms, progress=False)
    nets[2][0].load_state_dict(nets[1][0].state_dict())
    for net in nets[1:]:
        for ms in (15.0, 20.0):
            net[0].run(ms, progress=False)
    for m, p, w in zip(nets[0][2], nets[0][1], w0):
        assert len(m.t) > 20, "the test needs spikes"
        assert not torch.equal(p.weight, w), "the test needs learning"
    assert float(nets[1][1][0].weight.max()) == 0.3  # hard bounds clipped the weights beyond w_max
    assert_same(nets[0], nets[1])
    for p, q in zip(nets[1][1], nets[2][1]):
        torch.testing.assert_close(q.weight, p.weight, rtol=0, atol=0)


@pytest.mark.parametrize("bound", ["hard", "soft"])
def test_one_copy_of_pair_stdp_dale_sign_and_modulator(bound: str) -> None:
    # a constant modulator (negative: it reverses the amplitudes, so the weights grow) and bounds
    # beyond the sign, one copy; "p": the soft weight dependence
    def rules(**kw: Any) -> Any:
        return lambda: {
            "o": stdp(bound=bound, **kw),
            "p": stdp(bound=bound, weight_dependence="soft", mu_minus=2.0, **kw),
        }

    a, b = both(
        rules(w_min=-0.3, w_max=0.1, a_plus=-0.02, a_minus=0.02),
        sign="inhibitory",
        weight=Uniform(-0.3, -0.05),
        modulator=-1.5,
    )
    assert_same(a, b)
    assert float(b[1][0].weight.max()) == 0.0
    a, b = both(rules(w_min=-0.1, a_minus=0.05), modulator=0.7)
    assert_same(a, b)
    assert float(b[1][0].weight.min()) == 0.0


def test_unbatched_sum() -> None:
    a, b = both(lambda: {"o": RULES["sum"](), "p": RULES["triplet_nearest"]()})
    assert_same(a, b)


def test_float32_close() -> None:
    a, b = both(lambda: {"o": RULES["soft_half"]()}, batch=2, dtype=torch.float32)
    assert b[0].last_run_info["path"] == "compiled"
    torch.testing.assert_close(b[1][0].weight, a[1][0].weight, rtol=0, atol=1e-4)


def test_what_the_kernel_does_not_cover_runs_torch() -> None:
    hebb = sf.plasticity.ThreeFactor(post_fn=torch.tanh, dt=DT)  # a Python callable each step
    net, projs, _ = build(None, {"o": hebb}, modulator=1.0)
    net.run(2.0, progress=False)
    assert net.last_run_info["path"] == "torch"
    assert "post_fn" in net.last_run_info["why_not_compiled"]
    net, projs, _ = build(None, {"o": stdp()}, modulator=lambda t: 1.0)
    net.run(2.0, progress=False)
    assert "callable modulator" in net.last_run_info["why_not_compiled"]
    net.set_modulator(projs[0], 0.5)
    net.run(2.0, progress=False)
    assert net.last_run_info["path"] == "compiled"
    net.compiled = True
    net.set_modulator(projs[0], lambda t: 1.0)
    with pytest.raises(ParameterError, match="callable modulator"):
        net.run(2.0, progress=False)
    net, projs, _ = build(None, {"o": stdp(a_plus=torch.full((12, 40), 0.01))}, storage="dense")
    net.run(2.0, progress=False)
    assert "not a scalar" in net.last_run_info["why_not_compiled"]


# spike delays of the rule (dendritic_delay, axonal_delay): the kernel's delay lines
def delayed(dt: float, den: float, ax: float) -> dict[str, Any]:
    """Fresh rules with spike delays (ms; ``den`` and ``ax`` need not be whole steps): STDP,
    TripletSTDP and an EligibilityTrace around STDP (a modulator moves its weights)."""
    return {
        "o": stdp(dt=dt, pairing="nearest", dendritic_delay=den, axonal_delay=ax),
        "p": sf.plasticity.TripletSTDP(
            a3_plus=0.05, a2_minus=0.02, dt=dt, w_max=0.3, dendritic_delay=ax, axonal_delay=den
        ),
        "q": sf.plasticity.EligibilityTrace(
            stdp(dt=dt, same_step="potentiate", dendritic_delay=den, axonal_delay=ax),
            tau_e=40.0,
            lr=0.5,
            dt=dt,
        ),
    }


@pytest.mark.parametrize(
    ("dt", "den", "ax", "storage", "batch"),
    [
        (0.25, 0.6, 0.0, "sparse", 2),  # dendritic only, 2.4 steps: 2
        (0.1, 0.0, 0.33, "dense", 2),  # axonal only, 3.3 steps: 3
        (0.25, 0.375, 1.0, "dense", 2),  # both, 1.5 steps (a midpoint: 2) and 4
        (0.1, 0.5, 0.15, "sparse", 2),  # both, 5 and 1.5 (2) steps
        (0.25, 0.5, 1.5, "sparse", None),  # one copy
    ],
)
def test_spike_delays_batched(dt: float, den: float, ax: float, storage: str, batch: int | None) -> None:
    """The rule sees the spikes late on the kernel as on the PyTorch path: spikes identical,
    weights, traces and the spikes on their way (the delay lines) to 1e-12, two copies; the
    recurrent projection's sources are neurons (the others' an input group)."""

    def rec() -> Any:
        return stdp(dt=dt, w_max=0.1, a_plus=0.01, a_minus=0.0105, dendritic_delay=ax, axonal_delay=den)

    a, b = both(
        lambda: delayed(dt, den, ax),
        ms=60.0,
        recurrent=rec,
        storage=storage,
        batch=batch,
        modulator=0.8,
        dt=dt,
    )
    assert_same(a, b)
    lines = b[0].plasticity_state(b[1][0])
    n_ax, n_den = b[1][0].plasticity.spike_delays
    assert lines.pre.shape == (batch or 1, n_ax, 40) and lines.post.shape == (batch or 1, n_den, 12)
    on_their_way = [b[0].plasticity_state(p) for p in b[1]]
    assert sum(float(x.pre.sum() + x.post.sum()) for x in on_their_way) > 0, (
        "the test needs spikes on their way"
    )
    # the delays matter: without them the weights differ
    plain = build(True, {k: stdp(dt=dt) for k in "opq"}, storage=storage, batch=batch, modulator=0.8, dt=dt)
    plain[0].run(60.0, progress=False)
    assert not torch.allclose(plain[1][0].weight, b[1][0].weight, rtol=0, atol=1e-6)


def test_spike_delays_event_driven_tags() -> None:
    """An EligibilityTrace without a modulator keeps event-driven tags (caught up at the end of
    a kernel run): they and the delay lines equal the PyTorch path's."""

    def rules() -> dict[str, Any]:
        return {
            "q": sf.plasticity.EligibilityTrace(stdp(dendritic_delay=0.75, axonal_delay=0.25), tau_e=30.0)
        }

    nets = [build(c, rules(), batch=2) for c in (False, True)]
    for net in nets:
        net[0].run(60.0, progress=False)
    assert_same(nets[0], nets[1])
    assert float(nets[1][0].plasticity_state(nets[1][1][0]).rule.e.abs().max()) > 1e-3


def test_spike_delays_split_runs_and_state_dicts_across_engines() -> None:
    """The delay lines are the same state on both engines: a state saved on the kernel resumes on
    the PyTorch path and the other way round, and a run in pieces (not whole delays) equals one."""

    def make(compiled: bool) -> tuple:
        return build(
            compiled, delayed(DT, 0.75, 0.5), batch=2, modulator=0.8, recurrent=delayed(DT, 0.5, 1.0)["p"]
        )

    a, b, c, d, e = make(False), make(True), make(True), make(False), make(True)
    for x in (a, b):
        x[0].run(50.0, progress=False)
    for ms in (10.0, 0.25, 9.75, 12.5, 17.5, 0.5, 24.5):  # e: the same 75 ms in pieces
        e[0].run(ms, progress=False)
    c[0].load_state_dict(a[0].state_dict())  # saved by the PyTorch path, resumed on the kernel
    d[0].load_state_dict(b[0].state_dict())  # saved by the kernel, resumed on the PyTorch path
    for x in (a, b, c, d):
        x[0].run(25.0, progress=False)
    assert_same(a, b)
    assert_same(d, c)
    assert_same(a, e)
    for x in (c, d):
        for p, q in zip(b[1], x[1]):
            torch.testing.assert_close(q.weight, p.weight, rtol=0, atol=1e-12)
            for u, v in zip(_leaves_of(b[0].plasticity_state(p)), _leaves_of(x[0].plasticity_state(q))):
                torch.testing.assert_close(v, u, rtol=0, atol=1e-12)
        late = x[2][0].t >= 50.0
        assert x[2][0].t[late].tolist() == b[2][0].t[b[2][0].t >= 50.0].tolist()


def _leaves_of(st: Any) -> list[torch.Tensor]:
    return [st] if isinstance(st, torch.Tensor) else [t for f in st for t in _leaves_of(f)]
