"""The GPU circuits engine (:mod:`spikeforge.circuits.engines.gpu`) against the compiled CPU engine,
its Triton kernels run on the CPU by Triton's interpreter.

``TritonEngine(interpret=True)`` loads the kernels as ``TRITON_INTERPRET=1`` does (a second copy
of their module, the rest of the process untouched) and ``Network.run(..., engine=...)`` forces it
on a CPU network. The kernels do the numba kernels' arithmetic operation by operation and sum
each target's input in the same order, so spikes, monitors and every state tensor (v, i, ref,
held flags, synaptic g, ring buffers) must be equal bitwise, in float64 and float32.

The interpreter runs numpy per block and operation (about 0.1 s per step for these networks), so
the networks are small and the runs short; each one checks that enough spikes happened for the
comparison to mean something.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.circuits import ExpSynapse, Network, Uniform
from spikeforge.circuits.engines import choose, gpu
from spikeforge.circuits.engines.gpu import TritonEngine
from spikeforge.errors import ParameterError

pytest.importorskip("triton", reason="the Triton kernels need triton: pip install 'spikeforge[gpu]'")
pytest.importorskip("numba", reason="the reference is the compiled CPU engine (numba)")


def build(
    *, dtype: torch.dtype, dt: float, batch: int | None = None, gain: bool = False, device: str = "cpu"
) -> Network:
    """Two LIF populations and a Poisson group with every projection case the engine has: a
    shared delay (ring slot), per-synapse delays (a slot per synapse), delay 0 (straight into g),
    shared and per-synapse weights; t_ref / dt not whole, both resets, with and without tau_syn,
    exact and Euler, per-neuron thresholds, a current."""
    net = Network(dt=dt, seed=3, dtype=dtype, batch=batch, device=device)
    e = sf.neurons.LIF(
        24,
        tau_mem=10.0,
        tau_syn=None,
        v_leak=-49.0,
        v_th=torch.linspace(-51.0, -49.0, 24),
        v_reset=-60.0,
        t_ref=0.83,  # 3.3 steps at dt 0.25, 8.3 at dt 0.1
        dt=dt,
    )
    i = sf.neurons.LIF(
        12,
        tau_mem=8.0,
        tau_syn=2.0,
        v_leak=-52.0,
        v_th=-50.3,
        v_reset=-57.9,
        reset="subtract",
        t_ref=torch.where(torch.arange(12) % 2 == 0, 0.0, 0.6),  # some held after a spike, some not
        dt=dt,
    )
    net.add_population("e", e, init={"v": Uniform(-53.0, -49.0)})
    net.add_population("i", i, init={"v": Uniform(-60.0, -50.0), "i": Uniform(0.0, 1.0)})
    net.add_poisson("p", 16, rate=200 * sf.units.Hz)
    net.connect("p", "e", p=0.4, weight=Uniform(1.0, 3.0), delay=0.5, synapse=ExpSynapse(tau=2.0))
    net.connect("e", "e", p=0.3, weight=0.7, delay=Uniform(0.0, 1.0), synapse=ExpSynapse(tau=3.0))
    net.connect("e", "i", p=0.4, weight=Uniform(0.5, 1.5), synapse=ExpSynapse(tau=2.0, integrator="euler"))
    net.connect("i", "e", p=0.5, weight=-1.2, delay=0.5, synapse=ExpSynapse(tau=4.0))
    # many coincident inputs per target and step: the order of the sum shows in the last bits
    net.add_poisson("q", 12, rate=1500 * sf.units.Hz)
    net.connect("q", "i", p=0.8, weight=Uniform(0.05, 0.2), synapse=ExpSynapse(tau=2.0))
    # a spike source, several of its neurons in the same steps, onto both populations
    times = [0.5, 0.5, 0.5, 1.0, 1.5, 1.5, 2.0, 3.0, 3.0, 3.0]
    net.add_spike_source("s", 6, times=times, indices=[0, 2, 5, 1, 3, 4, 0, 1, 2, 5])
    net.connect("s", "i", p=0.7, weight=Uniform(0.3, 0.9), delay=0.5, synapse=ExpSynapse(tau=2.0))
    net.connect("s", "e", p=0.7, weight=0.4, synapse=ExpSynapse(tau=2.0))
    net.add_current("drive", "i", 2.5)
    net.add_current("drive_e", "e", torch.linspace(6.0, 14.0, 24))
    if gain and batch:  # on a projection straight into g and on one through the ring
        net.projections["e->i"].gain = torch.linspace(0.5, 1.5, batch, dtype=dtype)
        net.projections["e->e"].gain = torch.linspace(1.25, 0.75, batch, dtype=dtype)
    for name in ("e", "i", "p", "s"):
        net.record_spikes(name)
    net.record_rate("e")
    return net


def hand_over(src: Network, dst: Network) -> None:
    """``dst`` starts from ``src``'s initial state (``load_state_dict`` cannot carry the CPU
    generators' states into CUDA ones)."""
    s, d = src._ensure_state(), dst._ensure_state()
    for name, st in s.neurons.items():
        d.neurons[name] = type(st)(*(f.to(dst.device).clone() for f in st))
    for name in s.syn:
        d.syn[name] = [t.to(dst.device).clone() for t in s.syn[name]]
        d.ring[name] = s.ring[name].to(dst.device).clone()
    for name in s.held:
        d.held[name] = s.held[name].to(dst.device).clone()


def assert_same(ref: Network, net: Network, min_spikes: int = 20) -> None:
    """Spikes, rates and every state tensor bitwise equal; enough spikes to mean something."""
    total = 0
    for a, b in zip(ref._monitors, net._monitors):
        if isinstance(a, sf.circuits.SpikeMonitor):
            assert np.array_equal(a.steps, b.steps) and np.array_equal(a.i, b.i), a.source
            assert np.array_equal(a.batch, b.batch), a.source
            total += a.steps.size
        else:
            assert np.array_equal(a.counts, b.counts) and np.array_equal(a.t, b.t)
    assert total >= min_spikes, f"only {total} spikes: the comparison would prove little"
    s, t = ref._sim, net._sim
    assert s.step == t.step
    for name in s.neurons:
        for field, x, y in zip(s.neurons[name]._fields, s.neurons[name], t.neurons[name]):
            assert torch.equal(x, y.cpu()), f"{name}.{field}"
    for name in s.held:
        assert torch.equal(s.held[name], t.held[name].cpu()), f"held flags of {name}"
    for name in s.syn:
        assert torch.equal(s.syn[name][0], t.syn[name][0].cpu()), f"g of {name}"
        assert torch.equal(s.ring[name], t.ring[name].cpu()), f"ring of {name}"


def test_float64_dt_0_1_equals_the_compiled_engine():
    ref = build(dtype=torch.float64, dt=0.1)
    ref.run(4.0)
    assert ref.last_run_info["path"] == "compiled"
    net = build(dtype=torch.float64, dt=0.1)
    engine = TritonEngine(interpret=True)
    net.run(4.0, engine=engine)
    assert net.last_run_info["path"] == "triton"
    assert_same(ref, net)
    # one step kernel and one propagation launch per kind of projection present (5 of 6 here)
    assert engine._static is not None and len(engine._static.pblk) == 5
    assert engine.launches == 40 * (1 + 5)


@pytest.mark.slow
def test_float32_dt_0_25_batch_gain_split_run_equals_the_compiled_engine():
    """Two copies (their own noise seeds, a per-copy gain), float32, a run split in three (the
    state goes back and forth between the engine's buffers and the network) against one run."""
    ref = build(dtype=torch.float32, dt=0.25, batch=2, gain=True)
    ref.run(6.0)
    net = build(dtype=torch.float32, dt=0.25, batch=2, gain=True)
    engine = TritonEngine(interpret=True, chunk=10)  # chunk boundaries inside the runs too
    for duration in (1.5, 3.5, 1.0):
        net.run(duration, engine=engine)
    assert_same(ref, net, min_spikes=40)


def test_split_between_engines_and_chunks():
    """Compiled for 2 ms, then the Triton engine for 2 ms in chunks of 7 steps: the state handed
    over (ring buffers with spikes in flight, refractory counts) gives the one-engine run."""
    ref = build(dtype=torch.float64, dt=0.25)
    ref.run(4.0)
    net = build(dtype=torch.float64, dt=0.25)
    net.run(2.0)
    net.run(2.0, engine=TritonEngine(interpret=True, chunk=7))
    assert_same(ref, net)


def test_launch_count_is_two_per_step_for_cuba():
    """A CUBA-shaped network (one shared delay, shared weights): 2 launches per step, whatever
    the number of populations and projections."""
    net = Network(dt=0.1, seed=0, dtype=torch.float64)
    for name, n in (("e", 8), ("i", 4)):
        net.add_population(name, sf.neurons.LIF(n, v_th=1.0, dt=0.1), init={"v": Uniform(0.0, 1.0)})
    for pre in ("e", "i"):
        for post in ("e", "i"):
            net.connect(
                pre, post, p=0.5, weight=0.2 if pre == "e" else -0.5, delay=0.3, synapse=ExpSynapse(tau=5.0)
            )
    engine = TritonEngine(interpret=True)
    net.run(0.3, engine=engine)
    assert engine.launches == 2 * 3


def test_supports_names_what_it_cannot_run():
    engine = TritonEngine(interpret=True)
    net = Network(dt=0.1, seed=0)
    net.add_population("x", sf.neurons.LIF(4, dt=0.1))
    assert engine.supports(net) is None
    assert "CUDA" in (TritonEngine().supports(net) or "")  # a CPU network needs the interpreter
    net.record_state("x", "v")
    assert "state monitor" in (engine.supports(net) or "")

    net = Network(dt=0.1, seed=0)
    net.add_population("x", sf.neurons.LIF(4, dt=0.1))
    net.connect("x", "x", weight=0.5, synapse=sf.circuits.AlphaSynapse(tau=2.0))
    assert "AlphaSynapse" in (engine.supports(net) or "")

    net = Network(dt=0.1, seed=0)
    net.add_population("x", sf.neurons.Izhikevich(4, dt=0.1))
    assert "Izhikevich" in (engine.supports(net) or "")

    net = Network(dt=0.1, seed=0)
    net.add_population("x", sf.neurons.LIF(4, dt=0.1))
    rule = sf.plasticity.TripletSTDP(dt=0.1)
    net.connect("x", "x", p=1.0, weight=0.5, storage="sparse", plasticity=rule)
    assert "TripletSTDP" in (engine.supports(net) or "")
    with pytest.raises(ParameterError, match="TripletSTDP"):
        net.run(0.1, engine=engine)

    net = Network(dt=0.1, seed=0)
    net.add_population("x", sf.neurons.LIF(4, dt=0.1))
    net.add_poisson_input("drv", "x", n=10, rate=5 * sf.units.Hz, weight=0.1)
    assert "Poisson input" in (engine.supports(net) or "")


def test_cuda_without_triton_warns_and_runs_the_pytorch_engine(monkeypatch):
    net = Network(dt=0.1, seed=0, device="cuda")  # nothing is put on the device here
    monkeypatch.setattr(gpu, "triton_available", lambda: False)
    monkeypatch.setattr(choose, "triton_available", lambda: False)
    with pytest.warns(RuntimeWarning, match="Triton is not installed"):
        engine, why = choose.choose_engine(net, {})
    assert engine.name == "torch" and "Triton is not installed" in why


def test_engine_argument_must_be_an_engine():
    net = Network(dt=0.1, seed=0)
    net.add_population("x", sf.neurons.LIF(4, dt=0.1))
    with pytest.raises(ParameterError, match="engine must be None or an engine object.*'triton'"):
        net.run(0.1, engine="triton")  # type: ignore[arg-type]


def test_chooser_never_picks_it_on_the_cpu():
    net = build(dtype=torch.float64, dt=0.1)
    net.run(0.1)
    assert net.last_run_info["path"] == "compiled"


@pytest.mark.slow
def test_kernels_compile_for_hopper_without_a_gpu():
    """The interpreter is lenient where the compiler is not (types of loop-carried values, scalar
    branches): compile every variant of both kernels for sm_90 (H100), float32 and float64, and
    check that no fused multiply-add crept in."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from spikeforge.circuits.engines.gpu import kernel_module

    if "nvidia" not in triton.backends.backends:
        pytest.skip("this triton has no nvidia backend")
    kern = kernel_module(False)
    target = GPUTarget("cuda", 90, 32)
    for fp, ii in (("fp32", "i32"), ("fp64", "i64")):  # ints that fit in 32 bits are passed as i32
        f, i64 = f"*{fp}", "*i64"
        step = {"step_ptr": i64, "k": ii, "blk_ptr": i64, "V": f, "I": f, "REF": "*i32", "HELD": "*i8"}
        step |= {"NV": ii, "pop_ptr": i64, "prm_ptr": f, "ch_ptr": i64, "chf_ptr": f, "gain_ptr": f}
        step |= {"coef_ptr": f, "GS": f, "NG": ii, "R": f, "NR": ii, "cur_ptr": f, "cur_meta_ptr": i64}
        step |= {
            "grp_ptr": i64,
            "pdat_ptr": "*fp64",
            "key_ptr": i64,
            "rec_ptr": "*i8",
            "S": ii,
            "B": ii,
        }
        prop = {"step_ptr": i64, "k": ii, "pblk_ptr": i64, "ch_ptr": i64, "chf_ptr": f, "gain_ptr": f}
        prop |= {"csc_ptr": i64, "csc_pre": "*i32", "csc_w": f, "csc_d": "*i32", "GS": f, "NG": ii}
        prop |= {"R": f, "NR": ii, "rec_ptr": "*i8", "S": ii, "B": ii}
        variants = [(kern.step_kernel, step, {"F32": fp == "fp32", "BLOCK": 128})]
        variants += [
            (kern.propagate_kernel, prop, {"CASE": case, "HAS_W": has_w, "BLOCK": 128})
            for case in (0, 1, 2)
            for has_w in (False, True)
        ]
        for kernel, sig, constexprs in variants:
            signature = {**sig, **dict.fromkeys(constexprs, "constexpr")}
            compiled = triton.compile(
                ASTSource(kernel, signature, constexprs), target=target, options={"enable_fp_fusion": False}
            )
            ptx = compiled.asm["ptx"]
            assert ".entry" in ptx and "fma.rn" not in ptx


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_on_cuda_with_graphs_equals_the_compiled_engine(dtype):
    """The compiled kernels on the GPU, chunks replayed as CUDA graphs, against the CPU engine from
    the same initial state (CUDA generators draw other initial values: it is handed over)."""
    ref = build(dtype=dtype, dt=0.1, batch=2, gain=True)
    cuda = build(dtype=dtype, dt=0.1, batch=2, gain=True, device="cuda")
    for name, proj in ref.projections.items():  # the structure generator is on the CPU
        assert torch.equal(proj.weight, cuda.projections[name].weight.cpu()), name
    hand_over(ref, cuda)
    ref.run(60.0)
    for duration in (10.0, 25.0, 25.0):
        cuda.run(duration)
    assert cuda.last_run_info["path"] == "triton"
    engine = cuda._engines["triton"]
    assert engine.replays == 2  # 100 steps launched one by one, then two replays of 250 steps
    assert_same(ref, cuda, min_spikes=200)
