"""One LIF layer on a CUDA device: the Triton scan kernel against spikeforge's PyTorch scan.

For an SHD-sized layer (``LIF(256)``, batch 128, T = 100, float32, reset to value, fast-sigmoid
surrogate), with and without ``tau_syn`` and refractoriness:

* **agreement** with the CPU: the fraction of equal spikes and the largest relative difference of
  the input gradient and of the learnable parameters' gradients;
* **launches**: CUDA kernels launched by one forward and backward pass (``torch.profiler``), at
  T = 10 and T = 100: the Triton path should launch a constant number, the PyTorch scan about 4
  per step;
* **time**: median of ``--repeats`` forward + backward passes (CUDA events), kernel against
  PyTorch scan, and their ratio.

The PyTorch scan runs on CUDA when the surrogate is a subclass of a built-in one (the kernels take
only the built-in ones). Prints a table and writes it as JSON to ``--json`` (``gpu_check.sh`` does).

    python benchmarks/gpu_lif_kernel.py --json out/gpu_lif_kernel.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Callable
from typing import Any

import torch

import spikeforge as sf
from spikeforge.surrogate import FastSigmoid

LEARNABLE = ("tau_mem", "v_th", "v_leak", "r")


class _TorchScanSigmoid(FastSigmoid):
    """FastSigmoid under another type: LIF then runs its PyTorch scan on CUDA too."""


def make_layer(n: int, *, syn: bool, t_ref: float, torch_scan: bool) -> sf.neurons.LIF:
    surrogate = (_TorchScanSigmoid if torch_scan else FastSigmoid)(5.0)
    return sf.neurons.LIF(
        n,
        tau_mem=20.0,
        tau_syn=5.0 if syn else None,
        t_ref=t_ref,
        dt=1.0,
        surrogate=surrogate,
        learnable=LEARNABLE + (("tau_syn",) if syn else ()),
    )


def fwd_bwd(layer: sf.neurons.LIF, x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        z, state = layer(x)
        (z.sum() + state.v.sum()).backward()

    return step


def grads(layer: sf.neurons.LIF, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
    layer.zero_grad()
    xg = x.detach().clone().requires_grad_()
    z, state = layer(xg)
    w = torch.linspace(-1, 1, z.numel(), device=z.device, dtype=z.dtype).view_as(z)
    ((z * w).sum() + state.v.sum()).backward()
    assert xg.grad is not None
    return z.detach().cpu(), [p.grad.detach().cpu() for p in layer.parameters()], xg.grad.cpu()


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max() / b.double().abs().max().clamp(min=1e-300))


def count_launches(step: Callable[[], None]) -> int:
    from torch.profiler import ProfilerActivity, profile

    step()  # compile and warm up first
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        step()
        torch.cuda.synchronize()
    return sum(1 for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA)


def time_ms(step: Callable[[], None], repeats: int) -> float:
    for _ in range(3):
        step()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def run_case(syn: bool, t_ref: float, args: argparse.Namespace) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.steps, args.batch, args.n, generator=gen) * (0.7 if syn else 3.5)
    row: dict[str, Any] = {"tau_syn": syn, "t_ref": t_ref}
    z_cpu, g_cpu, gx_cpu = grads(make_layer(args.n, syn=syn, t_ref=t_ref, torch_scan=False), x)
    kernel = make_layer(args.n, syn=syn, t_ref=t_ref, torch_scan=False).cuda()
    z_gpu, g_gpu, gx_gpu = grads(kernel, x.cuda())
    row["rate"] = float(z_cpu.mean())
    row["spikes_equal"] = float((z_gpu == z_cpu).float().mean())
    row["grad_x_rel"] = rel(gx_gpu, gx_cpu)
    row["grad_params_rel"] = max(rel(a, b) for a, b in zip(g_gpu, g_cpu))
    torch_scan = make_layer(args.n, syn=syn, t_ref=t_ref, torch_scan=True).cuda()
    for name, layer in (("kernel", kernel), ("torch", torch_scan)):
        for steps in (10, args.steps):
            xs = x[:steps].cuda().requires_grad_()
            row[f"launches_{name}_T{steps}"] = count_launches(fwd_bwd(layer, xs))
        row[f"ms_{name}"] = time_ms(fwd_bwd(layer, x.cuda().requires_grad_()), args.repeats)
    row["speedup"] = row["ms_torch"] / row["ms_kernel"]
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("error: no CUDA device", file=sys.stderr)
        return 1
    rows = [run_case(syn, t_ref, args) for syn, t_ref in ((False, 0.0), (True, 0.0), (True, 2.5))]
    print(f"LIF({args.n}), batch {args.batch}, T {args.steps}, float32, {torch.cuda.get_device_name()}")
    head = (
        f"{'tau_syn':>7} {'t_ref':>5} {'rate':>5} {'=spikes':>8} {'grad x':>8} {'grad p':>8} "
        f"{'launch k':>9} {'launch t':>9} {'ms kernel':>9} {'ms torch':>9} {'x':>6}"
    )
    print(head)
    for r in rows:
        launch_k = f"{r['launches_kernel_T10']}/{r[f'launches_kernel_T{args.steps}']}"
        launch_t = f"{r['launches_torch_T10']}/{r[f'launches_torch_T{args.steps}']}"
        print(
            f"{r['tau_syn']!s:>7} {r['t_ref']:>5} {r['rate']:>5.3f} {r['spikes_equal']:>8.2%} "
            f"{r['grad_x_rel']:>8.1e} {r['grad_params_rel']:>8.1e} {launch_k:>9} {launch_t:>9} "
            f"{r['ms_kernel']:>9.3f} {r['ms_torch']:>9.3f} {r['speedup']:>6.1f}"
        )
    print("launches: CUDA kernels of one forward + backward at T=10 / T=" + str(args.steps))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "device": torch.cuda.get_device_name(), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
