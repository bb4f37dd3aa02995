"""Cells of notebook 04: 'what and when' predictions with the error-gated readout (built by
notebooks/_build.py)."""

# ruff: noqa: E501
# mypy: ignore-errors
# SETUP is put in this file's namespace by notebooks/_build.py.

CELLS = [
    (
        "md",
        """\
# 04 What and when: an error-gated readout learns timing and probability

Yamada & Chao (2025, "Joint encoding of 'what' and 'when' predictions through error-modulated
plasticity in reservoir spiking networks") train the readouts of a heterogeneous Izhikevich
reservoir with an **error-modulated, attention-gated three-factor Hebbian rule**: cues announce a
stimulus at a given time with a given probability, and the readout learns to fire at the right
time with an amplitude that follows the probability; when the timing changes it re-adapts, with
no reset. Here is that experiment at small scale with `spikeforge.plasticity.ErrorGatedReadout`:

1. a 400-neuron reservoir and three cues,
2. online learning over 180 trials, with an offline consolidation every 20 trials,
3. a swap of the timings and probabilities of two cues, and learning simply goes on.""",
    ),
    ("code", SETUP),  # noqa: F821
    (
        "md",
        r"""\
## The rule

A readout neuron reads the filtered spikes $x_j$ of the reservoir's excitatory neurons (minus a
slow baseline $\bar x_j$), $y = \sum_j w_j (x_j - \bar x_j)$, and learns online, every step:

$$\Delta w_j = \eta\, \underbrace{(s - y)}_{\text{error } M}\; \underbrace{G(t)}_{\text{attention}}\; \underbrace{e_j}_{\text{eligibility}},
\qquad \tau_e \dot e_j = -e_j + \tau_e (x_j - \bar x_j),$$

with $s$ the stimulus (a 25 ms Gaussian bump at its time when it comes, 0 when it is omitted) and
$G$ the attention gate, open from 100 ms after cue onset. Written out, $\eta G (s e_j - y e_j)$ is
Hebbian with the teacher and anti-Hebbian with the readout's own activity; $\Delta w = 0$ exactly
where $M = 0$ or $G = 0$. Online, the weights follow the latest outcomes: a hit pushes the readout
up, an omission down. Between trials an **offline consolidation** moves the weights to their mean
over the trials since the previous one (`rule.consolidate`), which averages the outcomes: the
amplitude becomes an estimate of the probability.""",
    ),
    (
        "md",
        """\
## The reservoir

The Izhikevich (2003) heterogeneous population (320 E, 80 I), all-to-all with half the published
coupling (so that activity is asynchronous), a background input of 5 N(0,1) (E) and 2 N(0,1) (I)
per ms, and for the whole trial a drive of 3 onto a random fifth of the neurons, different for
each cue. The background is frozen: the same on every trial after a given cue, so each cue starts
a reproducible trajectory, a clock the readout can read (with fresh noise on every trial, even at
1 % of the background, the trials of the fully coupled network decorrelated within about 200 ms:
there would be little timing left to learn). The reservoir does not
depend on the readout, so we simulate one trial per cue once.""",
    ),
    (
        "code",
        """\
import math
from spikeforge.neurons import Izhikevich
from spikeforge.neurons.izhikevich import izhikevich_step
from spikeforge.plasticity import ErrorGatedReadout

F64 = torch.float64
TRIAL, DT, TAU_PRE = 800, 4.0, 50.0        # ms: trial, readout step, presynaptic filter
CUES = ["A", "B", "C"]

def reservoir(n_cues, n=400, seed=0, cue_amp=3.0):
    g = torch.Generator().manual_seed(seed)
    n_e = int(0.8 * n)
    pop = Izhikevich.heterogeneous(n_e, n - n_e, generator=g, dt=1.0, integrator="izhikevich2003").double()
    s = torch.rand(n, n, generator=g, dtype=F64)          # [post, pre]
    s[:, :n_e] *= 0.25 * 1000 / n
    s[:, n_e:] *= -0.5 * 1000 / n
    cue_sets = (torch.rand(n_cues, n, generator=g, dtype=F64) < 0.2).to(F64)
    noise = torch.cat([torch.full((n_e,), 5.0), torch.full((n - n_e,), 2.0)]).to(F64)
    p = pop.params()
    st = pop.init_state((n_cues,), dtype=F64)
    st = st._replace(u=p.b * st.v)
    z = torch.zeros(n_cues, n, dtype=F64)
    out = torch.zeros(TRIAL, n_cues, n, dtype=torch.bool)
    for t in range(TRIAL):                                 # 1 ms steps, one batch element per cue
        x = noise * torch.randn(n_cues, n, generator=g, dtype=F64) + z @ s.T + cue_amp * cue_sets
        z, st = izhikevich_step(x, st, p, dt=1.0, integrator="izhikevich2003")
        out[t] = z > 0
    return out, n_e

raster, n_e = reservoir(len(CUES))
k = int(DT)
spikes = raster[:, :, :n_e].to(F64).reshape(TRIAL // k, k, len(CUES), n_e).sum(1)   # [steps, cue, n_e]
print(f"excitatory rate {raster[:, :, :n_e].double().mean().item() * 1000:.1f} Hz, "
      f"inhibitory {raster[:, :, n_e:].double().mean().item() * 1000:.1f} Hz")

fig, axes = plt.subplots(1, 3, figsize=(11, 3), sharey=True)
for c, ax in enumerate(axes):
    tt, ii = np.nonzero(raster[:, c, :].numpy())
    ax.plot(tt, ii, ",k")
    ax.axhline(n_e, color="r", lw=0.5)
    ax.set(title=f"cue {CUES[c]}", xlabel="time (ms)")
axes[0].set_ylabel("neuron (I above the red line)")
plt.tight_layout(); plt.show()""",
    ),
    (
        "md",
        """\
## Online learning with offline consolidation

The task: cue A announces a stimulus at 300 ms with probability 0.8, cue B one at 600 ms with
probability 0.3, cue C one at 450 ms with probability 0.55; a cue is drawn at random each trial.
The learning rate is set per step relative to the mean squared deviation of the filtered input
(`eta = 0.02`), and each trial's weights carry over to the next: no reset, ever.""",
    ),
    (
        "code",
        """\
steps = spikes.shape[0]
t = torch.arange(steps, dtype=F64) * DT
xf = torch.zeros(len(CUES), n_e, dtype=F64)
X = torch.zeros_like(spikes)                               # the filtered input, to read responses out
for i in range(steps):
    xf = xf * math.exp(-DT / TAU_PRE) + spikes[i]
    X[i] = xf
after = X[t >= 100]
msq = float(((after - after.mean((0, 1))) ** 2).sum(-1).mean())

rule = ErrorGatedReadout(tau_pre=TAU_PRE, tau_e=DT, lr=0.02 * (1 - math.exp(-1)) / msq,
                         tau_baseline=2000.0, dt=DT).double()
w = torch.zeros(1, n_e, dtype=F64)
state = rule.init_state((), n_e, 1, dtype=F64)
gate = (t >= 100).to(F64)
gen = torch.Generator().manual_seed(1)
log = {"cue": [], "hit": [], "resp": [], "consolidated": []}

def response(w, state):
    \"\"\"The readout over a trial after each cue, with the weights frozen: [cue, steps].\"\"\"
    return ((X - state.x_mean) @ w[0]).T.numpy()

def run(times, probs, n_trials, w, state, block=20):
    for _ in range(n_trials):
        c = int(torch.randint(0, len(CUES), (1,), generator=gen))
        hit = bool(torch.rand(1, generator=gen, dtype=F64) < probs[c])
        stim = torch.exp(-0.5 * ((t - times[c]) / 25.0) ** 2) * float(hit)
        for i in range(steps):                             # online, every 4 ms step
            y = rule.output(w, state)
            dw, state = rule.step(spikes[i, c], y, w, state, target=stim[i:i + 1], gate=gate[i])
            w = w + dw
        consolidate = len(log["cue"]) % block == block - 1
        if consolidate:                                    # offline, between trials
            dw, state = rule.consolidate(w, state)
            w = w + dw
        for key, value in zip(log, (c, hit, response(w, state), consolidate)):
            log[key].append(value)
    return w, state

TIMES1, PROBS1 = (300.0, 600.0, 450.0), (0.8, 0.3, 0.55)
N1 = 180
w, state = run(TIMES1, PROBS1, N1, w, state)

tt, mask = t.numpy(), t.numpy() >= 100
def peaks(resp):
    return tt[mask][resp[:, mask].argmax(1)], resp[:, mask].max(1)

R1 = np.mean(log["resp"][N1 - 10:N1], 0)                   # the readout over the last 10 trials
times1, amps1 = peaks(R1)
fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.5), gridspec_kw={"width_ratios": [2, 1]})
for c in range(len(CUES)):
    line, = ax.plot(tt, R1[c], label=f"cue {CUES[c]}: {TIMES1[c]:.0f} ms, p = {PROBS1[c]}")
    ax.axvline(TIMES1[c], color=line.get_color(), ls=":")
    ax.axhline(PROBS1[c], color=line.get_color(), ls="--", lw=0.7)
ax.axvspan(0, 100, color="0.9", label="gate closed")
ax.set(xlabel="time after cue onset (ms)", ylabel="readout", title="after 180 trials")
ax.legend(fontsize=8)
bx.plot(PROBS1, amps1, "o")
bx.plot([0, 1], [0, 1], "k:", lw=0.7)
bx.set(xlabel="stimulus probability", ylabel="peak amplitude", xlim=(0, 1), ylim=(0, 1), title="what")
plt.tight_layout(); plt.show()
print("peaks at", times1, "ms; amplitudes", np.round(amps1, 2),
      f"; correlation with p: {np.corrcoef(amps1, PROBS1)[0, 1]:.3f}")""",
    ),
    (
        "md",
        """\
The readout fires at the three cued times, and its amplitude is ordered by the probability. It
is not equal to it: each trial's outcome still moves the amplitudes by about 0.1, and 60 trials per
cue are not enough to converge; the offline consolidations keep the estimate from following only
the last few outcomes.

## A change of timing, without reset

Now cues A and B swap: A announces a stimulus at 600 ms with p = 0.3, B one at 300 ms with
p = 0.8. The same rule, state and weights go on for 120 trials.""",
    ),
    (
        "code",
        """\
TIMES2, PROBS2 = (600.0, 300.0, 450.0), (0.3, 0.8, 0.55)
N2 = 120
w, state = run(TIMES2, PROBS2, N2, w, state)

R = np.array(log["resp"])                                  # [trial, cue, steps]
at = lambda c, time_ms: R[:, c, np.abs(tt - time_ms).argmin()]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5), sharey=True)
for ax, c in zip(axes, (0, 1)):
    ax.plot(at(c, 300.0), label="readout at 300 ms")
    ax.plot(at(c, 600.0), label="readout at 600 ms")
    cons = np.flatnonzero(log["consolidated"])
    ax.plot(cons, np.full(cons.size, -0.15), "|k", ms=6, label="consolidation")
    ax.axvline(N1, color="r", ls="--", lw=1)
    ax.set(title=f"cue {CUES[c]}", xlabel="trial")
axes[0].set_ylabel("readout after the trial")
axes[0].legend(fontsize=8)
plt.tight_layout(); plt.show()

R2 = np.mean(log["resp"][-10:], 0)
times2, amps2 = peaks(R2)
print("after the swap: peaks at", times2, "ms; amplitudes", np.round(amps2, 2),
      f"; correlation with p: {np.corrcoef(amps2, PROBS2)[0, 1]:.3f}")

def right(resp, times, probs):
    tp, ap = peaks(resp)
    return np.all(np.abs(tp - np.array(times)) <= 50) and ap[int(np.argmax(probs))] > ap[int(np.argmin(probs))] + 0.2
ok = [right(np.mean(log["resp"][N1 + i:N1 + i + 10], 0), TIMES2, PROBS2) for i in range(N2 - 9)]
settled = next((i for i in range(len(ok)) if all(ok[i:])), len(ok))
print(f"right (peaks within 50 ms, the likelier stimulus higher) from trial {settled + 1} after the swap on")""",
    ),
    (
        "md",
        """\
After the swap the readout of cue B moves its response to 300 ms and grows it within about 20
trials; that of cue A takes longer to unlearn its old response (the anti-Hebbian term shrinks it
only as fast as it is wrong), so the pair is right from about 60 trials after the swap on (some 20
per cue), with no reset of weights or traces: the error-gated rule simply keeps learning. (The
paper contrasts this with FORCE, whose converged inverse correlation matrix needs an explicit
reset to relearn; FORCE is not run here.)

## Summary

* `ErrorGatedReadout` is the three-factor rule $\\Delta w = \\eta M G e$ with the error
  $M = s - y$, an attention gate $G$ and a presynaptic eligibility; `consolidate` is the offline
  phase. `tests/plasticity/test_what_when.py` checks the rule against a numpy transcription, the
  exact zeros at $M = 0$ or $G = 0$, and this experiment with two cues.
* Small scale: 400 neurons, 4 ms readout steps, 300 trials; the paper's reservoir is larger and its
  trials longer. Not shown: the near-orthogonal 'what' and 'when' weight subspaces of the paper,
  and FORCE itself.""",
    ),
]
