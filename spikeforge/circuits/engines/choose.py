"""The chooser ``Network.run`` asks: which engine runs a network now, and why the compiled engine
does not."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from ...errors import ParameterError
from .._rule_delays import rule_spike_delays
from .base import Engine
from .compiled import CompiledEngine
from .gpu import TritonEngine, triton_available
from .torch import TorchEngine

if TYPE_CHECKING:
    from .._populations import _NetworkBase

__all__ = ["choose_engine"]


def choose_engine(
    network: _NetworkBase, engines: dict[str, Engine], engine: Engine | None = None
) -> tuple[Engine, str]:
    """The engine that runs ``network`` now, and why the compiled engine does not ("" when it
    does): on a CUDA device the Triton engine (:mod:`~spikeforge.circuits.engines.gpu`) wherever
    it can, on the CPU the compiled engine wherever it can (``network.compiled`` None or True),
    else the PyTorch engine. ``engines`` keeps the network's engine objects (created here on first
    use), so that their caches live as long as the network. ``engine`` (``Network.run(...,
    engine=...)``) forces one engine object.

    On CUDA without Triton it warns once that the PyTorch engine runs, step by step. A plastic
    projection whose rule has spike delays (``dendritic_delay``, ``axonal_delay``) runs on the
    compiled CPU engine or the PyTorch engine, not on the Triton engine (:func:`spike_delay_reason`).

    Raises:
        ParameterError: ``compiled=True`` and no compiled engine (numba on the CPU, Triton on
            CUDA) can run the network, or ``engine`` cannot; the message names the reason.

    Example:
        >>> import torch
        >>> import spikeforge as sf
        >>> from spikeforge.circuits.engines import choose_engine
        >>> net = sf.circuits.Network(dt=0.1, seed=0)
        >>> _ = net.add_population("x", sf.neurons.LIF(3, dt=0.1))
        >>> _ = net.connect("x", "x", weight=0.5, learnable=True)  # an nn.Parameter
        >>> engine, why = choose_engine(net, {})
        >>> engine.name, why
        ('torch', 'gradients are needed (parameters or states require grad)')
        >>> with torch.no_grad():  # no gradients: the compiled engine runs it (numba installed)
        ...     choose_engine(net, {})[0].name
        'compiled'
    """
    if engine is not None:
        if isinstance(engine, str) or not isinstance(engine, Engine):
            raise ParameterError(
                "engine must be None or an engine object (TorchEngine(), CompiledEngine(), "
                f"TritonEngine() of spikeforge.circuits.engines), got {engine!r}"
            )
        why = engine.supports(network)
        if not why and engine.name == "triton":
            why = spike_delay_reason(network)
        if why:
            raise ParameterError(f"engine={engine.name!r} cannot run this network: {why}")
        return engine, ""
    if network.compiled is False:
        why = "compiled=False"
    elif network.device.type == "cuda":
        if "triton" not in engines:
            engines["triton"] = TritonEngine()
        why = engines["triton"].supports(network) or spike_delay_reason(network)
        if not why:
            return engines["triton"], ""
        if network.compiled is True:
            raise ParameterError(f"compiled=True but the Triton kernels cannot run this network: {why}")
        if not triton_available():
            warnings.warn(
                "spikeforge: Triton is not installed, so Network.run on CUDA runs the PyTorch "
                "engine: about 150 kernel launches per step for a CUBA network instead of 2 (or "
                "one CUDA graph replay per chunk of steps); install it with "
                "pip install 'spikeforge[gpu]'",
                RuntimeWarning,
                stacklevel=3,
            )
    else:
        if "compiled" not in engines:
            engines["compiled"] = CompiledEngine()
        why = engines["compiled"].supports(network) or ""
        if not why:
            return engines["compiled"], ""
        if network.compiled is True:
            raise ParameterError(f"compiled=True but the compiled kernel cannot run this network: {why}")
    if "torch" not in engines:
        engines["torch"] = TorchEngine()
    return engines["torch"], why


def spike_delay_reason(network: _NetworkBase) -> str:
    """Why the Triton engine cannot run ``network`` for its plasticity rules' spike delays (""
    when no rule has one): it pairs spikes when emitted; the PyTorch engine applies the delays
    (:mod:`spikeforge.circuits._rule_delays`), and so does the compiled CPU engine
    (:mod:`spikeforge.circuits._kernel_delays`).

    Example:
        >>> import spikeforge as sf
        >>> net = sf.circuits.Network(dt=0.1)
        >>> _ = net.add_population("x", sf.neurons.LIF(4, dt=0.1))
        >>> rule = sf.plasticity.STDP(dt=0.1, dendritic_delay=0.1)
        >>> _ = net.connect("x", "x", weight=0.5, delay=0.1, plasticity=rule)
        >>> why = spike_delay_reason(net)
        >>> why[: why.index(" (")], why.endswith("(a rule with spike delays runs on the PyTorch engine)")
        ("projection 'x->x': STDP has dendritic_delay=0.1 ms, axonal_delay=0 ms", True)
    """
    for proj in network._projs():
        if not proj.plastic or rule_spike_delays(proj.plasticity) == (0, 0):
            continue
        rule = proj.plasticity
        inner = rule if hasattr(rule, "spike_delays") else rule.rule  # type: ignore[union-attr]
        return (
            f"projection {proj.name!r}: {type(inner).__name__} has dendritic_delay="
            f"{inner.dendritic_delay:g} ms, axonal_delay={inner.axonal_delay:g} ms (a rule with spike "
            "delays runs on the PyTorch engine)"
        )
    return ""
