"""``spikeforge simulate BUILDER --export-pynn PATH``: the circuit as a standalone PyNN script."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikeforge.circuits import builders
from spikeforge.circuits.pynn_export import describe
from spikeforge.cli import main


def test_simulate_writes_the_pynn_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "cuba.py"
    code = main(
        ["simulate", "cuba", "--n", "40", "--duration", "5", "--out", str(tmp_path), "--no-progress"]
        + ["--export-pynn", str(script)]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "delay = dt = 0.1 ms for PyNN" in out and f"saved {script}" in out
    namespace: dict[str, object] = {"__name__": "not_main"}
    exec(compile(script.read_text(), str(script), "exec"), namespace)
    description, arrays = namespace["_load"]()  # type: ignore[operator]
    ref_d, ref_a = describe(builders.cuba(n=40, seed=0, delay=0.1))  # what the command built
    assert description == ref_d
    for k in ref_a:
        np.testing.assert_array_equal(arrays[k], ref_a[k])
    assert namespace["DURATION"] == 5.0


def test_simulate_export_of_an_unsupported_circuit_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["simulate", "izhikevich2003", "--n", "20", "--duration", "2", "--out", str(tmp_path)]
        + ["--no-progress", "--export-pynn", str(tmp_path / "izh.py")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "spikeforge simulate: projection" in err and "below one step" in err and "Traceback" not in err
    assert not (tmp_path / "izh.py").exists()
