"""MPBNLIF: the normalized spike test against a numpy re-implementation, running statistics as
documented, and folding into plain LIF thresholds that spike identically (papers.md section 9)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.errors import ParameterError, ShapeError, UnsupportedExportError
from spikeforge.hardware import fold_mpbn
from spikeforge.neurons import MPBNLIF, lif_step


def _random_mpbn(gen: torch.Generator, n: int, *, syn: bool, dtype: torch.dtype) -> MPBNLIF:
    """An MPBN layer in eval mode with random per-neuron statistics, gamma > 0 and thresholds."""
    layer = MPBNLIF(
        n,
        tau_mem=5.0 + 20.0 * torch.rand(n, generator=gen),
        tau_syn=(2.0 + 5.0 * torch.rand(n, generator=gen)) if syn else None,
        v_th=0.5 + torch.rand(n, generator=gen),
        v_reset=-0.3,
        v_leak=0.1,
    ).to(dtype)
    with torch.no_grad():
        layer.gamma.copy_(0.5 + torch.rand(n, generator=gen))
        layer.beta.copy_(0.3 * torch.randn(n, generator=gen))
        layer.running_mean.copy_(0.2 * torch.randn(n, generator=gen))
        layer.running_var.copy_(0.05 + 0.3 * torch.rand(n, generator=gen))
    return layer.eval()


def _drive(gen: torch.Generator, steps: int, batch: int, n: int, dtype: torch.dtype) -> torch.Tensor:
    return (0.6 + 0.8 * torch.randn(steps, batch, n, generator=gen)).to(dtype)


# ------------------------------------------------------------------------------ the maths


def test_training_step_matches_numpy(gen):
    """One training-mode step: LIF membrane, batch mean / biased variance per neuron, spike on the
    normalized value, reset of the raw membrane to v_reset: against numpy."""
    n, batch = 6, 5
    layer = MPBNLIF(n, tau_mem=8.0, v_th=0.4, v_reset=-0.2, v_leak=0.05, dt=0.5).double()
    with torch.no_grad():
        layer.gamma.copy_(torch.linspace(0.5, 2.0, n))
        layer.beta.copy_(torch.linspace(-0.3, 0.3, n))
    v0 = torch.randn(batch, n, generator=gen, dtype=torch.float64)
    x = torch.randn(batch, n, generator=gen, dtype=torch.float64)
    state = sf.neurons.LIFState(v0, torch.zeros_like(v0), torch.zeros(batch, n, dtype=torch.int32))
    z, new = layer.step(x, state)

    k = 1.0 - math.exp(-0.5 / 8.0)
    v_leak, v_reset = float(layer.v_leak), float(layer.v_reset)  # float32 literals, widened
    v = v0.numpy() + k * (v_leak + x.numpy() - v0.numpy())
    mu, var = v.mean(0), v.var(0)
    y = layer.gamma.detach().numpy() * (v - mu) / np.sqrt(var + 1e-5) + layer.beta.detach().numpy()
    z_ref = (y > float(layer.v_th)).astype(float)
    assert 0 < z_ref.sum() < z_ref.size
    np.testing.assert_array_equal(z.detach().numpy(), z_ref)
    np.testing.assert_allclose(new.v.numpy(), np.where(z_ref > 0, v_reset, v), rtol=0, atol=1e-12)
    # the running statistics after one step: unbiased variance over the batch, momentum 0.1
    np.testing.assert_allclose(layer.running_mean.numpy(), 0.1 * mu, atol=1e-12)
    np.testing.assert_allclose(layer.running_var.numpy(), 0.9 + 0.1 * v.var(0, ddof=1), atol=1e-12)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_running_statistics_pool_batch_and_time(gen, momentum):
    """The running statistics are updated once per call from all B*T membrane values (v before
    reset, rebuilt in numpy)."""
    n, steps, batch = 4, 12, 3
    layer = MPBNLIF(n, tau_mem=10.0, momentum=momentum).double()
    expected_mean, expected_var = np.zeros(n), np.ones(n)
    for call in range(1, 4):
        x = _drive(gen, steps, batch, n, torch.float64)
        # v before reset, rebuilt in numpy from the recorded membrane after reset
        res = layer.scan(x, record=True)
        z = res.output.detach().numpy()
        v_after = res.trace.v.detach().numpy()
        v_prev = np.concatenate([np.zeros((1, batch, n)), v_after[:-1]])
        k = 1.0 - math.exp(-1.0 / 10.0)
        v_pre = v_prev + k * (x.numpy() - v_prev)
        np.testing.assert_allclose(np.where(z > 0, 0.0, v_pre), v_after, atol=1e-12)
        m = 0.1 if momentum is not None else 1.0 / call
        expected_mean = (1 - m) * expected_mean + m * v_pre.reshape(-1, n).mean(0)
        expected_var = (1 - m) * expected_var + m * v_pre.reshape(-1, n).var(0, ddof=1)
        np.testing.assert_allclose(layer.running_mean.numpy(), expected_mean, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(layer.running_var.numpy(), expected_var, rtol=1e-10, atol=1e-12)
    assert int(layer.num_batches_tracked) == 3


def test_eval_mode_uses_running_statistics_and_updates_nothing(gen):
    layer = _random_mpbn(gen, 5, syn=False, dtype=torch.float64)
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    x = _drive(gen, 20, 1, 5, torch.float64)  # a batch of one is fine in eval mode
    layer(x)
    for k, v in layer.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_training_needs_a_batch():
    with pytest.raises(ShapeError, match="more than one sample"):
        MPBNLIF(3)(torch.rand(5, 1, 3))


def test_bad_arguments():
    with pytest.raises(ParameterError, match="momentum"):
        MPBNLIF(3, momentum=1.5)
    with pytest.raises(ParameterError, match="eps"):
        MPBNLIF(3, eps=0.0)
    with pytest.raises(ParameterError, match="tau_mem"):
        MPBNLIF(3, tau_mem=-1.0)


def test_gradients_reach_gamma_beta_and_input(gen):
    layer = MPBNLIF(4, tau_syn=5.0).double()
    x = _drive(gen, 15, 6, 4, torch.float64).requires_grad_(True)
    z, _ = layer(x)
    z.sum().backward()
    for g in (x.grad, layer.gamma.grad, layer.beta.grad):
        assert g is not None and bool(torch.isfinite(g).all()) and float(g.abs().sum()) > 0


# ------------------------------------------------------------------------------ folding


@pytest.mark.parametrize("syn", [False, True])
def test_fold_is_bitwise_in_float64(gen, syn):
    layer = _random_mpbn(gen, 40, syn=syn, dtype=torch.float64)
    folded = layer.fold()
    assert isinstance(folded, sf.neurons.LIF) and folded.v_th.dtype == torch.float64
    x = _drive(gen, 200, 8, 40, torch.float64)
    a, b = layer.scan(x, record=True), folded.scan(x, record=True)
    rate = float(a.output.mean())
    assert 0.02 < rate < 0.6, rate
    assert torch.equal(a.output, b.output)
    for fa, fb in zip(a.trace, b.trace):
        assert torch.equal(fa, fb)
    # the threshold is the documented formula
    expected = (
        layer.running_mean + (layer.v_th - layer.beta) * torch.sqrt(layer.running_var + 1e-5) / layer.gamma
    )
    torch.testing.assert_close(folded.v_th, expected.detach(), rtol=1e-15, atol=1e-15)


def test_fold_in_float32_differs_only_at_the_threshold(gen):
    """Teacher-forced from the same state at every step, the folded and unfolded float32 layers
    disagree only where the membrane is within 1e-5 of the folded threshold."""
    n = 64
    layer = _random_mpbn(gen, n, syn=True, dtype=torch.float32)
    folded = layer.fold()
    theta = folded.v_th
    never = folded.params()._replace(v_th=torch.full_like(theta, float("inf")))
    x = _drive(gen, 300, 16, n, torch.float32)
    state = layer.init_state((16,))
    mismatches, spikes = 0, 0
    for t in range(x.shape[0]):
        z_a, next_state = layer.step(x[t], state)
        z_b, _ = folded.step(x[t], state)
        _, probe = lif_step(x[t], state, never, dt=1.0)  # the membrane before any reset
        differ = z_a != z_b
        if bool(differ.any()):
            gap = (probe.v - theta).abs()[differ]
            assert float(gap.max()) < 1e-5
            mismatches += int(differ.sum())
        spikes += int(z_a.sum())
        state = next_state
    assert spikes > 1000
    assert mismatches <= 0.001 * spikes


def test_fold_of_a_model_keeps_everything_else(gen):
    net = sf.Sequential(nn.Linear(10, 20), _random_mpbn(gen, 20, syn=True, dtype=torch.float32))
    net = net.double().eval()
    folded = fold_mpbn(net)
    assert isinstance(net[1], MPBNLIF)  # the original is untouched
    assert isinstance(folded[1], sf.neurons.LIF) and not folded.training
    assert torch.equal(folded[0].weight, net[0].weight)
    x = (torch.rand(100, 4, 10, generator=gen, dtype=torch.float64) < 0.3).double()
    assert torch.equal(net(x)[0], folded(x)[0])


def test_fold_refuses_non_positive_gamma(gen):
    layer = _random_mpbn(gen, 6, syn=False, dtype=torch.float64)
    with torch.no_grad():
        layer.gamma[4] = -0.5
    with pytest.raises(UnsupportedExportError, match=r"neuron 4 .*-0\.5 <= 0"):
        layer.fold()
    with torch.no_grad():
        layer.gamma[4] = 0.0
    net = sf.Sequential(nn.Linear(3, 6), layer)
    with pytest.raises(UnsupportedExportError, match=r"module '1'.*neuron 4"):
        fold_mpbn(net)


def test_fold_keeps_thresholds_below_reset(gen):
    """A neuron whose folded threshold lies below v_reset (tonic firing) folds exactly too."""
    layer = _random_mpbn(gen, 3, syn=False, dtype=torch.float64)
    with torch.no_grad():
        layer.beta[1] = 5.0  # theta' far below v_reset = -0.3
    folded = layer.fold()
    assert float(folded.v_th[1]) < float(folded.v_reset)
    x = _drive(gen, 50, 4, 3, torch.float64)
    out = layer(x)[0]
    assert float(out[:, :, 1].detach().mean()) > 0.9
    assert torch.equal(out, folded(x)[0])


def test_fold_names_the_multi_index_of_a_conv_neuron(gen):
    layer = MPBNLIF((2, 3, 3)).eval()
    with torch.no_grad():
        layer.gamma[1, 2, 0] = -1.0
    with pytest.raises(UnsupportedExportError, match=r"neuron 15 \(index \(1, 2, 0\)\)"):
        layer.fold()


# ------------------------------------------------------------------------------ training


def _task(gen: torch.Generator, n_samples: int, dtype: torch.dtype = torch.float32):
    """Two classes of 20-channel Poisson inputs that differ in which half fires faster, with a
    per-sample random offset in the overall rate (the covariate shift MPBN normalizes)."""
    labels = torch.randint(0, 2, (n_samples,), generator=gen)
    base = 0.05 + 0.2 * torch.rand(n_samples, 1, generator=gen)
    rates = base.repeat(1, 20)
    boost = torch.zeros(n_samples, 20)
    boost[labels == 0, :10] = 0.08
    boost[labels == 1, 10:] = 0.08
    p = (rates + boost).clamp(max=1.0)
    x = (torch.rand(30, n_samples, 20, generator=gen) < p).to(dtype)
    return x, labels


def _train(net: nn.Module, gen: torch.Generator, epochs: int) -> float:
    x_train, y_train = _task(gen, 256)
    x_test, y_test = _task(gen, 256)
    opt = torch.optim.Adam(net.parameters(), lr=0.03)
    for _ in range(epochs):
        for b in range(0, 256, 32):
            out, _ = net(x_train[:, b : b + 32])
            loss = nn.functional.cross_entropy(out.sum(0), y_train[b : b + 32])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        out, _ = net(x_test)
    return float((out.sum(0).argmax(1) == y_test).double().mean())


def _net(neuron: type, seed: int) -> sf.Sequential:
    torch.manual_seed(seed)  # nn.Linear's initialisation; restored by the caller's fork_rng
    return sf.Sequential(
        nn.Linear(20, 32), neuron(32, tau_mem=10.0), nn.Linear(32, 2), sf.neurons.LIF(2, tau_mem=10.0)
    )


def test_trained_network_folds_exactly_and_mpbn_trains_no_worse():
    """A hidden MPBN layer against a plain LIF one, same initial weights and data (5 epochs; over
    seeds 0-2 MPBN reached 0.98/0.98/0.93 test accuracy, plain LIF 0.93/0.88/0.96)."""
    with torch.random.fork_rng():
        mpbn = _net(MPBNLIF, 0)
        plain = _net(sf.neurons.LIF, 0)
    acc_mpbn = _train(mpbn, torch.Generator().manual_seed(100), epochs=5)
    acc_plain = _train(plain, torch.Generator().manual_seed(100), epochs=5)
    assert acc_mpbn >= acc_plain - 0.02, (acc_mpbn, acc_plain)
    assert acc_mpbn > 0.85, acc_mpbn

    mpbn = mpbn.double()
    folded = fold_mpbn(mpbn)
    x, _ = _task(torch.Generator().manual_seed(7), 64, torch.float64)
    with torch.no_grad():
        out = mpbn(x)[0]
        assert out.sum() > 0
        assert torch.equal(out, folded(x)[0])
