"""The engines that run a :class:`~spikeforge.circuits.Network`: :mod:`.torch` (PyTorch, any
device, gradients) and :mod:`.compiled` (numba kernels on the CPU)."""
