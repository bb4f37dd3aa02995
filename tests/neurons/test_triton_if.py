"""The Triton IF scan kernels against autograd through the IF step loop, on the CPU.

``if_scan(..., _interpret=True)`` runs the GPU kernels through Triton's interpreter on CPU
tensors; ``if_scan`` on a CPU tensor is the loop of :func:`if_step`: the reference. Spikes and
states identical, gradients (input, initial v, v_th, v_reset, r) to 1e-6 relative in float32 and
1e-12 in float64.
"""

from __future__ import annotations

import warnings

import pytest
import torch

import spikeforge as sf
from spikeforge.neurons import _triton_if, _triton_lif
from spikeforge.neurons.integrate_fire import IFParams, IFState, if_scan
from spikeforge.surrogate import ATan, FastSigmoid, StraightThrough, Surrogate, Triangle

pytest.importorskip("triton", reason="the Triton kernels need triton: pip install 'spikeforge[gpu]'")

RTOL = {torch.float32: 1e-6, torch.float64: 1e-12}


def run(gen, *, dtype=torch.float32, interpret: bool, record: bool = True, steps=16, **kw):
    g = torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,), generator=gen)))
    shape, n = (3, 5), 5

    def rand(*s: int) -> torch.Tensor:
        return torch.rand(*s, generator=g, dtype=dtype)

    x = (rand(steps, *shape) * 0.8).requires_grad_()
    v0 = (rand(*shape) * 0.5).requires_grad_()
    leaves = {
        "r": (rand(n) + 0.5).requires_grad_(),
        "v_th": (rand(n) * 0.2 + 0.8).requires_grad_(),
        "v_reset": torch.tensor(-0.1, dtype=dtype, requires_grad=True),
    }
    weights = rand(steps, *shape)
    params = IFParams(leaves["v_th"], leaves["v_reset"], leaves["r"])
    res = if_scan(x, IFState(v0), params, record=record, _interpret=interpret, **kw)
    loss = (res.output * weights).sum() + (res.state.v**2).sum()
    if record:
        loss = loss + 0.1 * (res.trace.v * weights).sum()
    inputs = {"x": x, "v0": v0, **leaves}
    return res, dict(zip(inputs, torch.autograd.grad(loss, list(inputs.values()))))


def compare(seed: int, *, dtype=torch.float32, record: bool = True, **kw) -> None:
    want, gwant = run(torch.Generator().manual_seed(seed), dtype=dtype, interpret=False, record=record, **kw)
    got, ggot = run(torch.Generator().manual_seed(seed), dtype=dtype, interpret=True, record=record, **kw)
    assert want.output.sum() > 0
    assert torch.equal(got.output, want.output)
    assert torch.equal(got.state.v, want.state.v)
    if record:
        assert torch.equal(got.trace.v, want.trace.v)
    for name, w in gwant.items():
        err = ((ggot[name].double() - w.double()).abs().max() / w.double().abs().max()).item()
        assert err <= RTOL[dtype], f"grad {name}: {err:.3g}"


@pytest.mark.parametrize("detach_reset", [True, False])
@pytest.mark.parametrize("reset", ["to_value", "subtract"])
def test_kernel_equals_step_loop_resets(reset, detach_reset):
    compare(1, reset=reset, detach_reset=detach_reset)


@pytest.mark.parametrize(
    "surrogate", [ATan(2.0), Triangle(0.5), StraightThrough(), StraightThrough(0.3)], ids=lambda s: repr(s)
)
def test_kernel_equals_step_loop_each_surrogate(surrogate):
    compare(2, spike_fn=surrogate, detach_reset=False, steps=8)


def test_kernel_equals_step_loop_float64_without_trace():
    compare(3, dtype=torch.float64, record=False, reset="subtract", spike_fn=ATan(3.0), detach_reset=False)


def test_module_scan_and_launches(gen, monkeypatch):
    """``IF`` runs ``if_scan``: the loop on the CPU (never the kernels), one launch per direction
    under the interpreter, whatever the length."""

    def boom(*args, **kwargs):
        raise AssertionError("the CPU path asked for the Triton kernels")

    neurons = sf.neurons.IF(3, v_th=1.0, learnable=("v_th", "r"))
    with monkeypatch.context() as m:
        m.setattr(_triton_if, "if_scan_function", boom)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            z, _ = neurons(torch.full((10, 3), 0.25))
    assert z[:, 0].nonzero().flatten().tolist() == [4, 9]

    kern = _triton_lif.kernel_module(True)
    launches: list[str] = []

    class Counting:
        def __init__(self, name, kernel):
            self.name, self.kernel = name, kernel

        def __getitem__(self, grid):
            launches.append(self.name)
            return self.kernel[grid]

    class Module:
        if_forward_kernel = Counting("f", kern.if_forward_kernel)
        if_backward_kernel = Counting("b", kern.if_backward_kernel)

    monkeypatch.setattr(_triton_if, "kernel_module", lambda interpret: Module)
    for steps in (2, 9):
        launches.clear()
        x = torch.rand(steps, 2, 150, generator=gen, requires_grad=True)
        res = if_scan(
            x, IFState(torch.zeros(2, 150)), IFParams(*map(torch.tensor, (0.5, 0.0, 1.0))), _interpret=True
        )
        res.output.sum().add(res.state.v.sum()).backward()
        assert launches == ["f", "b"]


def test_fallbacks_and_missing_triton(monkeypatch):
    class Mine(Surrogate):
        def grad(self, x: torch.Tensor) -> torch.Tensor:
            return torch.exp(-x.abs())

    x = torch.zeros(3, 2)
    assert _triton_if.if_scan_function(x, Mine(), interpret=True) is None
    assert _triton_if.if_scan_function(x.half(), FastSigmoid(), interpret=True) is None
    monkeypatch.setattr(_triton_if, "kernel_module", lambda interpret: None)
    with pytest.warns(RuntimeWarning, match="IF.scan on CUDA runs the PyTorch scan"):
        assert _triton_if.if_scan_function(x, FastSigmoid()) is None


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_if_on_cuda_runs_the_kernel_and_equals_the_cpu(gen):
    neurons = sf.neurons.IF(64, v_th=1.0, reset="subtract", learnable=("v_th", "v_reset", "r"))
    x = torch.rand(50, 8, 64, generator=gen) * 0.5
    outs = {}
    for device in ("cpu", "cuda"):
        m = neurons.to(device)
        xd = x.to(device).requires_grad_()
        z, state = m(xd)
        if device == "cuda":
            assert "TritonIFScan" in type(z.grad_fn).__name__
        (z * xd.detach()).sum().add(state.v.sum()).backward()
        outs[device] = (z.cpu(), [xd.grad.cpu()] + [p.grad.cpu() for p in m.parameters()])
        m.zero_grad()
    assert torch.equal(outs["cuda"][0], outs["cpu"][0])
    for a, b in zip(outs["cuda"][1], outs["cpu"][1]):
        assert ((a - b).abs().max() / b.abs().max()).item() <= 1e-5


@pytest.mark.slow
def test_if_kernels_compile_for_hopper_without_a_gpu():
    """The interpreter is lenient where the compiler is not: compile both kernels for sm_90."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    kern = _triton_lif.kernel_module(False)
    if "nvidia" not in triton.backends.backends:
        pytest.skip("this triton has no nvidia backend")
    fwd = dict.fromkeys(["x_ptr", "v0_ptr", "prm_ptr", "z_ptr", "vpre_ptr"], "*fp32")
    bwd = dict.fromkeys(["vpre_ptr", "z_ptr", "x_ptr", "prm_ptr", "sur_ptr", "gz_ptr", "gv_ptr"], "*fp32")
    bwd |= dict.fromkeys(["gx_ptr", "gv0_ptr", "gp_ptr"], "*fp32") | {"last": "i64"}
    ints = {"T": "i32", "N": "i32", "n_par": "i32"}
    for on in (True, False):
        for kernel, sig, flags in (
            (kern.if_forward_kernel, fwd, {"SUBTRACT": on}),
            (kern.if_backward_kernel, bwd, {**dict.fromkeys(["SUBTRACT", "DETACH", "HAS_GV", "NEED_P"], on)}),
        ):
            constexprs = {**flags, "BLOCK": 128}
            if kernel is kern.if_backward_kernel:
                constexprs["SURR"] = 2 if on else 0
            signature = {**sig, **ints, **dict.fromkeys(constexprs, "constexpr")}
            source = ASTSource(kernel, signature, constexprs)
            target = GPUTarget("cuda", 90, 32)
            compiled = triton.compile(source, target=target, options={"enable_fp_fusion": False})
            assert ".entry" in compiled.asm["ptx"]
