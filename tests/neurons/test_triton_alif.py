"""The Triton ALIF scan kernels against autograd through the ALIF step loop, on the CPU.

``alif_scan(..., _interpret=True)`` runs the kernels that run on a GPU through Triton's
interpreter on CPU tensors; ``alif_scan`` on a CPU tensor is the loop of :func:`alif_step`, whose
gradients autograd computes: the reference. Spikes, refractory counts and states (v, i, a, in
the trace and the final state) must be identical, since the kernel does the step's arithmetic in
its order (fused multiply-adds where ATen fuses them); gradients of a loss over spikes, trace and
final state, w.r.t. the input, the initial state (v, i, a) and every parameter, to 1e-6 relative
in float32 (and no farther from the float64 result than the loop is) and 1e-12 in float64.
"""

from __future__ import annotations

import warnings

import pytest
import torch

import spikeforge as sf
from spikeforge.neurons import _triton_alif, _triton_lif
from spikeforge.neurons.alif import ALIFParams, ALIFState, alif_scan
from spikeforge.neurons.lif import LIFParams, LIFState, lif_scan
from spikeforge.surrogate import ATan, FastSigmoid, StraightThrough, Surrogate, Triangle

pytest.importorskip("triton", reason="the Triton kernels need triton: pip install 'spikeforge[gpu]'")

RTOL = {torch.float32: 1e-6, torch.float64: 1e-12}
PARAMS = ("tau_mem", "tau_syn", "v_leak", "v_th", "v_reset", "r", "tau_adapt", "beta")


def make_case(gen: torch.Generator, *, dtype=torch.float32, syn: bool, t_ref: float, shape=(3, 5), steps=16):
    """Input, a non-resting initial state (adapted, mid-refractory) and per-neuron parameters."""
    n = shape[-1]

    def rand(*s: int) -> torch.Tensor:
        return torch.rand(*s, generator=gen, dtype=dtype)

    x = rand(steps, *shape) * (0.8 if syn else 2.5)
    p = {
        "tau_mem": rand(n) * 10 + 5,
        "tau_syn": torch.tensor(4.0, dtype=dtype) if syn else None,
        "v_leak": torch.tensor(0.1, dtype=dtype),
        "v_th": rand(n) * 0.2 + 0.5,
        "v_reset": torch.tensor(-0.1, dtype=dtype),
        "r": torch.tensor(1.3, dtype=dtype),
        "tau_adapt": rand(n) * 20 + 10,
        "beta": rand(n) * 0.3 + 0.05,
    }
    state = (rand(*shape) * 0.5, rand(*shape) * 0.1, rand(*shape) * 0.5)  # v0, i0, a0
    ref0 = torch.randint(0, 3, shape, generator=gen, dtype=torch.int32)
    return x, p, torch.tensor(t_ref, dtype=dtype), state, ref0, rand(steps, *shape)


def as_float64(case):
    x, p, t_ref, state, ref0, weights = case
    p64 = {k: None if v is None else v.double() for k, v in p.items()}
    return x.double(), p64, t_ref.double(), tuple(s.double() for s in state), ref0, weights.double()


def run(case, *, interpret: bool, dt: float, record: bool = True, **kw):
    """The scan and the gradients of a loss over spikes, the trace (v, a) and the final state."""
    x, p, t_ref, state, ref0, weights = case
    leaves = {k: v.clone().requires_grad_() for k, v in p.items() if v is not None}
    x, v0, i0, a0 = (t.clone().requires_grad_() for t in (x, *state))
    params = ALIFParams(**{k: leaves.get(k) for k in p if k != "t_ref"}, t_ref=t_ref)
    res = alif_scan(x, ALIFState(v0, i0, ref0, a0), params, dt=dt, record=record, _interpret=interpret, **kw)
    loss = (res.output * weights).sum() + (res.state.v**2).sum() + 0.3 * res.state.i.sum()
    loss = loss + 0.5 * (res.state.a**2).sum()
    if record:
        loss = loss + 0.1 * (res.trace.v * weights).sum() + 0.2 * (res.trace.a * weights.flip(0)).sum()
    inputs = {"x": x, "v0": v0, "i0": i0, "a0": a0, **leaves}
    grads = torch.autograd.grad(loss, list(inputs.values()), allow_unused=True)
    return res, dict(zip(inputs, grads))


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    """Largest difference relative to the largest magnitude, computed in float64."""
    got, want = got.double(), want.double()
    return ((got - want).abs().max() / want.abs().max().clamp(min=1e-300)).item()


def compare(case, *, dt: float, record: bool = True, **kw) -> None:
    dtype = case[0].dtype
    want, gwant = run(case, interpret=False, dt=dt, record=record, **kw)
    got, ggot = run(case, interpret=True, dt=dt, record=record, **kw)
    assert want.output.sum() > 0, "no spikes: the case proves little"
    assert torch.equal(got.output, want.output)
    pairs = [(got.state, want.state)] + ([(got.trace, want.trace)] if record else [])
    for g, w in pairs:
        for field in ("v", "i", "ref", "a"):
            assert torch.equal(getattr(g, field), getattr(w, field)), field
    for name, w in gwant.items():
        assert (ggot[name] is None) == (w is None), name
        if w is not None:
            err = rel_err(ggot[name], w)
            assert err <= RTOL[dtype], f"grad {name}: relative error {err:.3g}"
    if dtype == torch.float32:  # the kernel is as accurate as the loop
        _, gexact = run(as_float64(case), interpret=False, dt=dt, record=record, **kw)
        for name, g in gexact.items():
            if g is not None:
                err_kernel, err_loop = rel_err(ggot[name], g), rel_err(gwant[name], g)
                assert err_kernel <= err_loop + 1e-6, f"grad {name}: {err_kernel:.3g} vs {err_loop:.3g}"


@pytest.mark.parametrize(
    ("syn", "reset", "detach_reset"),
    [
        (False, "to_value", True),
        (True, "to_value", False),
        (False, "subtract", False),
        (True, "subtract", True),
    ],
)
def test_kernel_equals_step_loop_resets_refractory_synapse(gen, syn, reset, detach_reset):
    # t_ref / dt = 2.3 / 0.7 = 3.29 steps, rounded to 3; the initial state is mid-refractory
    case = make_case(gen, syn=syn, t_ref=2.3)
    compare(case, dt=0.7, reset=reset, detach_reset=detach_reset)


@pytest.mark.parametrize(
    "surrogate",
    [ATan(2.0), Triangle(0.5), StraightThrough(), StraightThrough(0.3)],
    ids=lambda s: repr(s),
)
def test_kernel_equals_step_loop_each_surrogate_euler(gen, surrogate):
    case = make_case(gen, syn=True, t_ref=0.0, steps=10)
    compare(case, dt=1.3, spike_fn=surrogate, integrator="euler", detach_reset=False, reset="subtract")


def test_kernel_equals_step_loop_float64_without_trace_and_one_step(gen):
    case = make_case(gen, dtype=torch.float64, syn=False, t_ref=1.5)
    compare(case, dt=0.4, record=False, reset="subtract", spike_fn=ATan(3.0), detach_reset=False)
    x, *rest = make_case(gen, dtype=torch.float64, syn=True, t_ref=0.0, steps=1)
    compare((x * 4, *rest), dt=1.0, record=False)  # T = 1: the final threshold from a0


def test_kernel_parameters_varying_over_several_dimensions(gen):
    """tau_adapt of shape (2, 3) and beta of shape (3,) over a (4, 2, 3) state."""
    x, p, t_ref, state, ref0, weights = make_case(gen, syn=True, t_ref=2.0, shape=(4, 2, 3), steps=10)
    p = dict(p, tau_adapt=torch.rand(2, 3, generator=gen) * 20 + 10)
    compare((x, p, t_ref, state, ref0, weights), dt=1.0)


def test_beta_zero_is_the_lif_kernel(gen):
    """With beta = 0 the ALIF kernel gives the LIF kernel's spikes and membrane bitwise."""
    x, p, t_ref, (v0, i0, a0), ref0, _ = make_case(gen, syn=True, t_ref=2.0)
    lif = LIFParams(p["tau_mem"], p["tau_syn"], p["v_leak"], p["v_th"], p["v_reset"], p["r"], t_ref)
    alif = ALIFParams(*lif, tau_adapt=p["tau_adapt"], beta=torch.tensor(0.0))
    for reset in ("to_value", "subtract"):
        a = alif_scan(x, ALIFState(v0, i0, ref0, a0), alif, dt=0.5, reset=reset, _interpret=True)
        b = lif_scan(x, LIFState(v0, i0, ref0), lif, dt=0.5, reset=reset, _interpret=True)
        assert a.output.sum() > 0
        assert torch.equal(a.output, b.output)
        assert torch.equal(a.state.v, b.state.v) and torch.equal(a.state.ref, b.state.ref)


@pytest.mark.parametrize("learnable", [PARAMS, ("tau_mem",)], ids=["all", "tau_mem"])
def test_module_learnable_parameters_get_the_kernels_gradients(gen, learnable):
    """Through ``ALIF.params()`` (softplus tau_adapt and beta) and a batch of 2; all parameters
    learnable, or the first alone."""
    kw = dict(tau_mem=8.0, tau_syn=3.0, tau_adapt=30.0, beta=0.2, v_th=0.5)
    alif = sf.neurons.ALIF(4, **kw, learnable=learnable)
    x = torch.rand(12, 2, 4, generator=gen)

    def grads(interpret: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        res = alif_scan(x, alif.init_state((2,)), alif.params(), _interpret=interpret, **alif._settings())
        g = torch.autograd.grad((res.output * x).sum() + res.state.v.sum(), list(alif.parameters()))
        return res.output, list(g)

    (z_want, g_want), (z_got, g_got) = grads(False), grads(True)
    assert z_want.sum() > 0
    assert torch.equal(z_got, z_want)
    for (name, _), a, b in zip(alif.named_parameters(), g_got, g_want):
        assert rel_err(a, b) <= 2e-6, name


def test_one_launch_forward_and_one_backward_whatever_the_length(gen, monkeypatch):
    kern = _triton_lif.kernel_module(True)
    launches: list[str] = []

    class Counting:
        def __init__(self, name, kernel):
            self.name, self.kernel = name, kernel

        def __getitem__(self, grid):
            launches.append(self.name)
            return self.kernel[grid]

    class Module:
        alif_forward_kernel = Counting("f", kern.alif_forward_kernel)
        alif_backward_kernel = Counting("b", kern.alif_backward_kernel)

    monkeypatch.setattr(_triton_alif, "kernel_module", lambda interpret: Module)
    for steps in (2, 9):
        launches.clear()
        case = make_case(gen, syn=True, t_ref=2.0, steps=steps, shape=(2, 150))
        run(case, interpret=True, dt=1.0, record=False)  # 300 elements: three programs
        assert launches == ["f", "b"]


def test_custom_surrogate_and_half_precision_run_the_step_loop(gen):
    class Mine(Surrogate):
        def grad(self, x: torch.Tensor) -> torch.Tensor:
            return torch.exp(-x.abs())

    x = torch.rand(5, 3, generator=gen)
    assert _triton_alif.alif_scan_function(x, Mine(), interpret=True) is None
    assert _triton_alif.alif_scan_function(x.half(), FastSigmoid(), interpret=True) is None
    assert _triton_alif.alif_scan_function(x, FastSigmoid(), interpret=True) is not None
    case = make_case(gen, syn=False, t_ref=0.0, steps=8)
    compare(case, dt=1.0, spike_fn=Mine())


def test_without_triton_on_cuda_the_step_loop_runs_with_a_warning(monkeypatch):
    monkeypatch.setattr(_triton_alif, "kernel_module", lambda interpret: None)
    x = torch.zeros(3, 2)
    with pytest.warns(RuntimeWarning, match="ALIF.scan on CUDA runs the PyTorch scan.*spikeforge\\[gpu\\]"):
        assert _triton_alif.alif_scan_function(x, FastSigmoid()) is None
    with pytest.raises(sf.errors.MissingDependencyError, match="ALIF kernels need triton"):
        _triton_alif.alif_scan_function(x, FastSigmoid(), interpret=True)


def test_cpu_tensors_never_reach_the_kernels(gen, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the CPU path asked for the Triton kernels")

    monkeypatch.setattr(_triton_alif, "alif_scan_function", boom)
    alif = sf.neurons.ALIF(3, tau_syn=2.0, t_ref=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z, _ = alif(torch.rand(30, 3, generator=gen) * 4)
    assert z.sum() > 0


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_alif_on_cuda_runs_the_kernel_and_equals_the_cpu(gen, dtype):
    alif = sf.neurons.ALIF(64, tau_syn=4.0, tau_adapt=50.0, beta=0.3, t_ref=2.0, dt=0.5, learnable=PARAMS)
    alif = alif.to(dtype)
    x = torch.rand(50, 8, 64, generator=gen, dtype=dtype) * 0.5
    outs = {}
    for device in ("cpu", "cuda"):
        m = alif.to(device)
        xd = x.to(device).requires_grad_()
        z, state = m(xd)
        if device == "cuda":
            assert "TritonALIFScan" in type(z.grad_fn).__name__
        (z * xd.detach()).sum().add(state.v.sum()).add(state.a.sum()).backward()
        outs[device] = (z.cpu(), [xd.grad.cpu()] + [p.grad.cpu() for p in m.parameters()])
        m.zero_grad()
    assert torch.equal(outs["cuda"][0], outs["cpu"][0])
    for a, b in zip(outs["cuda"][1], outs["cpu"][1]):
        assert rel_err(a, b) <= (1e-5 if dtype == torch.float32 else 1e-12)


@pytest.mark.slow
def test_alif_kernels_compile_for_hopper_without_a_gpu():
    """The interpreter is lenient where the compiler is not: compile both kernels for sm_90,
    every option on and every option off."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    kern = _triton_lif.kernel_module(False)
    if "nvidia" not in triton.backends.backends:
        pytest.skip("this triton has no nvidia backend")
    p, i8, i32 = "*fp32", "*i8", "*i32"
    fwd = dict.fromkeys(["x_ptr", "v0_ptr", "i0_ptr", "a0_ptr", "prm_ptr", "z_ptr", "vpre_ptr"], p)
    fwd |= dict.fromkeys(["iseq_ptr", "aseq_ptr"], p)
    fwd |= {"ref0_ptr": i32, "nref_ptr": i32, "act_ptr": i8, "ref_ptr": i32}
    fwd |= {"T": "i32", "N": "i32", "n_par": "i32"}
    bwd = dict.fromkeys(["vpre_ptr", "z_ptr", "drive_ptr", "aseq_ptr", "v0_ptr", "i0_ptr", "a0_ptr"], p)
    bwd |= dict.fromkeys(["prm_ptr", "sur_ptr", "gz_ptr", "gv_ptr", "gi_ptr", "ga_ptr", "gx_ptr"], p)
    bwd |= dict.fromkeys(["gv0_ptr", "gi0_ptr", "ga0_ptr", "gp_ptr"], p)
    bwd |= {"act_ptr": i8, "last": "i64", "T": "i32", "N": "i32", "n_par": "i32"}
    target = GPUTarget("cuda", 90, 32)
    for on in (True, False):
        flags = dict.fromkeys(["SYN", "REF", "SUBTRACT"], on)
        bwd_flags = dict.fromkeys(["DETACH", "HAS_GV", "HAS_GI", "HAS_GA", "NEED_P"], on)
        for kernel, sig, extra in (
            (kern.alif_forward_kernel, fwd, {}),
            (kern.alif_backward_kernel, bwd, {**bwd_flags, "SURR": 1 if on else 4}),
        ):
            constexprs = {**flags, **extra, "BLOCK": 128}
            signature = {**sig, **dict.fromkeys(constexprs, "constexpr")}
            source = ASTSource(kernel, signature, constexprs)
            compiled = triton.compile(source, target=target, options={"enable_fp_fusion": False})
            assert ".entry" in compiled.asm["ptx"]
