"""Random spikeforge networks for the NIR tests, drawn from a seeded generator (never the global
RNG), with weights scaled so that every layer fires at a moderate rate.

The models are tiny and run step by step in the peers' executors: one intra-op thread is faster
for them and keeps their timing stable on a busy machine (restored after each test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from torch import nn

import spikeforge as sf


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _linear(n_in: int, n_out: int, gen: torch.Generator, gain: float, dtype: torch.dtype) -> nn.Linear:
    lin = torch.nn.utils.skip_init(nn.Linear, n_in, n_out, dtype=dtype)
    with torch.no_grad():
        lin.weight.copy_(gain * (0.25 + torch.randn(n_out, n_in, generator=gen, dtype=dtype)) / n_in**0.5)
        lin.bias.copy_(0.1 * torch.randn(n_out, generator=gen, dtype=dtype))
    return lin


def random_net(
    gen: torch.Generator,
    *,
    syn: bool,
    dtype: torch.dtype = torch.float32,
    sizes: tuple[int, ...] = (20, 30, 10),
    dt: float = 1.0,
    integrator: str = "exact",
    heterogeneous: bool = True,
    v_leak: float = 0.0,
    v_reset: float = 0.0,
    v_th: float = 1.0,
    r: float = 1.0,
) -> sf.Sequential:
    """A Linear -> LIF chain; per-neuron time constants when ``heterogeneous``."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        if heterogeneous:
            tau_mem = 5.0 + 20.0 * torch.rand(n_out, generator=gen, dtype=dtype)
            tau_syn = 2.0 + 6.0 * torch.rand(n_out, generator=gen, dtype=dtype)
        else:
            tau_mem, tau_syn = torch.tensor(10.0, dtype=dtype), torch.tensor(5.0, dtype=dtype)
        gain = (3.0 if syn else 6.0) * (v_th - v_reset)
        layers.append(_linear(n_in, n_out, gen, gain, dtype))
        layers.append(
            sf.neurons.LIF(
                n_out,
                tau_mem=tau_mem,
                tau_syn=tau_syn if syn else None,
                v_th=v_th,
                v_reset=v_reset,
                v_leak=v_leak,
                r=r * (0.4 if syn else 1.0),
                dt=dt,
                integrator=integrator,
            ).to(dtype)
        )
    return sf.Sequential(*layers)


def spike_input(gen: torch.Generator, steps: int = 100, batch: int = 4, n: int = 20, dtype=torch.float32):
    """Poisson-like input spikes ``[T, B, n]`` at rate 0.3 per step."""
    return (torch.rand(steps, batch, n, generator=gen, dtype=dtype) < 0.3).to(dtype)


@pytest.fixture
def make_net() -> Callable[..., sf.Sequential]:
    """``make_net(gen, syn=..., ...)``: see :func:`random_net`."""
    return random_net


@pytest.fixture
def make_input() -> Callable[..., torch.Tensor]:
    """``make_input(gen, steps=100, batch=4, n=20, dtype=...)``: see :func:`spike_input`."""
    return spike_input


def stepwise(module: Callable[..., Any], x: torch.Tensor) -> torch.Tensor:
    """Run a stateful step module (``module(x_t, state) -> (out, state)``, as norse's cells and
    ``SequentialState``) over ``x`` ``[T, ...]`` without gradients; the stacked outputs."""
    outs, state = [], None
    with torch.no_grad():
        for t in range(x.shape[0]):
            out, state = module(x[t], state)
            outs.append(out)
    return torch.stack(outs)


@pytest.fixture
def run_stepwise() -> Callable[..., torch.Tensor]:
    """``run_stepwise(module, x)``: see :func:`stepwise`."""
    return stepwise
