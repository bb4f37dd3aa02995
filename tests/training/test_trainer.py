"""Trainer: a tiny Poisson-rate task trains above chance with each readout; a run interrupted
mid-epoch (by max_steps or by an exception) and resumed from its checkpoint ends with bitwise the
same weights as an uninterrupted run; checkpoints are atomic and complete; the global RNG is never
touched; bad input raises clear errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from spikeforge import Sequential
from spikeforge.errors import DTypeError, ParameterError, ShapeError, SpikeforgeError
from spikeforge.neurons import LIF
from spikeforge.training import History, Trainer, load_checkpoint, make_loader
from spikeforge.training.checkpoint import CHECKPOINT_FORMAT

CLASSES, STEPS, FEATURES = 3, 30, 20


def rate_task(gen: torch.Generator, n: int, dtype=torch.float32, protos=None):
    """``n`` samples of 3 classes, each a Poisson (Bernoulli per step) pattern of class rates."""
    if protos is None:
        protos = torch.rand(CLASSES, FEATURES, generator=gen, dtype=torch.float32) * 0.4
    y = torch.arange(n) % CLASSES
    x = (torch.rand(n, STEPS, FEATURES, generator=gen, dtype=torch.float32) < protos[y][:, None, :]).to(dtype)
    return TensorDataset(x, y), protos


def time_major(batch):
    xs, ys = zip(*batch)
    return torch.stack(xs, dim=1), torch.stack(ys)


def snn(gen: torch.Generator, dtype=torch.float32, *, v_th_out: float = 1.0, hidden: int = 32) -> Sequential:
    """Linear-LIF-Linear-LIF, initialised from ``gen`` (skip_init: no global-RNG draw)."""
    l1 = nn.utils.skip_init(nn.Linear, FEATURES, hidden, dtype=dtype)
    l2 = nn.utils.skip_init(nn.Linear, hidden, CLASSES, dtype=dtype)
    with torch.no_grad():
        for lin in (l1, l2):
            lin.weight.copy_(
                torch.randn(lin.weight.shape, generator=gen, dtype=dtype) * 3.0 / lin.in_features**0.5
            )
            lin.bias.zero_()
    return Sequential(l1, LIF(hidden, tau_mem=10.0), l2, LIF(CLASSES, tau_mem=10.0, v_th=v_th_out)).to(dtype)


@pytest.mark.parametrize(
    ("readout", "v_th_out"), [("spike_count", 1.0), ("max_membrane", 1e6), ("first_spike", 1.0)]
)
def test_trains_above_chance(gen, tmp_path, readout, v_th_out):
    train, protos = rate_task(gen, 36)
    val, _ = rate_task(gen, 30, protos=protos)
    model = snn(gen, v_th_out=v_th_out)
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=2e-2), readout=readout, progress=False)
    history = trainer.fit(
        make_loader(train, 12, seed=0, collate_fn=time_major),
        15,
        make_loader(val, 30, shuffle=False, collate_fn=time_major),
    )
    assert len(history) == 15 and history.epoch == list(range(1, 16)) and history.step[-1] == 45
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val_accuracy[-1] >= 0.8, history.val_accuracy  # chance is 1/3
    result = trainer.evaluate(make_loader(val, 7, shuffle=False, collate_fn=time_major))
    assert result["samples"] == 30
    assert result["accuracy"] == pytest.approx(history.val_accuracy[-1])
    assert result["confusion"].shape == (3, 3) and int(result["confusion"].sum()) == 30
    assert int(result["confusion"].trace()) == round(30 * result["accuracy"])
    path = history.plot(tmp_path / "curves" / "learning_curve.png", title=readout)
    assert path.is_file() and path.read_bytes()[:4] == b"\x89PNG"


def _run(dtype, ckpt_dir=None, *, init_seed=7, resume=None, max_steps=None, on_step=None, every=None):
    """Two epochs of 4 batches (plus validation and a scheduler), from a given model init."""
    gen = torch.Generator().manual_seed(1)
    train, protos = rate_task(gen, 40, dtype)
    val, _ = rate_task(gen, 12, dtype, protos=protos)
    model = snn(torch.Generator().manual_seed(init_seed), dtype)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    trainer = Trainer(
        model,
        opt,
        scheduler=sched,
        grad_clip=5.0,
        checkpoint_dir=ckpt_dir,
        checkpoint_every=every,
        seed=123,
        progress=False,
    )
    # shuffles, with no generator of its own: the trainer's seeded generator drives the order
    loader = DataLoader(train, batch_size=10, shuffle=True, collate_fn=time_major)
    val_loader = DataLoader(val, batch_size=6, collate_fn=time_major)
    trainer.fit(loader, 2, val_loader, resume=resume, max_steps=max_steps, on_step=on_step)
    return trainer


def _assert_same_run(a: Trainer, b: Trainer) -> None:
    assert a.step == b.step == 8 and a.epoch == b.epoch == 2
    for (name, t), (_, u) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(t, u), f"{name} differs after resume"
    sa, sb = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    for k in sa:
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(sa[k][key], sb[k][key])
    assert a.optimizer.param_groups[0]["lr"] == b.optimizer.param_groups[0]["lr"] == 1e-2 * 0.25
    for field in ("epoch", "step", "train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        assert getattr(a.history, field) == getattr(b.history, field), field
    assert torch.equal(a.generator.get_state(), b.generator.get_state())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("stop_at", [3, 4, 6])  # mid-epoch, at an epoch's end, mid second epoch
def test_resume_mid_epoch_is_bitwise_exact(tmp_path, dtype, stop_at):
    reference = _run(dtype)
    first = _run(dtype, tmp_path, max_steps=stop_at)
    assert first.step == stop_at
    ckpt = load_checkpoint(tmp_path)
    assert (ckpt["step"], ckpt["epoch"], ckpt["batch"]) == (stop_at, stop_at // 4, stop_at % 4)
    # a fresh trainer whose model starts from other weights: everything comes from the checkpoint
    resumed = _run(dtype, tmp_path, init_seed=99, resume=tmp_path / "last.pt")
    _assert_same_run(reference, resumed)
    assert not any(torch.equal(p, q) for p, q in zip(first.model.parameters(), resumed.model.parameters()))


def test_fit_again_after_max_steps_continues_exactly():
    reference = _run(torch.float64)
    trainer = _run(torch.float64, max_steps=3)  # stops in the middle of the first epoch
    gen = torch.Generator().manual_seed(1)
    train, protos = rate_task(gen, 40, torch.float64)
    val, _ = rate_task(gen, 12, torch.float64, protos=protos)
    trainer.fit(
        DataLoader(train, batch_size=10, shuffle=True, collate_fn=time_major),
        2,
        DataLoader(val, batch_size=6, collate_fn=time_major),
    )
    _assert_same_run(reference, trainer)


class Interrupt(Exception):
    pass


def test_an_interrupted_run_loses_only_the_work_since_the_last_checkpoint(tmp_path):
    reference = _run(torch.float64)

    def crash_at_step_7(trainer: Trainer) -> None:
        if trainer.step == 7:
            raise Interrupt

    with pytest.raises(Interrupt):
        _run(torch.float64, tmp_path, every=3, on_step=crash_at_step_7)
    ckpt = load_checkpoint(tmp_path)
    assert ckpt["step"] == 6 and (ckpt["epoch"], ckpt["batch"]) == (1, 2)  # lost: step 7 only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"], "no temporary files left behind"
    resumed = _run(torch.float64, tmp_path, every=3, init_seed=5, resume=tmp_path)
    _assert_same_run(reference, resumed)


class NoisyDataset(Dataset):
    """Adds fresh noise at every access from its own generator: exact resume must replay it."""

    def __init__(self, base: TensorDataset, seed: int) -> None:
        self.base = base
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        x, y = self.base[i]
        flip = torch.rand(x.shape, generator=self.generator, dtype=torch.float32) < 0.05
        return torch.where(flip, 1.0 - x, x), y


def _noisy_run(ckpt_dir=None, resume=None, max_steps=None, init_seed=3):
    gen = torch.Generator().manual_seed(2)
    base, _ = rate_task(gen, 30, torch.float64)
    model = snn(torch.Generator().manual_seed(init_seed), torch.float64)
    trainer = Trainer(
        model, torch.optim.SGD(model.parameters(), lr=0.05), checkpoint_dir=ckpt_dir, progress=False
    )
    loader = make_loader(NoisyDataset(base, 4), 6, seed=11, collate_fn=time_major)
    trainer.fit(loader, 2, resume=resume, max_steps=max_steps)
    return trainer


def test_resume_replays_a_dataset_generator(tmp_path):
    reference = _noisy_run()
    _noisy_run(tmp_path, max_steps=7)
    resumed = _noisy_run(tmp_path, resume=tmp_path, init_seed=8)
    for t, u in zip(reference.model.parameters(), resumed.model.parameters()):
        assert torch.equal(t, u)


def test_checkpoint_contents(tmp_path):
    trainer = _run(torch.float64, tmp_path, max_steps=2)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["format"] == CHECKPOINT_FORMAT and ckpt["version"] == 1
    assert set(ckpt) >= {
        "epoch",
        "batch",
        "step",
        "model",
        "optimizer",
        "scheduler",
        "rng",
        "meters",
        "history",
    }
    assert ckpt["rng"]["trainer"].dtype == torch.uint8 and len(ckpt["rng"]["epoch_start"]) == 1
    assert ckpt["world_size"] == 1 and ckpt["dtype"] == "torch.float64" and ckpt["readout"] == "spike_count"
    for name, t in trainer.model.state_dict().items():
        assert torch.equal(ckpt["model"][name], t)
    assert trainer.checkpoint_path == tmp_path / "last.pt"


def test_the_global_rng_is_never_touched(gen):
    before = torch.get_rng_state()
    train, _ = rate_task(gen, 12)
    model = snn(gen)
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
    loader = DataLoader(train, batch_size=4, shuffle=True, collate_fn=time_major)  # no generator
    trainer.fit(loader, 2)
    trainer.evaluate(DataLoader(train, batch_size=6, collate_fn=time_major))
    assert torch.equal(torch.get_rng_state(), before)
    assert loader.generator is trainer.generator and loader.sampler.generator is trainer.generator


def test_same_seed_same_run_other_seed_other_order(gen):
    train, _ = rate_task(gen, 12, torch.float64)

    def run(seed: int) -> torch.Tensor:
        model = snn(torch.Generator().manual_seed(0), torch.float64)
        trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), seed=seed, progress=False)
        trainer.fit(DataLoader(train, batch_size=4, shuffle=True, collate_fn=time_major), 1)
        return model[0].weight.detach().clone()

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))


def test_progress_bar_and_summary(gen, capsys):
    train, _ = rate_task(gen, 6)
    model = snn(gen)
    Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), progress=True).fit(
        make_loader(train, 3, collate_fn=time_major), 1, make_loader(train, 6, collate_fn=time_major)
    )
    err = capsys.readouterr()
    assert "epoch 1/1" in err.err + err.out and "val accuracy" in err.err + err.out


def test_device_and_dtype(gen):
    model = snn(gen)
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), dtype=torch.float64, progress=False)
    assert trainer.dtype == torch.float64 and model[0].weight.dtype == torch.float64
    assert model[1].tau_mem.dtype == torch.float64
    train, _ = rate_task(gen, 6)  # float32 data is converted to the model's dtype
    trainer.fit(make_loader(train, 3, collate_fn=time_major), 1)
    with pytest.raises(ParameterError, match="device"):
        Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), device="gpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.cuda
def test_cuda_matches_cpu(gen):
    train, _ = rate_task(gen, 12, torch.float64)
    weights = []
    for device in ("cpu", "cuda"):
        model = snn(torch.Generator().manual_seed(0), torch.float64)
        trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), device=device, progress=False)
        trainer.fit(make_loader(train, 4, collate_fn=time_major), 2)
        weights.append(model[0].weight.detach().cpu())
    torch.testing.assert_close(weights[0], weights[1], rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------ bad input


def _trainer(gen, **kw) -> Trainer:
    model = snn(gen)
    return Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), progress=False, **kw)


def _loader(x, y, batch_size=4):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, collate_fn=time_major)


def test_bad_batches(gen):
    trainer = _trainer(gen)
    x = (torch.rand(8, STEPS, FEATURES, generator=gen, dtype=torch.float32) < 0.2).float()
    y = torch.arange(8) % 3
    with pytest.raises(DTypeError, match=r"x must be a floating tensor.*x.float\(\)"):
        trainer.fit(_loader(x.to(torch.uint8), y), 1)
    with pytest.raises(DTypeError, match="labels must be an integer tensor"):
        trainer.fit(_loader(x, y.float()), 1)
    with pytest.raises(ParameterError, match=r"target labels must be in \[0, 3\)"):
        trainer.fit(_loader(x, y + 1), 1)
    with pytest.raises(ShapeError, match=r"time-major x \[T, B, \*features\]"):
        trainer.fit(DataLoader(TensorDataset(x, y), batch_size=4), 1)  # batch-first default collate
    with pytest.raises(ParameterError, match=r"\(x, labels\) pairs"):
        trainer.fit(DataLoader(TensorDataset(x), batch_size=4), 1)
    with pytest.raises(ParameterError, match="no batches"):
        trainer.fit(_loader(x[:0], y[:0]), 1)
    with pytest.raises(ParameterError, match="NaN or infinite"):
        trainer.fit(_loader(torch.where(x > 0, float("nan"), x), y), 1)
    model = snn(gen)
    nan_loss = Trainer(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        lambda out, y: out.sum() * float("nan"),
        progress=False,
    )
    with pytest.raises(SpikeforgeError, match="the loss is nan at step 1"):
        nan_loss.fit(_loader(x, y), 1)
    with pytest.raises(ParameterError, match="scalar"):
        Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), lambda out, y: out, progress=False).fit(
            _loader(x, y), 1
        )
    with pytest.raises(ParameterError, match="DataLoader"):
        trainer.fit([(x, y)], 1)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="epochs"):
        trainer.fit(_loader(x, y), 0)


def test_bad_settings(gen, tmp_path):
    model = snn(gen)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    other = torch.optim.SGD(snn(gen).parameters(), lr=0.1)
    with pytest.raises(ParameterError, match="not parameters of the model"):
        Trainer(model, other)
    with pytest.raises(ParameterError, match="readout"):
        Trainer(model, opt, readout="rate")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="checkpoint_every needs a checkpoint_dir"):
        Trainer(model, opt, checkpoint_every=5)
    with pytest.raises(ParameterError, match="checkpoint_every"):
        Trainer(model, opt, checkpoint_dir=tmp_path, checkpoint_every=0)
    with pytest.raises(ParameterError, match="grad_clip"):
        Trainer(model, opt, grad_clip=-1.0)
    with pytest.raises(ParameterError, match="max_membrane"):
        lin = nn.Linear(3, 3)
        Trainer(lin, torch.optim.SGD(lin.parameters(), lr=0.1), readout="max_membrane")
    with pytest.raises(ParameterError, match="process group"):
        Trainer(model, opt, distributed=True)
    with pytest.raises(ParameterError, match="seed"):
        Trainer(model, opt, seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="dtype"):
        Trainer(model, opt, dtype=torch.int32)
    with pytest.raises(FileNotFoundError, match="no training checkpoint"):
        Trainer(model, opt).resume(tmp_path / "missing")
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(SpikeforgeError, match="not a spikeforge training checkpoint"):
        Trainer(model, opt).resume(tmp_path / "other.pt")
    with pytest.raises(SpikeforgeError, match="at least one completed epoch"):
        History().plot(tmp_path / "x.png")


def test_resume_with_another_loader_is_refused(tmp_path):
    _run(torch.float64, tmp_path, max_steps=3)
    gen = torch.Generator().manual_seed(1)
    train, _ = rate_task(gen, 40, torch.float64)
    model = snn(gen, torch.float64)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    trainer = Trainer(model, opt, scheduler=sched, progress=False)
    short = DataLoader(train, batch_size=40, shuffle=False, collate_fn=time_major)  # 1 batch per epoch
    with pytest.raises(ParameterError, match="after batch 3 of its epoch but train_loader has 1 batch"):
        trainer.fit(short, 2, resume=tmp_path)
    shuffled = make_loader(train, 10, collate_fn=time_major)  # its own generator, and the trainer's
    shuffled.sampler.generator = torch.Generator().manual_seed(0)
    with pytest.raises(ParameterError, match="1 generator state.*but train_loader has 2"):
        Trainer(model, opt, scheduler=sched, progress=False).fit(shuffled, 2, resume=tmp_path)
    with pytest.raises(ParameterError, match="scheduler"):
        Trainer(model, torch.optim.Adam(model.parameters()), progress=False).resume(tmp_path)
