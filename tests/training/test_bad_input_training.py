"""Bad input to training (issue 16): a checkpoint that is bad in any way changes nothing, a silent
output layer is warned of, and every mistake is a typed error naming the value."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

import spikeforge as sf
from spikeforge.errors import ParameterError, ShapeError, SpikeforgeError
from spikeforge.training import Trainer, load_checkpoint, make_loader
from spikeforge.training.checkpoint import tensors_checksum


def _data(n: int = 16, seed: int = 0) -> list[tuple[torch.Tensor, int]]:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(12, n, 4, generator=g) < 0.5).to(torch.get_default_dtype())
    y = torch.randint(0, 3, (n,), generator=g)
    return [(x[:, i], int(y[i])) for i in range(n)]


def _trainer(tmp_path=None, v_th: float = 0.5, **kw) -> Trainer:
    model = sf.Sequential(torch.nn.Linear(4, 3), sf.neurons.LIF(3, v_th=v_th, dt=1.0))
    with torch.no_grad():
        model[0].weight.fill_(0.8)
    ckpt = None if tmp_path is None else tmp_path / "ck"
    return Trainer(
        model, torch.optim.Adam(model.parameters(), lr=1e-2), progress=False, checkpoint_dir=ckpt, **kw
    )


def _loader():
    return make_loader(_data(), 8, shuffle=True, seed=0, collate_fn=sf.data.pad_collate)


@pytest.fixture
def saved(tmp_path):
    """A checkpoint of one epoch, and a fresh trainer (different weights) to resume it into."""
    tr = _trainer(tmp_path)
    tr.fit(_loader(), 1)
    path = tmp_path / "ck" / "last.pt"
    fresh = _trainer()
    with torch.no_grad():
        fresh.model[0].weight.fill_(-0.3)
    return path, fresh


def _weights(tr: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in tr.model.state_dict().items()}


def _unchanged(tr: Trainer, before: dict[str, torch.Tensor]) -> None:
    after = tr.model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())
    assert tr.epoch == 0 and tr.step == 0


def _tamper(path, tmp_path, edit) -> object:
    ckpt = torch.load(path, weights_only=True)
    edit(ckpt)
    out = tmp_path / "bad.pt"
    torch.save(ckpt, out)
    return out


# ---------------------------------------------------------------- the cases
def test_resume_of_a_negative_epoch_is_refused_and_changes_nothing(saved, tmp_path):
    path, fresh = saved
    before = _weights(fresh)
    bad = _tamper(path, tmp_path, lambda c: c.update(epoch=-1))
    with pytest.raises(SpikeforgeError, match="epoch must be an int >= 0, got -1"):
        fresh.resume(bad)
    _unchanged(fresh, before)


def test_resume_of_a_checkpoint_whose_optimizer_is_bad_restores_the_weights(saved, tmp_path):
    """The weights fit, the optimizer state does not: the weights must not stay loaded."""
    path, fresh = saved
    before = _weights(fresh)

    def edit(c):
        c["optimizer"]["param_groups"][0]["params"] = [0]  # one parameter where there are two

    with pytest.raises(ParameterError, match="nothing was changed"):
        fresh.resume(_tamper(path, tmp_path, edit))
    _unchanged(fresh, before)


def test_resume_of_weights_of_another_shape_changes_nothing(saved, tmp_path):
    path, fresh = saved
    before = _weights(fresh)
    bad = _tamper(path, tmp_path, lambda c: c["model"].update({"0.weight": torch.zeros(3, 5)}))
    bad_ck = torch.load(bad, weights_only=True)
    bad_ck["checksum"] = tensors_checksum(bad_ck["model"])  # a consistent file, of another model
    torch.save(bad_ck, bad)
    with pytest.raises(ShapeError, match=r"0.weight has shape \[3, 5\]"):
        fresh.resume(bad)
    _unchanged(fresh, before)


def test_a_flipped_weight_fails_the_checksum(saved, tmp_path):
    path, fresh = saved
    before = _weights(fresh)

    def edit(c):
        c["model"]["0.weight"][0, 0] += 1e-3

    with pytest.raises(SpikeforgeError, match="checksum"):
        fresh.resume(_tamper(path, tmp_path, edit))
    _unchanged(fresh, before)


def test_a_good_checkpoint_resumes(saved):
    path, fresh = saved
    ckpt = fresh.resume(path)
    assert fresh.epoch == 1 and torch.equal(fresh.model[0].weight, ckpt["model"]["0.weight"])


def test_silent_output_layer_warns_once():
    tr = _trainer(v_th=1e6)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        tr.fit(_loader(), 2)
    silent = [x for x in w if "did not spike" in str(x.message)]
    assert len(silent) == 1 and issubclass(silent[0].category, RuntimeWarning)
    assert tr.history.train_loss[0] == pytest.approx(math.log(3), abs=1e-6)  # chance: ln(3)


def test_a_spiking_output_layer_does_not_warn():
    tr = _trainer(v_th=0.5)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        tr.fit(_loader(), 1)
    assert not [x for x in w if "did not spike" in str(x.message)]


# ---------------------------------------------------------------- more of our own
@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("step", -3, "step must be an int >= 0"),
        ("batch", 1.5, "batch must be an int >= 0"),
        ("epoch", True, "epoch must be an int >= 0"),
        ("world_size", 0, "world_size must be an int >= 1"),
        ("history", [1, 2], "history must map names to lists"),
        ("meters", "x", "meters must be a list"),
        ("model", [1], "model must be a state_dict"),
    ],
)
def test_malformed_fields_are_refused_before_anything_changes(saved, tmp_path, field, value, match):
    path, fresh = saved
    before = _weights(fresh)
    with pytest.raises(SpikeforgeError, match=match):
        fresh.resume(_tamper(path, tmp_path, lambda c: c.update({field: value})))
    _unchanged(fresh, before)


def test_a_missing_field_is_named(saved, tmp_path):
    path, fresh = saved
    with pytest.raises(SpikeforgeError, match=r"lacks the field\(s\) \['rng'\]"):
        fresh.resume(_tamper(path, tmp_path, lambda c: c.pop("rng")))


def test_a_bad_generator_state_is_refused(saved, tmp_path):
    path, fresh = saved
    before = _weights(fresh)

    def edit(c):
        c["rng"]["trainer"] = torch.zeros(3, dtype=torch.uint8)

    with pytest.raises(ParameterError, match="generator state"):
        fresh.resume(_tamper(path, tmp_path, edit))
    _unchanged(fresh, before)


def test_nan_weights_in_a_checkpoint_are_refused(saved, tmp_path):
    path, fresh = saved

    def edit(c):
        c["model"]["0.weight"][0, 0] = float("nan")
        c["checksum"] = tensors_checksum(c["model"])

    with pytest.raises(ParameterError, match="NaN"):
        fresh.resume(_tamper(path, tmp_path, edit))


def test_truncated_checkpoint_names_the_file(saved, tmp_path):
    path, _ = saved
    bad = tmp_path / "trunc.pt"
    bad.write_bytes(path.read_bytes()[:100])
    with pytest.raises(SpikeforgeError, match="trunc.pt"):
        load_checkpoint(bad)


def test_checksum_depends_on_names_dtypes_and_values():
    a = {"w": torch.zeros(2, dtype=torch.float32)}
    assert tensors_checksum(a) == tensors_checksum({"w": torch.zeros(2, dtype=torch.float32)})
    assert tensors_checksum(a) != tensors_checksum({"v": torch.zeros(2, dtype=torch.float32)})
    assert tensors_checksum(a) != tensors_checksum({"w": torch.zeros(2, dtype=torch.float64)})
    assert tensors_checksum(a) != tensors_checksum({"w": torch.zeros(1, 2, dtype=torch.float32)})


def test_batch_first_data_is_a_shape_error():
    tr = _trainer()
    loader = make_loader(_data(), 8, shuffle=False, seed=0)  # default collate: batch-first
    with pytest.raises(ShapeError, match="time-major"):
        tr.fit(loader, 1)


def test_train_command_refuses_bad_values(tmp_path):
    from spikeforge.commands import train_command

    for kw, match in (
        ({"lr": -1.0}, "lr must be a finite number > 0"),
        ({"lr": float("nan")}, "lr must be a finite number > 0"),
        ({"bin_ms": 1000.0}, "at most the sample duration"),
        ({"batch_size": 0}, "batch_size must be an int >= 1"),
    ):
        with pytest.raises(ParameterError, match=match):
            train_command("ndigits", epochs=1, out=tmp_path, progress=False, **kw)
