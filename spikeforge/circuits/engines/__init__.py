"""The engines that run a :class:`~spikeforge.circuits.Network`, behind one interface
(:class:`~spikeforge.circuits.engines.base.Engine`), and the chooser ``Network.run`` asks.

- :class:`~spikeforge.circuits.engines.torch.TorchEngine`: PyTorch; any network, any device,
  gradients (the reference).
- :class:`~spikeforge.circuits.engines.compiled.CompiledEngine`: numba kernels on the CPU,
  without gradients.
- :class:`~spikeforge.circuits.engines.gpu.TritonEngine`: Triton kernels on CUDA devices (LIF,
  exponential current synapses, Poisson groups, spike sources), in CUDA graphs.
- :func:`~spikeforge.circuits.engines.choose.choose_engine`: which engine runs a network, and why
  the compiled one does not.

Imports run one way: the engines import the description's parts and the state
(:mod:`spikeforge.circuits.state`), never :mod:`spikeforge.circuits.network` or the chooser; the
network imports only the chooser, inside ``Network.run``.
"""

from .base import Engine
from .choose import choose_engine
from .compiled import CompiledEngine
from .gpu import TritonEngine
from .torch import TorchEngine

__all__ = ["Engine", "CompiledEngine", "TorchEngine", "TritonEngine", "choose_engine"]
