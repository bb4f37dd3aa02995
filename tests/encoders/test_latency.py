"""Latency coding: one spike per input above threshold, at the formula's time within one dt,
monotone in x, and decoding that inverts the code within the time quantisation."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.encoders import latency, latency_decode
from spikeforge.errors import DTypeError, ParameterError, ShapeError

F64 = torch.float64
TAU, THETA, DT, STEPS = 20.0, 0.1, 0.5, 400  # window (T - 1) dt = 199.5 ms


def first_step(z: torch.Tensor) -> torch.Tensor:
    return (z != 0).to(torch.uint8).argmax(0)


def log_time(x: float) -> float:
    """t = tau ln(x / (x - theta)), written independently of the encoder."""
    return TAU * math.log(x / (x - THETA))


def test_log_code_one_spike_per_input_above_threshold_at_the_formula_time():
    x = torch.cat([torch.linspace(-0.5, THETA, 50, dtype=F64), torch.linspace(0.1001, 3.0, 2000, dtype=F64)])
    z = latency(x, STEPS, DT, tau=TAU, threshold=THETA)
    assert z.shape == (STEPS, x.numel()) and z.dtype == F64
    counts = z.sum(0)
    assert set(z.unique().tolist()) <= {0.0, 1.0} and counts.max() == 1
    times = [log_time(v) if v > THETA else math.inf for v in x.tolist()]
    in_window = torch.tensor([t <= (STEPS - 1) * DT for t in times])
    assert torch.equal(counts, in_window.to(F64))  # no spike at or below threshold, nor after the window
    assert in_window.sum() > 1900
    k = first_step(z)
    for i in torch.nonzero(in_window).flatten().tolist():
        assert abs(k[i].item() * DT - times[i]) <= DT / 2 + 1e-12, (x[i].item(), k[i].item(), times[i])


def test_linear_code_every_input_spikes_once_at_the_formula_time():
    x = torch.rand(3, 500, generator=torch.Generator().manual_seed(0), dtype=F64)
    x[0, :2] = torch.tensor([0.0, 1.0])
    t_max = 40.0
    z = latency(x, 100, DT, method="linear", t_max=t_max)
    assert z.shape == (100, 3, 500)
    assert torch.equal(z.sum(0), torch.ones_like(x))
    err = first_step(z).to(F64) * DT - t_max * (1 - x)
    assert err.abs().max() <= DT / 2 + 1e-12
    assert first_step(z)[0, 0] == 80 and first_step(z)[0, 1] == 0
    # default t_max: (T - 1) dt, so x = 0 spikes at the last step
    assert first_step(latency(torch.tensor([0.0, 1.0]), 11, method="linear")).tolist() == [10, 0]


@pytest.mark.parametrize("method", ["log", "linear"])
def test_latency_is_monotone_in_x(method):
    x = torch.linspace(0.11 if method == "log" else 0.0, 1.0, 3000, dtype=F64)
    kw = dict(tau=TAU, threshold=THETA) if method == "log" else {}
    k = first_step(latency(x, STEPS, DT, method=method, **kw))
    assert (torch.diff(k) <= 0).all()  # larger inputs never spike later
    assert k[0] > k[-1]


def test_decode_inverts_within_the_quantisation():
    x = torch.linspace(0.1005, 2.0, 1000, dtype=F64)
    z = latency(x, STEPS, DT, tau=TAU, threshold=THETA)
    fired = z.sum(0) > 0
    x_hat = latency_decode(z, DT, tau=TAU, threshold=THETA, silent=-1.0)
    assert (x_hat[~fired] == -1.0).all()
    assert torch.equal(latency(x_hat, STEPS, DT, tau=TAU, threshold=THETA), z)  # same spikes
    for v, vh in zip(x[fired].tolist(), x_hat[fired].tolist()):
        t_hat = 0.0 if math.isinf(vh) else log_time(vh)
        assert abs(t_hat - log_time(v)) <= DT / 2 + 1e-9

    x = torch.rand(2000, generator=torch.Generator().manual_seed(1), dtype=F64)
    t_max = 30.0
    z = latency(x, 100, DT, method="linear", t_max=t_max)
    x_hat = latency_decode(z, DT, method="linear", t_max=t_max)
    assert (x_hat - x).abs().max() <= DT / (2 * t_max) + 1e-12
    assert torch.equal(latency(x_hat.clamp(0, 1), 100, DT, method="linear", t_max=t_max), z)


def test_decode_uses_the_first_spike_and_any_dtype():
    z = torch.zeros(10, 3, dtype=torch.bool)
    z[4, 0] = z[7, 0] = z[2, 1] = True
    x_hat = latency_decode(z, 1.0, method="linear", t_max=9.0)
    assert x_hat.dtype == torch.get_default_dtype()
    assert torch.allclose(x_hat, torch.tensor([1 - 4 / 9, 1 - 2 / 9, 0.0]))


def test_bad_input():
    x = torch.tensor([0.2, 0.5])
    with pytest.raises(DTypeError, match="x"):
        latency(torch.tensor([1, 2]), 10)
    with pytest.raises(ParameterError, match=r"x must not be NaN.*nan"):
        latency(torch.tensor([0.2, float("nan")]), 10)
    with pytest.raises(ParameterError, match=r"\[0, 1\].*1\.5"):
        latency(torch.tensor([0.2, 1.5]), 10, method="linear")
    with pytest.raises(ParameterError, match="tau"):
        latency(x, 10, method="linear", tau=5.0)
    with pytest.raises(ParameterError, match="t_max"):
        latency(x, 10, method="log", t_max=5.0)
    with pytest.raises(ParameterError, match="method"):
        latency(x, 10, method="exp")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="tau"):
        latency(x, 10, tau=0.0)
    with pytest.raises(ParameterError, match="threshold"):
        latency(x, 10, threshold=-1.0)
    with pytest.raises(ParameterError, match="steps"):
        latency(x, 0)
    with pytest.raises(ShapeError, match="spikes"):
        latency_decode(torch.tensor(1.0))
    with pytest.raises(ParameterError, match="t_max"):
        latency_decode(torch.ones(1, 2), method="linear")  # window of one step: t_max = 0
