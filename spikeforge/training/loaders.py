"""Data loaders whose order depends only on seeds, and the machinery that lets a resumed run
replay an epoch's order from the generator states saved at its start (see
:mod:`spikeforge.training.trainer`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler
from torch.utils.data.distributed import DistributedSampler

from ..errors import ParameterError
from .distributed import is_distributed, rank_and_world_size

__all__ = ["make_loader"]


def make_loader(
    dataset: Dataset[Any],
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    drop_last: bool = False,
    num_workers: int = 0,
    distributed: bool = False,
) -> DataLoader[Any]:
    """A :class:`~torch.utils.data.DataLoader` whose order depends only on ``seed`` (and the
    epoch), never on the global RNG.

    Args:
        dataset: a map-style dataset yielding ``(x, label)``.
        batch_size: samples per batch, per process when ``distributed``.
        shuffle: reshuffle every epoch.
        seed: seed of the loader's own :class:`torch.Generator` (or of the
            ``DistributedSampler``, which draws the order of epoch ``e`` from ``seed + e``).
        collate_fn: batch builder; for spikeforge models it must give time-major
            ``x [T, B, *features]`` (e.g. ``spikeforge.data.pad_collate``).
        drop_last: drop the last, smaller batch.
        num_workers: loader worker processes.
        distributed: shard the data over the processes of the current process group with a
            ``DistributedSampler`` (every process gets the same number of samples, padding
            with repeats unless ``drop_last``), so that per-process batches are equal.

    Returns:
        The loader.

    Raises:
        ParameterError: bad ``batch_size``, or ``distributed`` without a process group.

    Example:
        >>> import torch
        >>> from torch.utils.data import TensorDataset
        >>> loader = make_loader(TensorDataset(torch.arange(6)), 4, seed=1)
        >>> [b[0].tolist() for b in loader] == [b[0].tolist() for b in make_loader(
        ...     TensorDataset(torch.arange(6)), 4, seed=1)]
        True
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ParameterError(f"seed must be an int, got {seed!r}")
    gen = torch.Generator().manual_seed(seed)
    if distributed:
        if not is_distributed():
            raise ParameterError(
                "make_loader(distributed=True) needs an initialised process group: call "
                "torch.distributed.init_process_group first (run_distributed does it for you)"
            )
        rank, world = rank_and_world_size()
        sampler: DistributedSampler[Any] = DistributedSampler(
            dataset, num_replicas=world, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last
        )
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            collate_fn=collate_fn,
            drop_last=drop_last,
            num_workers=num_workers,
            generator=gen,
        )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        collate_fn=collate_fn,
        drop_last=drop_last,
        num_workers=num_workers,
        generator=gen,
    )


def _samplers(loader: DataLoader[Any]) -> list[Any]:
    found: list[Any] = []
    for s in (loader.sampler, loader.batch_sampler, getattr(loader.batch_sampler, "sampler", None)):
        if s is not None and all(s is not o for o in found):
            found.append(s)
    return found


def _bind(loader: DataLoader[Any], gen: torch.Generator) -> None:
    """Give ``gen`` to a loader and its samplers where they have no generator (which would make
    them draw from the global RNG)."""
    if loader.generator is None:
        loader.generator = gen
    for s in _samplers(loader):
        if hasattr(s, "generator") and s.generator is None:
            s.generator = gen


def _generators(loader: DataLoader[Any]) -> list[torch.Generator]:
    """The distinct generators that decide what a loader yields, in a fixed order."""
    candidates = [loader.generator, *(getattr(s, "generator", None) for s in _samplers(loader))]
    candidates.append(getattr(loader.dataset, "generator", None))
    gens: list[torch.Generator] = []
    for g in candidates:
        if isinstance(g, torch.Generator) and all(g is not h for h in gens):
            gens.append(g)
    return gens


def _set_epoch(loader: DataLoader[Any], epoch: int) -> None:
    for s in _samplers(loader):
        set_epoch = getattr(s, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)


class _SkipBatches(Sampler[list[int]]):
    """A batch sampler that draws all batches of ``batch_sampler`` (so its generator advances as
    usual) but yields only those after the first ``skip``."""

    def __init__(self, batch_sampler: Any, skip: int) -> None:
        self.batch_sampler = batch_sampler
        self.skip = skip

    def __iter__(self) -> Iterator[list[int]]:  # a generator: draws nothing before the first next()
        for i, batch in enumerate(self.batch_sampler):
            if i >= self.skip:
                yield batch

    def __len__(self) -> int:
        return max(len(self.batch_sampler) - self.skip, 0)


def _iterate(loader: DataLoader[Any], skip: int) -> Iterator[Any]:
    """Iterate ``loader`` from batch ``skip`` on, with the generator draws of a full epoch."""
    if skip == 0:
        return iter(loader)
    total = _length(loader)
    if total is not None and skip > total:
        raise ParameterError(
            f"the checkpoint is after batch {skip} of its epoch but train_loader has {total} batch(es) "
            f"per epoch; resume with the loader of the interrupted run"
        )
    replay = isinstance(getattr(loader.dataset, "generator", None), torch.Generator)
    if (
        type(loader) is DataLoader
        and loader.batch_sampler is not None
        and not isinstance(loader.dataset, IterableDataset)
        and not replay
    ):
        kw: dict[str, Any] = dict(
            batch_sampler=_SkipBatches(loader.batch_sampler, skip),
            num_workers=loader.num_workers,
            collate_fn=loader.collate_fn,
            pin_memory=loader.pin_memory,
            timeout=loader.timeout,
            worker_init_fn=loader.worker_init_fn,
            multiprocessing_context=loader.multiprocessing_context,
            generator=loader.generator,
            prefetch_factor=loader.prefetch_factor,
            pin_memory_device=loader.pin_memory_device,
        )
        if "in_order" in inspect.signature(DataLoader.__init__).parameters:
            kw["in_order"] = getattr(loader, "in_order", True)
        return iter(DataLoader(loader.dataset, **kw))
    it = iter(loader)  # load and drop the batches done (replays the dataset's draws)
    for i in range(skip):
        try:
            next(it)
        except StopIteration:
            raise ParameterError(
                f"the checkpoint is after batch {skip} of its epoch but train_loader ended after {i}; "
                f"resume with the loader of the interrupted run"
            ) from None
    return it


def _length(loader: DataLoader[Any]) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None
