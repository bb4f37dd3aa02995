"""Metrics: predictions of each readout with their tie rules, accuracy, the confusion matrix
against a loop, the running mean, and clear errors."""

from __future__ import annotations

import pytest
import torch

from spikeforge.errors import DTypeError, ParameterError, ShapeError, SpikeforgeError
from spikeforge.training import MeanMeter, accuracy, confusion_matrix, predict


def test_spike_count_prediction_and_ties():
    out = torch.zeros(6, 3, 3)
    out[:3, 0, 2] = 1.0  # sample 0: class 2 fires most
    out[:2, 1, 0] = 1.0
    out[:2, 1, 1] = 1.0  # sample 1: tie between 0 and 1 -> lowest index
    # sample 2: silent -> class 0
    assert predict(out).tolist() == [2, 0, 0]
    assert predict(out, readout="spike_count").tolist() == [2, 0, 0]


def test_max_membrane_prediction():
    v = torch.tensor([[[0.1, 0.5, -1.0]], [[0.9, 0.2, 0.0]], [[0.0, 0.0, 0.95]]])  # [T=3, B=1, C=3]
    assert predict(v, readout="max_membrane").tolist() == [2]


def test_first_spike_prediction_and_ties():
    out = torch.zeros(10, 4, 3)
    out[5, 0, 0] = 1.0
    out[2, 0, 1] = 1.0  # sample 0: class 1 first, although class 0 ...
    out[6:, 0, 0] = 1.0  # ... fires more
    out[3, 1, 0] = 1.0
    out[3:5, 1, 2] = 1.0  # sample 1: tie at t=3, class 2 fires more
    out[3, 2, 1] = 1.0
    out[3, 2, 2] = 1.0  # sample 2: full tie -> lowest index
    # sample 3: silent -> class 0
    assert predict(out, readout="first_spike").tolist() == [1, 2, 1, 0]


def test_accuracy():
    out = torch.zeros(4, 4, 2)
    out[:, 0, 1] = 1.0
    out[:, 1, 1] = 1.0
    out[:, 2, 0] = 1.0
    assert accuracy(out, torch.tensor([1, 1, 0, 1])) == 0.75  # sample 3 silent -> class 0
    assert accuracy(out, torch.tensor([1, 1, 0, 0])) == 1.0


def test_confusion_matrix_against_a_loop(gen):
    pred = torch.randint(0, 4, (200,), generator=gen)
    target = torch.randint(0, 4, (200,), generator=gen)
    expected = torch.zeros(4, 4, dtype=torch.int64)
    for p, t in zip(pred.tolist(), target.tolist()):
        expected[t, p] += 1
    m = confusion_matrix(pred, target, 4)
    assert m.dtype == torch.int64
    assert torch.equal(m, expected)
    assert int(m.trace()) == int((pred == target).sum())
    assert m.sum(dim=1).tolist() == torch.bincount(target, minlength=4).tolist()


def test_mean_meter():
    m = MeanMeter()
    m.update(1.0, n=3)
    m.update(torch.tensor(3.0))
    assert (m.mean, m.count) == (1.5, 4.0)
    m.add(2, 4)  # a sum of 2 over 4 samples
    assert m.mean == 8.0 / 8.0
    state = m.state_dict()
    m2 = MeanMeter()
    m2.load_state_dict(state)
    assert m2.mean == m.mean
    m.reset()
    with pytest.raises(SpikeforgeError, match="before the first update"):
        _ = m.mean
    with pytest.raises(ParameterError, match="finite"):
        m.update(float("nan"))
    with pytest.raises(ParameterError, match="n must"):
        m.update(1.0, n=-1)


def test_errors():
    with pytest.raises(ParameterError, match="readout"):
        predict(torch.zeros(3, 2, 2), readout="rate")  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match=r"\[T, B, C\]"):
        predict(torch.zeros(3, 2))
    with pytest.raises(DTypeError, match="floating"):
        predict(torch.zeros(3, 2, 2, dtype=torch.int32))
    with pytest.raises(ParameterError, match=r"target labels must be in \[0, 2\)"):
        accuracy(torch.zeros(3, 2, 2), torch.tensor([0, 5]))
    with pytest.raises(ShapeError, match="at least one sample"):
        accuracy(torch.zeros(3, 0, 2), torch.zeros(0, dtype=torch.int64))
    with pytest.raises(ParameterError, match="num_classes"):
        confusion_matrix(torch.tensor([0]), torch.tensor([0]), 0)
    with pytest.raises(ParameterError, match=r"pred values must be in \[0, 2\)"):
        confusion_matrix(torch.tensor([2]), torch.tensor([0]), 2)
    with pytest.raises(ShapeError, match="same length"):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0]), 2)
    with pytest.raises(DTypeError, match="integer"):
        confusion_matrix(torch.tensor([0.0]), torch.tensor([0]), 2)
