"""Hardware export: NIR graphs that other tools run with the same spikes.

``nir`` is imported only when :func:`to_nir` or :func:`from_nir` is called
(``pip install 'spikeforge[nir]'``); ``import spikeforge.hardware`` needs torch and numpy only.

=====================  ==============================================================
``to_nir``             a spikeforge model as a ``nir.NIRGraph`` (optionally a preset
                       that snntorch's or norse's importer runs exactly)
``from_nir``           a NIR graph or ``.nir`` file as a spikeforge model
``NIRGraphModule``     what ``from_nir`` builds for graphs that are not chains
``fold_mpbn``          MPBN layers folded into plain LIF thresholds (exact)
``targets``            chip targets as data (Loihi 2, Xylo, Speck, SpiNNaker2, BrainScaleS-2)
``check``              every limit of a chip a model violates, in words (``CheckReport``)
``quantize``           post-training quantization and a bit-accurate integer simulation
                       (Loihi 2, Xylo)
``prepare_qat``        fake-quantized weights for quantization-aware training
                       (``remove_qat`` undoes it)
``run_xylosim``        a quantized Xylo network run in SynSense's own simulator
                       (``xylosim``, an optional test-time extra)
``benchmark_figures``  NeuroBench's footprint, sparsities, synaptic operations and
                       membrane updates
                       (``neurobench_adaptor``: the model for NeuroBench's Benchmark)
``energy_estimate``    energy per inference on a chip from those counts and its
                       published energy per operation, each number with its source
                       (Loihi's for Loihi 2, SpiNNaker2; the others refuse, saying why)
=====================  ==============================================================
"""

from .benchmark_metrics import BenchmarkFigures, benchmark_figures, neurobench_adaptor
from .check import CheckReport, check
from .energy import EnergyEstimate, energy_estimate
from .mpbn_fold import fold_mpbn
from .netx import read_netx, write_netx
from .nir import NIRGraphModule, NIRGraphState, from_nir, to_nir
from .qat import prepare_qat, remove_qat
from .quantize import QuantizedModel, quantize
from .targets import ChipTarget, targets
from .xylo_vendor import run_xylosim

__all__ = [
    "to_nir",
    "from_nir",
    "NIRGraphModule",
    "NIRGraphState",
    "fold_mpbn",
    "write_netx",
    "read_netx",
    "targets",
    "ChipTarget",
    "check",
    "CheckReport",
    "quantize",
    "QuantizedModel",
    "prepare_qat",
    "remove_qat",
    "run_xylosim",
    "benchmark_figures",
    "BenchmarkFigures",
    "neurobench_adaptor",
    "energy_estimate",
    "EnergyEstimate",
]
