"""Heterogeneous synaptic delays detect motion in event-camera video (issue 15, item 2;
../shared/papers.md section 8(d)).

Claim (Grimaldi & Perrinet, "Learning heterogeneous delays in a layer of spiking neurons for fast
motion detection"): one layer of spiking neurons whose synapses have heterogeneous delays,
trained as a time-invariant logistic regression on event streams, detects the direction of
motion, and stays accurate when most of its weights are pruned.

Stimulus. A bar (2 px wide, as long as the sensor) crosses a 12 x 12 px sensor in one of 8
directions (every 45 degrees, perpendicular to its length) at one of two speeds (1 or 2 px/ms),
in 24 ms, entering and leaving the field. Frames every 1 ms go through spikeforge's event-camera
emulator (``encoders.emulate_events``: contrast threshold 0.15, 10 Hz background noise per pixel)
and the events are binned at dt = 1 ms into 2 x 12 x 12 = 288 ON/OFF channels
(``data.to_frames``, binary). Two nuisances leave the direction to the *time order* of events:

* the bar is bright or dark on grey at random (log contrast +-6 thresholds): a bright bar moving
  right and a dark bar moving left give the same ON/OFF arrangement at every instant (ON where
  the scene brightens, OFF where it darkens); their event frames are each other reversed in time
  (exactly for horizontal and vertical motion; along diagonals the camera's hysteresis shifts a
  few events by a bin);
* the path is centred on the sensor (plus a random offset of +-2 px along the motion), so the
  pixels swept, and hence the event counts per pixel, are the same for opposite directions.

Model. 8 output units, one per direction, logistic spiking neurons without membrane memory
(papers.md section 8: p(c | x, t) = sigmoid(sum_{j,k} W[c, j, k] x_j[t - k] + b_c)): each input
channel j reaches each unit c through synapses of fixed delays k (0..9 ms) whose weights are
learned (the heterogeneous delays are all present and fixed; the weights select among them, and
pruning keeps the strongest). The decision is the unit with the most expected spikes,
sum_t p_c(t); training is Adam (lr 1e-2, 30 epochs of 512 samples, batch 64) on the cross-entropy
of these expected counts; 512 test samples. The accuracy with sampled spikes (Bernoulli, ties at
random) is reported too.

Arms (same data, seeds, optimiser, epochs, readout; only the synapses differ):

* ``no_delay``: one synapse per (c, j), delay 0 (288 x 8 = 2304 weights);
* ``random_delay``: one synapse per (c, j) with a delay drawn once in 0..9 ms and frozen
  (2304 weights, the same budget);
* ``hetero``: all 10 delays per (c, j) (23040 weights), then pruned by magnitude (per output
  unit) to 50, 25, 10 and 5 % of its weights; at 10 % it has the same budget as the two arms
  above. Each pruned layer is tested as it is, after refitting only its 8 biases (100 full-batch
  Adam steps, weights frozen), and after 5 epochs of retraining its kept weights.

Tuning (the same for every arm): on one data seed outside 0-4, the per-step binary cross-entropy
of the paper's time-invariant logistic regression and the cross-entropy of the expected counts
were compared for all three arms (30 epochs, lr 1e-2); the counts' loss was better for every arm
(no delays 50 against 28 %, random delays 100 against 78 %, ten delays 100 against 64 %) and is
used. Nothing else was tuned.

Usage::

    PYTHONPATH=. python experiments/motion_delays.py out/ --seeds 5
    PYTHONPATH=. python experiments/motion_delays.py out/ --small     # the fast test's size
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spikeforge.analysis import seed_summary
from spikeforge.data import to_frames
from spikeforge.encoders import emulate_events

SIZE = 12  # px
STEPS = 24  # ms of motion, dt = 1 ms
N_DIR = 8
SPEEDS = (1.0, 2.0)  # px per ms
N_TAPS = 10  # delays 0..9 ms
THRESHOLD = 0.15  # event-camera contrast threshold (log units)
CONTRAST = 6 * THRESHOLD  # log contrast of the bar: 6 events per edge and pixel
PRUNE = (1.0, 0.5, 0.25, 0.1, 0.05)
FINE_TUNE = 5  # epochs of retraining the kept weights after pruning (the second curve)
BIAS_STEPS = 100  # full-batch steps refitting only the 8 biases after pruning (the third curve)
FULL = dict(size=SIZE, steps=STEPS, n_train=512, n_test=512, epochs=30)
SMALL = dict(size=8, steps=20, n_train=192, n_test=192, epochs=20)


def bar_frames(
    direction: int,
    speed: float,
    bright: bool,
    offset: float,
    *,
    size: int = SIZE,
    steps: int = STEPS,
    width: float = 2.0,
    n_dir: int = N_DIR,
) -> np.ndarray:
    """Intensity frames ``[steps + 1, size, size]`` of a bar crossing the sensor's centre.

    The bar is perpendicular to its motion ``(cos, sin)(2 pi direction / n_dir)`` (x right, y down),
    ``width`` px wide and infinitely long, and its centre passes ``offset`` px from the sensor's
    centre (along the motion) at mid-time. ``cover`` in [0, 1] is the bar's area coverage of a
    pixel along the motion (anti-aliased), and the log intensity is ``log(0.3) +- CONTRAST * cover``
    (bright or dark bar on a 0.3 background): with ``CONTRAST`` a whole number of event
    thresholds, a dark bar moving left gives exactly the time-reversed event frames of a bright
    bar moving right.
    """
    half = n_dir // 2  # the opposite direction is the exact negation (time reversal is then exact)
    angle = 2 * math.pi * (direction % half) / n_dir
    sign = -1.0 if direction >= half else 1.0
    ux, uy = sign * math.cos(angle), sign * math.sin(angle)
    c = (size - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    along = (xx - c) * ux + (yy - c) * uy  # [H, W], px along the motion
    t = np.arange(steps + 1, dtype=np.float64)
    pos = offset + speed * (t - steps / 2.0)  # bar centre along the motion at each frame
    d = np.abs(along[None] - pos[:, None, None])
    cover = np.clip(width / 2.0 + 0.5 - d, 0.0, 1.0)
    return 0.3 * np.exp((CONTRAST if bright else -CONTRAST) * cover)


def make_data(
    n: int,
    generator: torch.Generator,
    *,
    size: int = SIZE,
    steps: int = STEPS,
    noise_hz: float = 10.0,
    threshold: float = THRESHOLD,
    random_polarity: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """``n`` event samples ``[steps, n, 2 * size * size]`` (0/1), directions ``[n]``, speed indices ``[n]``.

    Directions, speeds and bar polarities are balanced and shuffled; the offset along the motion is
    uniform in [-2, 2] px. Each sample goes through ``emulate_events`` (its noise drawn from
    ``generator``) and ``to_frames`` (1-ms bins, binary).
    """
    combos = [(d, s, b) for d in range(N_DIR) for s in range(len(SPEEDS)) for b in (True, False)]
    pick = torch.randperm(n, generator=generator) % len(combos)
    offsets = (torch.rand(n, generator=generator, dtype=torch.float64) * 4.0 - 2.0).tolist()
    times = np.arange(steps + 1, dtype=np.int64) * 1000  # us
    x = torch.zeros(steps, n, 2 * size * size)
    labels = torch.empty(n, dtype=torch.long)
    speed_idx = torch.empty(n, dtype=torch.long)
    for i, k in enumerate(pick.tolist()):
        d, s, bright = combos[k]
        if not random_polarity:
            bright = True
        frames = bar_frames(d, SPEEDS[s], bright, offsets[i], size=size, steps=steps)
        ev = emulate_events(
            frames, times, threshold=threshold, noise_rate=noise_hz * 1e-3, eps=0.0, generator=generator
        )
        counts = to_frames(
            ev, (size, size, 2), bin_us=1000, duration_us=steps * 1000, binary=True, dtype=torch.float32
        )
        x[:, i] = counts.reshape(steps, -1)
        labels[i], speed_idx[i] = d, s
    return x, labels, speed_idx


class DelayLayer(nn.Module):
    """Output units reading every input channel through synapses of fixed delays 0..``n_taps - 1``.

    ``a_c[t] = b_c + sum_{j,k} W[c, j, k] x_j[t - k]`` (causal, zero history); a mask ``[C, J, D]``
    says which synapses exist: all (``hetero``), delay 0 only (``no_delay``), one random delay per
    (c, j) (``random_delay``), or what pruning keeps.
    """

    def __init__(self, n_in: int, n_out: int, mask: Tensor) -> None:
        super().__init__()
        self.n_taps = int(mask.shape[-1])
        self.weight = nn.Parameter(torch.zeros(n_out, n_in, self.n_taps))
        self.bias = nn.Parameter(torch.full((n_out,), -2.0))
        self.register_buffer("mask", mask.to(torch.float32))

    def forward(self, x: Tensor) -> Tensor:  # [T, B, J] -> [T, B, C]
        xb = F.pad(x.permute(1, 2, 0), (self.n_taps - 1, 0))  # [B, J, D - 1 + T]
        kernel = (self.weight * self.mask).flip(-1)  # conv1d correlates: tap k reads x[t - k]
        return F.conv1d(xb, kernel, self.bias).permute(2, 0, 1)

    def n_synapses(self) -> int:
        return int(self.mask.sum())

    def pruned(self, fraction: float) -> DelayLayer:
        """A copy keeping the ``fraction`` largest |W| of each output unit's synapses (no retraining)."""
        out = DelayLayer(self.weight.shape[1], self.weight.shape[0], self.mask.clone()).to(self.weight.dtype)
        out.load_state_dict(self.state_dict())
        w = (self.weight * self.mask).detach().abs().reshape(self.weight.shape[0], -1)
        keep = int(round(fraction * self.mask[0].sum().item()))
        idx = w.topk(keep, dim=1).indices
        new = torch.zeros_like(w).scatter_(1, idx, 1.0).reshape(self.mask.shape)
        out.mask.copy_(new * self.mask)
        return out


def make_mask(arm: str, n_in: int, n_out: int, n_taps: int, generator: torch.Generator) -> Tensor:
    mask = torch.zeros(n_out, n_in, n_taps)
    if arm == "hetero":
        mask.fill_(1.0)
    elif arm == "no_delay":
        mask[..., 0] = 1.0
    elif arm == "random_delay":
        d = torch.randint(0, n_taps, (n_out, n_in, 1), generator=generator)
        mask.scatter_(-1, d, 1.0)
    else:
        raise ValueError(f"unknown arm {arm!r}")
    return mask


def train(
    model: DelayLayer,
    x: Tensor,
    y: Tensor,
    generator: torch.Generator,
    *,
    epochs: int,
    lr: float = 1e-2,
    batch: int = 64,
) -> list[float]:
    """Adam on the cross-entropy of the expected spike counts ``sum_t p_c(t)``; the loss per epoch."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = x.shape[1]
    losses = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, batch):
            idx = perm[start : start + batch]
            loss = F.cross_entropy(torch.sigmoid(model(x[:, idx])).sum(0), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / n)
    return losses


def refit_bias(
    model: DelayLayer, x: Tensor, y: Tensor, *, steps: int = BIAS_STEPS, lr: float = 0.1
) -> DelayLayer:
    """Refit only the units' biases (weights frozen): full-batch Adam on the training loss."""
    opt = torch.optim.Adam([model.bias], lr=lr)
    model.weight.requires_grad_(False)
    for _ in range(steps):
        loss = F.cross_entropy(torch.sigmoid(model(x)).sum(0), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


@torch.no_grad()
def accuracy(model: DelayLayer, x: Tensor, y: Tensor, generator: torch.Generator | None = None) -> float:
    """Expected-spike-count decision; with ``generator``, Bernoulli spike counts (ties at random)."""
    p = torch.sigmoid(model(x))  # [T, B, C]
    if generator is None:
        score = p.sum(0)
    else:
        spikes = (torch.rand(p.shape, generator=generator) < p).float().sum(0)
        score = spikes + 0.01 * torch.rand(spikes.shape, generator=generator)  # random tie-break
    return float((score.argmax(-1) == y).float().mean())


def run_seed(
    seed: int,
    *,
    size: int = SIZE,
    steps: int = STEPS,
    n_train: int = 512,
    n_test: int = 512,
    epochs: int = 30,
    lr: float = 1e-2,
    arms: tuple[str, ...] = ("no_delay", "random_delay", "hetero"),
    random_polarity: bool = True,
    prune: tuple[float, ...] = PRUNE,
) -> dict[str, Any]:
    """Train every arm on the data of ``seed``; test accuracies, per speed, and the pruning curve."""
    g = torch.Generator().manual_seed(1000 + seed)
    kw = dict(size=size, steps=steps, random_polarity=random_polarity)
    x_tr, y_tr, _ = make_data(n_train, g, **kw)  # type: ignore[arg-type]
    x_te, y_te, s_te = make_data(n_test, g, **kw)  # type: ignore[arg-type]
    n_in = x_tr.shape[-1]
    out: dict[str, Any] = {"events_per_sample": float(x_tr.sum() / n_train)}
    for arm in arms:
        mask = make_mask(arm, n_in, N_DIR, N_TAPS, torch.Generator().manual_seed(2000 + seed))
        model = DelayLayer(n_in, N_DIR, mask)
        losses = train(model, x_tr, y_tr, torch.Generator().manual_seed(3000 + seed), epochs=epochs, lr=lr)
        row: dict[str, Any] = {
            "test": accuracy(model, x_te, y_te),
            "train": accuracy(model, x_tr, y_tr),
            "test_sampled": accuracy(model, x_te, y_te, torch.Generator().manual_seed(4000 + seed)),
            "synapses": model.n_synapses(),
            "final_loss": losses[-1],
        }
        for si, v in enumerate(SPEEDS):
            sel = s_te == si
            row[f"test_speed_{v:g}"] = accuracy(model, x_te[:, sel], y_te[sel])
        if arm == "hetero":
            row["pruned"] = {}
            for f in prune:
                pruned = model.pruned(f)
                entry = {"test": accuracy(pruned, x_te, y_te), "synapses": pruned.n_synapses()}
                entry["test_bias_refit"] = accuracy(refit_bias(model.pruned(f), x_tr, y_tr), x_te, y_te)
                train(pruned, x_tr, y_tr, torch.Generator().manual_seed(5000 + seed), epochs=FINE_TUNE, lr=lr)
                entry["test_fine_tuned"] = accuracy(pruned, x_te, y_te)
                row["pruned"][f"{f:g}"] = entry
            # the weights of unit 0 (rightward), mean over pixel rows: [polarity (OFF, ON), column, delay]
            w0 = model.weight.detach()[0].reshape(2, size, size, -1).mean(1)
            row["kernel_unit0"] = w0.tolist()
        out[arm] = row
    return out


def main(out: Path | None, seeds: int = 5, small: bool = False, figure: bool = True) -> dict:
    t0 = time.time()
    cfg = SMALL if small else FULL
    rows = [run_seed(s, **cfg) for s in range(seeds)]  # type: ignore[arg-type]
    arms = ("no_delay", "random_delay", "hetero")
    res: dict[str, Any] = {
        "config": dict(
            cfg,
            n_dir=N_DIR,
            speeds_px_per_ms=list(SPEEDS),
            n_taps=N_TAPS,
            dt_ms=1.0,
            threshold=THRESHOLD,
            contrast=CONTRAST,
            noise_hz=10.0,
            fine_tune_epochs=FINE_TUNE,
            bias_refit_steps=BIAS_STEPS,
            seeds=list(range(seeds)),
            lr=1e-2,
            batch=64,
            loss="cross-entropy of the expected spike counts",
        ),
        "events_per_sample": seed_summary([r["events_per_sample"] for r in rows]),
    }
    keys = ["test", "train", "test_sampled"] + [f"test_speed_{v:g}" for v in SPEEDS]
    res["arms"] = {
        a: {k: seed_summary([r[a][k] for r in rows]) for k in keys} | {"synapses": rows[0][a]["synapses"]}
        for a in arms
    }
    res["pruning"] = {
        f"{f:g}": {
            k: seed_summary([r["hetero"]["pruned"][f"{f:g}"][k] for r in rows])
            for k in ("test", "test_bias_refit", "test_fine_tuned")
        }
        | {"synapses": rows[0]["hetero"]["pruned"][f"{f:g}"]["synapses"]}
        for f in PRUNE
    }
    res["kernel_unit0_seed0"] = rows[0]["hetero"]["kernel_unit0"]
    het = res["arms"]["hetero"]["test"]["per_seed"]
    p10 = res["pruning"]["0.1"]["test_fine_tuned"]["per_seed"]
    res["verdict"] = {
        "hetero_ge_90_all_seeds": all(a >= 0.9 for a in het),
        "hetero_mean": statistics.fmean(het),
        "pruned_10pct_fine_tuned_mean": statistics.fmean(p10),
        "pruned_10pct_no_retraining_mean": statistics.fmean(res["pruning"]["0.1"]["test"]["per_seed"]),
        "pruned_10pct_bias_refit_mean": statistics.fmean(
            res["pruning"]["0.1"]["test_bias_refit"]["per_seed"]
        ),
        "pruned_10pct_fine_tuned_beats_no_delay_all_seeds": all(
            p > b for p, b in zip(p10, res["arms"]["no_delay"]["test"]["per_seed"], strict=True)
        ),
    }
    res["seconds"] = time.time() - t0
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "motion_delays.json").write_text(json.dumps(res, indent=1))
        if figure:
            figure_from(res, out / "motion_delays.png")
    return res


def figure_from(res: dict, path: Path | None = None) -> Any:
    """The experiment's figure from its JSON: example events, accuracies, pruning curve, a kernel."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = res["config"]
    size, steps = cfg["size"], cfg["steps"]
    fig, axes = plt.subplots(1, 5, figsize=(20, 3.8), gridspec_kw={"width_ratios": [0.6, 0.6, 1, 1, 1]})
    ax = [axes[0], *axes[2:]]
    # (a) a bright bar moving right and a dark bar moving left: one snapshot looks alike, the order differs
    times = np.arange(steps + 1, dtype=np.int64) * 1000
    for a, (d, bright, title) in zip(
        axes[:2], ((0, True, "bright bar, rightward"), (4, False, "dark bar, leftward")), strict=True
    ):
        frames = bar_frames(d, SPEEDS[0], bright, 0.0, size=size, steps=steps)
        ev = emulate_events(frames, times, threshold=THRESHOLD, eps=0.0)
        row = ev[ev["y"] == size // 2]
        for pol, color, name in ((1, "C3", "ON"), (0, "C0", "OFF")):
            sel = row["p"] == pol
            a.scatter(row["t"][sel] / 1000.0, row["x"][sel], color=color, s=6, label=name)
        a.set_xlabel("time (ms)")
        a.set_title(f"{title}\n{SPEEDS[0]:g} px/ms, middle row", fontsize=9)
    axes[0].set_ylabel("pixel column")
    axes[0].legend(fontsize=7, loc="upper left")
    arms = [
        ("no_delay", "no delays"),
        ("random_delay", "1 random delay\nper synapse"),
        ("hetero", f"{cfg['n_taps']} delays\nper synapse"),
    ]
    n = len(cfg["seeds"])
    for i, (a, _label) in enumerate(arms):
        d = res["arms"][a]["test"]
        ax[1].bar(i, 100 * d["mean"], yerr=100 * d["sd"], color=f"C{i}", alpha=0.6, capsize=3)
        ax[1].scatter([i] * n, [100 * v for v in d["per_seed"]], color="k", s=10, zorder=3)
    ax[1].axhline(100 / cfg["n_dir"], color="grey", ls="--", lw=1)
    ax[1].axhline(90, color="k", ls=":", lw=1)
    ax[1].set_xticks(
        range(len(arms)), [f"{lab}\n({res['arms'][a]['synapses']} w)" for a, lab in arms], fontsize=8
    )
    ax[1].set_ylabel("test accuracy (%), 8 directions")
    ax[1].set_ylim(0, 105)
    ax[1].set_title(f"same data, readout, training; {n} seeds (dots)", fontsize=9)
    pr = res["pruning"]
    fr = [float(k) for k in pr]
    for key, label, color in (
        ("test", "pruned, no retraining", "C2"),
        ("test_bias_refit", "pruned, biases refitted (weights frozen)", "C8"),
        ("test_fine_tuned", f"pruned + {cfg['fine_tune_epochs']} epochs retraining", "C4"),
    ):
        m = [100 * pr[k][key]["mean"] for k in pr]
        s = [100 * pr[k][key]["sd"] for k in pr]
        ax[2].errorbar([100 * f for f in fr], m, yerr=s, marker="o", color=color, label=label, capsize=3)
    budget = 100 * res["arms"]["no_delay"]["synapses"] / res["arms"]["hetero"]["synapses"]
    for i, (a, label) in enumerate(arms[:2]):
        d = res["arms"][a]["test"]
        ax[2].errorbar(
            [budget],
            [100 * d["mean"]],
            yerr=[100 * d["sd"]],
            marker="s",
            color=f"C{i}",
            label=label.replace("\n", " ") + " (same budget)",
            ls="none",
            capsize=3,
        )
    ax[2].set_xscale("log")
    ax[2].set_xticks([100 * f for f in fr], [f"{100 * f:g}" for f in fr])
    ax[2].axhline(100 / cfg["n_dir"], color="grey", ls="--", lw=1)
    ax[2].set_xlabel("weights kept (%), magnitude pruning per unit")
    ax[2].set_ylabel("test accuracy (%)")
    ax[2].set_ylim(0, 105)
    ax[2].legend(fontsize=7, loc="lower right")
    ax[2].set_title("pruning (mean ± sd over seeds)", fontsize=9)
    if res.get("kernel_unit0_seed0") is not None:
        both = np.array(res["kernel_unit0_seed0"])  # [polarity, column, delay]
        img = np.concatenate([both[0], np.full((1, both.shape[-1]), np.nan), both[1]], 0).T
        v = np.nanmax(np.abs(img))
        ax[3].imshow(img, aspect="auto", origin="lower", cmap="coolwarm", vmin=-v, vmax=v)
        ax[3].set_xticks([size // 2, size + 1 + size // 2], ["OFF", "ON"])
        ax[3].set_xlabel("pixel column (mean over rows)")
        ax[3].set_ylabel("delay (ms)")
        ax[3].set_title("weights of the 'rightward' unit, seed 0\n(red > 0, blue < 0)", fontsize=9)
    else:
        ax[3].axis("off")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", nargs="?", default="out/", type=Path, help="folder for the JSON and the figure")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--small", action="store_true", help="the fast test's size (8 x 8 px, 20 ms)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    r = main(args.out, args.seeds, args.small)
    for a, d in r["arms"].items():
        t = d["test"]
        print(
            f"{a:13s} test {100 * t['mean']:.1f} ± {100 * t['sd']:.1f} %  "
            f"[{100 * t['min']:.1f}, {100 * t['max']:.1f}]"
            f"  sampled {100 * d['test_sampled']['mean']:.1f}  ({d['synapses']} synapses)"
        )
    for f, d in r["pruning"].items():
        print(
            f"hetero pruned to {f:>4s}: {100 * d['test']['mean']:.1f} ± {100 * d['test']['sd']:.1f} %, "
            f"biases refitted {100 * d['test_bias_refit']['mean']:.1f} "
            f"± {100 * d['test_bias_refit']['sd']:.1f} %, "
            f"fine-tuned {100 * d['test_fine_tuned']['mean']:.1f} ± {100 * d['test_fine_tuned']['sd']:.1f} % "
            f"({d['synapses']} synapses)"
        )
    print(json.dumps(r["verdict"]), f"{r['seconds']:.0f} s")
