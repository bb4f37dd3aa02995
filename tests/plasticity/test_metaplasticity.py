"""Metaplastic Adam (Laborieux et al. 2021), fast/slow consolidation and CLASSP."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.plasticity import CLASSP, FastSlow, Metaplastic, binarize

F64 = torch.float64


def make_params(gen, dtype=F64):
    return [
        torch.nn.Parameter(torch.randn(6, 5, generator=gen, dtype=dtype)),
        torch.nn.Parameter(torch.randn(5, generator=gen, dtype=dtype)),
        torch.nn.Parameter(torch.randn(2, 3, 4, generator=gen, dtype=dtype)),
    ]


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_m_zero_is_adam_bitwise(weight_decay, dtype, gen):
    ours = make_params(gen, dtype)
    ref = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    opt = Metaplastic(ours, lr=0.01, m=0.0, betas=(0.8, 0.99), weight_decay=weight_decay, meta_1d=True)
    adam = torch.optim.Adam(ref, lr=0.01, betas=(0.8, 0.99), weight_decay=weight_decay, foreach=False)
    for _ in range(25):
        grads = [torch.randn(p.shape, generator=gen, dtype=dtype) for p in ours]
        for p, q, g in zip(ours, ref, grads):
            p.grad, q.grad = g.clone(), g.clone()
        opt.step()
        adam.step()
        for p, q in zip(ours, ref):
            assert torch.equal(p, q)
    default = torch.optim.Adam(
        [torch.nn.Parameter(ours[0].detach().clone())], lr=0.01
    )  # default implementation
    mine = Metaplastic([torch.nn.Parameter(ours[0].detach().clone())], lr=0.01, m=0.0)
    for _ in range(5):
        g = torch.randn(ours[0].shape, generator=gen, dtype=dtype)
        for o in (default, mine):
            o.param_groups[0]["params"][0].grad = g.clone()
            o.step()
    assert torch.equal(default.param_groups[0]["params"][0], mine.param_groups[0]["params"][0])


def test_updates_toward_zero_are_attenuated(gen):
    """Hand-made gradients: entries whose Adam step points toward 0 are scaled by
    1 - tanh^2(m W); the others are Adam's steps unchanged."""
    m = 1.3
    w0 = torch.tensor([[2.0, 2.0, -1.0, -1.0, 0.5, -0.3, 0.0]], dtype=F64)
    grads = [
        torch.tensor([[1.0, -1.0, -2.0, 2.0, 0.5, 0.1, 1.0]], dtype=F64),
        torch.tensor([[0.5, -0.2, -1.0, 3.0, -0.5, 0.2, -1.0]], dtype=F64),
        torch.tensor([[2.0, -1.0, -0.1, 1.0, 0.3, -0.4, 1.0]], dtype=F64),
    ]
    p = torch.nn.Parameter(w0.clone())
    q = torch.nn.Parameter(w0.clone())
    meta = Metaplastic([p], lr=0.05, m=m)
    adam = torch.optim.Adam([q], lr=0.05, foreach=False)
    for g in grads:
        before = p.detach().clone()
        q.data.copy_(before)  # Adam from the same weights, with the same moments
        p.grad, q.grad = g.clone(), g.clone()
        meta.step()
        adam.step()
        step_adam = q.detach() - before
        step_meta = p.detach() - before
        toward_zero = torch.sign(before) * step_adam < 0
        factor = 1.0 - torch.tanh(m * before) ** 2
        expected = torch.where(toward_zero, factor * step_adam, step_adam)
        assert torch.allclose(step_meta, expected, rtol=1e-12, atol=1e-15)
        assert bool(toward_zero.any()) and bool((~toward_zero).any())
    # the first step by hand: Adam's first step is lr * sign(g); entry 0 (W=2, g>0) moves toward 0
    p2 = torch.nn.Parameter(w0.clone())
    opt2 = Metaplastic([p2], lr=0.05, m=m)
    p2.grad = grads[0].clone()
    opt2.step()
    assert (p2[0, 0] - 2.0).item() == pytest.approx(-0.05 * (1 - math.tanh(2.6) ** 2), rel=1e-6)
    assert (p2[0, 1] - 2.0).item() == pytest.approx(0.05, rel=1e-6)


def test_biases_get_plain_adam_unless_meta_1d(gen):
    b = torch.nn.Parameter(torch.tensor([1.0, -1.0], dtype=F64))
    ref = torch.nn.Parameter(b.detach().clone())
    opt, adam = Metaplastic([b], lr=0.1, m=2.0), torch.optim.Adam([ref], lr=0.1, foreach=False)
    b.grad = ref.grad = torch.tensor([1.0, -1.0], dtype=F64)
    opt.step()
    adam.step()
    assert torch.equal(b, ref)
    b2 = torch.nn.Parameter(torch.tensor([1.0, -1.0], dtype=F64))
    opt2 = Metaplastic([b2], lr=0.1, m=2.0, meta_1d=True)
    b2.grad = torch.tensor([1.0, -1.0], dtype=F64)
    opt2.step()
    assert (b2 - 1.0)[0].item() == pytest.approx(-0.1 * (1 - math.tanh(2.0) ** 2), rel=1e-6)


# ---------------------------------------------------------------------------------------------
# continual learning on permuted digits


def _digits():
    datasets = pytest.importorskip("sklearn.datasets")
    x, y = datasets.load_digits(return_X_y=True)
    return torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y)


class _BNN(torch.nn.Module):
    """64 -> 512 -> 10, binary weights (sign of the hidden weights) and sign activations, with
    batch normalisation (batch statistics, no affine parameters)."""

    def __init__(self, gen: torch.Generator, hidden: int = 512) -> None:
        super().__init__()
        self.w1 = torch.nn.Parameter(torch.empty(hidden, 64).uniform_(-0.01, 0.01, generator=gen))
        self.w2 = torch.nn.Parameter(torch.empty(10, hidden).uniform_(-0.01, 0.01, generator=gen))
        self.bn1 = torch.nn.BatchNorm1d(hidden, affine=False, track_running_stats=False)
        self.bn2 = torch.nn.BatchNorm1d(10, affine=False, track_running_stats=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.nn.functional.hardtanh(self.bn1((2 * x - 1) @ binarize(self.w1).t()))
        h = h + (torch.sign(h) - h).detach()  # sign activation, straight-through
        return self.bn2(h @ binarize(self.w2).t())


def _continual_run(m: float, x, y, train, test, perms, epochs: int = 10) -> list[list[float]]:
    gen = torch.Generator().manual_seed(1)
    net = _BNN(gen)
    opt = Metaplastic(net.parameters(), lr=0.005, m=m)
    history = []
    for k, perm in enumerate(perms):
        xk = x[:, perm]
        for _ in range(epochs):
            order = train[torch.randperm(len(train), generator=gen)]
            for i in range(0, len(order), 100):
                idx = order[i : i + 100]
                loss = torch.nn.functional.cross_entropy(net(xk[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            history.append(
                [(net(x[test][:, perms[j]]).argmax(1) == y[test]).float().mean().item() for j in range(k + 1)]
            )
    return history


def test_metaplasticity_protects_earlier_tasks():
    """5 permuted-digit tasks in sequence (scikit-learn's 8x8 digits, 1400 train / 397 test), a
    binarized network, 10 epochs per task. Accuracy on the 4 earlier tasks after the last one is
    clearly higher with m > 0 than with plain Adam (m = 0).

    The runs are ~100x shorter than the paper's (140 updates per task instead of ~24000), so the
    hidden weights stay ~10-100x smaller; m is scaled up accordingly (only m * W matters)."""
    x, y = _digits()
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(x), generator=g)
    train, test = order[:1400], order[1400:]
    perms = [torch.arange(64)] + [torch.randperm(64, generator=g) for _ in range(4)]
    plain = _continual_run(0.0, x, y, train, test, perms)
    meta = _continual_run(20.0, x, y, train, test, perms)
    earlier_plain = sum(plain[-1][:-1]) / 4
    earlier_meta = sum(meta[-1][:-1]) / 4
    print(
        f"\npermuted digits, 5 tasks: earlier-task accuracy after the last task "
        f"m=0: {earlier_plain:.3f} {[round(a, 3) for a in plain[-1]]}, "
        f"m=20: {earlier_meta:.3f} {[round(a, 3) for a in meta[-1]]}; "
        f"newest task after each task m=0 {[round(h[-1], 3) for h in plain]}, "
        f"m=20 {[round(h[-1], 3) for h in meta]}"
    )
    assert all(h[-1] > 0.9 for h in plain)  # each task is learned
    assert earlier_meta > earlier_plain + 0.2
    assert meta[-1][-1] > 0.5  # still learns the newest task


# ---------------------------------------------------------------------------------------------
# fast / slow weights


def test_fast_slow_decay_and_consolidation():
    w = torch.nn.Parameter(torch.zeros(3, dtype=F64))
    opt = FastSlow(torch.optim.SGD([w], lr=1.0), fast_decay=0.25, consolidation=0.5)
    w.grad = torch.tensor([-1.0, 2.0, 0.0], dtype=F64)
    opt.step()
    assert w.tolist() == [0.75, -1.5, 0.0] and opt.slow(w).tolist() == [0.0, 0.0, 0.0]
    w.grad = torch.zeros(3, dtype=F64)
    opt.step()  # no gradient: the fast part decays toward the slow weights
    assert w.tolist() == pytest.approx([0.75 * 0.75, -1.5 * 0.75, 0.0])
    fast = opt.fast(w)
    opt.consolidate()
    assert opt.slow(w).tolist() == pytest.approx((0.5 * fast).tolist())
    assert torch.equal(w.detach(), opt.slow(w)) and opt.fast(w).abs().max().item() == 0.0
    state = opt.state_dict()
    other_w = torch.nn.Parameter(torch.zeros(3, dtype=F64))
    other = FastSlow(torch.optim.SGD([other_w], lr=1.0))
    other.load_state_dict(state)
    assert torch.equal(other.slow(other_w), opt.slow(w)) and other.fast_decay == 0.25


def test_fast_slow_without_decay_is_the_wrapped_optimizer(gen):
    a = torch.nn.Parameter(torch.randn(4, 3, generator=gen))
    b = torch.nn.Parameter(a.detach().clone())
    wrapped = FastSlow(torch.optim.Adam([a], lr=0.01), fast_decay=0.0)
    plain = torch.optim.Adam([b], lr=0.01)
    for _ in range(10):
        g = torch.randn(4, 3, generator=gen)
        a.grad, b.grad = g.clone(), g.clone()
        wrapped.step()
        plain.step()
    assert torch.equal(a, b)


# ---------------------------------------------------------------------------------------------
# CLASSP


def test_classp_threshold_and_decaying_rates():
    w = torch.nn.Parameter(torch.zeros(4, dtype=F64))
    opt = CLASSP([w], lr=0.1, threshold=0.5, power=2.0, eps=1e-8)
    g = torch.tensor([0.4, 1.0, -2.0, 0.5], dtype=F64)  # 0.4 and 0.5 are not above the threshold
    steps = []
    for k in range(1, 6):
        before = w.detach().clone()
        w.grad = g.clone()
        opt.step()
        steps.append(w.detach() - before)
        assert steps[-1][0].item() == 0.0 and steps[-1][3].item() == 0.0  # never moved
        # S = k g^2, so the step is lr g / sqrt(eps + k g^2) -> lr sign(g) / sqrt(k)
        assert steps[-1][1].item() == pytest.approx(-0.1 * 1.0 / math.sqrt(1e-8 + k * 1.0), rel=1e-12)
        assert steps[-1][2].item() == pytest.approx(0.1 * 2.0 / math.sqrt(1e-8 + k * 4.0), rel=1e-12)
    assert abs(steps[-1][1].item()) < abs(steps[0][1].item()) / 2  # learning rates decay
    rates = opt.learning_rates(w)
    assert rates[0].item() == pytest.approx(0.1 / math.sqrt(1e-8))  # sub-threshold: untouched
    assert rates[1].item() == pytest.approx(0.1 / math.sqrt(1e-8 + 5.0))
