"""Cells of notebook 13: heterogeneous delays detect motion in event video (built by notebooks/_build.py)."""

# ruff: noqa: E501
# mypy: ignore-errors
# SETUP is put in this file's namespace by notebooks/_build.py.

CELLS = [
    (
        "md",
        """\
# 13 Heterogeneous delays detect motion in event-camera video

Grimaldi & Perrinet ("Learning heterogeneous delays in a layer of spiking neurons for fast motion
detection"): one layer of spiking neurons whose synapses have heterogeneous delays, trained as a
time-invariant logistic regression on event streams, detects the direction of motion and stays
efficient after pruning.

Here: a bar crosses a 12 x 12 px sensor in one of **8 directions** at one of **two speeds** (1 and
2 px/ms); frames go through spikeforge's event-camera emulator (`encoders.emulate_events`) and are
binned at 1 ms into 288 ON/OFF channels. The bar is bright or dark at random and its path is
centred on the sensor, so neither one snapshot of events nor the event count of a pixel tells the
direction, only the order of the events in time. 8 logistic spiking units (one per direction)
read every channel through synapses of fixed delays 0..9 ms whose weights are learned; the
decision is the unit with the most (expected) spikes. Arms with the same data, readout and
training: no delays; one random delay per synapse (the same number of weights); all 10 delays per
synapse, then pruned by magnitude. The script `experiments/motion_delays.py` (its docstring has
every setting) ran 5 seeds; this notebook draws its committed JSON and reruns a small version.""",
    ),
    ("code", SETUP),  # noqa: F821
    (
        "code",
        """\
import importlib.util, json
from pathlib import Path

# the script sits beside the package (editable install) or beside this notebook's folder
roots = [Path(sf.__file__).resolve().parents[1], Path.cwd().parent]
root = next(r for r in roots if (r / "experiments" / "motion_delays.py").exists())
spec = importlib.util.spec_from_file_location("motion_delays", root / "experiments" / "motion_delays.py")
exp = importlib.util.module_from_spec(spec); spec.loader.exec_module(exp)
res = json.loads((root / "experiments" / "results" / "motion_delays.json").read_text())

def pm(d):
    return f"{100 * d['mean']:5.1f} ± {100 * d['sd']:4.1f} %"
print(f"test accuracy, {len(res['config']['seeds'])} seeds (chance 12.5 %):")
for arm, d in res["arms"].items():
    print(f"  {arm:13s} {pm(d['test'])}   sampled spikes {pm(d['test_sampled'])}   ({d['synapses']} weights)")
print("pruned 10-delay layer (weights kept: as pruned | biases refitted | 5 epochs retraining):")
for f, d in res["pruning"].items():
    print(f"  {100 * float(f):5.0f} %  {pm(d['test'])} | {pm(d['test_bias_refit'])} | {pm(d['test_fine_tuned'])}"
          f"   ({d['synapses']} weights)")
fig = exp.figure_from(res)
plt.show()""",
    ),
    (
        "md",
        """\
**Reading the figure.** Left pair: the events of the middle pixel row for a bright bar moving right
and a dark bar moving left. At every instant ON events lie above OFF events in both, so no
snapshot tells them apart; the time order does (the second is the first reversed in time; for the
horizontal and vertical directions exactly, which the test checks). Middle: test accuracy over 8
directions, 5 seeds (dots). Without delays the layer reaches 49.0 ± 2.9 %: it finds the axis of
motion but not its sense (chance for the sense is 50 %, for the direction 12.5 %); it fits 84.5 %
of its training set, by memorising. With one random delay per synapse (the same 2304 weights) or
with all 10 delays per synapse (23040 weights) every seed reaches 100 %, at both speeds; read out
by sampled spikes instead of expected ones, 88.9 ± 2.3 % and 97.5 ± 0.8 %. Third: pruning the
10-delay layer by weight magnitude, per unit. As pruned, it keeps 100 % at 50 % of its weights and
81.7 ± 15.1 % at 25 %, but at 10 % only seed 0 holds (95.5 %) and the mean falls to
41.9 ± 31.7 %: the units lose different amounts of input and most inputs go to one or two units.
Refitting only the 8 biases (the weights as pruned) restores 100 % at 25 %, 91.9 ± 5.2 % at 10 %
(4 of 5 seeds >= 90 %) and 78.3 ± 10.6 % at 5 %; 5 epochs of retraining the kept weights give
99.6 ± 0.7 % at 10 % and 92.4 ± 4.0 % at 5 %. Right:
the weights of the rightward unit (seed 0, mean over pixel rows) form positive and negative bands
oblique in column and delay: the unit weighs an event by where and how long ago it came, which is
what a layer without delays cannot do.

So on this task the delays are what detects motion; how many delays a synapse has matters little
(one random delay per synapse does as well as ten); and pruning to 10 % degrades gracefully once
the biases are refitted (or the kept weights briefly retrained), not as pruned.""",
    ),
    (
        "md",
        """\
## A small version, run here

8 x 8 px, 20 ms, 192 training samples, seed 0 (the size of the fast test
`tests/science/test_motion_delays.py`): the same ordering, in a few seconds.""",
    ),
    (
        "code",
        """\
import time
t0 = time.time()
small = exp.run_seed(0, prune=(0.25, 0.1), **exp.SMALL)
for arm in ("no_delay", "random_delay", "hetero"):
    print(f"{arm:13s} test {100 * small[arm]['test']:5.1f} %  ({small[arm]['synapses']} weights)")
for f, d in small["hetero"]["pruned"].items():
    print(f"hetero pruned to {100 * float(f):.0f} %: {100 * d['test']:5.1f} % (as pruned), "
          f"{100 * d['test_bias_refit']:5.1f} % (biases refitted), {100 * d['test_fine_tuned']:5.1f} % (5 epochs retraining)")
print(f"{time.time() - t0:.1f} s")""",
    ),
]
