"""Training speed of an SHD-shaped LIF network: spikeforge against snntorch, norse, spikingjelly and a
hand-written PyTorch loop, in one process.

What is measured
----------------
Every library trains the same network, ``Linear(700, 256) -> LIF -> Linear(256, 256) -> LIF ->
Linear(256, 20) -> LIF``, on the same random batch (``T = 100`` steps of 1 ms, batch 32, 5 % input
spikes, 20 random labels): the logits are the output spike counts summed over time, the loss their
cross-entropy, the optimizer Adam (lr 1e-3). All start from the same weights.

* **train ms**: one training step, ``zero_grad``, forward, loss, ``backward``, ``optimizer.step``.
* **infer ms**: one forward pass under ``torch.no_grad``.
* **peak MB**: the memory a step needs above what is resident before it. On CUDA this is
  ``torch.cuda.max_memory_allocated`` minus the allocated memory before the step. On CPU torch keeps
  no allocation statistics, so each library's step runs once more in a fresh process (``spawn``):
  after a warm-up step (so Adam's state and one-off buffers already exist), freed heap memory is
  returned to the system (``malloc_trim``), the kernel's peak-RSS mark is reset
  (``/proc/self/clear_refs``), and the peak RSS during the next step minus the RSS before it is
  reported. Without ``clear_refs`` (not Linux) it is the rise of ``ru_maxrss`` over the first step
  instead, which then includes one-off allocations such as Adam's state (2 MB here).
* **ratio**: a peer's median time divided by spikeforge's (above 1: spikeforge is faster).

Timing: after ``--warmup`` rounds, each of ``--repeats`` rounds runs one training step of every
library in turn (interleaved, starting with a different library each round, so that machine noise hits
all alike), then one inference step of every library; each step is timed with ``time.perf_counter``
(after ``torch.cuda.synchronize`` on CUDA). The table gives the median and the minimum over rounds.

How the models are matched
--------------------------
All five run the same discrete LIF, ``v[t] = beta * v'[t-1] + W x[t] + b`` with
``beta = exp(-dt/tau_mem) = exp(-1/20)``, a spike ``z = H(v - 1)``, reset to zero (``v' = 0`` where
``z = 1``, the reset carrying no gradient), and the surrogate gradient ``1 / (1 + |v - 1|)**2`` (the
fast sigmoid of slope 1, the one surrogate that all four libraries offer in exactly this form):

* spikeforge: ``sf.Sequential`` of ``nn.Linear`` and ``sf.neurons.LIF(n, tau_mem=20, dt=1, v_th=1,
  r=1/(1-beta), reset="to_value", surrogate=FastSigmoid(1))``: its exact integrator is
  ``v += (1-beta) (r i - v)``, so ``r = 1/(1-beta)`` gives the form above. Linear layers see the
  whole sequence at once, each LIF runs its fused scan.
* snntorch: ``snn.Leaky(beta, threshold=1, reset_mechanism="zero",
  spike_grad=surrogate.fast_sigmoid(slope=1))``, called step by step (it applies a spike's reset at
  the start of the next step, which is the same thing).
* norse: ``LIFBoxCell`` (LIF without synaptic current) with ``tau_mem_inv = (1-beta)/dt`` and
  ``dt = 1e-3`` s, so that its Euler step ``v += dt tau_mem_inv (i - v)`` decays by exactly ``beta``.
  That step scales the input by ``1-beta``, so norse's linear weights start as the shared weights
  divided by ``1-beta``, and its Adam learning rate is divided by ``1-beta`` too (Adam's steps do
  not scale with the gradient, so its weights then stay the others' divided by ``1-beta``). Its
  reset is given a detached spike (norse's default lets gradient through the reset). Its
  ``method="super"`` surrogate is ``1 / (1 + |v - 1|)**2`` (norse 1.1.0 ignores ``alpha`` there).
* spikingjelly: ``LIFNode(tau=1/(1-beta), decay_input=False, v_reset=0, detach_reset=True,
  surrogate_function=SuperSpike(alpha=1), step_mode="m")``, whose charge ``v - v/tau + x`` is the
  form above, run by its registered CPU (or CUDA) kernel. It spikes at ``v >= 1`` where the others
  need ``v > 1``.
* pytorch: plain tensors and a surrogate ``autograd.Function``, written as a user new to SNNs would:
  one loop over time, each ``Linear`` applied to ``x[t]`` inside it.

snntorch and norse are used as their documentation shows (a Python loop over time steps calling the
neuron), but with each ``Linear`` applied to the whole sequence before the loop, as spikeforge and
spikingjelly do: the comparison is then about the neurons, not about batching the matrix products.

Since all start from the same weights and inputs, they compute the same first step: before timing,
the script prints the fraction of output spikes equal to spikeforge's and the relative difference
of each library's weight gradients from spikeforge's (norse's rescaled), then each library's firing
rates at the start and after the timed steps (which differ a little, as rounding differences grow
through training).

Run
---
``make bench`` installs the ``bench`` extra (snntorch, spikingjelly; norse comes with the test
set-up) into ``.venv`` and runs this script. By hand::

    python benchmarks/lif_training.py                      # CPU, 2 threads, 10 rounds
    python benchmarks/lif_training.py --threads 4 --repeats 20 --json out/bench.json
    python benchmarks/lif_training.py --device cuda --batch 128
    python benchmarks/lif_training.py --only spikeforge,snntorch --no-memory

A peer that is not installed is skipped with a note.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import importlib
import importlib.metadata
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

N_IN, N_HIDDEN, N_OUT = 700, 256, 20
TAU_MEM = 20.0  # ms
DT = 1.0  # ms
BETA = math.exp(-DT / TAU_MEM)  # membrane decay per step, about 0.951
V_TH = 1.0
# fast-sigmoid surrogate 1 / (1 + SLOPE |v - v_th|)^2: slope 1 is the one that norse (whose SuperSpike
# ignores its alpha) and spikingjelly (SuperSpike: alpha / (1 + |x|)^2) also give
SLOPE = 1.0
INPUT_RATE = 0.05  # probability of an input spike per channel and step
LR = 1e-3
# Weights ~ N(0, (gain / sqrt(fan_in))^2), biases 0: hidden layers then fire at ~10 % of the steps.
WEIGHT_GAIN = (7.0, 3.0, 3.0)
SEED = 0

LIBRARIES = ("spikeforge", "snntorch", "norse", "spikingjelly", "pytorch")
# variants for GPU runs, chosen with --only: spikeforge with its PyTorch scan instead of the Triton
# kernel, and spikingjelly's CuPy and Triton backends
GPU_VARIANTS = ("spikeforge_torch", "spikingjelly_cupy", "spikingjelly_triton")
# the module whose absence means the library is skipped
_IMPORT_NAME = {
    "spikeforge": "spikeforge",
    "snntorch": "snntorch",
    "norse": "norse",
    "spikingjelly": "spikingjelly",
    "pytorch": "torch",
    "spikeforge_torch": "spikeforge",
    "spikingjelly_cupy": "spikingjelly",
    "spikingjelly_triton": "spikingjelly",
}

Weights = list[tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class Config:
    """The benchmark settings (plain values, so that a spawned process can receive them)."""

    device: str
    batch: int
    steps: int
    threads: int
    warmup: int
    repeats: int


# ---------------------------------------------------------------------------------------------
# shared data


def make_weights(generator: torch.Generator) -> Weights:
    """The initial ``(weight, bias)`` of the three linear layers, shared by every library."""
    sizes = [(N_IN, N_HIDDEN), (N_HIDDEN, N_HIDDEN), (N_HIDDEN, N_OUT)]
    weights = []
    for (fan_in, fan_out), gain in zip(sizes, WEIGHT_GAIN):
        w = torch.randn(fan_out, fan_in, generator=generator) * (gain / math.sqrt(fan_in))
        weights.append((w, torch.zeros(fan_out)))
    return weights


def make_data(cfg: Config) -> tuple[Tensor, Tensor, Weights]:
    """Input spikes ``[T, B, 700]``, labels ``[B]`` and initial weights, from one seeded generator."""
    g = torch.Generator().manual_seed(SEED)
    weights = make_weights(g)
    x = (torch.rand(cfg.steps, cfg.batch, N_IN, generator=g) < INPUT_RATE).float()
    y = torch.randint(0, N_OUT, (cfg.batch,), generator=g)
    return x.to(cfg.device), y.to(cfg.device), weights


def linear_layers(weights: Weights, scale: float = 1.0) -> list[nn.Linear]:
    """``nn.Linear`` layers holding copies of ``weights`` (times ``scale``)."""
    layers = []
    for w, b in weights:
        lin = nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(w * scale)
            lin.bias.copy_(b * scale)
        layers.append(lin)
    return layers


# ---------------------------------------------------------------------------------------------
# one object per library


class Bench:
    """A model, its optimizer and the forward function that maps ``[T, B, 700]`` input spikes to
    ``[T, B, 20]`` output spikes. ``linears`` and ``neurons`` are its layers, in order."""

    def __init__(
        self,
        name: str,
        model: nn.Module,
        forward: Callable[[Tensor], Tensor],
        linears: Sequence[nn.Linear],
        neurons: Sequence[nn.Module],
        weight_scale: float = 1.0,
    ) -> None:
        self.name = name
        self.model = model
        self.forward = forward
        self.linears = list(linears)
        self.neurons = list(neurons)
        self.weight_scale = weight_scale  # its weights are the shared ones times this
        self.optimizer = self.make_optimizer()

    def make_optimizer(self) -> torch.optim.Optimizer:
        """Adam; with weights scaled by s, a learning rate scaled by s keeps the same trajectory."""
        return torch.optim.Adam(self.model.parameters(), lr=LR * self.weight_scale)

    def train_step(self, x: Tensor, y: Tensor) -> Tensor:
        """One training step on the batch; returns the loss (not synchronised)."""
        self.optimizer.zero_grad(set_to_none=True)
        out = self.forward(x)
        loss = F.cross_entropy(out.sum(0), y)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def infer_step(self, x: Tensor) -> Tensor:
        """One forward pass without autograd; returns the output spikes."""
        with torch.no_grad():
            return self.forward(x)

    def firing_rates(self, x: Tensor) -> list[float]:
        """Mean spike probability per step of each spiking layer, from one inference pass."""
        with torch.no_grad():
            return self._recording_rates(lambda: self.forward(x))[0]

    def first_step(self, x: Tensor, y: Tensor) -> tuple[list[float], Tensor, list[Tensor]]:
        """Firing rates, output spikes and weight gradients (in the shared weights' scale) of one
        forward and backward pass; the gradients are then cleared and no step is taken."""
        self.optimizer.zero_grad(set_to_none=True)

        def run() -> Tensor:
            out = self.forward(x)
            F.cross_entropy(out.sum(0), y).backward()
            return out.detach()

        rates, out = self._recording_rates(run)
        # W_lib = s W: dL/dW = s dL/dW_lib
        grads = []
        for lin in self.linears:
            assert lin.weight.grad is not None
            grads.append(lin.weight.grad.detach() * self.weight_scale)
        self.optimizer.zero_grad(set_to_none=True)
        return rates, out, grads

    def _recording_rates(self, run: Callable[[], Tensor]) -> tuple[list[float], Tensor]:
        sums = [0.0] * len(self.neurons)
        counts = [0] * len(self.neurons)

        def hook(idx: int) -> Callable[[nn.Module, Any, Any], None]:
            def record(_module: nn.Module, _inputs: Any, output: Any) -> None:
                z = output[0] if isinstance(output, tuple) else output
                sums[idx] += float(z.detach().sum())
                counts[idx] += z.numel()

            return record

        handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(self.neurons)]
        try:
            out = run()
        finally:
            for h in handles:
                h.remove()
        return [s / max(c, 1) for s, c in zip(sums, counts)], out


def _layerwise(
    linears: Sequence[nn.Module], cells: Sequence[nn.Module], run_cell: Callable[[nn.Module, Tensor], Tensor]
) -> Callable[[Tensor], Tensor]:
    """Forward for step-by-step neuron APIs: each Linear on the whole sequence, then the neuron
    loop over time (``run_cell(cell, currents) -> spikes``)."""

    def forward(x: Tensor) -> Tensor:
        h = x
        for lin, cell in zip(linears, cells):
            h = run_cell(cell, lin(h))
        return h

    return forward


def build_spikeforge(weights: Weights, name: str = "spikeforge") -> Bench:
    import spikeforge as sf

    surrogate: type = sf.surrogate.FastSigmoid
    if name == "spikeforge_torch":  # a subclass: LIF runs its PyTorch scan, not the Triton kernel
        surrogate = type("FastSigmoidTorchScan", (sf.surrogate.FastSigmoid,), {})

    def lif(n: int) -> nn.Module:
        # exact integrator: v <- v + (1 - beta) (r x - v) = beta v + x with r = 1 / (1 - beta)
        return sf.neurons.LIF(
            n, tau_mem=TAU_MEM, dt=DT, v_th=V_TH, v_reset=0.0, r=1.0 / (1.0 - BETA), reset="to_value",
            surrogate=surrogate(SLOPE), detach_reset=True,
        )  # fmt: skip

    l1, l2, l3 = linear_layers(weights)
    cells = [lif(N_HIDDEN), lif(N_HIDDEN), lif(N_OUT)]
    model = sf.Sequential(l1, cells[0], l2, cells[1], l3, cells[2])

    def forward(x: Tensor) -> Tensor:
        return model(x)[0]  # type: ignore[no-any-return]

    return Bench(name, model, forward, [l1, l2, l3], cells)


def build_snntorch(weights: Weights) -> Bench:
    import snntorch as snn
    from snntorch import surrogate

    cells = [
        snn.Leaky(
            beta=BETA, threshold=V_TH, spike_grad=surrogate.fast_sigmoid(slope=SLOPE), reset_mechanism="zero"
        )
        for _ in range(3)
    ]
    linears = linear_layers(weights)
    model = nn.ModuleList([*linears, *cells])

    def run(cell: nn.Module, cur: Tensor) -> Tensor:
        mem = torch.zeros_like(cur[0])
        spikes = []
        for t in range(cur.shape[0]):
            spk, mem = cell(cur[t], mem)
            spikes.append(spk)
        return torch.stack(spikes)

    return Bench("snntorch", model, _layerwise(linears, cells, run), linears, cells)


def _norse_reset_detached(z: Tensor, v: Tensor, reset: Tensor, th: Tensor) -> Tensor:
    """norse's reset to a value, with the spike detached (as the other libraries here)."""
    zd = z.detach()
    return (1 - zd) * v + zd * reset


def build_norse(weights: Weights, device: str) -> Bench:
    from norse.torch import LIFBoxCell
    from norse.torch.functional.lif_box import LIFBoxParameters

    dt = DT * 1e-3  # norse works in seconds
    p = LIFBoxParameters(
        tau_mem_inv=torch.as_tensor((1.0 - BETA) / dt, device=device),  # Euler decay = beta exactly
        v_leak=torch.as_tensor(0.0, device=device),
        v_th=torch.as_tensor(V_TH, device=device),
        v_reset=torch.as_tensor(0.0, device=device),
        method="super",
        alpha=torch.as_tensor(SLOPE, device=device),  # norse 1.1.0's SuperSpike ignores it: slope 1
        reset_method=_norse_reset_detached,
    )
    cells = [LIFBoxCell(p, dt=dt) for _ in range(3)]
    # the Euler step adds (1 - beta) * input: scale the weights so that v[t] = beta v + W x
    scale = 1.0 / (1.0 - BETA)
    linears = linear_layers(weights, scale=scale)
    model = nn.ModuleList([*linears, *cells])

    def run(cell: nn.Module, cur: Tensor) -> Tensor:
        state = None
        spikes = []
        for t in range(cur.shape[0]):
            z, state = cell(cur[t], state)
            spikes.append(z)
        return torch.stack(spikes)

    return Bench("norse", model, _layerwise(linears, cells, run), linears, cells, weight_scale=scale)


def build_spikingjelly(weights: Weights, name: str = "spikingjelly") -> Bench:
    from spikingjelly.activation_based import functional, neuron, surrogate

    backend = name.partition("_")[2] or "torch"  # spikingjelly_cupy: the CuPy backend

    def lif() -> nn.Module:
        # decay_input=False: v <- v - v / tau + x = beta v + x with tau = 1 / (1 - beta)
        node = neuron.LIFNode(
            tau=1.0 / (1.0 - BETA), decay_input=False, v_threshold=V_TH, v_reset=0.0,
            surrogate_function=surrogate.SuperSpike(alpha=1.0), detach_reset=True, step_mode="m",
        )  # fmt: skip
        if backend not in node.supported_backends:
            raise ImportError(f"this spikingjelly has no {backend!r} backend ({node.supported_backends})")
        node.backend = backend
        return node

    l1, l2, l3 = linear_layers(weights)
    cells = [lif(), lif(), lif()]
    model = nn.Sequential(l1, cells[0], l2, cells[1], l3, cells[2])  # Linear acts on [T, B, F]

    def forward(x: Tensor) -> Tensor:
        functional.reset_net(model)  # the nodes keep their membrane between calls
        return model(x)  # type: ignore[no-any-return]

    return Bench(name, model, forward, [l1, l2, l3], cells)


class _FastSigmoidSpike(torch.autograd.Function):
    """Heaviside forward, the fast sigmoid ``1 / (1 + SLOPE |x|)**2`` backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad / (SLOPE * x.abs() + 1.0) ** 2


class _PlainLIF(nn.Module):
    """One LIF step on plain tensors (a module only so that the rate hooks can see it)."""

    def forward(self, cur: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        v = BETA * v + cur
        z: Tensor = _FastSigmoidSpike.apply(v - V_TH)  # type: ignore[assignment]
        return z, v * (1.0 - z.detach())


def build_pytorch(weights: Weights) -> Bench:
    linears = linear_layers(weights)
    cells = [_PlainLIF() for _ in range(3)]
    model = nn.ModuleList(linears)

    def forward(x: Tensor) -> Tensor:
        steps, batch = x.shape[0], x.shape[1]
        vs = [x.new_zeros(batch, lin.out_features) for lin in linears]
        outs = []
        for t in range(steps):
            h = x[t]
            for i, (lin, cell) in enumerate(zip(linears, cells)):
                h, vs[i] = cell(lin(h), vs[i])
            outs.append(h)
        return torch.stack(outs)

    return Bench("pytorch", model, forward, linears, cells)


def build(name: str, weights: Weights, device: str) -> Bench:
    """The library's model from the shared weights, on ``device``."""
    if name in ("spikeforge", "spikeforge_torch"):
        bench = build_spikeforge(weights, name)
    elif name == "snntorch":
        bench = build_snntorch(weights)
    elif name == "norse":
        bench = build_norse(weights, device)
    elif name.startswith("spikingjelly"):
        bench = build_spikingjelly(weights, name)
    elif name == "pytorch":
        bench = build_pytorch(weights)
    else:
        raise ValueError(f"unknown library {name!r}; choose among {', '.join(LIBRARIES + GPU_VARIANTS)}")
    bench.model.to(device)
    # the optimizer was built before the move: rebuild it on the moved parameters
    bench.optimizer = bench.make_optimizer()
    return bench


def library_version(name: str) -> str:
    """The version of the module that is imported (its ``__version__``, else its distribution's)."""
    module = importlib.import_module(_IMPORT_NAME[name])
    version = getattr(module, "__version__", None)
    if version is None:
        try:
            version = importlib.metadata.version(_IMPORT_NAME[name])
        except importlib.metadata.PackageNotFoundError:
            version = "?"
    return str(version)


def available(names: Sequence[str]) -> list[str]:
    """The libraries that import; prints a note for each one that does not."""
    found = []
    for name in names:
        try:
            importlib.import_module(_IMPORT_NAME[name])
        except ImportError as exc:
            print(f"note: skipping {name}: {exc}")
            continue
        found.append(name)
    return found


def first_step_agreement(
    benches: Sequence[Bench], x: Tensor, y: Tensor
) -> tuple[dict[str, list[float]], dict[str, dict[str, Any]]]:
    """Per library, the firing rates of the first forward pass, and how its output spikes and weight
    gradients compare with the reference library's (spikeforge, else the first one)."""
    first = {b.name: b.first_step(x, y) for b in benches}
    ref = "spikeforge" if "spikeforge" in first else benches[0].name
    _, ref_out, ref_grads = first[ref]
    rates: dict[str, list[float]] = {}
    agreement: dict[str, dict[str, Any]] = {}
    for name, (r, out, grads) in first.items():
        rates[name] = r
        agreement[name] = {
            "reference": ref,
            "spikes_equal": float((out == ref_out).float().mean()),
            "grad_rel_diff": [float((g - gr).norm() / gr.norm()) for g, gr in zip(grads, ref_grads)],
        }
    return rates, agreement


# ---------------------------------------------------------------------------------------------
# timing


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed_ms(fn: Callable[[], object], device: str) -> float:
    """Wall time of ``fn()`` in ms (the device synchronised before and after)."""
    _synchronize(device)
    start = time.perf_counter()
    fn()
    _synchronize(device)
    return (time.perf_counter() - start) * 1e3


def time_interleaved(
    benches: Sequence[Bench], x: Tensor, y: Tensor, cfg: Config
) -> dict[str, dict[str, list[float]]]:
    """Per library, the training and inference step times of every timed round, in ms."""
    times: dict[str, dict[str, list[float]]] = {b.name: {"train": [], "infer": []} for b in benches}
    for round_idx in range(cfg.warmup + cfg.repeats):
        shift = round_idx % len(benches)
        order = [*benches[shift:], *benches[:shift]]
        for b in order:
            t = timed_ms(lambda b=b: b.train_step(x, y), cfg.device)  # type: ignore[misc]
            if round_idx >= cfg.warmup:
                times[b.name]["train"].append(t)
        for b in order:
            t = timed_ms(lambda b=b: b.infer_step(x), cfg.device)  # type: ignore[misc]
            if round_idx >= cfg.warmup:
                times[b.name]["infer"].append(t)
        label = "warm-up" if round_idx < cfg.warmup else "round"
        n = round_idx + 1 if round_idx < cfg.warmup else round_idx - cfg.warmup + 1
        total = cfg.warmup if round_idx < cfg.warmup else cfg.repeats
        print(f"  {label} {n}/{total} done", file=sys.stderr, flush=True)
    return times


# ---------------------------------------------------------------------------------------------
# peak memory


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _proc_status_kb("VmHWM") is not None


def _malloc_trim() -> None:
    """Give freed heap memory back to the system (glibc), so that it does not count as resident."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _maxrss_kb() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss // 1024 if sys.platform == "darwin" else rss  # bytes on macOS, KiB on Linux


def _memory_child(name: str, mode: str, cfg_dict: dict[str, Any]) -> float:
    """In a fresh process: the peak RSS rise (MB) of one ``mode`` step ("train" or "infer")."""
    cfg = Config(**cfg_dict)
    torch.set_num_threads(cfg.threads)
    x, y, weights = make_data(cfg)
    bench = build(name, weights, cfg.device)

    def step() -> None:
        if mode == "train":
            bench.train_step(x, y)
        else:
            bench.infer_step(x)

    gc.collect()
    if _reset_peak_rss():
        step()  # warm-up: Adam's state, lazily created buffers
        gc.collect()
        _malloc_trim()
        _reset_peak_rss()
        base = _proc_status_kb("VmRSS") or 0
        step()
        peak = _proc_status_kb("VmHWM") or 0
    else:  # the first step's rise of the lifetime peak
        base = _maxrss_kb()
        step()
        peak = _maxrss_kb()
    return max(peak - base, 0) / 1024


def peak_memory_mb(
    benches: Sequence[Bench], x: Tensor, y: Tensor, cfg: Config
) -> dict[str, dict[str, float]]:
    """Per library, the peak memory (MB) of a training and of an inference step (see the docstring)."""
    result: dict[str, dict[str, float]] = {}
    if cfg.device.startswith("cuda"):
        for b in benches:
            result[b.name] = {}
            for mode in ("train", "infer"):
                gc.collect()
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
                if mode == "train":
                    b.train_step(x, y)
                else:
                    b.infer_step(x)
                torch.cuda.synchronize()
                result[b.name][mode] = (torch.cuda.max_memory_allocated() - base) / 2**20
        return result
    ctx = mp.get_context("spawn")
    for b in benches:
        result[b.name] = {}
        for mode in ("train", "infer"):
            with ctx.Pool(1) as pool:
                result[b.name][mode] = pool.apply(_memory_child, (b.name, mode, asdict(cfg)))
    return result


# ---------------------------------------------------------------------------------------------
# report


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None or math.isnan(value) else format(value, spec)


def summarize(
    names: Sequence[str],
    times: dict[str, dict[str, list[float]]],
    memory: dict[str, dict[str, float]],
    rates_start: dict[str, list[float]],
    rates_end: dict[str, list[float]],
    agreement: dict[str, dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Medians, minima, memory, ratios to spikeforge, firing rates and agreement, per library."""
    summary: dict[str, dict[str, Any]] = {}
    for name in names:
        s: dict[str, Any] = {}
        for mode in ("train", "infer"):
            s[f"{mode}_ms_median"] = statistics.median(times[name][mode])
            s[f"{mode}_ms_min"] = min(times[name][mode])
            s[f"{mode}_ms_all"] = times[name][mode]
            s[f"{mode}_peak_mb"] = memory.get(name, {}).get(mode)
        s["rates_start"] = rates_start[name]
        s["rates_end"] = rates_end[name]
        s.update(agreement[name])
        summary[name] = s
    ref = summary.get("spikeforge")
    for s in summary.values():
        for mode in ("train", "infer"):
            key = f"{mode}_ms_median"
            s[f"{mode}_ratio"] = None if ref is None else s[key] / ref[key]
            # the median of the ratios within each round: less sensitive to load that changes
            # between rounds (in the JSON only)
            s[f"{mode}_ratio_paired"] = (
                None
                if ref is None
                else statistics.median(a / b for a, b in zip(s[f"{mode}_ms_all"], ref[f"{mode}_ms_all"]))
            )
    return summary


def _load_note() -> str:
    """The 1-minute load average, which tells whether other work shared the CPUs."""
    try:
        return f", load average {os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):
        return ""


def print_report(summary: dict[str, dict[str, Any]], cfg: Config, versions: dict[str, str]) -> None:
    print()
    print(
        f"LIF training benchmark: {N_IN}-{N_HIDDEN}-{N_HIDDEN}-{N_OUT} LIF, T={cfg.steps}, "
        f"batch={cfg.batch}, {INPUT_RATE:.0%} input spikes, Adam, spike-count cross-entropy"
    )
    print(
        f"torch {torch.__version__} | device {cfg.device} | threads {torch.get_num_threads()} | "
        f"{cfg.repeats} rounds after {cfg.warmup} warm-up | python {platform.python_version()} | "
        f"{platform.machine()}, {os.cpu_count()} CPUs{_load_note()}"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    mem_note = "peak alloc" if cfg.device.startswith("cuda") else "peak RSS rise"
    header = (
        f"{'library':<19} {'train ms':>9} {'(min)':>8} {'infer ms':>9} {'(min)':>8} "
        f"{'train MB':>9} {'infer MB':>9} {'train x':>8} {'infer x':>8}"
    )
    print()
    print(f"median and min over rounds; MB = {mem_note} of one step; x = time / spikeforge's time")
    print(header)
    print("-" * len(header))
    for name, s in summary.items():
        print(
            f"{name:<19} {s['train_ms_median']:>9.1f} {s['train_ms_min']:>8.1f} "
            f"{s['infer_ms_median']:>9.1f} {s['infer_ms_min']:>8.1f} "
            f"{_fmt(s['train_peak_mb'], '.1f'):>9} {_fmt(s['infer_peak_mb'], '.1f'):>9} "
            f"{_fmt(s['train_ratio'], '.2f'):>8} {_fmt(s['infer_ratio'], '.2f'):>8}"
        )
    ref = next(iter(summary.values()))["reference"]
    print()
    print("firing rates (spikes per neuron and step), hidden 1 / hidden 2 / output, and the first step")
    print(f"compared with {ref}'s: equal output spikes, |grad - grad_{ref}| / |grad_{ref}| per layer")
    print(f"{'library':<19} {'rates at start':>22} {'after timed steps':>22} {'= spikes':>9}  grad diff")
    for name, s in summary.items():
        start = " / ".join(f"{r:.3f}" for r in s["rates_start"])
        end = " / ".join(f"{r:.3f}" for r in s["rates_end"])
        diff = " / ".join(f"{d:.0e}" for d in s["grad_rel_diff"])
        print(f"{name:<19} {start:>22} {end:>22} {s['spikes_equal']:>9.2%}  {diff}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--steps", type=int, default=100, help="time steps T (default 100)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    parser.add_argument("--repeats", type=int, default=10, help="timed rounds (default 10)")
    parser.add_argument(
        "--only",
        default=None,
        help=f"comma-separated subset of {','.join(LIBRARIES + GPU_VARIANTS)} (default: the first five)",
    )
    parser.add_argument(
        "--memory", action=argparse.BooleanOptionalAction, default=True, help="measure peak memory"
    )
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the results here")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.batch < 1 or args.steps < 1 or args.threads < 1 or args.warmup < 0:
        parser.error("--repeats, --batch, --steps and --threads must be >= 1, --warmup >= 0")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA device")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = list(LIBRARIES) if args.only is None else [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [n for n in wanted if n not in LIBRARIES + GPU_VARIANTS]
    if unknown:
        choices = ", ".join(LIBRARIES + GPU_VARIANTS)
        print(f"error: unknown libraries {unknown}; choose among {choices}", file=sys.stderr)
        return 2
    cfg = Config(args.device, args.batch, args.steps, args.threads, args.warmup, args.repeats)
    torch.set_num_threads(cfg.threads)
    names = available(wanted)
    if not names:
        print("error: none of the requested libraries is installed", file=sys.stderr)
        return 1

    x, y, weights = make_data(cfg)
    benches = []
    for name in names:
        try:
            benches.append(build(name, weights, cfg.device))
        except (ImportError, AttributeError, TypeError) as exc:
            if name == "spikeforge":
                raise
            # a peer whose version lacks an API used here (e.g. spikingjelly before SuperSpike)
            print(f"note: skipping {name}: {type(exc).__name__}: {exc}")
    names = [b.name for b in benches]
    if not names:
        print("error: none of the requested libraries could be set up", file=sys.stderr)
        return 1
    versions = {"torch": torch.__version__, **{n: library_version(n) for n in names if n != "pytorch"}}
    if "spikeforge" not in names:
        print("note: spikeforge is not among the libraries run: no ratios")
    rates_start, agreement = first_step_agreement(benches, x, y)
    print(f"timing {', '.join(names)} ({cfg.warmup} warm-up + {cfg.repeats} rounds)", file=sys.stderr)
    times = time_interleaved(benches, x, y, cfg)
    rates_end = {b.name: b.firing_rates(x) for b in benches}
    memory: dict[str, dict[str, float]] = {}
    if args.memory:
        print("measuring peak memory", file=sys.stderr, flush=True)
        memory = peak_memory_mb(benches, x, y, cfg)

    summary = summarize(names, times, memory, rates_start, rates_end, agreement)
    print_report(summary, cfg, versions)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        record = {
            "config": asdict(cfg),
            "model": {
                "sizes": [N_IN, N_HIDDEN, N_HIDDEN, N_OUT],
                "beta": BETA,
                "v_th": V_TH,
                "surrogate_slope": SLOPE,
                "input_rate": INPUT_RATE,
                "lr": LR,
            },
            "versions": versions,
            "platform": {"python": platform.python_version(), "machine": platform.machine(),
                         "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d")},
            "memory_method": "cuda max_memory_allocated" if cfg.device.startswith("cuda")
            else "peak RSS rise in a fresh process",
            "results": summary,
        }  # fmt: skip
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
