"""Disinhibition sets the sign of plasticity (issue 15, item 4; ../shared/papers.md section 10).

Claim (Rossbroich & Zenke, "Dis-inhibitory neuronal circuits can control the sign of synaptic
plasticity"): in a VIP -> SST -> E circuit, a Hebbian rule whose sign depends on the
postsynaptic activity lets the top-down signal (onto VIP) choose between potentiation and
depression of a plastic input onto E, with no change to the rule itself.

Set-up. ``builders.disinhibitory`` (200 E, 25 PV, 60 SST, 40 VIP; background 17 Hz, dt 0.5 ms)
plus a plastic input: 50 Poisson trains at 10 Hz onto E (p = 0.2, initial weight 1 mV,
``ExpSynapse(5 ms)``) learning with the published minimal all-to-all triplet rule of the visual
cortex (Pfister & Gerstner 2006; ``TripletSTDP.from_preset("visual_cortex_all_to_all_minimal")``,
bounds [0, 10] mV), a BCM-like rule: depression below a postsynaptic rate, potentiation above.
The rule never sees the top-down signal (no modulator); only the circuit does.

Arms (same network seed, same noise seed, same duration, same rule; only the top-down differs):

* ``off``: no top-down input;
* ``on``: top-down 100 Hz onto VIP;
* ``on_ablated``: top-down 100 Hz, VIP -> SST weights set to 0 (disinhibition removed);
* a sweep of the top-down rate (0, 25, 50, 100 Hz);
* a time course: top-down switched off / on / off / on in blocks of 1 s;
* a teacher-gated discrimination: two input groups A and B take turns (250 ms each, 20 vs 2 Hz)
  for 4 s, the top-down on while A is shown (``teacher``) or never (``no_teacher``).

Tuning (stated, as the issue asks): the background rate (17 Hz) and the SST and VIP sizes were
picked by hand, in five 1-s runs of seed 0, so that the E rate without top-down lies below the
rule's crossover and with top-down above it; the rule's parameters are the published ones. No arm
has parameters of its own to tune.

Usage::

    PYTHONPATH=. python experiments/disinhibition_plasticity.py out/ --seeds 5
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from spikeforge.analysis import seed_summary
from spikeforge.circuits import ExpSynapse, Network, Projection, builders
from spikeforge.plasticity import TripletSTDP

DT = 0.5  # ms
SIZES = dict(n_exc=200, n_pv=25, n_sst=60, n_vip=40)
BACKGROUND = 17e-3  # per ms
TOPDOWN_ON = 0.1  # per ms
SWEEP = (0.0, 0.025, 0.05, 0.1)  # per ms


def build(
    seed: int,
    topdown_rate: Any,
    *,
    ablate: bool = False,
    sizes: dict[str, int] | None = None,
    n_plastic: int = 50,
    plastic_rate: float = 10e-3,
    background_rate: float = BACKGROUND,
) -> tuple[Network, Projection]:
    """The disinhibitory circuit with a plastic Poisson input onto E; returns (net, plastic projection)."""
    net = builders.disinhibitory(
        **(sizes or SIZES),
        seed=seed,
        noise_seed=seed,
        dt=DT,
        topdown_rate=topdown_rate,
        background_rate=background_rate,
    )
    if ablate:
        with torch.no_grad():
            net.projections["vip->sst"].weight.zero_()
    net.add_poisson("plastic", n_plastic, rate=plastic_rate, sign="excitatory")
    rule = TripletSTDP.from_preset("visual_cortex_all_to_all_minimal", dt=DT, w_min=0.0, w_max=10.0)
    proj = net.connect(
        "plastic", "exc", p=0.2, weight=1.0, delay=1.0, synapse=ExpSynapse(tau=5.0), plasticity=rule
    )
    return net, proj


def run_arm(
    seed: int, topdown_rate: float, *, ablate: bool = False, duration: float = 1000.0, **kw: Any
) -> dict:
    """Mean weight change of the plastic input and the population rates (Hz) of one run."""
    net, proj = build(seed, topdown_rate, ablate=ablate, **kw)
    mons = {k: net.record_spikes(k) for k in ("exc", "sst", "vip")}
    w0 = proj.weights().detach().clone()
    net.run(duration, progress=False)
    dw = proj.weights().detach() - w0
    out = {f"rate_{k}": len(m.t) / net.neurons[k].n / (duration / 1000.0) for k, m in mons.items()}
    out["dw_mean"] = float(dw.mean())
    out["frac_potentiated"] = float((dw > 0).double().mean())
    return out


def time_course(seed: int, block: float = 1000.0, n_blocks: int = 4, chunk: float = 250.0) -> list[float]:
    """Mean plastic weight every ``chunk`` ms, top-down off / on / off / on in blocks of ``block`` ms."""
    values = torch.tensor([TOPDOWN_ON * (k % 2) for k in range(n_blocks)], dtype=torch.float64)
    from spikeforge.circuits import TimedArray

    net, proj = build(seed, TimedArray(values, dt=block))
    trace = [float(proj.weights().mean())]
    for _ in range(int(round(block * n_blocks / chunk))):
        net.run(chunk, progress=False)
        trace.append(float(proj.weights().mean()))
    return trace


def discrimination(seed: int, *, teacher: bool = True, n_blocks: int = 16, block: float = 250.0) -> dict:
    """Teacher-gated learning of which of two input patterns should drive E.

    The 50 plastic trains form two groups, A (first 25) and B. Blocks of ``block`` ms alternate
    A shown (A at 20 Hz, B at 2 Hz) and B shown (the reverse). With ``teacher`` the top-down is on
    while A is shown and off while B is; without it the top-down stays off (same inputs, same
    duration). Returns the mean weight change of the synapses from A and from B.
    """
    from spikeforge.circuits import TimedArray

    hi, lo = 20e-3, 2e-3
    a_shown = torch.tensor([k % 2 == 0 for k in range(n_blocks)])
    rates = torch.empty(n_blocks, 50, dtype=torch.float64)
    rates[:, :25] = torch.where(a_shown, hi, lo)[:, None]
    rates[:, 25:] = torch.where(a_shown, lo, hi)[:, None]
    td = torch.where(a_shown & teacher, TOPDOWN_ON, 0.0).to(torch.float64)
    net, proj = build(seed, TimedArray(td, dt=block), plastic_rate=TimedArray(rates, dt=block))
    w0 = proj.weights().detach().clone()
    net.run(block * n_blocks, progress=False)
    dw = proj.weights().detach() - w0
    from_a = proj.pre_indices.to(dw.device) < 25
    return {"dw_A": float(dw[from_a].mean()), "dw_B": float(dw[~from_a].mean())}


def main(out: Path, seeds: int = 5, duration: float = 1000.0, figure: bool = True) -> dict:
    t0 = time.time()
    res: dict[str, Any] = {
        "config": dict(
            dt=DT,
            sizes=SIZES,
            background_hz=BACKGROUND * 1e3,
            topdown_on_hz=TOPDOWN_ON * 1e3,
            duration_ms=duration,
            seeds=list(range(seeds)),
            rule="TripletSTDP visual_cortex_all_to_all_minimal, bounds [0, 10] mV",
        )
    }
    arms = {"off": (0.0, False), "on": (TOPDOWN_ON, False), "on_ablated": (TOPDOWN_ON, True)}
    per_seed: dict[str, list[dict]] = {a: [] for a in arms}
    for s in range(seeds):
        for a, (td, abl) in arms.items():
            per_seed[a].append(run_arm(s, td, ablate=abl, duration=duration))
    res["arms"] = {
        a: {k: seed_summary([r[k] for r in rows]) for k in rows[0]} for a, rows in per_seed.items()
    }
    sweep = {  # the off and on arms are the sweep's ends: reuse them
        td: per_seed["off"]
        if td == 0.0
        else per_seed["on"]
        if td == TOPDOWN_ON
        else [run_arm(s, td, duration=duration) for s in range(seeds)]
        for td in SWEEP
    }
    res["sweep"] = {
        f"{td * 1e3:g}": {k: seed_summary([r[k] for r in rows]) for k in ("rate_exc", "rate_sst", "dw_mean")}
        for td, rows in sweep.items()
    }
    traces = [time_course(s) for s in range(seeds)]
    per_block = 4  # chunks of 250 ms in a block of 1 s
    block_dw = [[tr[(k + 1) * per_block] - tr[k * per_block] for k in range(4)] for tr in traces]
    expected = [-1, 1, -1, 1]  # off, on, off, on
    res["time_course"] = {
        "chunk_ms": 250.0,
        "block_ms": 1000.0,
        "mean_w": traces,
        "block_dw": block_dw,
        "blocks_with_expected_sign": sum(
            (d > 0) == (e > 0) for row in block_dw for d, e in zip(row, expected, strict=True)
        ),
        "blocks": len(block_dw) * 4,
    }
    off, on, abl = (res["arms"][a]["dw_mean"]["per_seed"] for a in ("off", "on", "on_ablated"))
    res["verdict"] = {
        "off_negative_all_seeds": all(x < 0 for x in off),
        "on_positive_all_seeds": all(x > 0 for x in on),
        "ablated_negative_all_seeds": all(x < 0 for x in abl),
    }
    disc = {
        arm: [discrimination(s, teacher=arm == "teacher") for s in range(seeds)]
        for arm in ("teacher", "no_teacher")
    }
    res["discrimination"] = {
        arm: {
            "dw_A_minus_B": seed_summary([r["dw_A"] - r["dw_B"] for r in rows])
            | {"per_seed": [r["dw_A"] - r["dw_B"] for r in rows]},
            "dw_A": seed_summary([r["dw_A"] for r in rows]),
            "dw_B": seed_summary([r["dw_B"] for r in rows]),
        }
        for arm, rows in disc.items()
    }
    res["seconds"] = time.time() - t0
    out.mkdir(parents=True, exist_ok=True)
    (out / "disinhibition_plasticity.json").write_text(json.dumps(res, indent=1))
    if figure:
        _figure(res, out / "disinhibition_plasticity.png")
    return res


def _figure(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 4, figsize=(16, 3.6))
    names = ["off", "on", "on_ablated"]
    labels = ["top-down off", "top-down on", "on, VIP->SST cut"]
    for i, a in enumerate(names):
        ys = res["arms"][a]["dw_mean"]["per_seed"]
        ax[0].scatter([i] * len(ys), [1e3 * y for y in ys], color="k", s=12)
        ax[0].bar(i, 1e3 * res["arms"][a]["dw_mean"]["mean"], color=["C0", "C3", "C7"][i], alpha=0.6)
    ax[0].axhline(0, color="k", lw=0.5)
    ax[0].set_xticks(range(3), labels, fontsize=8)
    ax[0].set_ylabel("mean weight change (10^-3 mV) in 1 s")
    n = len(res["arms"]["off"]["dw_mean"]["per_seed"])
    pos = [sum(x > 0 for x in res["arms"][a]["dw_mean"]["per_seed"]) for a in names]
    ax[0].set_title(f"seeds with dw > 0: {pos[0]}/{n}, {pos[1]}/{n}, {pos[2]}/{n}", fontsize=9)
    sw = res["sweep"]
    x = [sw[k]["rate_exc"]["mean"] for k in sw]
    y = [1e3 * sw[k]["dw_mean"]["mean"] for k in sw]
    e = [1e3 * sw[k]["dw_mean"]["sd"] for k in sw]
    ax[1].errorbar(x, y, yerr=e, marker="o")
    for k, xi, yi in zip(sw, x, y, strict=True):
        ax[1].annotate(f"{k} Hz", (xi, yi), fontsize=7)
    ax[1].axhline(0, color="k", lw=0.5)
    ax[1].set_xlabel("E rate (Hz)")
    ax[1].set_ylabel("mean weight change (10^-3 mV)")
    ax[1].set_title("top-down rate sweep (mean ± sd)", fontsize=9)
    tc = res["time_course"]
    tt = [i * tc["chunk_ms"] / 1000 for i in range(len(tc["mean_w"][0]))]
    for tr in tc["mean_w"]:
        ax[2].plot(tt, tr, color="C0", alpha=0.5, lw=1)
    nb = int(round(tt[-1] * 1000 / tc["block_ms"]))
    for k in range(1, nb, 2):
        ax[2].axvspan(k * tc["block_ms"] / 1000, (k + 1) * tc["block_ms"] / 1000, color="C3", alpha=0.1)
    ax[2].set_xlabel("time (s); shaded: top-down on")
    ax[2].set_ylabel("mean plastic weight (mV)")
    ax[2].set_title(
        f"top-down switched; block sign as expected in {tc['blocks_with_expected_sign']}/{tc['blocks']}",
        fontsize=9,
    )
    dc = res["discrimination"]
    for i, a in enumerate(("teacher", "no_teacher")):
        ys = dc[a]["dw_A_minus_B"]["per_seed"]
        ax[3].scatter([i] * len(ys), [1e3 * y for y in ys], color="k", s=12)
        ax[3].bar(i, 1e3 * dc[a]["dw_A_minus_B"]["mean"], color=["C3", "C7"][i], alpha=0.6)
    ax[3].axhline(0, color="k", lw=0.5)
    ax[3].set_xticks(range(2), ["top-down with A", "top-down off"], fontsize=8)
    ax[3].set_ylabel("dw(A) - dw(B) (10^-3 mV) in 4 s")
    ax[3].set_title("two input patterns A, B alternating (dots: seeds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", nargs="?", default="out/", type=Path, help="folder for the JSON and the figure")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--duration", type=float, default=1000.0, help="ms per arm run")
    args = ap.parse_args()
    r = main(args.out, args.seeds, args.duration)
    for a, d in r["arms"].items():
        print(
            f"{a:11s} dw = {1e3 * d['dw_mean']['mean']:+.2f} ± {1e3 * d['dw_mean']['sd']:.2f} e-3 mV  "
            f"[{1e3 * d['dw_mean']['min']:+.2f}, {1e3 * d['dw_mean']['max']:+.2f}]  "
            f"E {d['rate_exc']['mean']:.1f} Hz  SST {d['rate_sst']['mean']:.1f} Hz"
        )
    print(json.dumps(r["verdict"]), f"{r['seconds']:.0f} s")
