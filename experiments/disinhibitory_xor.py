"""Disinhibition-gated plasticity learns XOR and two moons; compared with backprop (issue 15, item 4).

Claim (Rossbroich & Zenke 2023, "Dis-inhibitory neuronal circuits can control the sign of
synaptic plasticity"; ../shared/papers.md section 10): if errors arrive as top-down input onto
VIP interneurons, which inhibit the SST interneurons that inhibit pyramidal (E) cells, a Hebbian
rule whose sign follows the postsynaptic rate learns like error back-propagation, and it learns
non-linearly separable tasks about as well as back-propagation (BP) on the same network.

Circuit (a rate model of the VIP -> SST -> E motif of ``builders.disinhibitory``; every E cell
has its own SST and VIP cell). For a layer of ``n`` E cells with feed-forward drive ``u = W x``:

.. math::

    r_E &\\leftarrow r_E + \\alpha\\,(-r_E + \\phi(u - w_{SE}\\,r_S)) \\\\
    r_S &\\leftarrow r_S + \\alpha\\,(-r_S + [\\,b_S + w_{ES}\\,r_E - w_{VS}\\,r_V\\,]_+) \\\\
    r_V &= [\\,t\\,]_+

iterated ``K_STEPS`` times from rest (alpha = 0.5, ``K_STEPS`` = 20: the E-SST loop has settled
to 1e-3), with ``phi`` a smooth rectifier (softplus of sharpness 5), ``w_SE = w_ES = w_VS = b_S =
1`` and ``t`` the top-down drive onto VIP. At the top-down's baseline ``t0 = 0.5`` an active E cell
sits at about ``r_E = (u - 0.5) / 2`` (exactly, for a linear ``phi``); raising ``t`` by ``d`` lowers
SST and raises ``r_E`` by about ``d / 2`` (``d phi' / (1 + phi')``: disinhibition), lowering it does
the reverse, while SST stays active.

Network (the same in every arm): a 2-D point ``(x1, x2)`` is encoded as 4 non-negative input
rates (ON and OFF parts of each coordinate) plus a constant input at rate 1; ``H = 16`` hidden E
cells; 2 output E cells (one per class) that also read a constant unit at rate 1; the class is the
output cell with the higher rate at the top-down's baseline. Weights may take either sign (the
excitatory and inhibitory paths of the feed-forward drive are not modelled apart).

Rule (local, the same in every plastic arm): each presentation has a first half with the top-down
at its baseline (rates ``r0``) and a second half with the teacher's top-down (rates ``r1``); then

.. math:: \\Delta W_{ij} = \\eta\\; r^{pre}_{1,j}\\,(r^{E}_{1,i} - \\theta_i), \\qquad \\theta_i = r^{E}_{0,i}

a Hebbian rule whose sign follows the postsynaptic rate with a threshold at the cell's own rate
of the first half (a fast sliding threshold). It never sees the error: only the circuit does. The
teacher's top-down onto output cell ``k`` is ``t0 + BETA_OUT * (y_k - r0_k)`` (target 1 for the
true class, 0 for the other), and onto hidden cell ``i`` ``t0 + BETA_HID * (B e)_i`` with ``e`` the
output error and ``B`` a fixed random matrix (feedback alignment; no weight transport). So the
top-down disinhibits the E cells whose rate should rise (potentiation of their active inputs) and
inhibits through SST those whose rate should fall (depression).

Arms (same seeds, data, order, initial weights, presentations and batch; only the learning
differs):

* ``disinhibition``: the rule in both layers, as above;
* ``output_only``: the same, with the hidden cells' top-down held at baseline (their weights stay
  at their random start: a random-feature network whose read-out learns through disinhibition);
* ``no_depression``: the top-down can only rise above its baseline (``t0 + [.]_+``): disinhibition
  can only potentiate, never switch to depression;
* ``cut``: the rule with the VIP -> SST weights set to 0 in both layers (the top-down reaches VIP
  but no longer disinhibits E): the control without disinhibition;
* ``backprop``: gradient descent on ``0.5 * ||r0_out - y||^2`` through the same circuit (all
  ``K_STEPS`` iterations unrolled, top-down at baseline), on the same weights.

Every arm is plain SGD with the same batch: the local arms apply the batch mean of their
``Delta W``, backprop the batch mean gradient; W2 at the rate ``lr``, W1 at ``hidden_scale * lr``
(for the rule, times ``BETA_OUT / BETA_HID = 10``, which undoes the hidden top-down's smaller
gain; the rule's own scale, ``BETA_OUT / 2`` at the output, is absorbed by the tuning).

Budget: ``EPOCHS = 30`` epochs of ``N_TRAIN = 256`` points, batch 16 (7680 presentations, 480
updates). Test: 2048 fresh points per seed.

Tasks: ``xor`` (uniform in [-1, 1]^2, class 1 where ``x1 * x2 > 0``: no additive function of the
two coordinates, and so no read-out of the input code, beats chance) and ``moons`` (two
interleaved half circles, noise sd 0.15, scaled into about [-1, 1]^2).

Tuning (the same for every arm): two knobs per arm, from the same grid: the learning rate of W2
(``LR_GRID``: 9 values, 0.01 to 30, factor e) and W1's rate relative to it (``HIDDEN_SCALES``:
0.03 to 10), picked by the mean final accuracy on 1024 validation points over tuning seeds
100-102, which are not among the reported seeds (0-9); all (seed, setting) pairs of an arm run at
once as a batch of networks. ``output_only`` has no hidden learning, so only its rate is
searched; ``cut`` makes exactly no update (tested), so it is not tuned and runs with the
``disinhibition`` arm's setting.

How the design was settled: the circuit constants, ``BETA_OUT``, ``H`` and the budget were set by
hand from the algebra above. In a first prototype on the tuning seeds (the rule as now, a hidden
top-down gain of 0.5, no second knob) the disinhibition arm stayed near chance on XOR. Two full
runs (tuning seeds, then reported seeds 0-9) then used the hidden top-down gain itself as the
second knob (0.1 to 1, then 0.03 to 3, times 0.5); they gave XOR disinhibition 87.2 +- 10.0,
output_only 81.1 +- 10.1, backprop 92.2 +- 2.0 %, two moons 89.9 +- 1.7, 90.5 +- 1.7, 97.8 +- 0.5
%; the chosen gains were small, and a large top-down can drive SST or VIP out of their linear
range (a saturated switch, not measured here). So the hidden gain is now fixed small (``BETA_HID =
0.05``) and the second knob is W1's plasticity rate, the same knob backprop has (for the rule
times ``BETA_OUT / BETA_HID``: a run without that factor was stopped after its first arm, whose
chosen W1 rate sat near the grid's top). So the reported seeds were seen with the earlier knob
before the final design was fixed. In the committed run the chosen W1 ratio sits on the grid's top
edge (x10) for the rule on XOR and for backprop on both tasks; the other chosen settings are
inside the grid (``output_only``'s ratio does nothing).

Usage::

    PYTHONPATH=. python experiments/disinhibitory_xor.py out/ --seeds 10
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from spikeforge.analysis import seed_summary

ARMS = ("disinhibition", "output_only", "no_depression", "cut", "backprop")
TASKS = ("xor", "moons")
H = 16  # hidden E cells
N_OUT = 2
N_IN = 5  # ON/OFF x 2 coordinates + a constant input
CIRCUIT = dict(w_se=1.0, w_es=1.0, w_vs=1.0, b_s=1.0, t0=0.5, alpha=0.5, sharpness=5.0)
K_STEPS = 20
BETA_OUT = 0.5
BETA_HID = 0.05  # small: the hidden cells' disinhibition stays in the circuit's linear range
EPOCHS = 30
N_TRAIN = 256
N_VAL = 1024
N_TEST = 2048
BATCH = 16
LR_GRID = tuple(round(0.01 * math.e**k, 4) for k in range(9))  # 0.01 ... 29.8
HIDDEN_SCALES = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
TUNING_SEEDS = (100, 101, 102)
DTYPE = torch.float64
# the small version of the fast test and the notebook: each arm with its setting from the full run
SMALL = dict(epochs=20, n_train=128, n_eval=512)
SMALL_SETTINGS = {
    "xor": {"disinhibition": (0.546, 10.0), "cut": (0.546, 10.0), "backprop": (1.4841, 10.0)},
}


# ------------------------------------------------------------------------------------ data
def xor_task(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points uniform in [-1, 1]^2 and their class (1 where ``x1 * x2 > 0``)."""
    x = 2.0 * torch.rand(n, 2, generator=gen, dtype=DTYPE) - 1.0
    return x, (x[:, 0] * x[:, 1] > 0).long()


def moons_task(n: int, gen: torch.Generator, noise: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved half circles (as scikit-learn's ``make_moons``), centred and scaled by 1/1.5."""
    y = torch.randint(0, 2, (n,), generator=gen)
    a = math.pi * torch.rand(n, generator=gen, dtype=DTYPE)
    x = torch.stack([torch.cos(a), torch.sin(a)], 1)
    x = torch.where(y[:, None] == 1, torch.stack([1.0 - x[:, 0], 0.5 - x[:, 1]], 1), x)
    x = x + noise * torch.randn(n, 2, generator=gen, dtype=DTYPE)
    return (x - torch.tensor([0.5, 0.25], dtype=DTYPE)) / 1.5, y


TASK_FN = {"xor": xor_task, "moons": moons_task}


def encode(x: torch.Tensor) -> torch.Tensor:
    """[..., 2] points -> [..., 5] non-negative rates: ON and OFF part of each coordinate, and 1."""
    return torch.cat([x.clamp(min=0), (-x).clamp(min=0), torch.ones_like(x[..., :1])], -1)


# ------------------------------------------------------------------------------------ circuit
def phi(v: torch.Tensor) -> torch.Tensor:
    """The E cells' rate function: a smooth rectifier (softplus of sharpness 5)."""
    k = CIRCUIT["sharpness"]
    return F.softplus(k * v) / k


def settle(u: torch.Tensor, topdown: torch.Tensor, *, cut: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Rates (r_E, r_S) of one layer of E cells, each with its SST and VIP cell, after ``K_STEPS``.

    ``u``: feed-forward drive to E; ``topdown``: drive onto VIP (same shape). ``cut`` sets the
    VIP -> SST weight to 0.
    """
    c = CIRCUIT
    r_v = topdown.clamp(min=0)
    w_vs = 0.0 if cut else c["w_vs"]
    r_e = torch.zeros_like(u)
    r_s = torch.zeros_like(u)
    a = c["alpha"]
    for _ in range(K_STEPS):
        r_e, r_s = (
            r_e + a * (-r_e + phi(u - c["w_se"] * r_s)),
            r_s + a * (-r_s + (c["b_s"] + c["w_es"] * r_e - w_vs * r_v).clamp(min=0)),
        )
    return r_e, r_s


def with_const(r: torch.Tensor) -> torch.Tensor:
    return torch.cat([r, torch.ones_like(r[..., :1])], -1)


def forward(
    w1: torch.Tensor,
    w2: torch.Tensor,
    x: torch.Tensor,
    td_hid: torch.Tensor | None = None,
    td_out: torch.Tensor | None = None,
    *,
    cut: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden and output E rates of a batch of networks. w1 [N, H, 5], w2 [N, 2, H + 1], x [N, B, 5]."""
    t0 = CIRCUIT["t0"]
    u_h = torch.einsum("nbi,nhi->nbh", x, w1)
    r_h, _ = settle(u_h, torch.full_like(u_h, t0) if td_hid is None else td_hid, cut=cut)
    u_o = torch.einsum("nbi,noi->nbo", with_const(r_h), w2)
    r_o, _ = settle(u_o, torch.full_like(u_o, t0) if td_out is None else td_out, cut=cut)
    return r_h, r_o


def init_weights(seed: int) -> dict[str, torch.Tensor]:
    """Initial weights and the fixed feedback matrix of one seed (the same for every arm)."""
    g = torch.Generator().manual_seed(10_000 + seed)
    w1 = torch.randn(H, N_IN, generator=g, dtype=DTYPE) / math.sqrt(2.0)
    w1[:, -1] = 0.5 + 0.25 * torch.randn(H, generator=g, dtype=DTYPE)  # hidden cells start near threshold
    w2 = torch.randn(N_OUT, H + 1, generator=g, dtype=DTYPE) / math.sqrt(H)
    w2[:, -1] = 0.5
    b = torch.randn(H, N_OUT, generator=g, dtype=DTYPE) / math.sqrt(N_OUT)
    return {"w1": w1, "w2": w2, "B": b}


def local_update(
    w1: torch.Tensor,
    w2: torch.Tensor,
    fb: torch.Tensor,
    x: torch.Tensor,
    y1h: torch.Tensor,
    arm: str,
    beta_hid: torch.Tensor | float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch-mean weight changes (per unit learning rate) of the disinhibition-gated rule.

    ``beta_hid``: the hidden top-down's gain, a number or one per network ([N, 1, 1]).
    """
    t0, cut = CIRCUIT["t0"], arm == "cut"
    r_h0, r_o0 = forward(w1, w2, x, cut=cut)  # first half: top-down at baseline
    err = y1h - r_o0  # what the teacher signals, never seen by the rule
    d_out = BETA_OUT * err
    d_hid = beta_hid * torch.einsum("nbo,nho->nbh", err, fb)
    if arm == "output_only":
        d_hid = torch.zeros_like(d_hid)
    if arm == "no_depression":
        d_out, d_hid = d_out.clamp(min=0), d_hid.clamp(min=0)
    r_h1, r_o1 = forward(w1, w2, x, t0 + d_hid, t0 + d_out, cut=cut)  # second half: teacher on
    b = x.shape[1]
    dw1 = torch.einsum("nbh,nbi->nhi", r_h1 - r_h0, x) / b
    dw2 = torch.einsum("nbo,nbi->noi", r_o1 - r_o0, with_const(r_h1)) / b
    return dw1, dw2


def accuracy(
    w1: torch.Tensor, w2: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *, cut: bool = False
) -> torch.Tensor:
    """Accuracy of every network [N] on its points x [N, B, 5], classes y [N, B]."""
    with torch.no_grad():
        _, r_o = forward(w1, w2, x, cut=cut)
    return (r_o.argmax(-1) == y).to(DTYPE).mean(-1)


def train(
    task: str,
    arm: str,
    seeds: list[int],
    settings: list[tuple[float, float]],
    *,
    epochs: int = EPOCHS,
    n_train: int = N_TRAIN,
    n_eval: int = N_TEST,
    eval_offset: int = 0,
    curve: bool = False,
) -> dict[str, Any]:
    """Train one arm for every (seed, setting) pair at once, as a batch of networks.

    A setting is ``(lr, hidden_scale)``: the learning rate of W2, and W1's rate relative to it
    (W1 learns at ``hidden_scale * lr``; the rule's, times ``BETA_OUT / BETA_HID``). Networks are
    ordered seed-major: network ``s * len(settings) + k`` has seed ``seeds[s]`` and setting
    ``settings[k]``. Data, order, initial weights and feedback depend on the seed only. The
    evaluation points come from the seed's generator offset by ``eval_offset`` (validation and
    test sets differ). Returns the final accuracies [N] and
    weights (and with ``curve`` the accuracy after every epoch, [epochs + 1, N]).
    """
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")
    if task not in TASK_FN:
        raise ValueError(f"task must be one of {tuple(TASK_FN)}, got {task!r}")
    ns, nk = len(seeds), len(settings)
    xs, ys, xe, ye, orders, inits = [], [], [], [], [], []
    for s in seeds:
        x, y = TASK_FN[task](n_train, torch.Generator().manual_seed(s))
        xv, yv = TASK_FN[task](n_eval, torch.Generator().manual_seed(1_000_000 + eval_offset + s))
        go = torch.Generator().manual_seed(2_000_000 + s)
        orders.append(torch.stack([torch.randperm(n_train, generator=go) for _ in range(epochs)]))
        xs.append(encode(x))
        ys.append(y)
        xe.append(encode(xv))
        ye.append(yv)
        inits.append(init_weights(s))

    def rep(ts: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(ts).repeat_interleave(nk, 0)

    x_tr, y_tr, x_ev, y_ev, order = rep(xs), rep(ys), rep(xe), rep(ye), rep(orders)
    w1, w2, fb = (rep([i[k] for i in inits]) for k in ("w1", "w2", "B"))
    lr = torch.tensor([lr for lr, _ in settings] * ns, dtype=DTYPE)[:, None, None]
    scale = torch.tensor([sc for _, sc in settings] * ns, dtype=DTYPE)[:, None, None]
    cut = arm == "cut"
    rows = torch.arange(ns * nk)[:, None]
    curve_acc = [accuracy(w1, w2, x_ev, y_ev, cut=cut)] if curve else []
    for ep in range(epochs):
        for start in range(0, n_train, BATCH):
            idx = order[:, ep, start : start + BATCH]
            xb, yb = x_tr[rows, idx], y_tr[rows, idx]
            y1h = F.one_hot(yb, N_OUT).to(DTYPE)
            if arm == "backprop":
                w1r, w2r = w1.clone().requires_grad_(), w2.clone().requires_grad_()
                _, r_o = forward(w1r, w2r, xb)
                loss = 0.5 * ((r_o - y1h) ** 2).sum(-1).mean(-1).sum()  # per network: a batch mean
                g1, g2 = torch.autograd.grad(loss, (w1r, w2r))
                w1, w2 = w1 - scale * lr * g1, w2 - lr * g2
            else:
                with torch.no_grad():
                    d1, d2 = local_update(w1, w2, fb, xb, y1h, arm, BETA_HID)
                # W1's rule sees a top-down BETA_HID / BETA_OUT times the output's: undo that factor
                w1, w2 = w1 + (BETA_OUT / BETA_HID) * scale * lr * d1, w2 + lr * d2
            # a diverged network stays diverged (its rates overflow): zero it, so it counts as failed
            w1 = torch.nan_to_num(w1, nan=0.0, posinf=0.0, neginf=0.0)
            w2 = torch.nan_to_num(w2, nan=0.0, posinf=0.0, neginf=0.0)
        if curve:
            curve_acc.append(accuracy(w1, w2, x_ev, y_ev, cut=cut))
    out: dict[str, Any] = {"acc": accuracy(w1, w2, x_ev, y_ev, cut=cut), "w1": w1, "w2": w2}
    if curve:
        out["curve"] = torch.stack(curve_acc)
    return out


def tune(
    task: str,
    arm: str,
    *,
    grid: tuple[float, ...] = LR_GRID,
    scales: tuple[float, ...] = HIDDEN_SCALES,
    seeds: tuple[int, ...] = TUNING_SEEDS,
    epochs: int = EPOCHS,
    n_train: int = N_TRAIN,
) -> dict[str, Any]:
    """Every (learning rate, hidden scale) of the grid: mean validation accuracy over the tuning
    seeds, and the best setting (the first of equals: smallest scale, then smallest rate)."""
    settings = [(lr, sc) for sc in scales for lr in grid]
    r = train(
        task, arm, list(seeds), settings, epochs=epochs, n_train=n_train, n_eval=N_VAL, eval_offset=500_000
    )
    acc = r["acc"].view(len(seeds), len(settings)).mean(0)
    best = int(torch.argmax(acc))
    return {
        "lr_grid": list(grid),
        "hidden_scales": list(scales),
        "val_acc": acc.view(len(scales), len(grid)).tolist(),
        "best": {"lr": settings[best][0], "hidden_scale": settings[best][1], "val_acc": float(acc[best])},
    }


def sign_demo(n: int = 41) -> dict[str, list[float]]:
    """The rate change of one active E cell against the error its top-down signals, per arm's circuit."""
    err = torch.linspace(-1.0, 1.0, n, dtype=DTYPE)
    u = torch.full_like(err, 1.5)  # an active cell
    t0 = CIRCUIT["t0"]
    r0, _ = settle(u, torch.full_like(u, t0))
    out = {"error": err.tolist()}
    for name, d, cut in (
        ("intact", BETA_OUT * err, False),
        ("no_depression", (BETA_OUT * err).clamp(min=0), False),
        ("cut", BETA_OUT * err, True),
    ):
        base, _ = settle(u, torch.full_like(u, t0), cut=cut)
        r1, _ = settle(u, t0 + d, cut=cut)
        out[name] = (r1 - base).tolist()
    out["rate_at_baseline"] = float(r0[0])
    return out


def main(
    out: Path | None,
    seeds: int = 10,
    *,
    tasks: tuple[str, ...] = TASKS,
    arms: tuple[str, ...] = ARMS,
    epochs: int = EPOCHS,
    n_train: int = N_TRAIN,
    grid: tuple[float, ...] = LR_GRID,
    scales: tuple[float, ...] = HIDDEN_SCALES,
    tuning_seeds: tuple[int, ...] = TUNING_SEEDS,
    figure: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    t_start = time.time()
    res: dict[str, Any] = {
        "config": dict(
            hidden=H,
            outputs=N_OUT,
            inputs=N_IN,
            circuit=CIRCUIT,
            k_steps=K_STEPS,
            beta_out=BETA_OUT,
            beta_hid=BETA_HID,
            epochs=epochs,
            n_train=n_train,
            n_val=N_VAL,
            n_test=N_TEST,
            batch=BATCH,
            presentations=epochs * n_train,
            lr_grid=list(grid),
            hidden_scales=list(scales),
            tuning_seeds=list(tuning_seeds),
            seeds=list(range(seeds)),
            dtype=str(DTYPE),
        ),
        "sign_demo": sign_demo(),
        "tasks": {},
    }
    for task in tasks:
        tr: dict[str, Any] = {"tuning": {}, "arms": {}}
        for arm in arms:
            if arm == "cut" and "disinhibition" in tr["tuning"]:
                # its updates are exactly 0 (tests/science/test_disinhibitory_xor.py): no setting
                # changes it; it runs with the disinhibition arm's setting
                b = tr["tuning"]["disinhibition"]["best"]
                tu = {
                    "best": {"lr": b["lr"], "hidden_scale": b["hidden_scale"]},
                    "note": "not tuned (it makes no update): the disinhibition arm's setting",
                }
            else:
                # output_only: the hidden scale does nothing (its hidden top-down stays at baseline)
                sc = scales[:1] if arm == "output_only" else scales
                tu = tune(task, arm, grid=grid, scales=sc, seeds=tuning_seeds, epochs=epochs, n_train=n_train)
            tr["tuning"][arm] = tu
            best = (tu["best"]["lr"], tu["best"]["hidden_scale"])
            r = train(task, arm, list(range(seeds)), [best], epochs=epochs, n_train=n_train, curve=True)
            if progress:
                print(
                    f"{task} {arm}: {tu['best']} test {r['acc'].mean():.3f} ({time.time() - t_start:.0f} s)",
                    flush=True,
                )
            tr["arms"][arm] = {
                "lr": best[0],
                "hidden_scale": best[1],
                "test": seed_summary(r["acc"].tolist()),
                "curve_mean": r["curve"].mean(1).tolist(),
                "curve_sd": r["curve"].std(1).tolist() if seeds > 1 else [0.0] * (epochs + 1),
                "w1_seed0": r["w1"][0].tolist(),
                "w2_seed0": r["w2"][0].tolist(),
            }
        a = tr["arms"]
        if "disinhibition" in a and "backprop" in a:
            dis, bp = a["disinhibition"]["test"]["per_seed"], a["backprop"]["test"]["per_seed"]
            tr["disinhibition_minus_backprop"] = seed_summary([d - b for d, b in zip(dis, bp, strict=True)])
        if "disinhibition" in a and "output_only" in a:
            dis, oo = a["disinhibition"]["test"]["per_seed"], a["output_only"]["test"]["per_seed"]
            tr["disinhibition_minus_output_only"] = seed_summary(
                [d - o for d, o in zip(dis, oo, strict=True)]
            )
        res["tasks"][task] = tr
    res["seconds"] = time.time() - t_start
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        slim = json.loads(json.dumps(res))
        (out / "disinhibitory_xor.json").write_text(json.dumps(slim, indent=1))
        if figure:
            import matplotlib

            matplotlib.use("Agg")
            figure_from(res).savefig(out / "disinhibitory_xor.png", dpi=110)
    return res


def figure_from(res: dict[str, Any]):  # noqa: ANN201 (matplotlib figure)
    """The figure of a result dict: sign control, learning curves, final accuracies, decision maps."""
    import matplotlib.pyplot as plt  # the caller picks the backend (the script: Agg)

    tasks = list(res["tasks"])
    arms = list(res["tasks"][tasks[0]]["arms"])
    colors = {
        "disinhibition": "C3",
        "output_only": "C1",
        "no_depression": "C4",
        "cut": "C7",
        "backprop": "C0",
    }
    fig, ax = plt.subplots(len(tasks), 4, figsize=(17, 3.8 * len(tasks)), squeeze=False)
    sd = res["sign_demo"]
    for i, task in enumerate(tasks):
        tr = res["tasks"][task]
        a0 = ax[i, 0]
        if i == 0:
            for name, c in (("intact", "C3"), ("no_depression", "C4"), ("cut", "C7")):
                a0.plot(sd["error"], sd[name], color=c, label=name)
            a0.axhline(0, color="k", lw=0.5)
            a0.axvline(0, color="k", lw=0.5)
            a0.set_xlabel("error signalled by the top-down onto VIP")
            a0.set_ylabel("change of the E rate (= sign of dw)")
            a0.set_title("one active E cell: top-down sets the sign", fontsize=9)
            a0.legend(fontsize=7)
        else:
            a0.axis("off")
            a0.text(
                0.0,
                1.0,
                summary_text(res),
                va="top",
                ha="left",
                fontsize=8,
                family="monospace",
                transform=a0.transAxes,
            )
        a1 = ax[i, 1]
        for arm in arms:
            d = tr["arms"][arm]
            m, s = d["curve_mean"], d["curve_sd"]
            ep = range(len(m))
            a1.plot(ep, m, color=colors.get(arm), label=f"{arm} (lr {d['lr']:g}, x{d['hidden_scale']:g})")
            a1.fill_between(
                ep,
                [p - q for p, q in zip(m, s, strict=True)],
                [p + q for p, q in zip(m, s, strict=True)],
                color=colors.get(arm),
                alpha=0.15,
            )
        a1.set_xlabel("epoch")
        a1.set_ylabel("test accuracy")
        a1.set_title(f"{task}: mean ± sd over {len(res['config']['seeds'])} seeds", fontsize=9)
        a1.legend(fontsize=7)
        a2 = ax[i, 2]
        for k, arm in enumerate(arms):
            ys = tr["arms"][arm]["test"]["per_seed"]
            a2.scatter([k] * len(ys), ys, color="k", s=10, zorder=3)
            a2.bar(k, tr["arms"][arm]["test"]["mean"], color=colors.get(arm), alpha=0.6)
        a2.set_xticks(range(len(arms)), arms, fontsize=7, rotation=20)
        a2.axhline(0.5, color="k", lw=0.5, ls=":")
        a2.set_ylim(0.25, 1.0)
        a2.set_ylabel("final test accuracy (dots: seeds)")
        title = f"{task}: final accuracy"
        if "disinhibition_minus_backprop" in tr:
            dm = tr["disinhibition_minus_backprop"]
            title += f"; disinh. - BP {100 * dm['mean']:+.1f} ± {100 * dm['sd']:.1f} pts"
        a2.set_title(title, fontsize=9)
        _decision_maps(ax[i, 3], task, tr)
    fig.tight_layout()
    return fig


def summary_text(res: dict[str, Any]) -> str:
    """What the numbers show, in words and figures (the figure's text box and the notebook)."""
    lines = []
    for task, tr in res["tasks"].items():
        a = tr["arms"]
        n = len(a["disinhibition"]["test"]["per_seed"])
        line = [f"{task}: test accuracy over {n} seeds"]
        for arm in a:
            t = a[arm]["test"]
            line.append(f"  {arm:14s} {100 * t['mean']:5.1f} ± {100 * t['sd']:4.1f} %")
        for key, name in (
            ("disinhibition_minus_backprop", "backprop"),
            ("disinhibition_minus_output_only", "output_only"),
        ):
            if key in tr:
                d = tr[key]
                above = sum(x > 0 for x in d["per_seed"])
                close = sum(x > -0.02 for x in d["per_seed"])
                line.append(f"  disinh. - {name}: {100 * d['mean']:+.1f} ± {100 * d['sd']:.1f} pts")
                line.append(f"    > 0 in {above}/{n} seeds, > -2 pts in {close}/{n}")
        lines.append("\n".join(line))
    return "\n\n".join(lines)


def _decision_maps(a: Any, task: str, tr: dict[str, Any]) -> None:
    """Seed 0's class-1 margin over the plane, disinhibition (left half) and backprop (right half)."""
    n = 60
    g = torch.linspace(-1.2, 1.2, n, dtype=DTYPE)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    pts = encode(torch.stack([xx.flatten(), yy.flatten()], -1))[None]
    panels = [arm for arm in ("disinhibition", "backprop") if arm in tr["arms"]]
    img = []
    for arm in panels:
        w1 = torch.tensor(tr["arms"][arm]["w1_seed0"], dtype=DTYPE)[None]
        w2 = torch.tensor(tr["arms"][arm]["w2_seed0"], dtype=DTYPE)[None]
        with torch.no_grad():
            _, r_o = forward(w1, w2, pts)
        diff = (r_o[0, :, 1] - r_o[0, :, 0]).view(n, n)
        img.append(torch.tanh(diff / diff.abs().median().clamp(min=1e-300)))  # its sign, wherever it is
    if not img:
        a.axis("off")
        return
    both = torch.cat(img, 1)
    a.imshow(
        both.numpy(),
        origin="lower",
        extent=(-1.2, 1.2 + 2.4 * (len(img) - 1), -1.2, 1.2),
        cmap="RdBu_r",
        vmin=-1,
        vmax=1,
        aspect="equal",
    )
    for k in range(len(img)):
        a.contour(g.numpy() + 2.4 * k, g.numpy(), img[k].numpy(), levels=[0.0], colors="k", linewidths=0.8)
    a.set_xticks([2.4 * k for k in range(len(img))], panels, fontsize=8)
    a.set_yticks([])
    accs = ", ".join(f"{100 * tr['arms'][p]['test']['per_seed'][0]:.0f} %" for p in panels)
    a.set_title(f"{task}, seed 0 (test {accs}): tanh((r1 - r0) / median |r1 - r0|)", fontsize=8)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("out", nargs="?", default="out/", type=Path, help="folder for the JSON and the figure")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    args = ap.parse_args()
    torch.set_num_threads(1)
    r = main(args.out, args.seeds, tasks=tuple(args.tasks), epochs=args.epochs, progress=True)
    for task, tr in r["tasks"].items():
        for arm, d in tr["arms"].items():
            t = d["test"]
            print(
                f"{task:6s} {arm:14s} lr {d['lr']:<8g} x{d['hidden_scale']:<4g} "
                f"test {100 * t['mean']:5.1f} ± {100 * t['sd']:4.1f} %"
                f"  [{100 * t['min']:.1f}, {100 * t['max']:.1f}]"
            )
    print(f"{r['seconds']:.0f} s")
