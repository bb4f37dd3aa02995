"""ALIF: beta = 0 is LIF, spike-frequency adaptation, the threshold's recovery, gradients, the
functional/module and chunking identities, and input checks."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from spikeforge.errors import ParameterError, ShapeError
from spikeforge.neurons.alif import (
    ALIF,
    ALIFState,
    adaptation_decay,
    alif_init_state,
    alif_scan,
    alif_step,
)
from spikeforge.neurons.lif import LIF, LIFParams, lif_coefficients, lif_step

F64 = torch.float64

# LIF configurations covering the synaptic current, both resets, both integrators, refractoriness
CONFIGS: list[dict[str, Any]] = [
    {},
    {"tau_syn": 5.0},
    {"reset": "subtract", "v_reset": 0.2},
    {"integrator": "euler", "t_ref": 2.0},
    {"tau_syn": 5.0, "reset": "subtract", "t_ref": 3.0, "v_leak": 0.1, "r": 1.3, "integrator": "euler"},
]


def _settings(m: LIF | ALIF) -> dict[str, Any]:
    return {
        "dt": m.dt,
        "spike_fn": m.surrogate,
        "reset": m.reset,
        "integrator": m.integrator,
        "detach_reset": m.detach_reset,
    }


def _drive(cfg: dict[str, Any], steps: int = 300, batch: int = 3, n: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(1234)
    return torch.rand(steps, batch, n, generator=g, dtype=F64) * (0.6 if "tau_syn" in cfg else 2.5)


def _isi(spikes: torch.Tensor, dt: float) -> torch.Tensor:
    times = torch.nonzero(spikes).flatten().to(F64) * dt
    return times.diff()


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "lif")
def test_beta_zero_reproduces_lif_bitwise(cfg: dict[str, Any]) -> None:
    x = _drive(cfg)
    lif = LIF(4, tau_mem=10.0, **cfg).double()
    alif = ALIF(4, tau_mem=10.0, tau_adapt=50.0, beta=0.0, **cfg).double()
    res = alif.scan(x, record=True)

    # against a loop of lif_step, the definition of the LIF step
    state = lif.init_state((3,), dtype=F64)
    zs, states = [], []
    for t in range(x.shape[0]):
        z, state = lif_step(x[t], state, lif.params(F64), **_settings(lif))
        zs.append(z)
        states.append(state)
    assert res.output.sum() > 20  # the comparison covers spikes and resets
    assert torch.equal(res.output, torch.stack(zs))
    for field in ("v", "i", "ref"):
        assert torch.equal(getattr(res.trace, field), torch.stack([getattr(s, field) for s in states]))

    # against the LIF module (its fused scan)
    ref = lif.scan(x, record=True)
    assert torch.equal(res.output, ref.output)
    if "tau_syn" not in cfg:
        assert torch.equal(res.trace.v, ref.trace.v)
    else:
        # LIF's fused kernel computes i with one addcmul (a fused multiply-add), lif_step with
        # alpha*i + x: the two differ in the last bit, so only here v agrees to rounding.
        torch.testing.assert_close(res.trace.v, ref.trace.v, rtol=0, atol=16 * torch.finfo(F64).eps)


def test_step_current_adapts() -> None:
    dt = 0.5
    steps_on = int(600 / dt)
    x = torch.zeros(int(650 / dt), 2, dtype=F64)
    x[int(20 / dt) : int(20 / dt) + steps_on] = 2.0
    alif = ALIF(2, tau_mem=20.0, tau_adapt=200.0, beta=torch.tensor([0.3, 0.0]), dt=dt).double()
    z, _ = alif(x)
    isi_alif, isi_lif = _isi(z[:, 0], dt), _isi(z[:, 1], dt)
    assert len(isi_alif) >= 5
    index = (isi_alif[-1] - isi_alif[0]) / (isi_alif[-1] + isi_alif[0])
    assert index > 0.2, f"adaptation index {index:.3f}"
    lif_index = (isi_lif[-1] - isi_lif[0]) / (isi_lif[-1] + isi_lif[0])
    assert abs(lif_index) < 0.02  # the beta = 0 neuron fires regularly
    assert z[:, 0].sum() < z[:, 1].sum()


@pytest.mark.parametrize("integrator", ["exact", "euler"])
def test_adaptation_is_a_sum_of_decaying_spikes(integrator: Any) -> None:
    """a(t) = sum over past spikes of rho^(steps since the spike), and with the exact integrator
    rho^m = exp(-m dt / tau_adapt); after the input stops the threshold returns to v_th."""
    dt, tau_adapt, beta, v_th = 0.25, 80.0, 0.4, 1.0
    on = int(100 / dt)
    x = torch.zeros(on + int(600 / dt), 1, dtype=F64)
    x[:on] = 2.5
    alif = ALIF(1, tau_mem=10.0, tau_adapt=tau_adapt, beta=beta, v_th=v_th, dt=dt, integrator=integrator)
    res = alif.double().scan(x, record=True)
    a = res.trace.a[:, 0]
    spike_steps = torch.nonzero(res.output[:, 0]).flatten()
    assert len(spike_steps) >= 5 and int(spike_steps[-1]) < on
    rho = math.exp(-dt / tau_adapt) if integrator == "exact" else 1 - dt / tau_adapt
    t = torch.arange(x.shape[0], dtype=F64)
    since = t[:, None] - spike_steps[None, :].to(F64)  # steps since each spike
    expected = torch.where(since >= 0, rho ** since.clamp(min=0), 0.0).sum(1)
    torch.testing.assert_close(a, expected, rtol=1e-12, atol=0)

    # after the last spike: a decays as exp(-t / tau_adapt) (exact integrator), and the threshold
    # is back at v_th within beta * a_last * exp(-T_off / tau_adapt)
    last = int(spike_steps[-1])
    m = t[last:] - last
    if integrator == "exact":
        torch.testing.assert_close(a[last:], a[last] * torch.exp(-m * dt / tau_adapt), rtol=1e-12, atol=0)
    threshold = v_th + beta * a
    assert threshold[-1] - v_th < beta * a[last] * math.exp(-500 / tau_adapt)
    assert threshold[-1] - v_th > 0  # it approaches v_th but never undershoots


def test_recovered_neuron_responds_as_fresh() -> None:
    """After input stops for 10 tau_adapt, a second step gives the same first spikes as the first."""
    dt, n_on, n_off = 1.0, 150, 2000
    pulse = torch.full((n_on, 1), 2.0, dtype=F64)
    alif = ALIF(1, tau_mem=20.0, tau_adapt=200.0, beta=0.3, dt=dt).double()
    z1, state = alif(pulse)
    _, state = alif(torch.zeros(n_off, 1, dtype=F64), state)
    assert float(state.a) < 1e-3
    z2, _ = alif(pulse, state)
    first1, first2 = torch.nonzero(z1[:, 0]).flatten()[:2], torch.nonzero(z2[:, 0]).flatten()[:2]
    assert torch.equal(first1, first2)


def test_order_within_a_step() -> None:
    """The spike is tested against v_th + beta * a from before the step; a then takes the spike;
    a subtract reset lowers v by the crossed threshold minus v_reset."""
    kw: dict[str, Any] = {"dt": 1.0, "reset": "subtract"}
    alif = ALIF(1, tau_mem=10.0, tau_adapt=50.0, beta=0.5, v_reset=0.125).double()
    p = alif.params()
    rho = math.exp(-1.0 / 50.0)
    x = torch.tensor([1.3], dtype=F64)
    k = -math.expm1(-1.0 / 10.0)

    # v ends between v_th = 1 and A = 1.5: no spike when a = 1 before the step, a spike when a = 0
    v0 = torch.tensor([1.25], dtype=F64)  # lerp(1.25, 1.3, k) = 1.2548 > v_th
    adapted = ALIFState(
        v0, torch.zeros(1, dtype=F64), torch.zeros(1, dtype=torch.int32), torch.ones(1, dtype=F64)
    )
    z, s = alif_step(x, adapted, p, **kw)
    assert float(z) == 0.0 and float(s.a) == pytest.approx(rho, rel=1e-15)
    fresh = adapted._replace(a=torch.zeros(1, dtype=F64))
    z, s = alif_step(x, fresh, p, **kw)
    assert float(z) == 1.0 and float(s.a) == 1.0  # this step's spike is in a
    v_pre = 1.25 + k * (1.3 - 1.25)
    assert float(s.v) == pytest.approx(v_pre - (1.0 - 0.125), rel=1e-14)

    # with a = 1 and v above A = 1.5: subtract A - v_reset, not v_th - v_reset
    high = adapted._replace(v=torch.tensor([1.7], dtype=F64))
    z, s = alif_step(torch.tensor([1.7], dtype=F64), high, p, **kw)
    assert float(z) == 1.0 and float(s.a) == pytest.approx(rho + 1, rel=1e-15)
    assert float(s.v) == pytest.approx(1.7 - (1.5 - 0.125), rel=1e-14)


@pytest.mark.parametrize("integrator", ["exact", "euler"])
def test_adaptation_decay_is_lif_synaptic_decay(integrator: Any) -> None:
    tau = torch.tensor([3.0, 200.0, 1500.0], dtype=F64)
    params = LIFParams(*(torch.ones(3, dtype=F64) for _ in range(7)))._replace(tau_syn=tau)
    _, alpha = lif_coefficients(params, 0.5, integrator)
    assert alpha is not None
    assert torch.equal(adaptation_decay(tau, 0.5, integrator), alpha)


def test_gradients_reach_input_tau_adapt_and_beta() -> None:
    g = torch.Generator().manual_seed(0)
    alif = ALIF(6, tau_mem=10.0, tau_adapt=100.0, beta=0.3, learnable=("tau_adapt", "beta")).double()
    assert {n for n, _ in alif.named_parameters()} == {"tau_adapt_raw", "beta_raw"}
    x = (torch.rand(200, 2, 6, generator=g, dtype=F64) * 2.5).requires_grad_()
    z, state = alif(x)
    weights = torch.linspace(0.5, 1.5, z.shape[0], dtype=F64)[:, None, None]
    (z * weights).sum().add(state.a.sum()).backward()
    for name, grad in [("x", x.grad), ("tau_adapt", alif.tau_adapt_raw.grad), ("beta", alif.beta_raw.grad)]:
        assert grad is not None, name
        assert torch.isfinite(grad).all(), name
        assert grad.abs().sum() > 0, name


def test_learnable_params_stay_in_range() -> None:
    alif = ALIF(3, tau_adapt=[5.0, 50.0, 500.0], beta=[0.01, 0.5, 2.0], learnable=("tau_adapt", "beta"))
    alif = alif.double()
    opt = torch.optim.SGD(alif.parameters(), lr=5.0)
    x = torch.full((20, 3), 2.0, dtype=F64)
    for _ in range(100):  # push both towards and past zero
        opt.zero_grad()
        z, state = alif(x)
        (alif.tau_adapt.sum() + 10 * alif.beta.sum() + 0 * z.sum()).backward()
        opt.step()
    assert (alif.tau_adapt > 0).all() and (alif.beta > 0).all()
    assert alif.beta.max() < 0.01  # it did move
    z, state = alif(x)
    assert torch.isfinite(state.v).all() and torch.isfinite(state.a).all()


def test_functional_equals_module() -> None:
    cfg: dict[str, Any] = {"tau_syn": 5.0, "reset": "subtract", "t_ref": 2.0}
    x = _drive(cfg, steps=200)
    alif = ALIF(4, tau_mem=10.0, tau_adapt=30.0, beta=0.2, **cfg).double()
    res = alif.scan(x, record=True)
    out, final = alif(x)
    state = alif_init_state((3,), alif.params(), alif.shape, dtype=F64)
    mod_state: ALIFState | None = None
    zs, states, mod_zs = [], [], []
    for t in range(x.shape[0]):
        z, state = alif_step(x[t], state, alif.params(F64), **_settings(alif))
        zs.append(z)
        states.append(state)
        mz, mod_state = alif.step(x[t], mod_state)
        mod_zs.append(mz)
    assert res.output.sum() > 20
    assert torch.equal(res.output, torch.stack(zs)) and torch.equal(out, res.output)
    assert torch.equal(torch.stack(mod_zs), res.output)
    for field in ALIFState._fields:
        assert torch.equal(getattr(res.trace, field), torch.stack([getattr(s, field) for s in states]))
        assert torch.equal(getattr(final, field), getattr(state, field))
    fn = alif_scan(x, alif.init_state((3,), dtype=F64), alif.params(F64), **_settings(alif))
    assert torch.equal(fn.output, res.output) and fn.trace is None


@pytest.mark.parametrize("cfg", CONFIGS[1:], ids=lambda c: ",".join(c))
def test_chunked_run_equals_whole_run(cfg: dict[str, Any]) -> None:
    x = _drive(cfg, steps=240)
    alif = ALIF(4, tau_mem=10.0, tau_adapt=40.0, beta=0.3, **cfg).double()
    whole, final = alif(x)
    state = None
    parts = []
    for chunk in x.split([1, 100, 39, 100]):
        z, state = alif(chunk, state)
        parts.append(z)
    assert whole.sum() > 20
    assert torch.equal(torch.cat(parts), whole)
    assert state is not None and all(torch.equal(a, b) for a, b in zip(state, final))
    # element b of a batch equals an unbatched run
    single, _ = alif(x[:, 1])
    assert torch.equal(single, whole[:, 1])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"tau_adapt": 0.0}, "tau_adapt"),
        ({"tau_adapt": -100.0}, "tau_adapt"),
        ({"tau_adapt": [50.0, -1.0, 50.0]}, "tau_adapt"),
        ({"tau_adapt": float("nan")}, "tau_adapt"),
        ({"tau_adapt": 0.4, "integrator": "euler"}, "tau_adapt"),
        ({"beta": -0.1}, "beta"),
        ({"beta": 0.0, "learnable": ("beta",)}, "beta"),
        ({"tau_mem": -5.0}, "tau_mem"),
        ({"v_reset": 2.0}, "v_reset"),
        ({"reset": "hard"}, "reset"),
        ({"learnable": ("gamma",)}, "learnable"),
    ],
)
def test_bad_parameters_raise(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ParameterError, match=name):
        ALIF(3, **kwargs)


def test_bad_shapes_raise() -> None:
    with pytest.raises(ShapeError, match="beta"):
        ALIF(3, beta=[0.1, 0.2])
    alif = ALIF(4)
    with pytest.raises(ShapeError, match=r"ALIF\(4\)"):
        alif(torch.zeros(10, 3))
    with pytest.raises(ShapeError, match=r"ALIF\(4\)"):
        alif(torch.zeros(4))  # one step given to the sequence API
    with pytest.raises(ShapeError, match=r"ALIF\(4\)"):
        alif.step(torch.zeros(2, 5))
    with pytest.raises(ShapeError, match="state.a"):
        alif(torch.zeros(10, 2, 4), alif.init_state((2,))._replace(a=torch.zeros(3, 4)))
    with pytest.raises(ShapeError, match="time step"):
        alif(torch.zeros(0, 4))


def test_state_dict_and_repr() -> None:
    alif = ALIF(3, tau_syn=5.0, tau_adapt=[10.0, 20.0, 30.0], beta=0.5, learnable=("beta", "v_th"))
    keys = set(alif.state_dict())
    assert {"tau_mem", "tau_syn", "tau_adapt", "beta_raw", "v_th_raw", "v_reset", "t_ref"} <= keys
    assert not isinstance(alif, LIF)  # exporters that know LIF must not take it for one
    other = ALIF(3, tau_syn=5.0, tau_adapt=[1.0, 1.0, 1.0], learnable=("beta", "v_th"))
    other.load_state_dict(alif.state_dict())
    x = torch.full((50, 3), 0.8)
    assert torch.equal(other(x)[0], alif(x)[0])
    assert "tau_adapt=[3 values]" in repr(alif) and "beta=" in repr(alif)
