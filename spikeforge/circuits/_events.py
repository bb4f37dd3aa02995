"""Event-driven selection of synapses on the PyTorch path of circuits: the members of CSR rows
(the synapses of the neurons that spiked), for propagation and for event-driven plasticity."""

from __future__ import annotations

import torch
from torch import Tensor

from .projection import Projection


def _members(indptr: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
    """The members of the CSR rows ``rows`` (``indptr`` int64): ``(position of the row in rows,
    member index)`` for each member, row by row."""
    starts = indptr[rows]
    counts = indptr[rows + 1] - starts
    total = int(counts.sum()) if counts.numel() else 0
    offsets = torch.cumsum(counts, 0) - counts
    # the segment of each member, without repeat_interleave (slow on a busy multi-threaded CPU):
    # mark each segment start, then a running sum
    seg = torch.zeros(total + 1, dtype=torch.int64, device=indptr.device)
    seg.index_add_(0, offsets, torch.ones_like(offsets))
    seg = torch.cumsum(seg[:total], 0) - 1
    return seg, torch.arange(total, device=indptr.device) - offsets[seg] + starts[seg]


class _PlasticEvents:
    """The synapses of a sparse projection that an event-driven rule (``STDP``, ``TripletSTDP``:
    no change without a pre- or postsynaptic spike) changes in a step: those of the neurons that
    spiked, found through the CSR by source and a CSR by target built here."""

    def __init__(self, proj: Projection, device: torch.device) -> None:
        self.pre = proj.pre_indices.to(device)
        self.post = proj.post_indices.to(device)
        self.indptr_pre = proj.indptr.to(device=device, dtype=torch.int64)
        self.by_post = torch.argsort(self.post, stable=True)
        counts = torch.bincount(self.post, minlength=proj.n_post)
        self.indptr_post = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
        self.everything = True  # the first step of a run takes every synapse (bounds, see run)
        self.mark = torch.zeros(self.pre.numel(), dtype=torch.bool, device=device)  # scratch

    def active(self, pre: Tensor, post: Tensor) -> Tensor:
        """Indices (each once) of the synapses of the neurons spiking in ``pre`` / ``post`` ``[B, n]``."""
        if self.everything:
            self.everything = False
            return torch.arange(self.pre.numel(), device=self.pre.device)
        rows_pre = torch.nonzero((pre.detach() != 0).any(0)).flatten()
        rows_post = torch.nonzero((post.detach() != 0).any(0)).flatten()
        from_pre = _members(self.indptr_pre, rows_pre)[1]
        from_post = self.by_post[_members(self.indptr_post, rows_post)[1]]
        # the union without sorting: drop from ``from_post`` the synapses already in ``from_pre``
        # (both neurons spiked), marked in a scratch mask that is cleared again
        self.mark[from_pre] = True
        from_post = from_post[~self.mark[from_post]]
        self.mark[from_pre] = False
        return torch.cat([from_pre, from_post])
