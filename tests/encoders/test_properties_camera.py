r"""Property-based tests (Hypothesis) of the event-camera emulator, over intensities, contrast
thresholds, eps, frame times (any start, any spacing) and refractory periods (issue 16, item 4).

References, from the docstring of :func:`emulate_events`:

- one pixel, two frames: :math:`n = \lfloor |L_1 - L_0| / C \rfloor` events of polarity
  ``sign(L_1 - L_0)``, the j-th at ``t0 + floor(j C / |L_1 - L_0| * (t1 - t0))`` (within
  ``[t0, t1)``), computed here in Python floats;
- any frames: after every frame, :math:`|L_k - (L_0 + C \sum \pm 1)| < C` per pixel over the events
  before ``t_k``, every event lies in ``[t_0, t_{F-1})``, times are sorted;
- a refractory period keeps, per pixel and in time order, each event at least ``refractory_us``
  after the last kept one (dropped events do not restart the period);
- :func:`saccade_frames` moves the image without resizing it: each frame sums to the image's sum
  (background 0), frame times are ``round(k * saccade_us / frames_per_saccade)``.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from spikeforge.encoders.camera import emulate_events, saccade_frames

FAST = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

intensity = st.floats(min_value=0.0, max_value=1.0)


@FAST
@given(
    i0=intensity,
    i1=intensity,
    c=st.floats(0.05, 1.0),
    eps=st.floats(0.01, 0.5),
    t0=st.integers(0, 10**7),
    span=st.integers(1, 10**6),
)
def test_one_pixel_emits_floor_of_the_contrast_over_the_threshold(i0, i1, c, eps, t0, span):
    dl = math.log(i1 + eps) - math.log(i0 + eps)
    ratio = abs(dl) / c
    assume(abs(ratio - round(ratio)) > 1e-6)  # on the edge the 1e-9 tolerance decides
    frames = np.array([[[i0]], [[i1]]])
    ev = emulate_events(frames, np.array([t0, t0 + span]), threshold=c, eps=eps)
    n = math.floor(ratio)
    assert len(ev) == n
    assert set(ev["p"].tolist()) <= {1 if dl > 0 else 0}
    want = [t0 + min(math.floor(j * c / abs(dl) * span), span - 1) for j in range(1, n + 1)]
    got = ev["t"].tolist()
    # the stamp is a floor of a float product: allow the last microsecond to differ by rounding
    assert all(abs(g - w) <= 1 for g, w in zip(got, want)), (got, want)
    assert all(t0 <= t < t0 + span for t in got)


@st.composite
def movies(draw):
    n_frames = draw(st.integers(2, 6))
    h, w = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    values = draw(st.lists(intensity, min_size=n_frames * h * w, max_size=n_frames * h * w))
    frames = np.array(values).reshape(n_frames, h, w)
    start = draw(st.integers(0, 10**6))
    gaps = draw(st.lists(st.integers(1, 5000), min_size=n_frames - 1, max_size=n_frames - 1))
    times = np.cumsum([start, *gaps]).astype(np.int64)
    return frames, times


@FAST
@given(movie=movies(), c=st.floats(0.05, 0.8), eps=st.floats(0.01, 0.5))
def test_events_rebuild_the_log_intensity_within_one_threshold(movie, c, eps):
    frames, times = movie
    ev = emulate_events(frames, times, threshold=c, eps=eps)
    assert np.all(np.diff(ev["t"]) >= 0)
    assert np.all((ev["t"] >= times[0]) & (ev["t"] < times[-1]))
    log_i = np.log(frames + eps)
    sign = np.where(ev["p"] == 1, 1.0, -1.0)
    for k in range(1, len(times)):
        before = ev["t"] < times[k]
        rebuilt = log_i[0].copy()
        np.add.at(rebuilt, (ev["y"][before], ev["x"][before]), c * sign[before])
        assert np.all(np.abs(log_i[k] - rebuilt) < c * (1 + 1e-6)), (k, log_i[k] - rebuilt)


@FAST
@given(movie=movies(), c=st.floats(0.05, 0.8), refractory=st.integers(1, 3000))
def test_refractory_period_drops_events_closer_than_it_to_the_last_kept_one(movie, c, refractory):
    frames, times = movie
    full = emulate_events(frames, times, threshold=c)
    kept = emulate_events(frames, times, threshold=c, refractory_us=refractory)
    # the docstring's filter: per pixel, in time order, an event is kept when it comes at least
    # refractory_us after the last kept one (dropped events do not restart the period)
    last: dict[tuple[int, int], int] = {}
    want = []
    for x, y, t, p in full[["x", "y", "t", "p"]].tolist():
        if t - last.get((x, y), -(10**18)) >= refractory:
            last[(x, y)] = t
            want.append((x, y, t, p))
    assert Counter(map(tuple, kept[["x", "y", "t", "p"]].tolist())) == Counter(want)


@FAST
@given(
    h=st.integers(2, 6),
    w=st.integers(2, 6),
    amplitude=st.floats(0.3, 4.0),
    n_saccades=st.integers(1, 5),
    per=st.integers(1, 7),
    saccade_us=st.integers(1, 200_000),
    seed=st.integers(0, 99),
)
def test_saccades_move_the_image_without_resizing_it(h, w, amplitude, n_saccades, per, saccade_us, seed):
    image = np.random.default_rng(seed).random((h, w))
    frames, times = saccade_frames(
        image, amplitude_px=amplitude, n_saccades=n_saccades, frames_per_saccade=per, saccade_us=saccade_us
    )
    assert frames.shape == (n_saccades * per + 1, h + math.ceil(amplitude), w + math.ceil(amplitude))
    assert np.allclose(frames.sum(axis=(1, 2)), image.sum(), rtol=1e-12)
    assert times.tolist() == [round(k * saccade_us / per) for k in range(n_saccades * per + 1)]
    assert np.array_equal(frames[0, :h, :w], image)  # the triangle starts at (0, 0)
