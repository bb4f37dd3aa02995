"""Learnable versus fixed intrinsic neuron parameters (papers.md section 4, experiment (c)).

Task: three classes of Poisson spike trains over 30 channels and 60 steps of 1 ms that differ
only in their rate profile. The channels form three groups; in class c, group c fires one
8 ms burst at 0.3 spikes/ms (at a random onset) and the other groups fire tonically with the
same expected count, so every channel has the same expected spike count in every class.

Network: ``Linear(30, 48) -> spiking neuron -> spike count -> Linear(48, 3)``, trained by BPTT
with Adam (weights lr 5e-3, intrinsic parameters lr 0.05), cross-entropy, 12 epochs of 600
samples, tested on 600 others. Four arms, each started from the same weights, data and
intrinsic values for a given seed (5 seeds):

- LIF (``spikeforge.neurons.lif.LIF``, FastSigmoid surrogate), intrinsic ``tau_mem = 20 ms``,
  ``v_th = 1``; learnable: ``tau_mem``, ``v_th``;
- probabilistic meta neuron, same start plus ``temperature = 0.1``, ``release = 0.7``; learnable:
  ``tau_mem``, ``v_th``, ``temperature``, ``release``. It trains in its sampling mode with the
  straight-through estimator, and is tested both in its deterministic mode (``model.eval()``)
  and in its sampling mode (mean over 5 draws);

each with fixed or learnable intrinsic parameters. The fixed arms keep the start values, which
handicap them (see below); ``experiments/meta_neuron.py`` gives the fixed arm values found by a
search with the learnable arm's training budget. Prints the mean ± std test accuracy per arm,
the learnable - fixed deltas and the learned values, and saves a bar plot to ``--out``:

    python benchmarks/intrinsic_learning.py --out out/
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from spikeforge.neurons.probabilistic import ProbabilisticNeuron

try:
    from spikeforge.neurons.lif import LIF
except ImportError:  # the LIF arm is optional
    LIF = None  # type: ignore[assignment,misc]

N_IN, N_CLASSES, STEPS = 30, 3, 60  # channels, classes, steps of dt = 1 ms
BURST_RATE, BURST_LEN = 0.3, 8  # spikes per ms, steps
TONIC_RATE = BURST_RATE * BURST_LEN / STEPS  # the same expected count, spread over the trial


def make_data(n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``n`` Poisson samples ``[T, n, n_in]`` (balanced, shuffled) and their labels ``[n]``.

    The channels form ``N_CLASSES`` groups. In class c, group c fires one burst (``BURST_RATE``
    for ``BURST_LEN`` steps, starting at a random step) and the other groups fire tonically at
    ``TONIC_RATE``: every channel has the same expected spike count in every class, so the
    classes differ only in their rate profile over time.
    """
    labels = torch.arange(n) % N_CLASSES
    labels = labels[torch.randperm(n, generator=generator)]
    group = torch.arange(N_IN) * N_CLASSES // N_IN  # [n_in]
    onset = torch.randint(0, STEPS - BURST_LEN + 1, (n,), generator=generator)
    t = torch.arange(STEPS)[:, None]  # [T, 1]
    in_burst = (t >= onset) & (t < onset + BURST_LEN)  # [T, n]
    bursting = group[None, :] == labels[:, None]  # [n, n_in]
    rates = torch.where(bursting, in_burst[..., None] * BURST_RATE, TONIC_RATE)  # [T, n, n_in]
    spikes = (torch.rand(rates.shape, generator=generator) < rates).float()
    return spikes, labels


class Net(nn.Module):
    def __init__(self, neuron: nn.Module, n_hidden: int, gain: float) -> None:
        super().__init__()
        self.fc_in = nn.Linear(N_IN, n_hidden)
        self.neuron = neuron
        self.fc_out = nn.Linear(n_hidden, N_CLASSES)
        with torch.no_grad():
            self.fc_in.weight.mul_(gain)
            self.fc_in.bias.fill_(BIAS)

    def forward(self, x: Tensor) -> Tensor:
        steps, batch = x.shape[:2]
        current = self.fc_in(x.reshape(steps * batch, -1)).reshape(steps, batch, -1)
        spikes, _ = self.neuron(current)
        return self.fc_out(spikes.mean(0) * 10.0)  # readout by spike count (x 10 for scale)


GAIN, BIAS = 6.0, 0.5  # input weights x GAIN, input bias: the hidden layer starts active
# the same start for every arm: a slow membrane (tau_mem = 20 ms) that smears the bursts
TAU_MEM, V_TH = 20.0, 1.0
TEMPERATURE, RELEASE = 0.1, 0.7  # the meta neuron's start
LR_INTRINSIC = 0.05  # Adam step for the intrinsic parameters (softplus/sigmoid raw values)
LEARNABLE = {"LIF": ("tau_mem", "v_th"), "meta": ("tau_mem", "v_th", "temperature", "release")}


def default_intrinsics(kind: str) -> dict[str, float]:
    """The start values of ``kind``'s intrinsic parameters (the names of ``LEARNABLE[kind]``)."""
    start = {"tau_mem": TAU_MEM, "v_th": V_TH, "temperature": TEMPERATURE, "release": RELEASE}
    return {name: start[name] for name in LEARNABLE[kind]}


def make_neuron(
    kind: str,
    learn: bool,
    n_hidden: int,
    generator: torch.Generator,
    intrinsics: dict[str, float] | None = None,
) -> nn.Module:
    """The hidden neurons of ``kind``; ``intrinsics`` overrides the start values (default ones otherwise)."""
    learnable = LEARNABLE[kind] if learn else ()
    values = default_intrinsics(kind) | (intrinsics or {})
    if kind == "LIF":
        if LIF is None:
            raise RuntimeError("spikeforge.neurons.lif.LIF is not available")
        return LIF(n_hidden, learnable=learnable, dt=1.0, **values)
    return ProbabilisticNeuron(n_hidden, generator=generator, learnable=learnable, **values)


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(-1) == y).float().mean().item()


def run_arm(
    kind: str,
    learn: bool,
    seed: int,
    *,
    n_train: int = 600,
    n_test: int = 600,
    n_hidden: int = 48,
    epochs: int = 12,
    batch: int = 50,
    lr: float = 5e-3,
    lr_intrinsic: float = LR_INTRINSIC,
    intrinsics: dict[str, float] | None = None,
    validation: int = 0,
) -> dict[str, float]:
    """Train one arm from seed ``seed``; returns test accuracies (deterministic and sampled).

    ``intrinsics`` sets the intrinsic start values (see :func:`default_intrinsics`). With
    ``validation > 0`` the last ``validation`` training samples are held out and the accuracies
    are measured on them instead of the test set (for a hyper-parameter search).
    """
    data_gen = torch.Generator().manual_seed(10_000 + seed)
    x_train, y_train = make_data(n_train, data_gen)
    x_test, y_test = make_data(n_test, data_gen)
    if validation > 0:
        x_train, y_train, x_test, y_test = (
            x_train[:, :-validation],
            y_train[:-validation],
            x_train[:, -validation:],
            y_train[-validation:],
        )
        n_train -= validation
    spike_gen = torch.Generator().manual_seed(20_000 + seed)
    neuron = make_neuron(kind, learn, n_hidden, spike_gen, intrinsics)
    with torch.random.fork_rng():  # weight init: identical across arms of one seed
        torch.manual_seed(seed)
        model = Net(neuron, n_hidden, gain=GAIN)
    weights = [p for name, p in model.named_parameters() if not name.startswith("neuron.")]
    intrinsic = list(model.neuron.parameters())  # empty for the fixed arms
    groups: list[dict[str, Any]] = [{"params": weights}, {"params": intrinsic, "lr": lr_intrinsic}]
    opt = torch.optim.Adam(groups, lr=lr)
    order_gen = torch.Generator().manual_seed(30_000 + seed)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n_train, generator=order_gen)
        for start in range(0, n_train, batch):
            idx = perm[start : start + batch]
            loss = nn.functional.cross_entropy(model(x_train[:, idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    out = {"test": accuracy(model, x_test, y_test)}
    if kind == "meta":
        model.train()  # the sampling mode, averaged over 5 draws
        out["test_sampled"] = sum(accuracy(model, x_test, y_test) for _ in range(5)) / 5
        model.eval()
    for name in LEARNABLE[kind] if learn else ():
        out[name] = getattr(model.neuron, name).mean().item()  # population mean after training
    return out


def mean_std(values: list[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    s = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return m, s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out"), help="output folder for the plot")
    parser.add_argument("--seeds", type=int, default=5, help="random initialisations per arm")
    parser.add_argument("--epochs", type=int, default=12)
    # the tensors are small: one thread is as fast as two on an idle 2-core machine, and several
    # times faster on a busy one (threads spin waiting for each other)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (at most 2 cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    kinds = ["LIF", "meta"] if LIF is not None else ["meta"]
    if LIF is None:
        print("spikeforge.neurons.lif is not importable: LIF arm skipped")
    results: dict[tuple[str, bool], list[dict[str, float]]] = {}
    t0 = time.perf_counter()
    for kind in kinds:
        for learn in (False, True):
            results[kind, learn] = [
                run_arm(kind, learn, seed, epochs=args.epochs) for seed in range(args.seeds)
            ]
    # what is compared: (arm, test mode, key of the accuracy in run_arm's result)
    columns = [("LIF", "deterministic", "test")] if LIF is not None else []
    columns += [("meta", "deterministic", "test"), ("meta", "sampled", "test_sampled")]
    print(
        f"test accuracy, mean ± std over {args.seeds} seeds ({N_CLASSES} classes, chance "
        f"{100 / N_CLASSES:.1f} %), {args.epochs} epochs, {time.perf_counter() - t0:.0f} s"
    )
    for kind, mode, key in columns:
        for learn in (False, True):
            accs = [r[key] for r in results[kind, learn]]
            m, s = mean_std(accs)
            seeds = ", ".join(f"{100 * a:.1f}" for a in accs)
            label = f"{kind} {'learnable' if learn else 'fixed'}, {mode} test"
            print(f"  {label:36s} {100 * m:5.1f} ± {100 * s:4.1f} %   (seeds: {seeds})")
        deltas = [b[key] - a[key] for a, b in zip(results[kind, False], results[kind, True])]
        m, s = mean_std(deltas)
        print(f"  {'delta learnable - fixed':36s} {100 * m:+5.1f} ± {100 * s:4.1f} points (paper: up to +11)")
    for kind in kinds:
        runs = results[kind, True]
        learned = ", ".join(f"{name} {mean_std([r[name] for r in runs])[0]:.3g}" for name in LEARNABLE[kind])
        print(f"learned {kind} parameters (population mean, mean over seeds): {learned}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    for i, (kind, _mode, key) in enumerate(columns):
        for j, learn in enumerate((False, True)):
            m, s = mean_std([r[key] for r in results[kind, learn]])
            name = ("learnable" if learn else "fixed") if i == 0 else None
            ax.bar(i * 3 + j, 100 * m, yerr=100 * s, capsize=4, color=f"C{j}", label=name)
    ax.set_xticks([i * 3 + 0.5 for i in range(len(columns))], [f"{k}\n({m} test)" for k, m, _ in columns])
    ax.axhline(100 / N_CLASSES, color="grey", ls="--", lw=1, label="chance")
    ax.set_ylabel(f"test accuracy (%), {args.seeds} seeds")
    ax.set_ylim(0, 100)
    ax.set_title("Fixed vs learnable intrinsic neuron parameters")
    ax.legend(loc="lower right")
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "intrinsic_learning.png"
    fig.savefig(path, dpi=120)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
