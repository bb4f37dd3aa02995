"""Surrogate spike functions: Heaviside forward, closed-form backward, validation, and custom
subclasses inside LIF's fused scan."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

from spikeforge.errors import ParameterError
from spikeforge.neurons import LIF
from spikeforge.neurons.lif import _loop_scan
from spikeforge.surrogate import ATan, FastSigmoid, StraightThrough, Surrogate, Triangle, heaviside

F64 = torch.float64

# each surrogate with its closed-form derivative sigma'(x), written independently of the library
FORMULAS = [
    (FastSigmoid(10.0), lambda x: 1.0 / (1.0 + 10.0 * x.abs()) ** 2),
    (FastSigmoid(100.0), lambda x: 1.0 / (1.0 + 100.0 * x.abs()) ** 2),
    (ATan(2.0), lambda x: 1.0 / (1.0 + (math.pi * x) ** 2)),
    (ATan(5.0), lambda x: 2.5 / (1.0 + (2.5 * math.pi * x) ** 2)),
    (Triangle(1.0), lambda x: torch.clamp(1.0 - x.abs(), min=0.0)),
    (Triangle(0.25), lambda x: torch.clamp(1.0 - x.abs() / 0.25, min=0.0) / 0.25),
    (StraightThrough(0.5), lambda x: (x.abs() <= 0.5).to(x.dtype)),
    (StraightThrough(), lambda x: torch.ones_like(x)),
]
IDS = [repr(s) for s, _ in FORMULAS]


def points() -> torch.Tensor:
    x = torch.linspace(-3.0, 3.0, 1201, dtype=F64)  # includes 0 and the window edges +-0.25, +-0.5, +-1
    return torch.cat([x, torch.tensor([-1e-9, 1e-9, 1e3, -1e3], dtype=F64)])


@pytest.mark.parametrize("surrogate,formula", FORMULAS, ids=IDS)
def test_backward_matches_closed_form(surrogate, formula):
    x = points().requires_grad_()
    surrogate(x).sum().backward()
    expected = formula(x.detach())
    torch.testing.assert_close(x.grad, expected, rtol=1e-14, atol=1e-15)
    # grad() is the same function (the fused LIF kernel calls it directly)
    torch.testing.assert_close(surrogate.grad(x.detach()), expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("surrogate,formula", FORMULAS, ids=IDS)
def test_backward_scales_the_incoming_gradient(surrogate, formula, gen):
    x = points().requires_grad_()
    upstream = torch.randn(x.shape, generator=gen, dtype=F64)
    (grad,) = torch.autograd.grad(surrogate(x), x, upstream)
    torch.testing.assert_close(grad, upstream * formula(x.detach()), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("surrogate", [s for s, _ in FORMULAS], ids=IDS)
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_forward_is_heaviside_with_zero_at_zero(surrogate, dtype):
    x = torch.tensor([-2.0, -1e-30, 0.0, -0.0, 1e-30, 0.5, 2.0], dtype=dtype)
    z = surrogate(x)
    assert z.dtype == dtype
    assert z.tolist() == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert torch.equal(heaviside(x), z)


def test_surrogate_peaks_and_unit_areas():
    x = torch.linspace(-200.0, 200.0, 2_000_001, dtype=F64)
    dx = (x[1] - x[0]).item()
    zero = torch.zeros(1, dtype=F64)
    assert FastSigmoid(25.0).grad(zero).item() == 1.0
    assert ATan(5.0).grad(zero).item() == 2.5
    assert Triangle(0.5).grad(zero).item() == 2.0
    # ATan and Triangle have unit area (they are derivatives of a step from 0 to 1)
    assert torch.trapezoid(Triangle(0.5).grad(x), dx=dx).item() == pytest.approx(1.0, abs=1e-6)
    atan_area = torch.trapezoid(ATan(5.0).grad(x), dx=dx).item()
    # integral over [-L, L] of the ATan derivative: (2/pi) atan(pi a L / 2), 1 as L -> inf
    assert atan_area == pytest.approx(2 / math.pi * math.atan(math.pi * 5.0 * 200.0 / 2), abs=1e-6)


@pytest.mark.parametrize("cls", [FastSigmoid, ATan, Triangle, StraightThrough])
@pytest.mark.parametrize("bad", [0, 0.0, -1.0, -1e-9, float("nan"), "1.0", None, True])
def test_invalid_slope_or_width_raises_parameter_error(cls, bad):
    with pytest.raises(ParameterError, match=cls.__name__):
        cls(bad)


def test_surrogates_are_immutable_values():
    s = FastSigmoid(10.0)
    assert s == FastSigmoid(10.0) and s != FastSigmoid(11.0)
    with pytest.raises(AttributeError):
        s.slope = 3.0  # type: ignore[misc]


def test_base_class_grad_is_abstract():
    with pytest.raises(NotImplementedError):
        Surrogate().grad(torch.zeros(2))


@dataclass(frozen=True)
class Gaussian(Surrogate):
    """A user-defined surrogate: a Gaussian bump of unit area."""

    sigma: float = 0.3

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * (x / self.sigma) ** 2) / (self.sigma * math.sqrt(2 * math.pi))


def test_custom_surrogate_in_autograd():
    x = points().requires_grad_()
    g = Gaussian(0.3)
    z = g(x)
    assert torch.equal(z, heaviside(x.detach()))
    z.sum().backward()
    torch.testing.assert_close(x.grad, g.grad(x.detach()))


@pytest.mark.parametrize("reset", ["to_value", "subtract"])
@pytest.mark.parametrize("detach_reset", [True, False])
def test_custom_surrogate_in_fused_scan_matches_loop(gen, reset, detach_reset):
    lif = LIF(
        8,
        tau_syn=5.0,
        t_ref=1.0,
        surrogate=Gaussian(0.3),
        reset=reset,
        detach_reset=detach_reset,
        learnable=["tau_mem", "v_th"],
    ).double()
    x = (0.3 + 0.5 * torch.randn((60, 3, 8), generator=gen, dtype=F64)).requires_grad_()
    fused = lif.scan(x, record=True)
    state = lif.init_state((3,), dtype=F64)
    loop = _loop_scan(
        x,
        state,
        lif.params(F64),
        record=True,
        dt=lif.dt,
        spike_fn=lif.surrogate,
        reset=reset,
        integrator="exact",
        detach_reset=detach_reset,
    )
    assert torch.equal(fused.output, loop.output)
    assert fused.output.sum() > 0
    inputs = [x, *lif.parameters()]
    ga = torch.autograd.grad(fused.output.sum() + fused.trace.v.pow(2).sum(), inputs)
    gb = torch.autograd.grad(loop.output.sum() + loop.trace.v.pow(2).sum(), inputs)
    for a, b in zip(ga, gb):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12 * b.abs().max().item())
    # and the custom grad was really used: the default surrogate gives a different gradient
    default = LIF(8, tau_syn=5.0, t_ref=1.0, reset=reset, detach_reset=detach_reset).double()
    res = default.scan(x, record=True)
    (g_default,) = torch.autograd.grad(res.output.sum(), x)
    (g_custom,) = torch.autograd.grad(lif.scan(x).output.sum(), x)
    assert not torch.allclose(g_default, g_custom)


def test_surrogate_is_validated_by_lif():
    with pytest.raises(ParameterError, match="surrogate"):
        LIF(3, surrogate=1.0)  # type: ignore[arg-type]
