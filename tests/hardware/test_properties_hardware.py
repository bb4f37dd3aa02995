r"""Property-based tests (Hypothesis) of ``quantize`` over weights (any finite values, either sign
largest, tiny and huge scales), time constants and dt (issue 16, item 4: weight mantissas were
checked only for their maximum).

The documented mapping is one scale per layer: the mantissa is ``round(c W)`` with ``c > 0``, the
largest magnitude at full scale (127; Loihi 2 stores ``2 m``). So, for any finite weights:
each mantissa has its weight's sign (or is 0), none leaves the int8 range, the largest magnitude
is at full scale, and the mantissas are ``round(127 W / max|W|)`` (to one unit: the chip's
rounding of the scale itself). The time constants map to Xylo's ``dash_mem`` and Loihi 2's ``dv``
by the module's documented formulas.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import spikeforge as sf
from spikeforge.hardware import quantize

FAST = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
N_OUT, N_IN = 3, 5

weights = hnp.arrays(
    np.float64,
    (N_OUT, N_IN),
    elements=st.floats(min_value=-1.0, max_value=1.0, allow_nan=False, allow_subnormal=False),
).filter(lambda w: np.abs(w).max() > 1e-3)


def _net(w: np.ndarray, scale: float, tau: float, dt: float) -> sf.Sequential:
    net = sf.Sequential(torch.nn.Linear(N_IN, N_OUT), sf.neurons.LIF(N_OUT, dt=dt, tau_mem=tau)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(w * scale))
        net[0].bias.zero_()
    return net


# weights of a wide dynamic range round to 0: quantize warns that the chip would refuse them
@pytest.mark.filterwarnings("ignore:quantize. the model does not fit:UserWarning")
@FAST
@given(
    w=weights,
    scale=st.sampled_from([1e-8, 1e-3, 0.1, 1.0, 30.0, 1e6]),
    tau=st.floats(min_value=2.0, max_value=100.0),
    dt=st.floats(min_value=0.1, max_value=10.0),
    target=st.sampled_from(["loihi2", "xylo-audio2"]),
)
def test_mantissas_keep_sign_range_and_proportion(w, scale, tau, dt, target):
    q = quantize(_net(w, scale, tau, dt), target).integer_parameters()
    wq = np.asarray(q["layer0_weight"], dtype=np.int64).reshape(N_OUT, N_IN)
    if target == "loihi2":
        assert np.all(wq % 2 == 0)
        wq = wq // 2
    assert np.all((wq >= -128) & (wq <= 127)), wq
    assert np.all(np.sign(wq) * np.sign(w) >= 0), (w, wq)  # the sign, or 0
    assert int(np.abs(wq).max()) == 127
    top = np.abs(w).max()
    assert np.all(np.abs(wq - 127 * w / top) <= 1.0 + 1e-9), (w, wq)


@FAST
@given(
    tau=st.floats(min_value=0.5, max_value=5000.0),
    dt=st.floats(min_value=0.1, max_value=20.0),
)
@example(tau=0.5, dt=20.0)  # k = 1 to rounding: dv at the top of its field
@example(tau=5000.0, dt=0.1)  # dash_mem clipped to 15
def test_time_constants_map_to_the_documented_decays(tau, dt):
    """Xylo ``dash_mem = round(log2(tau / dt))`` clipped to 1..15; Loihi 2 ``dv = round(4096 k)``,
    ``k = 1 - exp(-dt / tau)``, in its 12-bit field 0..4095 (ties excluded: they depend on
    rounding)."""
    log_ratio = math.log2(tau / dt)
    assume(abs(log_ratio - math.floor(log_ratio) - 0.5) > 1e-6)
    dv = 4096 * -math.expm1(-dt / tau)
    assume(abs(dv - math.floor(dv) - 0.5) > 1e-6)
    net = _net(np.array([[1.0, -0.5, 0.25, 0.0, 0.1]] * N_OUT), 1.0, tau, dt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a time constant far from dt: the chip may refuse it
        xylo = quantize(net, "xylo-audio2").integer_parameters()
        loihi = quantize(net, "loihi2").integer_parameters()
    assert xylo["layer0_dash_mem"].tolist() == [min(15, max(1, math.floor(log_ratio + 0.5)))] * N_OUT
    assert loihi["layer0_dv"].tolist() == [min(4095, math.floor(dv + 0.5))] * N_OUT
