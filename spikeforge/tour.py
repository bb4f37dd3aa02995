"""A short tour of the neuron models: each one simulated, its behaviour in one figure.

>>> from spikeforge.tour import neuron_tour
>>> path = neuron_tour("out")          # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import units as u
from .neurons import ALIF, LIF, Izhikevich, ProbabilisticNeuron

__all__ = ["neuron_tour"]


def _times(steps: int, dt: float) -> torch.Tensor:
    return torch.arange(steps) * dt


def neuron_tour(out_dir: str | Path = "out", *, seed: int = 0) -> Path:
    """Simulate LIF, ALIF, the Izhikevich presets and the probabilistic neuron; save a figure.

    Prints one line per model (spike counts, rates) and returns the path of the PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), constrained_layout=True)

    # LIF: f-I curve against the analytic rate, and a membrane trace
    dt, tau, t_ref = 0.1 * u.ms, 20 * u.ms, 2 * u.ms
    currents = torch.linspace(0.0, 3.0, 31, dtype=torch.float64)
    lif = LIF(len(currents), tau_mem=tau, v_th=1.0, v_reset=0.0, t_ref=t_ref, dt=dt).double()
    steps = int(1 * u.second / dt)
    res = lif.scan(currents.expand(steps, -1).contiguous(), record=True)
    rate = res.output.sum(0) / (steps * dt) / u.Hz
    analytic = torch.where(
        currents > 1.0,
        1.0 / (t_ref + tau * torch.log(currents / (currents - 1.0).clamp(min=1e-12))) / u.Hz,
        torch.zeros_like(currents),
    )
    ax = axes[0, 0]
    ax.plot(currents, analytic, "k-", label="analytic")
    ax.plot(currents, rate, "o", ms=4, label="spikeforge LIF")
    ax.set(xlabel="input current r·I (v_th = 1)", ylabel="rate (Hz)", title="LIF f–I curve, t_ref = 2 ms")
    ax.legend()
    print(f"LIF: rate at r·I = 2.0 is {rate[20]:.1f} Hz (analytic {analytic[20]:.1f} Hz)")

    ax = axes[0, 1]
    t = _times(2000, dt)
    ax.plot(t, res.trace.v[:2000, 20], label="LIF, r·I = 2")
    alif = ALIF(1, tau_mem=tau, tau_adapt=200 * u.ms, beta=0.5, v_th=1.0, dt=dt).double()
    ares = alif.scan(torch.full((2000, 1), 2.0, dtype=torch.float64), record=True)
    ax.plot(t, ares.trace.v[:, 0], label="ALIF, β = 0.5")
    ax.set(xlabel="time (ms)", ylabel="v", title="membrane, LIF and adaptive LIF")
    ax.legend()
    isi = torch.diff(torch.nonzero(ares.output[:, 0]).squeeze(1).double()) * dt
    print(f"ALIF: {int(ares.output.sum())} spikes in 200 ms, ISI {isi[0]:.1f} ms -> {isi[-1]:.1f} ms")

    # Izhikevich presets under a step current
    presets = ["RS", "IB", "CH", "FS", "LTS", "TC", "RZ"]
    dt_izh = 0.1 * u.ms
    steps = int(300 * u.ms / dt_izh)
    current = torch.zeros(steps, 1)
    current[int(20 / dt_izh) :] = 10.0
    ax = axes[0, 2]
    for k, name in enumerate(presets[:4]):
        izh = Izhikevich(1, preset=name, dt=dt_izh)
        r = izh.scan(current, record=True)
        ax.plot(_times(steps, dt_izh), r.trace.v[:, 0] - 120 * k, lw=0.8, label=name)
        print(f"Izhikevich {name}: {int(r.output.sum())} spikes in 280 ms at I = 10")
    ax.set(xlabel="time (ms)", ylabel="v (mV, offset)", title="Izhikevich presets, I = 10 from 20 ms")
    ax.legend(loc="upper right")

    # Izhikevich 2003 heterogeneous population without coupling: raster
    pop = Izhikevich.heterogeneous(80, 20, generator=gen, dt=0.5 * u.ms)
    steps = int(500 * u.ms / 0.5)
    noise = torch.randn(steps, 100, generator=gen)
    drive = torch.cat([5.0 * noise[:, :80], 2.0 * noise[:, 80:]], dim=1) + 6.0
    spikes, _ = pop(drive)
    ti, ni = torch.nonzero(spikes, as_tuple=True)
    ax = axes[1, 0]
    ax.scatter(ti * 0.5, ni, s=1, c=["tab:blue" if n < 80 else "tab:red" for n in ni.tolist()])
    ax.set(xlabel="time (ms)", ylabel="neuron", title="heterogeneous Izhikevich (80 E, 20 I), noisy input")
    print(f"Izhikevich population: mean rate {spikes.mean().item() / (0.5 * u.ms) / u.Hz:.1f} Hz")

    # probabilistic neuron: firing probability against membrane distance to threshold
    prob = ProbabilisticNeuron(2000, tau_mem=tau, temperature=0.2, dt=1.0, generator=gen)
    levels = torch.linspace(-1.0, 3.0, 2000)
    z, _ = prob(levels.expand(200, -1).contiguous())
    ax = axes[1, 1]
    ax.plot(levels, z.mean(0), ".", ms=2)
    ax.set(xlabel="input current", ylabel="firing probability per ms", title="probabilistic neuron")
    print(f"probabilistic neuron: mean firing probability {z.mean().item():.3f} per step")

    # surrogate gradients
    from .surrogate import ATan, FastSigmoid, StraightThrough, Triangle

    xs = torch.linspace(-2, 2, 401)
    ax = axes[1, 2]
    for s in (FastSigmoid(5.0), ATan(2.0), Triangle(1.0), StraightThrough(1.0)):
        ax.plot(xs, s.grad(xs), label=repr(s))
    ax.set(xlabel="v − v_th", ylabel="surrogate dz/dv", title="surrogate gradients")
    ax.legend(fontsize=7)

    path = out / "neuron_tour.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
