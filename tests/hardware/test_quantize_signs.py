"""Weight mantissas of both signs (issue 16: tests checked only their maximum, so a scale taken
from the largest positive weight, not the largest magnitude, went unseen)."""

from __future__ import annotations

import pytest
import torch

import spikeforge as sf
from spikeforge.hardware import quantize


def _model(sign: float) -> sf.Sequential:
    """Weights in [-0.2, 1] times sign: the largest magnitude has that sign."""
    g = torch.Generator().manual_seed(0)
    net = sf.Sequential(torch.nn.Linear(6, 4), sf.neurons.LIF(4, dt=1.0, tau_mem=8.0))
    with torch.no_grad():
        net[0].weight.copy_(sign * (torch.rand(4, 6, generator=g, dtype=torch.float64) * 1.2 - 0.2))
        net[0].weight[0, 0] = sign * 1.0
        net[0].bias.zero_()
    return net


@pytest.mark.parametrize("target", ["xylo-audio2", "loihi2"])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_the_largest_magnitude_maps_to_full_scale_whatever_its_sign(target, sign):
    net = _model(sign)
    q = quantize(net, target).integer_parameters()
    wq = torch.as_tensor(q["layer0_weight"]).double()
    wq = wq if wq.shape == (4, 6) else wq.reshape(4, 6)
    top = wq.abs().max()
    assert int(wq[0, 0]) == int(sign * top) and abs(int(top)) in (127, 254)
    # the mantissas are the float weights on one scale: no clipped value on either side
    w = net[0].weight.detach().double()
    ratio = (wq / w)[w.abs() > 0.5]
    assert float(ratio.max() / ratio.min()) < 1.03
