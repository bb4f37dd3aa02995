"""Tests of the probabilistic meta neuron (papers.md section 4)."""

from __future__ import annotations

import doctest
import math
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import spikeforge.neurons.probabilistic as prob_mod
from spikeforge.errors import DTypeError, ParameterError, ShapeError
from spikeforge.neurons.probabilistic import (
    Estimator,
    ProbabilisticNeuron,
    ProbabilisticParams,
    ProbabilisticState,
    SteVariant,
    probabilistic_init_state,
    probabilistic_step,
)

F64 = torch.float64
LEARNABLE = ("v_th", "tau_mem", "temperature", "release")


def make_params(**kw: float) -> ProbabilisticParams:
    values = dict(tau_mem=20.0, v_leak=0.0, v_th=1.0, v_reset=0.0, r=1.0, temperature=0.2, release=1.0)
    values.update(kw)
    return ProbabilisticParams(**{k: torch.tensor(v, dtype=F64) for k, v in values.items()})


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------------ statistics


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_firing_probability_is_sigmoid_within_5_sigma(temperature: float) -> None:
    n_samples = 200_000
    v0 = torch.tensor([0.0, 0.7, 1.0, 1.05, 1.3, 2.0], dtype=F64)  # membrane before the step
    neuron = ProbabilisticNeuron(6, tau_mem=20.0, temperature=temperature, generator=gen(0))
    state = ProbabilisticState(v0.expand(n_samples, 6).clone(), torch.zeros(n_samples, 6, dtype=F64))
    z, _ = neuron.step(torch.zeros(n_samples, 6, dtype=F64), state)  # no input: v decays only
    v = v0 * math.exp(-1.0 / 20.0)
    p = torch.sigmoid((v - 1.0) / temperature)
    bound = 5 * torch.sqrt(p * (1 - p) / n_samples) + 1e-12
    assert torch.all((z.mean(0) - p).abs() <= bound), (z.mean(0), p)
    assert set(z.unique().tolist()) <= {0.0, 1.0}


def test_release_transmits_each_input_with_probability_q() -> None:
    n_samples, q = 200_000, 0.3
    params = make_params(release=q, v_th=50.0)  # far below threshold: no spike, no reset
    state = probabilistic_init_state((n_samples,), params, (1,), dtype=F64)
    x = torch.ones(n_samples, 1, dtype=F64)
    _, new = probabilistic_step(x, state, params, dt=1.0, generator=gen(1))
    k = -math.expm1(-1.0 / 20.0)
    m = new.v / k  # the transmitted fraction of the input: 0 or 1
    assert torch.allclose(m, m.round(), atol=1e-9)
    assert abs(m.mean().item() - q) <= 5 * math.sqrt(q * (1 - q) / n_samples)
    lp = new.log_prob
    assert torch.allclose(lp, torch.where(m > 0.5, math.log(q), math.log(1 - q)).to(F64))


# ------------------------------------------------------------------------------------ estimators


def per_sample_grad(
    a: float, estimator: Estimator, baseline: float = 0.0, ste_variant: SteVariant = "sigmoid"
) -> Tensor:
    """dL/da for each of 1e5 independent samples of one unit with logit ``a``."""
    n_samples, temperature, decay = 100_000, 0.2, math.exp(-1.0 / 20.0)
    params = make_params(temperature=temperature)
    v0 = torch.full((n_samples, 1), (1.0 + temperature * a) / decay, dtype=F64, requires_grad=True)
    state = ProbabilisticState(v0, torch.zeros(n_samples, 1, dtype=F64))
    x = torch.zeros(n_samples, 1, dtype=F64)
    z, new = probabilistic_step(
        x, state, params, dt=1.0, generator=gen(2), estimator=estimator, ste_variant=ste_variant
    )
    loss = (z - 1.5) ** 2  # L(1) = 0.25, L(0) = 2.25
    if estimator == "reinforce":
        assert not z.requires_grad  # no pathwise gradient through the sample
        loss = loss + (loss.detach() - baseline) * new.log_prob
    loss.sum().backward()
    assert v0.grad is not None
    return v0.grad[:, 0] * temperature / decay  # da/dv0 = decay / T


@pytest.mark.parametrize("a", [-1.0, 0.5])
def test_reinforce_is_unbiased_and_noisier_than_straight_through(a: float) -> None:
    p = 1 / (1 + math.exp(-a))
    loss_1, loss_0 = 0.25, 2.25
    true = p * (1 - p) * (loss_1 - loss_0)  # dE[L]/da
    g_plain = per_sample_grad(a, "reinforce")
    for g in (g_plain, per_sample_grad(a, "reinforce", baseline=p * loss_1 + (1 - p) * loss_0)):
        half_width = 2.576 * g.std().item() / math.sqrt(g.numel())  # 99% confidence interval
        assert abs(g.mean().item() - true) <= half_width, (g.mean().item(), true, half_width)
    # the minimum-variance baseline of a binary unit, p L(0) + (1 - p) L(1), makes every sample exact
    g_best = per_sample_grad(a, "reinforce", baseline=p * loss_0 + (1 - p) * loss_1)
    assert torch.allclose(g_best, torch.full_like(g_best, true), atol=1e-12)
    g_ste = per_sample_grad(a, "straight_through")
    assert g_plain.var() > g_ste.var() > 0
    variants: tuple[SteVariant, ...] = ("sigmoid", "identity")
    for variant in variants:  # biased, but pointing the right way
        g_mean = per_sample_grad(a, "straight_through", ste_variant=variant).mean().item()
        assert math.copysign(1.0, g_mean) == math.copysign(1.0, true)


def test_straight_through_forward_is_the_sample_and_backward_the_chosen_slope() -> None:
    params = make_params(temperature=0.25)
    v = torch.linspace(0.0, 2.0, 9, dtype=F64).requires_grad_()
    state = ProbabilisticState(v, torch.zeros(9, dtype=F64))
    a = (v.detach() * math.exp(-1 / 20) - 1.0) / 0.25
    cases: list[tuple[SteVariant, Tensor]] = [
        ("sigmoid", torch.sigmoid(a) * torch.sigmoid(-a)),
        ("identity", torch.ones(9)),
    ]
    for variant, slope in cases:
        x = torch.zeros(9, dtype=F64)
        z, _ = probabilistic_step(x, state, params, dt=1.0, generator=gen(3), ste_variant=variant)
        assert set(z.tolist()) <= {0.0, 1.0}
        (grad,) = torch.autograd.grad(z.sum(), v)
        assert torch.allclose(grad, slope.to(F64) * math.exp(-1 / 20) / 0.25)


# ------------------------------------------------------------------------------------ determinism


def run(neuron: ProbabilisticNeuron, x: Tensor, seed: int) -> tuple[Tensor, ProbabilisticState]:
    assert neuron.generator is not None
    neuron.generator.manual_seed(seed)
    return neuron(x)


def stochastic_neuron(**kw: object) -> ProbabilisticNeuron:
    return ProbabilisticNeuron(5, tau_mem=10.0, temperature=0.3, release=0.6, generator=gen(0), **kw)  # type: ignore[arg-type]


def drive(steps: int = 40, batch: int = 3) -> Tensor:
    return torch.rand(steps, batch, 5, generator=gen(99)) * 3.0


def test_same_seed_same_spikes_and_other_seed_other_spikes() -> None:
    neuron, x = stochastic_neuron(), drive()
    z1, s1 = run(neuron, x, 7)
    z2, s2 = run(neuron, x, 7)
    assert torch.equal(z1, z2) and torch.equal(s1.v, s2.v) and torch.equal(s1.log_prob, s2.log_prob)
    z3, _ = run(neuron, x, 8)
    assert not torch.equal(z1, z3)
    assert 0 < z1.mean() < 1


def test_chunked_run_equals_one_run() -> None:
    neuron, x = stochastic_neuron(), drive(50)
    z_all, s_all = run(neuron, x, 3)
    neuron.generator.manual_seed(3)  # type: ignore[union-attr]
    z_a, s_a = neuron(x[:17])
    z_b, s_b = neuron(x[17:], s_a)
    z_c, s_c = neuron.step(x[-1], s_b)  # one more step on the same stream
    assert torch.equal(torch.cat([z_a, z_b]), z_all)
    assert torch.equal(s_b.v, s_all.v) and torch.equal(s_b.log_prob, s_all.log_prob)
    assert z_c.shape == (3, 5) and isinstance(s_c, ProbabilisticState)


def test_module_equals_loop_of_step_function() -> None:
    neuron, x = stochastic_neuron(), drive(20)
    z_mod, s_mod = run(neuron, x, 5)
    g, params = gen(5), neuron.params()
    state = probabilistic_init_state((3,), params, (5,), dtype=x.dtype)
    outs = []
    for t in range(x.shape[0]):
        z, state = probabilistic_step(x[t], state, params, dt=1.0, generator=g)
        outs.append(z)
    assert torch.equal(torch.stack(outs), z_mod) and torch.equal(state.v, s_mod.v)
    result = neuron.scan(x, record=True)
    assert result.trace.v.shape == (20, 3, 5) and result.trace.log_prob.shape == (20, 3, 5)


@pytest.mark.parametrize("with_generator", [True, False])
def test_global_rng_state_is_untouched(with_generator: bool) -> None:
    torch.manual_seed(1234)
    before = torch.get_rng_state().clone()
    neuron = ProbabilisticNeuron(5, release=0.5, generator=gen(0) if with_generator else None)
    z, _ = neuron(drive())
    assert z.shape == (40, 3, 5)
    assert torch.equal(torch.get_rng_state(), before)


def reference_deterministic(x: Tensor, q: float, tau: float, v_th: float, temperature: float) -> Tensor:
    """An independent loop: expected release, spike where sigmoid((v - v_th)/T) > 1/2."""
    v, out, k = torch.zeros_like(x[0]), [], -math.expm1(-1.0 / tau)
    for t in range(x.shape[0]):
        v = v + k * (q * x[t] - v)
        z = (torch.sigmoid((v - v_th) / temperature) > 0.5).to(x.dtype)
        v = torch.where(z > 0, torch.zeros_like(v), v)
        out.append(z)
    return torch.stack(out)


def test_deterministic_mode_thresholds_p_at_one_half() -> None:
    neuron, x = stochastic_neuron(), drive().to(F64)
    neuron.eval()
    g_state = neuron.generator.get_state()  # type: ignore[union-attr]
    z1, s1 = neuron(x)
    z2, _ = neuron(x)
    assert torch.equal(z1, z2) and torch.equal(s1.log_prob, torch.zeros_like(s1.log_prob))
    assert torch.equal(neuron.generator.get_state(), g_state)  # type: ignore[union-attr]  # nothing drawn
    q, temperature = (float(torch.tensor(v, dtype=torch.float32)) for v in (0.6, 0.3))  # as stored
    expected = reference_deterministic(x, q=q, tau=10.0, v_th=1.0, temperature=temperature)
    assert torch.equal(z1, expected) and expected.sum() > 0
    # the explicit argument overrides the module's mode, both ways
    forced = stochastic_neuron(deterministic=True)
    assert forced.training and torch.equal(forced(x)[0], expected)
    sampling = stochastic_neuron(deterministic=False).eval()
    assert not torch.equal(sampling(x)[0], sampling(x)[0])


def test_runnable_docstring_examples() -> None:
    result = doctest.testmod(prob_mod, verbose=False)
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------------------------------------------ parameters


def test_learnable_parameters_are_registered_and_receive_gradients() -> None:
    neuron = stochastic_neuron(learnable=LEARNABLE)
    names = dict(neuron.named_parameters())
    assert set(names) == {f"{n}_raw" for n in LEARNABLE}
    assert all(isinstance(p, nn.Parameter) and p.shape == (5,) for p in names.values())
    state_dict = neuron.state_dict()
    assert set(names) <= set(state_dict) and {"v_leak", "v_reset", "r"} <= set(state_dict)
    assert set(dict(stochastic_neuron().named_parameters())) == set()
    assert {"tau_mem", "v_th", "temperature", "release"} <= set(stochastic_neuron().state_dict())
    for estimator in ("straight_through", "reinforce"):
        neuron = stochastic_neuron(learnable=LEARNABLE, estimator=estimator)
        z, state = neuron(drive())
        loss = (z.mean(0) - 0.3).pow(2).sum(-1)
        if estimator == "reinforce":
            loss = loss + loss.detach() * state.log_prob.sum(-1)
        loss.sum().backward()
        for p in neuron.parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_constrained_parameters_stay_in_range_after_a_large_step(sign: float) -> None:
    neuron = ProbabilisticNeuron(5, release=0.5, learnable=LEARNABLE, generator=gen(0))
    opt = torch.optim.SGD(neuron.parameters(), lr=40.0)
    # push tau, T and v_th down, and q down (sign 1) or up (sign -1)
    loss = neuron.tau_mem.sum() + neuron.temperature.sum() + neuron.v_th.sum() + sign * neuron.release.sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert (neuron.tau_mem > 0).all() and (neuron.temperature > 0).all()
    assert ((neuron.release > 0) & (neuron.release < 1)).all()
    assert (neuron.v_th > neuron.v_reset).all()
    assert neuron.tau_mem.max() < 1.0  # the step was large: an unconstrained tau would be < 0
    assert (neuron.release < 1e-3).all() if sign > 0 else (neuron.release > 1 - 1e-3).all()
    z, state = neuron(drive())
    assert torch.isfinite(z).all() and torch.isfinite(state.v).all() and torch.isfinite(state.log_prob).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(tau_mem=-5.0), "tau_mem"),
        (dict(tau_mem=0.0), "tau_mem"),
        (dict(temperature=0.0), "temperature"),
        (dict(release=0.0), "release"),
        (dict(release=1.5), "release"),
        (dict(v_reset=1.0, v_th=1.0), "v_reset"),
        (dict(dt=0.0), "dt"),
        (dict(estimator="score"), "estimator"),
        (dict(ste_variant="tanh"), "ste_variant"),
        (dict(learnable=("r",)), "learnable"),
        (dict(generator=0), "generator"),
        (dict(deterministic="yes"), "deterministic"),
    ],
)
def test_bad_parameters_raise_parameter_error(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        ProbabilisticNeuron(4, **kwargs)  # type: ignore[arg-type]


def test_bad_inputs_raise_shape_and_dtype_errors() -> None:
    neuron = ProbabilisticNeuron(4, generator=gen(0))
    with pytest.raises(ShapeError, match="4"):
        neuron(torch.zeros(10, 2, 3))
    with pytest.raises(ShapeError):
        neuron.step(torch.zeros(2, 5))
    with pytest.raises(DTypeError, match="floating"):
        neuron(torch.zeros(10, 2, 4, dtype=torch.int64))
    with pytest.raises(ShapeError, match="state.v"):
        neuron.step(torch.zeros(2, 4), neuron.init_state((3,)))


def test_spikes_follow_the_input_dtype() -> None:
    neuron = ProbabilisticNeuron(4, generator=gen(0))
    for dtype in (torch.float32, F64):
        z, state = neuron(torch.rand(5, 2, 4, generator=gen(1)).to(dtype) * 3)
        assert z.dtype == dtype and state.v.dtype == dtype and state.log_prob.dtype == dtype


# ------------------------------------------------------------------------------------ learning

N_IN, STEPS, CLASSES = 30, 60, 3


def burst_data(n: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Class c: channel group c fires one 8-step burst, the others the same count tonically."""
    y = torch.arange(n) % CLASSES
    onset = torch.randint(0, STEPS - 7, (n,), generator=g)
    t = torch.arange(STEPS)[:, None]
    burst = ((t >= onset) & (t < onset + 8))[..., None] * 0.3  # [T, n, 1]
    bursting = (torch.arange(N_IN) * CLASSES // N_IN)[None, :] == y[:, None]  # [n, n_in]
    rates = torch.where(bursting, burst, 0.3 * 8 / STEPS)
    return (torch.rand(rates.shape, generator=g) < rates).float(), y


def train_and_test(learnable: tuple[str, ...], seed: int, *, epochs: int = 4, batch: int = 20) -> float:
    """Test accuracy (sampling mode) of Linear -> meta neuron -> count readout after BPTT."""
    g = gen(100 + seed)
    x, y = burst_data(240, g)
    x_test, y_test = burst_data(300, g)
    neuron = ProbabilisticNeuron(32, tau_mem=20.0, temperature=0.1, release=0.7, generator=gen(seed),
                                 learnable=learnable)  # fmt: skip
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        fc_in, fc_out = nn.Linear(N_IN, 32), nn.Linear(32, CLASSES)
    with torch.no_grad():
        fc_in.weight.mul_(6.0)
        fc_in.bias.fill_(0.5)

    def model(inp: Tensor) -> Tensor:
        spikes, _ = neuron(fc_in(inp))
        return fc_out(spikes.mean(0) * 10.0)

    weights = [*fc_in.parameters(), *fc_out.parameters()]
    groups: list[dict[str, Any]] = [{"params": weights}, {"params": list(neuron.parameters()), "lr": 0.05}]
    opt = torch.optim.Adam(groups, lr=1e-2)
    for _ in range(epochs):
        for start in range(0, x.shape[1], batch):
            loss = nn.functional.cross_entropy(model(x[:, start : start + batch]), y[start : start + batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return (model(x_test).argmax(-1) == y_test).float().mean().item()


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Small tensors: one thread is fastest, and many times faster on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_learning_intrinsic_parameters_is_not_worse_than_fixed() -> None:
    seeds = range(3)
    fixed = sum(train_and_test((), s) for s in seeds) / len(seeds)
    learned = sum(train_and_test(LEARNABLE, s) for s in seeds) / len(seeds)
    assert fixed > 1 / CLASSES + 0.05  # the task is learnable at all
    assert learned >= fixed + 0.02, (learned, fixed)
