"""Data-parallel training with :mod:`torch.distributed` (DDP).

Each process holds a full copy of the model, trains on its own shard of every global batch
(a :class:`~torch.utils.data.distributed.DistributedSampler`, see
:func:`~spikeforge.training.make_loader` with ``distributed=True``), and
:class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients over processes after
each backward pass. With a loss that is a mean over the local batch and the same number of
samples on every process, the averaged gradient is that of the mean loss over the global batch,
so one step with ``P`` processes of ``B / P`` samples each gives the weights of one process on
all ``B`` samples, up to float rounding. :class:`~spikeforge.training.Trainer` wraps the model in
DDP by itself when a process group is initialised; only rank 0 writes checkpoints and shows
progress.

:func:`run_distributed` starts ``world_size`` local processes for tests and single-machine runs;
on several machines, start the processes with ``torchrun`` and call
:func:`torch.distributed.init_process_group` yourself.

Example:
    >>> from spikeforge.training.distributed import run_distributed
    >>> def rank_times_ten(rank: int, world_size: int) -> int:   # must be importable
    ...     return 10 * rank
    >>> run_distributed(rank_times_ten, 2)                        # doctest: +SKIP
    [0, 10]
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import ParameterError

__all__ = ["run_distributed", "free_port", "is_distributed", "rank_and_world_size", "all_reduce_sum"]

LOCALHOST = "127.0.0.1"


def is_distributed() -> bool:
    """Whether a default :mod:`torch.distributed` process group is initialised in this process."""
    return bool(torch.distributed.is_available() and torch.distributed.is_initialized())


def rank_and_world_size() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` without a process group."""
    if not is_distributed():
        return 0, 1
    return torch.distributed.get_rank(), torch.distributed.get_world_size()


def all_reduce_sum(t: Tensor) -> Tensor:
    """Sum ``t`` over all processes, in place (a no-op without a process group); returns ``t``."""
    if is_distributed():
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
    return t


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _loopback_interface() -> str | None:
    try:
        names = [name for _, name in socket.if_nameindex()]
    except (OSError, AttributeError):  # pragma: no cover - platform without if_nameindex
        return None
    return next((n for n in names if n == "lo" or n.startswith("lo")), None)


def _worker(
    rank: int,
    fn: Callable[..., Any],
    world_size: int,
    port: int,
    backend: str,
    num_threads: int,
    timeout_s: float,
    out_dir: str,
    args: tuple[Any, ...],
) -> None:
    torch.set_num_threads(num_threads)
    if backend == "gloo" and "GLOO_SOCKET_IFNAME" not in os.environ:
        iface = _loopback_interface()  # keep gloo's traffic on the loopback interface
        if iface is not None:
            os.environ["GLOO_SOCKET_IFNAME"] = iface
    torch.distributed.init_process_group(
        backend,
        init_method=f"tcp://{LOCALHOST}:{port}",
        rank=rank,
        world_size=world_size,
        timeout=timedelta(seconds=timeout_s),
    )
    try:
        result = fn(rank, world_size, *args)
        torch.save(result, Path(out_dir) / f"rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def run_distributed(
    fn: Callable[..., Any],
    world_size: int,
    *args: Any,
    backend: str = "gloo",
    num_threads: int = 1,
    timeout_s: float = 300.0,
) -> list[Any]:
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` new local processes joined in one
    process group, and return what each returned.

    The processes are started with ``torch.multiprocessing.spawn``; they rendezvous over TCP on
    ``127.0.0.1`` at a free port (gloo's traffic stays on the loopback interface), each uses
    ``num_threads`` intra-op threads, and each leaves the process group when ``fn`` returns.

    Args:
        fn: a module-level (picklable) function; its first two arguments are the rank and the
            world size. Its return value must be picklable (tensors are fine).
        world_size: number of processes (>= 1).
        *args: further arguments of ``fn``, picklable.
        backend: ``"gloo"`` (CPU, default) or ``"nccl"`` (one GPU per process).
        num_threads: ``torch.set_num_threads`` in each process, so that processes do not
            oversubscribe the cores.
        timeout_s: timeout of the collectives, in seconds.

    Returns:
        ``[fn's result on rank 0, on rank 1, ...]``.

    Raises:
        ParameterError: bad ``world_size``, ``num_threads`` or ``backend``.
        torch.multiprocessing.ProcessRaisedException: ``fn`` raised in a process (the message
            holds its traceback).

    Example:
        >>> import torch
        >>> from spikeforge.training.distributed import run_distributed
        >>> def total(rank, world_size):        # defined in an importable module
        ...     t = torch.tensor([float(rank + 1)])
        ...     torch.distributed.all_reduce(t)
        ...     return t.item()
        >>> run_distributed(total, 2)           # doctest: +SKIP
        [3.0, 3.0]
    """
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ParameterError(f"world_size must be an int >= 1, got {world_size!r}")
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise ParameterError(f"num_threads must be an int >= 1, got {num_threads!r}")
    if backend not in ("gloo", "nccl"):
        raise ParameterError(f"backend must be one of ['gloo', 'nccl'], got {backend!r}")
    if not torch.distributed.is_available():
        raise ParameterError("this build of torch has no torch.distributed support")
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="spikeforge-ddp-") as out_dir:
        port = free_port()
        mp.spawn(
            _worker,
            args=(fn, world_size, port, backend, num_threads, timeout_s, out_dir, tuple(args)),
            nprocs=world_size,
            join=True,
        )
        # our own children's files: a full unpickler so that any picklable result comes back
        return [
            torch.load(Path(out_dir) / f"rank{r}.pt", weights_only=False, map_location="cpu")
            for r in range(world_size)
        ]
