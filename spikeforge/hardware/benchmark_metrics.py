r"""The figures NeuroBench reports for a spiking model, computed here, and an adaptor that
NeuroBench's own ``Benchmark`` runs.

NeuroBench (Yik et al., *NeuroBench: a framework for benchmarking neuromorphic computing
algorithms and systems*, Nature Communications 2025; ``pip install neurobench``, Apache-2.0)
defines, and :func:`benchmark_figures` computes with the same definitions (checked equal to
NeuroBench 2.3.0's ``Benchmark`` in ``tests/hardware/test_benchmark_metrics.py``):

* **footprint**: bytes of all parameters and buffers of the model;
* **connection sparsity**: the fraction of zero weights of the ``Linear`` and ``Conv1d/2d/3d``
  layers (biases and neuron parameters are not connections), rounded to 4 decimals;
* **activation sparsity**: the fraction of zero outputs of the neuron layers, over all neurons,
  time steps and samples;
* **synaptic operations** per sample: each connection layer's input, made binary (non-zero
  becomes 1), through the layer with binary weights and no bias, summed over its outputs and
  over time. The input of a layer is *spiking* when all its values are -1, 0 or 1: its
  operations are accumulates (**effective ACs**), else multiply-accumulates (**effective
  MACs**). **Dense** counts every connection at every step (all inputs and weights set to 1).
* **membrane updates** per sample (NeuroBench's ``MembraneUpdates``): for every neuron layer, all
  its neurons at the first time step, then at each later step the neurons whose membrane ``v``
  (the state after the step, after reset) differs from the step before; summed over layers.

NeuroBench finds the neuron layers by their class; spikeforge's neuron modules return
``(spikes, state)``, so :func:`neurobench_adaptor` wraps each in :class:`NeuronSpikes` (which
returns the spikes only) and takes NeuroBench's batch-first ``[B, T, ...]`` input. NeuroBench
reads membranes only from snntorch neurons (its ``NeuronHook`` tests ``isinstance(layer,
snntorch.SpikingNeuron)`` and reads ``layer.mem`` around each call, one call per time step), so
``neurobench_adaptor(model, membranes=True)`` runs the model one step per call and presents each
neuron module as such a neuron (:class:`NeuronStep`), for NeuroBench's ``MembraneUpdates``.
NeuroBench's ``NeuronOperations`` is not supported: it prices the resets of snntorch's own
classes (``Leaky``, ``Synaptic``, ...) by their names.

**Energy per inference** is not a NeuroBench figure: :meth:`BenchmarkFigures.energy` prices these
counts with a chip's published energy per operation (:func:`~spikeforge.hardware.energy_estimate`,
which names each number's source and refuses targets with none). For that, the figures also
hold ``neuron_steps``: every neuron of every neuron layer at every time step, per sample (what a
time-stepped chip updates, changed or not).

Example:
    >>> import torch, spikeforge as sf
    >>> net = sf.Sequential(torch.nn.Linear(16, 32), sf.neurons.LIF(32, dt=5.0),
    ...                     torch.nn.Linear(32, 8), sf.neurons.LIF(8, dt=5.0))
    >>> x = (torch.rand(20, 4, 16, generator=torch.Generator().manual_seed(0)) < 0.2).float()
    >>> fig = sf.hardware.benchmark_figures(net, x)
    >>> fig.dense_synops                               # 20 steps x (16*32 + 32*8) connections
    15360.0
    >>> fig.effective_macs                             # the input is spikes: accumulates only
    0.0
    >>> fig.membrane_updates <= fig.neuron_steps == 20 * (32 + 8)  # at most every neuron, every step
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import MissingDependencyError, ShapeError
from ..neurons.base import NeuronModule
from .energy import EnergyEstimate, energy_estimate
from .targets import ChipTarget

__all__ = ["BenchmarkFigures", "benchmark_figures", "neurobench_adaptor", "NeuronSpikes", "NeuronStep"]

_CONNECTIONS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_ACTIVATIONS = (nn.ReLU, nn.Sigmoid)  # NeuroBench's activation layers besides spiking neurons


@dataclass
class BenchmarkFigures:
    """NeuroBench's figures of a model on some input (see the module docstring).

    Attributes:
        footprint_bytes: bytes of parameters and buffers.
        connection_sparsity: fraction of zero weights of the connection layers (4 decimals).
        activation_sparsity: fraction of zero neuron outputs.
        effective_macs: multiply-accumulates per sample (connections fed non-spike values).
        effective_acs: accumulates per sample (connections fed spikes).
        dense_synops: every connection at every step, per sample.
        samples: the number of samples the workload figures average over.
        membrane_updates: membrane updates per sample (NeuroBench's ``MembraneUpdates``).
        neuron_steps: neurons of all neuron layers times time steps, per sample (not a NeuroBench
            figure: the neuron updates of a time-stepped chip, for :meth:`energy`).
    """

    footprint_bytes: int
    connection_sparsity: float
    activation_sparsity: float
    effective_macs: float
    effective_acs: float
    dense_synops: float
    samples: int
    membrane_updates: float = 0.0
    neuron_steps: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The figures as a JSON-ready dict."""
        return asdict(self)

    def energy(self, target: str | ChipTarget) -> EnergyEstimate:
        """Energy per inference (per sample) on ``target`` from these counts:
        :func:`~spikeforge.hardware.energy_estimate` with the effective ACs as synaptic
        operations, the effective MACs, the membrane updates and the neuron-steps.

        Raises:
            ParameterError: ``target`` has no published energy per operation (the message says why).
        """
        return energy_estimate(
            target,
            synaptic_ops=self.effective_acs,
            macs=self.effective_macs,
            membrane_updates=self.membrane_updates,
            neuron_steps=self.neuron_steps,
        )

    def __str__(self) -> str:
        return (
            f"NeuroBench figures ({self.samples} samples): footprint {self.footprint_bytes} B, "
            f"connection sparsity {self.connection_sparsity:.4f}, activation sparsity "
            f"{self.activation_sparsity:.4f}, synaptic operations per sample: "
            f"{self.effective_acs:.1f} ACs, {self.effective_macs:.1f} MACs (dense {self.dense_synops:.1f}), "
            f"membrane updates per sample {self.membrane_updates:.1f} (of {self.neuron_steps:.0f} "
            "neuron-steps)"
        )


def _apply(layer: nn.Module, x: Tensor, weight: Tensor) -> Tensor:
    """``layer``'s connection on ``x`` with ``weight`` in place of its own, without bias."""
    if isinstance(layer, nn.Linear):
        return torch.nn.functional.linear(x, weight)
    return layer._conv_forward(x, weight, None)  # type: ignore[operator]


def _synops(layer: nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d, x: Tensor) -> tuple[float, float, bool]:
    """(effective ops, dense ops, spiking) of one call of ``layer`` on ``x``: the binary input
    through the binary weights (all ones for the dense count), summed."""
    with torch.no_grad():
        w = layer.weight
        spiking = bool(((x == 0) | (x == 1) | (x == -1)).all())
        ones = (x != 0).to(w.dtype)
        effective = float(_apply(layer, ones, (w != 0).to(w.dtype)).sum())
        dense = float(_apply(layer, torch.ones_like(ones), torch.ones_like(w)).sum())
    return effective, dense, spiking


class _MembraneRecorder:
    """Counts one neuron module's membrane updates as NeuroBench does, whether the model runs it
    on whole sequences (``forward``, as a Sequential does) or step by step (``step``, as a
    NIRGraphModule does): the instance's ``forward`` and ``step`` are shadowed while the model
    runs, by versions that also read ``v`` (``forward`` runs ``scan(record=True)``, so nothing is
    computed twice and random draws are not repeated). Step-by-step calls also add their outputs
    to ``act`` (the forward hooks see only ``forward``)."""

    def __init__(self, module: NeuronModule, act: dict[str, int]) -> None:
        self.module = module
        self.act = act
        self.updates = 0
        self.steps = 0  # neuron-steps: every neuron at every step
        self.first = True  # NeuroBench counts every neuron at the first step of a run
        self.in_forward = False

    def _count(self, before: Tensor | None, after: Tensor) -> None:
        if self.first or before is None:
            self.updates += after.numel()
            self.first = False
        else:
            self.updates += int(torch.count_nonzero(after != before))

    def attach(self) -> None:
        m = self.module
        cls = type(m)

        def forward(x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
            self.in_forward = True
            try:
                result = cls.scan(m, x, state, record=True)
            finally:
                self.in_forward = False
            self.steps += result.output.numel()
            v = getattr(result.trace, "v", None)
            if v is not None:
                self._count(getattr(state, "v", None), v[0])
                self.updates += int(torch.count_nonzero(v[1:] != v[:-1]))
            return result.output, result.state

        def step(x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
            out, new = cls.step(m, x, state)
            if not self.in_forward:
                self.steps += out.numel()
                self.act["all"] += out.numel()
                self.act["zero"] += out.numel() - int(torch.count_nonzero(out))
                if getattr(new, "v", None) is not None:
                    self._count(getattr(state, "v", None), new.v)
            return out, new

        m.__dict__["forward"] = forward
        m.__dict__["step"] = step

    def detach(self) -> None:
        self.module.__dict__.pop("forward", None)
        self.module.__dict__.pop("step", None)


def benchmark_figures(model: nn.Module, x: Tensor) -> BenchmarkFigures:
    """NeuroBench's footprint, connection sparsity, activation sparsity and synaptic operations of
    ``model`` run on ``x``.

    Args:
        model: a spikeforge model taking time-major input (``Sequential``, a neuron module, a
            ``NIRGraphModule``): ``model(x)`` returns ``(output, state)``.
        x: input ``[T, B, ...]``; the workload figures are per sample (divided by ``B``).

    Returns:
        the :class:`BenchmarkFigures`.

    Raises:
        ShapeError: ``x`` has no batch dimension.
    """
    if x.dim() < 3:
        raise ShapeError(f"benchmark_figures expects x of shape [T, B, ...], got {list(x.shape)}")
    params = list(model.parameters()) + list(model.buffers())
    footprint = sum(p.numel() * p.element_size() for p in params)
    zeros = weights = 0
    for m in model.modules():
        if isinstance(m, _CONNECTIONS):
            zeros += int((m.weight == 0).sum())
            weights += m.weight.numel()
    sparsity = round(zeros / weights, 4) if weights else 0.0
    ops = {"mac": 0.0, "ac": 0.0, "dense": 0.0}
    act = {"zero": 0, "all": 0}

    def on_connection(layer: nn.Module, inputs: tuple[Tensor, ...]) -> None:
        if not isinstance(layer, _CONNECTIONS):  # only these get the hook
            return
        effective, dense, spiking = _synops(layer, inputs[0])
        ops["ac" if spiking else "mac"] += effective
        ops["dense"] += dense

    def on_activation(_: nn.Module, __: Any, output: Any) -> None:
        spikes = output[0] if isinstance(output, tuple) else output
        act["all"] += spikes.numel()
        act["zero"] += spikes.numel() - int(torch.count_nonzero(spikes))

    handles = []
    recorders = [_MembraneRecorder(m, act) for m in model.modules() if isinstance(m, NeuronModule)]
    for m in model.modules():
        if isinstance(m, _CONNECTIONS):
            handles.append(m.register_forward_pre_hook(on_connection))
        elif isinstance(m, (NeuronModule, *_ACTIVATIONS)):
            handles.append(m.register_forward_hook(on_activation))
    try:
        for rec in recorders:
            rec.attach()
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        for rec in recorders:
            rec.detach()
    batch = x.shape[1]
    return BenchmarkFigures(
        footprint_bytes=footprint,
        connection_sparsity=sparsity,
        activation_sparsity=act["zero"] / act["all"] if act["all"] else 0.0,
        effective_macs=ops["mac"] / batch,
        effective_acs=ops["ac"] / batch,
        dense_synops=ops["dense"] / batch,
        samples=batch,
        membrane_updates=sum(rec.updates for rec in recorders) / batch,
        neuron_steps=sum(rec.steps for rec in recorders) / batch,
    )


class NeuronSpikes(nn.Module):
    """A neuron module that returns its spikes only, for NeuroBench's activation hooks (register
    this class with ``NeuroBenchModel.add_activation_module(NeuronSpikes)``)."""

    takes_sequence = True

    def __init__(self, neuron: NeuronModule) -> None:
        super().__init__()
        self.neuron = neuron

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        spikes, _ = self.neuron(x, state)
        return spikes  # type: ignore[return-value]


class NeuronStep(nn.Module):
    """A neuron module run one time step per call, keeping its state between calls and its
    membrane ``v`` (after the step) as ``mem``, and returning ``(spikes, mem)`` as snntorch's
    neurons do: what NeuroBench's neuron hook reads (see the module docstring).
    :func:`neurobench_adaptor` with ``membranes=True`` builds these, as subclasses of
    ``snntorch.SpikingNeuron`` (NeuroBench imports snntorch itself); :meth:`start` clears the
    state before a run."""

    init_hidden = False  # read by NeuroBench's hook: the output is the (spikes, mem) tuple
    output = True

    def __init__(self, neuron: NeuronModule) -> None:
        nn.Module.__init__(self)  # not snntorch's __init__: no registration in its global list
        self.neuron = neuron
        self.state: Any = None
        self.mem: Tensor = torch.zeros(0)

    def start(self) -> None:
        """Forget the state: the next call is the first step of a run."""
        self.state = None

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        spikes, self.state = self.neuron.step(x, self.state)
        self.mem = self.state.v
        return spikes, self.mem


def _snntorch_step_class() -> type[NeuronStep]:
    try:
        import snntorch
    except ImportError as e:
        raise MissingDependencyError(
            "neurobench_adaptor(membranes=True) presents neurons as snntorch's, which NeuroBench "
            "reads membranes from: pip install snntorch (NeuroBench needs it too)"
        ) from e
    return type("NeuronStep", (NeuronStep, snntorch.SpikingNeuron), {})


class _BatchFirst(nn.Module):
    def __init__(self, chain: nn.Sequential, per_step: bool = False) -> None:
        super().__init__()
        self.chain = chain
        self.per_step = per_step

    def forward(self, x: Tensor) -> Tensor:
        if self.per_step:
            for module in self.chain:
                if isinstance(module, NeuronStep):
                    module.start()
            outs = []
            for t in range(x.shape[1]):
                y = x[:, t]
                for module in self.chain:
                    y = module(y)[0] if isinstance(module, NeuronStep) else module(y)
                outs.append(y)
            return torch.stack(outs, 1)
        x = x.transpose(0, 1)
        for module in self.chain:
            if isinstance(module, NeuronSpikes):
                x = module(x)  # type: ignore[assignment]
            else:
                steps, batch = x.shape[0], x.shape[1]
                y = module(x.reshape(steps * batch, *x.shape[2:]))
                x = y.reshape(steps, batch, *y.shape[1:])
        return x.transpose(0, 1)


def neurobench_adaptor(model: nn.Sequential, *, membranes: bool = False) -> nn.Module:
    """``model`` (a chain of stateless modules and neuron modules, e.g. a
    :class:`~spikeforge.Sequential`) as a module NeuroBench's ``TorchModel`` wraps: it takes
    batch-first ``[B, T, ...]`` input, returns the output spikes ``[B, T, n]``, and holds the
    model's own modules (so footprint and sparsity are the model's), each neuron module inside a
    :class:`NeuronSpikes`.

    Args:
        model: the chain.
        membranes: run one time step per call, each neuron module inside a :class:`NeuronStep`
            that NeuroBench takes for an snntorch neuron, so that its ``MembraneUpdates`` metric
            reads the membranes; register ``NeuronStep`` with ``add_activation_module``. Needs
            snntorch (as NeuroBench does).

    Raises:
        MissingDependencyError: ``membranes=True`` without snntorch.

    Example:
        >>> import torch, spikeforge as sf
        >>> net = sf.Sequential(torch.nn.Linear(4, 3), sf.neurons.LIF(3))
        >>> nb = sf.hardware.neurobench_adaptor(net)
        >>> nb(torch.zeros(2, 10, 4)).shape
        torch.Size([2, 10, 3])
    """
    if membranes:
        step_cls = _snntorch_step_class()
        stepped = [step_cls(m) if isinstance(m, NeuronModule) else m for m in model]
        return _BatchFirst(nn.Sequential(*stepped), per_step=True)
    modules = [NeuronSpikes(m) if isinstance(m, NeuronModule) else m for m in model]
    return _BatchFirst(nn.Sequential(*modules))
