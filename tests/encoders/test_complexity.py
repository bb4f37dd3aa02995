"""LZ76 complexity: the phrase count against two independent implementations (the definition by
substring search, and the Kaspar-Schuster loop), and the normalised values of papers.md section 11
at n = 10^4."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikeforge.encoders import lz_complexity, lz_complexity_batch, lz_phrase_count
from spikeforge.errors import DTypeError, ParameterError, ShapeError


def phrases_by_definition(s: str) -> int:
    """Each new component is the shortest word at l that is not a substring of what precedes its
    last symbol (a copy may overlap the component itself); a last component may run to the end."""
    n, c, l = len(s), 0, 0
    while l < n:
        m = 1
        while l + m <= n and s[l : l + m] in s[: l + m - 1]:
            m += 1
        c += 1
        l += m
    return c


def phrases_kaspar_schuster(s: str) -> int:
    """The loop of Kaspar & Schuster (1987), Fig. 1, transcribed."""
    n = len(s)
    if n <= 1:
        return n
    c, l, i, k, k_max = 1, 1, 0, 1, 1
    while True:
        if s[i + k - 1] == s[l + k - 1]:
            k += 1
            if l + k > n:
                c += 1
                break
        else:
            k_max = max(k_max, k)
            i += 1
            if i == l:
                c += 1
                l += k_max
                if l + 1 > n:
                    break
                i, k, k_max = 0, 1, 1
            else:
                k = 1
    return c


def entropy(p: float) -> float:
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def test_the_kaspar_schuster_example():
    # 0 | 001 | 10 | 100 | 1000 | 101: c = 6 (Kaspar & Schuster 1987)
    s = "0001101001000101"
    assert lz_phrase_count([int(ch) for ch in s]) == 6
    assert phrases_by_definition(s) == 6 == phrases_kaspar_schuster(s)


def test_phrase_count_equals_independent_implementations():
    rng = np.random.default_rng(0)
    cases = ["0", "1", "01", "00", "0000000", "0101010101", "0010010010011"]
    for _ in range(600):
        n = int(rng.integers(1, 80))
        p = float(rng.choice([0.05, 0.2, 0.5, 0.8]))
        cases.append("".join("1" if b else "0" for b in rng.random(n) < p))
    for _ in range(50):
        period = "".join("1" if b else "0" for b in rng.random(int(rng.integers(1, 6))) < 0.5)
        cases.append((period * 40)[: int(rng.integers(1, 120))])
    for s in cases:
        bits = [int(ch) for ch in s]
        c = lz_phrase_count(bits)
        assert c == phrases_by_definition(s) == phrases_kaspar_schuster(s), s


@pytest.mark.parametrize("p", [0.5, 0.1])
def test_bernoulli_sequences_approach_the_entropy(p):
    g = torch.Generator().manual_seed(1234)
    bits = torch.rand(10_000, generator=g, dtype=torch.float64) < p
    c = lz_complexity(bits)
    assert abs(c - entropy(p)) < 0.05, (p, c, entropy(p))


def test_periodic_sequences_are_far_below():
    assert lz_complexity([0, 0, 1, 1] * 2500) < 0.05
    assert lz_complexity([1, 0, 0, 0] * 2500) < 0.05
    assert lz_complexity(np.zeros(10_000)) < 0.05
    assert lz_complexity([1]) == 0.0


def test_input_types_agree():
    rng = np.random.default_rng(5)
    b = rng.random(500) < 0.3
    values = {
        lz_complexity(b),
        lz_complexity(b.astype(np.int64)),
        lz_complexity(b.astype(np.float32).tolist()),
        lz_complexity(torch.from_numpy(b)),
        lz_complexity(torch.from_numpy(b).double()),
        lz_complexity(tuple(int(v) for v in b)),
    }
    assert len(values) == 1
    assert values.pop() == lz_phrase_count(b) * math.log2(500) / 500


def test_batch_equals_one_at_a_time():
    g = torch.Generator().manual_seed(3)
    spikes = (torch.rand(300, 2, 5, generator=g) < 0.2).float()  # [T, B, N]
    c = lz_complexity_batch(spikes)
    assert c.shape == (2, 5) and c.dtype == torch.float32
    for b in range(2):
        for i in range(5):
            assert c[b, i].item() == pytest.approx(lz_complexity(spikes[:, b, i]), rel=1e-6)
    last = lz_complexity_batch(spikes.permute(1, 2, 0).double(), dim=-1)
    assert last.dtype == torch.float64
    assert torch.allclose(last.float(), c)
    assert lz_complexity_batch(np.ones((10, 3), dtype=bool)).dtype == torch.get_default_dtype()


@pytest.mark.parametrize("bad, shown", [([0, 1, 2], "2"), ([0, 0.5], "0.5"), ([1.0, float("nan")], "nan")])
def test_non_binary_values_raise(bad, shown):
    with pytest.raises(ParameterError, match=f"bits must be binary.*{shown}"):
        lz_complexity(bad)
    with pytest.raises(ParameterError, match="bits must be binary"):
        lz_complexity_batch(np.array([bad, bad]), dim=1)


def test_other_bad_input():
    with pytest.raises(ShapeError, match="1-D"):
        lz_complexity(np.zeros((3, 4)))
    with pytest.raises(ShapeError, match="1-D"):
        lz_phrase_count(np.zeros((3, 4)))
    with pytest.raises(ParameterError, match="empty"):
        lz_complexity([])
    with pytest.raises(DTypeError, match="bits"):
        lz_complexity(["0", "1"])
    with pytest.raises(ShapeError, match="dim"):
        lz_complexity_batch(np.zeros((3, 4)), dim=2)
    with pytest.raises(ShapeError, match="0-d"):
        lz_complexity_batch(torch.tensor(1.0))
