"""Groups of neurons: ``Population``, ``PopulationView`` (some of a population's neurons) and
``Assembly`` (populations taken together)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ParameterError, UnsupportedExportError
from .cells import _CellType
from .currents import DCSource, StepCurrentSource
from .recording import merge_blocks, neo_block, select_neurons, write_block
from .sources import SpikeSourceArray, SpikeSourceInhGamma, SpikeSourcePoisson
from .space import Line, _Structure
from .state import current

__all__ = ["Population", "PopulationView", "Assembly"]


class Population:
    """``size`` neurons of a cell type (PyNN's ``Population``)."""

    def __init__(
        self,
        size: int,
        cellclass: Any,
        cellparams: dict[str, Any] | None = None,
        structure: Any = None,
        initial_values: dict[str, Any] | None = None,
        label: str | None = None,
    ) -> None:
        st = current()
        if st.net is not None:
            raise ParameterError(
                "spikeforge.pynn builds the network at the first run: create populations before"
            )
        self.size = int(size)
        self.celltype = cellclass(**(cellparams or {})) if isinstance(cellclass, type) else cellclass
        if not isinstance(self.celltype, _CellType):
            raise UnsupportedExportError(f"cell type {cellclass!r} is not supported by spikeforge.pynn")
        self.label = label or f"population{len(st.populations)}"
        self.initial = {**self.celltype.default_initial_values, **(initial_values or {})}
        self.structure = structure or Line()
        if isinstance(self.structure, _Structure):
            self._positions = self.structure.positions(self.size)
        elif callable(getattr(self.structure, "generate_positions", None)):  # PyNN's pyNN.space classes
            self._positions = np.asarray(self.structure.generate_positions(self.size), dtype=np.float64)
        else:
            raise UnsupportedExportError(
                f"structure {type(self.structure).__name__} is not supported by spikeforge.pynn (Line, "
                "Grid2D, Grid3D, of spikeforge.pynn or of pyNN.space, are)"
            )
        self.recorded: set[str] = set()
        self.sources: list[tuple[DCSource | StepCurrentSource, np.ndarray | None]] = []
        self._monitors: dict[str, Any] = {}
        self.annotations: dict[str, Any] = {}
        st.populations.append(self)

    def __len__(self) -> int:
        return self.size

    def initialize(self, **values: Any) -> None:
        self.initial.update(values)

    @property
    def positions(self) -> np.ndarray:
        """``[3, size]`` positions (x, y, z) of the neurons: the structure's, or as set."""
        return self._positions.copy()

    @positions.setter
    def positions(self, value: Any) -> None:
        pos = np.asarray(value, dtype=np.float64)
        if pos.shape != (3, self.size) or not np.isfinite(pos).all():
            raise ParameterError(
                f"population {self.label!r}: positions must be a finite [3, {self.size}] array, got shape "
                f"{list(pos.shape)}"
            )
        self._positions = pos.copy()

    def __getitem__(self, selector: Any) -> PopulationView:
        if isinstance(selector, (int, np.integer)):
            raise UnsupportedExportError(
                f"population {self.label!r}[{selector}]: single cells (PyNN's ID objects) are not "
                "supported by spikeforge.pynn; take a view, population[k:k+1]"
            )
        return PopulationView(self, selector)

    def inject(
        self, current_source: DCSource | StepCurrentSource, _indices: np.ndarray | None = None
    ) -> None:
        """Inject a current source (``DCSource``, ``StepCurrentSource``) into every neuron of this
        population."""
        if current().net is not None:
            raise ParameterError("spikeforge.pynn builds the network at the first run: inject before")
        if not isinstance(current_source, (DCSource, StepCurrentSource)):
            raise UnsupportedExportError(
                f"current source {type(current_source).__name__} is not supported by spikeforge.pynn "
                "(DCSource and StepCurrentSource are)"
            )
        if isinstance(self.celltype, (SpikeSourcePoisson, SpikeSourceArray, SpikeSourceInhGamma)):
            raise UnsupportedExportError(
                f"population {self.label!r}: a current cannot be injected into a spike source "
                f"({type(self.celltype).__name__})"
            )
        self.sources.append((current_source, _indices))

    def record(self, variables: Any) -> None:
        names = [variables] if isinstance(variables, str) else list(variables)
        for v in names:
            if v not in ("spikes", "v"):
                raise UnsupportedExportError(f"spikeforge.pynn records 'spikes' and 'v', got {v!r}")
        self.recorded.update(names)

    def spike_times(self) -> list[np.ndarray]:
        """Spike times (ms, PyNN's stamps) of each neuron."""
        mon = self._monitors.get("spikes")
        if mon is None:
            raise ParameterError(f"population {self.label!r}: call record('spikes') before run")
        t, i = np.asarray(mon.t) + current().dt, np.asarray(mon.i)
        return [np.sort(t[i == k]) for k in range(self.size)]

    def get_data(self, variables: Any = "all", clear: bool = False) -> Any:
        """The recorded data as a Neo ``Block`` (one segment), as PyNN returns it."""
        st = current()
        spikes = self.spike_times() if "spikes" in self._monitors else None
        v = np.asarray(self._monitors["v"].values) if "v" in self._monitors else None  # [T, n]
        return neo_block(self.label, spikes, v, st.t, st.dt)

    def write_data(
        self,
        io: Any,
        variables: Any = "all",
        gather: bool = True,
        clear: bool = False,
        annotations: dict[str, Any] | None = None,
    ) -> None:
        """Write :meth:`get_data` with Neo: ``io`` a file name (its extension picks Neo's IO,
        ``.pkl`` for pickle) or a Neo IO object."""
        block = self.get_data(variables)
        block.annotations.update(annotations or {})
        write_block(io, block)

    def annotate(self, **annotations: Any) -> None:
        """Annotations written with the data (PyNN's)."""
        self.annotations.update(annotations)

    def __add__(self, other: Population | Assembly) -> Assembly:
        return Assembly(self, other)


class Assembly:
    """Populations taken together (PyNN's ``Assembly``; also ``pop1 + pop2``).

    Neuron ``k`` of the assembly is neuron ``k - offset`` of the population it falls in (in the
    order given). It can be recorded, injected into and be the source or target of a
    ``Projection`` (the connector draws over the whole assembly, split into one projection per
    pair of populations); ``get_data`` merges the populations' blocks, as PyNN does.
    """

    def __init__(self, *populations: Population | Assembly, label: str | None = None) -> None:
        flat: list[Population] = []
        for p in populations:
            if isinstance(p, Assembly):
                flat.extend(p.populations)
            elif isinstance(p, Population):
                flat.append(p)
            else:
                raise ParameterError(
                    f"Assembly takes spikeforge.pynn populations or assemblies, got {type(p).__name__}"
                )
        if len(set(map(id, flat))) != len(flat):
            raise ParameterError("Assembly: a population appears twice")
        self.populations: list[Population] = flat
        self.label = label or "+".join(p.label for p in flat)

    @property
    def size(self) -> int:
        return sum(p.size for p in self.populations)

    def __len__(self) -> int:
        return self.size

    def __add__(self, other: Population | Assembly) -> Assembly:
        return Assembly(self, other)

    def record(self, variables: Any) -> None:
        for p in self.populations:
            p.record(variables)

    @property
    def positions(self) -> np.ndarray:
        """``[3, size]`` positions of the populations' neurons, in order."""
        return np.concatenate([p.positions for p in self.populations], axis=1)

    def inject(self, current_source: DCSource | StepCurrentSource) -> None:
        for p in self.populations:
            p.inject(current_source)

    def write_data(
        self,
        io: Any,
        variables: Any = "all",
        gather: bool = True,
        clear: bool = False,
        annotations: dict[str, Any] | None = None,
    ) -> None:
        """Write :meth:`get_data` with Neo (as :meth:`Population.write_data`)."""
        block = self.get_data(variables)
        block.annotations.update(annotations or {})
        write_block(io, block)

    def get_data(self, variables: Any = "all", clear: bool = False) -> Any:
        """The populations' recorded data merged into one Neo ``Block``."""
        return merge_blocks(self.label, [p.get_data(variables) for p in self.populations])


def population_parts(
    cells: Population | Assembly | PopulationView,
) -> list[tuple[Population, int, np.ndarray]]:
    """(population, offset of the part's first neuron in ``cells``, the part's neurons in the
    population) of a population, a view or an assembly."""
    if isinstance(cells, Population):
        return [(cells, 0, np.arange(cells.size))]
    if isinstance(cells, PopulationView):
        return [(cells.parent, 0, cells.indices)]
    out, offset = [], 0
    for p in cells.populations:
        out.append((p, offset, np.arange(p.size)))
        offset += p.size
    return out


class PopulationView:
    """Some neurons of a population (PyNN's ``PopulationView``: ``pop[2:5]``, ``pop[[0, 3]]``,
    ``pop[mask]``), in the order given: a source or target of a ``Projection`` (its indices are
    the view's), injected into (only its neurons get the current), recorded (the population
    records, ``get_data`` of the view returns its neurons), initialized."""

    def __init__(self, parent: Population, selector: Any, label: str | None = None) -> None:
        idx = np.arange(parent.size)[selector]
        idx = np.atleast_1d(idx).astype(np.int64)
        if len(set(idx.tolist())) != len(idx):
            raise ParameterError(f"PopulationView of {parent.label!r}: a neuron appears twice")
        self.parent, self.indices = parent, idx
        self.size = len(idx)
        self.celltype = parent.celltype
        self.label = label or f"view of {parent.label} with indices {idx.tolist()}"

    def __len__(self) -> int:
        return self.size

    @property
    def positions(self) -> np.ndarray:
        """``[3, size]`` positions of the view's neurons."""
        return self.parent.positions[:, self.indices]

    def record(self, variables: Any) -> None:
        self.parent.record(variables)

    def initialize(self, **values: Any) -> None:
        for key, value in values.items():
            old = np.broadcast_to(
                np.asarray(self.parent.initial.get(key, 0.0), dtype=np.float64), (self.parent.size,)
            ).copy()
            old[self.indices] = value
            self.parent.initial[key] = old

    def inject(self, current_source: DCSource | StepCurrentSource) -> None:
        self.parent.inject(current_source, _indices=self.indices)

    def get_data(self, variables: Any = "all", clear: bool = False) -> Any:
        """The view's neurons of :meth:`Population.get_data`."""
        return select_neurons(self.parent.get_data(variables), self.indices, self.label)
