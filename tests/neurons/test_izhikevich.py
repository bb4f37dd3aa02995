"""Izhikevich neurons: published firing patterns, functional/module equivalence, checks, gradients."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from spikeforge.errors import DTypeError, ParameterError, ShapeError
from spikeforge.neurons.izhikevich import (
    PRESETS,
    Izhikevich,
    IzhikevichParams,
    IzhikevichState,
    izhikevich_step,
)
from spikeforge.surrogate import FastSigmoid

F64 = torch.float64
FOUR = ("RS", "IB", "CH", "FS")


def population(names: tuple[str, ...], **kw: object) -> Izhikevich:
    """One module holding one neuron per preset (float64 parameters)."""
    a, b, c, d = (torch.tensor(v, dtype=F64) for v in zip(*(PRESETS[p] for p in names)))
    return Izhikevich(len(names), None, a=a, b=b, c=c, d=d, **kw)  # type: ignore[arg-type]


@functools.cache
def step_current_isis(integrator: str, dt: float) -> dict[str, tuple[float, ...]]:
    """ISIs (ms) of RS, IB, CH, FS under I = 10 for 500 ms (the papers' step current)."""
    model = population(FOUR, dt=dt, integrator=integrator)
    spikes, _ = model(torch.full((round(500 / dt), 4), 10.0, dtype=F64))
    out = {}
    for k, name in enumerate(FOUR):
        times = torch.nonzero(spikes[:, k]).flatten().to(F64) * dt
        out[name] = tuple(torch.diff(times).tolist())
    return out


CONFIGS = [("euler", 0.1), ("euler", 0.5), ("izhikevich2003", 0.25)]


@pytest.mark.parametrize(("integrator", "dt"), CONFIGS)
def test_rs_fires_regularly_and_adapts(integrator: str, dt: float) -> None:
    isi = np.array(step_current_isis(integrator, dt)["RS"])
    assert 8 <= len(isi) <= 15  # about 25 Hz
    assert isi.min() > 20.0  # no bursts
    assert isi[-1] / isi[0] > 1.5  # ISIs lengthen: spike-frequency adaptation
    assert np.all(np.diff(isi) > -2 * dt)  # and never shorten (up to one step each)
    adaptation_index = np.mean(np.diff(isi[:5]) / (isi[1:5] + isi[:4]))
    assert adaptation_index > 0.05


@pytest.mark.parametrize(("integrator", "dt"), CONFIGS)
def test_ib_bursts_at_onset_then_fires_tonically(integrator: str, dt: float) -> None:
    isi = np.array(step_current_isis(integrator, dt)["IB"])
    assert np.all(isi[:2] < 8.0)  # an initial burst of 3 spikes
    assert np.all(isi[2:] > 25.0)  # then single spikes
    late = isi[3:]
    assert len(late) >= 10 and late.std() / late.mean() < 0.05  # regular (tonic)


@pytest.mark.parametrize(("integrator", "dt"), CONFIGS)
def test_ch_bursts_repeatedly(integrator: str, dt: float) -> None:
    isi = np.array(step_current_isis(integrator, dt)["CH"])
    short, long = isi < 8.0, isi > 30.0
    assert np.all(short | long)  # bimodal: nothing in between
    bursts = np.split(isi, np.flatnonzero(long))  # each piece: a long ISI, then a burst's ISIs
    assert long.sum() >= 7  # at least 8 bursts in 500 ms
    assert all(np.sum(piece < 8.0) >= 2 for piece in bursts)  # each burst has >= 3 spikes


@pytest.mark.parametrize(("integrator", "dt"), CONFIGS)
def test_fs_fires_fast_with_little_adaptation(integrator: str, dt: float) -> None:
    isi = np.array(step_current_isis(integrator, dt)["FS"])
    rs = np.array(step_current_isis(integrator, dt)["RS"])
    assert len(isi) >= 50  # > 100 Hz
    assert isi.max() < 12.0  # fast throughout, no pauses
    assert isi[-1] / isi[0] < 2.0  # little adaptation...
    assert isi[-1] - isi[0] < 0.25 * (rs[-1] - rs[0])  # ...and far less than RS in ms


def test_no_spikes_without_input() -> None:
    # RZ is left out: -65 mV is not its rest, and it fires one rebound spike from there
    names = ("RS", "IB", "CH", "FS", "LTS", "TC")
    spikes, state = population(names, dt=0.1)(torch.zeros(5000, len(names), dtype=F64))
    assert spikes.sum(0).tolist() == [0.0] * len(names)
    assert torch.isfinite(state.v).all() and torch.all(state.v < -60.0)


def test_spike_at_exactly_v_peak_and_exact_reset() -> None:
    state = IzhikevichState(torch.tensor([29.0], dtype=F64), torch.tensor([-10.0], dtype=F64))
    x = torch.tensor([5.0], dtype=F64)
    v_new = Izhikevich(1, v_peak=1e9, dt=0.1).step(x, state)[1].v  # no reset: the integrated v
    at = Izhikevich(1, v_peak=v_new, dt=0.1)
    z, after = at.step(x, state)
    assert z.item() == 1.0  # v >= v_peak spikes, as in the papers
    assert after.v.item() == -65.0  # exactly c
    p = at.params(F64)
    assert torch.equal(after.u, state.u + 0.1 * (p.a * (p.b * state.v - state.u)) + p.d)  # u' + d
    above = Izhikevich(1, v_peak=torch.nextafter(v_new, torch.tensor(np.inf, dtype=F64)), dt=0.1)
    assert above.step(x, state)[0].item() == 0.0


@pytest.mark.parametrize("integrator", ["euler", "izhikevich2003"])
def test_functional_step_equals_module_bitwise(integrator: str) -> None:
    g = torch.Generator().manual_seed(1)
    model = Izhikevich.heterogeneous(30, 10, generator=g, dt=0.25, integrator=integrator)
    x = 6.0 + 8.0 * torch.randn(400, 3, 40, generator=g)
    out, state = model(x)
    trace = model.scan(x, record=True).trace
    params = IzhikevichParams(model.a, model.b, model.c, model.d, model.v_peak)
    s = model.init_state((3,), dtype=x.dtype)
    for t in range(x.shape[0]):
        z, s_mod = model.step(x[t], s)
        z_fn, s = izhikevich_step(x[t], s, params, dt=0.25, spike_fn=model.surrogate, integrator=integrator)
        assert torch.equal(z, z_fn) and torch.equal(z, out[t])
        assert torch.equal(s.v, s_mod.v) and torch.equal(s.u, s_mod.u) and torch.equal(s.v, trace.v[t])
    assert torch.equal(s.v, state.v) and torch.equal(s.u, state.u)
    assert out.sum() > 100  # the comparison covers spikes and resets


def test_izhikevich2003_is_the_published_loop_bitwise() -> None:
    """Izhikevich (2003)'s MATLAB loop (no synapses), in numpy float64, at dt = 1 ms."""
    g = torch.Generator().manual_seed(3)
    model = Izhikevich.heterogeneous(8, 2, generator=g, dt=1.0, integrator="izhikevich2003")
    model.double()
    current = torch.cat([5 * torch.randn(1000, 8, generator=g), 2 * torch.randn(1000, 2, generator=g)], 1)
    current = current.double() + 4.0
    result = model.scan(current, record=True)

    a, b, c, d = (getattr(model, k).numpy() for k in "abcd")
    v = -65.0 * np.ones(10)
    u = b * v
    fired_at, v_after_reset = [], []
    for i_t in current.numpy():
        fired = v >= 30
        fired_at.append(fired)
        v[fired] = c[fired]
        u[fired] = u[fired] + d[fired]
        v_after_reset.append(v.copy())
        v = v + 0.5 * (0.04 * v**2 + 5 * v + 140 - u + i_t)
        v = v + 0.5 * (0.04 * v**2 + 5 * v + 140 - u + i_t)
        u = u + a * (b * v - u)
    # the loop checks v >= 30 at the top of the next iteration: its step t+1 is our step t
    assert np.array_equal(np.array(fired_at[1:]), result.output.numpy()[:-1] > 0)
    assert np.array_equal(np.array(v_after_reset[1:]), result.trace.v.numpy()[:-1])
    assert result.output.sum() > 20


def test_batch_element_equals_unbatched_run_and_chunks() -> None:
    g = torch.Generator().manual_seed(2)
    model = Izhikevich.heterogeneous(4, 2, generator=g, dt=0.1)
    x = 10.0 * torch.rand(600, 5, 6, generator=g, dtype=F64)
    spikes, state = model(x)
    alone, alone_state = model(x[:, 3])
    assert torch.equal(spikes[:, 3], alone) and torch.equal(state.v[3], alone_state.v)
    first, mid = model(x[:250])
    second, end = model(x[250:], mid)
    assert torch.equal(torch.cat([first, second]), spikes)
    assert torch.equal(end.v, state.v) and torch.equal(end.u, state.u)
    assert spikes.sum() > 50


def test_float32_matches_float64() -> None:
    model = population(FOUR, dt=0.1)
    current = torch.tensor([10.0, 10.0, 10.0, 15.0], dtype=F64).expand(5000, 4)
    r64 = model.scan(current, record=True)
    r32 = model.float().scan(current.float(), record=True)
    assert r32.output.dtype == torch.float32 and r32.state.v.dtype == torch.float32
    for k in range(4):
        t32, t64 = torch.nonzero(r32.output[:, k]).flatten(), torch.nonzero(r64.output[:, k]).flatten()
        assert len(t32) == len(t64) > 5
        assert (t32 - t64).abs().max() <= 1  # within one step
        # before the first spike the membranes agree; float32 error grows on the upswing to v_peak
        before = slice(0, int(t64[0]))
        torch.testing.assert_close(r32.trace.v[before, k].double(), r64.trace.v[before, k], rtol=0, atol=2e-3)


def test_unknown_preset_raises() -> None:
    with pytest.raises(ParameterError, match=r"preset.*'RS'.*'XY'"):
        Izhikevich(3, "XY")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(dt=0.0), "dt"),
        (dict(dt=-0.1), "dt"),
        (dict(dt=0.6), "dt must be <= 0.5"),
        (dict(dt=1.5, integrator="izhikevich2003"), "dt must be <= 1.0"),
        (dict(integrator="rk4"), "integrator"),
        (dict(a=-0.02), "a must be > 0"),
        (dict(c=35.0), "c must be < v_peak"),
        (dict(preset=None, a=0.02, b=0.2, c=-65.0), "d must be given"),
        (dict(learnable=("tau",)), "learnable"),
        (dict(surrogate="fast_sigmoid"), "surrogate"),
    ],
)
def test_bad_parameters_raise(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        Izhikevich(3, **kwargs)  # type: ignore[arg-type]


def test_per_neuron_parameters_and_overrides() -> None:
    model = Izhikevich(3, "FS", d=torch.tensor([1.0, 2.0, 3.0]))
    assert model.a.item() == pytest.approx(0.1) and model.c.item() == -65.0
    assert model.d.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ShapeError, match="d"):
        Izhikevich(3, d=torch.ones(4))


def test_bad_input_raises() -> None:
    model = Izhikevich(5)
    with pytest.raises(ShapeError, match=r"Izhikevich\(5\)"):
        model(torch.zeros(10, 2, 4))
    with pytest.raises(ShapeError):
        model.step(torch.zeros(2, 4))
    with pytest.raises(DTypeError, match="floating"):
        model(torch.zeros(10, 5, dtype=torch.int64))
    with pytest.raises(ShapeError, match="state.v"):
        model.step(torch.zeros(2, 5), model.init_state((3,)))


def test_heterogeneous_is_reproducible_and_leaves_global_rng_alone() -> None:
    rng_before = torch.get_rng_state()
    m1 = Izhikevich.heterogeneous(80, 20, generator=torch.Generator().manual_seed(7))
    m2 = Izhikevich.heterogeneous(80, 20, generator=torch.Generator().manual_seed(7))
    Izhikevich.heterogeneous(80, 20)  # generator=None: a private generator
    assert torch.equal(torch.get_rng_state(), rng_before)
    for k in "abcd":
        assert torch.equal(getattr(m1, k), getattr(m2, k))
    g = torch.Generator().manual_seed(7)  # excitatory draws first, then inhibitory
    re, ri = torch.rand(80, generator=g, dtype=F64), torch.rand(20, generator=g, dtype=F64)
    expected = {
        "a": torch.cat([torch.full((80,), 0.02, dtype=F64), 0.02 + 0.08 * ri]),
        "b": torch.cat([torch.full((80,), 0.2, dtype=F64), 0.25 - 0.05 * ri]),
        "c": torch.cat([-65 + 15 * re**2, torch.full((20,), -65.0, dtype=F64)]),
        "d": torch.cat([8 - 6 * re**2, torch.full((20,), 2.0, dtype=F64)]),
    }
    for k, value in expected.items():
        torch.testing.assert_close(getattr(m1, k).double(), value, rtol=1e-6, atol=0)
    other = Izhikevich.heterogeneous(80, 20, generator=torch.Generator().manual_seed(8))
    assert not torch.equal(m1.c, other.c)
    with pytest.raises(ParameterError, match="n_inh"):
        Izhikevich.heterogeneous(10, -1)


@pytest.mark.parametrize("integrator", ["euler", "izhikevich2003"])
def test_surrogate_gradient_flows(integrator: str) -> None:
    model = Izhikevich(3, "RS", dt=0.25, integrator=integrator, learnable=("a", "b", "c", "d"))
    current = torch.full((800, 2, 3), 10.0, dtype=F64, requires_grad=True)
    spikes, _ = model(current)
    spikes.sum().backward()
    assert spikes.sum() > 0
    assert current.grad is not None and torch.isfinite(current.grad).all() and current.grad.abs().sum() > 0
    for name in ("a_raw", "b", "c", "d"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


def test_custom_surrogate_and_undetached_reset_give_finite_gradients() -> None:
    model = Izhikevich(2, "CH", dt=0.1, surrogate=FastSigmoid(1.0), detach_reset=False)
    current = torch.full((1000, 2), 10.0, dtype=F64, requires_grad=True)
    model(current)[0].sum().backward()
    assert current.grad is not None and torch.isfinite(current.grad).all() and current.grad.abs().sum() > 0
