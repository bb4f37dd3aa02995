"""N-Digits, the embedded event dataset: sizes, balance, determinism, caching, representations."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
import torch

import spikeforge.data.ndigits as ndigits_module
from spikeforge.data import EVENT_DTYPE, NDigits, NDigitsConfig, default_cache_dir, pad_collate, to_frames
from spikeforge.encoders.camera import emulate_events, saccade_frames
from spikeforge.errors import ParameterError

pytest.importorskip("sklearn")


@pytest.fixture(scope="session")
def root(tmp_path_factory):
    """One generated cache for the whole session (a few seconds)."""
    folder = tmp_path_factory.mktemp("ndigits")
    NDigits("train", root=folder)
    return folder


def _digest(ds: NDigits) -> str:
    h = hashlib.sha256()
    for k in ("x", "y", "t", "p", "offsets", "labels", "is_test"):
        h.update(np.ascontiguousarray(ds._data[k]).tobytes())
    return h.hexdigest()


def test_sizes_and_balanced_labels(root):
    train, test = NDigits("train", root=root), NDigits("test", root=root)
    assert (len(train), len(test)) == (1437, 360)
    assert np.bincount(test.labels).tolist() == [36] * 10
    counts = np.bincount(train.labels)
    assert counts.sum() == 1437 and counts.min() >= 138 and counts.max() <= 147
    assert not set(train._index.tolist()) & set(test._index.tolist())


def test_cache_is_reused_not_regenerated(root, monkeypatch):
    def fail(cfg):
        raise AssertionError("regenerated")

    monkeypatch.setattr(ndigits_module, "_generate", fail)
    ds = NDigits("test", root=root)
    assert ds.cache_path.parent == root and ds.cache_path.name == f"ndigits-{NDigitsConfig().key()}.npz"
    assert [p.name for p in root.iterdir()] == [ds.cache_path.name]  # no temporary files left
    monkeypatch.setenv("SPIKEFORGE_CACHE", str(root))
    assert default_cache_dir() == root
    assert NDigits("test").cache_path == ds.cache_path  # root=None: the environment's cache


def test_regeneration_is_deterministic_and_repairs_a_corrupt_cache(root, tmp_path):
    reference = _digest(NDigits("test", root=root))
    cache = tmp_path / NDigits("test", root=root).cache_path.name
    cache.write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="regenerating the N-Digits cache"):
        fresh = NDigits("test", root=tmp_path)
    assert _digest(fresh) == reference
    assert _digest(NDigits("test", root=tmp_path)) == reference  # the repaired file reads back


def test_config_is_part_of_the_cache_key():
    base = NDigitsConfig()
    assert base.key() == NDigitsConfig().key()
    assert len({base.key(), base._replace(threshold=0.3).key(), base._replace(seed=1).key()}) == 3
    assert base.sensor_size == (10, 10, 2) and base.duration_us == 300_000


def test_events_are_valid_and_equal_a_direct_emulation(root):
    from sklearn.datasets import load_digits

    ds = NDigits("test", root=root, representation="events")
    images = load_digits().images / 16.0
    for i in (0, 17, 359):
        ev, label = ds[i]
        assert ev.dtype == EVENT_DTYPE and 300 < len(ev) < 5000
        assert np.all(np.diff(ev["t"]) >= 0) and ev["t"].min() >= 0 and ev["t"].max() < 300_000
        assert ev["x"].max() < 10 and ev["y"].max() < 10 and set(ev["p"].tolist()) == {0, 1}
        j = int(ds._index[i])
        assert label == ds.labels[i]
        frames, times = saccade_frames(images[j], amplitude_px=2.0, frames_per_saccade=10)
        direct = emulate_events(frames, times, threshold=0.2, eps=0.1)
        assert np.array_equal(ev, direct)


def test_dense_representation_bins_the_events(root):
    dense = NDigits("train", root=root)
    events = NDigits("train", root=root, representation="events")
    for i in (0, 500, 1436):
        x, label = dense[i]
        ev, label_ev = events[i]
        assert x.shape == (15, 2, 10, 10) and x.dtype == torch.get_default_dtype() and label == label_ev
        assert torch.equal(x, to_frames(ev, (10, 10, 2), n_time_bins=15, duration_us=300_000))
        assert torch.equal(x, dense.to_frames(ev)) and int(x.sum()) == len(ev)
    flat = NDigits("train", root=root, flatten=True, binary=True, n_time_bins=30, dtype=torch.float64)
    x, _ = flat[3]
    assert x.shape == (30, 200) and x.dtype == torch.float64 and x.max() == 1
    xs, ys = flat.tensors()
    assert xs.shape == (30, 1437, 200) and torch.equal(xs[:, 3], x) and ys.tolist() == flat.labels.tolist()
    transformed = NDigits("test", root=root, transform=lambda f: f.sum(0))
    assert transformed[0][0].shape == (2, 10, 10)


def test_dataloader_batches(root):
    ds = NDigits("test", root=root)
    x, y = next(iter(torch.utils.data.DataLoader(ds, batch_size=16)))
    assert x.shape == (16, 15, 2, 10, 10) and y.shape == (16,)
    x, y = next(iter(torch.utils.data.DataLoader(ds, batch_size=16, collate_fn=pad_collate)))
    assert x.shape == (15, 16, 2, 10, 10)


def test_a_linear_readout_of_the_events_separates_the_digits(root):
    # one time bin per saccade: the three edge maps, read out by ridge regression
    train, test = (
        NDigits(split, root=root, n_time_bins=3, dtype=torch.float64) for split in ("train", "test")
    )
    (xtr, ytr), (xte, yte) = train.tensors(), test.tensors()
    ftr, fte = (
        torch.cat([x.transpose(0, 1).flatten(1), torch.ones(x.shape[1], 1, dtype=x.dtype)], 1)
        for x in (xtr, xte)
    )
    targets = torch.nn.functional.one_hot(ytr, 10).to(ftr.dtype)
    w = torch.linalg.solve(ftr.T @ ftr + 100.0 * torch.eye(ftr.shape[1], dtype=ftr.dtype), ftr.T @ targets)
    accuracy = ((fte @ w).argmax(1) == yte).double().mean().item()
    assert accuracy > 0.95


def test_bad_arguments(root):
    with pytest.raises(ParameterError, match="split"):
        NDigits("valid", root=root)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="representation"):
        NDigits(root=root, representation="frames")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="n_time_bins"):
        NDigits(root=root, n_time_bins=0)
    with pytest.raises(ParameterError, match="config"):
        NDigits(root=root, config={"threshold": 0.2})  # type: ignore[arg-type]
    events = NDigits("test", root=root, representation="events")
    with pytest.raises(ParameterError, match="representation='dense'"):
        events.tensors()
    with pytest.raises(IndexError, match="360 samples"):
        events[360]
    assert np.array_equal(events[-1][0], events[359][0])


def test_copying_the_cache_file_is_enough(root, tmp_path, monkeypatch):
    path = NDigits("test", root=root).cache_path
    shutil.copy(path, tmp_path / path.name)
    monkeypatch.setattr(ndigits_module, "_generate", lambda cfg: (_ for _ in ()).throw(AssertionError))
    assert len(NDigits("test", root=tmp_path)) == 360
