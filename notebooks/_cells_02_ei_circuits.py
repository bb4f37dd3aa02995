"""Cells of notebook 02: E/I circuits and the Brunel regimes (built by notebooks/_build.py)."""

# ruff: noqa: E501
# mypy: ignore-errors
# SETUP is put in this file's namespace by notebooks/_build.py.

CELLS = [
    (
        "md",
        """\
# 02 E/I circuits and the Brunel regimes

Two classic networks of excitatory (E) and inhibitory (I) leaky integrate-and-fire neurons, built
with `spikeforge.circuits.builders`:

1. the **CUBA** benchmark (Vogels & Abbott 2005, Brian2's `CUBA.py` example): 4000 neurons,
   current-based exponential synapses, self-sustained irregular activity. We run it in spikeforge
   and in Brian2 with the same connectivity and initial membranes, and compare spikes, rates and
   ISI irregularity;
2. the **Brunel (2000)** sparse network in its four regimes: synchronous regular (SR),
   asynchronous irregular (AI), synchronous irregular with a fast (SI fast) or a slow (SI slow)
   population rhythm, told apart by their irregularity, the synchrony of their membranes and the
   spectrum of their population rate.""",
    ),
    ("code", SETUP),  # noqa: F821
    (
        "md",
        """\
## CUBA: spikeforge against Brian2

$\\tau_m \\dot v = (g_e + g_i) - (v - E_l)$, $\\tau_e \\dot g_e = -g_e$, $\\tau_i \\dot g_i = -g_i$, with
$E_l = -49$ mV above the threshold $-50$ mV, reset $-60$ mV, refractory 5 ms, jumps of 1.62 mV
(E) and $-9$ mV (I), connection probability 2 %. `builders.cuba` gives populations `"exc"` and
`"inh"`; their connectivity and initial membranes are handed to Brian2 (numpy target, float64,
`method='exact'`), so without noise both should produce the same spikes.""",
    ),
    (
        "code",
        """\
from spikeforge.circuits import builders
from spikeforge.analysis import cv_isi

T_CUBA = 500.0
net = builders.cuba(n=4000, seed=0, dtype=torch.float64)
mons = {name: net.record_spikes(name) for name in net.population_names}
v0 = np.concatenate([net.state(name).v.numpy() for name in net.population_names])
net.run(T_CUBA, progress=False)
sf_t = np.concatenate([mons["exc"].t, mons["inh"].t])
sf_i = np.concatenate([mons["exc"].i, mons["inh"].i + 3200])
print(f"spikeforge: {sf_t.size} spikes, {net.last_run_info['seconds']:.2f} s ({net.last_run_info['path']} path)")

try:
    import brian2 as b2
except ImportError:
    b2 = None
    print("brian2 is not installed: the comparison is skipped (pip install 'spikeforge[reference]')")
if b2 is not None:
    b2.prefs.codegen.target = "numpy"
    b2.prefs.core.default_float_dtype = np.float64
    b2.start_scope()
    b2.defaultclock.dt = 0.1 * b2.ms
    ms, mV = b2.ms, b2.mV
    ns = dict(taum=20 * ms, taue=5 * ms, taui=10 * ms, Vt=-50 * mV, Vr=-60 * mV, El=-49 * mV,
              we=1.62 * mV, wi=-9 * mV)
    eqs = '''dv/dt = (ge+gi-(v-El))/taum : volt (unless refractory)
             dge/dt = -ge/taue : volt
             dgi/dt = -gi/taui : volt'''
    group = b2.NeuronGroup(4000, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms,
                           method="exact", namespace=ns)
    group.v = v0 * mV
    off = {"exc": 0, "inh": 3200}
    syns = []
    for pre, on_pre in (("exc", "ge += we"), ("inh", "gi += wi")):
        s = b2.Synapses(group, group, on_pre=on_pre, namespace=ns)
        projs = [p for p in net.projections.values() if p.pre == pre]
        s.connect(i=np.concatenate([p.pre_indices.numpy() + off[p.pre] for p in projs]),
                  j=np.concatenate([p.post_indices.numpy() + off[p.post] for p in projs]))
        syns.append(s)
    mon = b2.SpikeMonitor(group)
    b2.Network(group, *syns, mon).run(T_CUBA * ms)
    b2_t, b2_i = np.asarray(mon.t / ms), np.asarray(mon.i)
    print(f"brian2:     {b2_t.size} spikes")

    def events(t, i, until):
        keep = t < until
        return set(zip(np.round(t[keep] / 0.1).astype(int).tolist(), i[keep].tolist()))

    for until in (50.0, 100.0, T_CUBA):
        a, b = events(sf_t, sf_i, until), events(b2_t, b2_i, until)
        print(f"first {until:5.0f} ms: {len(a)} spikes here, {len(b)} in Brian2, {len(a ^ b)} differ")""",
    ),
    (
        "md",
        """\
Both simulators take the same discrete steps (exact propagators, the same schedule), so the
spikes agree step for step (here over the whole run; in a longer one, floating-point summation
order may eventually flip a threshold crossing, after which the chaotic network decorrelates
without changing its statistics). The rate and the ISI
coefficient of variation (neurons with at least 3 spikes after a 100 ms transient) are the
acceptance measures (within 15 %).""",
    ),
    (
        "code",
        """\
def stats(t, i, n=4000, skip=100.0):
    keep = t >= skip
    t, i = t[keep], i[keep]
    cvs = np.array([cv_isi(t[i == k]) for k in range(n) if (i == k).sum() >= 3])
    return t.size / n / ((T_CUBA - skip) / 1000.0), cvs

runs = {"spikeforge": (sf_t, sf_i)} | ({"brian2": (b2_t, b2_i)} if b2 is not None else {})
fig, axes = plt.subplots(1, len(runs) + 1, figsize=(13, 3.6))
for ax, (name, (t, i)) in zip(axes, runs.items()):
    sel = (i % 10 == 0) & (t < 200)
    ax.scatter(t[sel], i[sel], s=0.6, c=np.where(i[sel] < 3200, "tab:red", "tab:blue"))
    ax.set(title=f"{name}: every 10th neuron", xlabel="time (ms)", ylabel="neuron")
for name, (t, i) in runs.items():
    rate, cvs = stats(t, i)
    axes[-1].hist(cvs, bins=40, range=(0, 2), histtype="step", lw=1.5, label=f"{name}: {rate:.1f} Hz, CV {cvs.mean():.2f}")
    print(f"{name:10s} rate {rate:5.2f} Hz   mean ISI CV {cvs.mean():.3f}")
axes[-1].set(title="ISI CV per neuron", xlabel="CV")
axes[-1].legend(fontsize=8)
plt.tight_layout(); plt.show()""",
    ),
    (
        "md",
        """\
## The four regimes of Brunel (2000)

$\\tau \\dot v = -v + \\tau \\sum_j J_j \\sum_k \\delta(t - t_j^k - D)$ with $\\theta = 20$ mV,
$V_r = 10$ mV, $t_{ref} = 2$ ms, $D = 1.5$ ms, excitatory jumps $J$, inhibitory $-gJ$, and
external Poisson input at $\\eta\\,\\nu_{thr}$ ($\\nu_{thr}$: the rate that brings the mean input to
threshold). The presets are the paper's Fig. 8: SR $(g, \\eta) = (3, 2)$, AI $(5, 2)$, SI fast
$(6, 4)$, SI slow $(4.5, 0.9)$.

To run in seconds we take a quarter of the paper's network ($N_E = 2500$, $C_E = 250$); the
builder scales $J$ up to $0.4$ mV to keep $J C_E$ (the mean input). The larger jumps add
fluctuations: AI and SI fast show slow rate fluctuations (ISI CV above 1) that the full network
does not, but the signatures remain: `tests/circuits/test_brunel.py` asserts them.""",
    ),
    (
        "code",
        """\
from spikeforge.analysis import synchrony_chi
from spikeforge.analysis.synchrony import oscillation_peak, population_spectrum

T, SKIP = 400.0, 100.0
brunel = {}
for regime in ("SR", "AI", "SI_fast", "SI_slow"):
    net = builders.brunel(regime, scale=0.25, seed=0)
    n = net.neurons["exc"].n
    mon = net.record_spikes("exc")
    vm = net.record_state("exc", "v", indices=list(range(100)))
    net.run(T, progress=False)
    keep = mon.t >= SKIP
    t, i = mon.t[keep], mon.i[keep]
    f, p = population_spectrum(t, n_neurons=n, t_start=SKIP, t_stop=T, bin_ms=0.5, segment_ms=100.0)
    cvs = [cv_isi(t[i == k]) for k in range(n) if (i == k).sum() >= 3]
    brunel[regime] = dict(
        t=mon.t, i=mon.i, n=n, f=f, p=p,
        rate=t.size / n / ((T - SKIP) / 1000.0),
        cv=float(np.mean(cvs)),
        chi=synchrony_chi(vm.values[int(SKIP / net.dt):]),
        peak=oscillation_peak(f, p, f_min=5.0),
        fast=oscillation_peak(f, p, f_min=50.0),
    )
    print(f"{regime:8s} {net.last_run_info['seconds']:5.1f} s")""",
    ),
    (
        "code",
        """\
fig, axes = plt.subplots(2, 4, figsize=(15, 5.5), sharex=True, gridspec_kw=dict(height_ratios=[3, 1.3]))
for col, (regime, r) in enumerate(brunel.items()):
    sel = (r["i"] < 200) & (r["t"] >= 300) & (r["t"] < 400)
    axes[0, col].scatter(r["t"][sel], r["i"][sel], s=0.8, c="k")
    axes[0, col].set(title=f"{regime}: {r['rate']:.0f} Hz, CV {r['cv']:.2f}", ylabel="neuron" if col == 0 else None)
    edges = np.arange(300.0, 400.01, 0.5)
    counts = np.histogram(r["t"], bins=edges)[0]
    axes[1, col].plot(edges[:-1], counts / r["n"] / 0.5e-3, lw=0.8)
    axes[1, col].set(xlabel="time (ms)", ylabel="rate (Hz)" if col == 0 else None)
plt.tight_layout(); plt.show()""",
    ),
    (
        "md",
        """\
Rasters (200 excitatory neurons) and population rates (0.5 ms bins). SR: every neuron fires
regularly at about 312 Hz, the rate of the noise-free drive: after the spike and $t_{ref}$ (in
which inputs are lost, as in Brunel's model and Brian2) $v$ climbs from $V_r$ to $\\theta$ in
about 1.1 ms (the refractory limit $1/(t_{ref} + \\Delta t)$ would be 476 Hz). AI: irregular
firing, the population rate fluctuates without a rhythm. SI fast: irregular neurons, each firing
far below the frequency of a fast population rhythm. SI slow: few spikes, grouped into slow
population bursts.

The synchrony measures below: the power spectrum of the population rate (Welch, 100 ms segments),
its largest peak and that peak's prominence (its power over the median power; noise alone gives
1-3), and Golomb's $\\chi$ computed on the membrane potentials of 100 neurons (1 for identical
traces, about $1/\\sqrt{100} = 0.1$ for independent ones).""",
    ),
    (
        "code",
        """\
fig, ax = plt.subplots(figsize=(8, 3.6))
for regime, r in brunel.items():
    if regime == "SR":
        continue  # its lines at 312 Hz and harmonics dwarf the others
    ax.semilogy(r["f"], r["p"], label=regime)
ax.set(xlabel="frequency (Hz)", ylabel="PSD of the population rate (Hz²/Hz)", xlim=(0, 500),
       title="population-rate spectra")
ax.legend(); plt.tight_layout(); plt.show()
print(f"{'regime':8s} {'rate Hz':>8s} {'ISI CV':>7s} {'chi(v)':>7s} {'peak Hz':>8s} {'prom.':>7s} {'>50 Hz':>7s} {'prom.':>7s}")
for regime, r in brunel.items():
    print(f"{regime:8s} {r['rate']:8.1f} {r['cv']:7.2f} {r['chi']:7.2f} {r['peak'].frequency_hz:8.0f} "
          f"{r['peak'].prominence:7.1f} {r['fast'].frequency_hz:7.0f} {r['fast'].prominence:7.1f}")""",
    ),
    (
        "md",
        """\
What to read in the table: SR is the only regular regime (CV near 0). SI slow has the lowest
rate, a 10-50 Hz rhythm with by far the largest prominence and the most synchronous membranes.
SI fast has its spectral peak above 100 Hz (the paper reports about 180 Hz at full size; at half
size, `scale=0.5`, we measure about 160 Hz). AI has the rate of Brunel's mean-field theory (47 Hz
at this size, 38 Hz at full size; within 20 %) and no rhythm standing out as strongly as SI
slow's. At a quarter size AI and SI fast are closer than in the paper: finite-size fluctuations
excite the damped fast oscillation of the AI state. Larger `scale` values sharpen the picture
at a higher cost. The external drive is `Network.add_poisson_input` (one Poisson count per neuron
and step, as Brian2's `PoissonInput`), which makes even `scale=1` affordable (about 1 s per
200 ms of network time, against 10 s with an explicit Poisson group and its synapses).""",
    ),
]
