"""Cells of notebook 11: one E/I circuit in spikeforge and in NEST (built by notebooks/_build.py)."""

# ruff: noqa: E501
# mypy: ignore-errors
# SETUP is put in this file's namespace by notebooks/_build.py.

CELLS = [
    (
        "md",
        """\
# 11 The same circuit in spikeforge and in NEST

`Network.to_pynn(sim)` builds a spikeforge network inside a PyNN backend `sim`, here `pyNN.nest`
(NEST 3): the same populations, the same connections (as lists, not redrawn), weights, delays and
initial membranes. Two E/I circuits, each described once and run in both simulators:

1. the **CUBA** network (`builders.cuba`: exponential current synapses, no external noise), which
   both integrate exactly, so we count identical spikes;
2. a **Brunel-like** network driven by Poisson inputs, which each simulator draws with its own
   random generator, so we compare rate and ISI CV distributions rather than spikes.

NEST and PyNN come with `pip install 'spikeforge[pynn]'`; without them only spikeforge's side is
drawn.""",
    ),
    ("code", SETUP),  # noqa: F821
    (
        "code",
        """\
import logging, warnings
warnings.filterwarnings("ignore", category=UserWarning)
# pyNN.nest logs that NEST cannot take some initial values through PyNN; to_pynn sets them in NEST directly
logging.getLogger("PyNN").setLevel(logging.ERROR)
from spikeforge.circuits import builders
from spikeforge.analysis import cv_isi

try:
    import pyNN.nest as nest_sim
except ImportError:
    nest_sim = None
    print("PyNN/NEST are not installed: only spikeforge is run (pip install 'spikeforge[pynn]')")


def run_both(make_net, duration, **setup):
    \"\"\"Spike trains per population (a list of arrays of times in ms) from spikeforge and from NEST.\"\"\"
    net = make_net()
    names = net.population_names
    nest_trains = None
    if nest_sim is not None:
        h = net.to_pynn(nest_sim, **setup)
        for p in names:
            h.populations[p].record("spikes")
        nest_sim.run(duration)
        nest_trains = {p: h.spike_times(p) for p in names}  # moved to spikeforge's stamps
        nest_sim.end()
    mons = {p: net.record_spikes(p) for p in names}
    net.run(duration, progress=False)
    ours = {}
    for p in names:
        t, i = np.asarray(mons[p].t), np.asarray(mons[p].i)
        ours[p] = [np.sort(t[i == k]) for k in range(net.neurons[p].n)]
    return ours, nest_trains


def events(trains):
    \"\"\"(times, indices) of a list of spike trains, populations stacked in order.\"\"\"
    t = np.concatenate(trains)
    i = np.concatenate([np.full(len(x), k) for k, x in enumerate(trains)])
    return t, i


def rates(trains, duration, skip=0.0):
    return np.array([np.sum(x >= skip) for x in trains]) * 1000.0 / (duration - skip)


def plot_pair(ours, theirs, duration, title, skip=0.0):
    sims = {"spikeforge": ours} if theirs is None else {"spikeforge": ours, "NEST (pyNN.nest)": theirs}
    fig, axes = plt.subplots(1, len(sims) + 1, figsize=(4.2 * (len(sims) + 1), 3.4))
    for ax, (name, tr) in zip(axes, sims.items()):
        offset = 0
        for p, color in zip(tr, ("tab:red", "tab:blue")):
            t, i = events(tr[p])
            keep = i < 200 if p == "exc" else i < 50
            ax.scatter(t[keep], i[keep] + offset, s=1, c=color, label=p)
            offset += 200
        ax.set(title=name, xlabel="time (ms)", ylabel="neuron (200 E, 50 I shown)", xlim=(0, duration))
    step = 1000.0 / (duration - skip)  # one spike more or less per neuron
    top = max(rates(sum(tr.values(), []), duration, skip).max() for tr in sims.values())
    bins = np.arange(-0.5, top / step + 1.5) * step
    for (name, tr), style in zip(sims.items(), ({"histtype": "stepfilled", "alpha": 0.4}, {"histtype": "step", "lw": 2})):
        axes[-1].hist(rates(sum(tr.values(), []), duration, skip), bins=bins, label=name, **style)
    axes[-1].set(xlabel=f"rate per neuron (Hz, after {skip:.0f} ms)", ylabel="neurons", title="rate distribution")
    axes[-1].legend(fontsize=8)
    fig.suptitle(title); plt.tight_layout(); plt.show()""",
    ),
    (
        "md",
        """\
## CUBA: identical spikes

1000 neurons (800 E, 200 I), connection probability 5 %, delay 0.1 ms, float64. NEST runs
`iaf_psc_exp` (exact integration); its spike stamps (end of the step) are moved to spikeforge's
(start of the step) by `spike_times`.""",
    ),
    (
        "code",
        """\
T1 = 500.0
cuba = lambda: builders.cuba(n=1000, p=0.05, delay=0.1, seed=3, dtype=torch.float64)
ours, theirs = run_both(cuba, T1)
for p in ours:
    n_ours = sum(len(x) for x in ours[p])
    line = f"{p}: spikeforge {n_ours} spikes"
    if theirs is not None:
        same = sum(len(a) == len(b) and np.allclose(a, b, rtol=0, atol=1e-9) for a, b in zip(ours[p], theirs[p]))
        line += f", NEST {sum(len(x) for x in theirs[p])} spikes; {same} of {len(ours[p])} neurons with identical spike times"
    print(line)
plot_pair(ours, theirs, T1, "CUBA, 1000 neurons, 500 ms")""",
    ),
    (
        "md",
        """\
With NEST installed, every neuron's spike times agree to 1e-9 ms over the 500 ms (the count above), so the
two rasters and the two rate histograms are the same figure twice.

## A Brunel-like network with Poisson drive

500 LIF neurons (400 E, 100 I) with delta synapses (a jump of the membrane), fixed
in-degree 40 from E and 10 from I, delay 1.5 ms, and 100 Poisson inputs of 60 Hz onto every
neuron (`add_poisson_input`, exported as `SpikeSourcePoisson`). The connectivity is the same in
both simulators; the Poisson spikes are not, so the spikes differ and only distributions can be
compared.""",
    ),
    (
        "code",
        """\
def brunel_like(seed=0):
    dt = 0.1
    net = sf.circuits.Network(dt=dt, seed=seed, dtype=torch.float64)
    kw = dict(tau_mem=20.0, v_leak=0.0, v_th=20.0, v_reset=10.0, t_ref=2.0, dt=dt)
    v0 = sf.circuits.Uniform(0.0, 20.0)
    net.add_population("exc", sf.neurons.LIF(400, **kw), sign="excitatory", init={"v": v0})
    net.add_population("inh", sf.neurons.LIF(100, **kw), sign="inhibitory", init={"v": v0})
    for post in ("exc", "inh"):
        net.connect("exc", post, in_degree=40, weight=0.2, delay=1.5, autapses=False)
        net.connect("inh", post, in_degree=10, weight=-1.0, delay=1.5, autapses=False)
        net.add_poisson_input(f"ext_{post}", post, n=100, rate=60 * sf.units.Hz, weight=0.2)
    return net

T2, SKIP = 500.0, 100.0
ours2, theirs2 = run_both(brunel_like, T2, rng_seed=1)
for name, tr in {"spikeforge": ours2, "NEST": theirs2}.items():
    if tr is None:
        continue
    trains = tr["exc"] + tr["inh"]
    r = rates(trains, T2, SKIP)
    cv = [cv_isi(x[x >= SKIP]) for x in trains if np.sum(x >= SKIP) >= 3]
    print(f"{name:10s} rate {r.mean():5.2f} Hz (median {np.median(r):5.2f}), "
          f"mean ISI CV {np.mean(cv):.2f} over the {len(cv)} neurons with >= 3 spikes")
plot_pair(ours2, theirs2, T2, "Brunel-like, 500 neurons, Poisson drive", skip=SKIP)""",
    ),
    (
        "md",
        """\
With NEST installed, the two rasters look alike but are not the same spikes; the two rate
histograms cover the same range with the same shape, and the printed mean rates differ by about
1 % (NEST's higher) and the mean ISI CVs by at most 0.01.
One seed each: `tests/reference/test_nest_reference.py` compares such networks over seeds, with
tolerances set by NEST's own spread.""",
    ),
]
