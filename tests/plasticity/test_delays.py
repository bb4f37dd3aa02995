"""Delays: the DCLS layer (gradients, the sigma -> 0 limit, rounding, chunking) and the ring
buffer, and the inter-channel timing task that only delays can solve."""

from __future__ import annotations

import pytest
import torch

from spikeforge.errors import ParameterError
from spikeforge.neurons import LIF
from spikeforge.plasticity import (
    DelayState,
    FixedDelay,
    LearnableDelay,
    delay_kernel,
    delayed_linear,
    sigma_schedule,
)

F64 = torch.float64


def shift_reference(x: torch.Tensor, w: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """y[t, b, j] = sum_i w[j, i] x[t - d[j, i], b, i], by loops (zero before the start)."""
    steps, batch, n_in = x.shape
    n_out = w.shape[0]
    y = torch.zeros(steps, batch, n_out, dtype=x.dtype)
    for j in range(n_out):
        for i in range(n_in):
            k = int(d[j, i])
            if k < steps:
                y[k:, :, j] += w[j, i] * x[: steps - k, :, i]
    return y


def exact_case(gen):
    """Weights in multiples of 1/4 and spike inputs: every sum is exact in floating point."""
    x = (torch.rand(30, 3, 4, generator=gen) < 0.3).to(F64)
    w = torch.randint(-4, 5, (5, 4), generator=gen).to(F64) / 4
    d = torch.randint(0, 9, (5, 4), generator=gen)
    return x, w, d


@pytest.mark.parametrize("method", ["direct", "spectral"])
def test_gradcheck_fractional_delays(method, gen):
    # 13 steps: the spectral method runs several blocks, the last one padded
    x = torch.rand(13, 2, 3, generator=gen, dtype=F64, requires_grad=True)
    w = torch.randn(2, 3, generator=gen, dtype=F64, requires_grad=True)
    d = (torch.rand(2, 3, generator=gen, dtype=F64) * 7 - 1).requires_grad_()  # some beyond the ends
    hist = torch.rand(5, 2, 3, generator=gen, dtype=F64, requires_grad=True)

    def f(x, w, d, hist):
        return delayed_linear(x, w, d, sigma=0.8, n_taps=6, history=hist, method=method)

    assert torch.autograd.gradcheck(f, (x, w, d, hist))
    layer = LearnableDelay(3, 2, max_delay=5.0, dt=1.0, sigma=0.8, generator=gen, method=method).double()
    y, _ = layer(x)
    y.square().sum().backward()
    assert layer.delay.grad is not None and layer.delay.grad.abs().min() > 0  # every delay learns


def test_gradcheck_kernel(gen):
    """The hand-written backward pass of the Gaussian taps against finite differences."""
    w = torch.randn(3, 4, generator=gen, dtype=F64, requires_grad=True)
    d = (torch.rand(3, 4, generator=gen, dtype=F64) * 9 - 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda w, d: delay_kernel(w, d, sigma=1.3, n_taps=8), (w, d))
    assert torch.autograd.gradcheck(lambda d: delay_kernel(w.detach(), d, sigma=0.4, n_taps=8), (d,))


def reference_conv(x, kernel, history):
    """y[t, b, j] = sum_{i, k} K[j, i, k] x[t - k, b, i], by a loop over taps (history before x)."""
    full = torch.cat([history, x])
    n_taps, steps = kernel.shape[-1], x.shape[0]
    return sum(full[n_taps - 1 - k : n_taps - 1 - k + steps] @ kernel[:, :, k].T for k in range(n_taps))


@pytest.mark.parametrize(
    ("steps", "n_taps", "batch"), [(30, 9, 3), (7, 12, 2), (300, 5, 2), (1, 4, 1), (64, 26, 8)]
)
def test_spectral_and_direct_match_a_loop_over_taps(steps, n_taps, batch, gen):
    """Both ways of computing the convolution (the spectral one in one block or several, with a
    padded last block) equal the sum over taps, with a history; float32 to its rounding."""
    x = torch.rand(steps, batch, 5, generator=gen, dtype=F64)
    w = torch.randn(4, 5, generator=gen, dtype=F64)
    d = torch.rand(4, 5, generator=gen, dtype=F64) * (n_taps - 1)
    hist = torch.rand(n_taps - 1, batch, 5, generator=gen, dtype=F64)
    expected = reference_conv(x, delay_kernel(w, d, sigma=1.7, n_taps=n_taps), hist)
    for method in ("direct", "spectral", "auto"):
        y = delayed_linear(x, w, d, sigma=1.7, n_taps=n_taps, history=hist, method=method)
        assert torch.allclose(y, expected, rtol=0, atol=1e-12), method
    x32, w32, d32, h32 = (t.float() for t in (x, w, d, hist))
    y32 = delayed_linear(x32, w32, d32, sigma=1.7, n_taps=n_taps, history=h32, method="spectral")
    assert y32.dtype == torch.float32
    assert torch.allclose(y32.double(), expected, rtol=0, atol=2e-5 * n_taps)


def test_spectral_blocks_bound_the_kernel_spectrum():
    from spikeforge.plasticity._spectral import spectral_cost as _spectral_cost

    block, _ = _spectral_cost(1000, 26, 32)  # a long sequence is cut into blocks
    assert block < 1000 and block + 25 <= max(256, 8 * 26)
    assert _spectral_cost(100, 26, 32)[0] <= 100


def test_spectral_gradients_in_chunks_equal_the_direct_ones(gen, monkeypatch):
    """The spectral method makes the kernel spectrum a few frequencies at a time (a bounded
    buffer); with chunks of one frequency its output and its gradients with respect to the input,
    the history, the weights and the delays equal those of the direct convolution."""
    from spikeforge.plasticity import _spectral

    monkeypatch.setattr(_spectral, "CHUNK_BYTES", 1)  # one frequency (three rows) per chunk
    x = torch.rand(40, 3, 5, generator=gen, dtype=F64)
    hist = torch.rand(8, 3, 5, generator=gen, dtype=F64)
    w = torch.randn(4, 5, generator=gen, dtype=F64)
    d = torch.rand(4, 5, generator=gen, dtype=F64) * 8
    grads = {}
    for method in ("direct", "spectral"):
        leaves = [t.clone().requires_grad_() for t in (x, hist, w, d)]
        y = delayed_linear(
            leaves[0], leaves[2], leaves[3], sigma=1.1, n_taps=9, history=leaves[1], method=method
        )
        (y * torch.linspace(-1, 1, y.numel(), dtype=F64).view_as(y)).sum().backward()
        grads[method] = [y.detach()] + [t.grad for t in leaves]
    for name, a, b in zip(("y", "x", "history", "weight", "delay"), grads["direct"], grads["spectral"]):
        assert torch.allclose(a, b, rtol=0, atol=1e-11), name


def test_layer_scratch_buffers_do_not_leak_between_calls(gen):
    """A layer reuses its scratch buffers between calls; two forward passes before one backward
    pass give the gradients of the pure function (which allocates afresh)."""
    layer = LearnableDelay(5, 4, max_delay=8.0, dt=1.0, sigma=1.3, generator=gen, method="spectral").double()
    x1 = torch.rand(30, 2, 5, generator=gen, dtype=F64, requires_grad=True)
    x2 = torch.rand(30, 2, 5, generator=gen, dtype=F64, requires_grad=True)
    y1, state = layer(x1)
    y2, _ = layer(x2, state)
    (y1.square().sum() + (y2 * y1.detach().flip(0)).sum()).backward()
    grads = [t.grad.clone() for t in (x1, x2, layer.weight, layer.delay)]
    leaves = [t.detach().clone().requires_grad_() for t in (x1, x2, layer.weight, layer.delay)]
    a, b, w, d = leaves
    kw = dict(sigma=1.3, n_taps=9, method="spectral")
    z1 = delayed_linear(a, w, d, **kw)
    z2 = delayed_linear(b, w, d, history=a[-8:], **kw)
    torch.testing.assert_close(z1, y1, rtol=0, atol=1e-12)
    (z1.square().sum() + (z2 * z1.detach().flip(0)).sum()).backward()
    for got, want in zip(grads, (t.grad for t in leaves)):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_kernel_has_no_subnormal_numbers(dtype, gen):
    """Far taps of a narrow Gaussian are exact zeros, not subnormal numbers (which slow a CPU's
    arithmetic tens of times); near taps are untouched."""
    w = torch.rand(64, 64, generator=gen, dtype=dtype) + 0.1
    d = torch.rand(64, 64, generator=gen, dtype=dtype) * 25
    for sigma in (0.5, 0.3, 0.1):
        k = delay_kernel(w, d, sigma=sigma, n_taps=26)
        subnormal = (k != 0) & (k.abs() < torch.finfo(dtype).tiny)
        assert not bool(subnormal.any()), sigma
        assert torch.allclose(k.sum(-1), w, rtol=1e-6)  # the mass is where it was


def test_bad_method_is_refused(gen):
    x = torch.rand(5, 1, 2, generator=gen)
    w, d = torch.ones(1, 2), torch.ones(1, 2)
    with pytest.raises(ParameterError, match="method"):
        delayed_linear(x, w, d, sigma=1.0, n_taps=3, method="fourier")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="sigma"):
        delayed_linear(x, w, d, sigma=1.0, n_taps=3, method="shift")
    with pytest.raises(ParameterError, match="method"):
        LearnableDelay(2, 1, max_delay=2.0, method="fft")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sigma", "method"), [(0.0, "auto"), (0.0, "shift"), (0.0, "direct"), (1e-3, "direct")]
)
def test_small_sigma_with_integer_delays_is_an_exact_shift(sigma, method, gen):
    x, w, d = exact_case(gen)
    layer = LearnableDelay(4, 5, max_delay=8.0, dt=1.0, sigma=sigma, delays=d.to(F64), method=method).double()
    with torch.no_grad():
        layer.weight.copy_(w)
    y, _ = layer(x)
    assert torch.equal(y, shift_reference(x, w, d))
    assert torch.equal(layer.rounded_delays().steps, d)


def test_small_sigma_spectral_is_a_shift_to_rounding(gen):
    x, w, d = exact_case(gen)
    for sigma in (0.0, 1e-3):
        y = delayed_linear(x, w, d.to(F64), sigma=sigma, n_taps=9, method="spectral")
        assert torch.allclose(y, shift_reference(x, w, d), rtol=0, atol=1e-12)


def test_rounded_delays_and_to_fixed(gen):
    layer = LearnableDelay(3, 2, max_delay=10.0, dt=0.5, generator=gen).double()
    with torch.no_grad():
        layer.delay.copy_(torch.tensor([[0.2, 3.6, 19.7], [-1.0, 25.0, 7.5]], dtype=F64))  # steps
    r = layer.rounded_delays()
    assert r.steps.tolist() == [[0, 4, 20], [0, 20, 8]]  # rounded, within [0, 20] (7.5 -> 8: half to even)
    assert r.ms.tolist() == [[0.0, 2.0, 10.0], [0.0, 10.0, 4.0]]
    assert r.steps.dtype == torch.int64
    layer.set_sigma(0.0)
    x = (torch.rand(40, 2, 3, generator=gen) < 0.3).to(F64)
    y, _ = layer(x)
    fixed = layer.to_fixed()
    yf, _ = fixed(x)
    assert torch.allclose(y, yf, rtol=0, atol=1e-12)
    assert torch.allclose(y, shift_reference(x, layer.weight.detach(), r.steps), rtol=0, atol=1e-12)


def test_kernel_is_normalised_and_centred(gen):
    w = torch.tensor([[2.0, -1.0]], dtype=F64)
    d = torch.tensor([[3.0, 4.5]], dtype=F64)
    k = delay_kernel(w, d, sigma=0.7, n_taps=10)
    assert torch.allclose(k.sum(-1), w, rtol=1e-14)
    centre = (k / w.unsqueeze(-1) * torch.arange(10, dtype=F64)).sum(-1)
    assert torch.allclose(centre, d, atol=1e-6)


def test_chunked_run_equals_one_run(gen):
    layer = LearnableDelay(3, 4, max_delay=6.0, dt=1.0, sigma=1.2, bias=True, generator=gen).double()
    x = torch.rand(25, 2, 3, generator=gen, dtype=F64)
    y, s = layer(x)
    y1, s1 = layer(x[:7])
    y2, s2 = layer(x[7:11], s1)
    y3, s3 = layer(x[11:], s2)
    assert torch.allclose(torch.cat([y1, y2, y3]), y, rtol=0, atol=1e-13)
    assert torch.equal(s3.buffer, s.buffer)
    ys, st = [], None
    for t in range(25):
        yt, st = layer.step(x[t], st)
        ys.append(yt)
    assert torch.allclose(torch.stack(ys), y, rtol=0, atol=1e-13)


@pytest.mark.parametrize("synaptic", [False, True])
def test_fixed_delay_ring_buffer(synaptic, gen):
    x = (torch.rand(30, 2, 4, generator=gen) < 0.4).to(F64)
    if synaptic:
        d = torch.randint(0, 6, (3, 4), generator=gen)
        w = torch.randint(-4, 5, (3, 4), generator=gen).to(F64) / 4
        line = FixedDelay(d.to(F64) * 2.0, dt=2.0, weight=w)
        expected = shift_reference(x, w, d)
    else:
        d = torch.tensor([0, 3, 1, 5])
        line = FixedDelay(d.to(F64) * 2.0, dt=2.0)
        expected = torch.stack(
            [torch.cat([torch.zeros(int(k), 2, dtype=F64), x[: 30 - int(k), :, i]]) for i, k in enumerate(d)],
            -1,
        )
    y, s = line(x)
    assert torch.equal(y, expected)
    ys, st = [], None  # step by step through the ring buffer
    for t in range(30):
        yt, st = line.step(x[t], st)
        ys.append(yt)
    assert torch.equal(torch.stack(ys), expected)
    assert isinstance(st, DelayState) and int(st.head) == 30 % line.n_slots
    # continuing from a stepped state (head != 0) equals continuing from a sequence state
    more = (torch.rand(9, 2, 4, generator=gen) < 0.4).to(F64)
    ya, _ = line(more, st)
    yb, _ = line(more, s)
    assert torch.equal(ya, yb)


def test_sigma_schedule():
    s = [sigma_schedule(e, 20, sigma_start=8.0, sigma_end=0.5, fraction=0.5) for e in range(20)]
    assert s[0] == 8.0 and s[10] == pytest.approx(0.5) and s[-1] == pytest.approx(0.5)
    assert all(a > b for a, b in zip(s[:10], s[1:11]))


# ---------------------------------------------------------------------------------------------
# the timing task

T, LAG, MAX_DELAY = 40, 5, 10


def timing_task(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two channels, one spike each, LAG ms apart: class 0 = channel 0 first, class 1 = channel 1
    first, at a random onset. Both classes have the same spikes per channel: only the order differs."""
    y = torch.randint(0, 2, (n,), generator=gen)
    t0 = torch.randint(0, T - LAG - MAX_DELAY - 1, (n,), generator=gen)
    x = torch.zeros(T, n, 2)
    first = y
    x[t0, torch.arange(n), first] = 1.0
    x[t0 + LAG, torch.arange(n), 1 - first] = 1.0
    return x, y


class TimingNet(torch.nn.Module):
    """LearnableDelay(2 -> 16) -> LIF coincidence detectors (tau_mem = 0.2 ms: no memory from
    one step to the next) -> spike counts -> Linear(16 -> 2)."""

    def __init__(self, learn_delays: bool, gen: torch.Generator) -> None:
        super().__init__()
        self.delay = LearnableDelay(
            2,
            16,
            max_delay=float(MAX_DELAY),
            dt=1.0,
            sigma=2.0 if learn_delays else 0.0,
            delays=None if learn_delays else 0.0,
            learn_delays=learn_delays,
            generator=gen,
        )
        with torch.no_grad():
            self.delay.weight.uniform_(0.8, 1.0, generator=gen)  # each spike alone stays below threshold
        self.lif = LIF(16, tau_mem=0.2, v_th=1.0)
        self.readout = torch.nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.delay(x)
        z, _ = self.lif(h)
        return self.readout(z.sum(0))


def train_timing(learn_delays: bool, epochs: int = 30) -> float:
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)  # nn.Linear's initialisation; the global state is restored by the caller
    net = TimingNet(learn_delays, gen)
    x_train, y_train = timing_task(512, gen)
    x_test, y_test = timing_task(512, gen)
    groups = [{"params": [net.delay.weight, *net.readout.parameters()], "lr": 1e-2}]
    if learn_delays:
        groups.append({"params": [net.delay.delay], "lr": 0.5})  # positions learn much faster (DCLS)
    opt = torch.optim.Adam(groups)
    for epoch in range(epochs):
        if learn_delays:
            net.delay.set_sigma(sigma_schedule(epoch, epochs, sigma_start=2.0, sigma_end=0.3, fraction=0.7))
        order = torch.randperm(512, generator=gen)
        for i in range(0, 512, 64):
            idx = order[i : i + 64]
            loss = torch.nn.functional.cross_entropy(net(x_train[:, idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    if learn_delays:
        net.delay.set_sigma(0.0)  # integer delays
    with torch.no_grad():
        return (net(x_test).argmax(1) == y_test).float().mean().item()


def test_learned_delays_solve_the_timing_task():
    rng = torch.get_rng_state()
    try:
        without = train_timing(False)
        with_delays = train_timing(True)
    finally:
        torch.set_rng_state(rng)
    print(
        f"\ntiming task (channel order, {LAG} ms lag): test accuracy without delays {without:.3f}, "
        f"with learned delays (rounded) {with_delays:.3f}"
    )
    assert with_delays >= 0.95
    assert abs(without - 0.5) < 0.1


def test_rounded_delays_drive_a_circuit_projection_to_the_same_sums(gen):
    """A trained layer's rounded delays and weights become a circuit projection's per-synapse
    delays: the summed weights reaching each target at each step equal the layer's output at
    sigma = 0 (the circuit delivers a spike of step k with delay D at the start of step k + 1 + D,
    so its synaptic state at step t + 1 is the layer's output at t)."""
    from spikeforge.circuits import Explicit, ExpSynapse, Network

    n_in, n_out, steps, dt = 5, 3, 60, 0.5
    layer = LearnableDelay(n_in, n_out, max_delay=6.0, dt=dt, sigma=0.0, generator=gen).double()
    with torch.no_grad():
        layer.delay.add_(0.3)  # off-grid delays, as training leaves them
    x = (torch.rand(steps, 1, n_in, generator=gen) < 0.2).double()
    y, _ = layer(x)

    r = layer.rounded_delays()
    post, pre = torch.meshgrid(torch.arange(n_out), torch.arange(n_in), indexing="ij")
    t_idx, _, i_idx = torch.nonzero(x, as_tuple=True)
    net = Network(dt=dt, seed=0, dtype=F64)
    net.add_spike_source("s", n_in, times=(t_idx * dt).tolist(), indices=i_idx.tolist())
    net.add_population("x", LIF(n_out, tau_mem=10.0, v_th=1e9, dt=dt).double())
    net.connect(
        "s",
        "x",
        rule=Explicit(pre.reshape(-1), post.reshape(-1)),
        weight=layer.weight.detach().reshape(-1),
        delay=r.ms.reshape(-1),
        synapse=ExpSynapse(1e-3),  # decays to 0 within a step: the state is the step's delivery
    )
    g = net.record_state("s->x", "g")
    net.run(steps * dt, progress=False)
    assert int((r.steps != (layer.delay.detach().round())).sum()) == 0
    assert torch.allclose(torch.as_tensor(g.values[1:]), y[:-1, 0], rtol=0, atol=1e-12)
    assert y.abs().sum() > 0
