"""Learning on the compiled path: STDP and TripletSTDP in the numba kernel equal the PyTorch path
(weights to 1e-12 in float64, spikes identical) for every option of the rules, sparse and dense
storage, delays, batched copies, split runs, ``state_dict`` mid-run and dt other than 1; what the
kernel does not cover runs the PyTorch path and says why."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import Network, Uniform
from spikeforge.errors import ParameterError

pytest.importorskip("numba")

F64 = torch.float64
DT = 0.25


def stdp(**kw: Any) -> sf.plasticity.STDP:
    base: dict[str, Any] = dict(a_plus=0.02, a_minus=0.021, w_min=0.0, w_max=0.3, dt=DT)
    base.update(kw)
    return sf.plasticity.STDP(**base)


def build(
    compiled: bool,
    rule: Any,
    *,
    storage: str = "sparse",
    batch: int | None = None,
    modulator: Any = None,
    recurrent: Any = None,
    dtype: torch.dtype = F64,
    sign: str | None = "excitatory",
    weight: Any = None,
) -> tuple[Network, Any, Any, Any]:
    """Poisson inputs onto LIF neurons through a plastic projection (and a plastic recurrent one
    with heterogeneous delays when ``recurrent`` is a rule)."""
    net = Network(dt=DT, seed=3, batch=batch, dtype=dtype, compiled=compiled)
    net.add_poisson("in", 40, rate=40 * sf.units.Hz, sign=sign)
    net.add_population("out", sf.neurons.LIF(12, tau_mem=10.0, v_th=1.0, t_ref=0.6, dt=DT), sign="excitatory")
    if weight is None:
        weight = Uniform(0.05, 0.3)
    proj = net.connect(
        "in", "out", weight=weight, p=0.6, storage=storage, plasticity=rule, modulator=modulator, delay=0.5
    )
    rec = None
    if recurrent is not None:
        rec = net.connect(
            "out",
            "out",
            weight=Uniform(0.0, 0.1),
            p=0.4,
            storage=storage,
            delay=Uniform(0.0, 2.0),
            plasticity=recurrent,
        )
    if sign == "inhibitory":  # something to inhibit: a second, static excitatory drive
        net.add_poisson("exc", 40, rate=60 * sf.units.Hz, sign="excitatory")
        net.connect("exc", "out", weight=0.3, p=0.5)
    return net, proj, rec, net.record_spikes("out")


def assert_same(a: tuple, b: tuple, atol: float = 1e-12) -> None:
    assert a[0].last_run_info["path"] == "torch"
    assert b[0].last_run_info["path"] == "compiled", b[0].last_run_info["why_not_compiled"]
    assert a[3].t.tolist() == b[3].t.tolist() and a[3].i.tolist() == b[3].i.tolist()
    assert a[3].batch.tolist() == b[3].batch.tolist()
    for pa, pb in ((a[1], b[1]), (a[2], b[2])):
        if pa is None:
            continue
        torch.testing.assert_close(pb.weight, pa.weight, rtol=0, atol=atol)
        for x, y in zip(a[0].plasticity_state(pa), b[0].plasticity_state(pb)):
            torch.testing.assert_close(y, x, rtol=0, atol=atol)


def both(rule_fn: Any, ms: float = 150.0, **kw: Any) -> tuple[tuple, tuple]:
    a = build(False, rule_fn(), **{k: v() if callable(v) and k == "recurrent" else v for k, v in kw.items()})
    b = build(True, rule_fn(), **{k: v() if callable(v) and k == "recurrent" else v for k, v in kw.items()})
    w0 = a[1].weight.clone()
    a[0].run(ms, progress=False)
    b[0].run(ms, progress=False)
    assert len(a[3].t) > 20, "the test needs spikes"
    assert not torch.equal(a[1].weight, w0), "the test needs learning"
    return a, b


RULES = {
    "additive": lambda: stdp(),
    "multiplicative": lambda: stdp(weight_dependence="multiplicative"),
    "soft_half": lambda: stdp(weight_dependence="soft"),
    "soft_mu": lambda: stdp(weight_dependence="soft", mu_plus=0.7, mu_minus=2.0),
    "nearest": lambda: stdp(pairing="nearest"),
    "potentiate": lambda: stdp(same_step="potentiate"),
    "both": lambda: stdp(same_step="both", a_minus=0.03),
    "sum": lambda: stdp(batch_reduce="sum"),
    "soft_bound": lambda: stdp(bound="soft"),
    "no_bound": lambda: stdp(bound="none", w_min=0.1),
    "triplet": lambda: sf.plasticity.TripletSTDP(a3_plus=0.05, a2_minus=0.02, dt=DT, w_max=0.3),
    "triplet_nearest": lambda: sf.plasticity.TripletSTDP.from_preset(
        "hippocampal_nearest", dt=DT, w_max=0.3, bound="soft"
    ),
    "triplet_sum": lambda: sf.plasticity.TripletSTDP.from_preset(
        "hippocampal", dt=DT, w_max=0.3, batch_reduce="sum"
    ),
}


@pytest.mark.parametrize("name", list(RULES))
@pytest.mark.parametrize("storage", ["sparse", "dense"])
def test_rules_batched(name: str, storage: str) -> None:
    a, b = both(RULES[name], storage=storage, batch=3)
    assert_same(a, b)


@pytest.mark.parametrize("storage", ["sparse", "dense"])
def test_recurrent_with_delays_unbatched(storage: str) -> None:
    rec = lambda: stdp(same_step="potentiate", w_max=0.1, a_plus=0.01, a_minus=0.0105)  # noqa: E731
    a, b = both(RULES["soft_half"], storage=storage, recurrent=rec)
    assert_same(a, b)
    assert b[2].delay_steps.dim() > 0  # heterogeneous delays


def test_dale_sign_kept() -> None:
    # bounds beyond the sign: an inhibitory source's weights stay <= 0, an excitatory's >= 0
    a, b = both(
        lambda: stdp(w_min=-0.3, w_max=0.1, a_minus=-0.02),
        sign="inhibitory",
        weight=Uniform(-0.3, -0.05),
        batch=2,
    )
    assert_same(a, b)
    assert float(b[1].weight.max()) == 0.0
    a, b = both(lambda: stdp(w_min=-0.1, a_minus=0.05), batch=2)
    assert_same(a, b)
    assert float(b[1].weight.min()) == 0.0


@pytest.mark.parametrize("kind", ["number", "per_copy", "per_target"])
def test_constant_modulators(kind: str) -> None:
    mod = {
        "number": 0.7,
        "per_copy": torch.tensor([1.0, -0.5, 2.0]),
        "per_target": torch.linspace(-1.0, 1.0, 12),
    }[kind]
    a, b = both(RULES["soft_mu"], batch=3, modulator=mod)
    assert_same(a, b)


def test_set_modulator_and_split_runs() -> None:
    nets = [build(c, RULES["triplet"](), batch=2, modulator=0.0) for c in (False, True, True)]
    for k, (net, proj, _, _) in enumerate(nets):
        if k < 2:
            net.run(40.0, progress=False)
        else:  # the same in five pieces
            for ms in (10.0, 0.25, 9.75, 12.5, 7.5):
                net.run(ms, progress=False)
        net.set_modulator(proj, torch.tensor([1.5, 0.5]))
        net.run(60.0, progress=False)
        net.set_modulator(proj, 1.0)
        net.run(30.0, progress=False)
    assert_same(nets[0], nets[1])
    assert_same(nets[0], nets[2])


def test_state_dict_mid_run_and_engines_mixed() -> None:
    a = build(False, RULES["nearest"](), batch=2, recurrent=RULES["triplet"]())
    b = build(True, RULES["nearest"](), batch=2, recurrent=RULES["triplet"]())
    a[0].run(80.0, progress=False)
    b[0].run(80.0, progress=False)
    sd = b[0].state_dict()
    c = build(True, RULES["nearest"](), batch=2, recurrent=RULES["triplet"]())
    c[0].load_state_dict(sd)
    d = build(False, RULES["nearest"](), batch=2, recurrent=RULES["triplet"]())
    d[0].load_state_dict(a[0].state_dict())
    d[0].compiled = True  # the second half of a PyTorch-path run on the kernel
    for net in (a, b, c, d):
        net[0].run(70.0, progress=False)
    assert_same(a, b)
    for x in (c, d):
        for p, q in ((b[1], x[1]), (b[2], x[2])):
            torch.testing.assert_close(q.weight, p.weight, rtol=0, atol=1e-12)
        for p, q in zip(b[0].plasticity_state(b[2]), x[0].plasticity_state(x[2])):
            torch.testing.assert_close(q, p, rtol=0, atol=1e-12)
    # the spikes of the second half
    late = [(m.t >= 80.0) for m in (b[3], c[3], d[3])]
    assert b[3].t[late[0]].tolist() == c[3].t[late[1]].tolist() == d[3].t[late[2]].tolist()


def test_batched_copy_equals_unbatched_network_with_sum() -> None:
    # with batch_reduce="sum" and one copy, the kernel's batched arithmetic is the unbatched one
    a, b = both(RULES["sum"])
    assert_same(a, b)


def test_float32_close() -> None:
    a, b = both(RULES["soft_half"], batch=2, dtype=torch.float32)
    assert b[0].last_run_info["path"] == "compiled"
    torch.testing.assert_close(b[1].weight, a[1].weight, rtol=0, atol=1e-4)


def test_what_the_kernel_does_not_cover_runs_torch() -> None:
    rstdp = sf.plasticity.RewardModulatedSTDP(lr=1e-2, dt=DT)
    net, proj, _, _ = build(None, rstdp, modulator=1.0)  # type: ignore[arg-type]
    net.run(2.0, progress=False)
    assert net.last_run_info["path"] == "torch"
    assert "RewardModulatedSTDP" in net.last_run_info["why_not_compiled"]
    net, proj, _, _ = build(None, stdp(), modulator=lambda t: 1.0)  # type: ignore[arg-type]
    net.run(2.0, progress=False)
    assert "callable modulator" in net.last_run_info["why_not_compiled"]
    net.set_modulator(proj, 0.5)
    net.run(2.0, progress=False)
    assert net.last_run_info["path"] == "compiled"
    net.compiled = True
    net.set_modulator(proj, lambda t: 1.0)
    with pytest.raises(ParameterError, match="callable modulator"):
        net.run(2.0, progress=False)
    rule = stdp(a_plus=torch.full((12, 40), 0.01))
    net, proj, _, _ = build(None, rule, storage="dense")  # type: ignore[arg-type]
    net.run(2.0, progress=False)
    assert "not a scalar" in net.last_run_info["why_not_compiled"]
