"""``lif_step`` decides whether to apply the refractory hold without reading a device value back
(one stall per step on CUDA): off the CPU it always applies the hold, which must change nothing
when every refractory count is 0."""

from __future__ import annotations

import pytest
import torch

import spikeforge.neurons.lif as lif_mod
from spikeforge.neurons import ALIF, LIF


def test_off_cpu_the_hold_is_always_applied() -> None:
    zeros = torch.zeros(3, dtype=torch.int32, device="meta")
    assert lif_mod.has_refractory(zeros) is True
    assert lif_mod.has_refractory(torch.zeros(3, dtype=torch.int32)) is False
    assert lif_mod.has_refractory(torch.tensor([0, 2], dtype=torch.int32)) is True


@pytest.mark.parametrize("model", [LIF, ALIF])
@pytest.mark.parametrize("reset", ["to_value", "subtract"])
def test_hold_with_zero_counts_changes_nothing(
    model: type, reset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The step loop with t_ref = 0, once deciding on the CPU (no hold) and once forced to apply
    the hold as on CUDA: identical spikes, states and gradients, float64, dt = 0.25 ms."""
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(40, 2, 5, generator=g, dtype=torch.float64) * 3.0).requires_grad_()

    def run() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        neuron = model(5, tau_mem=4.0, tau_syn=2.0, dt=0.25, t_ref=0.0, reset=reset).double()
        state = None
        outs = []
        for t in range(x.shape[0]):
            z, state = neuron.step(x[t], state)
            outs.append(z)
        z = torch.stack(outs)
        weights = torch.linspace(0.5, 1.5, 5, dtype=torch.float64)
        (gx,) = torch.autograd.grad((z * weights).sum() + state.v.sum(), x)
        return z.detach(), state.v.detach(), gx

    plain = run()
    monkeypatch.setattr(lif_mod, "has_refractory", lambda n_ref: True)
    forced = run()
    assert plain[0].sum() > 0  # the case has spikes, so resets and holds are exercised
    for a, b in zip(plain, forced, strict=True):
        assert torch.equal(a, b)
