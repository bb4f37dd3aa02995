"""Fast/slow weights and CLASSP beside metaplasticity and plain training on permuted digits
(issue 15, item 3; ../shared/papers.md section 7).

Claims: metaplasticity (Laborieux et al. 2021, ``plasticity.Metaplastic``), fast and slow weights
("Few-shot Continual Learning: a Brain-inspired Approach"; ``plasticity.FastSlow``, our design)
and CLASSP (Ludwig 2024, ``plasticity.CLASSP``: thresholded updates with per-weight decaying
learning rates) forget less of earlier tasks than plain training when tasks come one after the
other; the counter-metric is loss of plasticity (Dohare et al., "Loss of Plasticity in Deep
Continual Learning"): a learner that protects old weights may learn new tasks worse and worse.

Task. Permuted digits: scikit-learn's 8x8 handwritten digits (``load_digits``, 1,797 images that
ship inside scikit-learn, no download; MNIST cannot be downloaded here) in ``N_TASKS = 6`` tasks,
each a fixed permutation of the 64 pixels (task 0 the identity, the others drawn per seed), learned
one after the other. A fixed test set of 397 images (the same for every seed and arm) is never
used for tuning; each run draws 1,100 training and 300 validation images from the other 1,400.

Network (the same in every arm, the same initial weights for a seed). A spiking MLP: the 64 pixel
intensities in [0, 1], times 4, drive ``Linear(64, 128)`` as a constant current for 8 steps of
1 ms into ``LIF(128)`` (tau_mem 10 ms, v_th 1, subtractive reset, the library's default surrogate
gradient), whose spike counts feed ``Linear(128, 10)``; cross-entropy, BPTT.

Budget (the same in every arm): 5 epochs per task of the 1,100 training images, batch 64, in the
same order for a seed. After each task every task is tested.

Arms (only the optimizer differs):

* ``plain``: ``torch.optim.Adam``;
* ``metaplastic``: ``Metaplastic`` (Adam whose steps toward zero are scaled by
  1 - tanh^2(m W)). The paper applies it to the hidden weights of a *binarized* network; here, so
  that every arm has the same network, it acts on real-valued weights (the biases get plain Adam,
  as in the paper's code);
* ``fast_slow``: ``FastSlow`` around Adam: after each step the fast part (W - W_slow) decays by
  ``fast_decay``; at the end of each task W_slow += consolidation x W_fast and the fast part is
  reset (the tests then see W = W_slow);
* ``classp``: ``CLASSP`` (power 2, eps 1e-5): a weight moves only if |g| > threshold; its learning
  rate is lr / sqrt(eps + sum of its past supra-threshold g^2). With threshold 0 it is AdaGrad.

Tuning (the same effort for every arm): 9 settings per arm (``GRIDS``: 9 learning rates for
``plain``; 3 learning rates x 3 values of the arm's own parameters for the others), each run on two
tuning seeds (100, 101) that are not reported, scored by the mean validation accuracy over all
tasks after the last one; the best mean is then run on the reported seeds 0-4 and tested on the
test set. ``GRIDS`` is the second grid of every arm: a first run on ``FIRST_GRIDS``
(``--first-grids``) put the best settings of Metaplastic (lr 1e-3, m 30), fast/slow (lr 3e-3) and
CLASSP (lr 3e-2) on an edge of their grids, so every arm got a second grid of 9 settings around
its first best (plain's, lr 1e-3, inside its first grid, a finer one). Over the two grids together
every arm's best lies inside the ranges searched, and the second grid's best scored at least as
well as the first's (validation scores: plain 0.507 both times, Metaplastic 0.560 then 0.580,
fast/slow 0.554 both, CLASSP 0.597 both). CLASSP's threshold 0 is the edge of its range by
definition (a threshold cannot be negative). The ranges of the first grids were set from a handful
of prototype runs (12 runs, one data draw, 5 tasks) before this script existed; nothing was tuned
on the reported seeds or the test set.

Measures, from ``R[k, j]`` (test accuracy on task j after training task k):

* earlier-task accuracy: mean of R[k, j < k] (after the last task: the tasks before it);
* newest-task accuracy: R[k, k];
* plasticity loss: R[0, 0] - R[K-1, K-1] (the first task is learned by a fresh network, so this is
  how much worse the last one is learned);
* forgetting: mean over j < K-1 of R[j, j] - R[K-1, j].

Usage::

    PYTHONPATH=. python experiments/continual_learning.py out/ --seeds 5     # about 6 min on 2 loaded cores
    PYTHONPATH=. python experiments/continual_learning.py out/ --small     # the fast test's size
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spikeforge.analysis import mean_sd, seed_summary
from spikeforge.neurons import LIF
from spikeforge.plasticity import CLASSP, FastSlow, Metaplastic

ARMS = ("plain", "metaplastic", "fast_slow", "classp")
LABELS = {
    "plain": "plain (Adam)",
    "metaplastic": "Metaplastic",
    "fast_slow": "fast/slow weights",
    "classp": "CLASSP",
}
GRIDS: dict[str, list[dict[str, float]]] = {
    "plain": [{"lr": lr} for lr in (3e-4, 4e-4, 5e-4, 7e-4, 1e-3, 1.4e-3, 2e-3, 3e-3, 5e-3)],
    "metaplastic": [{"lr": lr, "m": m} for lr in (5e-4, 1e-3, 2e-3) for m in (30.0, 100.0, 300.0)],
    "fast_slow": [
        {"lr": lr, "fast_decay": d, "consolidation": c}
        for lr in (1e-3, 3e-3, 1e-2)
        for d, c in ((0.01, 0.5), (0.03, 0.5), (0.01, 0.25))
    ],
    "classp": [{"lr": lr, "threshold": th} for lr in (1e-2, 3e-2, 1e-1) for th in (0.0, 1e-4, 3e-4)],
}
# the first grids (see the docstring): their best settings, on an edge for three arms, set these
FIRST_GRIDS: dict[str, list[dict[str, float]]] = {
    "plain": [{"lr": lr} for lr in (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2)],
    "metaplastic": [{"lr": lr, "m": m} for lr in (3e-4, 1e-3, 3e-3) for m in (3.0, 10.0, 30.0)],
    "fast_slow": [
        {"lr": lr, "fast_decay": d, "consolidation": c}
        for lr in (3e-4, 1e-3, 3e-3)
        for d, c in ((0.01, 1.0), (0.03, 1.0), (0.01, 0.5))
    ],
    "classp": [{"lr": lr, "threshold": th} for lr in (3e-3, 1e-2, 3e-2) for th in (0.0, 3e-4, 1e-3)],
}
TUNING_SEEDS = (100, 101)
GAIN = 4.0  # input current per unit of pixel intensity
N_TEST = 397  # fixed test images; the other 1,400 are the pool of training and validation


class Setting(NamedTuple):
    """Sizes of one run (the full experiment's by default)."""

    n_tasks: int = 6
    epochs: int = 5
    hidden: int = 128
    steps: int = 8
    n_train: int = 1100
    n_val: int = 300
    batch: int = 64


FULL = Setting()
SMALL = Setting(n_tasks=3, epochs=4, hidden=64, n_train=512, n_val=200, batch=32)


def load_digits_tensors() -> tuple[Tensor, Tensor]:
    """scikit-learn's 8x8 digits: intensities ``[1797, 64]`` in [0, 1] (float32) and labels."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y)


def split(n: int) -> tuple[Tensor, Tensor]:
    """The fixed test indices (``N_TEST``, the same for every seed) and the pool of the others."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    return order[-N_TEST:], order[:-N_TEST]


def task_draw(seed: int, pool: Tensor, setting: Setting) -> dict[str, Any]:
    """A seed's permutations (task 0 the identity) and its training and validation indices."""
    g = torch.Generator().manual_seed(10_000 + seed)
    perms = [torch.arange(64)] + [torch.randperm(64, generator=g) for _ in range(setting.n_tasks - 1)]
    order = pool[torch.randperm(len(pool), generator=g)]
    return {
        "perms": perms,
        "train": order[: setting.n_train],
        "val": order[setting.n_train : setting.n_train + setting.n_val],
    }


class SpikingMLP(nn.Module):
    """``Linear(64, hidden) -> LIF(hidden)`` for ``steps`` steps of constant input, then a linear
    read-out of the spike counts."""

    def __init__(self, hidden: int, steps: int, generator: torch.Generator) -> None:
        super().__init__()
        self.steps = steps
        self.fc1 = nn.Linear(64, hidden, dtype=torch.float32)  # float32 whatever the default dtype
        self.fc2 = nn.Linear(hidden, 10, dtype=torch.float32)
        with torch.no_grad():
            for layer in (self.fc1, self.fc2):
                bound = layer.in_features**-0.5
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)
        self.lif = LIF(hidden, tau_mem=10.0, v_th=1.0, reset="subtract", dt=1.0)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Logits ``[batch, 10]`` and spike counts ``[batch, hidden]`` of images ``[batch, 64]``."""
        current = GAIN * self.fc1(x)
        z, _ = self.lif(current.expand(self.steps, *current.shape))
        counts = z.sum(0)
        return self.fc2(counts), counts


def make_optimizer(arm: str, params: Sequence[nn.Parameter], cfg: dict[str, float]) -> Any:
    """The arm's optimizer over ``params`` with the settings ``cfg``."""
    if arm == "plain":
        return torch.optim.Adam(params, lr=cfg["lr"])
    if arm == "metaplastic":
        return Metaplastic(params, lr=cfg["lr"], m=cfg["m"])
    if arm == "fast_slow":
        inner = torch.optim.Adam(params, lr=cfg["lr"])
        return FastSlow(inner, fast_decay=cfg["fast_decay"], consolidation=cfg["consolidation"])
    if arm == "classp":
        return CLASSP(params, lr=cfg["lr"], threshold=cfg["threshold"])
    raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")


def accuracy(net: SpikingMLP, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float((net(x)[0].argmax(-1) == y).float().mean())


def run(
    arm: str,
    cfg: dict[str, float],
    seed: int,
    *,
    setting: Setting = FULL,
    evaluate: str = "test",
    data: tuple[Tensor, Tensor] | None = None,
) -> dict[str, Any]:
    """Train one arm on a seed's task sequence; ``R[k][j]``, accuracy on task j after task k.

    ``evaluate`` is ``"test"`` (the fixed test set) or ``"val"`` (the seed's validation images,
    for tuning). The initial weights and the order of the batches depend on ``seed`` only.
    """
    x, y = data if data is not None else load_digits_tensors()
    test, pool = split(len(x))
    draw = task_draw(seed, pool, setting)
    ev = test if evaluate == "test" else draw["val"]
    gen = torch.Generator().manual_seed(20_000 + seed)
    net = SpikingMLP(setting.hidden, setting.steps, gen)
    opt = make_optimizer(arm, list(net.parameters()), cfg)
    train = draw["train"]
    k_tasks = setting.n_tasks
    r = np.full((k_tasks, k_tasks), np.nan)
    rates = []
    for k, perm in enumerate(draw["perms"]):
        xk = x[:, perm]
        for _ in range(setting.epochs):
            order = train[torch.randperm(len(train), generator=gen)]
            for i in range(0, len(order), setting.batch):
                idx = order[i : i + setting.batch]
                logits, _ = net(xk[idx])
                loss = F.cross_entropy(logits, y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        if isinstance(opt, FastSlow):
            opt.consolidate()
        for j, pj in enumerate(draw["perms"]):
            r[k, j] = accuracy(net, x[ev][:, pj], y[ev])
        with torch.no_grad():
            rates.append(float(net(xk[ev])[1].mean()) / setting.steps)
    return {"R": r.tolist(), "spikes_per_step": rates, **measures(r)}


def measures(r: np.ndarray) -> dict[str, Any]:
    """Earlier-task and newest-task accuracy, plasticity loss and forgetting from ``R``."""
    k = r.shape[0]
    return {
        "final_mean": float(r[-1].mean()),
        "earlier": float(r[-1, :-1].mean()),
        "newest": float(r[-1, -1]),
        "plasticity_loss": float(r[0, 0] - r[-1, -1]),
        "forgetting": float(np.mean([r[j, j] - r[-1, j] for j in range(k - 1)])),
        "earlier_curve": [float(r[i, :i].mean()) for i in range(1, k)],
        "newest_curve": [float(r[i, i]) for i in range(k)],
    }


def tune(
    arm: str,
    *,
    setting: Setting = FULL,
    seeds: Sequence[int] = TUNING_SEEDS,
    grid: Sequence[dict[str, float]] | None = None,
    data: tuple[Tensor, Tensor] | None = None,
) -> dict[str, Any]:
    """Every setting of the arm's grid on the tuning seeds (validation images); the best by the
    mean over seeds of the final mean accuracy over all tasks."""
    grid = list(GRIDS[arm] if grid is None else grid)
    scores = [
        float(
            np.mean([run(arm, c, s, setting=setting, evaluate="val", data=data)["final_mean"] for s in seeds])
        )
        for c in grid
    ]
    best = int(np.argmax(scores))
    return {"best": grid[best], "grid": grid, "scores": scores, "seeds": list(seeds)}


def summarize(rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per arm: every measure over seeds (mean, sd, range, per seed), the curves' means and sds,
    and the paired differences with ``plain``."""
    out: dict[str, Any] = {}
    for arm, rs in rows.items():
        d: dict[str, Any] = {
            key: seed_summary([r[key] for r in rs])
            for key in ("final_mean", "earlier", "newest", "plasticity_loss", "forgetting")
        }
        for curve in ("earlier_curve", "newest_curve"):
            a = np.array([r[curve] for r in rs])
            d[curve] = {"mean": a.mean(0).tolist(), "sd": a.std(0, ddof=1 if len(rs) > 1 else 0).tolist()}
        d["R_mean"] = np.mean([r["R"] for r in rs], axis=0).tolist()
        d["spikes_per_step"] = float(np.mean([r["spikes_per_step"] for r in rs]))
        if arm != "plain" and "plain" in rows:
            for key in ("earlier", "newest", "plasticity_loss", "final_mean"):
                d[f"{key}_minus_plain"] = seed_summary(
                    [r[key] - p[key] for r, p in zip(rs, rows["plain"], strict=True)]
                )
        out[arm] = d
    return out


def main(
    out: Path | None,
    seeds: int = 5,
    small: bool = False,
    figure: bool = True,
    configs: dict[str, dict[str, float]] | None = None,
    grids: dict[str, list[dict[str, float]]] = GRIDS,
) -> dict[str, Any]:
    """Tune every arm on ``grids`` (unless ``configs`` gives each arm's settings), run the reported
    seeds, write ``continual_learning.json`` and ``continual_learning.png`` into ``out``."""
    t0 = time.time()
    setting = SMALL if small else FULL
    data = load_digits_tensors()
    res: dict[str, Any] = {
        "config": {"seeds": list(range(seeds)), "small": small, "setting": setting._asdict(), "gain": GAIN},
    }
    if configs is None:
        res["tuning"] = {arm: tune(arm, setting=setting, grid=grids[arm], data=data) for arm in ARMS}
        configs = {arm: res["tuning"][arm]["best"] for arm in ARMS}
    res["configs"] = configs
    rows = {
        arm: [run(arm, configs[arm], s, setting=setting, data=data) for s in range(seeds)] for arm in ARMS
    }
    res["arms"] = summarize(rows)
    res["seconds"] = time.time() - t0
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "continual_learning.json").write_text(json.dumps(res, indent=1))
        if figure:
            figure_from(res, out / "continual_learning.png")
    return res


def figure_from(res: dict[str, Any], path: Path | None = None) -> Any:
    """Earlier-task accuracy, newest-task accuracy, accuracy per task after the last one, and
    plasticity loss, every arm in each panel (mean and sd over seeds), from the JSON."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [a for a in ARMS if a in res["arms"]]
    k_tasks = res["config"]["setting"]["n_tasks"]
    n = len(res["config"]["seeds"])
    fig, axes = plt.subplots(1, 5, figsize=(21, 4.0))
    for i, arm in enumerate(arms):
        d = res["arms"][arm]
        c = f"C{i}"
        for ax, curve, xs in (
            (axes[0], "earlier_curve", np.arange(1, k_tasks)),
            (axes[1], "newest_curve", np.arange(k_tasks)),
        ):
            m, s = np.array(d[curve]["mean"]), np.array(d[curve]["sd"])
            ax.plot(
                xs,
                m,
                "o-",
                color=c,
                label=f"{LABELS[arm]}: {mean_sd(d['earlier' if ax is axes[0] else 'newest'])}",
            )
            ax.fill_between(xs, m - s, m + s, color=c, alpha=0.15)
        last = np.array(d["R_mean"])[-1]
        axes[2].plot(np.arange(k_tasks), last, "o-", color=c, label=f"{LABELS[arm]}: mean {last.mean():.2f}")
        pl = d["plasticity_loss"]
        axes[3].bar(i, pl["mean"], yerr=pl["sd"], color=c, alpha=0.8, capsize=3)
        axes[3].scatter([i] * n, pl["per_seed"], color="k", s=8, zorder=3)
    axes[0].set(
        xlabel="after training task k",
        ylabel="mean test accuracy on tasks 0..k-1",
        title="earlier tasks (legend: after the last task)",
    )
    axes[1].set(
        xlabel="task k", ylabel="test accuracy on task k after training it", title="newest-task accuracy"
    )
    axes[2].set(
        xlabel="task j", ylabel="test accuracy after the last task", title="every task after the last one"
    )
    for ax in axes[:3]:
        ax.axhline(0.1, color="grey", ls="--", lw=1)
        ax.set_ylim(0, 1.02)
        ax.set_xticks(range(k_tasks))
        ax.legend(fontsize=7, loc="lower left")
    axes[3].axhline(0, color="grey", lw=0.8)
    axes[3].set_xticks(range(len(arms)), [LABELS[a] for a in arms], fontsize=8, rotation=15)
    axes[3].set(
        ylabel=f"R[0,0] - R[{k_tasks - 1},{k_tasks - 1}] (test accuracy)",
        title="plasticity loss: first minus last task",
    )
    others = [a for a in arms if a != "plain" and "earlier_minus_plain" in res["arms"][a]]
    for i, arm in enumerate(others):
        d = res["arms"][arm]
        c = f"C{arms.index(arm)}"
        for j, key in enumerate(("earlier_minus_plain", "newest_minus_plain")):
            x = j * (len(others) + 1) + i
            axes[4].bar(x, d[key]["mean"], color=c, alpha=0.8, label=LABELS[arm] if j == 0 else None)
            axes[4].scatter([x] * n, d[key]["per_seed"], color="k", s=8, zorder=3)
    axes[4].axhline(0, color="grey", lw=0.8)
    axes[4].set_xticks(
        [(len(others) - 1) / 2, len(others) + 1 + (len(others) - 1) / 2],
        ["earlier tasks", "newest task"],
    )
    axes[4].set(
        ylabel="arm minus plain, same seed (test accuracy)",
        title="after the last task, minus plain",
    )
    axes[4].legend(fontsize=7)
    fig.suptitle(
        f"permuted 8x8 digits, {k_tasks} tasks, spiking MLP; mean ± sd over {n} seeds (dashed: chance)",
        fontsize=10,
    )
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", nargs="?", default="out/", type=Path, help="folder for the JSON and the figure")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--small", action="store_true", help="the fast test's size")
    ap.add_argument(
        "--configs-from",
        type=Path,
        default=None,
        help="a JSON written by this script: reuse its tuned settings instead of tuning again",
    )
    ap.add_argument("--first-grids", action="store_true", help="tune on FIRST_GRIDS (the first run)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    given = json.loads(args.configs_from.read_text())["configs"] if args.configs_from else None
    r = main(
        args.out, args.seeds, args.small, configs=given, grids=FIRST_GRIDS if args.first_grids else GRIDS
    )
    for arm in ARMS:
        d = r["arms"][arm]
        print(
            f"{arm:12s} {r['configs'][arm]}  earlier {mean_sd(d['earlier'])}  newest {mean_sd(d['newest'])}  "
            f"plasticity loss {mean_sd(d['plasticity_loss'])}  forgetting {mean_sd(d['forgetting'])}  "
            f"all tasks {mean_sd(d['final_mean'])}"
        )
    print(f"{r['seconds']:.0f} s")
