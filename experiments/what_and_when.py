"""What and when: an error-gated three-factor readout against FORCE on one reservoir (issue 15,
item 6; ../shared/papers.md section 6).

Claim (Yamada & Chao 2025, "Joint encoding of 'what' and 'when' predictions through
error-modulated plasticity in reservoir spiking networks", from its abstract): readouts of a
heterogeneous Izhikevich reservoir trained by an error-modulated, attention-gated three-factor
Hebbian rule (online learning of "when", offline consolidation of "what") fire at the cued times
with magnitudes proportional to the probabilities, re-adapt quickly when timing and probability
change, "an ability that global least-squares methods such as FORCE lack without explicit
resets", and their weights form near-orthogonal "what" and "when" subspaces. (Only the abstract
was available here, not the methods: the reservoir's noise, the FORCE set-up and the exact
definition of the "what" and "when" weights are ours, stated below.)

Reservoir (one per seed, the same for every arm): the Izhikevich (2003) heterogeneous population,
320 E and 80 I, all to all with half the published coupling (0.25 U(0,1) from E, -0.5 U(0,1) from
I, times 1000 / n), the published update at 1 ms. Each trial: 100 ms before the cue, then 800 ms
after it. Input per neuron and ms: 5 (E) or 2 (I) times ``sqrt(1 - f) xi_cue(t) + sqrt(f)
xi_trial(t)``, plus 3 onto a random fifth of the neurons (a different fifth per cue) after the
cue. ``xi_cue`` is a standard normal stream drawn once per cue (the cue's own time course, the
same on every presentation of the cue); ``xi_trial`` is drawn afresh on every trial (before the
cue, only fresh noise, so the state at cue onset differs from trial to trial). ``f = FRESH = 0.1``
of the noise variance is fresh in the main runs. Why not all of it: with ``f = 1`` (all noise
fresh) the best linear readout of this reservoir (ridge regression on held-out trials) finds no
timing left after about 100 ms; the sweep of ``f`` below (``noise_sweep``) measures it. The old
notebook froze all of the noise per cue (``f = 0``): no trial-to-trial variability at all.

Task: four cues, each announcing a stimulus (a Gaussian bump, sigma 25 ms) at its time with its
probability: phase 1 times (250, 400, 550, 700) ms, probabilities (0.8, 0.2, 0.6, 0.4); then, with
no pause and no reset, phase 2 swaps the cues in pairs (A <-> B, C <-> D). Cue and outcome of each
trial are drawn per seed, the same for every arm. The readout input is the excitatory spike count
per 10 ms bin, low-pass filtered (tau 50 ms) minus a slow baseline (tau 2 s), as computed by
``ErrorGatedReadout``'s traces; every arm reads this same input, learns only while the attention
gate is open (from 100 ms after the cue) and gets the same trials.

Arms:

* ``three_factor``: ``ErrorGatedReadout`` online every 10 ms step (dw = eta M G e, M = s - y), an
  offline consolidation every ``block`` trials (weights to their mean since the last one);
* ``force``: ``RLSReadout`` (recursive least squares, the FORCE rule, lambda = 1) every step, no
  reset;
* ``force_reset``: the same, with P reset to I / alpha at the swap (the explicit reset; it is told
  when the task changed, which the other arms are not);
* ``rls_forgetting``: ``RLSReadout`` with a forgetting factor lambda < 1 (old samples count less),
  no reset: the standard least-squares answer to a changing task, not in the paper's comparison.

Tuning, the same effort per arm: 6 settings each, on tuning seeds 100 and 101 (not reported): the
three-factor rule eta in {0.05, 0.15, 0.45} (times the input's mean squared deviation, as in
notebook 04) x block in {10, 40} trials; FORCE alpha in {0.1 ... 1e4} x (mean squared deviation /
n); RLS with forgetting lambda in {0.998 ... 0.99995} per gated step, alpha 100 (FORCE's pick
on the tuning seeds, fixed after FORCE was tuned); each arm takes the setting with the lowest
probe error over all trials of both phases. Probe error: after every trial, the readout (weights
frozen) over 8 held-out trials per cue (fresh noise, never trained on), averaged, against the
expected target p x bump, mean squared over the gated steps and the cues.

Measures per seed: the probe error curve; at the end of each phase the peak time and amplitude of
the probe response per cue (timing error; Pearson correlation of the 4 amplitudes with the 4
probabilities; slope and mean absolute error of amplitude against probability); after the swap,
the first trial from which every cue's peak stays within 50 ms of its new time (settling).
"What" and "when" weights of the three-factor rule, |cos(w_what, w_when)| read two ways (the
paper's definition was not available), beside the |cos| of two random directions in 320 dimensions
(about 0.045): (1) the abstract ties "when" to online learning and "what" to offline consolidation:
over each phase, w_when = the sum of the online changes, w_what = the sum of the consolidation
changes; (2) from the weights at the swap, two branches of 40 trials on the same activity, cues and
outcome draws: only the probabilities swapped (w_what = its weight change) or only the times
swapped (w_when).

Usage::

    PYTHONPATH=. python experiments/what_and_when.py experiments/results --seeds 5
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any, NamedTuple

import torch

from spikeforge.analysis import seed_summary
from spikeforge.neurons import Izhikevich
from spikeforge.neurons.izhikevich import izhikevich_step
from spikeforge.plasticity import ErrorGatedReadout, ReadoutState, RLSReadout

F64 = torch.float64
ARMS = ("three_factor", "force", "force_reset", "rls_forgetting")
PRE, TRIAL, DT = 100, 800, 10  # ms: before the cue, after it, readout step
TAU_PRE, TAU_BASELINE, SIGMA, GATE_FROM = 50.0, 2000.0, 25.0, 100.0  # ms
FRESH = 0.1  # fraction of the noise variance drawn afresh on every trial
N_PROBE = 8  # held-out probe trials per cue
N_BRANCH = 40  # trials of the what-only and when-only branches
TUNING_SEEDS = (100, 101)
TF_GRID = tuple((eta, block) for block in (10, 40) for eta in (0.05, 0.15, 0.45))
ALPHA_GRID = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4)
LAMBDA_GRID = (0.998, 0.999, 0.9995, 0.9998, 0.9999, 0.99995)  # per gated 10 ms step
SWEEP = (0.0, 0.1, 0.3, 1.0)


class Task(NamedTuple):
    times: tuple[float, ...]  # ms after the cue
    probs: tuple[float, ...]


PHASE1 = Task((250.0, 400.0, 550.0, 700.0), (0.8, 0.2, 0.6, 0.4))
PHASE2 = Task((400.0, 250.0, 700.0, 550.0), (0.2, 0.8, 0.4, 0.6))


class Config(NamedTuple):
    n: int = 400
    n1: int = 160  # trials in phase 1
    n2: int = 120  # trials after the swap
    fresh: float = FRESH


def steps_time() -> torch.Tensor:
    """Time of each readout step relative to cue onset, ms (the end of its 10 ms bin)."""
    return torch.arange(1, (PRE + TRIAL) // DT + 1, dtype=F64) * DT - PRE


# ------------------------------------------------------------------------------- the reservoir


def reservoir(
    seed: int, cues: torch.Tensor, trial_seed: int, *, n: int = 400, fresh: float = FRESH
) -> torch.Tensor:
    """Excitatory spike counts per 10 ms bin, ``[steps, trials, 0.8 n]`` (uint8), one trial per entry
    of ``cues`` (ints in 0..3). The network and each cue's own input stream come from ``seed``; the
    fresh noise of the trials from ``trial_seed``."""
    g = torch.Generator().manual_seed(seed)
    n_e = int(0.8 * n)
    pop = Izhikevich.heterogeneous(n_e, n - n_e, generator=g, dt=1.0, integrator="izhikevich2003")
    p = type(pop.params())(*[t.to(torch.float32) for t in pop.params()])
    s = torch.rand(n, n, generator=g, dtype=F64)  # [post, pre]
    s[:, :n_e] *= 0.25 * 1000 / n
    s[:, n_e:] *= -0.5 * 1000 / n
    s_t = s.T.to(torch.float32).contiguous()
    cue_sets = (torch.rand(4, n, generator=g, dtype=F64) < 0.2).to(torch.float32)
    cue_stream = torch.randn(TRIAL, 4, n, generator=g, dtype=torch.float32)
    scale = torch.cat([torch.full((n_e,), 5.0), torch.full((n - n_e,), 2.0)])
    gt = torch.Generator().manual_seed(trial_seed)
    b = cues.numel()
    st = pop.init_state((b,), dtype=torch.float32)
    st = st._replace(u=p.b * st.v)
    z = torch.zeros(b, n)
    drive = 3.0 * cue_sets[cues]
    a, c = math.sqrt(1.0 - fresh), math.sqrt(fresh)
    out = torch.zeros((PRE + TRIAL) // DT, b, n_e, dtype=torch.uint8)
    for t in range(PRE + TRIAL):
        xi = torch.randn(b, n, generator=gt)
        if t >= PRE:
            xi = a * cue_stream[t - PRE, cues] + c * xi
        x = scale * xi + z @ s_t + (drive if t >= PRE else 0.0)
        z, st = izhikevich_step(x, st, p, dt=1.0, integrator="izhikevich2003")
        out[t // DT] += (z[:, :n_e] > 0).to(torch.uint8)
    return out


class Data(NamedTuple):
    counts: torch.Tensor  # [steps, trials, B, n_e] uint8, training trials in order
    cues: torch.Tensor  # [trials, B]
    hits: torch.Tensor  # [trials, B] bool
    u: torch.Tensor  # [trials, B]: the uniform draws of the outcomes (hit: u < p of the trial's cue)
    probe: torch.Tensor  # [B, 4, steps, n_e] float64: filtered probe counts, averaged per cue
    msq: torch.Tensor  # [B]: mean squared deviation of the filtered input (the learning-rate unit)


def make_data(seeds: tuple[int, ...], cfg: Config) -> Data:
    """Trials, outcomes and reservoir activity for each seed (the same for every arm)."""
    counts, cues, hits, us, probes, msqs = [], [], [], [], [], []
    for seed in seeds:
        g = torch.Generator().manual_seed(10_000 + seed)
        n_tr = cfg.n1 + cfg.n2
        cue = torch.randint(0, 4, (n_tr,), generator=g)
        probs = torch.tensor([PHASE1.probs] * cfg.n1 + [PHASE2.probs] * cfg.n2, dtype=F64)
        u = torch.rand(n_tr, generator=g, dtype=F64)
        hit = u < probs.gather(1, cue[:, None])[:, 0]
        probe_cues = torch.arange(4).repeat_interleave(N_PROBE)
        act = reservoir(seed, torch.cat([cue, probe_cues]), 20_000 + seed, n=cfg.n, fresh=cfg.fresh)
        counts.append(act[:, :n_tr])
        xf = filtered(act[:, n_tr:].to(F64))  # [steps, 4 * N_PROBE, n_e]
        probes.append(xf.reshape(xf.shape[0], 4, N_PROBE, -1).mean(2).transpose(0, 1))
        after = filtered(act[:, :n_tr].to(F64))[steps_time() >= GATE_FROM]
        msqs.append(float(((after - after.mean((0, 1))) ** 2).sum(-1).mean()))
        cues.append(cue)
        hits.append(hit)
        us.append(u)
    return Data(
        torch.stack(counts, 2),
        torch.stack(cues, 1),
        torch.stack(hits, 1),
        torch.stack(us, 1),
        torch.stack(probes),
        torch.tensor(msqs),
    )


def filtered(counts: torch.Tensor) -> torch.Tensor:
    """Low-pass filter (tau 50 ms) of ``[steps, ...]`` counts within each trial, from 0."""
    out = torch.zeros_like(counts)
    x = torch.zeros_like(counts[0])
    for k in range(counts.shape[0]):
        x = x * math.exp(-DT / TAU_PRE) + counts[k]
        out[k] = x
    return out


def expected(task: Task) -> torch.Tensor:
    """The expected target p x bump per cue, ``[4, steps]``."""
    t = steps_time()
    return torch.stack([p * torch.exp(-0.5 * ((t - tc) / SIGMA) ** 2) for tc, p in zip(*task, strict=True)])


# ----------------------------------------------------------------------------------- learning


def _setup(data: Data) -> tuple[torch.Tensor, torch.Tensor, ErrorGatedReadout, ReadoutState]:
    """Gate, target bumps per phase and cue, and the readout traces shared by every arm."""
    nb, n_e = data.counts.shape[2], data.counts.shape[3]
    t = steps_time()
    gate = (t >= GATE_FROM).to(F64)
    times = torch.tensor([PHASE1.times, PHASE2.times], dtype=F64)[..., None]  # [phase, cue, 1]
    bump = torch.exp(-0.5 * ((t - times) / SIGMA) ** 2)  # [phase, cue, steps]
    traces = ErrorGatedReadout(
        tau_pre=TAU_PRE, tau_e=DT, lr=1.0, tau_baseline=TAU_BASELINE, dt=DT, batch_reduce="none"
    ).double()
    return gate, bump, traces, traces.init_state((nb,), n_e, 1, dtype=F64)


def learn(
    arm: str, data: Data, cfg: Config, settings: list[tuple[float, ...]], *, n_branch: int = 0
) -> dict[str, Any]:
    """Run ``"three_factor"`` (settings ``(eta, block)``) or ``"force"`` (``(alpha,)``, both FORCE
    arms, see :func:`force`) over all trials, one learner per batch element (seed and setting).

    Returns per arm the probe responses after every trial ``[trials, B, 4, steps]`` and, for the
    three-factor arm, the summed online and offline weight changes per phase ``[2, B, n_e]`` and,
    with ``n_branch``, the weight changes ``[B, n_e]`` of two branches run from the weights at the
    swap over the next ``n_branch`` trials (same activity, cues and outcome draws): ``"what"``,
    only the probabilities swapped; ``"when"``, only the times swapped."""
    if arm == "force":
        return force(data, cfg, [s[0] for s in settings])
    if arm == "rls_forgetting":
        out = force(data, cfg, [s[0] for s in settings], forgetting=[s[1] for s in settings])
        return {"rls_forgetting": out["force"]}
    steps, n_tr, nb, n_e = data.counts.shape
    gate, bump, rule, state = _setup(data)
    lr = torch.tensor([s[0] for s in settings], dtype=F64) * (1 - math.exp(-1.0)) / data.msq
    block = torch.tensor([int(s[1]) for s in settings])
    online = torch.zeros(2, nb, n_e, dtype=F64)
    offline = torch.zeros(2, nb, n_e, dtype=F64)

    def trial(i: int, w: torch.Tensor, state: ReadoutState, times: int, hit: torch.Tensor, phase: int | None):
        """Trial ``i`` (its reservoir activity and cue) with the stimulus times of phase ``times``
        and the outcomes ``hit``; online steps, then the consolidation if one is due."""
        stim = bump[times, data.cues[i]] * hit.to(F64)[:, None]  # [B, steps]
        for k in range(steps):
            y = rule.output(w, state)  # [B, 1]
            m = (lr * (stim[:, k] - y[:, 0]))[:, None]  # the error, times each learner's rate
            dw, state = rule.step(data.counts[k, i].to(F64), y, w, state, modulator=m, gate=gate[k])
            if phase is not None:
                online[phase] += dw[:, 0]
            w = w + dw
        due = ((i + 1) % block) == 0  # offline consolidation between trials
        if bool(due.any()):
            dw, cleared = rule.consolidate(w, state)
            dw = dw * due[:, None, None].to(F64)
            w = w + dw
            if phase is not None:
                offline[phase] += dw[:, 0]
            d = due[:, None, None]
            state = state._replace(
                w_sum=torch.where(d, cleared.w_sum, state.w_sum),
                g_sum=torch.where(d, cleared.g_sum, state.g_sum),
            )
        return w, state

    w = torch.zeros(nb, 1, n_e, dtype=F64)
    responses = torch.zeros(n_tr, nb, 4, steps, dtype=torch.float32)
    branches: dict[str, torch.Tensor] = {}
    for i in range(n_tr):
        phase = int(i >= cfg.n1)
        if i == cfg.n1 and n_branch:  # the what / when branches, from the weights at the swap
            for name, times, probs in (("what", 0, PHASE2.probs), ("when", 1, PHASE1.probs)):
                wb, sb = w, state
                p = torch.tensor(probs, dtype=F64)
                for j in range(cfg.n1, min(cfg.n1 + n_branch, n_tr)):
                    wb, sb = trial(j, wb, sb, times, data.u[j] < p[data.cues[j]], None)
                branches[name] = (wb - w)[:, 0]
        w, state = trial(i, w, state, phase, data.hits[i], phase)
        responses[i] = _probe_response(data.probe, state.x_mean, w[:, 0])
    return {
        "three_factor": {"responses": responses, "online": online, "offline": offline, "branches": branches}
    }


def _probe_response(probe: torch.Tensor, x_mean: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The readout over the probe trials, ``[B, 4, steps]``: the filtered probe input minus the
    current baseline, times the weights ``[B, n_e]``."""
    return torch.einsum("bcsn,bn->bcs", probe - x_mean[:, None, None, :], w).to(torch.float32)


def force(
    data: Data,
    cfg: Config,
    alphas: list[float],
    *,
    forgetting: list[float] | None = None,
    check_trials: int = 10,
) -> dict[str, Any]:
    """Both FORCE arms (``RLSReadout``, lambda = 1 unless ``forgetting`` gives one per learner)
    over all trials: ``force`` never resets; in ``force_reset`` P is set back to I / alpha at the
    swap, the weights kept.

    The weights after each trial are computed from RLS's closed form, which ``RLSReadout``
    equals exactly (``tests/plasticity/test_rls.py``): after the gated samples (x_t, s_t) seen
    since the start (or since the reset, from the weights w_r then),
    ``w = argmin sum_t lambda^(N-t) (s_t - w x_t)^2 + lambda^N alpha |w - w_r|^2``; stepping
    RLS through a 320 x 320 matrix every 10 ms for every learner costs 30 times more. For the
    first learner the ``RLSReadout`` rule itself is also run over the first ``check_trials``
    trials, and the largest relative difference of its weights from the closed form is returned
    (``rls_check``).
    ``alphas`` are in units of the input's mean squared deviation / n_e."""
    steps, n_tr, nb, n_e = data.counts.shape
    gate, bump, traces, tstate = _setup(data)
    gated = gate > 0
    alpha = torch.tensor(alphas, dtype=F64) * data.msq / n_e  # [B]
    lam = torch.tensor(forgetting if forgetting is not None else [1.0] * nb, dtype=F64)  # [B]
    n_gated = int(gated.sum())
    sample_w = lam[:, None] ** torch.arange(n_gated - 1, -1, -1, dtype=F64)  # [B, K]: lambda^(K-1-k)
    decay_trial = lam**n_gated
    reg, reg2 = alpha.clone(), alpha.clone()  # lambda^N alpha, since the start and since the swap
    eye = torch.eye(n_e, dtype=F64)
    corr = torch.zeros(nb, n_e, n_e, dtype=F64)  # sum of x x^T over the gated samples
    cross = torch.zeros(nb, n_e, dtype=F64)  # sum of x s
    corr2, cross2 = torch.zeros_like(corr), torch.zeros_like(cross)  # since the swap
    w = torch.zeros(nb, n_e, dtype=F64)
    w_swap = w
    zero_w = torch.zeros(nb, 1, n_e, dtype=F64)
    rls = RLSReadout(alpha=float(alpha[0]), forgetting=float(lam[0]))
    w_rls, p_rls = torch.zeros(1, n_e, dtype=F64), None
    check = 0.0
    resp = {a: torch.zeros(n_tr, nb, 4, steps, dtype=torch.float32) for a in ("force", "force_reset")}
    for i in range(n_tr):
        phase = int(i >= cfg.n1)
        stim = bump[phase, data.cues[i]] * data.hits[i].to(F64)[:, None]  # [B, steps]
        xs = []
        for k in range(steps):
            _, tstate = traces.step(data.counts[k, i].to(F64), zero_w[:, :, 0], zero_w, tstate)
            if gated[k]:
                x = tstate.x_pre - tstate.x_mean
                xs.append(x)
                if i < check_trials:  # the rule itself, first learner
                    y = rls.output(w_rls, x[0])
                    dw, p_rls = rls.step(x[0], y, w_rls, p_rls, target=stim[0, k : k + 1])
                    w_rls = w_rls + dw
        x_tr = torch.stack(xs, 1)  # [B, K, n_e]
        xw = x_tr * sample_w[..., None]
        c_tr = xw.transpose(1, 2) @ x_tr
        d_tr = (xw * stim[:, gated, None]).sum(1)
        dk = decay_trial[:, None, None]
        corr, cross, reg = dk * corr + c_tr, dk[:, 0] * cross + d_tr, reg * decay_trial
        w = torch.linalg.solve(corr + reg[:, None, None] * eye, cross)
        if phase:
            corr2, cross2, reg2 = dk * corr2 + c_tr, dk[:, 0] * cross2 + d_tr, reg2 * decay_trial
            w_reset = torch.linalg.solve(corr2 + reg2[:, None, None] * eye, cross2 + reg2[:, None] * w_swap)
        else:
            w_swap = w_reset = w
        if i == check_trials - 1:
            check = float((w_rls[0] - w[0]).abs().max() / w[0].abs().max())
        resp["force"][i] = _probe_response(data.probe, tstate.x_mean, w)
        resp["force_reset"][i] = _probe_response(data.probe, tstate.x_mean, w_reset)
    return {
        "force": {"responses": resp["force"], "rls_check": check},
        "force_reset": {"responses": resp["force_reset"]},
    }


# ----------------------------------------------------------------------------------- measures


def probe_error(responses: torch.Tensor, cfg: Config) -> torch.Tensor:
    """Mean squared error of the probe responses against the expected target, ``[trials, B]``."""
    gated = steps_time() >= GATE_FROM
    target = torch.stack([expected(PHASE1)] * cfg.n1 + [expected(PHASE2)] * cfg.n2)  # [trials, 4, steps]
    err = (responses.to(F64) - target[:, None]) ** 2
    return err[..., gated].mean((-1, -2))


def peaks(resp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Peak time (ms) and amplitude of ``[..., steps]`` responses within the gated window."""
    t = steps_time()
    gated = t >= GATE_FROM
    r = resp[..., gated].to(F64)
    amp, k = r.max(-1)
    return t[gated][k], amp


def snapshot(resp: torch.Tensor, task: Task) -> dict[str, Any]:
    """Timing and amplitude of one learner's probe response ``[4, steps]`` against ``task``."""
    tp, amp = peaks(resp)
    p = torch.tensor(task.probs, dtype=F64)
    err = (tp - torch.tensor(task.times, dtype=F64)).abs()
    pc, ac = p - p.mean(), amp - amp.mean()
    corr = float((pc * ac).sum() / (pc.norm() * ac.norm() + 1e-300))
    return {
        "peak_ms": tp.tolist(),
        "amp": amp.tolist(),
        "max_timing_error_ms": float(err.max()),
        "corr": corr,
        "slope": float((pc * ac).sum() / (pc * pc).sum()),
        "mae": float((amp - p).abs().mean()),
        "order_right": bool(torch.equal(amp.argsort(), p.argsort())),
    }


WINDOW = 10  # trials: responses are read as the mean over the last 10 trials (every arm)


def settle_trial(responses: torch.Tensor, cfg: Config, b: int) -> int:
    """Trials after the swap until the readout, averaged over the last 10 trials, has every cue's
    peak within 50 ms of its new time and keeps it to the end; ``n2 + 1`` if never."""
    after = responses[cfg.n1 :, b].to(F64)  # [n2, 4, steps]
    windows = after.unfold(0, WINDOW, 1).mean(-1)  # [n2 - 9, 4, steps]
    tp, _ = peaks(windows)
    ok = ((tp - torch.tensor(PHASE2.times, dtype=F64)).abs() <= 50.0).all(-1)
    if not bool(ok[-1]):
        return cfg.n2 + 1
    bad = torch.nonzero(~ok)
    return WINDOW if bad.numel() == 0 else int(bad.max()) + 1 + WINDOW


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum() / (a.norm() * b.norm() + 1e-300))


# ------------------------------------------------------------------------------ tuning and arms


def settings_of(arm: str) -> list[tuple[float, ...]]:
    if arm == "three_factor":
        return [tuple(s) for s in TF_GRID]
    if arm == "rls_forgetting":
        return [(100.0, lam) for lam in LAMBDA_GRID]
    return [(a,) for a in ALPHA_GRID]


def tune(data: Data, cfg: Config, n_seeds: int) -> dict[str, Any]:
    """Mean probe error over all trials for each arm's settings on the tuning seeds' data."""
    out: dict[str, Any] = {}
    for learner in ("three_factor", "force", "rls_forgetting"):
        grid = settings_of(learner)
        # batch element b = (setting, seed): the data repeated once per setting
        rep = Data(
            data.counts.repeat(1, 1, len(grid), 1),
            data.cues.repeat(1, len(grid)),
            data.hits.repeat(1, len(grid)),
            data.u.repeat(1, len(grid)),
            data.probe.repeat(len(grid), 1, 1, 1),
            data.msq.repeat(len(grid)),
        )
        settings = [s for s in grid for _ in range(n_seeds)]
        for arm, run in learn(learner, rep, cfg, settings).items():
            err = probe_error(run["responses"], cfg).mean(0).reshape(len(grid), n_seeds)
            scores = err.mean(1).tolist()
            out[arm] = {
                "settings": [list(s) for s in grid],
                "probe_error": scores,
                "best": list(grid[int(torch.tensor(scores).argmin())]),
            }
    return out


def summarise(arm: str, run: dict[str, Any], cfg: Config, seeds: tuple[int, ...]) -> dict[str, Any]:
    resp = run["responses"]
    err = probe_error(resp, cfg)  # [trials, B]
    end1 = resp[cfg.n1 - WINDOW : cfg.n1].to(F64).mean(0)  # [B, 4, steps]
    end2 = resp[-WINDOW:].to(F64).mean(0)
    snaps = {
        "phase1": [snapshot(end1[b], PHASE1) for b in range(len(seeds))],
        "phase2": [snapshot(end2[b], PHASE2) for b in range(len(seeds))],
    }
    sd = err.std(1).tolist() if len(seeds) > 1 else [0.0] * err.shape[0]
    res: dict[str, Any] = {
        "probe_error_curve": {"mean": err.mean(1).tolist(), "sd": sd},
        "error_end_phase1": seed_summary(err[cfg.n1 - WINDOW : cfg.n1].mean(0).tolist()),
        "error_end_phase2": seed_summary(err[-WINDOW:].mean(0).tolist()),
        "error_first20_after_swap": seed_summary(err[cfg.n1 : cfg.n1 + 20].mean(0).tolist()),
        "settle_trial": seed_summary([float(settle_trial(resp, cfg, b)) for b in range(len(seeds))]),
        "snapshots": snaps,
    }
    for ph in ("phase1", "phase2"):
        for key in ("corr", "slope", "mae", "max_timing_error_ms"):
            res[f"{key}_{ph}"] = seed_summary([s[key] for s in snaps[ph]])
        res[f"order_right_{ph}"] = sum(s["order_right"] for s in snaps[ph])
    if arm == "three_factor":
        signed = {
            ph: [cosine(run["offline"][i, b], run["online"][i, b]) for b in range(len(seeds))]
            for i, ph in enumerate(("phase1", "phase2"))
        }
        res["cos_what_when"] = {ph: seed_summary([abs(c) for c in cs]) for ph, cs in signed.items()}
        res["cos_what_when_signed"] = signed
        br = run.get("branches") or {}
        if br:
            cb = [cosine(br["what"][b], br["when"][b]) for b in range(len(seeds))]
            res["cos_what_when_branches"] = seed_summary([abs(c) for c in cb])
            res["cos_what_when_branches_signed"] = cb
    # the first seed's readout (mean of the last 10 trials) at the end of each phase, for the figure
    res["example"] = {"phase1": end1[0].tolist(), "phase2": end2[0].tolist()}
    return res


# ----------------------------------------------------------------------------- the noise sweep


def ridge_bound(
    seed: int, fresh: float, *, n: int = 400, n_trials: int = 160, lam: float = 100.0
) -> dict[str, float]:
    """The best linear readout (ridge regression with a bias, on the filtered excitatory counts) of
    the expected target p x bump, fitted on half the trials and tested on the other half: the
    timing information the reservoir leaves at a fraction ``fresh`` of fresh noise."""
    cues = torch.arange(n_trials) % 4
    x = filtered(reservoir(seed, cues, 30_000 + seed, n=n, fresh=fresh).to(F64))  # [steps, trials, n_e]
    gated = steps_time() >= GATE_FROM
    target = expected(PHASE1)[cues].T  # [steps, trials]
    xa = torch.cat([x, torch.ones_like(x[..., :1])], -1)[gated]
    train = torch.arange(n_trials) < n_trials // 2
    a = xa[:, train].reshape(-1, xa.shape[-1])
    w = torch.linalg.solve(
        a.T @ a + lam * torch.eye(a.shape[1], dtype=F64), a.T @ target[gated][:, train].reshape(-1)
    )
    pred = xa[:, ~train] @ w  # [gated steps, test trials]
    tgt = target[gated][:, ~train]
    r2 = 1.0 - float(((pred - tgt) ** 2).mean() / ((tgt - tgt.mean()) ** 2).mean())
    full = torch.zeros(len(gated), 4, dtype=F64)
    for c in range(4):
        full[gated, c] = pred[:, cues[~train] == c].mean(1)
    snap = snapshot(full.T, PHASE1)
    return {"r2": r2, "max_timing_error_ms": snap["max_timing_error_ms"], "corr": snap["corr"]}


def noise_sweep(seeds: tuple[int, ...], n: int = 400, n_trials: int = 96) -> dict[str, Any]:
    rows = {str(f): [ridge_bound(s, f, n=n, n_trials=n_trials) for s in seeds] for f in SWEEP}
    return {
        f: {key: seed_summary([r[key] for r in rs]) for key in ("r2", "max_timing_error_ms", "corr")}
        for f, rs in rows.items()
    }


# ------------------------------------------------------------------------------------- main


def main(
    out: Path | None,
    seeds: int = 5,
    *,
    cfg: Config | None = None,
    tuning: bool = True,
    sweep_seeds: int = 3,
    figure: bool = True,
) -> dict[str, Any]:
    t0 = time.time()
    cfg = cfg or Config()
    torch.set_num_threads(1)
    reported = tuple(range(seeds))
    res: dict[str, Any] = {
        "config": {
            "seeds": list(reported),
            "tuning_seeds": list(TUNING_SEEDS) if tuning else [],
            "n": cfg.n,
            "trials_phase1": cfg.n1,
            "trials_phase2": cfg.n2,
            "fresh": cfg.fresh,
            "dt_ms": DT,
            "phase1": PHASE1._asdict(),
            "phase2": PHASE2._asdict(),
            "probe_trials_per_cue": N_PROBE,
        }
    }
    if tuning:
        res["tuning"] = tune(make_data(TUNING_SEEDS, cfg), cfg, len(TUNING_SEEDS))
        best = {a: tuple(res["tuning"][a]["best"]) for a in ARMS}
    else:
        best = {
            "three_factor": (0.05, 20.0),
            "force": (100.0,),
            "force_reset": (100.0,),
            "rls_forgetting": (100.0, 0.9995),
        }
    res["settings"] = {a: list(best[a]) for a in ARMS}
    data = make_data(reported, cfg)
    runs = learn("three_factor", data, cfg, [best["three_factor"]] * seeds, n_branch=N_BRANCH)
    forced = learn("force", data, cfg, [best["force"]] * seeds)
    if best["force_reset"] != best["force"]:
        forced["force_reset"] = learn("force", data, cfg, [best["force_reset"]] * seeds)["force_reset"]
    runs.update(forced)
    runs.update(learn("rls_forgetting", data, cfg, [best["rls_forgetting"]] * seeds))
    res["arms"] = {a: summarise(a, runs[a], cfg, reported) for a in ARMS}
    res["rls_check_max_rel_diff"] = runs["force"]["rls_check"]
    res["chance_abs_cos"] = math.sqrt(2.0 / (math.pi * int(0.8 * cfg.n)))
    if sweep_seeds:
        res["noise_sweep"] = noise_sweep(tuple(range(sweep_seeds)), n=cfg.n)
    res["seconds"] = time.time() - t0
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "what_and_when.json").write_text(json.dumps(res, indent=1))
        if figure:
            figure_of(res, out / "what_and_when.png")
    return res


# ------------------------------------------------------------------------------------ figure

NAMES = {
    "three_factor": "three-factor (ErrorGatedReadout)",
    "force": "FORCE, no reset",
    "force_reset": "FORCE, P reset at swap",
    "rls_forgetting": "RLS with forgetting, no reset",
}
SHORT = {
    "three_factor": "three-factor",
    "force": "FORCE, no reset",
    "force_reset": "FORCE, reset",
    "rls_forgetting": "RLS forgetting, no reset",
}


def figure_of(res: dict[str, Any], path: Path | None = None) -> Any:
    """The experiment's figure from its JSON dict; saved to ``path`` (or returned). Every title is
    written from the numbers it shows."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = res["config"]
    n1, n = cfg["trials_phase1"], len(cfg["seeds"])
    arms = res["arms"]
    fig, ax = plt.subplots(2, 3, figsize=(17, 9.5))
    # (a) probe error over trials
    a = ax[0, 0]
    for i, arm in enumerate(ARMS):
        c = arms[arm]["probe_error_curve"]
        m, sd = torch.tensor(c["mean"]), torch.tensor(c["sd"])
        x = torch.arange(1, len(m) + 1)
        a.plot(x, m, color=f"C{i}", label=NAMES[arm], lw=1)
        a.fill_between(x, m - sd, m + sd, color=f"C{i}", alpha=0.2)
    a.axvline(n1 + 0.5, color="k", ls="--", lw=0.8)
    a.set(xlabel="trial (swap at the dashed line)", ylabel="probe error (mean squared)", yscale="log")
    e = {arm: arms[arm]["error_first20_after_swap"]["mean"] for arm in ARMS}
    items = [f"{SHORT[k]} {v:.4f}" for k, v in e.items()]
    a.set_title(
        f"{n} seeds, mean ± sd; mean over the first 20 trials after the swap:\n"
        + ", ".join(items[:2])
        + "\n"
        + ", ".join(items[2:]),
        fontsize=8,
    )
    a.legend(fontsize=7)
    # (b) settling after the swap
    a = ax[0, 1]
    never = cfg["trials_phase2"] + 1
    parts = []
    for i, arm in enumerate(ARMS):
        per = arms[arm]["settle_trial"]["per_seed"]
        a.scatter([i] * n, per, color=f"C{i}", s=25, zorder=3)
        done = sorted(int(v) for v in per if v < never)
        parts.append(
            f"{SHORT[arm]} {len(done)}/{n}" + (f" (trials {', '.join(map(str, done))})" if done else "")
        )
    a.axhline(never, color="0.5", ls=":", label=f"not within {cfg['trials_phase2']} trials")
    a.set_xticks(range(len(ARMS)), [SHORT[x].replace(", ", "\n") for x in ARMS], fontsize=7)
    a.set_xlim(-0.5, len(ARMS) - 0.5)
    a.set_ylim(0, never + 8)
    a.set_ylabel("trials after the swap until every peak\nstays within 50 ms (10-trial mean)")
    a.set_title("settled within the run:\n" + "; ".join(parts[:2]) + "\n" + "; ".join(parts[2:]), fontsize=8)
    a.legend(fontsize=7, loc="lower left")
    # (c) amplitude against probability
    a = ax[0, 2]
    for i, arm in enumerate(ARMS):
        for ph, mk in (("phase1", "o"), ("phase2", "s")):
            task = cfg[ph]
            for snap in arms[arm]["snapshots"][ph]:
                a.scatter(task["probs"], snap["amp"], color=f"C{i}", marker=mk, s=10, alpha=0.6)
    a.plot([0, 1], [0, 1], "k:", lw=0.8)
    a.set(xlabel="stimulus probability (o: phase 1, s: after the swap)", ylabel="peak amplitude")
    a.set_title(
        "corr(amplitude, p) and slope, before / after the swap:\n"
        + "\n".join(
            f"{SHORT[x]}: {arms[x]['corr_phase1']['mean']:.2f} / {arms[x]['corr_phase2']['mean']:.2f}, "
            f"slope {arms[x]['slope_phase1']['mean']:.2f} / {arms[x]['slope_phase2']['mean']:.2f}"
            for x in ARMS
        ),
        fontsize=7,
    )
    # (d) example responses, first seed, three-factor and FORCE-reset after the swap
    a = ax[1, 0]
    t = steps_time().tolist()
    for c in range(4):
        a.plot(
            t, arms["three_factor"]["example"]["phase2"][c], color=f"C{c}", lw=1.2, label=f"cue {'ABCD'[c]}"
        )
        a.plot(t, arms["force"]["example"]["phase2"][c], color=f"C{c}", lw=0.8, ls="--")
        a.plot(t, [v.item() for v in expected(Task(**cfg["phase2"]))[c]], color=f"C{c}", lw=0.6, ls=":")
    a.set(xlabel="time after the cue (ms)", ylabel="readout (probe mean)")
    a.set_title(
        "seed 0, last 10 trials: solid three-factor, dashed FORCE no reset,\ndotted the expected target",
        fontsize=8,
    )
    a.legend(fontsize=7)
    # (e) |cos(w_what, w_when)|
    a = ax[1, 1]
    tf = arms["three_factor"]
    cw, cb = tf["cos_what_when"], tf.get("cos_what_when_branches")
    cols = [cw["phase1"], cw["phase2"]] + ([cb] if cb else [])
    for j, st in enumerate(cols):
        a.scatter([j] * n, st["per_seed"], color="C0")
    a.axhline(res["chance_abs_cos"], color="0.5", ls=":", label="two random directions")
    a.axhline(0.2, color="r", ls="--", lw=0.8, label="paper's target (< 0.2)")
    labels = ["offline vs online\nchanges, phase 1", "offline vs online\nchanges, after swap"]
    a.set_xticks(
        range(len(cols)), labels + (["p-only vs time-only\nbranch changes"] if cb else []), fontsize=7
    )
    a.set_xlim(-0.5, len(cols) - 0.5)
    a.set_ylim(0, 1.02)
    a.set_ylabel("|cos(w_what, w_when)|, three-factor rule")
    a.set_title(
        "two readings of 'what' and 'when' weights: |cos| "
        + " / ".join(f"{st['mean']:.2f} ± {st['sd']:.2f}" for st in cols),
        fontsize=8,
    )
    a.legend(fontsize=7)
    # (f) the noise sweep
    a = ax[1, 2]
    if "noise_sweep" in res:
        sw = res["noise_sweep"]
        fs = [float(f) for f in sw]
        r2 = [sw[f]["r2"]["mean"] for f in sw]
        a.errorbar(fs, r2, yerr=[sw[f]["r2"]["sd"] for f in sw], marker="o", capsize=3)
        a.set(
            xlabel="fraction of the noise variance fresh on every trial",
            ylabel="held-out R² of the best linear readout",
        )
        a.axvline(cfg["fresh"], color="0.5", ls=":")
        a.set_title(
            "ridge readout (timing information left): R² "
            + ", ".join(f"{f:g}: {v:.2f}" for f, v in zip(fs, r2, strict=True)),
            fontsize=8,
        )
    fig.tight_layout()
    if path is None:
        return fig
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", nargs="?", default="out/", type=Path, help="folder for the JSON and the figure")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--no-tuning", action="store_true", help="fixed settings, no grid search")
    ap.add_argument("--sweep-seeds", type=int, default=3)
    args = ap.parse_args()
    r = main(args.out, args.seeds, tuning=not args.no_tuning, sweep_seeds=args.sweep_seeds)
    print("settings:", r["settings"])
    for arm in ARMS:
        s = r["arms"][arm]
        print(
            f"{arm:13s} err1 {s['error_end_phase1']['mean']:.4f} err2 {s['error_end_phase2']['mean']:.4f} "
            f"after-swap {s['error_first20_after_swap']['mean']:.4f} settle {s['settle_trial']['per_seed']} "
            f"corr {s['corr_phase1']['mean']:.2f}/{s['corr_phase2']['mean']:.2f} "
            f"slope {s['slope_phase1']['mean']:.2f}/{s['slope_phase2']['mean']:.2f} "
            f"order {s['order_right_phase1']}/{s['order_right_phase2']}"
        )
    print("cos:", json.dumps(r["arms"]["three_factor"]["cos_what_when_signed"]))
    print(f"{r['seconds']:.0f} s")
