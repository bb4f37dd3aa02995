"""The counter-based random numbers of networks (``spikeforge.circuits._philox``, Philox4x32-10):
Random123's known-answer vectors, the PyTorch and numba implementations drawing the same
integers, uniforms and normals, their distributions, and the network contract they give: both
engines draw the same Poisson spikes, Poisson-input counts and Gaussian currents (spikes
identical in float64 and float32), a split run equals one run, copy ``b`` of a batch equals an
unbatched network with that copy's noise seed, and a state_dict taken mid-run resumes exactly."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import Network, TimedArray
from spikeforge.circuits import _philox as philox
from spikeforge.circuits.builders import GaussianCurrent

F64 = torch.float64
# Random123 1.14, tests/kat_vectors: "philox4x32 10" counter, key, result
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]
SEEDS = [2**40 + 12345, 7]


@pytest.mark.parametrize("ctr, key, expected", KAT)
def test_known_answers(ctr, key, expected):
    assert philox.philox4x32_reference(ctr, key) == expected
    out = philox.philox4x32(*(torch.tensor(v) for v in ctr + key))
    assert tuple(int(x) for x in out) == expected


def _numba():
    return pytest.importorskip("spikeforge.circuits._kernel_philox", exc_type=ImportError)


@pytest.mark.parametrize("ctr, key, expected", KAT)
def test_known_answers_numba(ctr, key, expected):
    kp = _numba()
    out = kp.philox4x32(*(np.uint64(v) for v in ctr + key))
    assert tuple(int(x) for x in out) == expected


def test_counter_words_and_uniform_mapping():
    """The documented layout: neuron j uses counter (j >> 1, step lo, step hi, stream), words
    (x0, x1) when even, (x2, x3) when odd; u64 = ((a >> 5) 2^26 + (b >> 6)) 2^-53, u32 = (a >> 8) 2^-24."""
    strm = philox.stream(philox.KIND_POISSON_GROUP, 3)
    steps = torch.tensor([0, 5, 2**32 + 9])
    cpu = torch.device("cpu")
    u64 = philox._uniform_torch(SEEDS, strm, steps, 5, F64, cpu)
    u32 = philox._uniform_torch(SEEDS, strm, steps, 5, torch.float32, cpu)
    assert u64.shape == (3, 2, 5) and u32.dtype == torch.float32
    for c, s in enumerate(steps.tolist()):
        for b, (k0, k1) in enumerate(philox.keys(SEEDS)):
            for j in range(5):
                x = philox.philox4x32_reference((j >> 1, s & 0xFFFFFFFF, s >> 32, strm), (k0, k1))
                a, w = x[2 * (j & 1)], x[2 * (j & 1) + 1]
                assert float(u64[c, b, j]) == ((a >> 5) * 2**26 + (w >> 6)) / 2**53
                assert float(u32[c, b, j]) == (a >> 8) / 2**24
    # the high word of the step counts: step 2**32 + 9 is not step 9
    assert not torch.equal(u64[2], philox._uniform_torch(SEEDS, strm, torch.tensor([9]), 5, F64, cpu)[0])
    # keys: the seed modulo 2**64, low word first
    assert philox.keys([2**64 + 2**33 + 5]) == [(5, 2)]


@pytest.mark.parametrize("f32", [False, True])
def test_numba_uniforms_equal_torch(f32):
    kp = _numba()
    dtype = torch.float32 if f32 else F64
    strm = philox.stream(philox.KIND_POISSON_INPUT, 1)
    steps = torch.tensor([0, 1, 777, 2**33 + 1])
    ref = philox._uniform_torch(SEEDS, strm, steps, 13, dtype, torch.device("cpu")).to(F64).numpy()
    out = np.zeros(13)
    for b, (k0, k1) in enumerate(philox.keys(SEEDS)):
        for c, s in enumerate(steps.tolist()):
            for j0, m in ((0, 13), (3, 7), (4, 1), (12, 1)):  # odd and even starts
                kp.uniforms(np.uint64(k0), np.uint64(k1), strm, s, j0, m, f32, out)
                np.testing.assert_array_equal(out[:m], ref[c, b, j0 : j0 + m])
    np.testing.assert_array_equal(philox.uniform(SEEDS, strm, steps, 13, dtype).to(F64).numpy(), ref)


def test_numba_normals_equal_torch():
    kp = _numba()
    strm = philox.stream(philox.KIND_NORMAL, 2)
    steps = torch.tensor([0, 3, 2**32])
    ref = philox._normal_torch(SEEDS, strm, steps, 11, torch.device("cpu")).numpy()
    np.testing.assert_array_equal(philox.normal(SEEDS, strm, steps, 11).numpy(), ref)  # numba's fill
    out = np.zeros(11)
    for b, (k0, k1) in enumerate(philox.keys(SEEDS)):
        for c, s in enumerate(steps.tolist()):
            for j0, m in ((0, 11), (1, 10), (5, 3)):
                kp.normals(np.uint64(k0), np.uint64(k1), strm, s, j0, m, out)
                np.testing.assert_array_equal(out[:m], ref[c, b, j0 : j0 + m])


def test_uniform_and_normal_distributions():
    u = philox.uniform([3], 11, torch.arange(200), 1000, F64).reshape(-1)
    assert float(u.min()) >= 0.0 and float(u.max()) < 1.0
    # mean, variance and the decile counts of 200,000 uniforms (5 sigma)
    assert abs(float(u.mean()) - 0.5) < 5 * (1 / 12 / u.numel()) ** 0.5
    counts = torch.histc(u, bins=10, min=0.0, max=1.0)
    assert float(((counts - u.numel() / 10) ** 2 / (u.numel() / 10)).sum()) < 40.0  # chi2, 9 dof
    # neighbours (even and odd neurons of a pair, consecutive steps) are uncorrelated
    u2 = u.reshape(200, 1000)
    for a, b in ((u2[:, 0::2], u2[:, 1::2]), (u2[:-1], u2[1:])):
        r = float(torch.corrcoef(torch.stack((a.reshape(-1), b.reshape(-1))))[0, 1])
        assert abs(r) < 5 / a.numel() ** 0.5
    z = philox.normal([3], 12, torch.arange(200), 1000).reshape(-1)
    n = z.numel()
    assert abs(float(z.mean())) < 5 / n**0.5
    assert abs(float(z.var()) - 1.0) < 5 * (2 / n) ** 0.5
    assert abs(float((z**4).mean()) - 3.0) < 5 * (96 / n) ** 0.5
    assert abs(float((z.abs() > 1.959963984540054).to(F64).mean()) - 0.05) < 5 * (0.05 * 0.95 / n) ** 0.5


def test_log_and_trig_helpers_are_accurate():
    x = torch.cat(
        (
            torch.rand(10000, dtype=F64, generator=torch.Generator().manual_seed(0)),
            torch.tensor([2.0**-53, 1.0], dtype=F64),
        )
    )
    x = x.clamp(min=2.0**-53)
    torch.testing.assert_close(philox._log(x), torch.log(x), rtol=0, atol=4e-15)
    u = x.clamp(max=1 - 2.0**-53)
    cos, sin = philox._cos_sin_2pi(u)
    torch.testing.assert_close(cos, torch.cos(2 * torch.pi * u), rtol=0, atol=4e-15)
    torch.testing.assert_close(sin, torch.sin(2 * torch.pi * u), rtol=0, atol=4e-15)


def _net(compiled, *, dtype=F64, batch=None, noise_seed=None, timed=False, many_means=False):
    """LIF neurons driven by two Poisson groups (through projections), a Poisson input and a
    Gaussian current: every counter-based draw of a network."""
    dt = 0.1
    net = Network(dt=dt, seed=1, batch=batch, noise_seed=noise_seed, dtype=dtype, compiled=compiled)
    net.add_population("e", sf.neurons.LIF(23, tau_mem=10.0, v_th=1.0, t_ref=0.25, dt=dt))
    rate = TimedArray(torch.tensor([0.02, 0.06, 0.01], dtype=F64), dt=7.3) if timed else 0.03
    net.add_poisson("p", 30, rate)
    net.add_poisson("q", 5, 0.05)
    net.connect("p", "e", weight=0.3, p=0.5)
    net.connect("q", "e", weight=0.2, p=0.5)
    in_rate = rate
    if many_means:  # more distinct mean counts than the tables take: drawn element by element

        def in_rate(t):
            gen = torch.Generator().manual_seed(int(t[0] * 10))
            return 0.01 + 0.03 * torch.rand(t.numel(), 23, generator=gen, dtype=F64)

    net.add_poisson_input("drive", "e", 20, in_rate, 0.07)
    cur = GaussianCurrent(
        torch.linspace(0.1, 0.4, 23), 23, dt, net.noise_seeds, batched=batch is not None, stream=4
    )
    net.add_current("noise", "e", cur)
    net.record_spikes("e")
    net.record_spikes("p")
    return net


def _spikes(net):
    return [(m.steps.copy(), m.i.copy(), m.batch.copy()) for m in net._monitors]


def _same(a, b):
    return all(all(np.array_equal(x, y) for x, y in zip(ma, mb)) for ma, mb in zip(a, b))


@pytest.mark.parametrize("dtype", [F64, torch.float32])
@pytest.mark.parametrize("timed", [False, True])
def test_engines_draw_the_same_numbers(dtype, timed, monkeypatch):
    """The compiled kernel's draws against the PyTorch engine's, its draws made by the PyTorch
    implementation (as on a GPU; on the CPU it would use numba's)."""
    _numba()
    runs = []
    for compiled in (True, False):
        net = _net(compiled, dtype=dtype, timed=timed)
        if not compiled:
            monkeypatch.setattr(philox, "_numba", lambda: None)
        net.run(40.0)
        assert net.last_run_info["path"] == ("compiled" if compiled else "torch")
        runs.append(_spikes(net))
    assert len(runs[0][0][0]) > 20 and len(runs[0][1][0]) > 20
    assert _same(*runs)


def test_engines_equal_with_many_distinct_poisson_means():
    _numba()
    runs = []
    for compiled in (True, False):
        net = _net(compiled, many_means=True)
        net.run(20.0)
        runs.append(_spikes(net))
    assert _same(*runs)


@pytest.mark.parametrize("compiled", [True, False])
def test_split_runs_and_state_dict_resume(compiled):
    if compiled:
        _numba()
    one = _net(compiled, timed=True)
    one.run(150.0)
    split = _net(compiled, timed=True)
    for d in (0.1, 33.3, 66.6, 50.0):  # chunk edges anywhere
        split.run(d)
    assert _same(_spikes(one), _spikes(split))
    # a state_dict taken mid-run resumes exactly, into a fresh network
    a = _net(compiled, timed=True)
    a.run(61.7)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    b = _net(compiled, timed=True)
    buf.seek(0)
    b.load_state_dict(torch.load(buf, weights_only=False))
    a.run(88.3)
    b.run(88.3)
    assert _same(_spikes(a), _spikes(b))
    assert _same(_spikes(a), _spikes(one))


@pytest.mark.parametrize("compiled", [True, False])
def test_batch_copy_equals_unbatched_network(compiled):
    if compiled:
        _numba()
    batched = _net(compiled, batch=3)
    batched.run(30.0)
    t, i, bb = _spikes(batched)[0]
    for b in (0, 2):
        single = _net(compiled, noise_seed=batched.noise_seeds[b])
        single.run(30.0)
        ts, is_, _ = _spikes(single)[0]
        np.testing.assert_array_equal(t[bb == b], ts)
        np.testing.assert_array_equal(i[bb == b], is_)
    assert not np.array_equal(t[bb == 0], t[bb == 2])


def test_streams_are_independent_of_other_inputs():
    """Adding a Poisson input or a current leaves a Poisson group's spikes (its own stream)."""
    a = Network(dt=0.1, seed=3, compiled=False)
    a.add_poisson("p", 50, 0.05)
    a.record_spikes("p")
    b = Network(dt=0.1, seed=3, compiled=False)
    b.add_population("x", sf.neurons.LIF(4, dt=0.1))
    b.add_poisson("p", 50, 0.05)
    b.add_poisson_input("drive", "x", 10, 0.05, 0.1)
    b.record_spikes("p")
    a.run(20.0)
    b.run(20.0)
    assert len(a._monitors[0].t) > 10
    np.testing.assert_array_equal(a._monitors[0].t, b._monitors[0].t)
    np.testing.assert_array_equal(a._monitors[0].i, b._monitors[0].i)


def test_kernel_constants_equal_the_torch_ones():
    """The numba module writes its constants out (it cannot import ``_philox``): the same doubles."""
    kp = pytest.importorskip("spikeforge.circuits._kernel_philox")
    for name in ("LN2", "SQRT_HALF", "HALF_PI"):
        assert getattr(kp, name) == getattr(philox, name), name
