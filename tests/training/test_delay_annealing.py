"""The DCLS recipe in the Trainer (issue 15, item 1): a delay learning-rate group, the Gaussian
width annealed per epoch, delays clamped to their range after every step and rounded at the end."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

import spikeforge as sf
from spikeforge.errors import ParameterError
from spikeforge.plasticity import LearnableDelay, sigma_schedule
from spikeforge.training import DelayAnnealing, Trainer, delay_param_groups, make_loader


def _collate(batch):
    xs, ys = zip(*batch)
    return torch.stack(xs, dim=1), torch.stack(ys)


def _setup(dt=0.5, max_delay=3.0, delay_lr=5.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(24, 12, 4, generator=g) < 0.3).double()  # [N, T, features]
    y = torch.arange(24) % 2
    layer = LearnableDelay(4, 5, max_delay=max_delay, dt=dt, generator=g)
    model = sf.Sequential(layer, sf.neurons.LIF(5, tau_mem=2.0, dt=dt), torch.nn.Linear(5, 2))
    with torch.no_grad():
        layer.weight.uniform_(0.5, 1.5, generator=g)  # the hidden layer fires
        model[2].weight.copy_(torch.randn(2, 5, generator=g, dtype=torch.float64))
        model[2].bias.zero_()
    groups = delay_param_groups(model, lr=1e-2, delay_lr=delay_lr)
    loader = make_loader(TensorDataset(x, y), 8, seed=seed, collate_fn=_collate)
    return model, layer, groups, loader


def test_param_groups_put_the_delays_apart_with_their_rate():
    model, layer, groups, _ = _setup()
    assert [g["lr"] for g in groups] == [1e-2, 5.0]
    assert groups[1]["params"] == [layer.delay] and groups[1]["weight_decay"] == 0.0
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in model.parameters()} - {id(layer.delay)}
    scaled = delay_param_groups(model, lr=2e-3, delay_lr_scale=150.0)
    assert scaled[1]["lr"] == pytest.approx(0.3)


def test_sigma_follows_the_schedule_per_epoch_and_delays_are_clamped_then_rounded():
    model, layer, groups, loader = _setup(dt=0.5, max_delay=3.0, delay_lr=5.0)  # 6 steps
    annealing = DelayAnnealing(sigma_start=1.5, sigma_end=0.25, fraction=0.5)
    trainer = Trainer(
        model, torch.optim.Adam(groups), dtype=torch.float64, progress=False, delay_annealing=annealing
    )
    seen: list[tuple[int, float, float, float]] = []

    def record(t: Trainer) -> None:
        d = layer.delay.detach()
        seen.append((t.epoch, float(layer.sigma), float(d.min()), float(d.max())))

    epochs = 4
    trainer.fit(loader, epochs, on_step=record)
    for epoch in range(epochs):
        want = sigma_schedule(epoch, epochs, sigma_start=1.5, sigma_end=0.25, fraction=0.5)
        got = {s for e, s, _, _ in seen if e == epoch}
        assert len(got) == 1 and got.pop() == pytest.approx(want, rel=1e-12), (epoch, want)
    # a delay rate of 5 steps per update pushes delays against both ends; they stay in [0, 6] steps
    assert min(lo for *_, lo, _ in seen) == 0.0 and max(hi for *_, hi in seen) == 6.0
    assert float(layer.sigma) == 0.0  # rounded after the last epoch
    fixed = layer.to_fixed()
    x = next(iter(loader))[0]
    with torch.no_grad():
        assert torch.equal(layer(x)[0], fixed(x)[0])  # an exact integer delay line


def test_annealing_resumes_exactly(tmp_path):
    def run(stop_after: int | None):
        model, layer, groups, loader = _setup(delay_lr=0.5)
        annealing = DelayAnnealing(sigma_start=1.5, sigma_end=0.25)
        kw = dict(dtype=torch.float64, progress=False, delay_annealing=annealing, checkpoint_dir=tmp_path)
        trainer = Trainer(model, torch.optim.Adam(groups), **kw)
        if stop_after is None:
            trainer.fit(loader, 4)
            return layer
        trainer.fit(loader, 4, max_steps=stop_after)
        model2, layer2, groups2, loader2 = _setup(delay_lr=0.5)
        trainer2 = Trainer(model2, torch.optim.Adam(groups2), **kw)
        trainer2.fit(loader2, 4, resume=tmp_path)
        return layer2

    whole, split = run(None), run(5)  # stopped in the middle of epoch 2 (3 batches per epoch)
    assert torch.equal(whole.delay, split.delay) and torch.equal(whole.weight, split.weight)
    assert float(split.sigma) == 0.0


def test_without_rounding_or_clamping():
    model, layer, groups, loader = _setup(delay_lr=5.0)
    annealing = DelayAnnealing(sigma_start=1.0, sigma_end=0.5, round_at_end=False, clamp=False)
    Trainer(model, torch.optim.Adam(groups), progress=False, delay_annealing=annealing).fit(loader, 2)
    assert float(layer.sigma) == 0.5
    d = layer.delay.detach()
    assert float(d.min()) < 0.0 or float(d.max()) > 6.0


def test_default_widths_follow_each_layer():
    layer = LearnableDelay(2, 2, max_delay=12.0, dt=2.0)
    a = DelayAnnealing()
    assert a.sigma(0, 10, layer) == pytest.approx(4.0)  # max_delay / 3
    assert a.sigma(9, 10, layer) == pytest.approx(1.0)  # half a step of 2 ms


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(sigma_start=-1.0), "sigma_start must be a finite number > 0"),
        (dict(sigma_end=float("nan")), "sigma_end must be a finite number > 0"),
        (dict(sigma_start=1.0, sigma_end=2.0), "sigma_end must be <= sigma_start"),
        (dict(fraction=0.0), "fraction must be in (0, 1]"),
    ],
)
def test_bad_annealing_is_refused(kwargs, message):
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        DelayAnnealing(**kwargs)


def test_annealing_needs_learnable_delays():
    model = sf.Sequential(torch.nn.Linear(3, 2), sf.neurons.LIF(2))
    with pytest.raises(ParameterError, match="no learnable|has none"):
        delay_param_groups(model, lr=1e-3)
    with pytest.raises(ParameterError, match="delay_annealing needs"):
        Trainer(model, torch.optim.Adam(model.parameters()), progress=False, delay_annealing=DelayAnnealing())
    frozen = sf.Sequential(LearnableDelay(3, 2, max_delay=2.0, learn_delays=False), sf.neurons.LIF(2))
    with pytest.raises(ParameterError, match="delay_annealing needs"):
        Trainer(
            frozen, torch.optim.Adam(frozen.parameters()), progress=False, delay_annealing=DelayAnnealing()
        )
    with pytest.raises(ParameterError, match="delay_annealing must be"):
        Trainer(model, torch.optim.Adam(model.parameters()), progress=False, delay_annealing={"sigma": 1})
    with pytest.raises(ParameterError, match="lr must be"):
        delay_param_groups(model, lr=0.0)
