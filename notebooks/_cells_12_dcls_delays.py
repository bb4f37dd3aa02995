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
seeds; the reported seeds are 0-4. The script's JSON is committed; this notebook draws it and then
runs a small version (one seed, fewer samples and epochs) live.""",
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
