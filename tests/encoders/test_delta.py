"""Delta (send-on-delta) coding: the reference stays within the threshold of the signal at every
step (exactly), constant input sends nothing, and the events rebuild the signal; checked against a
scalar pure-Python reference of the rule."""

from __future__ import annotations

import pytest
import torch

from spikeforge.encoders import delta, delta_decode, split_polarity
from spikeforge.errors import DTypeError, ParameterError, ShapeError

F64 = torch.float64


def reference_events(x: list[float], theta: float) -> list[int]:
    """The rule, one event at a time, on Python floats (float64): x_ref = x0 + m * theta."""
    x0, m, out = x[0], 0, []
    for v in x:
        n = 0
        while v - (x0 + m * theta) >= theta:
            m, n = m + 1, n + 1
        while v - (x0 + m * theta) <= -theta:
            m, n = m - 1, n - 1
        out.append(n)
    return out


def walk(T: int, n: int, seed: int, dtype: torch.dtype = F64, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    steps = torch.randn(T, n, generator=g, dtype=F64) * scale
    jumps = (torch.rand(T, n, generator=g, dtype=F64) < 0.02) * torch.randn(T, n, generator=g, dtype=F64) * 20
    return torch.cumsum(steps + jumps, 0).to(dtype)


def test_events_follow_the_rule_exactly():
    x = walk(300, 6, seed=0)
    for theta in (0.1, 0.37, 1.0):
        ev = delta(x, theta)
        for i in range(x.shape[1]):
            assert ev[:, i].tolist() == reference_events(x[:, i].tolist(), theta)
    assert ev.abs().max() > 5  # jumps of several thresholds send several events in one step


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_reference_stays_within_threshold_at_every_step(dtype):
    x = walk(1000, 20, seed=1, dtype=dtype, scale=0.3) + 50.0  # float32 with an offset: rounding at work
    theta = torch.linspace(0.05, 2.0, 20, dtype=dtype)  # one threshold per element
    ev = delta(x, theta)
    assert ev.dtype == dtype and torch.equal(ev, ev.round())
    ref = delta_decode(ev, theta, x[0])
    err = x - ref
    assert bool((err.abs() < theta).all()), (err.abs() / theta).max()
    # each event was due: before the last event of a step the signal was >= theta away
    before_last = ref - torch.sign(ev) * theta
    sent = ev != 0
    assert bool(((x - before_last).abs()[sent] >= theta.expand_as(x)[sent]).all())


def test_constant_input_sends_no_events():
    x = torch.full((500, 4), 3.7, dtype=F64)
    assert torch.count_nonzero(delta(x, 0.1)) == 0
    # a step up, then constant: events only at the step
    x = torch.cat([torch.zeros(10, 3), torch.full((50, 3), 1.0)])
    ev = delta(x, 0.25)
    assert torch.count_nonzero(ev[:10]) == 0 and torch.count_nonzero(ev[11:]) == 0
    assert ev[10].tolist() == [4.0, 4.0, 4.0]


def test_reconstruction_within_threshold():
    t = torch.linspace(0, 1, 2000, dtype=F64)
    x = torch.stack([torch.sin(2 * torch.pi * 3 * t), 0.5 * torch.cos(2 * torch.pi * 7 * t) + t], dim=1)
    ev = delta(x, 0.05)
    rec = delta_decode(ev, 0.05, x[0])
    assert (rec - x).abs().max() < 0.05
    assert ((ev > 0).any(0) & (ev < 0).any(0)).all()  # both polarities


def test_initial_reference_and_chunked_continuation():
    x = torch.randint(-64, 64, (200, 5), generator=torch.Generator().manual_seed(2)).to(F64) / 16  # exact
    whole = delta(x, 0.25, initial=0.0)
    first = delta(x[:80], 0.25, initial=0.0)
    ref = delta_decode(first, 0.25, 0.0)[-1]
    second = delta(x[80:], 0.25, initial=ref)
    assert torch.equal(torch.cat([first, second]), whole)
    assert (whole[0] != 0).any()  # from initial=0 the first step sends events


def test_off_events_false_reports_only_on_events():
    x = walk(300, 4, seed=3)
    full = delta(x, 0.5)
    on = delta(x, 0.5, off_events=False)
    assert (on >= 0).all() and torch.equal(on, full.clamp(min=0))
    assert (full < 0).any()


def test_split_polarity():
    ev = torch.tensor([[2.0, -1.0, 0.0], [0.0, -3.0, 1.0]])
    on_off = split_polarity(ev)
    assert on_off.shape == (2, 3, 2)
    assert torch.equal(on_off[..., 0] - on_off[..., 1], ev) and (on_off >= 0).all()
    assert split_polarity(ev, dim=1).shape == (2, 2, 3)
    assert torch.signbit(on_off).sum() == 0  # no negative zeros


def test_bad_input():
    x = torch.zeros(5, 2)
    with pytest.raises(ParameterError, match="threshold"):
        delta(x, 0.0)
    with pytest.raises(ParameterError, match="threshold"):
        delta(x, torch.tensor([0.1, -0.1]))
    with pytest.raises(ShapeError, match="threshold"):
        delta(x, torch.ones(3))
    with pytest.raises(ParameterError, match=r"x must be finite.*inf"):
        delta(torch.tensor([[0.0], [float("inf")]]), 0.1)
    with pytest.raises(ParameterError, match="x must be finite"):
        delta(torch.tensor([[0.0], [float("nan")]]), 0.1)
    with pytest.raises(ShapeError, match="x"):
        delta(torch.tensor(1.0), 0.1)
    with pytest.raises(DTypeError, match="x"):
        delta(torch.zeros(5, 2, dtype=torch.int64), 0.1)
    with pytest.raises(ParameterError, match="threshold is too small"):
        delta(torch.tensor([[1e8], [1e8 + 64]], dtype=torch.float32), 1e-3)
    with pytest.raises(ParameterError, match="events"):
        delta_decode(torch.tensor([0.0, 0.5]), 0.1, 0.0)
