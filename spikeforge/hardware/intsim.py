r"""Bit-accurate integer simulation of the neuron and synapse arithmetic of Xylo and Loihi 2.

Pure functions on integer tensors (``torch.int64``; every value stays far below 2**53, so the
weight products are computed exactly). :func:`spikeforge.hardware.quantize` builds the integer
parameters from a float model and runs these.

**Xylo** (Xylo Audio 2 / Audio 3 / IMU), from xylosim's ``XyloIAFNeuron.cpp`` and
``XyloLayer.cpp`` (the bit-exact simulator behind rockpool's ``XyloSim``). One time step:

1. synaptic input: for each presynaptic ``j`` in ascending order,
   ``isyn = sat16(isyn + (w_ij << weight_shift) * n_j)`` with ``n_j`` the input spike counts
   (at most 15 per step for the input layer, 31 for hidden neurons): xylosim saturates after
   every event (``XyloIAFNeuron::receiveSpike``), so a partial sum that leaves the 16-bit range
   changes the result (:func:`saturating_sum`);
2. decay: ``isyn -= decay(isyn, dash_syn)`` with ``decay(x, dash) = x >> dash`` (arithmetic
   shift), except that a positive ``x`` with ``x >> dash == 0`` decays by 1 (xylosim's "minimum
   decay of one"; a negative ``x`` has ``x >> dash <= -1`` already);
3. membrane: ``dv = sat16(-decay(v, dash_mem) + isyn)``, ``dv = sat16(dv + bias)``,
   ``v = sat16(v + dv)``;
4. spikes: while ``v >= threshold`` and fewer than ``max_spikes`` spikes: one more spike and
   ``v -= threshold`` (subtractive reset, several spikes per step; ``max_spikes`` is 31 for
   hidden neurons and 1 for the readout);
5. the spikes of hidden neurons reach their targets (hidden or readout) at the next step (the
   layer delivers "recurrent spikes from the last time step" before evolving).

``sat16`` clips to [-32768, 32767]. Checked against xylosim 0.1.3 itself (``xylosim.v2``, the
core of Xylo Audio 2, Audio 3 and IMU) every neuron at every step: ``tests/hardware/test_xylosim.py``.

**Loihi 2** (lava ``PyLifModelBitAcc`` in ``src/lava/proc/lif/models.py`` and
``PyDenseModelBitAcc`` in ``src/lava/proc/dense/models.py``). One step:

1. dendritic accumulation: ``a = sum_j w_ij * s_j`` with lava's weights
   (:func:`lava_dense_weights`; ``s`` graded spike counts), then ``a << weight_exp`` (or
   ``a >> -weight_exp``, an arithmetic shift); lava's Dense sends it one step later;
2. current: ``u = rtz(u * (4096 - (du + 1)) / 4096) + (a << 6)`` where ``rtz`` rounds toward
   zero (``sign(p) * (|p| >> 12)``, lava's exact rounding); then the 24-bit wrap of lava:
   ``u > 2**23 -> u - 2**24``, ``u <= -2**23 -> u + 2**24``;
3. voltage: ``v = rtz(v * (4096 - dv) / 4096) + u + (bias_mant << bias_exp)``, clipped to
   ``[-(2**23 - 1), 2**23 - 1]``;
4. spike where ``v > vth << 6``; then ``v = 0``.

Each rule, checked against lava's source (github.com/lava-nc/lava at b6822fb, lava-dl at d825ac5)
and, where marked, run against lava's own ``subthr_dynamics`` and ``weightutils`` code on random
parameters (spikes, ``u`` and ``v`` equal at every step):

=========================================  ==================================================
rule                                       lava source
=========================================  ==================================================
current decay ``du + 1`` (ds_offset),      ``proc/lif/models.py`` l. 94-95, 145
voltage decay ``dv`` (dm_offset 0)
decay rounds toward zero:                  l. 149-152, 180-183 (run)
``sign(p) * (|p| >> 12)``
activation ``a << 6`` (act_shift)          l. 108, 155 (run)
24-bit wrap of ``u``: ``> 2**23`` and      l. 161-170 (strict ``>``, and the second test on
``<= -2**23``, one period                  the unwrapped value) (run)
``v`` clipped to ``+-(2**23 - 1)``         l. 176-177, 186 (run)
threshold ``v > vth << 6`` (strict)        l. 107, 273, 278
reset ``v = 0``, ``u`` kept                l. 188-192
bias ``bias_mant << bias_exp``,            l. 110-122 (run)
``>> -bias_exp`` when negative
int32 arithmetic: ``a << weight_exp``,     ``proc/dense/models.py`` l. 64-65, 99-107 and
``a << 6`` and ``decay + a`` wrap modulo   ``lif/models.py`` l. 153-156 (numpy int32 arrays;
``2**32`` (graded spikes can reach it)     the in-port sums into int32) (run) -- fixed here,
                                           we computed in int64
weights clipped and truncated by the       ``proc/dense/models.py`` l. 82-91,
matrix's sign mode (mixed: ``[-256,        ``utils/weightutils.py`` ``clip_weights``,
255]``, low bit floored; excitatory        ``truncate_weights`` (run) -- fixed here, we used
``[0, 255]``; inhibitory ``[-255, 0]``)    the given weights
one-step Dense delay (``a_buff`` sent      ``proc/dense/models.py`` l. 93-96
before the new accumulation)
synaptic delays ``d``: arrive at           ``proc/dense/models.py`` l. 243-255, 340-352
``t + 1 + d`` (``DelayDense``), <= 62 in   (``DelayDense``); lava-dl ``netx/hdf5.py``
netx; one delay per output neuron in       l. 425-443; each delay slot is shifted by
netx files (``delay`` of ``loihi_layer_``  ``weight_exp`` on its own sum, which with one
``scan``)                                  delay per neuron is the neuron's whole sum
netx neuron: ``du = iDecay - 1``,          lava-dl ``netx/hdf5.py`` l. 150-158
``dv = vDecay``, ``vth = vThMant``,
``bias_exp = 6``
=========================================  ==================================================

lava's ports are typed with 16-bit activations; its Python models do not truncate them (the
in-port adds the int32 messages into its int16 zeros, which numpy promotes to int32), nor do we.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "XYLO_STATE_BITS",
    "LOIHI_UV_BITS",
    "saturate",
    "saturating_sum",
    "xylo_decay",
    "xylo_layer_scan",
    "loihi_decay",
    "lava_dense_weights",
    "wrap_int32",
    "loihi_layer_scan",
    "IntTrace",
]

XYLO_STATE_BITS = 16
XYLO_MAX_INPUT_SPIKES = 15
XYLO_MAX_HIDDEN_SPIKES = 31
LOIHI_UV_BITS = 24


class IntTrace(NamedTuple):
    """Integer output and states of one layer over a sequence, each ``[T, *batch, n]``."""

    spikes: Tensor  # spike counts per step (int64)
    current: Tensor  # synaptic current (isyn on Xylo, u on Loihi 2)
    voltage: Tensor  # membrane after spikes and reset


def saturate(x: Tensor, bits: int) -> Tensor:
    """Clip ``x`` to the signed ``bits``-bit range ``[-2**(bits-1), 2**(bits-1) - 1]``."""
    return x.clamp(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def _accumulate(s: Tensor, w: Tensor) -> Tensor:
    """``s @ w.T`` exactly for integer tensors (float64 matmul: all sums stay below 2**53)."""
    return torch.matmul(s.to(torch.float64), w.to(torch.float64).T).round().to(torch.int64)


def xylo_decay(x: Tensor, dash: Tensor) -> Tensor:
    """xylosim's bit-shift decrement: ``x >> dash``, at least 1 for positive ``x``."""
    dv = torch.bitwise_right_shift(x, dash)
    return torch.where((dv == 0) & (x > 0), torch.ones_like(dv), dv)


def saturating_sum(start: Tensor, events: Tensor, bits: int) -> Tensor:
    """``x = sat(x + e)`` for each ``e`` of ``events`` (last axis) in order, from ``x = start``.

    xylosim's ``receiveSpike`` saturates after every synaptic event. A chain of such steps
    ``x -> clamp(x + d, lo, hi)`` composes into one of the same form,
    ``clamp(x + D, L, H)`` with ``D = d1 + d2``, ``L = clamp(lo1 + d2, lo2, hi2)``,
    ``H = clamp(hi1 + d2, lo2, hi2)``; the events are folded pairwise in ``log2(n)`` rounds.

    Args:
        start: ``[*rows]`` initial values (in range).
        events: ``[*rows, n]`` increments, applied first to last.
        bits: the signed width of ``x``.

    Example:
        >>> import torch
        >>> saturating_sum(torch.tensor([0]), torch.tensor([[30000, 30000, -30000]]), 16)
        tensor([2767])
    """
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    d = events
    low = torch.full_like(d, lo)
    high = torch.full_like(d, hi)
    while d.shape[-1] > 1:
        if d.shape[-1] % 2:  # pad with the identity on the range: (0, lo, hi)
            pad = d[..., :1]
            d = torch.cat([d, torch.zeros_like(pad)], -1)
            low = torch.cat([low, torch.full_like(pad, lo)], -1)
            high = torch.cat([high, torch.full_like(pad, hi)], -1)
        d1, d2 = d[..., 0::2], d[..., 1::2]
        l1, l2 = low[..., 0::2], low[..., 1::2]
        h1, h2 = high[..., 0::2], high[..., 1::2]
        low = torch.minimum(torch.maximum(l1 + d2, l2), h2)
        high = torch.minimum(torch.maximum(h1 + d2, l2), h2)
        d = d1 + d2
    if d.shape[-1] == 0:
        return start
    return torch.minimum(torch.maximum(start + d[..., 0], low[..., 0]), high[..., 0])


def _xylo_receive(isyn: Tensor, s: Tensor, w: Tensor, total: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
    """One step of synaptic input as xylosim delivers it: every event saturates ``isyn``.

    ``total``, ``pos`` and ``neg`` are the step's summed, positive and negative drives
    ``[*batch, n_out]``. Where neither ``isyn + pos`` nor ``isyn + neg`` leaves the 16-bit range,
    no partial sum can, and the result is ``isyn + total``; the other neurons are folded event
    by event in xylosim's order (presynaptic index ascending; the ``n`` spikes of one input add
    ``n`` times the same-signed weight, which saturates as one addition of ``n * w``).
    """
    top = 2 ** (XYLO_STATE_BITS - 1)
    out = isyn + total
    risky = (isyn + pos > top - 1) | (isyn + neg < -top)
    if bool(risky.any()):
        idx = risky.nonzero(as_tuple=True)
        rows_s = s[idx[:-1]] if s.dim() > 1 else s.expand(len(idx[0]), -1)
        events = rows_s * w[idx[-1]]
        out = out.clone()
        out[idx] = saturating_sum(isyn[idx], events, XYLO_STATE_BITS)
    return out


def xylo_layer_scan(
    spikes_in: Tensor,
    weight: Tensor,
    weight_shift: int,
    dash_mem: Tensor,
    dash_syn: Tensor,
    threshold: Tensor,
    bias: Tensor,
    *,
    max_in_spikes: int,
    max_spikes: int,
) -> IntTrace:
    """One Xylo neuron layer over a sequence (steps 1-4 of the module docstring).

    Args:
        spikes_in: input spike counts ``[T, *batch, n_in]`` (int64), clipped to ``max_in_spikes``.
        weight: int8 values ``[n_out, n_in]``.
        weight_shift: left shift of the weights (0..7).
        dash_mem, dash_syn: bit-shift decays ``[n_out]``.
        threshold: ``[n_out]``, >= 1.
        bias: ``[n_out]`` (int16 range).
        max_in_spikes: 15 for the input layer, 31 for spikes of hidden neurons.
        max_spikes: most spikes per step of these neurons (31 hidden, 1 readout).
    """
    s = spikes_in.clamp(0, max_in_spikes)
    w = torch.bitwise_left_shift(weight, weight_shift)
    drive = _accumulate(s, w)
    pos = _accumulate(s, w.clamp(min=0))
    neg = drive - pos
    shape = drive.shape[1:]
    isyn = torch.zeros(shape, dtype=torch.int64, device=drive.device)
    v = torch.zeros_like(isyn)
    out, cur, vol = [], [], []
    for t in range(drive.shape[0]):
        isyn = _xylo_receive(isyn, s[t], w, drive[t], pos[t], neg[t])
        isyn = isyn - xylo_decay(isyn, dash_syn)
        dv = saturate(-xylo_decay(v, dash_mem) + isyn, XYLO_STATE_BITS)
        dv = saturate(dv + bias, XYLO_STATE_BITS)
        v = saturate(v + dv, XYLO_STATE_BITS)
        n = torch.where(v >= threshold, torch.div(v, threshold, rounding_mode="floor"), 0).clamp(
            max=max_spikes
        )
        v = v - n * threshold
        out.append(n)
        cur.append(isyn)
        vol.append(v)
    return IntTrace(torch.stack(out), torch.stack(cur), torch.stack(vol))


def loihi_decay(x: Tensor, d: Tensor | int) -> Tensor:
    """lava's decay ``sign(p) * (|p| >> 12)`` with ``p = x * (4096 - d)`` (round toward zero)."""
    p = x * (4096 - d)
    return torch.sign(p) * torch.bitwise_right_shift(p.abs(), 12)


def wrap_int32(x: Tensor) -> Tensor:
    """``x`` as numpy's int32 arithmetic leaves it: wrapped modulo ``2**32`` into ``[-2**31, 2**31)``.

    Example:
        >>> import torch
        >>> wrap_int32(torch.tensor([2**31, -(2**31) - 1, 5]))
        tensor([-2147483648,  2147483647,           5])
    """
    return torch.remainder(x + 2**31, 2**32) - 2**31


def lava_dense_weights(weight: Tensor, num_weight_bits: int = 8) -> Tensor:
    """The weights lava's bit-accurate Dense uses (``clip_weights`` then ``truncate_weights`` of
    ``lava.utils.weightutils``, with the sign mode of the whole matrix).

    Mixed signs: clipped to ``[-256, 255]``, then the ``9 - num_weight_bits`` low bits floored
    away (even values with 8 bits: ``3 -> 2``, ``-3 -> -4``). All ``>= 0``: clipped to
    ``[0, 255]``, ``8 - num_weight_bits`` bits floored. All ``<= 0``: the same on ``-w``, so
    ``[-255, 0]``.

    Example:
        >>> import torch
        >>> lava_dense_weights(torch.tensor([[3, -3, 300, -300]]))
        tensor([[   2,   -4,  254, -256]])
        >>> lava_dense_weights(torch.tensor([[-3, -300]]))
        tensor([[  -3, -255]])
    """
    if bool((weight >= 0).all()):
        sign, mixed = 1, 0
    elif bool((weight <= 0).all()):
        sign, mixed = -1, 0
    else:
        sign, mixed = 1, 1
    w = (sign * weight).clamp(-256 * mixed, 255)
    drop = 8 - num_weight_bits + mixed
    return sign * torch.bitwise_left_shift(torch.bitwise_right_shift(w, drop), drop)


def _delay_columns(a: Tensor, delay: Tensor) -> Tensor:
    """``a[t, ..., j]`` moved to step ``t + delay[j]`` (zeros before), over ``a``'s T steps."""
    steps = a.shape[0]
    t = torch.arange(steps, device=a.device).view(steps, *([1] * (a.dim() - 1)))
    src = t - delay.to(a.device)
    gathered = torch.gather(a, 0, src.clamp(min=0).expand_as(a))
    return torch.where(src >= 0, gathered, torch.zeros_like(a))


def loihi_layer_scan(
    spikes_in: Tensor,
    weight: Tensor,
    weight_exp: int,
    du: Tensor,
    dv: Tensor,
    vth: Tensor,
    bias_mant: Tensor,
    bias_exp: Tensor,
    *,
    delay: Tensor | None = None,
) -> IntTrace:
    """One lava Dense + CUBA LIF layer over a sequence (steps 1-4 of the module docstring; the
    Dense's one-step delay is applied by the caller).

    Args:
        spikes_in: graded input spikes ``[T, *batch, n_in]`` (int64).
        weight: integers ``[n_out, n_in]``, used as lava's Dense uses them
            (:func:`lava_dense_weights`: even values in [-256, 254] pass unchanged).
        weight_exp: the Dense's weight exponent.
        du, dv: 12-bit decays ``[n_out]`` (the current uses ``du + 1``, lava's ds_offset).
        vth: threshold mantissa ``[n_out]`` (17 bits), compared as ``vth << 6``.
        bias_mant, bias_exp: bias ``bias_mant << bias_exp`` (``>> -bias_exp`` for a negative
            exponent) ``[n_out]``.
        delay: optional synaptic delay in steps of each neuron's inputs ``[n_out]`` (lava's
            ``DelayDense`` with netx's per-neuron delays: the activation reaches neuron ``j``
            ``delay[j]`` steps later).
    """
    a = wrap_int32(_accumulate(spikes_in, lava_dense_weights(weight)))
    a = wrap_int32(
        torch.bitwise_left_shift(a, weight_exp)
        if weight_exp > 0
        else torch.bitwise_right_shift(a, -weight_exp)
    )
    a = wrap_int32(torch.bitwise_left_shift(a, 6))
    if delay is not None:
        a = _delay_columns(a, delay)
    top = 2 ** (LOIHI_UV_BITS - 1)
    bias = torch.where(
        bias_exp >= 0,
        torch.bitwise_left_shift(bias_mant, bias_exp.clamp(min=0)),
        torch.bitwise_right_shift(bias_mant, (-bias_exp).clamp(min=0)),
    )
    vth_eff = torch.bitwise_left_shift(vth, 6)
    shape = a.shape[1:]
    u = torch.zeros(shape, dtype=torch.int64, device=a.device)
    v = torch.zeros_like(u)
    out, cur, vol = [], [], []
    for t in range(a.shape[0]):
        c = wrap_int32(loihi_decay(u, du + 1) + a[t])
        wrapped = torch.where(c > top, c - 2 * top, c)
        u = torch.where(wrapped <= -top, c + 2 * top, wrapped)
        v = (loihi_decay(v, dv) + u + bias).clamp(-top + 1, top - 1)
        z = v > vth_eff
        v = torch.where(z, torch.zeros_like(v), v)
        out.append(z.to(torch.int64))
        cur.append(u)
        vol.append(v)
    return IntTrace(torch.stack(out), torch.stack(cur), torch.stack(vol))
