"""Data-parallel training with 2 gloo processes on the CPU: one step on halves of a global batch
gives the weights of one process on the whole batch; training matches the single-process run and
its accuracy; a run resumed from a mid-epoch checkpoint is bitwise exact on every rank; a loader
that does not shard is refused. One spawn (two processes) runs all the distributed parts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from spikeforge import Sequential
from spikeforge.errors import ParameterError
from spikeforge.neurons import LIF
from spikeforge.training import Trainer, make_loader, run_distributed

F64 = torch.float64
CLASSES, STEPS, FEATURES, HIDDEN = 3, 25, 16, 24
GLOBAL_BATCH, EPOCHS, LR = 6, 8, 5e-2


def time_major(batch):
    xs, ys = zip(*batch)
    return torch.stack(xs, dim=1), torch.stack(ys)


def task(seed: int = 0, n: int = 36) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    protos = torch.rand(CLASSES, FEATURES, generator=gen, dtype=torch.float32) * 0.4
    y = torch.arange(n) % CLASSES
    x = (torch.rand(n, STEPS, FEATURES, generator=gen, dtype=torch.float32) < protos[y][:, None, :]).to(F64)
    return x, y


def snn(init: dict[str, torch.Tensor] | None = None, seed: int = 0) -> Sequential:
    l1 = nn.utils.skip_init(nn.Linear, FEATURES, HIDDEN, dtype=F64)
    l2 = nn.utils.skip_init(nn.Linear, HIDDEN, CLASSES, dtype=F64)
    model = Sequential(l1, LIF(HIDDEN, tau_mem=10.0), l2, LIF(CLASSES, tau_mem=10.0)).to(F64)
    if init is not None:
        model.load_state_dict(init)
        return model
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for lin, gain in ((l1, 3.0), (l2, 5.0)):
            lin.weight.copy_(
                torch.randn(lin.weight.shape, generator=gen, dtype=F64) * gain / lin.in_features**0.5
            )
            lin.bias.zero_()
    return model


def one_step(model: Sequential, loader: DataLoader) -> dict[str, torch.Tensor]:
    Trainer(model, torch.optim.SGD(model.parameters(), lr=0.5), progress=False).fit(loader, 1, max_steps=1)
    return {k: v.clone() for k, v in model.state_dict().items()}


def train(model: Sequential, loader: DataLoader, val: DataLoader | None, epochs: int = EPOCHS, **kw):
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=LR), progress=False, **kw)
    trainer.fit(loader, epochs, val)
    return trainer, {k: v.clone() for k, v in model.state_dict().items()}


def worker(rank: int, world_size: int, x, y, init, ckpt_dir: str) -> dict:
    ds = TensorDataset(x, y)
    local = GLOBAL_BATCH // world_size
    out: dict = {}
    # 1. one SGD step, each rank on its half of the first global batch
    loader = make_loader(ds, local, shuffle=False, collate_fn=time_major, distributed=True)
    out["one_step"] = one_step(snn(init), loader)
    # ... and the same with a model the caller wrapped in DDP
    wrapped = torch.nn.parallel.DistributedDataParallel(snn(init))
    Trainer(wrapped, torch.optim.SGD(wrapped.parameters(), lr=0.5), progress=False).fit(
        loader, 1, max_steps=1
    )
    out["user_ddp_step"] = {k: v.clone() for k, v in wrapped.module.state_dict().items()}
    # 2. training, in the single-process order (no shuffling), with distributed evaluation
    val = make_loader(ds, 5, shuffle=False, collate_fn=time_major, distributed=True)
    trainer, out["trained"] = train(snn(init), loader, val)
    out["history"] = trainer.history.to_dict()
    # 3. shuffled training, interrupted mid-epoch and resumed from rank 0's checkpoint
    shuffled = make_loader(ds, local, seed=5, collate_fn=time_major, distributed=True)
    _, out["shuffled"] = train(snn(init), shuffled, None, 3)
    model = snn(init)
    interrupted = Trainer(
        model, torch.optim.Adam(model.parameters(), lr=LR), checkpoint_dir=ckpt_dir, progress=False
    )
    interrupted.fit(shuffled, 3, max_steps=9)  # 6 batches per epoch: in epoch 2
    model = snn(seed=42)  # other weights: all comes from the checkpoint
    resumed = Trainer(
        model, torch.optim.Adam(model.parameters(), lr=LR), checkpoint_dir=ckpt_dir, progress=False
    )
    resumed.fit(shuffled, 3, resume=ckpt_dir)
    out["resumed"] = {k: v.clone() for k, v in model.state_dict().items()}
    # 4. a loader that gives every rank all the data is refused
    try:
        model = snn(init)
        Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), progress=False).fit(
            DataLoader(ds, batch_size=local, collate_fn=time_major), 1
        )
        out["refused"] = None
    except ParameterError as e:
        out["refused"] = str(e)
    return out


def test_ddp_matches_one_process(tmp_path):
    x, y = task()
    init = snn(seed=1).state_dict()
    ranks = run_distributed(worker, 2, x, y, init, str(tmp_path))
    ds = TensorDataset(x, y)
    loader = make_loader(ds, GLOBAL_BATCH, shuffle=False, collate_fn=time_major)

    # 1. one step with the same global batch: same weights (mean loss, averaged gradients)
    single = one_step(snn(init), loader)
    worst = 0.0
    for name, w in single.items():
        for r in ranks:
            torch.testing.assert_close(r["one_step"][name], w, rtol=1e-6, atol=1e-6)
            worst = max(worst, float((r["one_step"][name] - w).abs().max()))
        assert torch.equal(ranks[0]["one_step"][name], ranks[1]["one_step"][name]), "ranks must agree bitwise"
        assert torch.equal(ranks[0]["user_ddp_step"][name], ranks[0]["one_step"][name])
    assert not torch.equal(single["0.weight"], init["0.weight"]), "the step must change the weights"
    print(f"max |DDP - single| after one step: {worst:.2e}")

    # 2. whole training in the same order: same trajectory and the same accuracy
    val = make_loader(ds, 5, shuffle=False, collate_fn=time_major)
    trainer, trained = train(snn(init), loader, val)
    drift = 0.0
    for name, w in trained.items():
        torch.testing.assert_close(ranks[0]["trained"][name], w, rtol=1e-6, atol=1e-6)
        drift = max(drift, float((ranks[0]["trained"][name] - w).abs().max()))
    print(f"max |DDP - single| after {EPOCHS} epochs: {drift:.2e}")
    ddp_hist = ranks[0]["history"]
    for field in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):  # reduced over ranks
        assert ddp_hist[field] == ranks[1]["history"][field], field
    assert ddp_hist["val_accuracy"][-1] == pytest.approx(trainer.history.val_accuracy[-1])
    assert ddp_hist["train_loss"] == pytest.approx(trainer.history.train_loss, rel=1e-6)
    assert trainer.history.val_accuracy[-1] >= 0.8  # chance: 1/3
    ddp_acc, single_acc = ddp_hist["val_accuracy"][-1], trainer.history.val_accuracy[-1]
    print(f"final accuracy: DDP {ddp_acc:.3f}, single {single_acc:.3f}")

    # 3. shuffled DDP training trains, and its resumed twin ends bitwise equal on every rank
    for r in ranks:
        for name, w in r["shuffled"].items():
            assert torch.equal(r["resumed"][name], w), f"{name} differs after a distributed resume"
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["last.pt"]

    # 4. refused non-sharded loader
    for r in ranks:
        assert r["refused"] is not None and "DistributedSampler" in r["refused"]


def test_run_distributed_arguments():
    with pytest.raises(ParameterError, match="world_size"):
        run_distributed(print, 0)
    with pytest.raises(ParameterError, match="backend"):
        run_distributed(print, 1, backend="mpi")
    with pytest.raises(ParameterError, match="num_threads"):
        run_distributed(print, 1, num_threads=0)


def test_distributed_loader_needs_a_process_group():
    with pytest.raises(ParameterError, match="process group"):
        make_loader(TensorDataset(torch.zeros(4)), 2, distributed=True)
