"""Network -> PyNN description (``spikeforge.circuits.pynn_export.describe``): cell types, unit
conversions, connectivity, STDP parameters, and the parts refused with UnsupportedExportError.
None of these need PyNN (the builds against NEST are in tests/reference/test_nest_reference.py)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import (
    AlphaSynapse,
    DeltaSynapse,
    ExpConductance,
    ExpSynapse,
    Network,
    builders,
)
from spikeforge.circuits.pynn_export import describe
from spikeforge.errors import ParameterError, UnsupportedExportError


def _pop(d: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in d["populations"] if p["name"] == name)


def _proj(d: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in d["projections"] if p["name"] == name)


def _val(v: Any, arrays: dict[str, np.ndarray]) -> Any:
    return arrays[v[1:]] if isinstance(v, str) and v.startswith("@") else v


def _lif(n: int = 2, dt: float = 0.1, **kw: Any) -> sf.neurons.LIF:
    base: dict[str, Any] = dict(tau_mem=20.0, v_leak=-65.0, v_th=-50.0, v_reset=-70.0, t_ref=2.0)
    base.update(kw)
    return sf.neurons.LIF(n, dt=dt, **base)


def test_cuba_maps_to_if_curr_exp_with_the_same_synapses() -> None:
    net = builders.cuba(n=50, p=0.2, delay=0.5, seed=1, dtype=torch.float64)
    d, arrays = describe(net)
    exc = _pop(d, "exc")
    assert exc["cell"] == "IF_curr_exp"
    p = exc["params"]
    assert (p["tau_m"], p["cm"], p["v_rest"]) == (20.0, 20.0, -49.0)
    assert (p["v_thresh"], p["v_reset"]) == (-50.0, -60.0)
    assert (p["tau_syn_E"], p["tau_syn_I"]) == (5.0, 10.0)
    assert p["tau_refrac"] == pytest.approx(4.9)
    v0 = _val(exc["initial"]["v"], arrays)
    np.testing.assert_array_equal(v0, net.state("exc").v.numpy())  # the drawn initial potentials
    for name in ("exc->exc", "inh->exc"):
        proj = net.projections[name]
        pd = _proj(d, name)
        assert pd["receptor_type"] == ("excitatory" if name.startswith("exc") else "inhibitory")
        conn = _val(pd["connections"], arrays)
        np.testing.assert_array_equal(conn[:, 0], proj.pre_indices.numpy())
        np.testing.assert_array_equal(conn[:, 1], proj.post_indices.numpy())
        np.testing.assert_array_equal(conn[:, 2], proj.weights().numpy())
        np.testing.assert_allclose(conn[:, 3], 0.5)
    assert d["time_offset"] == 0.1


def test_describe_leaves_the_network_buildable_and_unrun() -> None:
    net = Network(dt=0.1, seed=0, compiled=False)
    net.add_population("a", _lif(), init={"v": sf.circuits.Uniform(-70.0, -60.0)})
    d1, a1 = describe(net)
    net.add_population("b", _lif())  # still buildable
    net.connect("a", "b", weight=1.0, delay=0.1, synapse=ExpSynapse(tau=2.0))
    d2, a2 = describe(net)
    np.testing.assert_array_equal(a1["a.v"], a2["a.v"])  # the same draw each time
    assert [p["name"] for p in d2["populations"]] == ["a", "b"]
    net.run(1.0, progress=False)
    np.testing.assert_array_equal(a2["a.v"], a2["a.v"])
    with pytest.raises(UnsupportedExportError, match="before it runs"):
        describe(net)


def test_units_r_current_refractory_and_heterogeneous_parameters() -> None:
    """c_m = tau_mem / r (nF), currents in nA unchanged, t_ref rounded to whole steps as
    spikeforge does, per-neuron values as arrays."""
    dt = 0.25
    net = Network(dt=dt, seed=0)
    net.add_population("n", _lif(3, dt=dt, tau_mem=torch.tensor([10.0, 20.0, 30.0]), r=2.0, t_ref=2.04))
    net.add_current("bias", "n", torch.tensor([1.0, 2.0, 3.0]))
    net.add_current("more", "n", 0.5)
    d, arrays = describe(net)
    p = _pop(d, "n")["params"]
    np.testing.assert_allclose(_val(p["cm"], arrays), [5.0, 10.0, 15.0])
    np.testing.assert_allclose(_val(p["tau_m"], arrays), [10.0, 20.0, 30.0])
    np.testing.assert_allclose(_val(p["i_offset"], arrays), [1.5, 2.5, 3.5])
    assert p["tau_refrac"] == 2.0  # round(2.04 / 0.25) = 8 steps


def test_izhikevich_current_in_nanoampere_and_delta_weights_in_mv() -> None:
    net = Network(dt=0.1, seed=0)
    net.add_population("izh", sf.neurons.Izhikevich(2, a=0.02, b=0.2, c=-65.0, d=8.0, dt=0.1))
    net.add_current("bias", "izh", 10.0)
    net.add_spike_source("src", 1, [1.0, 2.0], [0, 0])
    net.connect("src", "izh", weight=-3.0, delay=0.3)
    d, arrays = describe(net)
    izh = _pop(d, "izh")
    assert izh["cell"] == "Izhikevich"
    assert izh["params"]["i_offset"] == pytest.approx(0.01)  # 10 (pA in NEST) = 0.01 nA
    assert izh["params"]["d"] == 8.0
    pd = _proj(d, "src->izh")
    assert pd["receptor_type"] == "inhibitory"
    np.testing.assert_allclose(_val(pd["connections"], arrays)[:, 2:], [[-3.0, 0.3], [-3.0, 0.3]])


def test_sources_rates_in_hz_and_spike_times_shifted_by_dt() -> None:
    dt = 0.1
    net = Network(dt=dt, seed=0)
    net.add_population("n", _lif(3))
    net.add_poisson("poi", 3, torch.tensor([5.0, 10.0, 20.0]) * sf.units.Hz)
    net.add_spike_source("src", 2, [3.0, 1.0, 2.02], [1, 1, 0])
    net.connect("poi", "n", weight=1.0, delay=dt)
    net.connect("src", "n", weight=1.0, delay=dt)
    net.add_poisson_input("drive", "n", n=100, rate=8 * sf.units.Hz, weight=0.5)
    d, arrays = describe(net)
    np.testing.assert_allclose(_val(_pop(d, "poi")["params"]["rate"], arrays), [5.0, 10.0, 20.0])
    src = _pop(d, "src")
    assert src["cell"] == "SpikeSourceArray"
    np.testing.assert_allclose(_val(src["spike_times"]["times"], arrays), [2.1, 1.1, 3.1])  # neuron 0, 1
    np.testing.assert_array_equal(_val(src["spike_times"]["counts"], arrays), [1, 2])
    drive = _pop(d, "drive")
    assert drive["cell"] == "SpikeSourcePoisson" and drive["params"]["rate"] == pytest.approx(800.0)
    conn = _val(_proj(d, "drive")["connections"], arrays)
    np.testing.assert_allclose(conn, [[k, k, 0.5, dt] for k in range(3)])


def test_mixed_sign_projection_splits_into_two_receptors() -> None:
    net = Network(dt=0.1, seed=0)
    net.add_population("a", _lif(2))
    net.add_population("b", _lif(2))
    w = torch.tensor([[1.0, -2.0], [0.0, 3.0]])
    net.connect("a", "b", weight=w, delay=0.2, synapse=ExpSynapse(tau=4.0), name="ab")
    d, arrays = describe(net)
    exc, inh = _proj(d, "ab:excitatory"), _proj(d, "ab:inhibitory")
    assert (exc["receptor_type"], inh["receptor_type"]) == ("excitatory", "inhibitory")
    assert (_val(exc["connections"], arrays)[:, 2] >= 0).all()
    np.testing.assert_allclose(_val(inh["connections"], arrays)[:, :3], [[1, 0, -2.0]])
    p = _pop(d, "b")["params"]
    assert (p["tau_syn_E"], p["tau_syn_I"]) == (4.0, 4.0)


def test_conductances_map_to_if_cond_exp_with_initial_conductances() -> None:
    net = builders.coba(n=50, p=0.2, delay=0.1, seed=0, dtype=torch.float64)
    d, arrays = describe(net)
    exc = _pop(d, "exc")
    assert exc["cell"] == "IF_cond_exp"
    p = exc["params"]
    assert (p["e_rev_E"], p["tau_syn_E"], p["e_rev_I"], p["tau_syn_I"]) == (0.0, 5.0, -80.0, 10.0)
    assert p["cm"] == 20.0  # g_L = cm / tau_m = 1 uS: a conductance g (relative to leak) is g uS
    g_e = net.state("exc->exc")["g"]
    np.testing.assert_allclose(_val(exc["initial"]["gsyn_exc"], arrays), g_e.numpy())
    assert _proj(d, "inh->exc")["receptor_type"] == "inhibitory"
    assert (_val(_proj(d, "inh->exc")["connections"], arrays)[:, 2] > 0).all()


def test_alpha_and_tau_syn_lif_cells() -> None:
    net = Network(dt=0.1, seed=0)
    net.add_population("alpha", _lif())
    net.add_population("syn", _lif(tau_syn=3.0))
    net.add_population("delta", _lif())
    net.add_poisson("src", 2, 5 * sf.units.Hz)
    net.connect("src", "alpha", weight=1.0, delay=0.1, synapse=AlphaSynapse(tau=2.0))
    net.connect("src", "syn", weight=-1.0, delay=0.1, synapse=DeltaSynapse("i"))
    net.connect("src", "delta", weight=1.0, delay=0.1)
    d, _ = describe(net)
    assert _pop(d, "alpha")["cell"] == "IF_curr_alpha"
    syn = _pop(d, "syn")
    assert syn["cell"] == "IF_curr_exp" and syn["params"]["tau_syn_I"] == 3.0
    assert _pop(d, "delta")["cell"] == "IF_curr_delta"


@pytest.mark.parametrize(
    ("dependence", "mu", "a_plus", "a_minus"),
    [
        ("additive", 0.0, 0.01 / 0.5, 0.012 / 0.5),
        ("multiplicative", 1.0, 0.01, 0.012),
        ("soft", 0.3, None, None),
    ],
)
def test_stdp_parameters(dependence: str, mu: float, a_plus: float | None, a_minus: float | None) -> None:
    """PyNN's A = spikeforge's A / w_max^(1 - mu): NEST's stdp_synapse normalises by w_max."""
    net = Network(dt=0.1, seed=0)
    net.add_population("a", _lif())
    net.add_population("b", _lif())
    kw: dict[str, Any] = {"mu_plus": mu, "mu_minus": mu} if dependence == "soft" else {}
    rule = sf.plasticity.STDP(
        a_plus=0.01, a_minus=0.012, w_max=0.5, tau_plus=17.0, weight_dependence=dependence, dt=0.1, **kw
    )
    net.connect("a", "b", weight=0.1, delay=0.1, synapse=ExpSynapse(tau=2.0), plasticity=rule, name="ab")
    s = _proj(describe(net)[0], "ab")["synapse"]
    assert s["type"] == "stdp"
    expect_p = a_plus if a_plus is not None else 0.01 / 0.5 ** (1 - mu)
    expect_m = a_minus if a_minus is not None else 0.012 / 0.5 ** (1 - mu)
    assert s["timing"]["A_plus"] == pytest.approx(expect_p)
    assert s["timing"]["A_minus"] == pytest.approx(expect_m)
    assert s["timing"]["tau_plus"] == 17.0
    assert s["weight_dependence"]["w_max"] == 0.5
    if dependence == "soft":
        assert s["weight_dependence"]["mu_plus"] == pytest.approx(mu)


@pytest.mark.parametrize(
    ("dendritic", "axonal", "fraction"),
    [(0.4, 0.0, 1.0), (0.1, 0.3, 0.25), (0.0, 0.4, 0.0), (0.0, 0.0, None)],
)
def test_stdp_spike_delays_export_as_dendritic_delay_fraction(
    dendritic: float, axonal: float, fraction: float | None
) -> None:
    """The rule's dendritic delay over the projection's delay (their sum); a rule without spike
    delays writes none (PyNN's default 1). spikeforge.pynn builds the rule back from it."""
    import spikeforge.pynn as sfsim

    net = Network(dt=0.1, seed=0)
    net.add_population("a", _lif())
    net.add_population("b", _lif())
    rule = sf.plasticity.STDP(dt=0.1, dendritic_delay=dendritic, axonal_delay=axonal)
    net.connect("a", "b", weight=0.1, delay=0.4, synapse=ExpSynapse(tau=2.0), plasticity=rule, name="ab")
    s = _proj(describe(net)[0], "ab")["synapse"]
    if fraction is None:
        assert "dendritic_delay_fraction" not in s
    else:
        assert s["dendritic_delay_fraction"] == pytest.approx(fraction, abs=1e-12)
    net.to_pynn(sfsim)
    sfsim.run(0.0)
    back = next(iter(p for p in sfsim.state.current().net._projs() if p.plastic)).plasticity
    sfsim.end()
    expect = (dendritic, axonal) if fraction is not None else (0.4, 0.0)  # PyNN's default: NEST's
    assert (back.dendritic_delay, back.axonal_delay) == pytest.approx(expect, abs=1e-12)


def test_stdp_spike_delays_that_no_fraction_expresses_are_refused() -> None:
    def unequal(net: Network) -> None:
        net.add_population("a", _lif())
        rule = sf.plasticity.STDP(dt=0.1, dendritic_delay=0.3)
        net.connect("a", "a", weight=0.1, delay=0.4, synapse=ExpSynapse(tau=2.0), plasticity=rule, name="pl")

    _refused(
        unequal,
        r"'pl': STDP dendritic_delay=0\.3 ms, axonal_delay=0 ms \(3 \+ 0 steps\) but a delay of 0\.4 ms "
        r"\(4 steps\); PyNN splits the delay",
    )

    def per_synapse(net: Network) -> None:
        net.add_population("a", _lif())
        rule = sf.plasticity.STDP(dt=0.1, dendritic_delay=0.3)
        delay = torch.tensor([[0.3, 0.4], [0.3, 0.3]], dtype=torch.float64)
        net.connect(
            "a", "a", weight=0.1, delay=delay, synapse=ExpSynapse(tau=2.0), plasticity=rule, name="pl"
        )

    _refused(per_synapse, r"'pl': .* and delays from 0\.3 to 0\.4 ms; PyNN's dendritic_delay_fraction")


def _refused(build: Any, match: str) -> None:
    net = Network(dt=0.1, seed=0)
    build(net)
    with pytest.raises(UnsupportedExportError, match=match):
        describe(net)


def test_refusals_name_the_part_and_why() -> None:
    def alif(net: Network) -> None:
        net.add_population("ad", sf.neurons.ALIF(2, dt=0.1))

    _refused(alif, "'ad'.*ALIF.*EIF_cond_exp_isfa_ista")

    def subtract(net: Network) -> None:
        net.add_population("s", _lif(reset="subtract"))

    _refused(subtract, "'s'.*reset='subtract'")

    def zero_delay(net: Network) -> None:
        net.add_population("a", _lif())
        net.connect("a", "a", weight=1.0, synapse=ExpSynapse(tau=2.0), name="rec")

    _refused(zero_delay, "'rec'.*delay 0.0 ms is below one step")

    def mixed(net: Network) -> None:
        net.add_population("a", _lif())
        net.connect("a", "a", weight=1.0, delay=0.1, synapse=ExpSynapse(tau=2.0))
        net.connect("a", "a", weight=1.0, delay=0.1)

    _refused(mixed, "'a'.*several kinds of synapse")

    def two_taus(net: Network) -> None:
        net.add_population("a", _lif())
        net.connect("a", "a", weight=1.0, delay=0.1, synapse=ExpSynapse(tau=2.0), name="x")
        net.connect("a", "a", weight=1.0, delay=0.1, synapse=ExpSynapse(tau=3.0), name="y")

    _refused(two_taus, "excitatory inputs \\(x, y\\) have different time constants")

    def neg_conductance(net: Network) -> None:
        net.add_population("a", _lif())
        net.connect("a", "a", weight=-1.0, delay=0.1, synapse=ExpConductance(tau=2.0), name="g")

    _refused(neg_conductance, "'g'.*negative conductances")

    def varying_rate(net: Network) -> None:
        net.add_poisson("p", 2, lambda t: 0.01 + 0 * t)

    _refused(varying_rate, "Poisson group 'p'.*time-varying")

    def varying_current(net: Network) -> None:
        net.add_population("a", _lif())
        net.add_current("c", "a", lambda t: 1.0 + 0 * t)

    _refused(varying_current, "current 'c'.*time-varying")

    def exp_onto_tau_syn(net: Network) -> None:
        net.add_population("a", _lif(tau_syn=3.0))
        net.connect("a", "a", weight=1.0, delay=0.1, synapse=ExpSynapse(tau=2.0))

    _refused(exp_onto_tau_syn, "'a'.*tau_syn.*DeltaSynapse\\('i'\\)")

    def izh_peak(net: Network) -> None:
        net.add_population("z", sf.neurons.Izhikevich(2, v_peak=35.0, dt=0.1))

    _refused(izh_peak, "'z'.*v_peak=35.0")

    def nearest(net: Network) -> None:
        net.add_population("a", _lif())
        rule = sf.plasticity.STDP(pairing="nearest", dt=0.1)
        net.connect("a", "a", weight=0.1, delay=0.1, synapse=ExpSynapse(tau=2.0), plasticity=rule, name="pl")

    _refused(nearest, "'pl'.*pairing='nearest'")

    def triplet(net: Network) -> None:
        net.add_population("a", _lif())
        rule = sf.plasticity.TripletSTDP(dt=0.1)
        net.connect("a", "a", weight=0.1, delay=0.1, synapse=ExpSynapse(tau=2.0), plasticity=rule, name="tr")

    _refused(triplet, "'tr'.*TripletSTDP has no PyNN form")


def test_batched_network_is_refused() -> None:
    net = Network(dt=0.1, seed=0, batch=2)
    net.add_population("a", _lif())
    with pytest.raises(UnsupportedExportError, match="batch=2"):
        describe(net)


def _first_step_source_net() -> Network:
    """A spike source that fires on the first step (t = 0), which pyNN.nest cannot emit."""
    net = Network(dt=0.1, seed=0, dtype=torch.float64)
    net.add_spike_source("src", 2, np.array([0.0, 1.0]), np.array([1, 0]))
    net.add_population("n", _lif())
    net.connect("src", "n", weight=1.0, delay=0.1)
    return net


def test_script_refuses_nest_for_a_source_spike_on_the_first_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The script refuses ``--simulator nest`` as ``to_pynn(pyNN.nest)`` does, with the same
    message and before importing the backend (so no NEST is needed here); the check is one
    function of the builder, shared by both paths."""
    net = _first_step_source_net()
    path = net.to_pynn_script(tmp_path / "net.py", duration=10.0)
    namespace: dict[str, Any] = {"__name__": "not_main"}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    with pytest.raises(SystemExit) as exc:
        namespace["main"](["--simulator", "nest"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "spike source 'src': a spike on the first step (t = 0 ms)" in err
    assert "move it to t >= dt" in err
    description, arrays = describe(net)
    assert namespace["nest_first_step_problem"](description, arrays) in err


def test_first_step_check_names_only_first_step_spikes() -> None:
    """A spike on the second step (t = dt) is fine for pyNN.nest; one on the first is named."""
    from spikeforge.circuits._pynn_build import nest_first_step_problem

    ok = Network(dt=0.25, seed=0)
    ok.add_spike_source("src", 1, [0.25, 3.0], [0, 0])
    assert nest_first_step_problem(*describe(ok)) is None
    message = nest_first_step_problem(*describe(_first_step_source_net()))
    assert message is not None and "'src'" in message and "dt = 0.1 ms" in message


def test_to_pynn_rejects_a_module_that_is_not_a_pynn_backend() -> None:
    net = Network(dt=0.1, seed=0)
    net.add_population("a", _lif())
    with pytest.raises(ParameterError, match="PyNN backend module"):
        net.to_pynn(math)


def test_script_is_standalone_python(tmp_path: Path) -> None:
    """The script compiles, embeds the builder and the data, and imports no spikeforge."""
    net = builders.cuba(n=20, p=0.3, delay=0.1, seed=0)
    path = net.to_pynn_script(tmp_path / "cuba.py", duration=50.0)
    text = path.read_text()
    compile(text, str(path), "exec")
    assert not re.search(r"^\s*(from|import)\s+spikeforge", text, re.M)
    namespace: dict[str, Any] = {"__name__": "not_main"}
    exec(compile(text, str(path), "exec"), namespace)
    description, arrays = namespace["_load"]()
    ref_d, ref_a = describe(net)
    assert description == ref_d
    assert set(arrays) == set(ref_a)
    for k in ref_a:
        np.testing.assert_array_equal(arrays[k], ref_a[k])
    assert namespace["DURATION"] == 50.0
    with pytest.raises(ParameterError, match="duration"):
        net.to_pynn_script(tmp_path / "x.py", duration=-1.0)
