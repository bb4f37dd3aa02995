"""Shared fixtures. Tests never touch the global RNG: they draw from their own seeded generator."""

from __future__ import annotations

import os

import pytest
import torch

if os.environ.get("SPIKEFORGE_MUTATION"):  # tools/mutation_check.py: a failure is enough, no shrinking
    from hypothesis import Phase, settings

    settings.register_profile("mutation", phases=(Phase.explicit, Phase.reuse, Phase.generate))
    settings.load_profile("mutation")


@pytest.fixture
def gen() -> torch.Generator:
    """A fresh CPU generator with a fixed seed, so each test draws the same numbers in any order."""
    return torch.Generator().manual_seed(1234)
