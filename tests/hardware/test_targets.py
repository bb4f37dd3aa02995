"""Chip targets as data: names, lookup errors, and a source for every number."""

from __future__ import annotations

import dataclasses

import pytest

import spikeforge as sf
from spikeforge.errors import ParameterError
from spikeforge.hardware.targets import TARGET_NAMES, ChipTarget, get_target, targets

EXPECTED = ("loihi2", "xylo-audio2", "xylo-audio3", "xylo-imu", "speck", "spinnaker2", "brainscales2")


def test_the_seven_targets_are_listed_by_name():
    assert tuple(t.name for t in targets()) == EXPECTED == TARGET_NAMES
    assert sf.hardware.targets("xylo-imu") is get_target("xylo-imu")
    assert all(isinstance(t, ChipTarget) for t in sf.hardware.targets())


def test_unknown_target_lists_the_allowed_names():
    with pytest.raises(ParameterError, match="tpu") as exc:
        targets("tpu")
    for name in EXPECTED:
        assert name in str(exc.value)


def test_targets_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        targets("loihi2").weight_bits = 16  # type: ignore[misc]


@pytest.mark.parametrize("name", EXPECTED)
def test_every_limit_has_a_source(name):
    t = targets(name)
    for limit in t.limits():
        text = t.source(limit)
        assert isinstance(text, str) and len(text) > 10, (name, limit)
    with pytest.raises(ParameterError, match="nonsense"):
        t.source("nonsense")


def test_published_numbers():
    """The figures papers.md and the toolchains give (Xylo sizes, bit widths, delay range)."""
    xa2, imu, loihi, speck, bss = (
        targets(n) for n in ("xylo-audio2", "xylo-imu", "loihi2", "speck", "brainscales2")
    )
    assert (xa2.max_inputs, xa2.max_hidden, xa2.max_outputs, xa2.weight_bits, xa2.membrane_bits) == (
        16,
        1000,
        8,
        8,
        16,
    )
    assert (imu.max_hidden, imu.max_outputs) == (496, 16)
    assert (loihi.weight_bits, loihi.membrane_bits, loihi.threshold_bits, loihi.max_delay_steps) == (
        8,
        24,
        17,
        62,
    )
    assert speck.neuron_types == ("IF",) and speck.max_layers == 9 and not speck.recurrent
    assert (bss.max_neurons, bss.weight_bits) == (512, 6)
    assert "unverified" in targets("spinnaker2").source("weight_bits")


def test_each_target_says_what_is_simulated_and_against_what():
    from spikeforge.hardware.quantize import INTSIM_TARGETS

    for t in targets():
        if t.name in INTSIM_TARGETS:
            assert "bit-accurate" in t.simulation
            assert ("xylosim" if t.name.startswith("xylo") else "lava") in t.simulation
        else:
            assert t.simulation.startswith("none")


def test_xylo_audio3_has_32_outputs_as_rockpools_mapper():
    t = targets("xylo-audio3")
    assert (t.max_hidden, t.max_outputs, t.max_neurons) == (992, 32, 1024)
    assert "32 output neurons" in t.source("max_outputs")


def test_spinnaker2_and_brainscales2_name_the_pynn_route_and_speck_is_not_supported():
    import importlib

    from spikeforge.circuits import Network

    for name in ("spinnaker2", "brainscales2"):
        sim = targets(name).simulation
        for api in (
            "Network.to_pynn(sim)",
            "Network.to_pynn_script(path)",
            "spikeforge.circuits.pynn_export",
        ):
            assert api in sim, (name, api)
        assert "NEST" in sim and "nothing was run on" in sim and "Sequential" in sim
    # the route the texts name exists
    assert callable(Network.to_pynn) and callable(Network.to_pynn_script)
    assert hasattr(importlib.import_module("spikeforge.circuits.pynn_export"), "to_pynn_script")
    speck = targets("speck").simulation
    assert "not supported" in speck and "samna" in speck and "sinabs.backend.dynapcnn" in speck
    doc = importlib.import_module("spikeforge.hardware.targets").__doc__ or ""
    assert doc.count("circuits go through the PyNN export") == 2 and "Speck is not supported" in doc
