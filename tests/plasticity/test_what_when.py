"""The error-modulated, attention-gated readout (``ErrorGatedReadout``) and the 'what and when'
experiment at small scale (Yamada & Chao 2025; papers.md section 6).

The rule is checked against a direct numpy transcription of its equations, for exact zeros when
the error or the gate is zero, and for the consolidation average. The experiment: a heterogeneous
Izhikevich reservoir (320 E, 80 I; Izhikevich 2003 parameters, weaker coupling) gets a background
input that is the same on every trial (frozen noise) and, for the whole trial, a cue-specific drive
onto a random fifth of its neurons. Cue A announces a stimulus at 300 ms with probability 0.8, cue
B one at 600 ms with probability 0.3. A rate readout of the filtered excitatory spikes learns
online, every 4 ms step, from the error (stimulus minus readout) gated by attention (open from
100 ms after cue onset), with an offline consolidation every 20 trials. Then timings and
probabilities swap, and learning simply goes on (no reset of weights or traces).

The reservoir does not depend on the readout (no feedback), so its activity for each cue is
computed once; the readout then runs online over the trials.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pytest
import torch

from spikeforge.errors import ParameterError, ShapeError
from spikeforge.neurons import Izhikevich
from spikeforge.neurons.izhikevich import izhikevich_step
from spikeforge.plasticity import ErrorGatedReadout, ReadoutState

F64 = torch.float64


# ----------------------------------------------------------------------------------- the rule


def numpy_reference(pre, err, gate, w, *, dt, tau_pre, tau_e, tau_b, lr):
    """The documented equations in numpy, one sample, weights applied each step."""
    n_pre = pre.shape[1]
    x = np.zeros(n_pre)
    xm = np.zeros(n_pre)
    e = np.zeros(n_pre)
    w = w.copy()
    w_sum = np.zeros_like(w)
    g_sum = np.zeros((w.shape[0], 1))
    for t in range(pre.shape[0]):
        x = x * math.exp(-dt / tau_pre) + pre[t]
        xm = xm + (1 - math.exp(-dt / tau_b)) * (x - xm)
        e = e * math.exp(-dt / tau_e) + (x - xm)
        dw = lr * (err[t] * gate[t])[:, None] * e[None, :]
        w_sum += gate[t][:, None] * w
        g_sum += gate[t][:, None]
        w = w + dw
    return w, w_sum, g_sum


def test_step_equals_numpy_transcription(gen):
    steps, n_pre, n_post, dt = 300, 7, 3, 2.0
    kw = dict(tau_pre=30.0, tau_e=10.0, lr=0.01)
    rule = ErrorGatedReadout(**kw, tau_baseline=500.0, dt=dt).double()
    pre = (torch.rand(steps, n_pre, generator=gen, dtype=F64) < 0.1).to(F64)
    err = torch.randn(steps, n_post, generator=gen, dtype=F64)
    gate = (torch.rand(steps, n_post, generator=gen, dtype=F64) < 0.7).to(F64)
    w0 = torch.randn(n_post, n_pre, generator=gen, dtype=F64)
    w, state = w0.clone(), None
    for t in range(steps):
        dw, state = rule.step(
            pre[t], torch.zeros(n_post, dtype=F64), w, state, modulator=err[t], gate=gate[t]
        )
        w = w + dw
    ref_w, ref_ws, ref_gs = numpy_reference(
        pre.numpy(), err.numpy(), gate.numpy(), w0.numpy(), dt=dt, tau_b=500.0, **kw
    )
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(state.w_sum.numpy(), ref_ws, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(state.g_sum.numpy(), ref_gs, rtol=0, atol=0)


def test_target_gives_error_target_minus_post(gen):
    rule = ErrorGatedReadout(lr=0.05, dt=1.0).double()
    pre = (torch.rand(50, 2, 6, generator=gen, dtype=F64) < 0.2).to(F64)
    post = torch.rand(50, 2, 4, generator=gen, dtype=F64)
    target = torch.rand(50, 2, 4, generator=gen, dtype=F64)
    w = torch.zeros(4, 6, dtype=F64)
    s1 = s2 = None
    for t in range(50):
        dw1, s1 = rule.step(pre[t], post[t], w, s1, target=target[t])
        dw2, s2 = rule.step(pre[t], post[t], w, s2, modulator=target[t] - post[t])
        assert torch.equal(dw1, dw2)
    assert float(dw1.abs().sum()) > 0


def test_no_change_when_error_or_gate_is_zero(gen):
    rule = ErrorGatedReadout(lr=0.5, tau_baseline=100.0, dt=1.0).double()
    w = torch.randn(3, 5, generator=gen, dtype=F64)
    state = None
    for t in range(40):
        pre = (torch.rand(2, 5, generator=gen, dtype=F64) < 0.5).to(F64)
        y = rule.output(w, state).expand(2, 3)
        if t % 2:
            dw, state = rule.step(pre, y, w, state, target=torch.rand(2, 3, generator=gen), gate=0.0)
        else:
            dw, state = rule.step(pre, y, w, state, target=y.clone(), gate=1.0)  # error exactly 0
        assert bool((dw == 0).all())
    assert float(state.e.abs().sum()) > 0  # eligible all along
    # a closed gate adds nothing to the consolidation sums
    assert bool((state.g_sum[:, 0] == 20.0).all())
    # per-neuron gate: only the open rows change
    dw, _ = rule.step(pre, y, w, state, modulator=1.0, gate=torch.tensor([1.0, 0.0, 1.0]))
    assert bool((dw[1] == 0).all()) and bool((dw[0] != 0).all())


def test_consolidate_moves_to_gate_weighted_mean(gen):
    rule = ErrorGatedReadout(lr=0.1, consolidation=0.5, dt=1.0).double()
    w = torch.zeros(2, 3, dtype=F64)
    seen, gates, state = [], [], None
    for t in range(30):
        g = torch.tensor([float(t % 3 == 0), 1.0], dtype=F64)
        dw, state = rule.step(
            torch.ones(3, dtype=F64), torch.zeros(2, dtype=F64), w, state, modulator=1.0, gate=g
        )
        seen.append(w.clone())
        gates.append(g)
        w = w + dw
    ws, gs = torch.stack(seen), torch.stack(gates)
    mean = (gs[:, :, None] * ws).sum(0) / gs.sum(0)[:, None]
    dw, state = rule.consolidate(w, state)
    torch.testing.assert_close(dw, 0.5 * (mean - w), rtol=1e-12, atol=1e-15)
    assert float(state.w_sum.abs().sum()) == 0.0 and float(state.g_sum.sum()) == 0.0
    dw, _ = rule.consolidate(w, state)  # nothing seen since: no change
    assert bool((dw == 0).all())


def test_bad_parameters_and_shapes():
    with pytest.raises(ParameterError, match="tau_pre"):
        ErrorGatedReadout(tau_pre=-1.0)
    with pytest.raises(ParameterError, match="tau_baseline"):
        ErrorGatedReadout(tau_baseline=0.0)
    with pytest.raises(ParameterError, match="consolidation"):
        ErrorGatedReadout(consolidation=1.5)
    with pytest.raises(ParameterError, match="w_min"):
        ErrorGatedReadout(bound="hard")
    with pytest.raises(ParameterError, match="w_min"):
        ErrorGatedReadout(w_min=1.0, w_max=0.0, bound="hard")
    rule = ErrorGatedReadout()
    with pytest.raises(ShapeError, match="target"):
        rule.step(torch.ones(3), torch.zeros(2), torch.zeros(2, 3), target=torch.ones(4))
    with pytest.raises(ShapeError, match="w_sum"):
        rule.consolidate(torch.zeros(2, 3), rule.init_state((), 4, 2))


# ----------------------------------------------------------------------------- the experiment

DT = 4.0  # ms, readout step (the reservoir runs at 1 ms)
TRIAL = 800  # ms
TAU_PRE = 50.0


def reservoir_activity(n_cues: int, *, n: int = 400, seed: int = 0, cue_amp: float = 3.0) -> torch.Tensor:
    """Excitatory spike counts per readout step, ``[TRIAL / DT, n_cues, 0.8 n]``, one trial per cue.

    Izhikevich (2003) heterogeneous population and update (two 0.5 ms half-steps of v per ms), all
    to all, weights 0.25 U(0,1) * 1000/n from E and -0.5 U(0,1) * 1000/n from I (half the published
    coupling, so that the activity is asynchronous); background 5 N(0,1) (E) and 2 N(0,1) (I) per
    ms, the same on every trial; the cue adds ``cue_amp`` to a random fifth of the neurons.
    """
    g = torch.Generator().manual_seed(seed)
    n_e = int(0.8 * n)
    pop = Izhikevich.heterogeneous(n_e, n - n_e, generator=g, dt=1.0, integrator="izhikevich2003").double()
    s = torch.rand(n, n, generator=g, dtype=F64)
    s[:, :n_e] *= 0.25 * 1000 / n
    s[:, n_e:] *= -0.5 * 1000 / n
    cue_sets = (torch.rand(n_cues, n, generator=g, dtype=F64) < 0.2).to(F64)
    noise_scale = torch.cat([torch.full((n_e,), 5.0), torch.full((n - n_e,), 2.0)]).to(F64)
    p = pop.params()
    state = pop.init_state((n_cues,), dtype=F64)
    state = state._replace(u=p.b * state.v)
    z = torch.zeros(n_cues, n, dtype=F64)
    out = torch.zeros(TRIAL, n_cues, n_e, dtype=F64)
    for t in range(TRIAL):
        x = noise_scale * torch.randn(n_cues, n, generator=g, dtype=F64) + z @ s.T + cue_amp * cue_sets
        z, state = izhikevich_step(x, state, p, dt=1.0, integrator="izhikevich2003")
        out[t] = z[:, :n_e]
    k = int(DT)
    return out.reshape(TRIAL // k, k, n_cues, n_e).sum(1)


class Task(NamedTuple):
    times: tuple[float, ...]  # stimulus time after each cue, ms
    probs: tuple[float, ...]  # stimulus probability after each cue


class Learner:
    """A readout learning online over trials; the rule state and weights carry over."""

    def __init__(self, spikes: torch.Tensor, *, eta: float = 0.05, block: int = 20, seed: int = 0) -> None:
        self.spikes = spikes
        steps, _, n_e = spikes.shape
        self.t = torch.arange(steps, dtype=F64) * DT
        # the filtered input, to read the readout out with frozen weights
        x = torch.zeros(spikes.shape[1:], dtype=F64)
        self.x = torch.zeros_like(spikes)
        for k in range(steps):
            x = x * math.exp(-DT / TAU_PRE) + spikes[k]
            self.x[k] = x
        # learning rate: eta per step in units of the input's mean squared deviation
        after = self.x[self.t >= 100.0]
        msq = float(((after - after.mean((0, 1))) ** 2).sum(-1).mean())
        self.rule = ErrorGatedReadout(
            tau_pre=TAU_PRE, tau_e=DT, lr=eta * (1 - math.exp(-1.0)) / msq, tau_baseline=2000.0, dt=DT
        ).double()
        self.w = torch.zeros(1, n_e, dtype=F64)
        self.state: ReadoutState = self.rule.init_state((), n_e, 1, dtype=F64)
        self.gate = (self.t >= 100.0).to(F64)
        self.block = block
        self.trials = 0
        self.gen = torch.Generator().manual_seed(seed)

    def response(self) -> np.ndarray:
        """The readout over a trial after each cue with the current weights, ``[n_cues, steps]``."""
        return ((self.x - self.state.x_mean) @ self.w[0]).T.numpy()

    def train(self, task: Task, n_trials: int) -> list[np.ndarray]:
        responses = []
        for _ in range(n_trials):
            cue = int(torch.randint(0, len(task.times), (1,), generator=self.gen))
            hit = bool(torch.rand(1, generator=self.gen, dtype=F64) < task.probs[cue])
            stim = torch.exp(-0.5 * ((self.t - task.times[cue]) / 25.0) ** 2) * float(hit)
            for k in range(self.t.numel()):
                y = self.rule.output(self.w, self.state)
                dw, self.state = self.rule.step(
                    self.spikes[k, cue], y, self.w, self.state, target=stim[k : k + 1], gate=self.gate[k]
                )
                self.w = self.w + dw
            self.trials += 1
            if self.trials % self.block == 0:  # offline consolidation between trials
                dw, self.state = self.rule.consolidate(self.w, self.state)
                self.w = self.w + dw
            responses.append(self.response())
        return responses


def peaks(resp: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    after = t >= 100.0
    r = resp[:, after]
    return t[after][r.argmax(1)], r.max(1)


FIRST = Task(times=(300.0, 600.0), probs=(0.8, 0.3))
SWAPPED = Task(times=(600.0, 300.0), probs=(0.3, 0.8))


@pytest.fixture(scope="module")
def experiment() -> dict[str, object]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        learner = Learner(reservoir_activity(2), eta=0.03, block=20, seed=1)
        first = learner.train(FIRST, 100)
        second = learner.train(SWAPPED, 80)
    finally:
        torch.set_num_threads(before)
    return {"t": learner.t.numpy(), "first": first, "second": second}


def right(resp: np.ndarray, t: np.ndarray, task: Task) -> bool:
    """Peaks within 50 ms of the cued times, the likelier stimulus at least 0.2 higher."""
    times, amps = peaks(resp, t)
    likely, unlikely = int(np.argmax(task.probs)), int(np.argmin(task.probs))
    return bool(np.all(np.abs(times - np.array(task.times)) <= 50.0) and amps[likely] > amps[unlikely] + 0.2)


def test_readout_fires_at_the_cued_times_with_amplitude_ordered_by_probability(experiment):
    t = experiment["t"]
    resp = np.mean(experiment["first"][-10:], 0)  # the readout over the last 10 trials
    times, amps = peaks(resp, t)
    print(f"\nafter 100 trials: peaks at {times.tolist()} ms, amplitudes {np.round(amps, 3).tolist()}")
    assert np.all(np.abs(times - np.array(FIRST.times)) <= 50.0)
    assert amps[0] > amps[1] + 0.2  # p = 0.8 against p = 0.3
    assert np.all(np.abs(amps - np.array(FIRST.probs)) < 0.2)


def test_readout_readapts_after_a_timing_change_without_reset(experiment):
    t = experiment["t"]
    second = experiment["second"]
    # the readout over 10 trials from each trial on; settled: right from there to the end
    ok = [right(np.mean(second[i : i + 10], 0), t, SWAPPED) for i in range(len(second) - 9)]
    settled = next((i for i in range(len(ok)) if all(ok[i:])), len(ok))
    times, amps = peaks(np.mean(second[-10:], 0), t)
    print(
        f"\nafter the swap: right from trial {settled + 1} on; last 10 trials: peaks {times.tolist()} ms, "
        f"amplitudes {np.round(amps, 3).tolist()}"
    )
    assert not ok[0]  # the first trials still show the old task
    assert settled + 1 <= 60  # tens of trials (48 here; 10 to 48 over seeds 1-5)
    assert np.all(np.abs(amps - np.array(SWAPPED.probs)) < 0.2)
