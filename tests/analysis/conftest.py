"""The analyses are small dense linear algebra: one BLAS thread per test is fastest, and keeps
the suite quick on a loaded 2-core machine (oversubscribed BLAS threads slow an eigendecomposition
tenfold). The limits are restored after each test. threadpoolctl comes with scikit-learn (the
``data`` extra); without it only torch's thread count is limited."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import torch

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - optional

    def threadpool_limits(limits: int) -> contextlib.AbstractContextManager[None]:  # type: ignore[misc]
        return contextlib.nullcontext()


@pytest.fixture(autouse=True)
def _one_blas_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)
