"""The compiled kernel runs Izhikevich, ALIF and IF populations as their step functions do: the same
spikes and states as the PyTorch path (``compiled=False``) in float64, for split runs, checkpoints
mid-run, batched copies with ``batch_params``, every synapse kind onto them, and dt other than 1.

The networks are built so that both paths add the same numbers in the same order: weights are
multiples of 1/16 (their sums are exact in any order) and every projection has a delay (no direct
channel, whose sequential adds into a decaying state differ from PyTorch's summed matrix product
in the last bit). Izhikevich and IF then agree bitwise. ALIF's membrane step is LIF's
``torch.lerp``, which PyTorch computes with a fused multiply-add on this hardware; its states are
compared to 1e-12, as the LIF kernel's are (the spikes are identical).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import (
    AlphaConductance,
    AlphaSynapse,
    DeltaSynapse,
    ExpConductance,
    ExpSynapse,
    Network,
    Uniform,
)
from spikeforge.errors import ParameterError

pytest.importorskip("numba")

F64 = torch.float64
N = 24


def _dyadic(scale: float) -> Callable[[int, torch.Generator], torch.Tensor]:
    """Weights ``scale * k / 16`` with k in 1..16 (exact sums in any order)."""
    return lambda k, g: scale * torch.randint(1, 17, (k,), generator=g).to(F64) / 16


def izhikevich(dt: float, integrator: str) -> sf.neurons.Izhikevich:
    a = torch.linspace(0.02, 0.1, N, dtype=F64)  # per neuron: the kernel's array path
    d = torch.linspace(8.0, 2.0, N, dtype=F64)
    return sf.neurons.Izhikevich(N, "RS", a=a, d=d, dt=dt, integrator=integrator)  # type: ignore[arg-type]


def alif(dt: float, reset: str = "to_value") -> sf.neurons.ALIF:
    return sf.neurons.ALIF(
        N,
        tau_mem=torch.linspace(8.0, 14.0, N, dtype=F64),
        tau_syn=4.0,
        tau_adapt=60.0,
        beta=torch.linspace(0.0, 0.4, N, dtype=F64),
        t_ref=0.25,  # 2.5 steps at dt = 0.1: refractory_steps rounds it
        reset=reset,  # type: ignore[arg-type]
        dt=dt,
    )


# (model factory, dt, weight scale of the synapses, current): each keeps the population active
CASES: dict[str, tuple[Callable[[], sf.neurons.NeuronModule], float, float, float]] = {
    "izhikevich-euler": (lambda: izhikevich(0.25, "euler"), 0.25, 4.0, 4.0),
    "izhikevich2003": (lambda: izhikevich(1.0, "izhikevich2003"), 1.0, 4.0, 4.0),
    "izhikevich2003-half": (lambda: izhikevich(0.5, "izhikevich2003"), 0.5, 4.0, 4.0),
    "alif": (lambda: alif(0.1), 0.1, 0.25, 0.6),
    "alif-subtract-euler": (
        lambda: sf.neurons.ALIF(
            N, tau_mem=10.0, tau_adapt=30.0, beta=0.2, reset="subtract", integrator="euler", dt=0.5
        ),
        0.5,
        0.25,
        0.8,
    ),
    "if": (lambda: sf.neurons.IF(N, v_th=1.0, r=0.1, dt=0.1), 0.1, 0.25, 0.15),
    "if-subtract": (
        lambda: sf.neurons.IF(N, v_th=1.0, v_reset=-0.5, r=0.25, reset="subtract", dt=0.5),
        0.5,
        0.25,
        0.1,
    ),
}
BITWISE = {"izhikevich-euler", "izhikevich2003", "izhikevich2003-half", "if", "if-subtract"}


def build(
    case: str,
    compiled: bool | None,
    *,
    batch: int | None = None,
    noise_seed=None,
    batch_params: dict | None = None,
) -> Network:
    """The case's population ``x`` driven by a Poisson group through every synapse kind, a spike
    source, a current, a Poisson input onto v, and recurrent delta and conductance synapses."""
    factory, dt, w, cur = CASES[case]
    net = Network(dt=dt, seed=2, batch=batch, noise_seed=noise_seed, dtype=F64, compiled=compiled)
    init = {"v": Uniform(-70.0, -60.0)} if case.startswith("izh") else {"v": Uniform(0.0, 0.8)}
    net.add_population("x", factory().double(), init=init, batch_params=batch_params)
    net.add_poisson("p", 30, rate=150 * sf.units.Hz)
    net.add_spike_source("s", 2, times=[2.0, 3.0, 9.0], indices=[0, 1, 1])
    net.add_current("drive", "x", lambda t: cur * (1.0 + 0.5 * torch.sin(t / 7.0)))
    d = 2 * dt
    net.connect("p", "x", p=0.3, weight=_dyadic(w), delay=d, synapse=ExpSynapse(2.0), name="exp")
    net.connect(
        "p", "x", p=0.2, weight=_dyadic(w), delay=Uniform(dt, 3.0), synapse=AlphaSynapse(1.5), name="alpha"
    )
    net.connect("s", "x", weight=8 * w, delay=d, synapse=DeltaSynapse(), name="delta")
    net.connect("x", "x", p=0.2, weight=_dyadic(w / 2), delay=d, synapse=DeltaSynapse(), name="rec")
    e_rev = 0.0 if case.startswith("izh") else 2.0
    net.connect(
        "p", "x", p=0.2, weight=_dyadic(0.05), delay=d, synapse=ExpConductance(3.0, e_rev=e_rev), name="gexp"
    )
    net.connect(
        "x",
        "x",
        p=0.2,
        weight=_dyadic(0.02),
        delay=d,
        synapse=AlphaConductance(2.0, e_rev=e_rev),
        name="galpha",
    )
    net.add_poisson_input("pin", "x", 20, rate=50 * sf.units.Hz, weight=w / 2)
    return net


def monitors(net: Network) -> list:
    field = {"Izhikevich": "u", "ALIF": "a"}.get(type(net.neurons["x"]).__name__, "v")
    mons: list = [
        net.record_spikes("x"),
        net.record_rate("x"),
        net.record_state("x", "v", interval=3 * net.dt),
    ]
    mons.append(net.record_state("x", field, indices=[0, 3, 23]))
    mons.append(net.record_state("galpha", "g", indices=[1, 2]))
    return mons


def assert_same(m1: list, m2: list, *, exact: bool) -> None:
    for a, b in zip(m1, m2):
        if hasattr(a, "num_spikes"):
            np.testing.assert_array_equal(a.t, b.t)
            np.testing.assert_array_equal(a.i, b.i)
            np.testing.assert_array_equal(a.batch, b.batch)
        elif hasattr(a, "values"):
            np.testing.assert_array_equal(a.t, b.t)
            if exact:
                np.testing.assert_array_equal(a.values, b.values)
            else:
                np.testing.assert_allclose(a.values, b.values, rtol=0, atol=1e-12)
        else:
            np.testing.assert_array_equal(a.counts, b.counts)


def assert_same_state(s1, s2, *, exact: bool) -> None:
    for f1, f2 in zip(s1, s2):
        if exact or not f1.is_floating_point():
            assert torch.equal(f1, f2)
        else:
            torch.testing.assert_close(f1, f2, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", list(CASES))
def test_compiled_equals_torch_path(case):
    nets, mons = {}, {}
    for compiled in (True, False):
        nets[compiled] = build(case, compiled)
        mons[compiled] = monitors(nets[compiled])
        nets[compiled].run(60.0, progress=False)
        assert nets[compiled].last_run_info["path"] == ("compiled" if compiled else "torch")
    assert mons[True][0].num_spikes > 30, "the population must be active"
    exact = case in BITWISE
    assert_same(mons[True], mons[False], exact=exact)
    assert_same_state(nets[True].state("x"), nets[False].state("x"), exact=exact)


@pytest.mark.parametrize("case", ["izhikevich2003-half", "alif", "if"])
def test_split_run_and_checkpoint_equal_one_run(case):
    one = build(case, True)
    m1 = monitors(one)
    one.run(40.0, progress=False)
    split = build(case, True)
    m2 = monitors(split)
    split.run(13.0, progress=False)
    ckpt = split.state_dict()
    split.run(27.0, progress=False)
    assert_same(m1, m2, exact=True)
    assert_same_state(one.state("x"), split.state("x"), exact=True)
    # resume the checkpoint on a fresh network, on both paths
    for compiled in (True, False):
        resumed = build(case, compiled)
        m3 = monitors(resumed)
        resumed.load_state_dict(ckpt)
        resumed.run(27.0, progress=False)
        exact = compiled or case in BITWISE
        assert_same_state(one.state("x"), resumed.state("x"), exact=exact)
        np.testing.assert_array_equal(m3[0].t, m1[0].t)  # the checkpoint holds the records so far
        np.testing.assert_array_equal(m3[0].i, m1[0].i)


@pytest.mark.parametrize(
    "case, batch_params",
    [
        ("izhikevich2003", {"d": torch.tensor([8.0, 2.0, 6.0], dtype=F64)}),
        ("alif", {"beta": torch.tensor([0.0, 0.2, 0.5], dtype=F64)}),
        ("if", None),
    ],
)
def test_batched_copies_equal_unbatched_networks(case, batch_params):
    seeds = [5, 6, 7]
    batched = build(case, True, batch=3, noise_seed=seeds, batch_params=batch_params)
    mb = monitors(batched)
    batched.run(40.0, progress=False)
    counts = []
    for b in range(3):
        bp = None if batch_params is None else {k: v[b : b + 1] for k, v in batch_params.items()}
        single = build(case, True, noise_seed=seeds[b], batch_params=bp)
        ms = monitors(single)
        single.run(40.0, progress=False)
        t_b, i_b = mb[0].select(b)
        np.testing.assert_array_equal(t_b, ms[0].t)
        np.testing.assert_array_equal(i_b, ms[0].i)
        np.testing.assert_array_equal(mb[3].values[:, b], ms[3].values)
        for f1, f2 in zip(batched.state("x"), single.state("x")):
            assert torch.equal(f1[b], f2)
        counts.append(t_b.size)
    assert len(set(counts)) > 1  # the copies differ
    if batch_params is not None:  # and the batched torch path agrees
        ref = build(case, False, batch=3, noise_seed=seeds, batch_params=batch_params)
        mr = monitors(ref)
        ref.run(40.0, progress=False)
        assert_same(mb, mr, exact=case in BITWISE)


def test_izhikevich2003_builder_runs_compiled_with_the_same_spikes():
    """The published network (all-to-all, dense, delay 0: direct channels) on both paths. The
    sums of weights differ in their last bit (sequential adds against a matrix product), so the
    states agree to 1e-9 mV and the spikes of the first 200 ms are the same."""
    from spikeforge.circuits import builders

    out = {}
    for compiled in (True, False):
        net = builders.izhikevich2003(160, 40, seed=1, dtype=F64)
        net.compiled = compiled
        mon = net.record_spikes("exc")
        net.run(200.0, progress=False)
        assert net.last_run_info["path"] == ("compiled" if compiled else "torch")
        out[compiled] = (mon.t, mon.i, net.state("exc"))
    assert out[True][0].size > 100
    np.testing.assert_array_equal(out[True][0], out[False][0])
    np.testing.assert_array_equal(out[True][1], out[False][1])
    torch.testing.assert_close(out[True][2].v, out[False][2].v, rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    "factory, drive",
    [
        (lambda: izhikevich(0.5, "izhikevich2003"), 10.0),
        (lambda: alif(0.5, "subtract"), 1.5),
        (lambda: sf.neurons.IF(N, v_th=1.0, r=torch.linspace(0.05, 0.2, N), dt=0.5), 1.0),
    ],
    ids=["izhikevich", "alif", "if"],
)
def test_float32_runs_in_float32_and_agrees(factory, drive):
    out = {}
    for compiled in (True, False):
        net = Network(dt=0.5, seed=0, dtype=torch.float32, compiled=compiled)
        net.add_population("x", factory().float())
        net.add_current("drive", "x", drive)
        mon = net.record_spikes("x")
        net.run(50.0, progress=False)
        assert net.state("x").v.dtype == torch.float32
        assert net.last_run_info["path"] == ("compiled" if compiled else "torch")
        out[compiled] = (mon.t, mon.i, net.state("x"))
    assert out[True][0].size > 10
    np.testing.assert_array_equal(out[True][0], out[False][0])
    np.testing.assert_array_equal(out[True][1], out[False][1])
    exact = not isinstance(net.neurons["x"], sf.neurons.ALIF)  # ALIF: torch.lerp's fused multiply-add
    for f1, f2 in zip(out[True][2], out[False][2]):
        if exact or not f1.is_floating_point():
            assert torch.equal(f1, f2)
        else:
            torch.testing.assert_close(f1, f2)


class _MyIzhikevich(sf.neurons.Izhikevich):
    def step(self, x, state=None):  # type: ignore[no-untyped-def]
        return super().step(x, state)


def test_kernel_names_what_it_cannot_run():
    for module, expected in (
        (_MyIzhikevich(3, dt=0.1), "'x' is a _MyIzhikevich"),
        (sf.neurons.IF(3, surrogate=lambda v: torch.sigmoid(v)), "custom spike function"),
        (sf.neurons.LI(3), "'x' is a LI"),
    ):
        net = Network(dt=module.dt)
        net.add_population("x", module)
        net.add_current("c", "x", 1.0)
        net.run(1.0, progress=False)
        assert net.last_run_info["path"] == "torch"
        assert expected in net.last_run_info["why_not_compiled"]
        strict = Network(dt=module.dt, compiled=True)
        strict.add_population("x", module)
        with pytest.raises(ParameterError, match="compiled=True but .*" + expected.split()[-1]):
            strict.run(1.0, progress=False)
