"""Cells of notebook 12: learned delays against fixed random delays and none (built by notebooks/_build.py)."""

# ruff: noqa: E501
# mypy: ignore-errors
# SETUP is put in this file's namespace by notebooks/_build.py.

CELLS = [
    (
        "md",
        """\
# 12 Learned delays (DCLS) against fixed random delays and none

Hammouamri, Khalfaoui-Hassani & Masquelier (2023) learn one delay per synapse with the weights
(DCLS: each delay is a Gaussian-interpolated tap whose position gets a gradient; the Gaussian is
narrowed during training and the delays are rounded at the end). Their claim: fixed random delays
help a feedforward SNN, learned delays help more.

`experiments/dcls_delays.py` tests it on a task where timing is the only cue: 3 channel pairs, in
each pair one channel spikes and the other follows 3, 6 or 9 ms later; which one leads is one bit
of the class (8 classes). Every channel spikes once in every sample and each pair has its own
random onset, so counts, rates and cross-pair timing carry nothing. The network is the same in
every arm: `LearnableDelay(6 -> 4)` (delays in [0, 24] ms) -> `LIF(4)` (tau_mem 2 ms) -> a linear
read-out of spike counts, trained with `spikeforge.training.Trainer`. Only 4 hidden units for six
(pair, order) coincidences to detect, so a random draw of delays rarely holds them all.

* **none**: every delay 0;
* **fixed random**: integer delays drawn uniformly in [0, 24] ms, frozen;
* **learned**: the same draw, learned with the Trainer's DCLS recipe
  (`delay_param_groups`, `DelayAnnealing`), rounded to whole steps at the end.

Each arm's learning rate was picked from the same grid (1e-3 to 1e-1, five values) on two tuning
seeds; the reported seeds are 0-4 (0-9 for the harder 4-pair task further down). The script's
JSONs are committed; this notebook draws them and then runs a small version (one seed, fewer
samples and epochs) live.""",
    ),
    ("code", SETUP),  # noqa: F821
    (
        "code",
        """\
import importlib.util, json
from pathlib import Path

# the script and its committed JSON sit beside the package (editable install) or this notebook's folder
roots = [Path(sf.__file__).resolve().parents[1], Path.cwd().parent]
root = next(r for r in roots if (r / "experiments" / "dcls_delays.py").exists())
spec = importlib.util.spec_from_file_location("dcls_delays", root / "experiments" / "dcls_delays.py")
exp = importlib.util.module_from_spec(spec); spec.loader.exec_module(exp)
res = json.loads((root / "experiments" / "results" / "dcls_delays.json").read_text())
print("learning rates picked on the tuning seeds:", res["lr"])
for arm in exp.ARMS:
    st = res["arms"][arm]["acc"]
    print(f"{arm:8s} test accuracy {st['mean']:.3f} ± {st['sd']:.3f}  [min {st['min']:.3f}, max {st['max']:.3f}]"
          f"  per seed {[round(x, 3) for x in st['per_seed']]}")
print("rounding to integer delays, cost per seed (points):", [round(c, 2) for c in res["rounding"]["cost_points"]])
print(json.dumps(res["verdict"], indent=1))
fig = exp.figure_of(res); plt.show()""",
    ),
    (
        "md",
        """\
**What the 5 seeds show.** The order of the means holds: no delays 0.28 ± 0.15, fixed random
0.67 ± 0.31, learned 0.90 ± 0.08 (test accuracy, chance 0.125). The spreads overlap, so the
issue's criterion (non-overlapping spread over seeds) is **not met**:

* fixed random beats no delays in 5 of 5 seeds, but seed 0's no-delay network reaches 0.51 at
  its tuned rate of 0.1, above random's seed 3 (0.30): with tau_mem = 2 ms a leaky unit can in
  principle read the order of the 3-ms pair from how much of the first spike is left when the
  second arrives, if its two weights differ;
* learned beats fixed random in 3 of 5 seeds. In seeds 2 and 4 the random draw alone already
  solves the task (0.99), and the learned arm, which starts from that same draw, ends lower
  (0.94, 0.95): sigma starts at 8 ms and blurs the good draw, and 30 epochs (a schedule not
  tuned for this) do not bring it all back.
  Seed 3's learned network stops at 0.75.
* Rounding the learned delays to whole steps costs at most 1.2 points (mean -0.3; seed 0 gains
  4.4): under the 2 points the issue asks.

The best rates of the no-delay and random arms sit on the top edge of the grid (0.1): more
tuning might raise them further. The third panel shows what the learned units found: their delay
differences sit at plus or minus each pair's lag, the coincidences that read a pair's order.

Below, a small version (one seed, 512 samples, 20 epochs, one learning rate for all arms) runs
live; `tests/science/test_dcls_delays.py` checks its direction.""",
    ),
    (
        "md",
        """\
## A harder task: 4 pairs, 16 classes

In seeds 2 and 4 above a random draw solved the task outright, so the task did not separate the
arms. `--task pairs4` makes a lucky draw rarer: 4 pairs with lags 3, 8, 13 and 18 ms (spanning the
0-24 ms delay range), bits code as before, so 16 classes (chance 0.0625), and H = 5 hidden units
(four pair detectors are needed, one spare, as above). Everything else is unchanged: the same
network, sigma schedule, budget, learning-rate grid and tuning seeds (100-101) for every arm. The
task was designed on tuning seeds 100-104 only (the variants tried and their figures are listed in
the script's docstring); seeds 0-9 were then run once, and what they gave is reported below.""",
    ),
    (
        "code",
        """\
res4 = json.loads((root / "experiments" / "results" / "dcls_delays_pairs4.json").read_text())
print("learning rates picked on the tuning seeds:", res4["lr"])
for arm in exp.ARMS:
    st = res4["arms"][arm]["acc"]
    print(f"{arm:8s} test accuracy {st['mean']:.3f} ± {st['sd']:.3f}  [min {st['min']:.3f}, max {st['max']:.3f}]"
          f"  per seed {[round(x, 3) for x in st['per_seed']]}")
per = {a: res4["arms"][a]["acc"]["per_seed"] for a in exp.ARMS}
print("learned > random in", sum(l > r for l, r in zip(per["learned"], per["random"])), "of", len(per["learned"]), "seeds;",
      "random > none in", sum(r > n for r, n in zip(per["random"], per["none"])))
print("rounding to integer delays, cost per seed (points):", [round(c, 2) for c in res4["rounding"]["cost_points"]])
print(json.dumps(res4["verdict"], indent=1))
fig = exp.figure_of(res4); plt.show()""",
    ),
    (
        "md",
        """\
**What the 10 seeds show (harder task).** Test accuracy (chance 0.0625), each arm at its tuned
rate (none 0.1, random 0.1, learned 3e-3): no delays 0.12 ± 0.04 [0.06, 0.16], fixed random
0.52 ± 0.29 [0.17, 1.00], learned 0.89 ± 0.03 [0.83, 0.95]. The issue's criterion is **still not
met**:

* the order of the means holds and the mean ± sd bands no longer overlap, but the seed ranges do:
  in seeds 5 and 7 the random draw alone solves the task again (0.99, 1.00), and learning from
  that same draw ends lower (0.89, 0.92). Learned beats fixed random in 8 of 10 seeds; fixed
  random beats no delays in 10 of 10. On the five design seeds (100-104) no random draw went
  above 0.60, so the harder task made a typical draw worse (median 0.50 here) but did not make
  lucky draws rare enough for ten seeds.
* Rounding the learned delays to whole steps costs 0.4 to 2.5 points (mean 1.4): over the issue's
  2 points in seeds 3 (2.05) and 4 (2.5).
* The none and random arms' best rates sit on the top edge of the grid again (0.1).""",
    ),
    (
        "code",
        """\
import time
torch.set_num_threads(1)
t0 = time.perf_counter()
small = {arm: exp.run_arm(arm, 0, 1e-2, epochs=20, n_train=512, n_eval=512) for arm in exp.ARMS}
print(f"small version (seed 0, 512 samples, 20 epochs, lr 1e-2 for all): {time.perf_counter() - t0:.0f} s")
for arm, r in small.items():
    print(f"{arm:8s} accuracy {r['acc']:.3f}" + (f" (before rounding {r['acc_unrounded']:.3f})" if arm == "learned" else ""))
fig, ax = plt.subplots(figsize=(4.5, 3))
ax.bar(range(3), [small[a]["acc"] for a in exp.ARMS], color=["C0", "C1", "C2"], alpha=0.7)
ax.axhline(1 / exp.N_CLASSES, color="0.5", ls=":", label="chance")
ax.set_xticks(range(3), ["no delays", "fixed random", "learned"]); ax.set_ylabel("accuracy")
ax.set_title("small version, one seed", fontsize=9); ax.legend(fontsize=7); plt.show()""",
    ),
    (
        "md",
        """\
**The recipe for your own model.** The learned arm is nothing but the Trainer with two options:

```python
from spikeforge.training import DelayAnnealing, Trainer, delay_param_groups
opt = torch.optim.Adam(delay_param_groups(model, lr=3e-3, delay_lr_scale=30.0))
trainer = Trainer(model, opt, delay_annealing=DelayAnnealing(sigma_start=8.0, sigma_end=0.3, fraction=0.7))
trainer.fit(train_loader, epochs=30)   # sigma per epoch, delays clamped, rounded (sigma = 0) at the end
```

and from the command line, `spikeforge train shd --root DATA --delays 250 --bin-ms 10`
(`--delay-lr-scale`, `--sigma-start`, `--sigma-end`, `--sigma-fraction`).""",
    ),
]
