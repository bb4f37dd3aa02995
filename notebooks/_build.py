"""Write the notebooks of this folder from the cell lists below and execute them in place.

    .venv/bin/python notebooks/_build.py            # all
    .venv/bin/python notebooks/_build.py 03 05      # some

A notebook's cells live either in ``NOTEBOOKS`` below or in a file of their own,
``_cells_<name>.py`` (for example ``_cells_02_ei_circuits.py``) that defines ``CELLS``, a list of
``("md" | "code", text)`` pairs, and may use ``SETUP``.

Each notebook is saved with its outputs (figures embedded). The kernel runs this interpreter.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent

SETUP = """\
%matplotlib inline
import sys
import numpy as np
import torch
import matplotlib.pyplot as plt
import spikeforge as sf

torch.set_num_threads(1)  # small models: one thread is fastest and robust on a loaded machine
print(sys.executable, torch.__version__, sf.__version__)"""

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {}

# ---------------------------------------------------------------------------------------------
NOTEBOOKS["01_neuron_models"] = [
    ("md", """\
# 01 Neuron models

Four neuron models of `spikeforge.neurons`, each driven by a simple input and compared with what
theory says it should do:

1. the **LIF** f-I curve against its closed form,
2. spike-frequency **adaptation** of the ALIF neuron,
3. the firing patterns of the **Izhikevich** presets,
4. the firing probability of the **probabilistic** neuron against its sigmoid."""),
    ("code", SETUP),
    ("md", r"""\
## LIF: the f-I curve

For a constant current $I$ the membrane $\tau\,\dot v = -v + rI$ reaches threshold $v_{th}$ (from
reset 0) after $\tau \ln\frac{rI}{rI - v_{th}}$, so the rate is

$$f(I) = \Big[t_{ref} + \tau \ln \frac{rI}{rI - v_{th}}\Big]^{-1} \quad (rI > v_{th}),\qquad 0 \text{ otherwise}.$$

One population of 60 neurons, one current each, 1 s at $\Delta t = 0.1$ ms."""),
    ("code", """\
tau, v_th, dt, T_ms = 20.0, 1.0, 0.1, 1000.0
currents = torch.linspace(0.0, 4.0, 60)
lif = sf.neurons.LIF(len(currents), tau_mem=tau, v_th=v_th, dt=dt)
x = currents.expand(int(T_ms / dt), -1)            # [T, n] constant input
with torch.no_grad():
    spikes, _ = lif(x)
rate_sim = spikes.sum(0) / (T_ms / 1000.0)            # Hz

I = np.linspace(0.0, 4.0, 400)
with np.errstate(divide="ignore", invalid="ignore"):
    f_th = np.where(I > v_th, 1000.0 / (tau * np.log(I / (I - v_th))), 0.0)

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(I, f_th, "k-", label="closed form")
ax.plot(currents, rate_sim, "o", ms=4, label="spikeforge LIF")
ax.set(xlabel="input current I (r = 1)", ylabel="rate (Hz)", title="LIF f-I curve")
ax.legend(); plt.show()
above = currents > 1.2
rel = (rate_sim[above] - torch.tensor(np.interp(currents[above], I, f_th))).abs() / rate_sim[above]
print(f"largest relative error above rheobase: {rel.max():.3f} (the step quantises spike times)")"""),
    ("md", r"""\
## ALIF: spike-frequency adaptation

The ALIF threshold rises by $\beta$ at each spike and relaxes with $\tau_{adapt}$. Under a constant
current the inter-spike intervals lengthen until the threshold settles: the stronger $\beta$, the
stronger the adaptation. $\beta = 0$ is the LIF."""),
    ("code", """\
betas = torch.tensor([0.0, 0.05, 0.1, 0.2])
alif = sf.neurons.ALIF(len(betas), tau_mem=20.0, tau_adapt=200.0, beta=betas, dt=0.5)
with torch.no_grad():
    z, _ = alif(torch.full((int(1000 / 0.5), len(betas)), 1.5))

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for k, b in enumerate(betas.tolist()):
    t_spk = torch.nonzero(z[:, k]).flatten().numpy() * 0.5
    axes[0].plot(t_spk, np.full_like(t_spk, k), "|", ms=10)
    axes[1].plot(t_spk[1:], np.diff(t_spk), ".-", label=f"beta = {b}")
axes[0].set(xlabel="time (ms)", ylabel="neuron", yticks=range(len(betas)),
            yticklabels=[f"beta={b}" for b in betas.tolist()], title="spikes under a constant current")
axes[1].set(xlabel="time (ms)", ylabel="inter-spike interval (ms)", title="adaptation")
axes[1].legend(); plt.tight_layout(); plt.show()"""),
    ("md", """\
## Izhikevich presets

The published $(a, b, c, d)$ sets of Izhikevich (2003, Fig. 2): regular spiking, intrinsically
bursting, chattering, fast spiking, low-threshold spiking, thalamo-cortical and resonator. All get
the same step current of 10 from t = 20 ms; `scan(..., record=True)` returns the membrane trace."""),
    ("code", """\
from spikeforge.neurons.izhikevich import PRESETS
dt = 0.25
x = torch.zeros(int(300 / dt), 1)
x[int(20 / dt):] = 10.0
fig, axes = plt.subplots(len(PRESETS), 1, figsize=(8, 9), sharex=True)
t = np.arange(x.shape[0]) * dt
for ax, name in zip(axes, PRESETS):
    neuron = sf.neurons.Izhikevich(1, preset=name, dt=dt)
    with torch.no_grad():
        res = neuron.scan(x, record=True)
    ax.plot(t, res.trace.v[:, 0].numpy(), lw=0.8)
    ax.set_ylabel(name, rotation=0, labelpad=20)
    ax.set_ylim(-90, 40)
    ax.text(0.99, 0.8, f"{int(res.output.sum())} spikes", transform=ax.transAxes, ha="right", fontsize=8)
axes[-1].set_xlabel("time (ms)")
axes[0].set_title("Izhikevich presets, I = 10 from 20 ms")
plt.tight_layout(); plt.show()"""),
    ("md", r"""\
## The probabilistic neuron

The probabilistic neuron fires with probability $p = \sigma((v - v_{th})/T)$ and transmits its input
with release probability $q$. With a very short membrane time constant the membrane is simply
$v = r\,m\,x$ at every step, so the probability of a spike per step is

$$P(z=1) = q\,\sigma\!\Big(\frac{x - v_{th}}{T}\Big) + (1 - q)\,\sigma\!\Big(\frac{-v_{th}}{T}\Big).$$

We measure it over 4000 steps for 40 input levels, with $q = 1$ and $q = 0.5$."""),
    ("code", """\
levels = torch.linspace(0.0, 2.0, 40)
T_temp, v_th, steps = 0.2, 1.0, 4000
fig, ax = plt.subplots(figsize=(5.5, 3.8))
xs = np.linspace(0, 2, 200)
sig = lambda a: 1.0 / (1.0 + np.exp(-a))
for q, color in ((1.0, "C0"), (0.5, "C1")):
    neuron = sf.neurons.ProbabilisticNeuron(
        len(levels), tau_mem=1e-3, v_th=v_th, temperature=T_temp, release=q, dt=1.0,
        generator=torch.Generator().manual_seed(0),
    )
    with torch.no_grad():
        z, _ = neuron(levels.expand(steps, -1))          # training mode: samples
    p_emp = z.mean(0)
    p_th = q * sig((xs - v_th) / T_temp) + (1 - q) * sig(-v_th / T_temp)
    ax.plot(xs, p_th, "-", color=color, label=f"theory, q = {q}")
    ax.plot(levels, p_emp, "o", ms=4, color=color, label=f"sampled, q = {q}")
ax.set(xlabel="input x", ylabel="P(spike) per step", title="probabilistic neuron, T = 0.2")
ax.legend(); plt.show()"""),
    ("md", """\
The sampled probabilities follow the sigmoid within the binomial error of 4000 draws; halving the
release probability halves the drive-dependent part. In evaluation mode (`neuron.eval()`) the same
neuron is deterministic: release in expectation and spikes where $p > 1/2$."""),
]

# ---------------------------------------------------------------------------------------------
NOTEBOOKS["03_stdp"] = [
    ("md", r"""\
# 03 Spike-timing-dependent plasticity

Pair STDP (Bi & Poo 1998; Song, Miller & Abbott 2000) changes a synapse by

$$\Delta w = \begin{cases} A_+ e^{-\Delta t/\tau_+} & \Delta t = t_{post} - t_{pre} > 0 \\
-A_- e^{\Delta t/\tau_-} & \Delta t < 0 \end{cases}$$

We recover this window from a pairing protocol run through `spikeforge.plasticity.STDP`, then show
what pair STDP cannot do and the triplet rule of Pfister & Gerstner (2006) can: depend on the
pairing frequency."""),
    ("code", SETUP),
    ("md", """\
## The STDP window from a pairing protocol

One pre and one post spike, $\\Delta t$ apart, from -60 to +60 ms. The 121 pairs run in parallel as
121 independent synapses: the diagonal of a 121 x 121 weight matrix (traces are per neuron, so the
diagonal entries see only their own pair). The weight change is accumulated without being applied
(the additive rule does not depend on w)."""),
    ("code", """\
from spikeforge.plasticity import STDP
a_plus, a_minus, tau_plus, tau_minus = 0.01, 0.0105, 20.0, 20.0
stdp = STDP(tau_plus=tau_plus, tau_minus=tau_minus, a_plus=a_plus, a_minus=a_minus)
lags = torch.arange(-60, 61)                         # t_post - t_pre, ms (dt = 1 ms)
n, t0, T = len(lags), 70, 200
pre = torch.zeros(T, n); post = torch.zeros(T, n)
pre[t0, torch.arange(n)] = 1.0
post[t0 + lags, torch.arange(n)] = 1.0
w = torch.full((n, n), 0.5)
state, total = None, torch.zeros(n, n)
for t in range(T):
    dw, state = stdp.step(pre[t], post[t], w, state)
    total += dw
dw_sim = total.diagonal()

lag = lags.numpy().astype(float)
closed = np.where(lag > 0, a_plus * np.exp(-lag / tau_plus), np.where(lag < 0, -a_minus * np.exp(lag / tau_minus), np.nan))
fig, ax = plt.subplots(figsize=(6, 3.8))
ax.axhline(0, color="0.7", lw=0.8); ax.axvline(0, color="0.7", lw=0.8)
ax.plot(lag, closed, "k-", label="closed form")
ax.plot(lag[::3], dw_sim[::3], "o", ms=4, label="spikeforge STDP, pairing protocol")
ax.set(xlabel="t_post - t_pre (ms)", ylabel="weight change", title="pair STDP window")
ax.legend(); plt.show()
mask = lag != 0
print("largest deviation from the closed form:", float(np.abs(dw_sim.numpy()[mask] - closed[mask]).max()))"""),
    ("md", """\
At $\\Delta t = 0$ both spikes fall in the same step; the rule then applies both terms, which is
why the closed form is left undefined there.

## Frequency dependence: pair versus triplet STDP

Sjöström et al. (2001) paired pre and post spikes 60 times at frequencies from 0.1 to 50 Hz: at low
frequency post-before-pre depresses, at high frequency both orders potentiate. Pair STDP cannot
produce this (all-to-all pairs of a regular train nearly cancel). The triplet rule adds a
post-post-pre term that grows with the rate. We run the protocol with the published
`visual_cortex_all_to_all` set (Table 4 of Pfister & Gerstner 2006) and $\\Delta t = \\pm 10$ ms,
all frequencies and both signs in parallel on the diagonal again."""),
    ("code", """\
from spikeforge.plasticity import TripletSTDP
freqs = [0.1, 10.0, 20.0, 40.0, 50.0]
lags = [10, -10]
n_pairs = 60
cases = [(f, d) for f in freqs for d in lags]
periods = [int(round(1000.0 / f)) for f, _ in cases]
T = 20 + max(p * (n_pairs - 1) for p in periods) + 20
n = len(cases)
pre = torch.zeros(T, n); post = torch.zeros(T, n)
for j, ((f, d), p) in enumerate(zip(cases, periods)):
    t_pre = 20 + torch.arange(n_pairs) * p
    pre[t_pre, j] = 1.0
    post[t_pre + d, j] = 1.0
print(f"{T} ms of protocol for {n} cases in parallel")"""),
    ("md", """\
A 0.1 Hz protocol lasts 10 minutes, nearly all of it silence. Rather than stepping through every
millisecond, we call the step functions only at spike times with a variable `dt`: each call first
decays the traces exactly over the time since the previous event, which is what `stdp_step` and
`triplet_step` do for any `dt`."""),
    ("code", """\
from spikeforge.plasticity import stdp_step, stdp_init_state, triplet_step, triplet_init_state

def run_events(step_fn, init_fn, params):
    w = torch.full((n, n), 0.5)
    event_times = torch.nonzero(pre.any(1) | post.any(1)).flatten().tolist()
    state = init_fn((), n, n)
    total, last = torch.zeros(n, n), None
    for t in event_times:
        dt = 1.0 if last is None else float(t - last)
        dw, state = step_fn(pre[t], post[t], w, state, params, dt=dt)
        total += dw
        last = t
    return total.diagonal()

triplet = TripletSTDP.from_preset("visual_cortex_all_to_all", dt=1.0)
pair = STDP(tau_plus=16.8, tau_minus=33.7, a_plus=0.005, a_minus=0.007)
dw_triplet = run_events(triplet_step, triplet_init_state, triplet.params())
dw_pair = run_events(stdp_step, stdp_init_state, pair.params())

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharex=True)
for ax, dw, name in ((axes[0], dw_pair, "pair STDP"), (axes[1], dw_triplet, "triplet STDP (visual cortex, all-to-all)")):
    for d, style in zip(lags, ("o-", "s--")):
        ys = [float(dw[j]) / n_pairs for j, c in enumerate(cases) if c[1] == d]
        ax.plot(freqs, ys, style, label=f"dt = {d:+d} ms")
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set(xlabel="pairing frequency (Hz)", ylabel="weight change per pair", title=name)
    ax.legend()
plt.tight_layout(); plt.show()"""),
    ("md", """\
With pair STDP (here with depression dominating, $A_-\\tau_- > A_+\\tau_+$) more pairs per second
only add more depression, for both orders. The triplet rule does the opposite: potentiation grows
with frequency and post-before-pre pairing turns into potentiation above about 30 Hz, as in the
experiments of Sjöström et al. (2001) and Fig. 3 of Pfister & Gerstner (2006)."""),
]

# ---------------------------------------------------------------------------------------------
NOTEBOOKS["05_learnable_delays"] = [
    ("md", """\
# 05 Learnable delays

A task that only delays can solve: two input channels each spike once, 5 ms apart. Class 0: channel
0 first; class 1: channel 1 first; the onset is random. Both classes have the same spikes per
channel, so spike counts, rates and any instantaneous read-out are useless: the network must
compare *when* the channels spiked.

The network is `LearnableDelay(2 -> 16)` (DCLS: each synapse's delay is a Gaussian-interpolated
position learned by gradient descent) into LIF coincidence detectors with no memory from one step
to the next ($\\tau_{mem}$ = 0.2 ms at $\\Delta t$ = 1 ms), spike counts, and a linear read-out. A
detector fires only when both channels arrive in the same step, which happens when its two delays
differ by +5 ms or -5 ms. The baseline has all delays fixed at 0: it should stay at chance."""),
    ("code", SETUP),
    ("code", """\
from spikeforge.plasticity import LearnableDelay, sigma_schedule

T, LAG, MAX_DELAY, N_HIDDEN = 40, 5, 10, 16

def timing_task(n, gen):
    y = torch.randint(0, 2, (n,), generator=gen)
    t0 = torch.randint(0, T - LAG - MAX_DELAY - 1, (n,), generator=gen)
    x = torch.zeros(T, n, 2)
    x[t0, torch.arange(n), y] = 1.0
    x[t0 + LAG, torch.arange(n), 1 - y] = 1.0
    return x, y

class TimingNet(torch.nn.Module):
    def __init__(self, learn_delays, gen):
        super().__init__()
        self.delay = LearnableDelay(2, N_HIDDEN, max_delay=float(MAX_DELAY), dt=1.0,
                                    sigma=2.0 if learn_delays else 0.0,
                                    delays=None if learn_delays else 0.0,
                                    learn_delays=learn_delays, generator=gen)
        with torch.no_grad():
            self.delay.weight.uniform_(0.8, 1.0, generator=gen)   # one spike alone stays below threshold
        self.lif = sf.neurons.LIF(N_HIDDEN, tau_mem=0.2, v_th=1.0)
        self.readout = torch.nn.Linear(N_HIDDEN, 2)

    def forward(self, x):
        h, _ = self.delay(x)
        z, _ = self.lif(h)
        return self.readout(z.sum(0))

gen = torch.Generator().manual_seed(0)
x, y = timing_task(8, gen)
fig, axes = plt.subplots(1, 2, figsize=(9, 2.6), sharey=True)
for ax, cls in zip(axes, (0, 1)):
    k = int(torch.nonzero(y == cls)[0])
    for ch in (0, 1):
        ax.plot(torch.nonzero(x[:, k, ch]).flatten(), [ch], "|", ms=20, mew=2)
    ax.set(title=f"class {cls}", xlabel="time (ms)", xlim=(0, T), yticks=[0, 1], ylim=(-0.5, 1.5))
axes[0].set_ylabel("channel"); plt.tight_layout(); plt.show()"""),
    ("md", """\
Training: Adam, weights at lr 1e-2 and delay positions at lr 0.5 (DCLS trains positions much faster
than weights); the Gaussian width is annealed from 2 ms to 0.3 ms over 70 % of training, and the
test uses the rounded, integer delays ($\\sigma = 0$)."""),
    ("code", """\
def train_timing(learn_delays, epochs=30, n=512, batch=64):
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)   # nn.Linear's initialisation of the read-out
    net = TimingNet(learn_delays, gen)
    x_train, y_train = timing_task(n, gen)
    x_test, y_test = timing_task(n, gen)
    groups = [{"params": [net.delay.weight, *net.readout.parameters()], "lr": 1e-2}]
    if learn_delays:
        groups.append({"params": [net.delay.delay], "lr": 0.5})
    opt = torch.optim.Adam(groups)
    curve = []
    for epoch in range(epochs):
        if learn_delays:
            net.delay.set_sigma(sigma_schedule(epoch, epochs, sigma_start=2.0, sigma_end=0.3, fraction=0.7))
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            loss = torch.nn.functional.cross_entropy(net(x_train[:, idx]), y_train[idx])
            opt.zero_grad(); loss.backward(); opt.step()
        with torch.no_grad():
            curve.append((net(x_test).argmax(1) == y_test).float().mean().item())
    if learn_delays:
        net.delay.set_sigma(0.0)   # integer delays
    with torch.no_grad():
        acc = (net(x_test).argmax(1) == y_test).float().mean().item()
    return net, acc, curve

net_fixed, acc_fixed, curve_fixed = train_timing(False)
net_delay, acc_delay, curve_delay = train_timing(True)
print(f"test accuracy: no delays {acc_fixed:.3f}, learned delays (rounded) {acc_delay:.3f}")"""),
    ("code", """\
d = net_delay.delay.rounded_delays().steps.float()        # [16, 2] integer delays, steps = ms
w_out = net_delay.readout.weight.detach()
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
axes[0].plot(curve_fixed, label="delays fixed at 0")
axes[0].plot(curve_delay, label="learned delays")
axes[0].axhline(0.5, color="0.6", ls=":", label="chance")
axes[0].set(xlabel="epoch", ylabel="test accuracy", title="timing task", ylim=(0.3, 1.02))
axes[0].legend()
diff = (d[:, 1] - d[:, 0]).numpy()
pref = (w_out[1] - w_out[0]).numpy()
axes[1].scatter(diff, pref, c=np.sign(pref), cmap="coolwarm", edgecolor="k")
for v in (-LAG, LAG):
    axes[1].axvline(v, color="0.6", ls=":")
axes[1].set(xlabel="learned delay(ch 1) - delay(ch 0)  (ms)", ylabel="read-out vote for class 1",
            title="what each coincidence detector learned")
plt.tight_layout(); plt.show()"""),
    ("md", """\
Without delays the two classes produce identical input counts and the network stays at chance.
With learned delays the units with the strongest read-out weights sit at delay differences of
$\\pm 5$ ms, detectors of one order or the other, and the read-out votes accordingly (units at $+5$ ms,
where channel 1's delay compensates for channel 0 arriving late, detect class 1; units at $-5$ ms class 0)."""),
]

# ---------------------------------------------------------------------------------------------
NOTEBOOKS["06_metaplasticity"] = [
    ("md", """\
# 06 Metaplasticity and continual learning

Laborieux et al. (2021) train binarized networks whose hidden weights carry a *metaplastic* state:
the further a hidden weight is from zero, the harder it is to push it back towards zero
(`spikeforge.plasticity.Metaplastic`, Adam with the factor $1 - \\tanh^2(m W)$ on steps toward
zero). Weights important to earlier tasks consolidate, so learning a new task forgets less.

A small version of their permuted-MNIST experiment: scikit-learn's 8x8 digits (no download), 4
tasks, each a fixed random permutation of the 64 pixels, learned one after the other by a
binarized 64-256-10 network. We compare plain Adam ($m = 0$) with $m = 20$ (the runs are about
100 times shorter than the paper's, so the hidden weights stay smaller and $m$ is scaled up)."""),
    ("code", SETUP),
    ("code", """\
from sklearn.datasets import load_digits
from spikeforge.plasticity import Metaplastic, binarize

X, Y = load_digits(return_X_y=True)
x = torch.tensor(X / 16.0, dtype=torch.float32); y = torch.tensor(Y)
g = torch.Generator().manual_seed(0)
order = torch.randperm(len(x), generator=g)
train, test = order[:1400], order[1400:]
N_TASKS = 4
perms = [torch.arange(64)] + [torch.randperm(64, generator=g) for _ in range(N_TASKS - 1)]

fig, axes = plt.subplots(1, N_TASKS, figsize=(8, 2.2))
for k, ax in enumerate(axes):
    ax.imshow(x[0, perms[k]].reshape(8, 8), cmap="gray_r"); ax.set_title(f"task {k}"); ax.axis("off")
fig.suptitle(f"the same digit ({int(y[0])}) as each task sees it"); plt.show()"""),
    ("code", """\
class BNN(torch.nn.Module):
    \"\"\"64 -> hidden -> 10, binary weights (sign of the hidden weights) and sign activations,
    batch normalisation without affine parameters.\"\"\"

    def __init__(self, gen, hidden=256):
        super().__init__()
        self.w1 = torch.nn.Parameter(torch.empty(hidden, 64).uniform_(-0.01, 0.01, generator=gen))
        self.w2 = torch.nn.Parameter(torch.empty(10, hidden).uniform_(-0.01, 0.01, generator=gen))
        self.bn1 = torch.nn.BatchNorm1d(hidden, affine=False, track_running_stats=False)
        self.bn2 = torch.nn.BatchNorm1d(10, affine=False, track_running_stats=False)

    def forward(self, x):
        h = torch.nn.functional.hardtanh(self.bn1((2 * x - 1) @ binarize(self.w1).t()))
        h = h + (torch.sign(h) - h).detach()   # sign activation, straight-through
        return self.bn2(h @ binarize(self.w2).t())

def continual(m, epochs=8):
    gen = torch.Generator().manual_seed(1)
    net = BNN(gen)
    opt = Metaplastic(net.parameters(), lr=0.005, m=m)
    acc = np.full((N_TASKS, N_TASKS), np.nan)   # acc[after task k, on task j]
    for k, perm in enumerate(perms):
        xk = x[:, perm]
        for _ in range(epochs):
            o = train[torch.randperm(len(train), generator=gen)]
            for i in range(0, len(o), 100):
                idx = o[i:i + 100]
                loss = torch.nn.functional.cross_entropy(net(xk[idx]), y[idx])
                opt.zero_grad(); loss.backward(); opt.step()
        with torch.no_grad():
            for j in range(k + 1):
                acc[k, j] = (net(x[test][:, perms[j]]).argmax(1) == y[test]).float().mean().item()
    return acc

results = {m: continual(m) for m in (0.0, 20.0)}
for m, acc in results.items():
    print(f"m = {m:4}: accuracy on each task after the last one {np.round(acc[-1], 3)}, "
          f"earlier tasks mean {acc[-1, :-1].mean():.3f}")"""),
    ("code", """\
fig, axes = plt.subplots(1, 3, figsize=(12, 3.5), sharey=True)
for ax, (m, acc) in zip(axes[:2], results.items()):
    for j in range(N_TASKS):
        ax.plot(range(j, N_TASKS), acc[j:, j], "o-", label=f"task {j}")
    ax.set(xlabel="after training task", ylabel="test accuracy", xticks=range(N_TASKS),
           title="plain Adam (m = 0)" if m == 0 else f"Metaplastic (m = {m:g})", ylim=(0, 1.02))
axes[0].legend(fontsize=8)
width = 0.38
for i, (m, acc) in enumerate(results.items()):
    axes[2].bar(np.arange(N_TASKS) + (i - 0.5) * width, acc[-1], width, label=f"m = {m:g}")
axes[2].set(xlabel="task", title="accuracy after the last task", xticks=range(N_TASKS))
axes[2].legend(); plt.tight_layout(); plt.show()"""),
    ("md", """\
With plain Adam each new permutation overwrites the binary weights and the earlier tasks fall
towards chance; with metaplasticity the earlier tasks keep much more of their accuracy (the
oldest fading first in these short runs), at a small cost
on the newest task, as in Fig. 2 of Laborieux et al. (2021)."""),
]

# ---------------------------------------------------------------------------------------------
NOTEBOOKS["07_rich_vs_lazy"] = [
    ("md", """\
# 07 Rich versus lazy learning

Liu et al. (ICLR 2024), "How connectivity structure shapes rich and lazy learning in neural
circuits": at equal initial weight norm, recurrent networks whose initial connectivity has a *low
effective rank* learn richly (their weights and representations change a lot), while high-rank
(iid) initialisations learn lazily. The exception: a low-rank start already aligned with the task
is lazy too (here: in weight change; see the end).

`spikeforge.analysis.rich_lazy_sweep` runs this experiment: leaky rate RNNs on a delayed linear map,
trained by BPTT until they reach the same probe loss, and measured with the regime analyses of
`spikeforge.analysis` (relative weight change, representation change 1 - CKA, tangent-kernel
distance). Here a small version: 5 ranks and the aligned start, 2 seeds, 100 units."""),
    ("code", SETUP),
    ("code", """\
import spikeforge.analysis as sfa
from spikeforge.analysis import RichLazyConfig

rng = np.random.default_rng(0)
n = 100
fig, ax = plt.subplots(figsize=(5, 3.2))
for r in (1, 2, 5, 20, None):
    W0 = sfa.low_rank_init(n, r, norm=0.6 * np.sqrt(n), generator=torch.Generator().manual_seed(0))
    s = sfa.singular_values(W0)
    ax.semilogy(np.arange(1, len(s) + 1), s, ".-", label=f"{'full' if r is None else f'rank {r}'}: "
                f"eff. rank {sfa.effective_rank(W0):.1f}")
ax.set(xlabel="index", ylabel="singular value", title="initial connectivity, equal Frobenius norm", xlim=(0, 25))
ax.legend(fontsize=8); plt.show()"""),
    ("code", """\
import time
cfg = RichLazyConfig(n=100)
t0 = time.perf_counter()
sweep, fig = sfa.rich_lazy_sweep(ranks=(1, 2, 5, 20, None), seeds=(0, 1), config=cfg)
print(f"{len(sweep.results)} networks trained in {time.perf_counter() - t0:.1f} s")
print(sweep.table())"""),
    ("code", """\
for metric in ("weight_change", "representation_change", "kernel_distance"):
    print(f"{metric:24s} Spearman(effective rank, metric) = {sweep.spearman(metric):+.2f}, "
          f"aligned / full rank = {sweep.aligned_ratio(metric):.2f}")"""),
    ("md", """\
The lower the effective rank of the initial connectivity, the more the network had to change to
learn the task to the same loss: weight change, representation change (1 - CKA) and tangent-kernel
distance all fall as the rank rises (with two seeds here, not always monotonically). The
task-aligned low-rank start moves its weights least of all (about 0.4 of the full-rank change on
16 held-out seeds) and its representation about as little as full rank. It is *not* lazy in
tangent-kernel distance (about 1.8x full rank on those seeds): it turns its kernel about 4x more per
unit of weight change, because its whole norm sits in a few strong directions whose tanh units
saturate. Liu et al.'s argument for the aligned exception is made for linear networks, which have
no such saturation; we report the kernel result as we find it.
The full reproduction (16 seeds, with the figure of kernel distance against weight change) is
`python benchmarks/rich_lazy.py`."""),
]

# ---------------------------------------------------------------------------------------------
NOTEBOOKS["08_training_on_event_data"] = [
    ("md", """\
# 08 Training on event data

`spikeforge.data.NDigits` is an embedded event-camera dataset: scikit-learn's 8x8 digits moved
along three saccades in front of an emulated DVS sensor (10 x 10 pixels, ON and OFF polarities),
300 ms per sample, generated locally and cached (no download). We look at the events, bin them
into frames and train the demo network (`Linear -> LIF -> Linear -> LIF`) with `Trainer` for
3 epochs."""),
    ("code", SETUP),
    ("code", """\
from spikeforge.data import NDigits, pad_collate
events, label = NDigits("train", representation="events")[0]
print(f"sample 0: digit {label}, {len(events)} events, fields {events.dtype.names}")
W = 10
pixel = (events["p"].astype(int) * W + events["y"].astype(int)) * W + events["x"].astype(int)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [3, 1]})
on = events["p"] == 1
sf.analysis.raster(events["t"][on] / 1000.0, pixel[on], ax=axes[0], s=3, c="C3", label="ON")
sf.analysis.raster(events["t"][~on] / 1000.0, pixel[~on], ax=axes[0], s=3, c="C0", label="OFF")
axes[0].set(ylabel="pixel (OFF 0-99, ON 100-199)", title=f"events of one sample (digit {label})")
axes[0].legend(loc="upper right", markerscale=3)
img = np.zeros((2, W, W))
np.add.at(img, (events["p"], events["y"], events["x"]), 1)
axes[1].imshow(img[1] - img[0], cmap="coolwarm"); axes[1].set_title("ON - OFF counts"); axes[1].axis("off")
plt.tight_layout(); plt.show()"""),
    ("md", """\
Binned into 30 frames of 10 ms (the demo's input), each sample is a `[30, 200]` tensor of event
counts; `pad_collate` stacks samples time-major, `[T, B, 200]`."""),
    ("code", """\
from spikeforge.demo import build_demo_model, N_TIME_BINS
from spikeforge.training import Trainer, make_loader
train = NDigits("train", n_time_bins=N_TIME_BINS, flatten=True)
test = NDigits("test", n_time_bins=N_TIME_BINS, flatten=True)
frames, label = train[0]
fig, axes = plt.subplots(1, 10, figsize=(12, 1.6))
for k, ax in enumerate(axes):
    f = frames[3 * k].reshape(2, 10, 10)
    ax.imshow(f[1] - f[0], cmap="coolwarm", vmin=-2, vmax=2); ax.axis("off"); ax.set_title(f"{30 * k} ms", fontsize=8)
plt.show()
print(f"train {len(train)} samples, test {len(test)}, one sample {tuple(frames.shape)}")"""),
    ("code", """\
model = build_demo_model(seed=0)
trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=5e-3), readout="spike_count",
                  seed=0, progress=False)
train_loader = make_loader(train, 32, shuffle=True, seed=0, collate_fn=pad_collate)
test_loader = make_loader(test, 128, shuffle=False, seed=0, collate_fn=pad_collate)
history = trainer.fit(train_loader, 3, val_loader=test_loader)
result = trainer.evaluate(test_loader)
print(f"test accuracy after 3 epochs: {100 * result['accuracy']:.1f}%")"""),
    ("code", """\
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
epochs = history.epoch
axes[0].plot(epochs, history.train_loss, "o-", label="train"); axes[0].plot(epochs, history.val_loss, "s-", label="test")
axes[0].set(xlabel="epoch", ylabel="loss", title="learning curve"); axes[0].legend()
axes[1].plot(epochs, history.train_accuracy, "o-", label="train"); axes[1].plot(epochs, history.val_accuracy, "s-", label="test")
axes[1].set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1)); axes[1].legend()
axes[2].imshow(result["confusion"].numpy(), cmap="Blues")
axes[2].set(xlabel="predicted", ylabel="true digit", title="test confusion matrix", xticks=range(10), yticks=range(10))
plt.tight_layout(); plt.show()"""),
    ("code", """\
x, label = test[0]
with torch.no_grad():
    h = model[0](x.unsqueeze(1))
    z_hidden, _ = model[1](h)
    z_out, _ = model[3](model[2](z_hidden))
from spikeforge.demo import DT
fig, axes = plt.subplots(3, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [2, 2, 1]})
for ax, spikes, name in ((axes[0], x, "input events"), (axes[1], z_hidden[:, 0], "hidden LIF"), (axes[2], z_out[:, 0], "output LIF")):
    sf.analysis.raster(*sf.analysis.spike_events(spikes.numpy() > 0, dt=DT), ax=ax, s=4)
    ax.set_ylabel(name)
axes[2].set(xlabel="time (ms)", ylim=(-0.5, 9.5))
axes[0].set_title(f"test digit {int(label)}: output spike counts {z_out[:, 0].sum(0).int().tolist()}")
plt.tight_layout(); plt.show()"""),
]

# ---------------------------------------------------------------------------------------------
NOTEBOOKS["09_export_nir"] = [
    ("md", """\
# 09 Export to NIR and other simulators

NIR (the Neuromorphic Intermediate Representation) describes a network as continuous-time nodes,
which neuromorphic chips and other simulators read. `spikeforge.hardware.to_nir` writes a model,
`from_nir` reads one back, and the `importer="snntorch"` / `"norse"` presets write a graph that
those libraries' own importers run *with the same spikes*. We export the demo network after a short
training run and compare spikes."""),
    ("code", SETUP),
    ("code", """\
import contextlib, io, tempfile
from pathlib import Path
import nir
from spikeforge.demo import build_demo_model, N_TIME_BINS, DT
from spikeforge.data import NDigits, pad_collate
from spikeforge.hardware import to_nir, from_nir
from spikeforge.training import Trainer, make_loader

train = NDigits("train", n_time_bins=N_TIME_BINS, flatten=True)
test = NDigits("test", n_time_bins=N_TIME_BINS, flatten=True)
model = build_demo_model(seed=0)
trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=5e-3), seed=0, progress=False)
trainer.fit(make_loader(train, 32, shuffle=True, seed=0, collate_fn=pad_collate), 1, max_steps=25)
x, labels = next(iter(make_loader(test, 16, shuffle=False, seed=0, collate_fn=pad_collate)))
x = x.float()
with torch.no_grad():
    ref, _ = model(x)
print(f"input {tuple(x.shape)}, output spikes {tuple(ref.shape)}, mean rate {ref.mean():.3f} per step")"""),
    ("code", """\
graph = to_nir(model, dt=DT)
print("nodes:", {k: type(v).__name__ for k, v in graph.nodes.items()})
print("edges:", graph.edges)
print("metadata:", graph.metadata)
path = Path(tempfile.mkdtemp()) / "demo.nir"
nir.write(path, graph)
model2 = from_nir(nir.read(path))
with torch.no_grad():
    out2, _ = model2(x)
print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB; round trip identical spikes: {torch.equal(out2, ref)}")"""),
    ("md", """\
## The same graph in snntorch and norse

Each importer has its own convention (fixed time step, forward Euler, reset to 0, ...). The
presets undo it; we then run the importers step by step on the same input. A peer that is not
installed is skipped."""),
    ("code", """\
def run_snntorch(graph, x):
    from snntorch.import_nir import import_from_nir
    with contextlib.redirect_stdout(io.StringIO()):   # the importer prints
        module = import_from_nir(graph)
    with torch.no_grad():
        return torch.stack([module(x[t])[0] for t in range(x.shape[0])])

def run_norse(graph, x):
    import norse.torch as norse
    module = norse.from_nir(graph)
    outs, state = [], None
    with torch.no_grad():
        for t in range(x.shape[0]):
            z, state = module(x[t], state)
            outs.append(z)
    return torch.stack(outs)

peers = {}
for name, runner in (("snntorch", run_snntorch), ("norse", run_norse)):
    try:
        out = runner(to_nir(model, dt=DT, importer=name), x)
    except ImportError as e:
        print(f"{name}: not installed, skipped ({e})")
        continue
    peers[name] = out
    print(f"{name}: identical spikes {torch.equal(out, ref)}, "
          f"{int((out != ref).sum())} of {ref.numel()} spike entries differ")"""),
    ("code", """\
outs = {"spikeforge": ref, "NIR round trip": out2, **peers}
fig, axes = plt.subplots(1, len(outs), figsize=(3.2 * len(outs), 3), sharey=True)
axes = np.atleast_1d(axes)
for ax, (name, z) in zip(axes, outs.items()):
    sf.analysis.raster(*sf.analysis.spike_events(z[:, 0].numpy() > 0, dt=DT), ax=ax, s=12)
    ax.set(title=name, xlabel="time (ms)", ylim=(-0.5, 9.5))
axes[0].set_ylabel(f"output neuron (digit {int(labels[0])})")
plt.tight_layout(); plt.show()
counts = {name: z.sum(0).argmax(-1) for name, z in outs.items()}
for name, pred in counts.items():
    print(f"{name:16s} predictions {pred.tolist()}")"""),
    ("md", """\
What NIR cannot carry is refused at export: ALIF, Izhikevich and probabilistic neurons, refractory
periods and subtractive resets raise `UnsupportedExportError` naming the module, rather than
writing a graph that runs differently elsewhere."""),
    ("code", """\
from spikeforge.errors import UnsupportedExportError
try:
    to_nir(sf.Sequential(torch.nn.Linear(4, 3), sf.neurons.ALIF(3)), dt=1.0)
except UnsupportedExportError as e:
    print("UnsupportedExportError:", e)"""),
]


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, text in cells:
        cell = nbformat.v4.new_markdown_cell(text) if kind == "md" else nbformat.v4.new_code_cell(text)
        nb.cells.append(cell)
    return nb


def _cell_files() -> dict[str, list[tuple[str, str]]]:
    """Notebooks whose cells live in a file of their own, ``_cells_<name>.py`` defining ``CELLS``.

    Each such file may use ``SETUP`` (it is run with this module's ``SETUP`` in its namespace).
    """
    found: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(HERE.glob("_cells_*.py")):
        namespace: dict[str, object] = {"SETUP": SETUP}
        exec(compile(path.read_text(), str(path), "exec"), namespace)
        found[path.stem.removeprefix("_cells_")] = namespace["CELLS"]  # type: ignore[assignment]
    return found


def main(selected: list[str]) -> None:
    notebooks = {**NOTEBOOKS, **_cell_files()}
    for name, cells in sorted(notebooks.items()):
        if selected and not any(name.startswith(s) for s in selected):
            continue
        nb = build(name, cells)
        start = time.perf_counter()
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
        seconds = time.perf_counter() - start
        nbformat.write(nb, HERE / f"{name}.ipynb")
        print(f"{name}: {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
