"""Poisson inputs (``Network.add_poisson_input``, Brian2's ``PoissonInput``): the drawn counts
against the Poisson distribution (scipy), the delivered input against its mean and variance, a
LIF driven by it against the explicit Poisson group + projection construction and against Brian2,
and the network's guarantees (seeds, split runs, batch copies, state_dict, both paths)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import DeltaSynapse, Explicit, ExpSynapse, Network, PoissonInput, builders
from spikeforge.circuits.inputs import MAX_DISTINCT_MEANS, _cdf_table, poisson_counts
from spikeforge.errors import ParameterError

F64 = torch.float64
# a fluctuation-driven LIF: mean drive C * w * nu * tau = 19 mV below the 20 mV threshold
C_EXT, NU, W = 95, 10 * sf.units.Hz, 1.0
LIF_KW = dict(tau_mem=20.0, v_th=20.0, v_reset=10.0, v_leak=0.0, dt=0.1)


def _lif(n: int, t_ref: float = 0.0) -> sf.neurons.LIF:
    return sf.neurons.LIF(n, t_ref=t_ref, **LIF_KW)  # type: ignore[arg-type]


@pytest.mark.parametrize("lam", [0.05, 0.75, 4.0, 60.0, 800.0])
def test_counts_are_the_poisson_quantiles_of_the_uniforms(lam):
    """Inversion of the CDF: the count of ``u`` is scipy's Poisson quantile of ``u``."""
    stats = pytest.importorskip("scipy.stats")
    u = torch.rand(20000, generator=torch.Generator().manual_seed(1), dtype=F64)
    counts = poisson_counts(torch.tensor(lam), u).numpy()
    ref = stats.poisson.ppf(u.numpy(), lam)
    # equal except where u is within rounding of a CDF step (two summation orders)
    assert np.mean(counts == ref) > 0.9999
    assert np.all(np.abs(counts - ref) <= 1)


def test_counts_with_many_distinct_means():
    """Per-element means (more than MAX_DISTINCT_MEANS: element by element) and a few (tables)."""
    stats = pytest.importorskip("scipy.stats")
    gen = torch.Generator().manual_seed(2)
    for distinct, top in ((3, 40.0), (4 * MAX_DISTINCT_MEANS, 40.0), (4 * MAX_DISTINCT_MEANS, 900.0)):
        lam = torch.linspace(0.0, top, distinct, dtype=F64)[
            torch.randint(0, distinct, (30000,), generator=gen)
        ]
        u = torch.rand(30000, generator=gen, dtype=F64)
        counts = poisson_counts(lam, u).numpy()
        ref = stats.poisson.ppf(u.numpy(), lam.numpy())
        ref[lam.numpy() == 0] = 0
        assert np.mean(counts == ref) > 0.9999
        assert np.all(np.abs(counts - ref) <= 1)


def _jump_net(n: int, n_ext: int, rate: float, weight: float, **kw) -> Network:
    """Neurons that only integrate (no leak within float64 rounding, no threshold)."""
    net = Network(dt=0.1, seed=5, dtype=F64, **kw)
    net.add_population("x", sf.neurons.LIF(n, tau_mem=1e15, v_th=1e12, dt=0.1).double())
    net.add_poisson_input("ext", "x", n=n_ext, rate=rate, weight=weight)
    return net


@pytest.mark.parametrize("compiled", [False, True])
def test_delivered_input_has_poisson_mean_and_variance(compiled):
    """Per neuron and step: mean n*rate*dt*w and variance n*rate*dt*w^2 (5 standard errors)."""
    n, steps, n_ext, rate, w = 200, 1000, 250, 20 * sf.units.Hz, 0.3
    net = _jump_net(n, n_ext, rate, w, compiled=compiled)
    mon = net.record_state("x", "v", indices=list(range(n)))
    net.run(steps * 0.1, progress=False)
    dv = np.diff(mon.values, axis=0) / w  # counts of steps 0 .. steps - 2
    lam = n_ext * rate * 0.1
    m = dv.size
    counts = np.round(dv)
    np.testing.assert_allclose(dv, counts, atol=1e-6)  # whole numbers of jumps
    assert abs(counts.mean() - lam) < 5 * math.sqrt(lam / m)
    assert abs(counts.var() - lam) < 5 * math.sqrt((lam + 2 * lam**2) / m)
    assert abs(np.mean(counts == 0) - math.exp(-lam)) < 5 * math.sqrt(math.exp(-lam) / m)


@pytest.mark.parametrize("lam", [2.0, 500.0], ids=["short_table", "long_table"])
def test_kernel_counts_equal_the_torch_engines(lam):
    """The kernel counts a block sharing a short CDF table at once and searches a long one per
    neuron: both give the PyTorch engine's counts exactly (integer sums: v is the running count),
    over several blocks and on one and two threads."""
    pytest.importorskip("numba")
    from spikeforge.circuits import _kernel

    n, n_ext = 2 * _kernel._BLOCK + 37, 1000
    assert (_cdf_table(lam, torch.device("cpu")).numel() <= _kernel._TABLE_AT_ONCE) == (lam < 100)
    vs = []
    for compiled, threads in ((False, 1), (True, 1), (True, 2)):
        net = _jump_net(n, n_ext, lam / (n_ext * 0.1), 1.0, compiled=compiled)
        mon = net.record_state("x", "v", indices=[0, 1, 2047, 2048, 2049, 3001, n - 1])
        net.run(3.0, progress=False, threads=threads)
        assert net.last_run_info["path"] == ("compiled" if compiled else "torch")
        vs.append((net.state("x").v.clone(), mon.values.copy()))
    assert abs(float(vs[0][0].mean()) - 30 * lam) < 5 * math.sqrt(30 * lam / n)  # 30 steps' counts
    for v, values in vs[1:]:
        assert torch.equal(v, vs[0][0])
        np.testing.assert_array_equal(values, vs[0][1])


def test_time_varying_and_per_neuron_rates():
    """rate as a function of time and as a tensor [n]: the mean count follows it."""
    n, w = 50, 1.0
    per_neuron = torch.linspace(0.0, 0.05, n, dtype=F64)
    net = _jump_net(n, 100, per_neuron, w)
    mon = net.record_state("x", "v", indices=list(range(n)))
    net.run(200.0, progress=False)
    mean = np.diff(mon.values, axis=0).mean(0)
    lam = 100 * per_neuron.numpy() * 0.1
    assert np.all(np.abs(mean - lam) < 5 * np.sqrt(lam / 1999) + 1e-12)

    net = _jump_net(n, 100, sf.circuits.TimedArray(torch.tensor([0.0, 0.04], dtype=F64), dt=50.0), w)
    mon = net.record_state("x", "v", indices=list(range(n)))
    net.run(100.0, progress=False)
    dv = np.diff(mon.values, axis=0)
    assert dv[:499].sum() == 0  # rate 0 during the first 50 ms (steps 0..499)
    lam = 100 * 0.04 * 0.1
    assert abs(dv[500:].mean() - lam) < 5 * math.sqrt(lam / dv[500:].size)


def _rates(net: Network, name: str, duration: float) -> np.ndarray:
    rec = net.record_spikes(name)
    net.run(duration, progress=False)
    return np.bincount(rec.i, minlength=net.neurons[name].n) / (duration / 1000.0)


def _close(a: np.ndarray, b: np.ndarray, k: float = 4.0, rel: float = 0.0) -> None:
    """Mean rates of two independent sets of independent neurons agree within k standard errors
    (plus ``rel`` of the mean for a known systematic difference)."""
    se = math.sqrt(a.var() / a.size + b.var() / b.size)
    assert abs(a.mean() - b.mean()) < k * se + rel * b.mean(), (a.mean(), b.mean(), se)


def test_lif_rate_matches_poisson_group_construction():
    """The same neurons driven by add_poisson_input and by C_EXT Poisson trains each through a
    delay-0 DeltaSynapse fire at the same rate (within sampling error)."""
    n, duration = 300, 1000.0
    a = Network(dt=0.1, seed=1)
    a.add_population("x", _lif(n, t_ref=2.0))
    a.add_poisson_input("ext", "x", n=C_EXT, rate=NU, weight=W)
    rate_input = _rates(a, "x", duration)
    b = Network(dt=0.1, seed=2)
    b.add_population("x", _lif(n, t_ref=2.0))
    b.add_poisson("ext", C_EXT * n, rate=NU)
    src = torch.arange(C_EXT * n)
    b.connect("ext", "x", rule=Explicit(src, src % n), weight=W, delay=0.0)
    rate_group = _rates(b, "x", duration)
    assert 5.0 < rate_group.mean() < 40.0  # the fluctuation-driven regime this test is about
    _close(rate_input, rate_group)


@pytest.mark.reference
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("t_ref", [0.0, 2.0])
def test_lif_rate_matches_brian2_poisson_input(t_ref):
    """Brian2's PoissonInput (binomial counts, numpy target) onto the same LIF, with and without
    a refractory period: mean rates within 4 standard errors (about 3 % here). Jumps that Brian2
    applies to a held v (refractory, or before the reset of the neuron's own spike) are lost in
    both."""
    b2 = pytest.importorskip("brian2")
    n, duration = 500, 1000.0
    net = Network(dt=0.1, seed=3, dtype=F64)
    net.add_population("x", _lif(n, t_ref=t_ref).double(), init={"v": sf.circuits.Uniform(0.0, 20.0)})
    net.add_poisson_input("ext", "x", n=C_EXT, rate=NU, weight=W)
    ours = _rates(net, "x", duration)

    saved = b2.prefs.codegen.target
    b2.prefs.codegen.target = "numpy"
    try:
        b2.start_scope()
        b2.defaultclock.dt = 0.1 * b2.ms
        ms, mV = b2.ms, b2.mV
        grp = b2.NeuronGroup(
            n,
            "dv/dt = -v / (20*ms) : volt" + (" (unless refractory)" if t_ref else ""),
            threshold="v >= 20*mV",
            reset="v = 10*mV",
            refractory=(t_ref + 0.1) * ms if t_ref else False,
            method="exact",
        )
        grp.v = np.random.default_rng(3).uniform(0.0, 20.0, n) * mV
        inp = b2.PoissonInput(grp, "v", N=C_EXT, rate=NU * 1000 * b2.Hz, weight=W * mV)
        mon = b2.SpikeMonitor(grp)
        b2.seed(3)
        b2.Network(grp, inp, mon).run(duration * ms)
        theirs = np.bincount(np.asarray(mon.i), minlength=n) / (duration / 1000.0)
    finally:
        b2.prefs.codegen.target = saved
    assert 5.0 < theirs.mean() < 40.0
    _close(ours, theirs)


def _recurrent(compiled: bool | None = None, **kw) -> Network:
    net = Network(dt=0.1, seed=7, compiled=compiled, **kw)
    net.add_population("x", _lif(300, t_ref=2.0), init={"v": sf.circuits.Uniform(0.0, 20.0)})
    net.add_population("y", _lif(50), init={"v": sf.circuits.Uniform(0.0, 20.0)})
    net.add_poisson("p", 20, rate=0.02)
    net.connect("x", "x", p=0.05, weight=0.1, delay=1.0)
    net.connect("p", "y", p=0.5, weight=0.5, synapse=ExpSynapse(5.0))
    net.add_poisson_input("ext_x", "x", n=C_EXT, rate=NU, weight=W)
    net.add_poisson_input("ext_y", "y", n=100, rate=0.05, weight=0.5)
    return net


def test_paths_seeds_split_runs_and_state_dict():
    def run(compiled: bool, split: bool, dtype: torch.dtype = torch.float32) -> tuple[np.ndarray, np.ndarray]:
        net = _recurrent(compiled, dtype=dtype)
        rec = net.record_spikes("x")
        for d in (60.0, 90.0) if split else (150.0,):
            net.run(d, progress=False)
        assert net.last_run_info["path"] == ("compiled" if compiled else "torch")
        return rec.t.copy(), rec.i.copy()

    ref = run(True, False)
    assert ref[0].size > 100
    for other in (run(True, True), run(False, False), run(False, True)):
        np.testing.assert_array_equal(ref[0], other[0])
        np.testing.assert_array_equal(ref[1], other[1])
    # float64 sees the same counts (drawn in float64), so the same drive to rounding
    t64, _ = run(True, False, F64)
    assert abs(t64.size - ref[0].size) < 0.05 * ref[0].size
    # state_dict mid-run, loaded into a fresh network, continues bitwise
    a = _recurrent()
    rec_a = a.record_spikes("x")
    a.run(55.0, progress=False)
    saved = a.state_dict()
    a.run(95.0, progress=False)
    b = _recurrent()
    rec_b = b.record_spikes("x")
    b.load_state_dict(saved)
    b.run(95.0, progress=False)
    np.testing.assert_array_equal(rec_a.t, rec_b.t)
    np.testing.assert_array_equal(rec_a.i, rec_b.i)
    np.testing.assert_array_equal(rec_a.t, ref[0])


def test_batch_copy_equals_unbatched_network():
    batched = _recurrent(batch=3, noise_seed=[11, 12, 13])
    rec = batched.record_spikes("x")
    batched.run(100.0, progress=False)
    for b in (0, 2):
        single = _recurrent(noise_seed=10 + b + 1)
        r = single.record_spikes("x")
        single.run(100.0, progress=False)
        sel = rec.batch == b
        np.testing.assert_array_equal(rec.t[sel], r.t)
        np.testing.assert_array_equal(rec.i[sel], r.i)


def test_adding_a_poisson_input_leaves_poisson_group_spikes():
    def spikes(with_input: bool) -> np.ndarray:
        net = Network(dt=0.1, seed=0)
        net.add_population("x", _lif(10))
        net.add_poisson("p", 30, rate=0.05)
        if with_input:
            net.add_poisson_input("ext", "x", n=10, rate=0.05, weight=0.1)
        rec = net.record_spikes("p")
        net.run(30.0, progress=False)
        return rec.t * 1000 + rec.i

    np.testing.assert_array_equal(spikes(False), spikes(True))


def test_jump_of_i_and_torch_only_fields():
    """synapse=DeltaSynapse("i") jumps the synaptic current of a LIF with tau_syn (both paths);
    other fields run on the PyTorch path."""
    out = []
    for compiled in (True, False):
        net = Network(dt=0.1, seed=0, compiled=compiled, dtype=F64)
        net.add_population("x", sf.neurons.LIF(20, tau_mem=1e15, tau_syn=1e15, v_th=1e12, dt=0.1).double())
        net.add_poisson_input("ext", "x", n=50, rate=0.1, weight=0.5, synapse=DeltaSynapse("i"))
        mon = net.record_state("x", "i", indices=list(range(20)))
        net.run(50.0, progress=False)
        out.append(mon.values)
    np.testing.assert_array_equal(out[0], out[1])
    assert abs(np.diff(out[0], axis=0).mean() - 50 * 0.1 * 0.1 * 0.5) < 0.05
    net = Network(dt=0.1, seed=0)
    net.add_population("a", sf.neurons.ALIF(5, dt=0.1))
    net.add_poisson_input("ext", "a", n=5, rate=0.1, weight=0.1, synapse=DeltaSynapse("a"))
    net.run(1.0, progress=False)
    assert net.last_run_info["path"] == "torch"


def test_bad_arguments():
    net = Network(dt=0.1)
    net.add_population("x", _lif(4))
    net.add_poisson("p", 3, rate=0.01)
    drv = net.add_poisson_input("ext", "x", n=3, rate=0.01, weight=0.1)
    assert isinstance(drv, PoissonInput) and drv.target == "x" and drv.field == "v"
    with pytest.raises(ParameterError, match="already used"):
        net.add_poisson_input("ext", "x", n=3, rate=0.01, weight=0.1)
    with pytest.raises(ParameterError, match=r"target must name a population .*\['x'\], got 'nope'"):
        net.add_poisson_input("e2", "nope", n=3, rate=0.01, weight=0.1)
    with pytest.raises(ParameterError, match="must be a neuron population"):
        net.add_poisson_input("e2", "p", n=3, rate=0.01, weight=0.1)
    for bad in (0, 2.5, True):
        with pytest.raises(ParameterError, match="n must be an int >= 1"):
            net.add_poisson_input("e2", "x", n=bad, rate=0.01, weight=0.1)
    with pytest.raises(ParameterError, match="rate of 'e2' must be >= 0"):
        net.add_poisson_input("e2", "x", n=3, rate=-0.01, weight=0.1)
    with pytest.raises(ParameterError, match="weight must be a finite number"):
        net.add_poisson_input("e2", "x", n=3, rate=0.01, weight=float("nan"))
    with pytest.raises(ParameterError, match="must be a DeltaSynapse, got ExpSynapse"):
        net.add_poisson_input("e2", "x", n=3, rate=0.01, weight=0.1, synapse=ExpSynapse(5.0))  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"synapse.target must be a state field of 'x' \(LIF\)"):
        net.add_poisson_input("e2", "x", n=3, rate=0.01, weight=0.1, synapse=DeltaSynapse("g"))
    net.run(1.0, progress=False)
    with pytest.raises(ParameterError, match="cannot add an input"):
        net.add_poisson_input("e3", "x", n=3, rate=0.01, weight=0.1)


def test_brunel_uses_poisson_inputs():
    """The default Brunel network has no input group and no external synapses; its AI state
    fires at the rate of the explicit construction (external="group")."""
    net = builders.brunel("AI", scale=0.1, seed=0)
    assert net.input_names == () and set(net.projections.keys()) == {
        "exc->exc",
        "exc->inh",
        "inh->exc",
        "inh->inh",
    }
    group = builders.brunel("AI", scale=0.1, seed=1, external="group")
    assert group.input_names == ("ext",)
    a, b = _rates(net, "exc", 500.0), _rates(group, "exc", 500.0)
    # recurrent networks: the neurons are not independent, so allow 10 % on top of the noise
    assert abs(a.mean() - b.mean()) < 0.1 * b.mean() + 4 * math.sqrt(a.var() / a.size + b.var() / b.size)
    with pytest.raises(ParameterError, match="external must be 'input' or 'group'"):
        builders.brunel("AI", scale=0.1, external="poisson")  # type: ignore[arg-type]
