"""Bad parameters and inputs raise spikeforge errors naming the argument (STYLE.md section 3)."""

from __future__ import annotations

import pytest
import torch

from spikeforge.errors import ParameterError, ShapeError
from spikeforge.plasticity import (
    CLASSP,
    STDP,
    EligibilityTrace,
    FastSlow,
    FixedDelay,
    LearnableDelay,
    Metaplastic,
    RewardModulatedSTDP,
    SynapticScaling,
    ThreeFactor,
    ThresholdAdaptation,
    TripletSTDP,
)

BAD = [
    (lambda: STDP(tau_plus=-20.0), "tau_plus"),
    (lambda: STDP(tau_minus=0.0), "tau_minus"),
    (lambda: STDP(w_min=1.0, w_max=0.5), "w_min"),
    (lambda: STDP(w_min=0.5, w_max=0.5), "w_max"),
    (lambda: STDP(weight_dependence="hebbian"), "weight_dependence"),
    (lambda: STDP(weight_dependence="additive", mu_plus=0.5), "mu_plus"),
    (lambda: STDP(weight_dependence="soft", mu_minus=-1.0), "mu_minus"),
    (lambda: STDP(pairing="nearest_neighbour"), "pairing"),
    (lambda: STDP(batch_reduce="max"), "batch_reduce"),
    (lambda: STDP(bound="clip"), "bound"),
    (lambda: STDP(dt=0.0), "dt"),
    (lambda: STDP(a_plus=float("nan")), "a_plus"),
    (lambda: STDP(a_plus=True), "a_plus"),
    (lambda: TripletSTDP(tau_x=-101.0), "tau_x"),
    (lambda: TripletSTDP(tau_y=0.0), "tau_y"),
    (lambda: TripletSTDP(w_min=2.0), "w_min"),
    (lambda: TripletSTDP.from_preset("cortex"), "preset"),
    (lambda: EligibilityTrace(STDP(), tau_e=-1.0), "tau_e"),
    (lambda: EligibilityTrace(object(), tau_e=1.0), "rule"),  # type: ignore[arg-type]
    (lambda: ThreeFactor(tau_pre=-5.0), "tau_pre"),
    (lambda: ThreeFactor(tau_e=0.0), "tau_e"),
    (lambda: ThreeFactor(bound="hard"), "bound"),
    (lambda: ThreeFactor(w_min=1.0, w_max=0.0, bound="hard"), "w_min"),
    (lambda: RewardModulatedSTDP(tau_c=-1000.0), "tau_c"),
    (lambda: RewardModulatedSTDP(tau_d=0.0), "tau_d"),
    (lambda: RewardModulatedSTDP(w_min=4.0, w_max=0.0), "w_min"),
    (lambda: SynapticScaling(target_rate=-0.01), "target_rate"),
    (lambda: SynapticScaling(target_rate=0.01, tau_rate=-1.0), "tau_rate"),
    (lambda: ThresholdAdaptation(3, target_rate=0.0), "target_rate"),
    (lambda: Metaplastic([torch.nn.Parameter(torch.zeros(2))], m=-1.0), "m"),
    (lambda: Metaplastic([torch.nn.Parameter(torch.zeros(2))], lr=-1.0), "lr"),
    (lambda: Metaplastic([torch.nn.Parameter(torch.zeros(2))], betas=(0.9, 1.0)), "betas"),
    (lambda: CLASSP([torch.nn.Parameter(torch.zeros(2))], threshold=-0.1), "threshold"),
    (lambda: CLASSP([torch.nn.Parameter(torch.zeros(2))], power=0.0), "power"),
    (
        lambda: FastSlow(torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1), fast_decay=1.5),
        "fast_decay",
    ),
    (lambda: LearnableDelay(2, 3, max_delay=-5.0), "max_delay"),
    (lambda: LearnableDelay(2, 3, max_delay=2.5, dt=1.0), "max_delay"),
    (lambda: LearnableDelay(0, 3), "n_in"),
    (lambda: LearnableDelay(2, 3, max_delay=5.0, delays=7.0), "delays"),
    (lambda: LearnableDelay(2, 3, sigma=-1.0), "sigma"),
    (lambda: FixedDelay([1.0, -2.0]), "delays"),
    (lambda: FixedDelay([1.0, 1.5], dt=1.0), "delays"),
    (lambda: FixedDelay([1.0, 2.0], weight=torch.ones(2, 2)), "weight"),
]


@pytest.mark.parametrize("make,name", BAD, ids=[b[1] + str(i) for i, b in enumerate(BAD)])
def test_bad_parameter_raises_naming_it(make, name):
    with pytest.raises(ParameterError, match=name):
        make()


def test_negative_time_constant_message():
    with pytest.raises(ParameterError) as info:
        STDP(tau_plus=-20.0)
    assert str(info.value) == "tau_plus must be > 0 ms, got -20.0"
    with pytest.raises(ParameterError, match="w_min must be < w_max, got w_min=1.0 and w_max=0.5"):
        STDP(w_min=1.0, w_max=0.5)


def test_shape_errors_name_the_tensor():
    rule = STDP()
    w = torch.zeros(3, 4)
    with pytest.raises(ShapeError, match="pre"):
        rule.step(torch.zeros(5), torch.zeros(3), w)
    with pytest.raises(ShapeError, match="post"):
        rule.step(torch.zeros(4), torch.zeros(2), w)
    with pytest.raises(ShapeError, match="batch"):
        rule.step(torch.zeros(2, 4), torch.zeros(3, 3), w)
    _, state = rule.step(torch.zeros(2, 4), torch.zeros(2, 3), w)
    with pytest.raises(ShapeError, match="state.x_pre"):
        rule.step(torch.zeros(4), torch.zeros(3), w, state)
    with pytest.raises(ShapeError, match="modulator"):
        ThreeFactor().step(torch.zeros(4), torch.zeros(3), w, modulator=torch.ones(7))
    with pytest.raises(ShapeError, match="LearnableDelay"):
        LearnableDelay(2, 3)(torch.zeros(10, 4, 3))
    with pytest.raises(ShapeError, match="state.buffer"):
        layer = LearnableDelay(2, 3, max_delay=5.0)
        _, s = layer(torch.zeros(10, 4, 2))
        layer(torch.zeros(10, 5, 2), s)
