"""Every notebook in ``notebooks/`` executes without errors and draws at least one figure.

Each notebook runs on a copy in a temporary folder (the committed files, with their outputs, are
never rewritten), in a kernel started with this interpreter (``sys.executable``), so the test
needs no installed kernelspec.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9]*.ipynb"))
CELL_TIMEOUT_S = 300


def test_notebooks_are_present():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


def _execute(path: Path, workdir: Path) -> nbformat.NotebookNode:
    import json

    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    nb = nbformat.read(path, as_version=4)
    copy = workdir / path.name
    nbformat.write(nb, copy)
    nb = nbformat.read(copy, as_version=4)
    # a kernelspec of this interpreter in a folder of its own, whatever kernelspecs are (or are
    # not) installed on the machine
    spec_dir = workdir / "kernels" / "spikeforge-test"
    spec_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "spikeforge test", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    ksm = KernelSpecManager(kernel_dirs=[str(spec_dir.parent)], ensure_native_kernel=False)
    km = KernelManager(kernel_name="spikeforge-test", kernel_spec_manager=ksm)
    client = nbclient.NotebookClient(
        nb,
        km=km,
        kernel_name="spikeforge-test",
        timeout=CELL_TIMEOUT_S,
        allow_errors=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return nb


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_and_draws(path: Path, tmp_path: Path):
    start = time.perf_counter()
    nb = _execute(path, tmp_path)
    seconds = time.perf_counter() - start
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"
    ]
    assert not errors, f"{path.name}: {errors[0].ename}: {errors[0].evalue}"
    images = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    assert images, f"{path.name} produced no figure"
    print(f"\n{path.name}: {seconds:.1f} s, {len(images)} figures")
