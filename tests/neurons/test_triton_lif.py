"""The Triton LIF scan kernels against the PyTorch scan, run on the CPU by Triton's interpreter.

``lif_scan(..., _interpret=True)`` loads the kernels as ``TRITON_INTERPRET=1`` does (in a second
copy of their module, leaving the rest of the process alone) and runs them on CPU tensors, so the
kernels that run on a GPU are proven here against :class:`spikeforge.neurons.lif._LIFScan`: spikes,
refractory counts and states identical (the kernel does the same arithmetic, fused multiply-adds
where ATen's CPU kernels fuse them), gradients (inputs, initial state, every parameter) to 4e-6
relative in float32 and 1e-12 in float64. Sizes are small: the interpreter runs numpy per
block and step.

Float32 gradients agree to 4e-6 rather than 1e-6: they come out of two recurrences over time
whose rounding differs (the kernel fuses multiply-adds as a GPU does), and the PyTorch scan in
float32 is itself up to 2.6e-6 away from the float64 result on these cases. So float32 runs also
check that the kernel is no farther from the float64 result than the PyTorch scan is (+1e-6).
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

import spikeforge as sf
from spikeforge.neurons import _triton_lif
from spikeforge.neurons.lif import LIFParams, LIFState, _LIFScan, lif_init_state, lif_scan
from spikeforge.surrogate import ATan, FastSigmoid, StraightThrough, Surrogate, Triangle

pytest.importorskip("triton", reason="the Triton kernels need triton: pip install 'spikeforge[gpu]'")

RTOL = {torch.float32: 4e-6, torch.float64: 1e-12}
PARAMS = ("tau_mem", "tau_syn", "v_leak", "v_th", "v_reset", "r")


def make_case(gen: torch.Generator, *, dtype: torch.dtype, syn: bool, t_ref: float, shape=(3, 5), steps=24):
    """Input, a non-resting initial state and parameters (varying per neuron), all leaves."""
    n = shape[-1]

    def rand(*s: int) -> torch.Tensor:
        return torch.rand(*s, generator=gen, dtype=dtype)

    x = rand(steps, *shape) * (0.6 if syn else 2.0)  # both fire in about 10 steps
    p = {
        "tau_mem": rand(n) * 10 + 5,
        "tau_syn": torch.tensor(4.0, dtype=dtype) if syn else None,
        "v_leak": torch.tensor(0.1, dtype=dtype),
        "v_th": rand(n) * 0.2 + 0.5,
        "v_reset": torch.tensor(-0.1, dtype=dtype),
        "r": torch.tensor(1.3, dtype=dtype),
    }
    v0, i0 = rand(*shape) * 0.5, rand(*shape) * 0.1
    ref0 = torch.randint(0, 3, shape, generator=gen, dtype=torch.int32) if t_ref else None
    weights = rand(steps, *shape)
    return x, p, torch.tensor(t_ref, dtype=dtype), (v0, i0, ref0), weights


def run(case, *, interpret: bool, dt: float, **kw):
    """The scan and the gradients of a loss that uses spikes, the trace and the final state."""
    x, p, t_ref, (v0, i0, ref0), weights = case
    leaves = {k: v.clone().requires_grad_() for k, v in p.items() if v is not None}
    x, v0, i0 = (t.clone().requires_grad_() for t in (x, v0, i0))
    params = LIFParams(**{k: leaves.get(k) for k in p}, t_ref=t_ref)
    state = lif_init_state(tuple(x.shape[1:-1]), params, tuple(x.shape[-1:]), dtype=x.dtype)
    state = LIFState(v0, i0, state.ref if ref0 is None else ref0)
    res = lif_scan(x, state, params, dt=dt, record=True, _interpret=interpret, **kw)
    loss = (
        (res.output * weights).sum()
        + (res.state.v**2).sum()
        + 0.3 * res.state.i.sum()
        + 0.1 * (res.trace.v * weights).sum()
    )
    inputs = {"x": x, "v0": v0, "i0": i0, **leaves}
    grads = torch.autograd.grad(loss, list(inputs.values()), allow_unused=True)
    return res, dict(zip(inputs, grads))


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    """Largest difference relative to the largest magnitude, computed in float64."""
    got, want = got.double(), want.double()
    return ((got - want).abs().max() / want.abs().max().clamp(min=1e-300)).item()


def assert_close(name: str, got: torch.Tensor | None, want: torch.Tensor | None, rtol: float) -> None:
    assert (got is None) == (want is None), name
    if want is None or got is None:
        return
    err = rel_err(got, want)
    assert err <= rtol, f"{name}: relative error {err:.3g} > {rtol:g}"


def as_float64(case):
    x, p, t_ref, (v0, i0, ref0), weights = case
    p64 = {k: None if v is None else v.double() for k, v in p.items()}
    return x.double(), p64, t_ref.double(), (v0.double(), i0.double(), ref0), weights.double()


def compare(case, *, dt: float, dtype: torch.dtype, **kw) -> None:
    want, gwant = run(case, interpret=False, dt=dt, **kw)
    got, ggot = run(case, interpret=True, dt=dt, **kw)
    assert want.output.sum() > 0, "no spikes: the case proves little"
    assert torch.equal(got.output, want.output)
    assert torch.equal(got.state.ref, want.state.ref)
    assert torch.equal(got.trace.ref, want.trace.ref)
    rtol = RTOL[dtype]
    for field in ("v", "i"):
        assert torch.equal(getattr(got.state, field), getattr(want.state, field)), field
        assert torch.equal(getattr(got.trace, field), getattr(want.trace, field)), field
    for name in gwant:
        assert_close(f"grad {name}", ggot[name], gwant[name], rtol)
    if dtype == torch.float32:  # the kernel is as accurate as the PyTorch scan
        exact, gexact = run(as_float64(case), interpret=False, dt=dt, **kw)
        assert torch.equal(exact.output.float(), want.output)
        for name, g in gexact.items():
            if g is not None:
                err_kernel, err_torch = rel_err(ggot[name], g), rel_err(gwant[name], g)
                assert err_kernel <= err_torch + 1e-6, f"grad {name}: {err_kernel:.3g} vs {err_torch:.3g}"


@pytest.mark.parametrize("detach_reset", [True, False])
@pytest.mark.parametrize("reset", ["to_value", "subtract"])
@pytest.mark.parametrize("syn", [False, True], ids=["no_syn", "syn"])
def test_kernel_equals_pytorch_scan_resets_refractory_synapse(gen, syn, reset, detach_reset):
    # t_ref / dt = 2.3 / 0.7 = 3.29 steps, rounded to 3; the initial state is mid-refractory
    case = make_case(gen, dtype=torch.float32, syn=syn, t_ref=2.3)
    compare(case, dt=0.7, dtype=torch.float32, reset=reset, detach_reset=detach_reset)


@pytest.mark.parametrize(
    "surrogate",
    [FastSigmoid(3.0), ATan(2.0), Triangle(0.5), StraightThrough(), StraightThrough(0.3)],
    ids=lambda s: repr(s),
)
def test_kernel_equals_pytorch_scan_each_surrogate_euler(gen, surrogate):
    case = make_case(gen, dtype=torch.float32, syn=True, t_ref=0.0)
    compare(case, dt=1.3, dtype=torch.float32, spike_fn=surrogate, integrator="euler", detach_reset=False)


def test_kernel_equals_pytorch_scan_large_steps(gen):
    """dt = 9 ms against tau_mem of 5 to 15 ms: k = 1 - exp(-dt/tau) > 0.5, lerp's other branch."""
    case = make_case(gen, dtype=torch.float32, syn=True, t_ref=20.0)
    compare(case, dt=9.0, dtype=torch.float32, reset="subtract")


def test_membrane_exactly_at_threshold_does_not_spike():
    """v = v_leak = v_th with no input stays exactly at threshold: H(0) = 0, as on the CPU."""
    one = torch.ones(3)
    params = LIFParams(*(torch.tensor(v) for v in (10.0, 5.0, 1.0, 1.0, 0.0, 1.0, 0.0)))
    state = LIFState(one.clone(), torch.zeros_like(one), torch.zeros(3, dtype=torch.int32))
    res = lif_scan(torch.zeros(4, 3), state, params, dt=1.0, _interpret=True)
    assert torch.equal(res.state.v, one)
    assert res.output.sum() == 0


@pytest.mark.parametrize("syn", [False, True], ids=["no_syn", "syn"])
def test_kernel_equals_pytorch_scan_float64(gen, syn):
    case = make_case(gen, dtype=torch.float64, syn=syn, t_ref=1.5)
    compare(case, dt=0.4, dtype=torch.float64, reset="subtract", spike_fn=ATan(3.0), detach_reset=False)


def test_kernel_parameters_varying_over_several_dimensions(gen):
    """Parameters of shape (2, 3) and (3,) over a (4, 2, 3) state: the kernel's broadcast; then
    t_ref alone of shape (2, 3), whole and not whole in steps of dt."""
    x, p, t_ref, state, weights = make_case(gen, dtype=torch.float32, syn=True, t_ref=2.0, shape=(4, 2, 3))
    p_2d = dict(p, tau_mem=torch.rand(2, 3, generator=gen, dtype=torch.float32) * 10 + 5)
    compare((x, p_2d, t_ref, state, weights), dt=1.0, dtype=torch.float32)
    t_ref_2d = torch.tensor([[0.0, 1.4, 2.6], [3.1, 0.9, 2.0]])
    compare((x, p, t_ref_2d, state, weights), dt=1.0, dtype=torch.float32)


def test_module_learnable_parameters_get_the_kernels_gradients(gen):
    """Through ``LIF.params()`` (softplus time constants, v_th above v_reset) and a batch of 2."""
    lif = sf.neurons.LIF(4, tau_mem=8.0, tau_syn=3.0, v_th=0.6, t_ref=1.0, learnable=PARAMS)
    x = torch.rand(12, 2, 4, generator=gen) * 0.8

    def grads(interpret: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        state = lif.init_state((2,))
        res = lif_scan(x, state, lif.params(), _interpret=interpret, **lif._settings())
        out = res.output
        g = torch.autograd.grad((out * x).sum() + res.state.v.sum(), list(lif.parameters()))
        return out, list(g)

    (z_want, g_want), (z_got, g_got) = grads(False), grads(True)
    assert z_want.sum() > 0
    assert torch.equal(z_got, z_want)
    for (name, _), a, b in zip(lif.named_parameters(), g_got, g_want):
        assert_close(name, a, b, RTOL[torch.get_default_dtype()])


def test_one_launch_forward_and_one_backward_whatever_the_length(gen, monkeypatch):
    fwd, bwd = _triton_lif._kernels(True)
    launches: list[str] = []

    class Counting:
        def __init__(self, name, kernel):
            self.name, self.kernel = name, kernel

        def __getitem__(self, grid):
            launches.append(self.name)
            return self.kernel[grid]

    monkeypatch.setattr(_triton_lif, "_kernels", lambda interpret: (Counting("f", fwd), Counting("b", bwd)))
    for steps in (2, 12):
        launches.clear()
        case = make_case(gen, dtype=torch.float32, syn=True, t_ref=2.0, steps=steps, shape=(2, 150))
        run(case, interpret=True, dt=1.0)  # 300 elements: three programs of one launch
        assert launches == ["f", "b"]


def test_custom_surrogate_and_half_precision_fall_back_to_the_pytorch_scan(gen):
    class Mine(Surrogate):
        def grad(self, x: torch.Tensor) -> torch.Tensor:
            return torch.exp(-x.abs())

    class MySigmoid(FastSigmoid):  # a subclass of a built-in may change grad: not the kernel's
        def grad(self, x: torch.Tensor) -> torch.Tensor:
            return 2 * super().grad(x)

    x = torch.rand(5, 3, generator=gen)
    for s in (Mine(), MySigmoid(5.0)):
        assert _triton_lif.scan_function(x, s, _LIFScan, interpret=True) is _LIFScan
    assert _triton_lif.scan_function(x, FastSigmoid(), _LIFScan, interpret=True) is not _LIFScan
    for dtype in (torch.float16, torch.bfloat16):  # the kernels take float32 and float64 only
        assert _triton_lif.scan_function(x.to(dtype), FastSigmoid(), _LIFScan, interpret=True) is _LIFScan
    case = make_case(gen, dtype=torch.float32, syn=False, t_ref=0.0)
    compare(case, dt=1.0, dtype=torch.float32, spike_fn=Mine())


def test_without_triton_on_cuda_the_pytorch_scan_runs_with_one_warning(monkeypatch):
    monkeypatch.setattr(_triton_lif, "_kernels", lambda interpret: None)
    x = torch.zeros(3, 2)
    with pytest.warns(RuntimeWarning, match="Triton is not installed.*slower.*spikeforge\\[gpu\\]"):
        assert _triton_lif.scan_function(x, FastSigmoid(), _LIFScan) is _LIFScan
    with pytest.raises(sf.errors.MissingDependencyError, match="triton"):
        _triton_lif.scan_function(x, FastSigmoid(), _LIFScan, interpret=True)


def test_kernel_module_imports_without_triton(monkeypatch):
    """Without triton the kernel module still imports (every module's doctests run) and says so."""
    import importlib.util
    import sys

    from spikeforge.neurons import _triton_lif_kernels as kern

    for name in ("triton", "triton.language"):
        monkeypatch.setitem(sys.modules, name, None)  # import triton then raises ImportError
    spec = importlib.util.spec_from_file_location("_kernels_without_triton", kern.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.AVAILABLE is False and kern.AVAILABLE is True


def test_cpu_tensors_never_reach_the_kernels(gen, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the CPU path asked for the Triton kernels")

    monkeypatch.setattr(_triton_lif, "scan_function", boom)
    lif = sf.neurons.LIF(3, tau_syn=2.0, t_ref=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z, _ = lif(torch.rand(30, 3, generator=gen) * 4)
    assert z.sum() > 0


def test_surrogate_constants_cover_every_builtin_surrogate():
    assert _triton_lif.surrogate_constants(FastSigmoid(7.0)) == (0, 7.0, 0.0)
    assert _triton_lif.surrogate_constants(ATan(2.0)) == (1, math.pi, 1.0)
    assert _triton_lif.surrogate_constants(Triangle(0.5)) == (2, 0.5, 0.0)
    assert _triton_lif.surrogate_constants(StraightThrough(0.3))[0] == 3
    assert _triton_lif.surrogate_constants(StraightThrough())[0] == 4
    builtins = {FastSigmoid, ATan, Triangle, StraightThrough}
    assert builtins == set(Surrogate.__subclasses__()) & builtins


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lif_on_cuda_runs_the_kernel_and_equals_the_cpu(gen, dtype):
    pytest.importorskip("triton")
    lif = sf.neurons.LIF(64, tau_mem=10.0, tau_syn=4.0, t_ref=2.0, dt=0.5, learnable=PARAMS).to(dtype)
    x = torch.rand(50, 8, 64, generator=gen, dtype=dtype)
    outs = {}
    for device in ("cpu", "cuda"):
        m = lif.to(device)
        xd = x.to(device).requires_grad_()
        z, state = m(xd)
        if device == "cuda":
            assert "TritonLIFScan" in type(z.grad_fn).__name__
        (z * xd.detach()).sum().add(state.v.sum()).backward()
        outs[device] = (z.cpu(), xd.grad.cpu(), [p.grad.cpu() for p in m.parameters()])
        m.zero_grad()
    assert torch.equal(outs["cuda"][0], outs["cpu"][0])
    assert_close("x", outs["cuda"][1], outs["cpu"][1], 1e-5 if dtype == torch.float32 else 1e-12)
    for a, b in zip(outs["cuda"][2], outs["cpu"][2]):
        assert_close("param", a, b, 1e-5 if dtype == torch.float32 else 1e-12)


@pytest.mark.slow
def test_kernels_compile_for_hopper_without_a_gpu():
    """The interpreter is lenient where the compiler is not (types of loop-carried values, scalar
    branches): compile both kernels, every option on and every option off, for sm_90 (H100)."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from spikeforge.neurons import _triton_lif_kernels as kern

    if "nvidia" not in triton.backends.backends:
        pytest.skip("this triton has no nvidia backend")
    p, i8, i32 = "*fp32", "*i8", "*i32"
    fwd = dict.fromkeys(["x_ptr", "v0_ptr", "i0_ptr", "prm_ptr", "z_ptr", "vpre_ptr", "iseq_ptr"], p)
    fwd |= {"ref0_ptr": i32, "nref_ptr": i32, "act_ptr": i8, "ref_ptr": i32}
    fwd |= {"T": "i32", "N": "i32", "n_par": "i32"}
    bwd = dict.fromkeys(["vpre_ptr", "z_ptr", "drive_ptr", "v0_ptr", "i0_ptr", "prm_ptr", "sur_ptr"], p)
    bwd |= dict.fromkeys(["gz_ptr", "gv_ptr", "gi_ptr", "gx_ptr", "gv0_ptr", "gi0_ptr", "gp_ptr"], p)
    bwd |= {"act_ptr": i8, "last": "i64", "T": "i32", "N": "i32", "n_par": "i32"}
    target = GPUTarget("cuda", 90, 32)
    for on in (True, False):
        flags = dict.fromkeys(["SYN", "REF", "SUBTRACT"], on)
        for kernel, sig, extra in (
            (kern.lif_forward_kernel, fwd, {}),
            (kern.lif_backward_kernel, bwd, dict.fromkeys(["DETACH", "HAS_GV", "HAS_GI", "NEED_P"], on)),
        ):
            constexprs = {**flags, **extra, "BLOCK": 128}
            if kernel is kern.lif_backward_kernel:
                constexprs["SURR"] = 1 if on else 4
            signature = {**sig, **dict.fromkeys(constexprs, "constexpr")}
            source = ASTSource(kernel, signature, constexprs)
            compiled = triton.compile(source, target=target, options={"enable_fp_fusion": False})
            assert ".entry" in compiled.asm["ptx"]
