"""spikeforge imports without nir, and the NIR functions ask for it by name (STYLE.md: optional
dependencies are imported lazily, with an install hint). No importorskip here: these tests
matter most where nir is absent."""

from __future__ import annotations

import subprocess
import sys

import pytest

import spikeforge as sf
from spikeforge.errors import MissingDependencyError
from spikeforge.hardware import from_nir, to_nir


def test_nir_is_imported_lazily():
    code = (
        "import sys, spikeforge, spikeforge.hardware\n"
        "assert 'nir' not in sys.modules and 'nirtorch' not in sys.modules, sorted(sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_missing_nir_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "nir", None)  # makes `import nir` raise ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'spikeforge\[nir\]'"):
        to_nir(sf.neurons.LIF(3))
    with pytest.raises(MissingDependencyError):
        from_nir("whatever.nir")
