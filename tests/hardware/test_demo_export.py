r"""The trained demo network exports, and snntorch and norse run the exported file with the same
spikes as spikeforge on the embedded test set.

The demo network (:func:`spikeforge.demo.build_demo_model`, ``Linear(200, 128) -> LIF ->
Linear(128, 10) -> LIF``) is trained for one epoch on ``NDigits("train")`` as ``train_demo``
does, exported with the ``importer="snntorch"`` and ``importer="norse"`` presets, written with
``nir.write`` and read back with ``nir.read``; each peer's importer then runs all 360
``NDigits("test")`` samples (batched, float32, one call per step, as in
``test_nir_interop.py``), and so does spikeforge on the faithful file (``from_nir``). Every
output spike train must be identical (``torch.equal``) to spikeforge's.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import pytest
import torch

from spikeforge import data
from spikeforge.demo import DT, N_TIME_BINS, build_demo_model
from spikeforge.hardware import from_nir, to_nir
from spikeforge.training import Trainer, make_loader

pytestmark = [
    pytest.mark.reference,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # nirtorch.load, used by norse
    pytest.mark.filterwarnings("ignore:.*requires_grad.*:UserWarning"),
]

nir = pytest.importorskip("nir")


@pytest.fixture
def float32_default() -> Iterator[None]:
    """snntorch and norse build float32 modules: run everything in float32 (restored afterwards)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_default_dtype(before)


def _run_snntorch(graph, x: torch.Tensor) -> torch.Tensor:
    """snntorch's importer, one call per step; a fresh import starts at rest."""
    from snntorch.import_nir import import_from_nir

    with contextlib.redirect_stdout(io.StringIO()):  # the importer prints
        module = import_from_nir(graph)
    with torch.no_grad():
        return torch.stack([module(x[t])[0] for t in range(x.shape[0])])


def _run_norse(graph, x: torch.Tensor) -> torch.Tensor:
    """norse's importer (``norse.torch.from_nir``, its default dt = 1e-3 s), one call per step."""
    import norse.torch as norse

    module = norse.from_nir(graph)
    outs, state = [], None
    with torch.no_grad():
        for t in range(x.shape[0]):
            z, state = module(x[t], state)
            outs.append(z)
    return torch.stack(outs)


def _via_file(graph, path):
    nir.write(path, graph)
    return nir.read(path)


def test_trained_demo_runs_spike_for_spike_in_snntorch_and_norse(tmp_path, float32_default):
    pytest.importorskip("snntorch")
    pytest.importorskip("norse.torch")
    torch.set_num_threads(2)  # training dominates; the hardware conftest restores the count

    train = data.NDigits("train", n_time_bins=N_TIME_BINS, flatten=True)
    test = data.NDigits("test", n_time_bins=N_TIME_BINS, flatten=True)
    model = build_demo_model(seed=0)
    trainer = Trainer(
        model,
        torch.optim.Adam(model.parameters(), lr=5e-3),
        readout="spike_count",
        seed=0,
        progress=False,
    )
    trainer.fit(make_loader(train, 32, shuffle=True, seed=0, collate_fn=data.pad_collate), 1)
    model.eval()

    x, labels = data.pad_collate([test[i] for i in range(len(test))])
    x = x.to(torch.float32)
    assert x.shape == (N_TIME_BINS, 360, 200)
    with torch.no_grad():
        ref, _ = model(x)
    assert ref.shape == (N_TIME_BINS, 360, 10)
    # a trained network, not a silent one: it fires and classifies well above chance (10 %)
    assert 0.005 < float(ref.mean()) < 0.5
    accuracy = float((ref.sum(0).argmax(-1) == labels).float().mean())
    assert accuracy > 0.5

    # spikeforge -> NIR file -> spikeforge
    faithful = _via_file(to_nir(model, dt=DT), tmp_path / "demo.nir")
    with torch.no_grad():
        back, _ = from_nir(faithful)(x)
    assert torch.equal(back, ref)

    for importer, run in (("snntorch", _run_snntorch), ("norse", _run_norse)):
        graph = _via_file(to_nir(model, dt=DT, importer=importer), tmp_path / f"demo_{importer}.nir")
        out = run(graph, x)
        assert out.shape == ref.shape, importer
        mismatches = int((out != ref).sum())
        assert mismatches == 0, f"{importer}: {mismatches} of {ref.numel()} output spike bins differ"
