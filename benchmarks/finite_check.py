"""Cost of the neurons' NaN/inf input check (``NeuronModule.check_finite``) on the SHD-shaped LIF
network of ``benchmarks/lif_training.py`` (700 -> 256 -> 256 -> 20, T = 100, batch 32).

The same network (one object) runs with the check on and off, interleaved round by round; the
script prints the median and minimum train and inference step times of each and the ratio
on/off (1.00: no cost). On CUDA each check is one device synchronisation per neuron layer and call.

    python benchmarks/finite_check.py [--device cuda] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lif_training import Config, build_spikeforge, make_data, timed_ms  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    cfg = Config(args.device, args.batch, args.steps, torch.get_num_threads(), args.warmup, args.repeats)
    x, y, weights = make_data(cfg)
    bench = build_spikeforge(weights)
    bench.model.to(cfg.device)
    bench.optimizer = bench.make_optimizer()
    times: dict[tuple[bool, str], list[float]] = {
        (c, k): [] for c in (True, False) for k in ("train", "infer")
    }
    for r in range(cfg.warmup + cfg.repeats):
        for check in (True, False) if r % 2 == 0 else (False, True):
            for cell in bench.neurons:
                cell.check_finite = check  # type: ignore[assignment]
            t_train = timed_ms(lambda: bench.train_step(x, y), cfg.device)
            t_infer = timed_ms(lambda: bench.infer_step(x), cfg.device)
            if r >= cfg.warmup:
                times[(check, "train")].append(t_train)
                times[(check, "infer")].append(t_infer)
    # the check alone, on the inputs of the three LIF layers (what one forward pass checks)
    cell = bench.neurons[0]
    inputs = [torch.rand(cfg.steps, cfg.batch, n, device=cfg.device) for n in (256, 256, 20)]
    alone = [
        timed_ms(lambda: [cell._check_finite_input(h, "x", True) for h in inputs], cfg.device)  # type: ignore[operator]
        for _ in range(5 * cfg.repeats)
    ]
    print(
        f"device {cfg.device}, T={cfg.steps}, batch {cfg.batch}, {cfg.repeats} rounds, threads {cfg.threads}"
    )
    print(
        f"the check alone, three layers' inputs: median {statistics.median(alone):.3f} ms "
        f"(min {min(alone):.3f})"
    )
    for kind in ("train", "infer"):
        on, off = times[(True, kind)], times[(False, kind)]
        ratio = statistics.median(on) / statistics.median(off)
        print(
            f"{kind}: check on median {statistics.median(on):.2f} ms (min {min(on):.2f}), "
            f"off median {statistics.median(off):.2f} ms (min {min(off):.2f}), on/off {ratio:.3f}"
        )


if __name__ == "__main__":
    main()
