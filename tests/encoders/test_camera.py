"""The event-camera emulator against the contrast-threshold model, and the saccade generator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikeforge.data import EVENT_DTYPE
from spikeforge.encoders.camera import emulate_events, saccade_frames
from spikeforge.errors import DTypeError, ParameterError, ShapeError

C = 0.2
EPS = 0.1


def _reference(
    frames: np.ndarray, times: np.ndarray, c: float, eps: float, refractory: int = 0
) -> list[tuple]:
    """A pixel-by-pixel, event-by-event implementation of the same model (independent of the
    vectorised one): returns sorted (t, y, x, p) tuples."""
    n_frames, h, w = frames.shape
    logs = np.log(frames + eps)
    out = []
    for yy in range(h):
        for xx in range(w):
            log_i = [float(v) for v in logs[:, yy, xx]]
            ref = log_i[0]
            last = -(10**18)
            for k in range(1, n_frames):
                l0, l1 = log_i[k - 1], log_i[k]
                n = math.floor(abs(l1 - ref) / c + 1e-9)
                s = 1.0 if l1 > ref else -1.0
                for j in range(1, n + 1):
                    frac = min(max((ref + s * j * c - l0) / (l1 - l0), 0.0), 1.0)
                    dt = int(times[k] - times[k - 1])
                    t = int(times[k - 1]) + min(math.floor(frac * dt), dt - 1)
                    if t - last >= refractory:
                        out.append((t, yy, xx, int(s > 0)))
                        last = t
                ref += s * n * c
    return sorted(out)


def _as_tuples(ev: np.ndarray) -> list[tuple]:
    return sorted(zip(ev["t"].tolist(), ev["y"].tolist(), ev["x"].tolist(), ev["p"].tolist()))


def _moving_bar(forward: int = 6, width: int = 4, w: int = 20, h: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A bright bar moving right one pixel per frame, then back left."""
    positions = list(range(2, 2 + forward + 1)) + list(range(2 + forward - 1, 1, -1))
    frames = np.zeros((len(positions), h, w))
    for k, x0 in enumerate(positions):
        frames[k, :, x0 : x0 + width] = 1.0
    times = np.arange(len(positions), dtype=np.int64) * 10_000
    return frames, times


def _interval(ev: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Index k of the frame interval [t_{k-1}, t_k) holding each event."""
    return np.searchsorted(times, ev["t"], side="right")


def test_moving_bar_events_only_at_edges_with_the_sign_of_the_change():
    frames, times = _moving_bar()
    ev = emulate_events(frames, times, threshold=C, eps=EPS)
    assert ev.dtype == EVENT_DTYPE and len(ev) > 0
    k = _interval(ev, times)
    change = frames[k, ev["y"], ev["x"]] - frames[k - 1, ev["y"], ev["x"]]
    assert np.all(change != 0)  # only where the bar's edges passed in that interval
    assert np.array_equal(ev["p"] == 1, change > 0)  # ON where it brightened, OFF where it darkened
    # each edge crossing is floor(log((1 + eps) / eps) / C) events
    per_crossing = math.floor(math.log((1 + EPS) / EPS) / C)
    counts = np.bincount(k * frames[0].size + ev["y"].astype(np.int64) * frames.shape[2] + ev["x"])
    assert set(counts[counts > 0].tolist()) == {per_crossing}


def test_polarity_flips_when_the_motion_reverses():
    frames, times = _moving_bar(forward=6)
    ev = emulate_events(frames, times, threshold=C, eps=EPS)
    turn = times[6]
    col = 2 + 4 + 2  # reached by the bar's leading edge going right, left by it coming back
    at = ev[(ev["x"] == col) & (ev["y"] == 0)]
    assert np.all(at["p"][at["t"] < turn] == 1) and np.any(at["t"] < turn)
    assert np.all(at["p"][at["t"] >= turn] == 0) and np.any(at["t"] >= turn)
    # the leading edge is ON going right and OFF coming back: the mean polarity flips
    right = ev["x"] >= 6
    assert ev["p"][right & (ev["t"] < turn)].mean() > 0.5 > ev["p"][right & (ev["t"] >= turn)].mean()


def test_counts_and_times_match_a_pixelwise_reference(gen):
    frames = torch.rand(8, 4, 5, generator=gen, dtype=torch.float64).numpy()
    times = np.cumsum(np.r_[0, torch.randint(1, 5000, (7,), generator=gen).numpy()]).astype(np.int64)
    for refractory in (0, 700):
        ev = emulate_events(frames, times, threshold=0.15, eps=0.05, refractory_us=refractory)
        assert _as_tuples(ev) == _reference(frames, times, 0.15, 0.05, refractory)


def test_per_pixel_counts_equal_floor_of_log_change():
    rng = np.random.default_rng(0)
    f0, f1 = rng.random((6, 7)), rng.random((6, 7))
    ev = emulate_events(np.stack([f0, f1]), [0, 1000], threshold=C, eps=EPS)
    d_l = np.log(f1 + EPS) - np.log(f0 + EPS)
    counts = np.zeros((6, 7), dtype=np.int64)
    np.add.at(counts, (ev["y"], ev["x"]), 1)
    assert np.array_equal(counts, np.floor(np.abs(d_l) / C).astype(np.int64))
    signs = np.zeros((6, 7))
    np.add.at(signs, (ev["y"], ev["x"]), 2.0 * ev["p"] - 1.0)
    assert np.array_equal(np.sign(signs), np.sign(d_l) * (counts > 0))


def test_integrated_events_rebuild_log_intensity_within_threshold(gen):
    frames = torch.rand(12, 5, 6, generator=gen, dtype=torch.float64).numpy()
    times = np.arange(12, dtype=np.int64) * 1000
    ev = emulate_events(frames, times, threshold=C, eps=EPS)
    log_i = np.log(frames + EPS)
    for k in range(1, 12):
        rec = log_i[0].copy()
        before = ev[ev["t"] < times[k]]  # the events of intervals 1..k
        np.add.at(rec, (before["y"], before["x"]), C * (2.0 * before["p"] - 1.0))
        assert np.all(np.abs(log_i[k] - rec) < C + 1e-12)


def test_events_are_sorted_and_inside_the_recording():
    frames, times = saccade_frames(np.random.default_rng(1).random((6, 6)), amplitude_px=2.0)
    ev = emulate_events(frames, times)
    assert np.all(np.diff(ev["t"]) >= 0)
    assert ev["t"].min() >= times[0] and ev["t"].max() < times[-1]
    assert ev["x"].max() < frames.shape[2] and ev["y"].max() < frames.shape[1]


def test_constant_frames_give_no_events_and_tensor_input_matches_numpy():
    assert len(emulate_events(np.full((5, 3, 3), 0.4), np.arange(5) * 10)) == 0
    frames, times = _moving_bar()
    ev_np = emulate_events(frames, times)
    ev_t = emulate_events(torch.from_numpy(frames).float(), torch.from_numpy(times))
    assert np.array_equal(ev_np, ev_t)


def test_refractory_period_spaces_events_of_a_pixel():
    frames, times = _moving_bar()
    times = times // 100  # 100 us per frame: several crossings per pixel fall within 250 us
    free = emulate_events(frames, times, threshold=0.1)
    ev = emulate_events(frames, times, threshold=0.1, refractory_us=250)
    assert 0 < len(ev) < len(free)
    for pix in np.unique(ev["y"].astype(np.int64) * 100 + ev["x"]):
        t = ev["t"][ev["y"].astype(np.int64) * 100 + ev["x"] == pix]
        assert np.all(np.diff(t) >= 250)
    assert np.array_equal(emulate_events(frames, times, threshold=0.1, refractory_us=0), free)


def test_noise_is_reproducible_poisson_and_leaves_the_global_rng_alone():
    frames = np.full((2, 10, 10), 0.5)
    times = np.array([0, 1_000_000])  # 1 s
    state = torch.get_rng_state()
    ev1 = emulate_events(frames, times, noise_rate=0.02, generator=torch.Generator().manual_seed(3))
    ev2 = emulate_events(frames, times, noise_rate=0.02, generator=torch.Generator().manual_seed(3))
    ev3 = emulate_events(frames, times, noise_rate=0.02, generator=torch.Generator().manual_seed(4))
    assert torch.equal(torch.get_rng_state(), state)
    assert np.array_equal(ev1, ev2) and not np.array_equal(ev1, ev3)
    expected = 0.02 * 1000.0 * 100  # per ms * ms * pixels
    assert abs(len(ev1) - expected) < 5 * math.sqrt(expected)
    assert 0.4 < ev1["p"].mean() < 0.6 and np.all(np.diff(ev1["t"]) >= 0)
    g = torch.Generator().manual_seed(5)
    before = g.get_state()
    emulate_events(frames, times, generator=g)  # no noise: the generator is not used
    assert torch.equal(g.get_state(), before)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"frames": np.zeros((1, 3, 3)), "times_us": [0]}, ShapeError, "at least 2 frames"),
        ({"frames": np.zeros((3, 3)), "times_us": [0, 1, 2]}, ShapeError, "3 dimensions"),
        ({"times_us": [0, 1]}, ShapeError, "times_us"),
        ({"times_us": [0.0, 1.0, 2.0]}, DTypeError, "integer"),
        ({"times_us": [0, 2, 2]}, ParameterError, "strictly increasing"),
        ({"frames": -np.ones((3, 2, 2)), "times_us": [0, 1, 2]}, ParameterError, ">= 0"),
        ({"frames": np.full((3, 2, 2), np.nan), "times_us": [0, 1, 2]}, ParameterError, "finite"),
        ({"threshold": 0.0}, ParameterError, "threshold"),
        ({"refractory_us": -1}, ParameterError, "refractory_us"),
        ({"refractory_us": 1.5}, ParameterError, "refractory_us"),
        ({"noise_rate": -1.0}, ParameterError, "noise_rate"),
        ({"eps": 0.0}, ParameterError, "eps"),
        ({"generator": 3}, ParameterError, "generator"),
    ],
)
def test_bad_input_raises_naming_the_argument(kwargs, error, match):
    args = {"frames": np.zeros((3, 2, 2)), "times_us": [0, 1, 2], **kwargs}
    with pytest.raises(error, match=match):
        emulate_events(args.pop("frames"), args.pop("times_us"), **args)


def test_saccades_follow_the_nmnist_triangle():
    image = np.zeros((8, 8))
    image[3:5, 3:5] = 1.0
    a = 2.0
    frames, times = saccade_frames(image, amplitude_px=a, frames_per_saccade=4, saccade_us=100_000)
    assert frames.shape == (13, 10, 10)
    assert times.tolist() == [k * 25_000 for k in range(13)]
    ys, xs = np.mgrid[0:10, 0:10]
    mass = frames.sum(axis=(1, 2))
    assert np.allclose(mass, 4.0)  # moved, not resized
    cx = (frames * xs).sum(axis=(1, 2)) / mass - 3.5
    cy = (frames * ys).sum(axis=(1, 2)) / mass - 3.5
    for k, (dx, dy) in zip((0, 4, 8, 12), ((0, 0), (a / 2, a), (a, 0), (0, 0))):
        assert cx[k] == pytest.approx(dx) and cy[k] == pytest.approx(dy)
    assert np.array_equal(frames[0], frames[-1])


def test_saccade_defaults_batches_and_errors():
    frames, times = saccade_frames(np.ones((28, 28)))
    assert frames.shape == (31, 35, 35) and times[-1] == 300_000  # a = 28 / 4 = 7 px, as N-MNIST
    stack = np.random.default_rng(0).random((2, 3, 6, 5))
    batched, _ = saccade_frames(stack, amplitude_px=1.5)
    assert batched.shape == (31, 2, 3, 8, 7)
    single, _ = saccade_frames(stack[1, 2], amplitude_px=1.5)
    assert np.array_equal(batched[:, 1, 2], single)
    more, t = saccade_frames(np.ones((4, 4)), n_saccades=4, frames_per_saccade=2)
    assert more.shape[0] == 9 and t[-1] == 400_000
    with pytest.raises(ShapeError, match="image"):
        saccade_frames(np.ones(4))
    with pytest.raises(ParameterError, match="amplitude_px"):
        saccade_frames(np.ones((4, 4)), amplitude_px=-1.0)
    with pytest.raises(ParameterError, match="n_saccades"):
        saccade_frames(np.ones((4, 4)), n_saccades=0)
    with pytest.raises(ParameterError, match="frames_per_saccade"):
        saccade_frames(np.ones((4, 4)), frames_per_saccade=0)
