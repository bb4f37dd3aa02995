"""LIF: the fused scan against the step function, chunking, batching, dtypes, shapes, gradients
and learnable parameters.

The reference for everything here is :func:`spikeforge.neurons.lif_step` (the documented order of
operations); ``LIF.forward``/``LIF.scan`` run the fused kernel with a hand-written backward pass,
which must give the same spikes and states bitwise and the same gradients to rounding.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.neurons import LIF, LIFParams, LIFState, lif_scan, lif_step
from spikeforge.neurons.lif import _loop_scan
from spikeforge.surrogate import FastSigmoid

F64 = torch.float64
PARAM_NAMES = ("tau_mem", "tau_syn", "v_th", "v_reset", "v_leak", "r", "t_ref")


def lif64(n: int | tuple[int, ...] = 16, **kw) -> LIF:
    """A float64 LIF whose parameters are exact float64 values (not float32-rounded)."""
    for name in PARAM_NAMES:
        if isinstance(kw.get(name), float):
            kw[name] = torch.tensor(kw[name], dtype=F64)
    return LIF(n, **kw).double()


def settings(lif: LIF) -> dict:
    return dict(
        dt=lif.dt,
        spike_fn=lif.surrogate,
        reset=lif.reset,
        integrator=lif.integrator,
        detach_reset=lif.detach_reset,
    )


def drive(gen: torch.Generator, shape: tuple[int, ...], synaptic: bool, dtype=F64) -> torch.Tensor:
    """Random input that makes the neurons fire at a moderate rate (about 1 spike in 10 steps)."""
    mean, std = (0.3, 0.5) if synaptic else (1.2, 0.5)
    return mean + std * torch.randn(shape, generator=gen, dtype=dtype)


def assert_states_equal(a: LIFState, b: LIFState) -> None:
    for field, x, y in zip(LIFState._fields, a, b):
        assert x.dtype == y.dtype, field
        same = torch.equal(x, y)
        assert same, f"state.{field} differs: max |diff| {(x - y).abs().max().item():.3g}"


# configurations of the fused kernel: synapse, refractoriness, reset, detach, integrator
CONFIGS = [
    dict(tau_syn=ts, t_ref=tr, reset=rs, detach_reset=dr, integrator=ig)
    for ts, tr, rs, dr, ig in itertools.product(
        [None, 5.0], [0.0, 2.0], ["to_value", "subtract"], [True, False], ["exact", "euler"]
    )
]


def cfg_id(cfg: dict) -> str:
    return "-".join(
        [
            "syn" if cfg["tau_syn"] else "nosyn",
            f"ref{cfg['t_ref']:g}",
            cfg["reset"],
            "detach" if cfg["detach_reset"] else "attached",
            cfg["integrator"],
        ]
    )


# ----------------------------------------------------------------------------- module = function


@pytest.mark.parametrize("tau_syn", [None, 5.0])
@pytest.mark.parametrize("t_ref", [0.0, 2.0])
@pytest.mark.parametrize("reset", ["to_value", "subtract"])
def test_forward_equals_loop_of_lif_step_and_of_module_step(gen, tau_syn, t_ref, reset):
    lif = lif64(16, tau_mem=10.0, tau_syn=tau_syn, v_leak=0.1, r=1.3, t_ref=t_ref, reset=reset)
    x = drive(gen, (80, 4, 16), tau_syn is not None)
    out, final = lif(x)

    state = lif.init_state((4,), dtype=F64)
    params = lif.params(F64)
    zs = []
    for t in range(x.shape[0]):
        z, state = lif_step(x[t], state, params, **settings(lif))
        zs.append(z)
    assert out.sum() > 0, "the test input must make the neurons spike"
    assert torch.equal(out, torch.stack(zs))
    assert_states_equal(final, state)

    state, zs = None, []
    for t in range(x.shape[0]):
        z, state = lif.step(x[t], state)
        zs.append(z)
    assert torch.equal(out, torch.stack(zs))
    assert_states_equal(final, state)


def test_forward_returns_spikes_and_state_named_tuple(gen):
    lif = lif64(5, tau_syn=5.0)
    x = drive(gen, (20, 3, 5), True)
    out, state = lif(x)
    assert isinstance(state, LIFState)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert state.v.shape == state.i.shape == state.ref.shape == (3, 5)
    assert state.ref.dtype == torch.int32
    res = lif.scan(x)
    assert res.trace is None
    assert torch.equal(res.output, out)


def test_state_none_starts_at_rest_and_state_is_not_modified(gen):
    lif = lif64(6, tau_syn=5.0, v_leak=-0.25, v_reset=-0.5)
    rest = lif.init_state((2,), dtype=F64)
    assert torch.equal(rest.v, torch.full((2, 6), -0.25, dtype=F64))
    assert torch.equal(rest.i, torch.zeros(2, 6, dtype=F64))
    assert torch.equal(rest.ref, torch.zeros(2, 6, dtype=torch.int32))
    x = drive(gen, (30, 2, 6), True)
    out_none, _ = lif(x)
    out_rest, _ = lif(x, rest)
    assert torch.equal(out_none, out_rest)

    start = LIFState(rest.v + 0.5, rest.i + 0.1, rest.ref)
    copy = LIFState(*(t.clone() for t in start))
    lif(x, start)
    lif.step(x[0], start)
    assert_states_equal(start, copy)  # never written in place


# ----------------------------------------------------------------------------- fused scan = loop


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_scan_equals_step_loop_bitwise(gen, cfg):
    """Spikes, final state and the recorded trace of the fused kernel equal the lif_step loop."""
    lif = lif64(16, tau_mem=10.0, v_leak=0.1, r=1.3, **cfg)
    x = drive(gen, (100, 4, 16), cfg["tau_syn"] is not None)
    state = lif.init_state((4,), dtype=F64)
    state = LIFState(
        state.v + 0.5 * torch.rand(state.v.shape, generator=gen, dtype=F64),
        0.2 * torch.randn(state.i.shape, generator=gen, dtype=F64),
        torch.randint(0, 3, state.ref.shape, generator=gen).to(torch.int32) if cfg["t_ref"] else state.ref,
    )
    fused = lif_scan(x, state, lif.params(F64), record=True, **settings(lif))
    loop = _loop_scan(x, state, lif.params(F64), record=True, **settings(lif))
    assert fused.output.sum() > 0
    assert torch.equal(fused.output, loop.output)
    assert_states_equal(fused.state, loop.state)
    assert_states_equal(fused.trace, loop.trace)


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_scan_gradients_equal_step_loop(gen, cfg):
    """Gradients w.r.t. input, initial state and every learnable parameter, through spikes,
    the trace and the final state, agree with autograd through the lif_step loop (float64)."""
    learnable = ["tau_mem", "v_th", "v_leak", "v_reset", "r"] + (["tau_syn"] if cfg["tau_syn"] else [])
    lif = lif64(16, tau_mem=10.0, v_leak=0.1, v_reset=-0.2, r=1.3, learnable=learnable, **cfg)
    steps, batch = 60, 3
    x = drive(gen, (steps, batch, 16), cfg["tau_syn"] is not None).requires_grad_()
    rest = lif.init_state((batch,), dtype=F64)
    v0 = (rest.v + 0.3 * torch.rand(rest.v.shape, generator=gen, dtype=F64)).requires_grad_()
    i0 = (0.1 * torch.randn(rest.i.shape, generator=gen, dtype=F64)).requires_grad_()
    state = LIFState(v0, i0, rest.ref)
    w = [torch.randn((steps, batch, 16), generator=gen, dtype=F64) for _ in range(3)]
    wf = [torch.randn((batch, 16), generator=gen, dtype=F64) for _ in range(2)]

    def loss(res) -> torch.Tensor:
        return (
            (res.output * w[0]).sum()
            + (res.trace.v * w[1]).sum()
            + (res.trace.i * w[2]).sum()
            + (res.state.v * wf[0]).sum()
            + (res.state.i * wf[1]).sum()
        )

    named = [("x", x), ("v0", v0), ("i0", i0), *lif.named_parameters()]
    assert len(named) == 3 + len(learnable)
    inputs = [t for _, t in named]
    fused = lif.scan(x, state, record=True)
    loop = _loop_scan(x, state, lif.params(F64), record=True, **settings(lif))
    assert fused.output.sum() > 0
    g_fused = torch.autograd.grad(loss(fused), inputs, allow_unused=True)
    g_loop = torch.autograd.grad(loss(loop), inputs, allow_unused=True)
    for (name, _), a, b in zip(named, g_fused, g_loop):
        if name == "i0" and cfg["tau_syn"] is None:  # no synaptic state: i0 is not used
            assert a is None and b is None
            continue
        assert a is not None and b is not None, name
        assert torch.isfinite(a).all(), name
        assert b.abs().max() > 0, name
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12 * b.abs().max().item(), msg=name)


def test_reset_to_nonzero_value_scan_equals_step_loop_bitwise(gen):
    """reset='to_value' with v_reset != 0: the fused kernel must continue from the same membrane
    value as lif_step (which computes v - z*(v - v_reset)), and report that value in its state."""
    lif = lif64(16, tau_mem=10.0, v_reset=-0.3, v_leak=0.1, r=1.3)
    x = drive(gen, (100, 4, 16), False)
    state = lif.init_state((4,), dtype=F64)
    fused = lif_scan(x, state, lif.params(F64), record=True, **settings(lif))
    loop = _loop_scan(x, state, lif.params(F64), record=True, **settings(lif))
    assert torch.equal(fused.output, loop.output)
    assert_states_equal(fused.trace, loop.trace)


def test_scan_with_plain_callable_spike_fn_falls_back_to_loop(gen):
    """A spike_fn that is not a Surrogate object runs the step loop and gives the same result."""
    lif = lif64(8, tau_syn=5.0)
    x = drive(gen, (40, 2, 8), True).requires_grad_()
    surrogate = FastSigmoid(10.0)
    state = lif.init_state((2,), dtype=F64)
    kw = dict(dt=1.0, reset="to_value", integrator="exact", detach_reset=True)
    obj = lif_scan(x, state, lif.params(F64), spike_fn=surrogate, record=True, **kw)
    fn = lif_scan(x, state, lif.params(F64), spike_fn=lambda v: surrogate(v), record=True, **kw)
    assert torch.equal(obj.output, fn.output)
    (ga,) = torch.autograd.grad(obj.output.sum() + obj.trace.v.sum(), x)
    (gb,) = torch.autograd.grad(fn.output.sum() + fn.trace.v.sum(), x)
    torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- chunks, batch, dtype


@pytest.mark.parametrize("tau_syn", [None, 5.0])
@pytest.mark.parametrize("t_ref", [0.0, 3.0])
@pytest.mark.parametrize("reset", ["to_value", "subtract"])
@pytest.mark.parametrize("v_reset", [0.0, -0.3])
@pytest.mark.parametrize("split", [1, 37, 99])
def test_chunked_scan_equals_whole_scan_bitwise(gen, tau_syn, t_ref, reset, v_reset, split):
    lif = lif64(
        16, tau_mem=10.0, tau_syn=tau_syn, v_reset=v_reset, v_leak=0.1, r=1.3, t_ref=t_ref, reset=reset
    )
    x = drive(gen, (100, 4, 16), tau_syn is not None)
    whole = lif.scan(x, record=True)
    first = lif.scan(x[:split], record=True)
    second = lif.scan(x[split:], first.state, record=True)
    assert whole.output.sum() > 0
    assert torch.equal(whole.output, torch.cat([first.output, second.output]))
    assert_states_equal(whole.state, second.state)
    assert_states_equal(whole.trace, LIFState(*(torch.cat(p) for p in zip(first.trace, second.trace))))


@pytest.mark.parametrize("tau_syn", [None, 5.0])
@pytest.mark.parametrize("t_ref", [0.0, 2.0])
def test_batch_element_equals_unbatched_run(gen, tau_syn, t_ref):
    lif = lif64(16, tau_mem=10.0, tau_syn=tau_syn, v_leak=0.1, r=1.3, t_ref=t_ref)
    x = drive(gen, (80, 5, 16), tau_syn is not None)
    batched = lif.scan(x, record=True)
    for b in range(x.shape[1]):
        single = lif.scan(x[:, b].contiguous(), record=True)
        assert torch.equal(single.output, batched.output[:, b])
        assert_states_equal(single.state, LIFState(*(f[b] for f in batched.state)))
        assert_states_equal(single.trace, LIFState(*(f[:, b] for f in batched.trace)))
    # a second batch dimension is just more batch
    nested = lif.scan(x.reshape(80, 1, 5, 16), record=True)
    assert torch.equal(nested.output.reshape(80, 5, 16), batched.output)


@pytest.mark.parametrize("tau_syn", [None, 5.0])
@pytest.mark.parametrize("integrator", ["exact", "euler"])
def test_float32_matches_float64_subthreshold(gen, tau_syn, integrator):
    lif64_ = LIF(8, tau_mem=20.0, tau_syn=tau_syn, v_th=1.0, integrator=integrator).double()
    lif32 = LIF(8, tau_mem=20.0, tau_syn=tau_syn, v_th=1.0, integrator=integrator).float()
    scale = 0.1 if tau_syn else 0.5
    x = scale * torch.rand((200, 3, 8), generator=gen, dtype=F64)  # v stays below 1
    r64 = lif64_.scan(x, record=True)
    r32 = lif32.scan(x.float(), record=True)
    assert r64.output.sum() == 0 and r32.output.sum() == 0
    assert r32.trace.v.dtype == torch.float32 and r32.output.dtype == torch.float32
    assert r64.trace.v.abs().max() > 0.2
    eps = torch.finfo(torch.float32).eps
    torch.testing.assert_close(r32.trace.v.double(), r64.trace.v, rtol=0, atol=200 * eps)
    torch.testing.assert_close(r32.trace.i.double(), r64.trace.i, rtol=0, atol=200 * eps)


def test_float32_spikes_mostly_match_float64(gen):
    lif = LIF(16, tau_mem=10.0, tau_syn=5.0)
    x = drive(gen, (200, 4, 16), True)
    z64, _ = lif.double()(x)
    z32, _ = lif.float()(x.float())
    assert z32.dtype == torch.float32
    agree = (z32.double() == z64).double().mean().item()
    assert agree > 0.995


def test_multidimensional_population(gen):
    shape = (2, 3, 4)
    tau = 5.0 + 20.0 * torch.rand(shape, generator=gen, dtype=F64)
    v_th = 0.8 + 0.4 * torch.rand(shape, generator=gen, dtype=F64)
    lif = LIF(shape, tau_mem=tau, tau_syn=5.0, v_th=v_th, t_ref=1.0, learnable=["tau_mem", "v_th"]).double()
    assert lif.shape == shape and lif.n == 24
    x = drive(gen, (50, 3, *shape), True).requires_grad_()
    res = lif.scan(x, record=True)
    assert res.output.shape == (50, 3, *shape)
    assert res.state.v.shape == (3, *shape)
    assert res.trace.v.shape == (50, 3, *shape)
    assert res.output.sum() > 0

    # the same neurons laid out flat give the same spikes
    flat = LIF(24, tau_mem=tau.reshape(24), tau_syn=5.0, v_th=v_th.reshape(24), t_ref=1.0).double()
    flat_out, _ = flat(x.detach().reshape(50, 3, 24))
    assert torch.equal(flat_out.reshape(50, 3, *shape), res.output)

    # learnable parameters are one per neuron and receive per-neuron gradients
    (res.output.sum() + res.trace.v.sum()).backward()
    for name, p in lif.named_parameters():
        assert p.shape == shape, name
        assert p.grad is not None and p.grad.shape == shape and torch.isfinite(p.grad).all(), name
    assert x.grad.shape == x.shape

    # a single step works on [*batch, *shape] and on an unbatched [*shape]
    z, st = lif.step(x[0].detach())
    assert z.shape == (3, *shape)
    z, st = lif.step(x[0, 0].detach())
    assert z.shape == shape and st.v.shape == shape


# ----------------------------------------------------------------------------- discrete behaviour


def test_membrane_exactly_at_threshold_does_not_spike():
    """Spike when v > v_th, strictly (H(0) = 0): a membrane held at v_th never fires."""
    lif = lif64(3, tau_mem=10.0, v_th=1.0)
    state = LIFState(torch.ones(3, dtype=F64), torch.zeros(3, dtype=F64), torch.zeros(3, dtype=torch.int32))
    res = lif.scan(torch.ones(50, 3, dtype=F64), state, record=True)
    assert res.output.sum() == 0
    assert torch.equal(res.trace.v, torch.ones(50, 3, dtype=F64))
    z, _ = lif.step(torch.full((3,), 1.0 + 1e-12, dtype=F64), state)
    assert z.sum() == 3


@pytest.mark.parametrize("t_ref,dt,held", [(2.0, 1.0, 2), (3.0, 1.0, 3), (1.0, 0.5, 2), (0.4, 1.0, 0)])
def test_refractory_holds_round_t_ref_over_dt_steps(t_ref, dt, held):
    """With a drive strong enough to fire every active step, spikes are held+1 steps apart, the
    membrane stays at v_reset while refractory and the counter counts down."""
    lif = lif64(1, tau_mem=5.0, t_ref=t_ref, dt=dt, v_reset=-0.5)
    res = lif.scan(torch.full((40, 1), 100.0, dtype=F64), record=True)
    spikes = res.output[:, 0].nonzero().flatten().tolist()
    assert spikes == list(range(0, 40, held + 1))
    for s in spikes[:-1]:
        assert res.trace.ref[s, 0] == held
        assert res.trace.ref[s + held, 0] == 0
        assert torch.all(res.trace.v[s : s + held + 1, 0] == -0.5)


@pytest.mark.parametrize("reset", ["to_value", "subtract"])
def test_reset_rules(reset):
    lif = lif64(1, tau_mem=10.0, v_th=1.0, v_reset=-0.25, reset=reset)
    state = LIFState(
        torch.tensor([1.5], dtype=F64), torch.zeros(1, dtype=F64), torch.zeros(1, dtype=torch.int32)
    )
    # v_inf = 1.5 keeps v at 1.5 during the step: above threshold, so it spikes
    z, new = lif.step(torch.tensor([1.5], dtype=F64), state)
    assert z.item() == 1.0
    expected = -0.25 if reset == "to_value" else 1.5 - (1.0 - -0.25)
    assert new.v.item() == pytest.approx(expected, abs=1e-15)


# ----------------------------------------------------------------------------- gradcheck


def _params(tau_mem, tau_syn, v_leak, r, v_th, v_reset, t_ref=0.0) -> LIFParams:
    one = torch.ones((), dtype=F64)
    return LIFParams(tau_mem, tau_syn, v_leak, v_th * one, v_reset * one, r, t_ref * one)


@pytest.mark.parametrize("tau_syn", [None, 4.0])
@pytest.mark.parametrize("integrator", ["exact", "euler"])
def test_gradcheck_membrane_trace_subthreshold(gen, tau_syn, integrator):
    """gradcheck of the fused scan's membrane trace w.r.t. input, time constants, v_leak, r and
    the initial state, with no spikes (so the surrogate plays no part)."""
    n, batch, steps = 3, 2, 20
    scale = 0.1 if tau_syn is None else 0.02  # the synapse sums about tau_syn/dt inputs
    x = (scale * (0.5 + torch.rand((steps, batch, n), generator=gen, dtype=F64))).requires_grad_()
    tau_m = torch.tensor([8.0, 12.0, 20.0], dtype=F64, requires_grad=True)
    tau_s = None if tau_syn is None else torch.tensor([3.0, 4.0, 6.0], dtype=F64, requires_grad=True)
    v_leak = torch.tensor([0.0, -0.1, 0.1], dtype=F64, requires_grad=True)
    r = torch.tensor([1.0, 1.5, 0.8], dtype=F64, requires_grad=True)
    v0 = (0.2 * torch.rand((batch, n), generator=gen, dtype=F64)).requires_grad_()
    i0 = (0.05 * torch.rand((batch, n), generator=gen, dtype=F64)).requires_grad_()
    ref0 = torch.zeros((batch, n), dtype=torch.int32)

    def f(x, tau_m, v_leak, r, v0, i0, *maybe_tau_s):
        p = _params(tau_m, maybe_tau_s[0] if maybe_tau_s else None, v_leak, r, 1.0, 0.0)
        res = lif_scan(x, LIFState(v0, i0, ref0), p, dt=1.0, integrator=integrator, record=True)
        assert res.output.sum() == 0
        return res.trace.v, res.state.v

    args = (x, tau_m, v_leak, r, v0, i0) + (() if tau_s is None else (tau_s,))
    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("reset", ["to_value", "subtract"])
@pytest.mark.parametrize("t_ref", [0.0, 2.0])
def test_gradcheck_membrane_trace_with_spikes_detached_reset(gen, reset, t_ref):
    """With detach_reset=True the membrane after reset is a smooth function of the parameters
    between spike-pattern changes, so its true derivative (which gradcheck measures) must equal
    the hand-written backward, through resets and refractory holds, v_th and v_reset included."""
    n, batch, steps = 3, 1, 25
    x = (0.25 + 0.3 * torch.rand((steps, batch, n), generator=gen, dtype=F64)).requires_grad_()
    tau_m = torch.tensor([8.0, 12.0, 6.0], dtype=F64, requires_grad=True)
    tau_s = torch.tensor([3.0, 4.0, 6.0], dtype=F64, requires_grad=True)
    v_leak = torch.tensor([0.0, -0.1, 0.1], dtype=F64, requires_grad=True)
    r = torch.tensor([1.0, 1.5, 1.2], dtype=F64, requires_grad=True)
    v_th = torch.tensor([1.0, 0.9, 1.1], dtype=F64, requires_grad=True)
    v_reset = torch.tensor([0.0, -0.2, 0.1], dtype=F64, requires_grad=True)
    ref0 = torch.zeros((batch, n), dtype=torch.int32)
    zeros = torch.zeros((batch, n), dtype=F64)
    spikes = []

    def f(x, tau_m, tau_s, v_leak, r, v_th, v_reset):
        p = LIFParams(tau_m, tau_s, v_leak, v_th, v_reset, r, torch.tensor(t_ref, dtype=F64))
        res = lif_scan(x, LIFState(zeros, zeros, ref0), p, dt=1.0, reset=reset, record=True)
        spikes.append(res.output.detach())
        return res.trace.v, res.state.v

    args = (x, tau_m, tau_s, v_leak, r, v_th, v_reset)
    assert torch.autograd.gradcheck(f, args, eps=1e-7, atol=1e-7, rtol=1e-5)
    assert spikes[0].sum() >= 5
    # no perturbation changed the spike pattern, so the finite differences were meaningful
    assert all(torch.equal(s, spikes[0]) for s in spikes)


# ----------------------------------------------------------------------------- learnable parameters


ALL_LEARNABLE = ("tau_mem", "tau_syn", "v_th", "v_leak", "v_reset", "r")


def test_learnable_parameters_are_per_neuron_nn_parameters_in_state_dict():
    lif = LIF(
        5, tau_mem=20.0, tau_syn=5.0, v_th=1.0, v_reset=-0.5, v_leak=0.1, r=2.0, learnable=ALL_LEARNABLE
    )
    params = dict(lif.named_parameters())
    assert len(params) == len(ALL_LEARNABLE)
    state = lif.state_dict()
    for p_name, p in params.items():
        assert isinstance(p, nn.Parameter) and p.requires_grad
        assert p.shape == (5,), p_name
        assert p_name in state
    expected = dict(tau_mem=20.0, tau_syn=5.0, v_th=1.0, v_leak=0.1, v_reset=-0.5, r=2.0)
    for name, value in expected.items():
        t = getattr(lif, name)
        assert t.shape == (5,), name
        assert t.requires_grad, name
        torch.testing.assert_close(t.detach(), torch.full((5,), value), rtol=1e-5, atol=1e-6, msg=name)
    # non-learnable settings are buffers, in the state dict, without grad
    assert "t_ref" in state and "t_ref" in dict(lif.named_buffers())


def test_non_learnable_parameters_are_buffers_in_state_dict():
    lif = LIF(4, tau_mem=20.0, tau_syn=5.0, v_th=1.5)
    assert list(lif.parameters()) == []
    buffers = dict(lif.named_buffers())
    for name in PARAM_NAMES:
        assert name in buffers, name
        assert name in lif.state_dict(), name
        assert not buffers[name].requires_grad
    assert lif.state_dict()["v_th"].item() == 1.5


def test_state_dict_round_trip_reproduces_spikes(gen):
    a = LIF(6, tau_syn=5.0, learnable=["tau_mem", "v_th"]).double()
    with torch.no_grad():
        for p in a.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    b = LIF(6, tau_syn=5.0, learnable=["tau_mem", "v_th"]).double()
    b.load_state_dict(a.state_dict())
    x = drive(gen, (60, 2, 6), True)
    assert torch.equal(a(x)[0], b(x)[0])


@pytest.mark.parametrize("learnable", [(), ALL_LEARNABLE], ids=["buffers", "parameters"])
def test_double_and_to_move_parameters_and_buffers(learnable):
    lif = LIF(4, tau_syn=5.0, learnable=learnable)
    default = torch.get_default_dtype()
    assert all(t.dtype == default for t in lif.state_dict().values() if t.is_floating_point())
    lif.double()
    assert all(t.dtype == F64 for t in lif.state_dict().values() if t.is_floating_point())
    assert lif.params().tau_mem.dtype == F64 and lif.params().v_th.dtype == F64
    lif.to(torch.float32)
    assert all(t.dtype == torch.float32 for t in lif.state_dict().values() if t.is_floating_point())
    lif.to("meta")  # a device move reaches every parameter and buffer
    assert all(t.device.type == "meta" for t in lif.state_dict().values())


def test_learnable_constraints_hold_after_big_gradient_step(gen):
    """A large step that pushes every time constant and the threshold gap down leaves tau > 0 and
    v_th > v_reset (softplus parametrisation), and the model still runs without NaN."""
    lif = LIF(6, tau_mem=20.0, tau_syn=5.0, v_th=1.0, v_reset=0.0, learnable=ALL_LEARNABLE).double()
    loss = lif.tau_mem.sum() + lif.tau_syn.sum() + 10.0 * (lif.v_th - lif.v_reset).sum()
    loss.backward()
    with torch.no_grad():
        for p in lif.parameters():
            if p.grad is not None:
                p.sub_(60.0 * p.grad)  # raw values move by >= 60: far past zero for any unconstrained tau
    assert (lif.tau_mem > 0).all() and (lif.tau_syn > 0).all()
    assert (lif.tau_mem < 1e-10).all()  # the step really was big
    assert (lif.v_th > lif.v_reset).all()
    out, state = lif(drive(gen, (30, 2, 6), True))
    assert torch.isfinite(state.v).all() and torch.isfinite(out).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("v_reset", [-0.5, 0.0, 3.0, -1e4])
def test_threshold_stays_above_nonzero_reset_after_very_big_step(dtype, v_reset):
    """softplus(raw) underflows or rounds away against v_reset after a huge step: v_th must stay
    strictly above v_reset anyway (regression: v_reset=-0.5 in float32 gave v_th == v_reset)."""
    lif = LIF(3, v_th=v_reset + 1.0, v_reset=v_reset, learnable=["v_th"]).to(dtype)
    (lif.v_th.sum()).backward()
    with torch.no_grad():
        for p in lif.parameters():
            p.sub_(100.0 * p.grad)
    assert (lif.v_th > lif.v_reset).all()


def test_learnable_parameter_gradients_are_finite_and_nonzero(gen):
    lif = LIF(8, tau_syn=5.0, learnable=ALL_LEARNABLE).double()
    x = drive(gen, (80, 4, 8), True)
    res = lif.scan(x, record=True)
    (res.output.sum() + 0.1 * res.trace.v.pow(2).sum()).backward()
    for name, p in lif.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_params_dtype_argument_and_coefficients():
    lif = LIF(3, tau_mem=20.0, tau_syn=5.0, dt=0.5)
    p = lif.params(F64)
    assert all(getattr(p, f).dtype == F64 for f in ("tau_mem", "tau_syn", "v_leak", "v_th", "v_reset", "r"))
    from spikeforge.neurons.lif import lif_coefficients

    k, alpha = lif_coefficients(p, 0.5, "exact")
    assert k.item() == pytest.approx(1 - math.exp(-0.5 / 20.0), rel=1e-12)
    assert alpha.item() == pytest.approx(math.exp(-0.5 / 5.0), rel=1e-12)
    k, alpha = lif_coefficients(p, 0.5, "euler")
    assert k.item() == pytest.approx(0.5 / 20.0, rel=1e-12)
    assert alpha.item() == pytest.approx(1 - 0.5 / 5.0, rel=1e-12)


@pytest.mark.parametrize(
    "surrogate", [sf.surrogate.FastSigmoid(5.0), sf.surrogate.ATan(2.0), sf.surrogate.Triangle(0.5)]
)
@pytest.mark.parametrize("tau_syn", [None, 5.0])
@pytest.mark.parametrize("t_ref", [0.0, 2.0])
@pytest.mark.parametrize("reset", ["to_value", "subtract"])
@pytest.mark.parametrize("detach_reset", [True, False])
def test_fused_input_gradient_without_learnable_parameters(surrogate, tau_syn, t_ref, reset, detach_reset):
    # with no learnable parameter the fused backward takes its in-place path: same as the loop
    lif = sf.neurons.LIF(
        6,
        tau_mem=8.0,
        tau_syn=tau_syn,
        t_ref=t_ref,
        reset=reset,
        detach_reset=detach_reset,
        v_leak=0.1,
        r=1.3,
        v_reset=-0.2,
        surrogate=surrogate,
    ).double()
    gen = torch.Generator().manual_seed(3)
    x = (torch.randn(40, 3, 6, dtype=torch.float64, generator=gen) * 0.8 + 0.3).requires_grad_()
    weights = torch.linspace(0.5, 1.5, 40, dtype=torch.float64)[:, None, None]
    state = lif.init_state((3,), dtype=torch.float64)
    grads, outs = [], []
    for fn in (lif_scan, _loop_scan):
        out = fn(x, state, lif.params(), record=False, **lif._settings()).output
        grads.append(torch.autograd.grad((out * weights).sum(), x)[0])
        outs.append(out.detach())
    assert torch.equal(outs[0], outs[1])
    assert outs[0].sum() > 0
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=1e-14)
