"""``ProbabilisticNeuron`` populations draw counter-based numbers (``spikeforge.circuits._philox``,
two streams per population: release, then spike) in both engines: the compiled kernel gives the
PyTorch engine's spikes and membrane bitwise in float64 and float32 (``log_prob``, a sum of
library logarithms, to rounding), a split run equals one run, a ``state_dict`` taken mid-run
resumes exactly, copy ``b`` of a batch equals an unbatched network with that copy's noise seed,
and the draws have the analytic release and firing probabilities. The firing probability is
``_philox.sigmoid`` (exact operations, the same doubles in PyTorch and numba) and the membrane
step ``torch.lerp`` as ATen computes it (fused multiply-adds, mirrored in the kernel)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import ExpSynapse, Network
from spikeforge.circuits import _philox as philox
from spikeforge.errors import ParameterError

pytest.importorskip("numba")

F64 = torch.float64
N = 21


def _neuron(dtype: torch.dtype = F64, **kw: object) -> sf.neurons.ProbabilisticNeuron:
    values: dict[str, object] = dict(
        tau_mem=torch.linspace(3.0, 12.0, N, dtype=F64),  # k above and below 1/2 at dt = 2.5
        v_th=1.0,
        v_reset=-0.2,
        temperature=0.25,
        release=torch.linspace(0.4, 1.0, N, dtype=F64),
        dt=2.5,
    )
    values.update(kw)
    return sf.neurons.ProbabilisticNeuron(N, **values).to(dtype)  # type: ignore[arg-type]


def _net(compiled, *, dtype=F64, batch=None, noise_seed=None, batch_params=None, eval_mode=False, **kw):
    """A Poisson group onto a stochastic population, its recurrent delayed synapses, a second
    stochastic population (its own streams) and a current: dt = 2.5 ms."""
    net = Network(dt=2.5, seed=3, batch=batch, noise_seed=noise_seed, dtype=dtype, compiled=compiled)
    net.add_poisson("p", 30, rate=40 * sf.units.Hz)
    net.add_population("s", _neuron(dtype, **kw), batch_params=batch_params)
    net.add_population("t", _neuron(dtype, release=0.7, v_th=0.8))
    net.connect("p", "s", p=0.5, weight=0.5, synapse=ExpSynapse(5.0))
    net.connect("s", "s", p=0.3, weight=-0.25, delay=5.0)
    net.connect("s", "t", p=0.3, weight=0.5, delay=2.5)
    net.add_current("c", "t", 0.3)
    if eval_mode:
        net.eval()
    net.record_spikes("s")
    net.record_spikes("t")
    return net


def _spikes(net):
    return [(m.steps.copy(), m.i.copy(), m.batch.copy()) for m in net._monitors]


def _same(a, b):
    return all(all(np.array_equal(x, y) for x, y in zip(ma, mb)) for ma, mb in zip(a, b))


def _run_both(t_ms, **kw):
    out = []
    for compiled in (True, False):
        net = _net(compiled, **kw)
        net.run(t_ms, progress=False)
        assert net.last_run_info["path"] == ("compiled" if compiled else "torch")
        out.append(net)
    return out


@pytest.mark.parametrize("dtype", [F64, torch.float32])
def test_engines_give_the_same_spikes_and_states(dtype):
    comp, ref = _run_both(300.0, dtype=dtype)
    assert len(_spikes(comp)[0][0]) > 100 and len(_spikes(comp)[1][0]) > 50
    assert _same(_spikes(comp), _spikes(ref))
    for name in ("s", "t"):
        a, b = comp.state(name), ref.state(name)
        assert a.v.dtype == dtype
        assert torch.equal(a.v, b.v)
        assert bool((a.log_prob < 0).all())
        torch.testing.assert_close(a.log_prob, b.log_prob, rtol=1e-13 if dtype == F64 else 1e-5, atol=0)


def test_deterministic_mode_draws_nothing_and_agrees():
    comp, ref = _run_both(200.0, eval_mode=True)
    assert len(_spikes(comp)[0][0]) > 20
    assert _same(_spikes(comp), _spikes(ref))
    assert torch.equal(comp.state("s").v, ref.state("s").v)
    assert torch.equal(comp.state("s").log_prob, torch.zeros_like(comp.state("s").log_prob))


@pytest.mark.parametrize("compiled", [True, False])
def test_split_runs_and_state_dict_resume(compiled):
    one = _net(compiled)
    one.run(250.0, progress=False)
    split = _net(compiled)
    for d in (2.5, 80.0, 67.5, 100.0):  # chunk edges anywhere
        split.run(d, progress=False)
    assert _same(_spikes(one), _spikes(split))
    a = _net(compiled)
    a.run(102.5, progress=False)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    b = _net(compiled)
    buf.seek(0)
    b.load_state_dict(torch.load(buf, weights_only=False))
    a.run(147.5, progress=False)
    b.run(147.5, progress=False)
    assert _same(_spikes(a), _spikes(b))
    assert _same(_spikes(a), _spikes(one))
    assert torch.equal(b.state("s").v, one.state("s").v)


@pytest.mark.parametrize("compiled", [True, False])
def test_batch_copy_equals_unbatched_network(compiled):
    seeds = [11, 12, 13]
    temp = torch.tensor([0.2, 0.25, 0.4], dtype=F64)  # a per-copy temperature
    batched = _net(compiled, batch=3, noise_seed=seeds, batch_params={"temperature": temp})
    batched.run(150.0, progress=False)
    t, i, bb = _spikes(batched)[0]
    for b in (0, 2):
        single = _net(compiled, noise_seed=seeds[b], batch_params={"temperature": temp[b : b + 1]})
        single.run(150.0, progress=False)
        ts, is_, _ = _spikes(single)[0]
        np.testing.assert_array_equal(t[bb == b], ts)
        np.testing.assert_array_equal(i[bb == b], is_)
        assert torch.equal(batched.state("s").v[b], single.state("s").v)
    assert not np.array_equal(t[bb == 0], t[bb == 2])
    if compiled:  # and the batched PyTorch engine agrees
        ref = _net(False, batch=3, noise_seed=seeds, batch_params={"temperature": temp})
        ref.run(150.0, progress=False)
        assert _same(_spikes(batched), _spikes(ref))


@pytest.mark.parametrize("compiled", [True, False])
def test_release_and_firing_probabilities(compiled):
    """Analytic: without input v stays at v_leak, so each step fires with p = sigmoid((v_leak -
    v_th) / T); with a large input and tau_mem << dt, v = r m x, so a neuron fires exactly when its
    input is released, with probability q. Both within 5 binomial sigmas."""
    n, steps = 200, 400
    net = Network(dt=1.0, seed=0, compiled=compiled)
    net.add_population("quiet", sf.neurons.ProbabilisticNeuron(n, v_th=1.0, temperature=0.5, dt=1.0))
    fast = sf.neurons.ProbabilisticNeuron(n, tau_mem=0.01, v_th=1.0, temperature=0.01, release=0.3, dt=1.0)
    net.add_population("driven", fast)
    net.add_current("x", "driven", 10.0)
    mq, md = net.record_spikes("quiet"), net.record_spikes("driven")
    net.run(float(steps), progress=False)
    draws = n * steps
    for count, prob in ((mq.num_spikes, float(torch.sigmoid(torch.tensor(-2.0)))), (md.num_spikes, 0.3)):
        assert abs(count - draws * prob) < 5 * (draws * prob * (1 - prob)) ** 0.5, (count, prob)


def test_streams_of_a_population_are_its_own():
    """Adding a Poisson group or another stochastic population after it leaves a population's
    spikes unchanged (its streams are its rank among the stochastic populations)."""

    def build(extra: bool) -> tuple[Network, object]:
        net = Network(dt=1.0, seed=0, compiled=False)
        net.add_population("a", sf.neurons.ProbabilisticNeuron(40, temperature=0.5, dt=1.0))
        if extra:
            net.add_poisson("p", 10, 0.05)
            net.add_population("b", sf.neurons.ProbabilisticNeuron(40, temperature=0.5, dt=1.0))
        return net, net.record_spikes("a")

    (n1, m1), (n2, m2) = build(False), build(True)
    n1.run(100.0, progress=False)
    n2.run(100.0, progress=False)
    assert m1.num_spikes > 50
    np.testing.assert_array_equal(m1.t, m2.t)
    np.testing.assert_array_equal(m1.i, m2.i)
    kind = philox.KIND_NEURON
    assert philox.neuron_streams(1) == (philox.stream(kind, 2), philox.stream(kind, 3))


def test_sigmoid_and_lerp_are_the_kernels():
    """``_philox.sigmoid`` equals numba's bitwise and torch.sigmoid to 1e-15; the kernel's fused
    lerp equals torch.lerp bitwise in both dtypes (both branches of the weight)."""
    from numba import njit

    from spikeforge.circuits import _kernel_models as km
    from spikeforge.circuits import _kernel_philox as kp

    @njit
    def sig(a, out):  # type: ignore[no-untyped-def]
        for j in range(a.size):
            out[j] = kp.sigmoid(a[j])

    @njit
    def lerp(s, e, w, out):  # type: ignore[no-untyped-def]
        one = w[0] - w[0] + 1
        for j in range(s.size):
            if abs(w[j]) < 0.5:
                out[j] = km.fma(w[j], e[j] - s[j], s[j])
            else:
                out[j] = km.fma(s[j] - e[j], one - w[j], e[j])

    g = torch.Generator().manual_seed(0)
    edges = torch.tensor([-1e4, -708.5, 0.0, 709.0, 1e4])
    a = torch.cat((torch.randn(20000, generator=g, dtype=F64) * 30, edges))
    out = np.empty(a.numel())
    sig(a.numpy(), out)
    np.testing.assert_array_equal(out, philox.sigmoid(a).numpy())
    torch.testing.assert_close(philox.sigmoid(a), torch.sigmoid(a), rtol=1e-15, atol=1e-300)
    for dtype in (F64, torch.float32):
        s, e, w = (torch.randn(5001, generator=g, dtype=dtype) for _ in range(3))
        w = w.abs() % 1.0
        res = np.empty(5001, s.numpy().dtype)
        lerp(s.numpy(), e.numpy(), w.numpy(), res)
        np.testing.assert_array_equal(res, torch.lerp(s, e, w).numpy())


def test_kernel_constants_equal_the_torch_ones():
    kp = pytest.importorskip("spikeforge.circuits._kernel_philox")
    for name in ("EXP_MAX", "INV_LN2", "LN2_HI", "LN2_LO"):
        assert getattr(kp, name) == getattr(philox, name), name


class _MyProbabilistic(sf.neurons.ProbabilisticNeuron):
    def step(self, x, state=None):  # type: ignore[no-untyped-def]
        return super().step(x, state)


def test_a_subclass_is_named_when_compiled_is_required():
    net = Network(dt=1.0, compiled=True)
    net.add_population("x", _MyProbabilistic(3, dt=1.0, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(ParameterError, match="compiled=True but .*'x' is a _MyProbabilistic"):
        net.run(1.0, progress=False)
