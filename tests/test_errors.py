"""Bad input raises a spikeforge error at the point of misuse, naming the argument (STYLE.md
section 3, "Errors"; section 6, item 10)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from spikeforge import Sequential
from spikeforge.errors import (
    DTypeError,
    MissingDependencyError,
    ParameterError,
    ShapeError,
    SpikeforgeError,
    UnsupportedExportError,
)
from spikeforge.neurons import LIF, LIFState


def test_error_hierarchy():
    assert issubclass(ParameterError, ValueError) and issubclass(ParameterError, SpikeforgeError)
    assert issubclass(ShapeError, ValueError) and issubclass(ShapeError, SpikeforgeError)
    assert issubclass(DTypeError, TypeError) and issubclass(DTypeError, SpikeforgeError)
    assert issubclass(UnsupportedExportError, NotImplementedError)
    assert issubclass(MissingDependencyError, ImportError)
    assert issubclass(SpikeforgeError, Exception)


def test_negative_tau_mem_message():
    with pytest.raises(ParameterError, match="tau_mem") as info:
        LIF(10, tau_mem=-5.0)
    assert "-5.0" in str(info.value) and "> 0" in str(info.value)
    with pytest.raises(ValueError):  # catchable as the builtin it derives from
        LIF(10, tau_mem=-5.0)


BAD_PARAMETERS = [
    (dict(tau_mem=-5.0), "tau_mem"),
    (dict(tau_mem=0.0), "tau_mem"),
    (dict(tau_mem=torch.tensor([20.0, -1.0, 20.0])), "tau_mem"),
    (dict(tau_syn=0.0), "tau_syn"),
    (dict(tau_syn=-2.0), "tau_syn"),
    (dict(dt=0.0), "dt"),
    (dict(dt=-1.0), "dt"),
    (dict(dt=float("nan")), "dt"),
    (dict(dt=float("inf")), "dt"),
    (dict(v_reset=1.0, v_th=1.0), "v_reset"),
    (dict(v_reset=2.0, v_th=1.0), "v_reset"),
    (dict(v_th=torch.tensor([1.0, -1.0, 1.0])), "v_reset"),
    (dict(integrator="euler", tau_mem=0.5, dt=1.0), "Euler"),  # dt == 2 tau: unstable
    (dict(integrator="euler", tau_mem=0.4, dt=1.0), "Euler"),
    (dict(integrator="euler", tau_syn=0.5, dt=1.0), "tau_syn"),
    (dict(t_ref=-1.0), "t_ref"),
    (dict(reset="zero"), "reset"),
    (dict(integrator="rk4"), "integrator"),
    (dict(learnable=["tau"]), "learnable"),
    (dict(learnable="beta"), "learnable"),
    (dict(learnable=["tau_syn"]), "tau_syn"),  # no synaptic state to learn
    (dict(tau_mem=float("nan")), "tau_mem"),
    (dict(v_th=float("inf")), "v_th"),
    (dict(r=True), "r"),
    (dict(v_leak="0"), "v_leak"),
]


@pytest.mark.parametrize("kwargs,match", BAD_PARAMETERS, ids=[str(k) for k, _ in BAD_PARAMETERS])
def test_bad_parameters_raise_parameter_error(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        LIF(3, **kwargs)


@pytest.mark.parametrize("n", [0, -3, (2, 0), (), 2.5, True, "3"])
def test_bad_population_shape(n):
    with pytest.raises(ParameterError, match="n"):
        LIF(n)  # type: ignore[arg-type]


def test_parameter_that_does_not_broadcast_raises_shape_error():
    with pytest.raises(ShapeError, match="tau_mem"):
        LIF(4, tau_mem=torch.tensor([10.0, 20.0]))


def test_euler_accepts_dt_just_below_two_tau():
    assert LIF(3, tau_mem=0.51, dt=1.0, integrator="euler").integrator == "euler"
    assert LIF(3, tau_mem=0.5, dt=1.0).dt == 1.0  # the exact integrator has no stability limit


@pytest.mark.parametrize(
    "method,shape",
    [("forward", (5, 3, 7)), ("forward", (5, 10, 3)), ("forward", (10,)), ("step", (3, 7)), ("step", (9,))],
)
def test_wrong_input_shape_names_expected_shape(method, shape):
    lif = LIF(10)
    with pytest.raises(ShapeError, match=r"LIF\(10\).*10\].*got \[" + ", ".join(map(str, shape))):
        getattr(lif, method)(torch.zeros(shape))


def test_wrong_input_shape_for_multidimensional_population():
    lif = LIF((2, 3))
    with pytest.raises(ShapeError, match=r"\[T, \*batch, 2, 3\]"):
        lif(torch.zeros(4, 3, 2))


def test_scan_and_forward_name_the_time_dimension():
    with pytest.raises(ShapeError, match=r"\[T, \*batch, 10\]"):
        LIF(10).scan(torch.zeros(5, 7))


def test_state_of_wrong_shape_raises_shape_error():
    lif = LIF(4)
    good = lif.init_state((2,))
    bad = LIFState(good.v[:1], good.i, good.ref)
    with pytest.raises(ShapeError, match="state.v"):
        lif(torch.zeros(5, 2, 4), bad)
    with pytest.raises(ShapeError, match="state.v"):
        lif.step(torch.zeros(2, 4), bad)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, torch.uint8])
def test_integer_input_raises_dtype_error(dtype):
    lif = LIF(4)
    with pytest.raises(DTypeError, match="x must have a floating dtype") as info:
        lif(torch.zeros((5, 4), dtype=dtype))
    assert str(dtype) in str(info.value)
    with pytest.raises(TypeError):
        lif.step(torch.zeros(4, dtype=dtype))


@pytest.mark.parametrize("value", [[[0.0] * 4] * 5, np.zeros((5, 4)), 1.0, None])
def test_non_tensor_input_raises_dtype_error(value):
    with pytest.raises(DTypeError, match=r"torch\.Tensor"):
        LIF(4)(value)
    with pytest.raises(DTypeError, match=r"torch\.Tensor"):
        LIF(4).step(value)


def test_sequential_input_and_state_errors():
    model = Sequential(nn.Linear(6, 4), LIF(4))
    with pytest.raises(ShapeError, match=r"\[T, B, \*features\]"):
        model(torch.zeros(5, 6))
    _, states = model(torch.zeros(5, 2, 6))
    with pytest.raises(ShapeError, match="state"):
        model(torch.zeros(5, 2, 6), states[:1])
    with pytest.raises(ShapeError, match=r"LIF\(4\)"):
        Sequential(nn.Linear(6, 5), LIF(4))(torch.zeros(5, 2, 6))
