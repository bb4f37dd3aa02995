"""Training loop for spiking networks: backpropagation through time with surrogate gradients,
checkpoints that resume exactly, and data-parallel training.

:class:`Trainer` runs a model that maps a time-major batch ``x [T, B, *features]`` to
``(out [T, B, C], states)`` (any spikeforge module, e.g. :class:`spikeforge.Sequential`) over the
whole sequence, applies a loss to its readout, and steps the optimizer once per batch.

**Randomness.** The trainer never touches the global RNG. It owns a :class:`torch.Generator`
(seeded by ``seed``, or the one passed) and gives it to the training loader where the loader has
none: as ``DataLoader.generator`` (which otherwise draws a worker seed from the global RNG each
epoch) and to a shuffling sampler (``RandomSampler`` and the like). Evaluation loaders without a
generator get a separate one, so evaluating never changes the training order.

**Exact resume.** A checkpoint holds the weights, the optimizer (and scheduler), the position
``(epoch, batch, step)``, the running sums of the epoch so far, the history, and the states of
the training loader's generators *at the start of the current epoch*. Resuming restores those
states, re-creates the epoch's sampling order, and skips the batches already done (without
loading them where the loader allows); a ``DistributedSampler`` is put back on the epoch with
``set_epoch``. The remaining batches then arrive in the same order and every operation runs as in
the uninterrupted run, so on the CPU an interrupted and resumed run ends with **bitwise** the same
weights (resume with the same loaders and ``epochs``; a run stopped by ``max_steps`` at an epoch's
last batch still lets the loader run out, since a ``RandomSampler`` draws once more when
exhausted). This needs a deterministic model (no dropout drawing from the global RNG) and a dataset
that is deterministic per index or draws from a ``dataset.generator`` (then skipped batches are
loaded, to replay its draws).

Checkpoint file (``torch.save`` of a dict, written to a temporary file and moved into place with
``os.replace``, so a crash never leaves a half-written checkpoint)::

    format        "spikeforge.training.checkpoint"
    version       1
    epoch         epochs completed
    batch         batches done in the current epoch (0 at an epoch boundary)
    step          optimizer steps done in total
    model         model.state_dict()
    optimizer     optimizer.state_dict()
    scheduler     scheduler.state_dict() or None
    rng           {"trainer": generator state, "epoch_start": [loader generator states]}
    meters        per-rank running sums of the epoch so far
    history       History.to_dict()
    world_size, readout, dtype, spikeforge_version, torch_version

Example:
    >>> import torch, spikeforge as sf
    >>> from torch.utils.data import TensorDataset
    >>> from spikeforge.training import Trainer, make_loader
    >>> g = torch.Generator().manual_seed(0)
    >>> x = (torch.rand(16, 20, 8, generator=g) < 0.3).float()          # [N, T, features]
    >>> y = torch.arange(16) % 2
    >>> def collate(batch):                                            # time-major [T, B, F]
    ...     xs, ys = zip(*batch)
    ...     return torch.stack(xs, dim=1), torch.stack(ys)
    >>> loader = make_loader(TensorDataset(x, y), 8, seed=0, collate_fn=collate)
    >>> model = sf.Sequential(torch.nn.Linear(8, 2), sf.neurons.LIF(2))
    >>> trainer = Trainer(model, torch.optim.Adam(model.parameters(), 1e-2), progress=False)
    >>> history = trainer.fit(loader, epochs=2)
    >>> len(history), sorted(trainer.evaluate(loader))
    (2, ['accuracy', 'confusion', 'loss', 'samples'])
"""

from __future__ import annotations

import copy
import math
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, IterableDataset
from tqdm import tqdm

from .._checks import check_choice, check_state_dict
from ..errors import DTypeError, ParameterError, ShapeError, SpikeforgeError
from ..neurons.base import NeuronModule
from ..sequential import Sequential
from .checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    CHECKPOINT_VERSION,
    _atomic_save,
    load_checkpoint,
    tensors_checksum,
)
from .delays import DelayAnnealing, delay_layers
from .distributed import is_distributed, rank_and_world_size
from .history import History
from .loaders import _bind, _generators, _iterate, _length, _samplers, _set_epoch
from .losses import FirstSpikeTimeLoss, MaxMembraneCrossEntropy, SpikeCountCrossEntropy
from .metrics import READOUTS, MeanMeter, Readout, confusion_matrix, predict

__all__ = ["Trainer"]

LossFn = Callable[[Tensor, Tensor], Tensor]
StepCallback = Callable[["Trainer"], None]


# ---------------------------------------------------------------------------------------------
# model readout


def _output_of(result: Any) -> Tensor:
    if isinstance(result, Tensor):
        return result
    if isinstance(result, (tuple, list)) and result and isinstance(result[0], Tensor):
        return result[0]
    raise ParameterError(
        "the model must return (output [T, B, C], state) as spikeforge modules do, "
        f"got {type(result).__name__}"
    )


class _ReadoutModule(nn.Module):
    """What the loss sees: the model's output spikes, or the membrane trace of its last layer."""

    def __init__(self, model: nn.Module, readout: str) -> None:
        super().__init__()
        self.model = model
        self.readout = readout

    def forward(self, x: Tensor) -> Tensor:
        if self.readout != "max_membrane":
            return _output_of(self.model(x))
        model = self.model
        assert isinstance(model, Sequential)  # checked by the Trainer
        h = x
        if len(model) > 1:
            h, _ = model[:-1](x)
        last = model[-1]
        assert isinstance(last, NeuronModule)
        trace = last.scan(h, record=True).trace
        v = getattr(trace, "v", None)
        if not isinstance(v, Tensor):
            raise ParameterError(
                f"readout='max_membrane' needs a last layer whose recorded state has a membrane 'v', "
                f"got {type(last).__name__}"
            )
        return v


def _check_membrane_model(model: nn.Module) -> None:
    if not (isinstance(model, Sequential) and len(model) >= 1 and isinstance(model[-1], NeuronModule)):
        raise ParameterError(
            "readout='max_membrane' needs an sf.Sequential whose last module is a neuron module (its "
            f"membrane is the readout; give it a threshold it never reaches), got {type(model).__name__}"
        )


# ---------------------------------------------------------------------------------------------
# trainer


_DEFAULT_LOSS: dict[str, Callable[[], nn.Module]] = {
    "spike_count": SpikeCountCrossEntropy,
    "max_membrane": MaxMembraneCrossEntropy,
    "first_spike": FirstSpikeTimeLoss,
}


class Trainer:
    """Train a spiking network by backpropagation through time with surrogate gradients.

    Each batch ``(x, y)`` from the loader (``x`` time-major ``[T, B, *features]``, ``y`` int labels
    ``[B]``) is moved to ``device`` (``x`` also to the model's dtype), run through the model over
    the whole sequence from rest, and ``loss_fn(readout, y)`` is backpropagated through all time
    steps; then the gradients are clipped (optional) and the optimizer steps. See the module
    docstring for the randomness rules, the checkpoint format and how resuming is exact.

    Args:
        model: maps ``x [T, B, *features]`` to ``(out [T, B, C], state)``, e.g.
            :class:`spikeforge.Sequential`; or a ``DistributedDataParallel`` around such a model.
        optimizer: an optimizer over the model's parameters.
        loss_fn: ``loss_fn(readout, target) -> scalar``, a mean over the batch; default the
            readout's loss (:class:`SpikeCountCrossEntropy`, :class:`MaxMembraneCrossEntropy` or
            :class:`FirstSpikeTimeLoss`).
        readout: what the loss and the accuracy see: ``"spike_count"`` or ``"first_spike"``
            (the output spikes) or ``"max_membrane"`` (the membrane trace ``[T, B, C]`` of the
            last layer, which must be a neuron module of an :class:`spikeforge.Sequential`).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...; the model is moved there.
        dtype: floating dtype to convert the model to (e.g. ``torch.float64``); default: keep
            the model's. Inputs are converted to the model's dtype.
        grad_clip: clip the global gradient norm to this value (> 0), or None.
        scheduler: a learning-rate scheduler, stepped once per epoch, saved in checkpoints.
        checkpoint_dir: folder for ``last.pt``, written every ``checkpoint_every`` steps and at
            the end of each epoch (rank 0 only); None: no checkpoints.
        checkpoint_every: steps between checkpoints (> 0), or None for epoch ends only.
        seed: seed of the trainer's generator (data order of loaders without a generator).
        generator: a CPU :class:`torch.Generator` to use instead of a new seeded one.
        distributed: wrap the model in ``DistributedDataParallel``; default: when a
            :mod:`torch.distributed` process group is initialised.
        progress: show a tqdm progress bar over batches and a summary line per epoch (rank 0).
        delay_annealing: the DCLS recipe for the model's
            :class:`~spikeforge.plasticity.LearnableDelay` layers (:class:`DelayAnnealing`):
            their Gaussian width set at each epoch's start, their delays clamped to the layer's
            range after each step and rounded (width 0) once ``epochs`` are done. Pair it with an
            optimizer built from :func:`delay_param_groups`. None: the layers are left alone.

    Raises:
        ParameterError: bad arguments: unknown readout, an optimizer over other parameters,
            non-positive ``grad_clip`` or ``checkpoint_every``, ``checkpoint_every`` without
            ``checkpoint_dir``, CUDA requested but unavailable, ``distributed=True`` without a
            process group, ``"max_membrane"`` with a model that has no membrane readout,
            ``delay_annealing`` with a model that has no learnable delays.

    Example:
        >>> import torch, spikeforge as sf
        >>> from spikeforge.training import Trainer
        >>> model = sf.Sequential(torch.nn.Linear(4, 3), sf.neurons.LIF(3))
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> trainer = Trainer(model, opt, dtype=torch.float64, seed=0, progress=False)
        >>> trainer.dtype, trainer.step
        (torch.float64, 0)
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: LossFn | None = None,
        *,
        readout: Readout = "spike_count",
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        grad_clip: float | None = None,
        scheduler: Any = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_every: int | None = None,
        seed: int = 0,
        generator: torch.Generator | None = None,
        distributed: bool | None = None,
        progress: bool = True,
        delay_annealing: DelayAnnealing | None = None,
    ) -> None:
        from torch.nn.parallel import DistributedDataParallel as DDP

        check_choice("readout", readout, READOUTS)
        if not isinstance(model, nn.Module):
            raise ParameterError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        user_ddp = model if isinstance(model, DDP) else None
        inner = model.module if user_ddp is not None else model
        if not isinstance(inner, nn.Module):  # pragma: no cover - DDP always wraps a module
            raise ParameterError("the DistributedDataParallel model wraps no module")
        self.model: nn.Module = inner
        self.readout: Readout = readout
        self.device = self._check_device(device)
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ParameterError(
                f"dtype must be a floating torch.dtype (e.g. torch.float64) or None, got {dtype!r}"
            )
        if user_ddp is None:
            self.model.to(device=self.device, dtype=dtype)
        elif dtype is not None:
            raise ParameterError(
                "dtype cannot be changed on a DistributedDataParallel model: convert it first"
            )
        self.dtype: torch.dtype = next(
            (t.dtype for t in (*self.model.parameters(), *self.model.buffers()) if t.is_floating_point()),
            torch.get_default_dtype(),
        )
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ParameterError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        own = {id(p) for p in self.model.parameters()}
        foreign = sum(1 for grp in optimizer.param_groups for p in grp["params"] if id(p) not in own)
        if foreign:
            raise ParameterError(
                f"optimizer holds {foreign} tensor(s) that are not parameters of the model: build it "
                f"from model.parameters() of this model"
            )
        self.optimizer = optimizer
        self.loss_fn: LossFn = loss_fn if loss_fn is not None else _DEFAULT_LOSS[readout]()
        if not callable(self.loss_fn):
            raise ParameterError(f"loss_fn must be callable as loss_fn(readout, target), got {loss_fn!r}")
        if grad_clip is not None and (
            isinstance(grad_clip, bool)
            or not isinstance(grad_clip, (int, float))
            or not (math.isfinite(grad_clip) and grad_clip > 0)
        ):
            raise ParameterError(f"grad_clip must be a finite number > 0 or None, got {grad_clip!r}")
        self.grad_clip = None if grad_clip is None else float(grad_clip)
        if scheduler is not None and not (hasattr(scheduler, "step") and hasattr(scheduler, "state_dict")):
            raise ParameterError(f"scheduler must be a torch learning-rate scheduler, got {scheduler!r}")
        self.scheduler = scheduler
        if checkpoint_every is not None and (
            isinstance(checkpoint_every, bool)
            or not isinstance(checkpoint_every, int)
            or checkpoint_every < 1
        ):
            raise ParameterError(f"checkpoint_every must be an int >= 1 or None, got {checkpoint_every!r}")
        if checkpoint_every is not None and checkpoint_dir is None:
            raise ParameterError("checkpoint_every needs a checkpoint_dir to write to")
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.checkpoint_every = checkpoint_every
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ParameterError(f"seed must be an int, got {seed!r}")
        self.seed = seed
        if generator is not None and not (
            isinstance(generator, torch.Generator) and generator.device.type == "cpu"
        ):
            raise ParameterError(f"generator must be a CPU torch.Generator or None, got {generator!r}")
        self.generator = generator if generator is not None else torch.Generator().manual_seed(seed)
        self._eval_generator = torch.Generator().manual_seed(seed)
        self.progress = bool(progress)
        if delay_annealing is not None and not isinstance(delay_annealing, DelayAnnealing):
            raise ParameterError(
                "delay_annealing must be a spikeforge.training.DelayAnnealing or None, "
                f"got {delay_annealing!r}"
            )
        self.delay_annealing = delay_annealing
        self._delay_layers = delay_layers(self.model) if delay_annealing is not None else []
        if delay_annealing is not None and not self._delay_layers:
            raise ParameterError(
                "delay_annealing needs a model with LearnableDelay layers whose delays learn "
                f"(learn_delays=True); {type(self.model).__name__} has none"
            )

        if distributed is None:
            distributed = user_ddp is not None or is_distributed()
        if distributed and not is_distributed():
            raise ParameterError(
                "distributed=True needs an initialised torch.distributed process group "
                "(torch.distributed.init_process_group, or run_distributed)"
            )
        self.distributed = bool(distributed)
        self.rank, self.world_size = rank_and_world_size() if self.distributed else (0, 1)
        if readout == "max_membrane":
            if user_ddp is not None:
                raise ParameterError(
                    "readout='max_membrane' cannot read the membrane through a DistributedDataParallel "
                    "wrapper: pass the plain model, the Trainer wraps it itself"
                )
            _check_membrane_model(self.model)
        self._eval_net = _ReadoutModule(self.model, readout)
        self._net: nn.Module
        if user_ddp is not None:
            self._net = _ReadoutModule(user_ddp, readout)
        elif self.distributed:
            ids = None
            if self.device.type == "cuda":
                ids = [self.device.index if self.device.index is not None else torch.cuda.current_device()]
            self._net = DDP(self._eval_net, device_ids=ids)
        else:
            self._net = self._eval_net

        self.step = 0  # optimizer steps done
        self.epoch = 0  # epochs completed
        self.batch_in_epoch = 0  # batches done in the current epoch
        self.history = History()
        self._loss_meter = MeanMeter()
        self._acc_meter = MeanMeter()
        self._epoch_time = 0.0
        self._epoch_rng: list[Tensor] | None = None  # train-loader generator states at epoch start
        self._resume_rng: list[Tensor] | None = None
        self._epoch_output_spikes = 0.0  # spikes of the output layer this epoch (a silent one is warned of)
        self._warned_silent = False
        self._resume_meters: list[list[float]] | None = None
        self._train_gens: list[torch.Generator] = []
        self._last_saved_step = -1

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _check_device(device: str | torch.device) -> torch.device:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError):
            raise ParameterError(f"device must be 'cpu', 'cuda' or 'cuda:<index>', got {device!r}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ParameterError(f"device={device!r} but CUDA is not available here; use device='cpu'")
        return dev

    @property
    def is_main(self) -> bool:
        """Whether this process is rank 0 (writes checkpoints, shows progress)."""
        return self.rank == 0

    @property
    def checkpoint_path(self) -> Path | None:
        """``checkpoint_dir / "last.pt"``, or None without a checkpoint folder."""
        return None if self.checkpoint_dir is None else self.checkpoint_dir / CHECKPOINT_NAME

    def _collective_device(self) -> torch.device:
        backend = torch.distributed.get_backend() if self.distributed else "gloo"
        return torch.device("cpu") if backend == "gloo" else self.device

    def _batch(self, batch: Any) -> tuple[Tensor, Tensor]:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise ParameterError(
                f"the loader must yield (x, labels) pairs, got {type(batch).__name__}"
                + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "")
            )
        x, y = batch
        if not isinstance(x, Tensor) or not x.is_floating_point():
            what = x.dtype if isinstance(x, Tensor) else type(x).__name__
            raise DTypeError(
                f"x must be a floating tensor (spikes or rates as float32/float64), got {what}; "
                f"convert it in the dataset or collate_fn with x.float()"
            )
        if not isinstance(y, Tensor) or y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
            what = y.dtype if isinstance(y, Tensor) else type(y).__name__
            raise DTypeError(f"labels must be an integer tensor [B] (torch.int64), got {what}")
        if y.dim() != 1 or x.dim() < 3 or x.shape[1] != y.shape[0]:
            raise ShapeError(
                f"a batch must be time-major x [T, B, *features] with labels [B], got x {list(x.shape)} and "
                f"labels {list(y.shape)}; a batch-first loader needs a time-major collate_fn "
                f"(e.g. spikeforge.data.pad_collate)"
            )
        x = x.to(device=self.device, dtype=self.dtype)
        if not bool(torch.isfinite(x).all()):
            raise ParameterError(
                "x contains NaN or infinite values; spiking layers would silently treat them as no "
                "input, so clean the data first"
            )
        return x, y.to(self.device)

    # ------------------------------------------------------------------ training
    def fit(
        self,
        train_loader: DataLoader[Any],
        epochs: int,
        val_loader: DataLoader[Any] | None = None,
        *,
        resume: str | os.PathLike[str] | None = None,
        max_steps: int | None = None,
        on_step: StepCallback | None = None,
    ) -> History:
        """Train until ``epochs`` epochs are complete (counting those of a resumed run).

        Args:
            train_loader: a :class:`~torch.utils.data.DataLoader` of time-major ``(x, labels)``
                batches. Where it (or its shuffling sampler) has no generator it is given the
                trainer's. In distributed training it must shard the data (a
                ``DistributedSampler``, see :func:`make_loader`).
            epochs: total number of epochs (>= 1).
            val_loader: evaluated after each epoch (:meth:`evaluate`), or None.
            resume: a checkpoint file or folder to continue from (:meth:`resume`).
            max_steps: stop once this many optimizer steps are done in total (a checkpoint is
                written when there is a ``checkpoint_dir``), or None.
            on_step: called as ``on_step(trainer)`` after every optimizer step (and after the
                checkpoint of that step); an exception raised there stops training, with the
                work since the last checkpoint lost.

        Returns:
            The :class:`History` (also ``trainer.history``).

        Raises:
            ParameterError: bad arguments, a loader that does not match the checkpoint, a
                non-sharding loader in distributed training, an empty loader.
            DTypeError, ShapeError: batches of the wrong dtype or layout.
            SpikeforgeError: a non-finite loss.
        """
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ParameterError(f"epochs must be an int >= 1, got {epochs!r}")
        if max_steps is not None and (
            isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1
        ):
            raise ParameterError(f"max_steps must be an int >= 1 or None, got {max_steps!r}")
        if on_step is not None and not callable(on_step):
            raise ParameterError(f"on_step must be callable as on_step(trainer), got {on_step!r}")
        for name, loader in (("train_loader", train_loader), ("val_loader", val_loader)):
            if loader is not None and not isinstance(loader, DataLoader):
                raise ParameterError(
                    f"{name} must be a torch.utils.data.DataLoader, got {type(loader).__name__}"
                )
        if resume is not None:
            self.resume(resume)
        _bind(train_loader, self.generator)
        if val_loader is not None:
            _bind(val_loader, self._eval_generator)
        self._check_sharding(train_loader)
        self._train_gens = _generators(train_loader)
        if self._resume_rng is not None and not (self._resume_rng == [] and self.batch_in_epoch == 0):
            if len(self._resume_rng) != len(self._train_gens):
                raise ParameterError(
                    f"the checkpoint holds {len(self._resume_rng)} generator state(s) of its training "
                    f"loader, but train_loader has {len(self._train_gens)}: resume with a loader built "
                    f"as before"
                )
            for g, s in zip(self._train_gens, self._resume_rng):
                g.set_state(s)
            self._epoch_rng = self._resume_rng if self.batch_in_epoch else None
        elif self.batch_in_epoch and self._epoch_rng is not None:
            # continuing a run stopped mid-epoch in this process: replay the epoch's order
            if len(self._epoch_rng) != len(self._train_gens):
                raise ParameterError("train_loader is not the loader of the epoch in progress")
            for g, s in zip(self._train_gens, self._epoch_rng):
                g.set_state(s)
        self._resume_rng = None

        self.optimizer.zero_grad(set_to_none=True)
        while self.epoch < epochs:
            if max_steps is not None and self.step >= max_steps:
                break
            if self.delay_annealing is not None:
                self.delay_annealing.start_epoch(self._delay_layers, self.epoch, epochs)
            stopped = self._train_epoch(train_loader, epochs, max_steps, on_step)
            if stopped:
                break
            self._end_epoch(val_loader, epochs)
        if self.delay_annealing is not None and self.epoch >= epochs:
            self.delay_annealing.finish(self._delay_layers)
        if max_steps is not None and self.step >= max_steps and self._last_saved_step != self.step:
            self._save_if_configured()
        return self.history

    def _check_sharding(self, loader: DataLoader[Any]) -> None:
        if not self.distributed or isinstance(loader.dataset, IterableDataset):
            return
        samplers = _samplers(loader)
        replicas = [getattr(s, "num_replicas", None) for s in samplers]
        if not any(r is not None for r in replicas):
            raise ParameterError(
                "in distributed training every process needs its own shard of the data: build train_loader "
                "with a DistributedSampler, e.g. make_loader(dataset, batch_size, distributed=True)"
            )
        if self.world_size not in replicas:
            raise ParameterError(
                f"train_loader's sampler shards over {[r for r in replicas if r is not None][0]} processes, "
                f"but the process group has {self.world_size}"
            )

    def _train_epoch(
        self, loader: DataLoader[Any], epochs: int, max_steps: int | None, on_step: StepCallback | None
    ) -> bool:
        """Run the (rest of the) current epoch; True if stopped early by ``max_steps``."""
        if self.batch_in_epoch == 0:
            self._epoch_rng = [g.get_state() for g in self._train_gens]
            self._loss_meter.reset()
            self._acc_meter.reset()
            self._epoch_time = 0.0
        elif self._resume_meters is not None:
            mine = self._resume_meters[self.rank]
            self._loss_meter.load_state_dict({"total": mine[0], "count": mine[1]})
            self._acc_meter.load_state_dict({"total": mine[2], "count": mine[3]})
            self._epoch_time = mine[4]
        self._resume_meters = None
        _set_epoch(loader, self.epoch)
        total = _length(loader)
        start = time.perf_counter()
        bar = tqdm(
            total=total,
            initial=self.batch_in_epoch,
            desc=f"epoch {self.epoch + 1}/{epochs}",
            unit="batch",
            leave=False,
            dynamic_ncols=True,
            disable=not (self.progress and self.is_main),
        )
        self._net.train()
        stopped = False
        try:
            for batch in _iterate(loader, self.batch_in_epoch):
                loss, correct, n = self._train_step(batch)
                self.step += 1
                self.batch_in_epoch += 1
                self._loss_meter.update(loss, n)
                self._acc_meter.add(correct, n)
                bar.update(1)
                bar.set_postfix(loss=f"{self._loss_meter.mean:.4f}", acc=f"{100 * self._acc_meter.mean:.1f}%")
                if self.checkpoint_every is not None and self.step % self.checkpoint_every == 0:
                    self._epoch_time += time.perf_counter() - start
                    start = time.perf_counter()
                    self._save_if_configured()
                if on_step is not None:
                    on_step(self)
                if max_steps is not None and self.step >= max_steps and self.batch_in_epoch != total:
                    # (at the epoch's last batch, let the loader run out as an uninterrupted run
                    # does: a RandomSampler draws once more from its generator when exhausted)
                    stopped = True
                    break
        finally:
            self._epoch_time += time.perf_counter() - start
            bar.close()
        if not stopped and self.batch_in_epoch == 0:
            raise ParameterError("train_loader yielded no batches")
        return stopped

    def _train_step(self, batch: Any) -> tuple[float, int, int]:
        x, y = self._batch(batch)
        out = self._net(x)
        loss = self.loss_fn(out, y)
        if not isinstance(loss, Tensor) or loss.dim() != 0:
            raise ParameterError(
                "loss_fn must return a scalar tensor (a mean over the batch), got "
                + (f"shape {list(loss.shape)}" if isinstance(loss, Tensor) else type(loss).__name__)
            )
        value = float(loss.detach())
        if not math.isfinite(value):
            raise SpikeforgeError(
                f"the loss is {value} at step {self.step + 1} (epoch {self.epoch + 1}); lower the learning "
                f"rate, set grad_clip, or check the data for NaN"
            )
        loss.backward()
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.delay_annealing is not None:
            self.delay_annealing.after_step(self._delay_layers)
        correct = int((predict(out.detach(), readout=self.readout) == y).sum())
        if self.readout != "max_membrane":
            self._epoch_output_spikes += float(out.detach().sum())
        return value, correct, int(y.shape[0])

    def _end_epoch(self, val_loader: DataLoader[Any] | None, epochs: int) -> None:
        start = time.perf_counter()
        silent = self.readout != "max_membrane" and self._epoch_output_spikes == 0
        if silent and not self._warned_silent and self.is_main:
            self._warned_silent = True
            warnings.warn(
                f"the output layer did not spike in epoch {self.epoch + 1}: readout={self.readout!r} "
                f"sees no spikes and the loss stays at chance (ln(n_classes)); raise the input weights "
                f"or lower v_th, check that dt is the bin width of the data, or use "
                f"readout='max_membrane'",
                RuntimeWarning,
                stacklevel=3,
            )
        self._epoch_output_spikes = 0.0
        sums = torch.tensor(
            [self._loss_meter.total, self._loss_meter.count, self._acc_meter.total, self._acc_meter.count],
            dtype=torch.float64,
            device=self._collective_device(),
        )
        if self.distributed:
            torch.distributed.all_reduce(sums)
        train_loss, train_acc = float(sums[0] / sums[1]), float(sums[2] / sums[3])
        val = self.evaluate(val_loader) if val_loader is not None else None
        if self.scheduler is not None:
            self.scheduler.step()
        self._epoch_time += time.perf_counter() - start
        self.epoch += 1
        self.batch_in_epoch = 0
        self.history.append(
            epoch=self.epoch,
            step=self.step,
            train_loss=train_loss,
            train_accuracy=train_acc,
            val_loss=None if val is None else val["loss"],
            val_accuracy=None if val is None else val["accuracy"],
            wall_time=self._epoch_time,
        )
        if self.progress and self.is_main:
            msg = f"epoch {self.epoch}/{epochs}: loss {train_loss:.4f}, accuracy {100 * train_acc:.1f}%"
            if val is not None:
                msg += f", val loss {val['loss']:.4f}, val accuracy {100 * val['accuracy']:.1f}%"
            tqdm.write(msg + f" ({self._epoch_time:.1f} s)")
        self._save_if_configured()

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, loader: DataLoader[Any]) -> dict[str, Any]:
        """Loss, accuracy and confusion matrix of the model on ``loader`` (no gradients).

        In distributed training every process must call it; the sums are reduced over the
        processes, so each gets the totals over all shards (a ``DistributedSampler`` pads the
        shards with repeats unless ``drop_last``).

        Args:
            loader: a :class:`~torch.utils.data.DataLoader` of time-major ``(x, labels)``
                batches; given its own generator where it has none.

        Returns:
            ``{"loss": float, "accuracy": float, "samples": int, "confusion": Tensor [C, C]}``
            (rows: true class, columns: predicted class).

        Raises:
            ParameterError: not a DataLoader, or no batches.
            DTypeError, ShapeError: batches of the wrong dtype or layout.
        """
        if not isinstance(loader, DataLoader):
            raise ParameterError(f"loader must be a torch.utils.data.DataLoader, got {type(loader).__name__}")
        _bind(loader, self._eval_generator)
        was_training = self.model.training
        self.model.eval()
        loss_sum, correct, seen = 0.0, 0, 0
        confusion: Tensor | None = None
        try:
            for batch in loader:
                x, y = self._batch(batch)
                out = self._eval_net(x)
                loss = self.loss_fn(out, y)
                pred = predict(out, readout=self.readout)
                loss_sum += float(loss) * int(y.shape[0])
                correct += int((pred == y).sum())
                seen += int(y.shape[0])
                cm = confusion_matrix(pred, y, int(out.shape[-1]))
                confusion = cm if confusion is None else confusion + cm
        finally:
            self.model.train(was_training)
        if confusion is None:
            raise ParameterError("the evaluation loader yielded no batches")
        sums = torch.tensor([loss_sum, float(correct), float(seen)], dtype=torch.float64)
        if self.distributed:
            dev = self._collective_device()
            sums = sums.to(dev)
            confusion = confusion.to(dev)
            torch.distributed.all_reduce(sums)
            torch.distributed.all_reduce(confusion)
        total = float(sums[2])
        return {
            "loss": float(sums[0]) / total,
            "accuracy": float(sums[1]) / total,
            "samples": int(total),
            "confusion": confusion.cpu(),
        }

    # ------------------------------------------------------------------ checkpoints
    def _meters(self) -> list[list[float]]:
        """Every rank's running sums of the epoch so far (a collective in distributed runs)."""
        mine = torch.tensor(
            [
                self._loss_meter.total,
                self._loss_meter.count,
                self._acc_meter.total,
                self._acc_meter.count,
                self._epoch_time,
            ],
            dtype=torch.float64,
            device=self._collective_device(),
        )
        if not self.distributed:
            return [mine.tolist()]
        gathered = [torch.empty_like(mine) for _ in range(self.world_size)]
        torch.distributed.all_gather(gathered, mine)
        return [t.tolist() for t in gathered]

    def _save_if_configured(self) -> None:
        if self.checkpoint_path is not None:
            self.save_checkpoint(self.checkpoint_path)

    def save_checkpoint(self, path: str | os.PathLike[str]) -> Path:
        """Write a checkpoint of the current position atomically (only rank 0 writes; in
        distributed training every process must call it).

        :meth:`fit` calls this itself every ``checkpoint_every`` steps and at each epoch end.

        Args:
            path: the file to write (its folder is created).

        Returns:
            The path.
        """
        meters = self._meters()
        self._last_saved_step = self.step
        path = Path(path)
        if self.is_main:
            self._write_checkpoint(path, meters)
        if self.distributed:
            torch.distributed.barrier()  # the file exists for every process once this returns
        return path

    def _write_checkpoint(self, path: Path, meters: list[list[float]]) -> None:
        if self.batch_in_epoch:
            epoch_rng = self._epoch_rng if self._epoch_rng is not None else []
        else:
            epoch_rng = [g.get_state() for g in self._train_gens]
        from .._version import __version__

        model_state = self.model.state_dict()
        state = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "spikeforge_version": __version__,
            "torch_version": str(torch.__version__),
            "epoch": self.epoch,
            "batch": self.batch_in_epoch,
            "step": self.step,
            "model": model_state,
            "checksum": tensors_checksum(model_state),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "rng": {"trainer": self.generator.get_state(), "epoch_start": list(epoch_rng)},
            "meters": meters,
            "history": self.history.to_dict(),
            "world_size": self.world_size,
            "readout": self.readout,
            "dtype": str(self.dtype),
        }
        _atomic_save(state, path)

    def resume(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """Load a checkpoint: weights, optimizer, scheduler, position, history and generators.

        The next :meth:`fit` continues exactly where the checkpointed run was (same loaders,
        same ``epochs``); call it on every process in distributed training.

        Args:
            path: a checkpoint file, or the ``checkpoint_dir`` holding ``last.pt``.

        Returns:
            The checkpoint dict.

        Raises:
            FileNotFoundError: no checkpoint there.
            SpikeforgeError: not a spikeforge training checkpoint, a field of the wrong type or
                range (a negative epoch), or weights that fail the checkpoint's checksum.
            ParameterError: weights whose names, shapes or dtypes differ from the model's, or
                that hold NaN; a mid-epoch checkpoint of a run with another number of processes,
                or a checkpoint with a scheduler state and no scheduler here.
        """
        ckpt = load_checkpoint(path)  # checks every field's type and range, and the checksum
        if ckpt["batch"] and int(ckpt["world_size"]) != self.world_size:
            raise ParameterError(
                f"the checkpoint is in the middle of an epoch of a run on {ckpt['world_size']} process(es); "
                f"resume it on as many (this run has {self.world_size})"
            )
        if ckpt["readout"] != self.readout:
            raise ParameterError(
                f"the checkpoint was trained with readout={ckpt['readout']!r}, not {self.readout!r}"
            )
        if ckpt["scheduler"] is not None and self.scheduler is None:
            raise ParameterError(
                "the checkpoint holds a scheduler state: pass the same scheduler to the Trainer"
            )
        # validate everything before changing anything: a bad checkpoint leaves the trainer as it was
        check_state_dict(self.model, ckpt["model"], f"the checkpoint {path}")
        history = History.from_dict(ckpt["history"])
        try:
            torch.Generator().set_state(ckpt["rng"]["trainer"])
        except RuntimeError as e:
            raise ParameterError(f"the checkpoint {path}: its generator state is invalid ({e})") from None
        before = (
            {k: v.clone() for k, v in self.model.state_dict().items()},
            copy.deepcopy(self.optimizer.state_dict()),
            None if self.scheduler is None else copy.deepcopy(self.scheduler.state_dict()),
        )
        try:
            self.model.load_state_dict(ckpt["model"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
            if ckpt["scheduler"] is not None and self.scheduler is not None:
                self.scheduler.load_state_dict(ckpt["scheduler"])
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as e:
            self.model.load_state_dict(before[0])
            self.optimizer.load_state_dict(before[1])
            if self.scheduler is not None and before[2] is not None:
                self.scheduler.load_state_dict(before[2])
            raise ParameterError(
                f"the checkpoint {path} does not fit this trainer's optimizer or scheduler "
                f"({type(e).__name__}: {e}); nothing was changed"
            ) from None
        self.epoch = int(ckpt["epoch"])
        self.batch_in_epoch = int(ckpt["batch"])
        self.step = int(ckpt["step"])
        self.history = history
        self.generator.set_state(ckpt["rng"]["trainer"])
        self._resume_rng = list(ckpt["rng"]["epoch_start"])
        meters = ckpt["meters"]
        self._resume_meters = meters if len(meters) == self.world_size else None
        self._last_saved_step = self.step
        return ckpt
