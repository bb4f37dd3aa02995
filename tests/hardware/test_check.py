"""``check``: a network that fits each target passes, and a seeded violation of each limit of
each target is caught and named."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.errors import ParameterError
from spikeforge.hardware import NIRGraphModule, check, targets
from spikeforge.hardware.targets import ChipTarget
from spikeforge.plasticity import FixedDelay

DT = 1.0


def _linear(n_in: int, n_out: int, gen: torch.Generator, *, bias: bool = False) -> nn.Linear:
    """Weights of magnitude 0.5..1 with random signs: nothing rounds to 0 at 4 bits."""
    lin = nn.Linear(n_in, n_out, bias=bias)
    with torch.no_grad():
        mag = 0.5 + 0.5 * torch.rand(n_out, n_in, generator=gen)
        sign = torch.where(torch.rand(n_out, n_in, generator=gen) < 0.5, -1.0, 1.0)
        lin.weight.copy_(mag * sign)
        if bias:
            lin.bias.fill_(0.1)
    return lin


def _neuron(t: ChipTarget, n: int, **kw) -> sf.neurons.LIF:
    """The neuron the target runs: IF (no leak) on Speck, else LIF with tau_mem = 4 dt (dash 2)."""
    tau = 1e9 if "LIF" not in t.neuron_types else 4 * DT
    reset = "to_value" if "to_zero" in t.resets else "subtract"
    args = dict(tau_mem=tau, dt=DT, reset=reset)
    args.update(kw)
    return sf.neurons.LIF(n, **args)


def fitting_net(t: ChipTarget, *, n_in: int = 8, hidden: tuple[int, ...] = (8,), n_out: int = 4, **kw):
    gen = torch.Generator().manual_seed(0)
    sizes = (n_in, *hidden, n_out)
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [_linear(a, b, gen), _neuron(t, b, **kw)]
    return sf.Sequential(*layers)


def _recurrent_graph(t: ChipTarget) -> NIRGraphModule:
    gen = torch.Generator().manual_seed(1)
    modules = {"lin": _linear(8, 8, gen), "lif": _neuron(t, 8), "rec": _linear(8, 8, gen)}
    edges = [("input", "lin"), ("lin", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")]
    return NIRGraphModule(
        modules=modules,
        edges=edges,
        input_name="input",
        output_name="output",
        order=["input", "lin", "lif", "rec", "output"],
        back_edges={("rec", "lif")},
        shapes={"input": (8,), "lin": (8,), "lif": (8,), "rec": (8,), "output": (8,)},
        input_shape=(8,),
    )


def violating_net(t: ChipTarget, limit: str) -> nn.Module:
    """A network that breaks ``limit`` of ``t`` (and fits otherwise as far as possible)."""
    gen = torch.Generator().manual_seed(2)
    if limit == "max_inputs":
        return fitting_net(t, n_in=t.max_inputs + 1)
    if limit == "max_outputs":
        return fitting_net(t, n_out=t.max_outputs + 1)
    if limit == "max_hidden":
        return fitting_net(t, hidden=(t.max_hidden + 1,))
    if limit == "max_neurons":
        return fitting_net(t, hidden=(t.max_neurons + 1,))
    if limit == "max_fan_in":
        return _fan_in_net(t, gen)
    if limit == "max_layers":
        return fitting_net(t, hidden=(4,) * t.max_layers)
    if limit == "weight_bits":
        net = fitting_net(t)
        with torch.no_grad():
            net[0].weight[0, 0] = 1e6  # every other weight rounds to 0
        return net
    if limit == "neuron_types":
        missing = [k for k in ("LIF", "CubaLIF", "IF") if k not in t.neuron_types]
        kw = {
            "LIF": dict(tau_mem=4 * DT),
            "CubaLIF": dict(tau_mem=4 * DT, tau_syn=4 * DT),
            "IF": dict(tau_mem=1e9),
        }
        if missing:
            return fitting_net(t, **kw[missing[0]])
        return sf.Sequential(_linear(8, 4, gen), sf.neurons.ALIF(4, dt=DT))
    if limit == "layer_types":
        net = fitting_net(t)
        return sf.Sequential(*net[:2], nn.Conv1d(1, 1, 3), *net[2:])
    if limit == "resets":
        if "subtract" not in t.resets:
            return fitting_net(t, reset="subtract")
        return fitting_net(t, reset="to_value", v_reset=-0.5)
    if limit == "max_delay_steps":
        net = fitting_net(t)
        delay = FixedDelay(torch.full((8,), (t.max_delay_steps + 1) * DT), dt=DT)
        return sf.Sequential(*net[:2], delay, *net[2:])
    if limit == "decay_range":
        # Xylo: dash round(log2(0.05)) = -4; Loihi 2: round(4096 (1 - exp(-20))) = 4096 > 4095
        return fitting_net(t, tau_mem=0.05 * DT)
    if limit == "recurrent":
        return _recurrent_graph(t)
    if limit == "refractory":
        return fitting_net(t, t_ref=2 * DT)
    if limit == "bias":
        net = fitting_net(t)
        lin = _linear(8, 8, gen, bias=True)
        return sf.Sequential(lin, *net[1:])
    raise AssertionError(f"no seeded violation for {limit}")


def _fan_in_net(t: ChipTarget, gen: torch.Generator) -> nn.Module:
    n = t.max_fan_in + 1
    return sf.Sequential(_linear(8, n, gen), _neuron(t, n), _linear(n, 4, gen), _neuron(t, 4))


CASES = [(t.name, limit) for t in targets() for limit in t.limits()]


@pytest.mark.parametrize("name", [t.name for t in targets()])
def test_a_network_that_fits_passes(name):
    t = targets(name)
    report = check(fitting_net(t), name)
    assert report.ok, str(report)
    assert report.violations == [] and report.target == name
    assert report.summary["neurons"] == 12 and report.summary["inputs"] == 8


@pytest.mark.parametrize(("name", "limit"), CASES, ids=[f"{n}-{lim}" for n, lim in CASES])
def test_each_limit_catches_a_seeded_violation(name, limit):
    t = targets(name)
    report = check(violating_net(t, limit), name)
    assert not report.ok
    assert limit in report.limits, str(report)
    message = report.violations[report.limits.index(limit)]
    assert name in message or "recurrent" in message, message
    assert len(report.limits) == len(report.violations)


def test_every_target_has_a_seeded_case_for_each_kind_of_limit():
    kinds = {limit for _, limit in CASES}
    assert {"max_inputs", "max_outputs", "max_fan_in", "weight_bits", "neuron_types", "layer_types"} <= kinds
    assert {"max_delay_steps", "recurrent", "decay_range", "resets"} <= kinds


def test_the_demo_network_on_xylo_audio2_in_words():
    net = sf.Sequential(
        nn.Linear(200, 128), sf.neurons.LIF(128, dt=10.0), nn.Linear(128, 10), sf.neurons.LIF(10, dt=10.0)
    )
    report = check(net, "xylo-audio2")
    assert report.violations[0] == "layer 0 (Linear 200->128): 200 input channels exceed xylo-audio2's 16"
    assert "layer 3 (LIF 10): 10 output neurons exceed xylo-audio2's 8" in report.violations
    assert set(report.limits) == {"max_inputs", "max_outputs", "resets"}
    text = str(report)
    assert text.startswith("check against xylo-audio2: 4 violation(s)")
    assert report.to_dict()["ok"] is False
    assert check(net, "loihi2").ok


def test_bad_arguments():
    net = fitting_net(targets("loihi2"))
    with pytest.raises(ParameterError, match="xylo-audio2"):
        check(net, "xylo")
    with pytest.raises(ParameterError, match="max_lost_fraction"):
        check(net, "loihi2", max_lost_fraction=2.0)
    with pytest.raises(ParameterError, match="nn.Module"):
        check("model", "loihi2")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reset", "v_reset", "fits_xylo", "fits_loihi"),
    [
        ("subtract", 0.0, True, False),
        ("subtract", -0.5, False, False),
        ("to_value", 0.0, False, True),
        ("to_value", -0.5, False, False),
    ],
)
def test_reset_modes_against_what_the_chips_do(reset, v_reset, fits_xylo, fits_loihi):
    """Xylo lowers v by its threshold, measured from rest (v_th - v_leak): a subtractive reset by
    v_th - v_reset equals it only with v_reset == v_leak; Loihi 2 sets v to rest (v_leak). The
    message says what to change."""
    for name, fits in [("xylo-audio2", fits_xylo), ("loihi2", fits_loihi)]:
        report = check(fitting_net(targets(name), reset=reset, v_reset=v_reset), name)
        assert ("resets" not in report.limits) == fits, str(report)
        if not fits:
            message = report.violations[report.limits.index("resets")]
            advice = "reset='subtract', v_reset == v_leak" if name != "loihi2" else "reset='to_value'"
            assert advice in message and "v_reset == v_leak" in message, message
