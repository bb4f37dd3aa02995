"""Learning on the compiled path with the rules that wrap a tag or a rate: RewardModulatedSTDP,
EligibilityTrace (around STDP and TripletSTDP, one eligibility per copy or reduced),
ThreeFactor and SynapticScaling in the numba kernel equal the PyTorch path (spikes identical,
weights and every tensor of the rule state to 1e-12 in float64) at dt 0.25 and 0.1 ms, sparse and
dense (masked) storage, batched copies with modulators per copy and per target, split runs with
``set_modulator`` between them, ``state_dict`` mid-run and the two paths mixed."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import Explicit, Network, Uniform
from spikeforge.errors import ParameterError, ShapeError

pytest.importorskip("numba")

F64 = torch.float64
N_IN, N_OUT = 24, 8


@pytest.fixture(autouse=True)
def one_thread() -> Any:
    """Tiny products on the PyTorch path are slower with several threads on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_rule(name: str, dt: float) -> Any:
    stdp = dict(a_plus=0.02, a_minus=0.021, w_max=0.3, dt=dt)
    return {
        "reward": lambda: sf.plasticity.RewardModulatedSTDP(
            lr=2e-2, a_plus=0.02, a_minus=0.021, w_max=0.3, tau_c=60.0, tau_d=20.0, d_baseline=0.1, dt=dt
        ),
        "reward_soft": lambda: sf.plasticity.RewardModulatedSTDP(
            lr=2e-2, w_max=0.3, bound="soft", pairing="nearest", batch_reduce="sum", dt=dt
        ),
        "eligibility": lambda: sf.plasticity.EligibilityTrace(
            sf.plasticity.STDP(weight_dependence="soft", mu_plus=0.7, **stdp), tau_e=40.0, lr=0.5
        ),
        "eligibility_copies": lambda: sf.plasticity.EligibilityTrace(
            sf.plasticity.TripletSTDP(a3_plus=0.05, a2_minus=0.02, w_max=0.3, dt=dt, batch_reduce="none"),
            tau_e=40.0,
            lr=0.5,
            batch_reduce="sum",
        ),
        "three_factor": lambda: sf.plasticity.ThreeFactor(
            tau_pre=15.0, tau_e=60.0, lr=2e-3, w_min=0.0, w_max=0.3, bound="hard", dt=dt
        ),
        "three_factor_free": lambda: sf.plasticity.ThreeFactor(tau_pre=15.0, tau_e=60.0, lr=1e-3, dt=dt),
        "scaling": lambda: sf.plasticity.SynapticScaling(
            target_rate=5 * sf.units.Hz, tau_rate=30.0, lr=2e-3, dt=dt
        ),
    }[name]()


#: a constant modulator per rule, per copy or per target where the rule takes one (batch of 2)
MODULATORS: dict[str, Any] = {
    "reward": 0.4,
    "reward_soft": 0.2,
    "eligibility": torch.linspace(-1.0, 1.0, N_OUT),
    "eligibility_copies": torch.tensor([[1.0], [-0.5]]) * torch.linspace(0.5, 1.5, N_OUT),
    "three_factor": torch.tensor([1.5, -0.5]),
    "three_factor_free": torch.tensor([[1.0], [-2.0]]) * torch.ones(N_OUT),
    "scaling": torch.linspace(0.5, 2.0, N_OUT),
}
RULES = list(MODULATORS)


def build(
    compiled: bool,
    rule: Any,
    *,
    dt: float = 0.25,
    storage: str = "sparse",
    batch: int | None = 2,
    modulator: Any = None,
    sign: str = "excitatory",
    weight: Any = None,
) -> tuple[Network, Any, Any]:
    """Poisson inputs onto LIF neurons through one plastic projection (and a static drive)."""
    net = Network(dt=dt, seed=5, batch=batch, dtype=F64, compiled=compiled)
    net.add_poisson("in", N_IN, rate=50 * sf.units.Hz, sign=sign)
    net.add_poisson("drive", 20, rate=60 * sf.units.Hz, sign="excitatory")
    net.add_population("o", sf.neurons.LIF(N_OUT, tau_mem=10.0, v_th=1.0, t_ref=0.6, dt=dt))
    default = Uniform(0.05, 0.3) if sign == "excitatory" else Uniform(-0.3, -0.05)
    proj = net.connect(
        "in",
        "o",
        weight=default if weight is None else weight,
        p=0.6,
        storage=storage,
        plasticity=rule,
        modulator=modulator,
        delay=0.5,
    )
    net.connect("drive", "o", weight=0.25, p=0.5)
    return net, proj, net.record_spikes("o")


def assert_same(a: tuple, b: tuple, *, spikes: bool = True) -> None:
    """Spikes identical (unless ``spikes=False``), weights and rule state to 1e-12."""
    if spikes:
        assert a[2].t.tolist() == b[2].t.tolist() and a[2].i.tolist() == b[2].i.tolist()
        assert a[2].batch.tolist() == b[2].batch.tolist()
    torch.testing.assert_close(b[1].weight, a[1].weight, rtol=0, atol=1e-12)
    leaves_a = _leaves(a[0].plasticity_state(a[1]))
    leaves_b = _leaves(b[0].plasticity_state(b[1]))
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b):
        torch.testing.assert_close(y, x, rtol=0, atol=1e-12)


def assert_paths(a: tuple, b: tuple) -> None:
    assert a[0].last_run_info["path"] == "torch"
    assert b[0].last_run_info["path"] == "compiled", b[0].last_run_info["why_not_compiled"]


def _leaves(st: Any) -> list[torch.Tensor]:
    return [st] if isinstance(st, torch.Tensor) else [t for f in st for t in _leaves(f)]


def both(name: str, ms: float = 40.0, **kw: Any) -> tuple[tuple, tuple]:
    dt = kw.get("dt", 0.25)
    nets = [build(c, make_rule(name, dt), **kw) for c in (False, True)]
    w0 = nets[0][1].weight.clone()
    for net in nets:
        net[0].run(ms, progress=False)
    assert len(nets[0][2].t) > 10, "the test needs spikes"
    assert not torch.equal(nets[0][1].weight, w0), "the test needs learning"
    return nets[0], nets[1]


@pytest.mark.parametrize("name", RULES)
@pytest.mark.parametrize("storage", ["sparse", "dense"])
def test_batched_copies_with_modulators(name: str, storage: str) -> None:
    a, b = both(name, storage=storage, modulator=MODULATORS[name])
    assert_paths(a, b)
    assert_same(a, b)


@pytest.mark.parametrize("name", RULES)
def test_unbatched_dt_0_1(name: str) -> None:
    mod = MODULATORS[name]
    if isinstance(mod, torch.Tensor) and mod.shape != (N_OUT,):
        mod = 0.8  # per copy: a number for the unbatched network
    a, b = both(name, ms=20.0, dt=0.1, batch=None, modulator=mod)
    assert_paths(a, b)
    assert_same(a, b)


@pytest.mark.parametrize("name", RULES)
def test_split_runs_set_modulator_and_state_dict(name: str) -> None:
    """No modulator, then one set between runs, then another: one run on the PyTorch path, the
    same on the kernel in pieces, and a kernel run restored from a state_dict mid-run, whose second
    half runs on the PyTorch path."""
    second = MODULATORS[name]
    third = 0.3

    def make(compiled: bool) -> tuple:
        return build(compiled, make_rule(name, 0.25), modulator=None)

    def drive(net: tuple, pieces: tuple[float, ...]) -> None:
        for ms in pieces:
            net[0].run(ms, progress=False)

    a, b, c = make(False), make(True), make(True)
    for net, pieces in ((a, (15.0,)), (b, (5.0, 0.25, 9.75))):
        drive(net, pieces)
        net[0].set_modulator(net[1], second)
        drive(net, (15.0,) if net is a else (7.5, 7.5))
    c[0].load_state_dict(b[0].state_dict())  # mid-run: the modulator is saved with the state
    c[0].compiled = False
    for net in (a, b, c):
        net[0].set_modulator(net[1], third)
        net[0].run(10.0, progress=False)
    assert_paths(a, b)
    assert c[0].last_run_info["path"] == "torch"
    assert_same(a, b)
    assert_same(a, c)  # the records before the state_dict are in it


@pytest.mark.parametrize("name", ["reward", "eligibility", "three_factor"])
def test_first_step_clips_weights_set_out_of_bounds(name: str) -> None:
    # no modulator (RewardModulatedSTDP: its baseline dopamine), initial weights beyond w_max
    rule = {"reward": lambda: sf.plasticity.RewardModulatedSTDP(lr=1e-2, w_max=0.3, dt=0.25)}.get(
        name, lambda: make_rule(name, 0.25)
    )
    nets = [build(c, rule(), weight=Uniform(0.0, 0.6)) for c in (False, True)]
    for net in nets:
        net[0].run(10.0, progress=False)
    assert_paths(*nets)
    assert_same(*nets)
    assert float(nets[1][1].weight.max()) == 0.3


def test_dale_sign_of_an_inhibitory_source() -> None:
    # bounds that allow positive weights: the sign of an inhibitory source keeps them <= 0
    def rule() -> Any:
        return sf.plasticity.RewardModulatedSTDP(
            lr=5e-2, a_plus=-1.0, a_minus=-1.0, w_min=-0.3, w_max=0.2, d_baseline=1.0, dt=0.25
        )

    nets = [build(c, rule(), sign="inhibitory", modulator=0.5) for c in (False, True)]
    for net in nets:
        net[0].run(40.0, progress=False)
    assert_paths(*nets)
    assert_same(*nets)
    assert float(nets[1][1].weight.max()) == 0.0


def test_bad_modulators_raise_the_rules_errors_on_both_paths() -> None:
    for compiled in (False, True):
        net, proj, _ = build(compiled, make_rule("reward", 0.25), modulator=torch.tensor([1.0, 2.0]))
        with pytest.raises(ShapeError, match="dopamine release"):
            net.run(1.0, progress=False)
        net, proj, _ = build(compiled, make_rule("eligibility", 0.25), modulator=torch.tensor([1.0, 2.0]))
        with pytest.raises(ShapeError, match="one eligibility per sample"):
            net.run(1.0, progress=False)


def test_what_the_kernel_does_not_cover_says_why() -> None:
    cases = [
        (sf.plasticity.ThreeFactor(post_fn=torch.tanh, dt=0.25), "post_fn", {}),
        (
            sf.plasticity.EligibilityTrace(sf.plasticity.ThreeFactor(dt=0.25), tau_e=10.0),
            "EligibilityTrace wraps ThreeFactor",
            {},
        ),
        (sf.plasticity.ThreeFactor(dt=0.25), "per synapse", {"modulator": torch.ones(N_OUT, N_IN)}),
    ]
    for rule, why, kw in cases:
        net, _, _ = build(None, rule, storage="dense", **kw)  # type: ignore[arg-type]
        net.run(1.0, progress=False)
        assert net.last_run_info["path"] == "torch"
        assert why in net.last_run_info["why_not_compiled"]
        net.compiled = True
        with pytest.raises(ParameterError, match=why):
            net.run(1.0, progress=False)
    net = Network(dt=0.25, seed=0, compiled=None)
    net.add_poisson("in", 4, rate=0.05)
    net.add_population("o", sf.neurons.LIF(2, dt=0.25))
    rule = sf.plasticity.SynapticScaling(target_rate=0.005, dt=0.25)
    net.connect("in", "o", weight=0.1, rule=Explicit([0, 0, 1], [1, 1, 0]), storage="sparse", plasticity=rule)
    net.run(1.0, progress=False)
    assert "multapses" in net.last_run_info["why_not_compiled"]
