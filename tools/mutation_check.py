"""Plant realistic one-line bugs, one at a time, and check that the tests catch each of them.

Each mutant replaces the first occurrence of a line fragment in a copy of the package (the
worktree is never changed) and runs the tests that should catch it; a mutant survives when they
all pass. Prints the kill rate and the survivors; exits 1 below ``--min-rate`` (default 0.9).
Outside CI (it runs the tests once per mutant): ``make mutation``.

    python tools/mutation_check.py [--only NAME ...] [--list]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]


class Mutant(NamedTuple):
    name: str
    path: str  # under spikeforge/
    old: str
    new: str
    tests: tuple[str, ...]


M = Mutant
MUTANTS: list[Mutant] = [
    # ---------------------------- the five survivors (dt = 1, integer t_ref/dt, ...)
    M(
        "poisson_time_varying without * dt",
        "encoders/poisson.py",
        "return _scan(rates.detach() * dt, tuple(rates.shape[1:]), rates.shape[0], n_ref, generator)",
        "return _scan(rates.detach(), tuple(rates.shape[1:]), rates.shape[0], n_ref, generator)",
        ("tests/encoders/test_poisson.py", "tests/encoders/test_poisson_dt.py"),
    ),
    M(
        "reward-modulated STDP without * dt",
        "plasticity/three_factor.py",
        "dw = (cast(self.lr, c) * self.dt) * c * level",
        "dw = cast(self.lr, c) * c * level",
        ("tests/plasticity/test_three_factor.py", "tests/plasticity/test_dt_dependence.py"),
    ),
    M(
        "refractory round -> floor",
        "neurons/lif.py",
        "return torch.round(t_ref / dt).clamp(max=2147483520.0).to(torch.int32)",
        "return torch.floor(t_ref / dt).clamp(max=2147483520.0).to(torch.int32)",
        ("tests/neurons/test_lif.py", "tests/neurons/test_bad_input_neurons.py"),
    ),
    M(
        "event window edge: >= -> >",
        "data/binning.py",
        "outside = (t < start) | (t >= start + duration)",
        "outside = (t < start) | (t > start + duration)",
        ("tests/data/test_binning.py", "tests/data/test_bad_input_data.py"),
    ),
    M(
        "Xylo weight scale from the largest positive weight",
        "hardware/quantize.py",
        "wmax = float(w.abs().max()) or 1.0",
        "wmax = float(w.max()) or 1.0",
        ("tests/hardware/test_quantize.py", "tests/hardware/test_quantize_signs.py"),
    ),
    M(
        "Loihi weight scale from the largest positive weight",
        "hardware/quantize.py",
        'wmax = float(f["w"].abs().max())',
        'wmax = float(f["w"].max())',
        ("tests/hardware/test_quantize.py", "tests/hardware/test_quantize_signs.py"),
    ),
    # ------------------------------------------------ the dynamics, where dt = 1 hides a bug
    M(
        "LIF membrane decay without dt",
        "neurons/lif.py",
        "k = -torch.expm1(-dt / params.tau_mem)",
        "k = -torch.expm1(-1.0 / params.tau_mem)",
        ("tests/neurons/test_lif.py",),
    ),
    M(
        "LIF synaptic decay without dt",
        "neurons/lif.py",
        "alpha = None if params.tau_syn is None else torch.exp(-dt / params.tau_syn)",
        "alpha = None if params.tau_syn is None else torch.exp(-1.0 / params.tau_syn)",
        ("tests/neurons/test_lif.py",),
    ),
    M(
        "plasticity trace decay without dt",
        "plasticity/_common.py",
        "return math.exp(-dt / float(tau))",
        "return math.exp(-1.0 / float(tau))",
        ("tests/plasticity/test_stdp.py",),
    ),
    M(
        "delay rounding -> floor",
        "circuits/projection.py",
        "rounded = torch.round(steps)",
        "rounded = torch.floor(steps)",
        ("tests/circuits/test_projection.py", "tests/circuits/test_circuits_bad_input.py"),
    ),
    # ------------------------------------------------ issue 16's checks, each switched off
    M(
        "refractory overflow check off",
        "_checks.py",
        "if steps.numel() and float(steps.max()) > INT32_MAX:",
        "if False:",
        ("tests/neurons/test_bad_input_neurons.py",),
    ),
    M(
        "refractory saturation removed",
        "neurons/lif.py",
        "return torch.round(t_ref / dt).clamp(max=2147483520.0).to(torch.int32)",
        "return torch.round(t_ref / dt).to(torch.int32)",
        ("tests/neurons/test_bad_input_neurons.py",),
    ),
    M(
        "Poisson rate check: 1 spike per step -> 1.5",
        "circuits/inputs.py",
        "if top > 1.0:",
        "if top > 1.5:",
        ("tests/circuits/test_bad_input_circuits.py",),
    ),
    M(
        "fractional indices truncated again",
        "circuits/inputs.py",
        "bad = ~np.isfinite(a) | (a != np.round(a))",
        "bad = ~np.isfinite(a)",
        ("tests/circuits/test_bad_input_circuits.py",),
    ),
    M(
        "weight range of the dtype unchecked",
        "circuits/network.py",
        "if top > torch.finfo(dtype).max:",
        "if top > torch.finfo(torch.float64).max:",
        ("tests/circuits/test_bad_input_circuits.py",),
    ),
    M(
        "unbounded run allowed",
        "circuits/network.py",
        "if duration / self.dt > MAX_RUN_STEPS:",
        "if duration / self.dt > 2.0**1000:",
        ("tests/circuits/test_bad_input_circuits.py",),
    ),
    M(
        "DVS Gesture time overflow unchecked",
        "data/dvs_gesture.py",
        "if float(a[:, 3].max()) > _MAX_T_MS",
        "if float(a[:, 3].max()) > 2.0**70",
        ("tests/data/test_bad_input_data.py",),
    ),
    M(
        "NaN weights quantized",
        "hardware/quantize.py",
        "if flat.is_floating_point() and not bool(torch.isfinite(flat).all()):",
        "if False:",
        ("tests/hardware/test_bad_input_hardware.py",),
    ),
    M(
        "resume: weights not restored on a bad optimizer state",
        "training/trainer.py",
        "self.model.load_state_dict(before[0])",
        "pass",
        ("tests/training/test_bad_input_training.py",),
    ),
    M(
        "resume: checksum ignored",
        "training/checkpoint.py",
        'if stored is not None and stored != tensors_checksum(ckpt["model"]):',
        "if False:",
        ("tests/training/test_bad_input_training.py",),
    ),
    M(
        "resume: negative epoch accepted",
        "training/checkpoint.py",
        'low = 1 if key == "world_size" else 0',
        'low = 1 if key == "world_size" else -(10**9)',
        ("tests/training/test_bad_input_training.py",),
    ),
    M(
        "silent output layer not warned",
        "training/trainer.py",
        'silent = self.readout != "max_membrane" and self._epoch_output_spikes == 0',
        'silent = self.readout != "max_membrane" and self._epoch_output_spikes < 0',
        ("tests/training/test_bad_input_training.py",),
    ),
    M(
        "parameter set: v_th > v_reset unchecked",
        "neurons/base.py",
        "elif isinstance(kind, tuple) and not bool((t > getattr(self, kind[1]).detach()).all()):",
        "elif False:",
        ("tests/neurons/test_bad_input_neurons.py",),
    ),
    M(
        "model file forgets dt",
        "modelfile.py",
        '"dt": m.dt,',
        '"dt": 10.0,',
        ("tests/hardware/test_bad_input_hardware.py", "tests/test_bad_input_cli.py"),
    ),
    M(
        "from_beta: r forgotten",
        "neurons/lif.py",
        'kwargs.setdefault("r", 1.0 / (1.0 - beta))',
        'kwargs.setdefault("r", 1.0)',
        ("tests/neurons/test_bad_input_neurons.py",),
    ),
    # ---------------------------- issue 16 item 1: property tests of the remaining models
    M(
        "MPBN batch variance unbiased",
        "neurons/mpbn.py",
        "var = v.var(dim=dims, unbiased=False)",
        "var = v.var(dim=dims, unbiased=True)",
        ("tests/neurons/test_properties_mpbn_probabilistic.py",),
    ),
    M(
        "MPBN running variance left biased",
        "neurons/mpbn.py",
        "var = var * (n / (n - 1))",
        "var = var",
        ("tests/neurons/test_properties_mpbn_probabilistic.py",),
    ),
    M(
        "MPBN shift subtracted",
        "neurons/mpbn.py",
        "y = params.gamma * (v - mean) / torch.sqrt(var + params.eps) + params.beta",
        "y = params.gamma * (v - mean) / torch.sqrt(var + params.eps) - params.beta",
        ("tests/neurons/test_properties_mpbn_probabilistic.py",),
    ),
    M(
        "MPBN folded threshold without eps",
        "neurons/mpbn.py",
        "return f[3] + (f[0] - f[2]) * torch.sqrt(f[4] + eps) / f[1]",
        "return f[3] + (f[0] - f[2]) * torch.sqrt(f[4]) / f[1]",
        ("tests/neurons/test_properties_mpbn_probabilistic.py",),
    ),
    M(
        "probabilistic decay without dt",
        "neurons/probabilistic.py",
        "k = -torch.expm1(-dt / params.tau_mem)",
        "k = -torch.expm1(-1.0 / params.tau_mem)",
        ("tests/neurons/test_properties_mpbn_probabilistic.py",),
    ),
    M(
        "probabilistic release from the spike draw",
        "neurons/probabilistic.py",
        "hit = u[0] < q",
        "hit = u[1] < q",
        ("tests/neurons/test_properties_mpbn_probabilistic.py",),
    ),
    M(
        "probabilistic deterministic release ignores q",
        "neurons/probabilistic.py",
        "        m = q\n",
        "        m = torch.ones_like(q)\n",
        ("tests/neurons/test_properties_mpbn_probabilistic.py",),
    ),
    M(
        "probabilistic release log-probabilities swapped",
        "neurons/probabilistic.py",
        "log_prob = log_prob + torch.where(hit, log_q, log_not_q)",
        "log_prob = log_prob + torch.where(hit, log_not_q, log_q)",
        ("tests/neurons/test_properties_mpbn_probabilistic.py",),
    ),
    M(
        "probabilistic reset to v_leak",
        "neurons/probabilistic.py",
        "v_new = torch.where(z_hard > 0, params.v_reset, v)",
        "v_new = torch.where(z_hard > 0, params.v_leak, v)",
        ("tests/neurons/test_properties_mpbn_probabilistic.py",),
    ),
    M(
        "rate filter: spikes not divided by dt",
        "plasticity/homeostasis.py",
        "return a * rate + (1.0 - a) * (spikes / dt)",
        "return a * rate + (1.0 - a) * spikes",
        ("tests/plasticity/test_properties_homeostasis_meta.py",),
    ),
    M(
        "synaptic scaling without * dt",
        "plasticity/homeostasis.py",
        "dw = (cast(self.lr, w) * self.dt) * reduce_batch(",
        "dw = cast(self.lr, w) * reduce_batch(",
        ("tests/plasticity/test_properties_homeostasis_meta.py",),
    ),
    M(
        "threshold adaptation: difference instead of ratio",
        "plasticity/homeostasis.py",
        "(rate / cast(self.target_rate, rate) - 1.0)",
        "(rate - cast(self.target_rate, rate))",
        ("tests/plasticity/test_properties_homeostasis_meta.py",),
    ),
    M(
        "metaplastic factor 1 - tanh instead of 1 - tanh^2",
        "plasticity/metaplasticity.py",
        "f_meta = 1.0 - torch.tanh(meta * p) ** 2",
        "f_meta = 1.0 - torch.tanh(meta * p)",
        ("tests/plasticity/test_properties_homeostasis_meta.py",),
    ),
    M(
        "metaplastic attenuates steps away from zero",
        "plasticity/metaplasticity.py",
        "toward_zero = torch.sign(p) * exp_avg > 0",
        "toward_zero = torch.sign(p) * exp_avg < 0",
        ("tests/plasticity/test_properties_homeostasis_meta.py",),
    ),
    M(
        "metaplastic attenuates 1-D parameters",
        "plasticity/metaplasticity.py",
        'if meta != 0.0 and (p.dim() > 1 or group["meta_1d"]):',
        'if meta != 0.0 and (p.dim() >= 1 or group["meta_1d"]):',
        ("tests/plasticity/test_properties_homeostasis_meta.py",),
    ),
    M(
        "CLASSP accumulates |g| whatever the power",
        "plasticity/metaplasticity.py",
        'state["grad_sum"].add_(gm.abs().pow(power))',
        'state["grad_sum"].add_(gm.abs())',
        ("tests/plasticity/test_properties_homeostasis_meta.py",),
    ),
    M(
        "fast weights decay toward 0, not the slow ones",
        "plasticity/metaplasticity.py",
        "p.copy_(slow + keep * (p - slow))",
        "p.copy_(keep * p)",
        ("tests/plasticity/test_properties_homeostasis_meta.py",),
    ),
    M(
        "DCLS Gaussian without the 1/2",
        "plasticity/delays.py",
        ".mul_(-0.5 / (sigma * sigma))",
        ".mul_(-1.0 / (sigma * sigma))",
        ("tests/plasticity/test_properties_delays.py",),
    ),
    M(
        "integer delays floored",
        "plasticity/delays.py",
        "idx = delay.detach().round().clamp(0, n_taps - 1).long() if sigma == 0 else None",
        "idx = delay.detach().floor().clamp(0, n_taps - 1).long() if sigma == 0 else None",
        ("tests/plasticity/test_properties_delays.py",),
    ),
    M(
        "learnable delays kept in ms, not steps",
        "plasticity/delays.py",
        "d = (dt_ms / self.dt).expand(n_out, n_in).clone()",
        "d = dt_ms.expand(n_out, n_in).clone()",
        ("tests/plasticity/test_properties_delays.py",),
    ),
    M(
        "learnable delay history shifted by one",
        "plasticity/delays.py",
        "history=past[1:],",
        "history=past[:-1],",
        ("tests/plasticity/test_properties_delays.py",),
    ),
    M(
        "fixed delay: history read one step off",
        "plasticity/delays.py",
        "full = torch.cat([past[1:], x], dim=0)",
        "full = torch.cat([past[:-1], x], dim=0)",
        ("tests/plasticity/test_properties_delays.py",),
    ),
    M(
        "camera: crossings rounded, not floored",
        "encoders/camera.py",
        "n = np.floor(np.abs(diff) / c + _TOL).astype(np.int64)",
        "n = np.round(np.abs(diff) / c).astype(np.int64)",
        ("tests/encoders/test_properties_camera.py",),
    ),
    M(
        "camera: reference reset to the frame's log intensity",
        "encoders/camera.py",
        "l_ref[active] += s_a * n_a * c",
        "l_ref[active] = l1[active]",
        ("tests/encoders/test_properties_camera.py",),
    ),
    M(
        "camera: dropped events restart the refractory period",
        "encoders/camera.py",
        "last_t[pix[sel[ok]]] = t_ev[sel[ok]]",
        "last_t[pix[sel]] = t_ev[sel]",
        ("tests/encoders/test_properties_camera.py",),
    ),
    M(
        "saccade: bilinear weight of the right neighbour",
        "encoders/camera.py",
        "canvas[..., iy : iy + h, ix + 1 : ix + 1 + w] += fx * (1 - fy) * content",
        "canvas[..., iy : iy + h, ix + 1 : ix + 1 + w] += (1 - fx) * (1 - fy) * content",
        ("tests/encoders/test_properties_camera.py",),
    ),
    M(
        "saccade: frame times floored",
        "encoders/camera.py",
        "times = np.rint(steps * (saccade_us / frames_per_saccade)).astype(np.int64)",
        "times = (steps * (saccade_us // frames_per_saccade)).astype(np.int64)",
        ("tests/encoders/test_properties_camera.py",),
    ),
    M(
        "DVS Gesture: float times rounded",
        "data/dvs_gesture.py",
        "t = np.floor(a[:, 3].astype(np.float64) * 1000.0).astype(np.int64)",
        "t = np.round(a[:, 3].astype(np.float64) * 1000.0).astype(np.int64)",
        ("tests/data/test_properties_dvs_gesture.py",),
    ),
    M(
        "DVS Gesture: float32 times multiplied in float32",
        "data/dvs_gesture.py",
        "t = np.floor(a[:, 3].astype(np.float64) * 1000.0).astype(np.int64)",
        "t = np.floor(a[:, 3] * np.float32(1000.0)).astype(np.int64)",
        ("tests/data/test_properties_dvs_gesture.py",),
    ),
    M(
        "DVS Gesture: integer times multiplied in their dtype",
        "data/dvs_gesture.py",
        "t = a[:, 3].astype(np.int64) * 1000",
        "t = (a[:, 3] * 1000).astype(np.int64)",
        ("tests/data/test_properties_dvs_gesture.py",),
    ),
]


def run(mutant: Mutant, copy: Path, timeout: float) -> tuple[str, float]:
    target = copy / "spikeforge" / mutant.path
    source = target.read_text()
    if mutant.old not in source:
        return "missing", 0.0  # the code moved: update the list
    target.write_text(source.replace(mutant.old, mutant.new, 1))
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-x",
                "-q",
                "-p",
                "no:randomly",
                "-p",
                "no:cacheprovider",
                "-m",
                "not slow",
                *mutant.tests,
            ],
            cwd=copy,
            env={**os.environ, "SPIKEFORGE_MUTATION": "1"},  # Hypothesis: report, do not shrink
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        failed = [ln.split(" ")[1] for ln in proc.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))]
        verdict = "survived" if proc.returncode == 0 else "killed" + (f" by {failed[0]}" if failed else "")
    except subprocess.TimeoutExpired:
        verdict = "killed (timeout)"
    finally:
        target.write_text(source)
    return verdict, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", nargs="*", default=None, help="run the mutants whose name contains one of these"
    )
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per mutant")
    parser.add_argument("--min-rate", type=float, default=0.9)
    args = parser.parse_args()
    chosen = [m for m in MUTANTS if not args.only or any(o in m.name for o in args.only)]
    if args.list:
        for m in chosen:
            print(f"{m.name}: {m.path}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp)
        shutil.copytree(ROOT / "spikeforge", copy / "spikeforge")
        shutil.copytree(ROOT / "tests", copy / "tests")
        shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
        results = []
        for m in chosen:
            verdict, seconds = run(m, copy, args.timeout)
            results.append((m, verdict))
            print(f"{seconds:6.1f} s  {m.name}: {verdict}", flush=True)
    counted = [(m, v) for m, v in results if v != "missing"]
    killed = sum(v.startswith("killed") for _, v in counted)
    rate = killed / len(counted) if counted else 0.0
    print(f"\nkill rate: {killed}/{len(counted)} = {100 * rate:.0f}%")
    for m, v in results:
        if not v.startswith("killed"):
            print(f"  {v}: {m.name} ({m.path})")
    return 0 if rate >= args.min_rate and all(v != "missing" for _, v in results) else 1


if __name__ == "__main__":
    sys.exit(main())
