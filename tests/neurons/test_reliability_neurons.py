"""Issue 16, reliability of the neuron modules: NaN/inf input raises (once per call, opt-out),
``load_state_dict`` mistakes raise typed errors and change nothing, and parameters given as Python
floats keep their exact value through ``.double()``."""

from __future__ import annotations

import math

import pytest
import torch

import spikeforge as sf
from spikeforge.errors import DTypeError, ParameterError, ShapeError
from spikeforge.neurons import ALIF, IF, LI, LIF, MPBNLIF, Izhikevich
from spikeforge.neurons.probabilistic import ProbabilisticNeuron

MODELS = [LIF, ALIF, IF, LI, Izhikevich, MPBNLIF, ProbabilisticNeuron]


# ---------------------------------------------------------------- non-finite input
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_input_raises_naming_step_and_index(model, bad):
    x = torch.ones(6, 2, 3)
    x[4, 1, 2] = bad
    with pytest.raises(ParameterError, match=r"non-finite input x: .* at time step 4, index \[1, 2\]"):
        model(3)(x)
    with pytest.raises(ParameterError, match=r"non-finite input x: .* at index \[1, 2\]"):
        model(3).step(x[4])


@pytest.mark.parametrize("model", MODELS)
def test_the_check_can_be_switched_off(model):
    layer = model(3)
    layer.check_finite = False
    x = torch.ones(4, 2, 3)
    x[1, 0, 0] = math.nan
    out, _ = layer(x)  # no error: the caller took responsibility
    assert out.shape == x.shape


def test_large_finite_input_whose_sum_overflows_is_no_error():
    x = torch.full((5, 4, 3), 3e38)  # each value finite in float32, the sum is not
    z, _ = LIF(3)(x)
    assert z.shape == x.shape


@pytest.mark.parametrize("model", [Izhikevich, LI, ProbabilisticNeuron, LIF])
def test_a_sequence_is_checked_once_not_per_step(model, monkeypatch):
    calls = []
    original = sf.neurons.base.NeuronModule._check_finite_input

    def counting(self, *args, **kwargs):
        calls.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(sf.neurons.base.NeuronModule, "_check_finite_input", counting)
    model(3)(torch.ones(20, 2, 3))
    assert len(calls) == 1


def test_a_gradient_flows_through_a_checked_input():
    x = torch.rand(5, 2, 3, requires_grad=True)
    z, _ = LIF(3, v_th=0.01)(x * 10)
    z.sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())


# ---------------------------------------------------------------- load_state_dict
def _bad_states(sd):
    return [
        ({**sd, "junk": torch.zeros(1)}, ParameterError, r"unexpected keys \['junk'\].*keys allowed are"),
        ({k: v for k, v in sd.items() if k != "tau_mem"}, ParameterError, r"missing keys \['tau_mem'\]"),
        ({**sd, "tau_mem": torch.ones(5)}, ShapeError, r"tau_mem has shape \[5\], allowed is \[\]"),
        ({**sd, "tau_mem": torch.tensor(-1.0)}, ParameterError, r"tau_mem must be > 0 ms, got -1.0"),
        (
            {**sd, "v_reset": torch.tensor(2.0)},
            ParameterError,
            r"v_th must be > v_reset, got v_th 1.0 and v_reset 2.0",
        ),
        ({**sd, "v_leak": torch.tensor(math.nan)}, ParameterError, r"v_leak holds NaN"),
        ({**sd, "t_ref": torch.tensor(1)}, DTypeError, r"t_ref has dtype torch.int64"),
        ({**sd, "t_ref": torch.tensor(1e12)}, ParameterError, r"t_ref / dt must be at most"),
        ([1, 2], ParameterError, r"state_dict must map names to tensors, got list"),
    ]


@pytest.mark.parametrize("case", range(9))
def test_load_state_dict_mistakes_raise_typed_errors_and_change_nothing(case):
    layer = LIF(3, tau_mem=10.0, v_th=1.0)
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    bad, error, match = _bad_states(LIF(3, tau_mem=30.0).state_dict())[case]
    with pytest.raises(error, match=match):
        layer.load_state_dict(bad)
    after = layer.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_load_state_dict_checks_euler_stability_as_the_constructor():
    layer = LIF(3, integrator="euler", tau_mem=5.0)
    with pytest.raises(ParameterError, match=r"load_state_dict: dt=1.0 ms is too large for the Euler"):
        layer.load_state_dict({**layer.state_dict(), "tau_mem": torch.tensor(0.2)})
    assert layer.tau_mem.item() == 5.0


def test_load_state_dict_success_is_unchanged():
    src = ALIF(3, tau_mem=12.0, tau_adapt=80.0, learnable=("tau_mem", "v_th"))
    dst = ALIF(3, learnable=("tau_mem", "v_th"))
    assert str(dst.load_state_dict(src.state_dict())) == "<All keys matched successfully>"
    assert torch.allclose(dst.tau_mem, src.tau_mem) and torch.equal(dst.tau_adapt, src.tau_adapt)
    # non-strict: missing keys are reported, not raised, as by torch
    result = LIF(3).load_state_dict({"tau_mem": torch.tensor(7.0)}, strict=False)
    assert "v_th" in result.missing_keys


def test_sequential_load_state_dict_mistakes():
    model = sf.Sequential(torch.nn.Linear(4, 3), LIF(3))
    sd = model.state_dict()
    with pytest.raises(ShapeError, match=r"0.weight has shape \[3, 5\], allowed is \[3, 4\]"):
        model.load_state_dict({**sd, "0.weight": torch.zeros(3, 5)})
    with pytest.raises(ParameterError, match=r"layer 1.*tau_mem must be > 0"):
        model.load_state_dict({**sd, "1.tau_mem": torch.tensor(0.0)})
    with pytest.raises(ParameterError, match=r"unexpected keys \['2.weight'\]"):
        model.load_state_dict({**sd, "2.weight": torch.zeros(1)})
    model.load_state_dict(sd)


# ---------------------------------------------------------------- exact parameters
EXACT_CASES = [
    (
        LIF,
        {
            "tau_mem": 3.054,
            "tau_syn": 1.7,
            "v_th": 1.1,
            "v_reset": -0.3,
            "v_leak": 0.1,
            "r": 1.3,
            "t_ref": 0.3,
        },
    ),
    (ALIF, {"tau_mem": 7.3, "tau_adapt": 3.054, "beta": 0.17, "v_th": 0.7}),
    (IF, {"v_th": 0.7, "v_reset": -0.1, "r": 1.1}),
    (Izhikevich, {"a": 0.02, "b": 0.2, "c": -65.1, "d": 8.3, "v_peak": 30.1}),
    (ProbabilisticNeuron, {"tau_mem": 3.054, "temperature": 0.3, "release": 0.7, "v_th": 1.1}),
]


@pytest.mark.parametrize(("model", "params"), EXACT_CASES)
def test_python_floats_stay_exact_through_double(model, params):
    layer = model(2, **params).double()
    for name, value in params.items():
        got = getattr(layer, name)
        assert got.dtype == torch.float64
        assert bool((got == value).all()), (name, got, value)
    # also after a round trip through float32, and for a value set between runs
    layer = layer.float().double()
    assert bool((getattr(layer, next(iter(params))) == next(iter(params.values()))).all())


def test_exact_value_for_real_learnable_parameters_and_set_values():
    layer = LIF(2, v_leak=0.1, learnable=("v_leak",)).double()
    assert layer.v_leak.tolist() == [0.1, 0.1]
    lif = LIF(2)
    lif.v_reset = -0.3
    assert lif.double().v_reset.item() == -0.3


def test_a_changed_value_is_not_replaced_by_the_value_given():
    layer = LIF(2, v_th=1.1)
    layer.load_state_dict({**layer.state_dict(), "v_th": torch.tensor(1.25)})
    assert layer.double().v_th.item() == 1.25  # the loaded value, not the constructor's 1.1
    layer = LIF(2, tau_mem=3.054)
    layer.tau_mem.mul_(2.0)  # changed in place
    assert layer.double().tau_mem.item() == float(torch.tensor(3.054, dtype=torch.float32) * 2)


# ---------------------------------------------------------------- messages that misled (item 5)
def test_release_one_can_be_set_between_runs_as_in_the_constructor():
    neuron = ProbabilisticNeuron(3, release=0.5)
    neuron.release = 1.0  # the constructor's default; the setter said "must be in (0, 1)"
    assert bool((neuron.release == 1.0).all())
    with pytest.raises(ParameterError, match=r"release must be in \(0, 1\], got 1.5"):
        neuron.release = 1.5


def test_mpbn_threshold_message_says_it_is_on_the_normalized_membrane():
    with pytest.raises(
        ParameterError, match=r"MPBNLIF needs v_reset < v_th.*threshold theta on the normalized"
    ):
        MPBNLIF(3, v_th=-0.5)
    assert MPBNLIF(3, v_th=-0.5, v_reset=-1.5).v_th.item() == -0.5


def test_a_half_precision_round_trip_does_not_stick():
    layer = ALIF(2, tau_adapt=3.054).half().float()
    assert layer.tau_adapt.item() == float(torch.tensor(3.054, dtype=torch.float32))
    assert layer.double().tau_adapt.item() == 3.054


def test_sequential_names_the_layer_a_wrong_feature_size_reaches():
    model = sf.Sequential(torch.nn.Linear(4, 3), LIF(3))
    with pytest.raises(ShapeError, match=r"Sequential layer 0 \(Linear.*\) failed on x of shape \[5, 2, 6\]"):
        model(torch.rand(5, 2, 6))
