"""Groups of neurons: ``Population``, ``PopulationView`` (some of a population's neurons) and
``Assembly`` (populations taken together)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..circuits.inputs import PoissonGroup, SpikeSource
from ..errors import ParameterError, UnsupportedExportError
from .cells import _CellType
from .currents import ACSource, DCSource, NoisyCurrentSource, StepCurrentSource
from .parameters import per_neuron, simplified, spike_trains
from .recording import merge_blocks, neo_block, select_neurons, write_block
from .sources import (
    SpikeSourceArray,
    SpikeSourceGamma,
    SpikeSourceInhGamma,
    SpikeSourcePoisson,
    check_gamma,
    rate_function,
)
from .space import Line, _Structure
from .state import current

CurrentSource = ACSource | DCSource | StepCurrentSource | NoisyCurrentSource
SPIKE_SOURCES = (SpikeSourcePoisson, SpikeSourceGamma, SpikeSourceArray, SpikeSourceInhGamma)

#: the parameters ``set`` changes between runs, by cell type (the others before the first run)
_SET_BETWEEN_RUNS: dict[type, tuple[str, ...]] = {
    SpikeSourcePoisson: ("rate", "start", "duration"),
    SpikeSourceArray: ("spike_times",),
}

__all__ = ["Population", "PopulationView", "Assembly"]


def _drawn(value: Any) -> bool:
    """A value to evaluate per neuron: a function of the index or a random distribution."""
    return callable(value) or (hasattr(value, "next") and not isinstance(value, (list, tuple, np.ndarray)))


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
        self.initial: dict[str, Any] = dict(self.celltype.default_initial_values)
        self.initialize(**(initial_values or {}))
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
        self.parameters: dict[str, Any] = dict(self.celltype.parameters)  # this population's values
        everyone = np.arange(self.size)
        for key, value in self.parameters.items():  # functions of the index, random distributions
            if isinstance(self.celltype.default_parameters[key], float) and _drawn(value):
                self.parameters[key] = per_neuron(f"population {self.label!r}", key, value, everyone)
        # (time, rate/start/duration) of a Poisson source from the build on; its network spike source
        self.rate_history: list[tuple[float, dict[str, np.ndarray]]] = []
        self.network_source: SpikeSource | None = None
        self.network_group: PoissonGroup | None = None  # the network's Poisson group
        self.recorded: set[str] = set()
        self.sources: list[tuple[CurrentSource, np.ndarray | None]] = []
        self._monitors: dict[str, Any] = {}
        self.annotations: dict[str, Any] = {}
        st.populations.append(self)

    def __len__(self) -> int:
        return self.size

    def initialize(self, **values: Any) -> None:
        """Initial values of state variables (``v``; ``u`` of ``Izhikevich``): a number, one per
        neuron, a function of the neuron index or a random distribution."""
        everyone = np.arange(self.size)
        for key, value in values.items():
            drawn = _drawn(value)
            self.initial[key] = (
                per_neuron(f"population {self.label!r}", key, value, everyone) if drawn else value
            )

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

    def set(self, **parameters: Any) -> None:
        """Set parameters of every neuron (PyNN's ``set``): a number, one value per neuron (a list or
        an array), a function of the neuron index, or a random distribution (PyNN's
        ``RandomDistribution``, drawn with its own generator); ``spike_times`` of a
        ``SpikeSourceArray`` one sequence for all or one per neuron.

        Before the first ``run`` any parameter of the cell type; between runs (in a ``run``
        callback, say) the ``rate``, ``start`` and ``duration`` of a ``SpikeSourcePoisson`` (from
        the current time on) and the ``spike_times`` of a ``SpikeSourceArray`` (those not yet
        past); another one then is an :class:`~spikeforge.errors.UnsupportedExportError`.

        Example:
            >>> import spikeforge.pynn as sim
            >>> _ = sim.setup(timestep=0.1)
            >>> cells = sim.Population(3, sim.IF_curr_exp())
            >>> cells.set(tau_m=[10.0, 15.0, 20.0], v_thresh=-55.0)
            >>> cells.get("tau_m"), cells.get("v_thresh")
            (array([10., 15., 20.]), -55.0)
            >>> cells[1:].set(i_offset=lambda i: 0.1 * i + 0.1)  # i: the view's own index
            >>> cells.get(["i_offset"], simplify=False)
            [array([0. , 0.1, 0.2])]
            >>> sim.end()
        """
        self._set_values(parameters, np.arange(self.size))

    def get(self, parameter_names: str | list[str], gather: bool = False, simplify: bool = True) -> Any:
        """Parameter values (PyNN's ``get``): for one name its value, one float where all neurons
        share it (``simplify``) or an array of one per neuron; for a list of names a list of
        those. ``spike_times`` gives one array of times (ms) per neuron (one array if all are
        equal and ``simplify``)."""
        names = [parameter_names] if isinstance(parameter_names, str) else list(parameter_names)
        out = [self._get_value(name, np.arange(self.size), simplify) for name in names]
        return out[0] if isinstance(parameter_names, str) else out

    def _check_names(self, names: Any) -> None:
        defaults = self.celltype.default_parameters
        unknown = sorted(set(names) - set(defaults))
        if unknown:
            raise ParameterError(
                f"population {self.label!r}: {type(self.celltype).__name__} has no parameters {unknown}; "
                f"it takes {sorted(defaults)}"
            )

    def _set_values(self, parameters: dict[str, Any], indices: np.ndarray) -> None:
        """``set`` for the neurons ``indices`` of this population."""
        self._check_names(parameters)
        st, owner, defaults = current(), f"population {self.label!r}", self.celltype.default_parameters
        if st.net is not None:
            between = _SET_BETWEEN_RUNS.get(type(self.celltype), ())
            fixed = sorted(set(parameters) - set(between))
            if fixed:
                raise UnsupportedExportError(
                    f"{owner}: spikeforge.pynn sets {fixed} of {type(self.celltype).__name__} before the "
                    f"first run only (the network is built then); between runs it sets "
                    f"{list(between) or 'none of its parameters'}"
                )
        new = dict(self.parameters)
        local = np.arange(len(indices))  # a function gets the view's own indices (as in PyNN)
        for name, value in parameters.items():
            if name == "spike_times":
                trains = self.source_trains()
                for j, times in zip(indices, spike_trains(owner, value, local)):
                    trains[j] = times
                new[name] = trains
            elif isinstance(defaults[name], float):
                full = np.broadcast_to(np.asarray(new[name], dtype=np.float64), (self.size,)).copy()
                full[indices] = per_neuron(owner, name, value, local)
                new[name] = full
            elif len(indices) == self.size:  # a sequence (SpikeSourceInhGamma's a, b, tbins)
                new[name] = value
            else:
                raise UnsupportedExportError(
                    f"{owner}: {name} of {type(self.celltype).__name__} is one sequence for the whole "
                    "population; spikeforge.pynn does not set it for some neurons"
                )
        if isinstance(self.celltype, SpikeSourceGamma):
            check_gamma(new)
        self.parameters = new
        if st.net is None:
            return
        if self.network_source is not None:  # a SpikeSourceArray: the spikes not yet past
            self.network_source.steps, self.network_source.b, self.network_source.i = self.events_from(
                st.t, st.dt
            )
        elif self.network_group is not None:  # a SpikeSourcePoisson: its rate from now on
            self.rate_history.append((st.t, self.rate_parameters()))
            self.network_group.rate = rate_function(self.rate_history, "rate")

    def _get_value(self, name: str, indices: np.ndarray, simplify: bool) -> Any:
        self._check_names([name])
        if name == "spike_times":
            trains = [self.source_trains()[i] for i in indices]
            same = all(len(t) == len(trains[0]) and bool((t == trains[0]).all()) for t in trains)
            return trains[0] if simplify and trains and same else trains
        value = self.parameters[name]
        if not isinstance(self.celltype.default_parameters[name], float):
            return value
        return simplified(
            np.broadcast_to(np.asarray(value, dtype=np.float64), (self.size,))[indices], simplify
        )

    def rate_parameters(self) -> dict[str, np.ndarray]:
        """``rate`` (Hz), ``start`` and ``duration`` (ms) of a Poisson or gamma source, one per neuron."""
        names = ("rate", "start", "duration") if "rate" in self.parameters else ("beta", "start", "duration")
        return {
            k: np.broadcast_to(np.asarray(self.parameters[k], dtype=np.float64), (self.size,)).copy()
            for k in names
        }

    def source_trains(self) -> list[np.ndarray]:
        """The ``spike_times`` of a ``SpikeSourceArray``, one array (ms, PyNN's stamps) per neuron."""
        trains = self.parameters["spike_times"]
        if callable(trains):  # PyNN: a function of the neuron indices
            trains = trains(np.arange(self.size))
        return spike_trains(f"population {self.label!r}", trains, np.arange(self.size))

    def events_from(self, t: float, dt: float) -> tuple[Any, Any, Any]:
        """(step, copy, neuron) of the ``SpikeSourceArray``'s spikes in steps starting at ``t`` (ms)
        or later, as the network's spike source holds them (a PyNN stamp is spikeforge's plus
        ``dt``)."""
        trains = self.source_trains()
        times = np.concatenate([*trains, np.empty(0)]) - dt
        index = np.concatenate([*(np.full(len(x), k) for k, x in enumerate(trains)), np.empty(0)])
        keep = np.round(times / dt) >= round(t / dt) if t > 0 else np.ones(len(times), bool)  # at the
        # build all, so that a spike before the first step is an error
        events = SpikeSource(self.label, self.size, times[keep], index[keep], None, dt=dt, batch=1)
        return events.steps, events.b, events.i

    def __getitem__(self, selector: Any) -> PopulationView:
        if isinstance(selector, (int, np.integer)):
            raise UnsupportedExportError(
                f"population {self.label!r}[{selector}]: single cells (PyNN's ID objects) are not "
                "supported by spikeforge.pynn; take a view, population[k:k+1]"
            )
        return PopulationView(self, selector)

    def inject(self, current_source: CurrentSource, _indices: np.ndarray | None = None) -> None:
        """Inject a current source (``DCSource``, ``ACSource``, ``StepCurrentSource``,
        ``NoisyCurrentSource``) into every
        neuron of this population."""
        if current().net is not None:
            raise ParameterError("spikeforge.pynn builds the network at the first run: inject before")
        if not isinstance(current_source, (ACSource, DCSource, StepCurrentSource, NoisyCurrentSource)):
            raise UnsupportedExportError(
                f"current source {type(current_source).__name__} is not supported by spikeforge.pynn "
                "(DCSource, ACSource, StepCurrentSource and NoisyCurrentSource are)"
            )
        if isinstance(self.celltype, SPIKE_SOURCES):
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
            if v == "v" and isinstance(self.celltype, SPIKE_SOURCES):
                raise UnsupportedExportError(
                    f"population {self.label!r}: a spike source ({type(self.celltype).__name__}) records "
                    "'spikes' only (as in PyNN)"
                )
        st = current()
        if st.net is not None:  # built early (Projection.get before the first run): monitor now
            new = [v for v in names if v not in self._monitors]
            if new and st.t > 0:
                raise ParameterError(
                    f"population {self.label!r}: record({new}) after the simulation started at "
                    f"t = {st.t} ms; spikeforge.pynn records from t = 0 (call record before run)"
                )
            for v in new:
                self._monitors[v] = (
                    st.net.record_spikes(self.label)
                    if v == "spikes"
                    else st.net.record_state(self.label, "v")
                )
        self.recorded.update(names)

    def spike_times(self) -> list[np.ndarray]:
        """Spike times (ms, PyNN's stamps) of each neuron."""
        mon = self._monitors.get("spikes")
        if mon is None:
            raise ParameterError(f"population {self.label!r}: call record('spikes') before run")
        dt = current().dt
        # the end of the step (PyNN's stamp), as the float nearest the decimal time: 0.3, not
        # 0.30000000000000004, which pyNN.nest's precise spike generators would fire a step late
        t = np.round((np.round(np.asarray(mon.t, dtype=np.float64) / dt) + 1.0) * dt, 9)
        i = np.asarray(mon.i)
        return [np.sort(t[i == k]) for k in range(self.size)]

    def mean_spike_count(self, gather: bool = True) -> float:
        """The mean number of recorded spikes per neuron (PyNN's)."""
        return float(sum(len(t) for t in self.spike_times()) / self.size)

    def describe(self, template: Any = None, engine: Any = None) -> str:
        """A short text: label, size, cell type and its parameters (PyNN's ``describe``; its
        templates are not used).

        Example:
            >>> import spikeforge.pynn as sim
            >>> _ = sim.setup(timestep=0.1)
            >>> cells = sim.Population(3, sim.IF_curr_delta(tau_m=[10.0, 20.0, 30.0]), label="e")
            >>> cells.record("spikes")
            >>> print(cells.describe())
            Population 'e' of 3 IF_curr_delta cells, recording spikes
              cm = 1.0
              i_offset = 0.0
              tau_m = [10.0, 20.0, 30.0]
              tau_refrac = 0.1
              v_reset = -65.0
              v_rest = -65.0
              v_thresh = -50.0
            >>> sim.end()
        """
        lines = [
            f"Population {self.label!r} of {self.size} {type(self.celltype).__name__} cells, recording "
            + (", ".join(sorted(self.recorded)) or "nothing")
        ]
        for k in sorted(self.parameters):
            value = self.parameters[k]
            try:
                v = np.asarray(value, dtype=np.float64)
                text = v.tolist() if v.ndim and len(np.unique(v)) > 1 else v.reshape(-1)[0].item()
            except (TypeError, ValueError, IndexError):  # e.g. one spike train per neuron
                text = value
            lines.append(f"  {k} = {text}")
        return "\n".join(lines)

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

    def describe(self, template: Any = None, engine: Any = None) -> str:
        """A short text: the assembly's label and each population's ``describe`` (PyNN's, no
        templates)."""
        parts = "\n".join(p.describe() for p in self.populations)
        return f"Assembly {self.label!r} of {self.size} cells:\n{parts}"

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

    def inject(self, current_source: CurrentSource) -> None:
        for p in self.populations:
            p.inject(current_source)

    def set(self, **parameters: Any) -> None:
        """Set parameters of every population (PyNN's ``Assembly.set``: each value as
        :meth:`Population.set` takes it, given to every population)."""
        for p in self.populations:
            p.set(**parameters)

    def get(self, parameter_names: str | list[str], gather: bool = False, simplify: bool = True) -> Any:
        """Parameter values over the assembly's neurons, in order (as :meth:`Population.get`)."""
        names = [parameter_names] if isinstance(parameter_names, str) else list(parameter_names)
        out = []
        for name in names:
            parts = [p._get_value(name, np.arange(p.size), simplify=False) for p in self.populations]
            if name == "spike_times":
                out.append([t for part in parts for t in part])
            else:
                out.append(simplified(np.concatenate([np.atleast_1d(x) for x in parts]), simplify))
        return out[0] if isinstance(parameter_names, str) else out

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

    def describe(self, template: Any = None, engine: Any = None) -> str:
        """A short text: the view's label, size and parent (PyNN's ``describe``, no templates)."""
        return (
            f"PopulationView {self.label!r} of {self.size} {type(self.celltype).__name__} cells of "
            f"population {self.parent.label!r}"
        )

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

    def inject(self, current_source: CurrentSource) -> None:
        self.parent.inject(current_source, _indices=self.indices)

    def set(self, **parameters: Any) -> None:
        """Set parameters of the view's neurons (as :meth:`Population.set`; one value per neuron of
        the view, in its order)."""
        self.parent._set_values(parameters, self.indices)

    def get(self, parameter_names: str | list[str], gather: bool = False, simplify: bool = True) -> Any:
        """Parameter values of the view's neurons (as :meth:`Population.get`)."""
        names = [parameter_names] if isinstance(parameter_names, str) else list(parameter_names)
        out = [self.parent._get_value(name, self.indices, simplify) for name in names]
        return out[0] if isinstance(parameter_names, str) else out

    def get_data(self, variables: Any = "all", clear: bool = False) -> Any:
        """The view's neurons of :meth:`Population.get_data`."""
        return select_neurons(self.parent.get_data(variables), self.indices, self.label)
