"""Pair STDP at sparse synapses in the GPU circuits engine (:mod:`spikeforge.circuits.engines.gpu`,
:func:`~spikeforge.circuits._triton_kernels.stdp_kernel`) against the compiled CPU engine
(``circuits/_kernel_plastic.py``), the Triton kernels run by Triton's interpreter.

The kernels do the numba kernel's arithmetic operation by operation (traces decayed before the
change, the change reduced over the copies in copy order, bounds then Dale's sign, every synapse in
the first step of a run), so the spikes must be identical and the weights and traces equal to
1e-12 (in practice bitwise). Weights start partly outside the bounds: the first step's clamp of
every synapse shows. The interpreter runs about 0.1 s per step here: short runs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import ExpSynapse, Network, Uniform
from spikeforge.circuits.engines.gpu import TritonEngine, stdp_unsupported

pytest.importorskip("triton", reason="the Triton kernels need triton: pip install 'spikeforge[gpu]'")
pytest.importorskip("numba", reason="the reference is the compiled CPU engine (numba)")


def build(
    *,
    dt: float,
    dtype: torch.dtype = torch.float64,
    batch: int | None = None,
    device: str = "cpu",
    **rule: object,
) -> Network:
    """A Poisson group and a spike source onto LIF neurons through two plastic projections (one
    with per-synapse delays), and a static recurrent one."""
    net = Network(dt=dt, seed=5, dtype=dtype, batch=batch, device=device)
    lif = sf.neurons.LIF(10, tau_mem=10.0, v_leak=-49.0, v_th=-50.0, v_reset=-60.0, t_ref=0.6, dt=dt)
    net.add_population("e", lif, init={"v": Uniform(-60.0, -50.0)})
    net.add_poisson("p", 12, rate=400 * sf.units.Hz)
    net.add_spike_source("s", 3, times=[0.5, 1.0, 1.0, 4.0, 6.0], indices=[0, 1, 2, 0, 2])
    net.add_current("drive", "e", 20.0)
    stdp = {"a_plus": 0.05, "a_minus": 0.06, "w_max": 1.0, **rule}
    net.connect(
        "p",
        "e",
        p=0.5,
        weight=Uniform(0.0, 1.4),  # partly above w_max
        delay=0.5,
        storage="sparse",
        synapse=ExpSynapse(tau=2.0),
        plasticity=sf.plasticity.STDP(dt=dt, **stdp),  # type: ignore[arg-type]
    )
    net.connect(
        "s",
        "e",
        p=0.7,
        weight=Uniform(0.2, 0.8),
        delay=Uniform(0.0, 1.0),
        storage="sparse",
        synapse=ExpSynapse(tau=2.0),
        plasticity=sf.plasticity.STDP(dt=dt, tau_plus=10.0, tau_minus=30.0, **stdp),  # type: ignore[arg-type]
    )
    net.connect("e", "e", p=0.3, weight=-0.5, delay=0.5, synapse=ExpSynapse(tau=3.0))
    net.record_spikes("e")
    return net


def assert_same(ref: Network, net: Network, min_spikes: int = 15) -> None:
    a, b = ref._monitors[0], net._monitors[0]
    assert np.array_equal(a.steps, b.steps) and np.array_equal(a.i, b.i) and np.array_equal(a.batch, b.batch)
    assert a.steps.size >= min_spikes, f"only {a.steps.size} spikes: the comparison would prove little"
    for name in ("p->e", "s->e"):
        w_ref, w = ref.projections[name].w, net.projections[name].w.cpu()
        torch.testing.assert_close(w, w_ref, rtol=0, atol=1e-12 if w.dtype == torch.float64 else 1e-6)
        for x, y in zip(ref._sim.plastic[name], net._sim.plastic[name]):
            torch.testing.assert_close(y.cpu(), x, rtol=0, atol=1e-12 if x.dtype == torch.float64 else 1e-6)
    moved = (ref.projections["p->e"].w - build(dt=net.dt).projections["p->e"].w).abs()
    assert (moved > 1e-3).sum() > 10, "the weights hardly learned: the comparison would prove little"


@pytest.mark.slow
def test_stdp_float64_dt_0_1_equals_the_compiled_engine():
    ref = build(dt=0.1)
    net = build(dt=0.1)
    engine = TritonEngine(interpret=True)
    # one step: every synapse is clamped into the bounds, whatever spiked (as the CPU engine)
    above = ref.projections["p->e"].w > 1.0
    assert above.sum() > 5
    ref.run(0.1)
    net.run(0.1, engine=engine)
    assert torch.equal(ref.projections["p->e"].w, net.projections["p->e"].w)
    assert (ref.projections["p->e"].w[above] == 1.0).all()
    ref.run(7.9)
    assert ref.last_run_info["path"] == "compiled"
    net.run(7.9, engine=engine)
    assert net.last_run_info["path"] == "triton"
    assert_same(ref, net)
    # per step: the step kernel, 3 propagation kinds, 2 launches per plastic projection
    assert engine.launches == 80 * (1 + 3 + 2 * 2)


@pytest.mark.slow
def test_stdp_batch_nearest_soft_both_dt_0_25_split_run():
    """Two copies (mean over the batch), nearest pairing, soft weight dependence and bounds,
    same-step pairs both potentiating and depressing, dt 0.25, a run split in two (the first step
    of each run takes every synapse) and chunks of 7 steps."""
    rule = {"pairing": "nearest", "weight_dependence": "soft", "bound": "soft", "same_step": "both"}
    ref = build(dt=0.25, batch=2, **rule)
    ref.run(5.0)
    ref.run(5.0)
    net = build(dt=0.25, batch=2, **rule)
    engine = TritonEngine(interpret=True, chunk=7)
    net.run(5.0, engine=engine)
    net.run(5.0, engine=engine)
    assert_same(ref, net)


@pytest.mark.slow
def test_stdp_float32_sum_multiplicative_potentiate():
    rule = {"weight_dependence": "multiplicative", "batch_reduce": "sum", "same_step": "potentiate"}
    ref = build(dt=0.25, dtype=torch.float32, batch=2, **rule)
    ref.run(8.0)
    net = build(dt=0.25, dtype=torch.float32, batch=2, **rule)
    net.run(8.0, engine=TritonEngine(interpret=True))
    assert_same(ref, net)


def test_supports_names_the_stdp_options_it_cannot_run():
    def proj(**kw: object) -> object:
        net = Network(dt=0.1, seed=0)
        net.add_population("x", sf.neurons.LIF(4, dt=0.1))
        storage = kw.pop("storage", "sparse")
        rule = kw.pop("rule", None) or sf.plasticity.STDP(dt=0.1, **kw)  # type: ignore[arg-type]
        return net.connect("x", "x", p=1.0, weight=0.5, storage=storage, plasticity=rule)

    assert stdp_unsupported(proj()) == ""
    assert "TripletSTDP" in stdp_unsupported(proj(rule=sf.plasticity.TripletSTDP(dt=0.1)))
    assert "storage='dense'" in stdp_unsupported(proj(storage="dense"))
    assert "mu_plus=0.3" in stdp_unsupported(proj(weight_dependence="soft", mu_plus=0.3))
    p = proj()
    p.modulator = 1.0  # type: ignore[attr-defined]
    assert "modulator" in stdp_unsupported(p)


@pytest.mark.slow
def test_stdp_kernels_compile_for_hopper_without_a_gpu():
    """The interpreter is lenient where the compiler is not: compile the STDP kernels for sm_90
    (H100), float32 and float64, every bound, weight dependence and same-step rule, and check that
    no fused multiply-add crept in."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from spikeforge.circuits.engines.gpu import kernel_module

    if "nvidia" not in triton.backends.backends:
        pytest.skip("this triton has no nvidia backend")
    kern = kernel_module(False)
    target = GPUTarget("cuda", 90, 32)
    for fp, ii in (("fp32", "i32"), ("fp64", "i64")):
        f, i64 = f"*{fp}", "*i64"
        sig = {"k": ii, "most_ptr": i64, "csc_ptr": i64, "csc_pre": "*i32", "csc_w": f}
        sig |= {"cso": ii, "XP": f, "YP": f, "pv_ptr": f, "n_pre": ii, "n_post": ii, "src": ii, "tgt": ii}
        sig |= {"first": ii, "rec_ptr": "*i8", "S": ii, "B": ii}
        pre = {"k": ii, "XP": f, "pv_ptr": f, "n_pre": ii, "src": ii, "rec_ptr": "*i8", "S": ii, "B": ii}
        variants = [(kern.stdp_pre_kernel, pre, {"NEAREST": nearest, "BLOCK": 128}) for nearest in (0, 1)]
        for mu, bound, same, sign in ((0, 0, 0, 1), (2, 1, 2, 0), (1, 2, 1, -1), (3, 0, 2, 0)):
            flags = {"MUP": mu, "MUM": 3 - mu, "SAME": same, "MEAN": int(bound == 1), "BOUND": bound}
            flags |= {"SIGN": sign, "NEAREST": int(same == 2), "BLOCK": 128}
            variants.append((kern.stdp_kernel, sig, flags))
        for kernel, s, constexprs in variants:
            signature = {**s, **dict.fromkeys(constexprs, "constexpr")}
            compiled = triton.compile(
                ASTSource(kernel, signature, constexprs), target=target, options={"enable_fp_fusion": False}
            )
            ptx = compiled.asm["ptx"]
            assert ".entry" in ptx and "fma.rn" not in ptx


@pytest.mark.slow
def test_stdp_dale_sign_without_bounds():
    """``bound="none"``: only Dale's sign keeps the weights of an excitatory (inhibitory) group at
    or above (below) zero, and strong depression pushes many of them there."""

    def net_() -> Network:
        net = Network(dt=0.25, seed=2, dtype=torch.float64)
        lif = sf.neurons.LIF(6, tau_mem=10.0, v_leak=-49.0, v_th=-50.0, v_reset=-60.0, dt=0.25)
        net.add_population("x", lif, init={"v": Uniform(-60.0, -50.0)})
        net.add_current("drive", "x", 25.0)
        groups = (
            ("ex", "excitatory", Uniform(0.0, 0.3), 0.02, 0.25),
            ("in", "inhibitory", Uniform(-0.3, 0.0), 0.25, 0.02),
        )
        for name, sign, w, a_plus, a_minus in groups:  # depression pushes w below 0, potentiation above
            net.add_poisson(name, 8, rate=500 * sf.units.Hz, sign=sign)
            rule = sf.plasticity.STDP(dt=0.25, a_plus=a_plus, a_minus=a_minus, bound="none")
            net.connect(
                name, "x", p=0.6, weight=w, storage="sparse", synapse=ExpSynapse(tau=2.0), plasticity=rule
            )
        net.record_spikes("x")
        return net

    ref, net = net_(), net_()
    ref.run(6.0)
    net.run(6.0, engine=TritonEngine(interpret=True))
    assert np.array_equal(ref._monitors[0].steps, net._monitors[0].steps)
    assert ref._monitors[0].steps.size >= 5
    for name in ("ex", "in"):
        w_ref, w = ref.projections[f"{name}->x"].w, net.projections[f"{name}->x"].w
        torch.testing.assert_close(w, w_ref, rtol=0, atol=1e-12)
        assert (w_ref == 0).sum() >= 5, "the sign never bound: the comparison would prove little"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_stdp_on_cuda_with_graphs_equals_the_compiled_engine(dtype):
    """The compiled kernels on the GPU, later chunks replayed as CUDA graphs, two runs, against
    the CPU engine from the same initial state (handed over: CUDA generators draw other values)."""
    rule = {"pairing": "nearest", "weight_dependence": "soft", "bound": "soft", "same_step": "both"}
    ref = build(dt=0.25, dtype=dtype, batch=2, **rule)
    cuda = build(dt=0.25, dtype=dtype, batch=2, device="cuda", **rule)
    for name, proj in ref.projections.items():  # the structure generator is on the CPU
        assert torch.equal(proj.weight, cuda.projections[name].weight.cpu()), name
    s, d = ref._ensure_state(), cuda._ensure_state()
    for name, st in s.neurons.items():
        d.neurons[name] = type(st)(*(f.to("cuda").clone() for f in st))
    ref.run(5.0)
    ref.run(15.0)
    engine = TritonEngine(chunk=8)
    cuda.run(5.0, engine=engine)
    cuda.run(15.0, engine=engine)
    assert cuda.last_run_info["path"] == "triton"
    assert engine.replays >= 4  # each run: its first chunk launched one by one, then replays
    assert_same(ref, cuda)
