"""seed_summary / mean_sd: against statistics computed by hand."""

import math

import numpy as np
import pytest

from spikeforge.analysis import mean_sd, seed_summary
from spikeforge.errors import ParameterError


def test_summary_against_numpy():
    xs = [0.3, 0.9, 0.5, 0.7, 0.1]
    s = seed_summary(xs)
    assert s["mean"] == pytest.approx(np.mean(xs), abs=1e-15)
    assert s["sd"] == pytest.approx(np.std(xs, ddof=1), abs=1e-15)  # the sample spread, n - 1
    assert (s["min"], s["max"]) == (0.1, 0.9)
    assert s["per_seed"] == xs  # in the order given, as floats


def test_one_seed_has_no_spread_and_numpy_values_are_floats():
    s = seed_summary(np.array([2.5]))
    assert s == {"mean": 2.5, "sd": 0.0, "min": 2.5, "max": 2.5, "per_seed": [2.5]}
    assert all(type(v) is float for v in s["per_seed"])


def test_text():
    assert mean_sd(seed_summary([0.8, 1.0]), scale=100, digits=1) == "90.0 ± 14.1"


@pytest.mark.parametrize("bad", [[], [1.0, math.nan], [math.inf], ["a"], None])
def test_bad_values(bad):
    with pytest.raises(ParameterError, match="values"):
        seed_summary(bad)


def test_mean_sd_needs_a_summary():
    with pytest.raises(ParameterError, match="summary"):
        mean_sd({"mean": 1.0})
