"""Binning events to dense tensors: exact counts, window rules, and batch collation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeforge.data import make_events, pad_collate, to_channels, to_frames
from spikeforge.errors import DTypeError, ParameterError, ShapeError


def _random_events(seed: int, n: int = 2000, w: int = 34, h: int = 34, t_max: int = 300_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return make_events(
        rng.integers(0, w, n),
        rng.integers(0, h, n),
        np.sort(rng.integers(0, t_max, n)),
        rng.integers(0, 2, n),
    )


@pytest.mark.parametrize("seed", range(5))
def test_count_binning_conserves_every_event(seed):
    ev = _random_events(seed)
    rng = np.random.default_rng(100 + seed)
    for n_bins in (1, 7, int(rng.integers(2, 50)), 1000):
        frames = to_frames(ev, (34, 34, 2), n_time_bins=n_bins)
        assert frames.shape == (n_bins, 2, 34, 34)
        assert int(frames.sum()) == len(ev)
        assert int(frames[-1].sum()) >= 1  # the last event is in the last bin, not dropped
    for bin_us in (997, 10_000):
        assert int(to_frames(ev, (34, 34, 2), bin_us=bin_us).sum()) == len(ev)
    assert int(to_channels(ev, 34, n_time_bins=13).sum()) == len(ev)
    short = _random_events(seed, n=500, t_max=5_000)
    assert int(to_channels(short, 34, bin_us=1).sum()) == len(short)


def test_frames_match_a_brute_force_count():
    ev = _random_events(7, n=300, w=5, h=4, t_max=1000)
    frames = to_frames(ev, (5, 4, 2), n_time_bins=6, duration_us=1000, dtype=torch.float64)
    ref = np.zeros((6, 2, 4, 5))
    for e in ev:
        ref[int(e["t"]) * 6 // 1000, e["p"], e["y"], e["x"]] += 1
    assert np.array_equal(frames.numpy(), ref)
    merged = to_frames(ev, (5, 4, 1), n_time_bins=6, duration_us=1000, dtype=torch.float64)
    assert np.array_equal(merged.numpy()[:, 0], ref.sum(axis=1))
    chans = to_channels(ev, 5, bin_us=250, duration_us=1000, dtype=torch.float64)
    ref_c = np.zeros((4, 5))
    for e in ev:
        ref_c[int(e["t"]) // 250, e["x"]] += 1
    assert np.array_equal(chans.numpy(), ref_c)


def test_window_rules():
    ev = make_events([0, 1, 2], [0, 0, 0], [100, 250, 400], [1, 1, 0])
    # bin_us with an explicit duration: T = ceil(duration / bin)
    assert to_frames(ev, (3, 1, 2), bin_us=200, duration_us=500).shape[0] == 3
    # without duration the window ends just after the last event: [0, 401) -> 3 bins of 200 us
    assert to_frames(ev, (3, 1, 2), bin_us=200).shape[0] == 3
    # start_us shifts bin 0
    f = to_channels(ev, 3, bin_us=100, start_us=100, duration_us=400)
    assert f.shape == (4, 3) and f[0, 0] == 1 and f[1, 1] == 1 and f[3, 2] == 1
    with pytest.raises(ParameterError, match=r"1 event\(s\) lie outside the window \[0, 300\)"):
        to_frames(ev, (3, 1, 2), n_time_bins=3, duration_us=300)
    cropped = to_frames(ev, (3, 1, 2), n_time_bins=3, duration_us=300, crop=True)
    assert int(cropped.sum()) == 2
    with pytest.raises(ParameterError, match="outside the window"):
        to_frames(ev, (3, 1, 2), n_time_bins=3, start_us=200, duration_us=300)


def test_binary_clamps_counts():
    ev = make_events([0, 0, 0], [0, 0, 0], [1, 2, 3], [1, 1, 1])
    assert to_frames(ev, (1, 1, 2), n_time_bins=1).max() == 3
    assert to_frames(ev, (1, 1, 2), n_time_bins=1, binary=True).max() == 1
    assert to_channels(ev, 1, n_time_bins=1, binary=True).tolist() == [[1.0]]


def test_empty_samples_need_a_duration():
    empty = make_events(np.zeros(0, int), 0, 0, 1)
    with pytest.raises(ParameterError, match="empty sample"):
        to_frames(empty, (4, 4, 2), n_time_bins=5)
    assert to_frames(empty, (4, 4, 2), n_time_bins=5, duration_us=100).sum() == 0
    assert to_channels(empty, 7, bin_us=10, duration_us=100).shape == (10, 7)


def test_dtype_follows_the_default_or_the_argument():
    ev = _random_events(0, n=10)
    assert to_frames(ev, (34, 34, 2), n_time_bins=2).dtype == torch.get_default_dtype()
    assert to_frames(ev, (34, 34, 2), n_time_bins=2, dtype=torch.float64).dtype == torch.float64
    with pytest.raises(DTypeError, match="floating"):
        to_frames(ev, (34, 34, 2), n_time_bins=2, dtype=torch.int64)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, ParameterError, "exactly one of n_time_bins and bin_us"),
        ({"n_time_bins": 2, "bin_us": 10}, ParameterError, "exactly one"),
        ({"n_time_bins": 0}, ParameterError, "n_time_bins"),
        ({"bin_us": -5}, ParameterError, "bin_us"),
        ({"n_time_bins": 2, "duration_us": 0}, ParameterError, "duration_us"),
        ({"n_time_bins": 2, "start_us": -1}, ParameterError, "start_us"),
    ],
)
def test_bad_binning_arguments(kwargs, error, match):
    ev = make_events([0], [0], [5], [1])
    with pytest.raises(error, match=match):
        to_frames(ev, (2, 2, 2), **kwargs)


def test_events_outside_the_sensor_or_channels_raise():
    ev = make_events([0, 5], [0, 1], [0, 1], [1, 1])
    with pytest.raises(ShapeError, match="outside the sensor"):
        to_frames(ev, (5, 5, 2), n_time_bins=1)
    with pytest.raises(ShapeError, match="channel x = 5 is beyond n_channels = 5"):
        to_channels(ev, 5, n_time_bins=1)


def test_matches_tonic_time_window_frames():
    tonic_transforms = pytest.importorskip("tonic.transforms")
    ev = _random_events(3)
    theirs = tonic_transforms.ToFrame(
        sensor_size=(34, 34, 2), time_window=30_000, start_time=0, end_time=300_000
    )(ev)
    ours = to_frames(ev, (34, 34, 2), bin_us=30_000, duration_us=300_000)
    assert np.array_equal(theirs, ours.numpy())


def test_pad_collate_pads_to_the_longest_and_stacks_time_major():
    a, b = torch.ones(3, 2, 4), 2 * torch.ones(5, 2, 4)
    x, y = pad_collate([(a, 1), (b, torch.tensor(7))])
    assert x.shape == (5, 2, 2, 4) and y.dtype == torch.int64 and y.tolist() == [1, 7]
    assert torch.equal(x[:3, 0], a) and x[3:, 0].abs().sum() == 0 and torch.equal(x[:, 1], b)
    x, _ = pad_collate([(np.ones((2, 3)), np.int64(0))])
    assert x.shape == (2, 1, 3)


def test_pad_collate_in_a_dataloader():
    ev = [_random_events(s, n=50 + s) for s in range(6)]
    data = [(to_channels(e, 34, bin_us=50_000 + 10_000 * i), i % 3) for i, e in enumerate(ev)]
    loader = torch.utils.data.DataLoader(data, batch_size=4, collate_fn=pad_collate)
    batches = list(loader)
    lengths = [d[0].shape[0] for d in data]
    assert [tuple(x.shape) for x, _ in batches] == [(max(lengths[:4]), 4, 34), (max(lengths[4:]), 2, 34)]
    assert len(set(lengths)) > 1
    assert sum(int(x.sum()) for x, _ in batches) == sum(len(e) for e in ev)


def test_pad_collate_errors():
    with pytest.raises(ParameterError, match="empty batch"):
        pad_collate([])
    with pytest.raises(DTypeError, match="event array; bin it first"):
        pad_collate([(make_events([0], [0], [0], [1]), 0)])
    with pytest.raises(ShapeError, match="feature shape"):
        pad_collate([(torch.ones(2, 3), 0), (torch.ones(2, 4), 1)])
    with pytest.raises(ParameterError, match="label must be an int"):
        pad_collate([(torch.ones(2, 3), 0.5)])
    with pytest.raises(ParameterError, match="pair"):
        pad_collate([5])
    with pytest.raises(ShapeError, match="scalar"):
        pad_collate([(torch.tensor(1.0), 0)])
