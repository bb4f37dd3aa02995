"""Hardware export: NIR graphs that other tools run with the same spikes.

``nir`` is imported only when :func:`to_nir` or :func:`from_nir` is called
(``pip install 'spikeforge[nir]'``); ``import spikeforge.hardware`` needs torch and numpy only.

=====================  ==============================================================
``to_nir``             a spikeforge model as a ``nir.NIRGraph`` (optionally a preset
                       that snntorch's or norse's importer runs exactly)
``from_nir``           a NIR graph or ``.nir`` file as a spikeforge model
``NIRGraphModule``     what ``from_nir`` builds for graphs that are not chains
=====================  ==============================================================
"""

from .nir import NIRGraphModule, NIRGraphState, from_nir, to_nir

__all__ = ["to_nir", "from_nir", "NIRGraphModule", "NIRGraphState"]
