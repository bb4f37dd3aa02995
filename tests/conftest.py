"""Shared fixtures. Tests never touch the global RNG: they draw from their own seeded generator."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def gen() -> torch.Generator:
    """A fresh CPU generator with a fixed seed, so each test draws the same numbers in any order."""
    return torch.Generator().manual_seed(1234)
