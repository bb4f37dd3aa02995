"""Learned delays beat fixed random delays beat none (issue 15, item 1; ../shared/papers.md section 8).

Claim (Hammouamri, Khalfaoui-Hassani & Masquelier 2023, "Learning delays in spiking neural
networks using dilated convolutions with learnable spacings"): fixed random delays help a
feedforward SNN, and delays learned with the weights (DCLS) help more.

Task (timing is the only cue). ``P = 3`` channel pairs (6 input channels). In each sample every
channel spikes exactly once: in pair ``p`` one channel spikes at a random onset and the other
``LAGS[p] = 3, 6, 9`` ms later; which one leads is the bit ``p`` of the class, so there are
``2**P = 8`` classes. Each pair has its own random onset, so only the timing *within* a pair
carries information; spike counts, rates and the channel identities are the same for every class.
A unit can read the order of pair ``p`` only as a coincidence: its delays must compensate the lag,
``d_A - d_B = +-LAGS[p]`` (within about one step at tau_mem = 2 ms).

Network (the same in every arm): ``LearnableDelay(6 -> H)`` (delays in ``[0, 24]`` ms, dt = 1 ms)
-> ``LIF(H)`` (tau_mem = 2 ms, v_th = 1, FastSigmoid(10) surrogate) -> ``Linear(H -> 8)`` read out
as spike counts (``spikeforge.training.Trainer``, ``readout="spike_count"``). H = 4 hidden units:
fewer than the six (pair, order) coincidences there are to detect, so a random draw of delays
rarely holds them all. Initial weights uniform in [0.5, 1.0]; an input spike moves the membrane by
(1 - e^(-1/2)) w = 0.39 w, so no unit fires at first: training grows the weights until two
coincident spikes (not one) cross the threshold.

Arms (same seeds, data, initial weights and budget; only the delays differ):

* ``none``: every delay 0 (frozen);
* ``random``: integer delays drawn uniformly in [0, 24] ms once, frozen;
* ``learned``: the same draw as ``random``, learned with the DCLS recipe of the Trainer
  (``delay_param_groups``: delays at 30x the weights' learning rate; ``DelayAnnealing``: sigma from
  8 ms to 0.3 ms over 70 % of the epochs, delays clamped to [0, 24] ms, rounded to whole steps at
  the end; the reported accuracy is that of the rounded, integer delays).

Budget: 30 epochs of 1024 training samples, batch 64, Adam. Test: 1024 fresh samples.

Tuning (the same for every arm): the learning rate of each arm is picked from the grid
``LR_GRID = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)`` by the mean validation accuracy (512 samples) over
two tuning seeds (100, 101) that are not among the reported seeds (0-4). (A first run with the
grid 3e-3, 1e-2, 3e-2 put every arm's best rate on an edge of the grid, so it was widened; that
run's figures are quoted in ``notebooks/README.md``.) The learned arm's delay rate is tied to its
learning rate (x30), not tuned apart, and the sigma schedule was chosen once, by hand, in a few
runs of seeds 0-3 before this script existed (sigma starts at 8 ms, a third of the range as in
DCLS; ends at 0.3 ms). The task and network sizes (3 pairs, lags 3/6/9 ms, range 24 ms,
H = 4, tau_mem = 2 ms) were also chosen in those prototype runs (seeds 0-4, lr 1e-2 for every
arm), among a handful of variants in which either random delays solved the task (H = 8, 2 pairs)
or learning failed (tau_mem <= 0.5 ms, where only an exact coincidence counts): the reported
seeds are therefore not fully held out from the design.

Second task, ``--task pairs4`` (issue 15 review: in ``pairs3`` a random draw solved the task
outright in 2 of 5 seeds). ``P = 4`` pairs (8 input channels), lags 3, 8, 13, 18 ms (spanning the
0-24 ms delay range), bits code as above, so ``2**4 = 16`` classes (chance 0.0625); H = 5 hidden
units, one more than the four pair detectors the task needs; everything else (tau_mem, delay
range, sigma schedule, budget, LR grid, tuning seeds 100-101, equal tuning per arm) as in
``pairs3``. It was designed on tuning seeds 100-104 only, never on the reported seeds 0-9, in
these runs (30 epochs, 1024 samples, test accuracy on 512 samples):

1. "onehot", 6 pairs (lags 3-18 ms, the label is the one pair whose first channel leads, 6
   classes), H = 4, lr 1e-2, seeds 100-102: random 0.44/0.68/0.64, learned 0.41/0.83/0.55;
2. the same with H = 6, seeds 100-103: none 0.16-0.31, random 0.61-0.75, learned 0.55-0.78;
3. the same with delays in [0, 48] ms and sigma from 16 ms: random 0.35-0.88, learned 0.56-0.88
   (in every variant 1-3 random reached the learned arm's range: the one-hot code dropped);
4. bits, 4 pairs, H = 4: random (lr 1e-2) 0.23-0.63 on 100-103, learned 0.49-0.90 (lr 1e-2) and
   0.59-0.92 (lr 3e-3, 100-104): learned varied widely, so one spare unit was added (as in
   ``pairs3``, where H = P + 1), not checked further;
5. bits, 4 pairs, H = 5 (kept): seeds 100-104, learned (lr 3e-3) 0.82-0.90, random (lr 0.1)
   0.31-0.60, random (lr 3e-3) 0.12-0.25, none (lr 0.1) 0.07-0.16.

The rates above were hand-picked for the design runs; the reported run tunes every arm on the
same grid as ``pairs3``, then runs seeds 0-9 once. ``pairs3``'s figures (seeds 0-4) are kept in
``results/dcls_delays.json``; ``pairs4``'s go to ``results/dcls_delays_pairs4.json``.

Usage::

    PYTHONPATH=. python experiments/dcls_delays.py out/ --seeds 5
    PYTHONPATH=. python experiments/dcls_delays.py out/ --task pairs4 --seeds 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch.utils.data import TensorDataset

import spikeforge as sf
from spikeforge.analysis import seed_summary
from spikeforge.plasticity import LearnableDelay
from spikeforge.surrogate import FastSigmoid
from spikeforge.training import DelayAnnealing, Trainer, delay_param_groups, make_loader

ARMS = ("none", "random", "learned")
LAGS = (3, 6, 9)  # ms, one per channel pair
P = len(LAGS)
N_IN, N_CLASSES = 2 * P, 2**P
MAX_DELAY = 24  # ms (= steps, dt = 1 ms)
DT = 1.0
T = MAX_DELAY + max(LAGS) + 20  # steps per sample
TAU_MEM = 2.0  # ms
LR_GRID = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
DELAY_LR_SCALE = 30.0
SIGMA = dict(sigma_start=8.0, sigma_end=0.3, fraction=0.7)  # ms
TUNING_SEEDS = (100, 101)


class Task(NamedTuple):
    """A timing task: channel pairs with their lags (ms) and how the label is coded in them.

    ``code="bits"``: bit ``p`` of the label says which channel of pair ``p`` leads
    (``2**pairs`` classes). ``code="onehot"``: the label is the one pair whose first channel leads;
    in every other pair the second channel leads (``pairs`` classes).
    """

    name: str
    lags: tuple[int, ...]
    code: str = "bits"
    max_delay: int = MAX_DELAY
    hidden: int = 4
    sigma_start: float = SIGMA["sigma_start"]

    @property
    def sigma(self) -> dict[str, float]:
        """The ``DelayAnnealing`` schedule (ms) of the learned arm."""
        return {**SIGMA, "sigma_start": self.sigma_start}

    @property
    def pairs(self) -> int:
        return len(self.lags)

    @property
    def n_in(self) -> int:
        return 2 * self.pairs

    @property
    def n_classes(self) -> int:
        return 2**self.pairs if self.code == "bits" else self.pairs

    @property
    def steps(self) -> int:
        return self.max_delay + max(self.lags) + 20


TASKS = {
    "pairs3": Task("pairs3", LAGS, "bits"),
    "pairs4": Task("pairs4", (3, 8, 13, 18), "bits", hidden=5),
}
PAIRS3 = TASKS["pairs3"]


def timing_task(n: int, generator: torch.Generator, task: Task = PAIRS3) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples ``x [n, steps, 2 pairs]`` (one spike per channel) and labels ``[n]``.

    Pair ``p`` (channels ``2p``, ``2p + 1``): the channel ``2p + b`` spikes at a random onset, the
    other ``lags[p]`` ms later, where ``b`` is bit ``p`` of the label (``code="bits"``) or
    ``label != p`` (``code="onehot"``).
    """
    if task.code not in ("bits", "onehot"):
        raise ValueError(f"task.code must be 'bits' or 'onehot', got {task.code!r}")
    y = torch.randint(0, task.n_classes, (n,), generator=generator)
    x = torch.zeros(n, task.steps, task.n_in)
    rows = torch.arange(n)
    for p, lag in enumerate(task.lags):
        bit = (y >> p) & 1 if task.code == "bits" else (y != p).long()
        onset = torch.randint(0, task.steps - task.max_delay - lag, (n,), generator=generator)
        x[rows, onset, 2 * p + bit] = 1.0
        x[rows, onset + lag, 2 * p + 1 - bit] = 1.0
    return x, y


def build(arm: str, hidden: int, seed: int, task: Task = PAIRS3) -> sf.Sequential:
    """The network of ``arm``; its initial weights and random delays depend only on ``seed``."""
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")
    gen = torch.Generator().manual_seed(1000 + seed)
    drawn = torch.randint(0, task.max_delay + 1, (hidden, task.n_in), generator=gen).double()
    learn = arm == "learned"
    delay = LearnableDelay(
        task.n_in,
        hidden,
        max_delay=float(task.max_delay),
        dt=DT,
        sigma=task.sigma_start if learn else 0.0,
        delays=torch.zeros_like(drawn) if arm == "none" else drawn,
        learn_delays=learn,
        generator=gen,
    )
    readout = torch.nn.Linear(hidden, task.n_classes)
    with torch.no_grad():
        delay.weight.uniform_(0.5, 1.0, generator=gen)
        bound = 1.0 / hidden**0.5
        readout.weight.uniform_(-bound, bound, generator=gen)
        readout.bias.zero_()
    lif = sf.neurons.LIF(hidden, tau_mem=TAU_MEM, v_th=1.0, dt=DT, surrogate=FastSigmoid(10.0))
    return sf.Sequential(delay, lif, readout)


def _collate(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*batch, strict=True)
    return torch.stack(xs, dim=1), torch.stack(ys)  # time-major [T, B, N_IN]


def run_arm(
    arm: str,
    seed: int,
    lr: float,
    *,
    hidden: int = 4,
    epochs: int = 30,
    n_train: int = 1024,
    n_eval: int = 1024,
    batch: int = 64,
    task: Task = PAIRS3,
) -> dict[str, Any]:
    """Train one arm on one seed; returns its evaluation accuracy (``acc``; integer delays for
    the learned arm), the learned arm's accuracy before rounding (``acc_unrounded``) and the
    integer delays (ms) at the end."""
    data_gen = torch.Generator().manual_seed(seed)
    x_train, y_train = timing_task(n_train, data_gen, task)
    x_eval, y_eval = timing_task(n_eval, data_gen, task)
    model = build(arm, hidden, seed, task)
    learn = arm == "learned"
    params: Any = (
        delay_param_groups(model, lr=lr, delay_lr_scale=DELAY_LR_SCALE) if learn else model.parameters()
    )
    trainer = Trainer(
        model,
        torch.optim.Adam(params, lr=lr),
        readout="spike_count",
        seed=seed,
        progress=False,
        delay_annealing=DelayAnnealing(**task.sigma, round_at_end=False) if learn else None,
    )
    train = make_loader(TensorDataset(x_train, y_train), batch, seed=seed, collate_fn=_collate)
    evaluation = make_loader(TensorDataset(x_eval, y_eval), 512, shuffle=False, collate_fn=_collate)
    trainer.fit(train, epochs)
    layer = model[0]
    assert isinstance(layer, LearnableDelay)
    unrounded = float(trainer.evaluate(evaluation)["accuracy"])
    layer.set_sigma(0.0)  # integer delays (what DelayAnnealing's round_at_end does)
    acc = float(trainer.evaluate(evaluation)["accuracy"])
    return {
        "acc": acc,
        "acc_unrounded": unrounded,
        "train_accuracy": trainer.history.to_dict()["train_accuracy"][-1],
        "delays_ms": layer.rounded_delays().ms.tolist(),
    }


def tune(
    arm: str,
    *,
    hidden: int,
    epochs: int,
    n_train: int,
    seeds: tuple[int, ...] = TUNING_SEEDS,
    task: Task = PAIRS3,
) -> dict:
    """Mean validation accuracy of ``arm`` for each learning rate of ``LR_GRID`` on the tuning seeds."""
    scores = {
        lr: statistics.fmean(
            run_arm(arm, s, lr, hidden=hidden, epochs=epochs, n_train=n_train, n_eval=512, task=task)["acc"]
            for s in seeds
        )
        for lr in LR_GRID
    }
    best = max(LR_GRID, key=lambda lr: scores[lr])  # ties: the smaller rate (first in the grid)
    return {"val_accuracy": {f"{lr:g}": v for lr, v in scores.items()}, "best_lr": best}


def verdict(arms: dict[str, dict[str, Any]], rounding: dict[str, Any]) -> dict[str, Any]:
    """The issue's pass criterion, read from the per-seed accuracies."""
    n, r, lrn = (arms[a]["acc"] for a in ARMS)
    return {
        "order_of_means": n["mean"] < r["mean"] < lrn["mean"],
        "ranges_disjoint": n["max"] < r["min"] and r["max"] < lrn["min"],
        "mean_sd_disjoint": n["mean"] + n["sd"] < r["mean"] - r["sd"]
        and r["mean"] + r["sd"] < lrn["mean"] - lrn["sd"],
        "learned_beats_random_every_seed": all(
            a > b for a, b in zip(lrn["per_seed"], r["per_seed"], strict=True)
        ),
        "random_beats_none_every_seed": all(a > b for a, b in zip(r["per_seed"], n["per_seed"], strict=True)),
        "rounding_cost_under_2_points": rounding["max_cost_points"] < 2.0,
    }


def main(
    out: Path,
    seeds: int = 5,
    *,
    hidden: int | None = None,
    epochs: int = 30,
    n_train: int = 1024,
    tune_lr: bool = True,
    figure: bool = True,
    task: Task = PAIRS3,
) -> dict:
    t0 = time.time()
    hidden = task.hidden if hidden is None else hidden
    torch.set_num_threads(1)  # tiny models: one thread is fastest and the machine is shared
    res: dict[str, Any] = {
        "config": dict(
            task=task.name,
            code=task.code,
            lags_ms=list(task.lags),
            pairs=task.pairs,
            classes=task.n_classes,
            inputs=task.n_in,
            hidden=hidden,
            max_delay_ms=task.max_delay,
            dt_ms=DT,
            steps=task.steps,
            tau_mem_ms=TAU_MEM,
            epochs=epochs,
            n_train=n_train,
            n_test=1024,
            batch=64,
            lr_grid=list(LR_GRID),
            delay_lr_scale=DELAY_LR_SCALE,
            sigma_ms=task.sigma,
            tuning_seeds=list(TUNING_SEEDS),
            seeds=list(range(seeds)),
        )
    }
    if tune_lr:
        res["tuning"] = {a: tune(a, hidden=hidden, epochs=epochs, n_train=n_train, task=task) for a in ARMS}
        lrs = {a: res["tuning"][a]["best_lr"] for a in ARMS}
    else:
        lrs = {a: 1e-2 for a in ARMS}
    res["lr"] = lrs
    runs = {
        a: [
            run_arm(a, s, lrs[a], hidden=hidden, epochs=epochs, n_train=n_train, task=task)
            for s in range(seeds)
        ]
        for a in ARMS
    }
    res["arms"] = {
        a: {"acc": seed_summary([r["acc"] for r in rows]), "delays_ms": [r["delays_ms"] for r in rows]}
        for a, rows in runs.items()
    }
    before = [r["acc_unrounded"] for r in runs["learned"]]
    after = [r["acc"] for r in runs["learned"]]
    costs = [100 * (b - a) for b, a in zip(before, after, strict=True)]
    res["rounding"] = {
        "acc_before": before,
        "acc_after": after,
        "cost_points": costs,
        "max_cost_points": max(costs),
        "mean_cost_points": statistics.fmean(costs),
    }
    res["verdict"] = verdict(res["arms"], res["rounding"])
    res["seconds"] = time.time() - t0
    out.mkdir(parents=True, exist_ok=True)
    stem = "dcls_delays" if task == PAIRS3 else f"dcls_delays_{task.name}"
    (out / f"{stem}.json").write_text(json.dumps(res, indent=1))
    if figure:
        figure_of(res, out / f"{stem}.png")
    return res


def figure_of(res: dict, path: Path | None = None) -> Any:
    """The experiment's figure from its JSON dict; saved to ``path`` (or returned)."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 4, figsize=(17, 3.8))
    names = {"none": "no delays", "random": "fixed random", "learned": "learned (DCLS)"}
    for i, a in enumerate(ARMS):
        st = res["arms"][a]["acc"]
        ax[0].bar(i, st["mean"], yerr=st["sd"], color=f"C{i}", alpha=0.6, capsize=4)
        ax[0].scatter([i] * len(st["per_seed"]), st["per_seed"], color="k", s=12, zorder=3)
    ax[0].axhline(1 / res["config"]["classes"], color="0.5", ls=":", label="chance")
    ax[0].set_xticks(range(3), [names[a] for a in ARMS], fontsize=8)
    ax[0].set_ylabel("test accuracy")
    ax[0].set_ylim(0, 1.02)
    v = res["verdict"]
    n = len(res["config"]["seeds"])
    per = {a: res["arms"][a]["acc"]["per_seed"] for a in ARMS}
    lr_wins = sum(a > b for a, b in zip(per["learned"], per["random"], strict=True))
    rn_wins = sum(a > b for a, b in zip(per["random"], per["none"], strict=True))
    ax[0].set_title(
        f"{n} seeds, H = {res['config']['hidden']}: "
        f"order of means {'holds' if v['order_of_means'] else 'fails'}, "
        f"seed ranges {'disjoint' if v['ranges_disjoint'] else 'overlap'}"
        f"\nlearned > random in {lr_wins}/{n} seeds, random > none in {rn_wins}/{n}",
        fontsize=9,
    )
    ax[0].legend(fontsize=7, loc="lower right")
    if "tuning" in res:
        for i, a in enumerate(ARMS):
            va = res["tuning"][a]["val_accuracy"]
            ax[1].plot([float(k) for k in va], list(va.values()), "o-", color=f"C{i}", label=names[a])
        ax[1].set_xscale("log")
        ax[1].set_xlabel("learning rate (Adam)")
        ax[1].set_ylabel("validation accuracy")
        ax[1].set_title(f"tuning: same grid per arm, seeds {res['config']['tuning_seeds']}", fontsize=9)
        ax[1].legend(fontsize=7)
    lags = res["config"]["lags_ms"]
    for s, d in enumerate(res["arms"]["learned"]["delays_ms"]):
        dd = torch.tensor(d)
        for p in range(len(lags)):
            diff = (dd[:, 2 * p] - dd[:, 2 * p + 1]).tolist()
            ax[2].scatter(diff, [p + 0.08 * (s - n / 2)] * len(diff), color=f"C{s}", s=14)
        for p, lag in enumerate(lags):
            ax[2].plot([-lag, lag], [p, p], "|", color="k", ms=16, mew=2)
    ax[2].set_yticks(range(len(lags)), [f"pair {p} (lag {lag} ms)" for p, lag in enumerate(lags)], fontsize=8)
    ax[2].set_xlabel("learned d(A) - d(B) per hidden unit (ms); black: +-lag")
    ax[2].set_title("learned delay differences (colour: seed)", fontsize=9)
    rd = res["rounding"]
    ax[3].scatter(rd["acc_before"], rd["acc_after"], color="C2")
    lo = min(rd["acc_before"] + rd["acc_after"]) - 0.02
    ax[3].plot([lo, 1], [lo, 1], color="0.5", lw=0.8)
    ax[3].set_xlabel("learned arm, sigma = 0.3 ms")
    ax[3].set_ylabel("after rounding to integer delays")
    ax[3].set_title(f"rounding costs at most {rd['max_cost_points']:.1f} points", fontsize=9)
    fig.tight_layout()
    if path is None:
        return fig
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", nargs="?", default="out/", type=Path, help="folder for the JSON and the figure")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--task", choices=sorted(TASKS), default="pairs3")
    ap.add_argument("--hidden", type=int, default=None, help="hidden units (default: the task's)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--no-tuning", action="store_true", help="lr 1e-2 for every arm, no grid search")
    args = ap.parse_args()
    r = main(
        args.out,
        args.seeds,
        hidden=args.hidden,
        epochs=args.epochs,
        tune_lr=not args.no_tuning,
        task=TASKS[args.task],
    )
    for a in ARMS:
        st = r["arms"][a]["acc"]
        print(
            f"{a:8s} lr {r['lr'][a]:g}  acc {st['mean']:.3f} ± {st['sd']:.3f}  "
            f"[{st['min']:.3f}, {st['max']:.3f}]  {[round(x, 3) for x in st['per_seed']]}"
        )
    print("rounding cost (points):", [round(c, 2) for c in r["rounding"]["cost_points"]])
    print(json.dumps(r["verdict"]), f"{r['seconds']:.0f} s")
