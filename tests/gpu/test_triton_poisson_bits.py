"""The Triton engine's Poisson draws bit by bit against the PyTorch Philox of
:mod:`spikeforge.circuits._philox` (not against the compiled engine: an independent reference).

With dt = 1 ms the spike probability is the rate itself, so a group whose probabilities are the
uniforms ``u`` of its own stream (no spike: ``u < u`` is false) or the next float above them (a
spike) spikes exactly where it should only if every bit of every uniform is right: neurons even and
odd (the two halves of a Philox output), a step beyond 2**32 (the counter's high word), two copies
with their own keys, float64 (53-bit) and float32 (24-bit) grids.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeforge.circuits import Network, _philox
from spikeforge.circuits.engines.gpu import TritonEngine

pytest.importorskip("triton", reason="the Triton kernels need triton: pip install 'spikeforge[gpu]'")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_poisson_uniforms_are_the_philox_ones_bit_for_bit(dtype):
    n, step = 20, 2**32 + 5
    net = Network(dt=1.0, seed=0, batch=2, dtype=dtype)
    strm = _philox.stream(_philox.KIND_POISSON_GROUP, 0)
    u = _philox.uniform(net.noise_seeds, strm, torch.tensor([step]), n, dtype)[0]  # [B, n]
    above = torch.nextafter(u, torch.ones_like(u))
    fire = (torch.arange(n) % 3 == 1).expand(2, n).clone()
    fire[1] = ~fire[1]
    prob = torch.where(fire, above, u)
    net.add_poisson("p", n, rate=prob)
    mon = net.record_spikes("p")
    net._ensure_state()
    net._sim.step = step
    net.run(1.0, engine=TritonEngine(interpret=True))
    got = torch.zeros(2, n, dtype=torch.bool)
    got[torch.from_numpy(mon.batch), torch.from_numpy(mon.i)] = True
    assert np.array_equal(mon.steps, np.full(mon.steps.size, step))
    assert torch.equal(got, fire)
