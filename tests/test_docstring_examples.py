"""Every docstring example in the package runs and prints what it shows (doctest), so that the
examples in the documentation cannot rot."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import spikeforge


def _modules() -> list[str]:
    names = [spikeforge.__name__]
    for info in pkgutil.walk_packages(spikeforge.__path__, prefix=f"{spikeforge.__name__}."):
        if not info.name.endswith("__main__"):  # importing it runs the command line
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed"
