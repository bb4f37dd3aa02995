"""PyNN's ``Projection``: the synapses from one group of neurons to another, made by a connector."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ParameterError, UnsupportedExportError
from .populations import Assembly, Population, PopulationView
from .space import Space
from .state import current
from .synapses import StaticSynapse

__all__ = ["Projection"]


class Projection:
    """Synapses from ``pre`` to ``post`` made by ``connector`` (PyNN's ``Projection``)."""

    def __init__(
        self,
        presynaptic_population: Population | Assembly,
        postsynaptic_population: Population | Assembly,
        connector: Any,
        synapse_type: StaticSynapse | None = None,
        source: str | None = None,
        receptor_type: str | None = None,
        space: Space | None = None,
        label: str | None = None,
    ) -> None:
        st = current()
        if source is not None:
            raise UnsupportedExportError(
                f"Projection: source={source!r} (multicompartment cells) is not supported"
            )
        self.space = Space._of(space)
        if st.net is not None:
            raise ParameterError(
                "spikeforge.pynn builds the network at the first run: create projections before"
            )
        if synapse_type is not None and not isinstance(synapse_type, StaticSynapse):
            raise UnsupportedExportError(
                f"synapse type {type(synapse_type).__name__} is not supported by spikeforge.pynn "
                "(StaticSynapse is)"
            )
        for role, cells in (
            ("presynaptic", presynaptic_population),
            ("postsynaptic", postsynaptic_population),
        ):
            if not isinstance(cells, (Population, Assembly, PopulationView)):
                raise ParameterError(
                    f"Projection: the {role} population must be a Population, a PopulationView or an "
                    f"Assembly, got {type(cells).__name__}"
                )
        self.pre, self.post, self.connector = presynaptic_population, postsynaptic_population, connector
        self.synapse = synapse_type or StaticSynapse()
        self.receptor_type = receptor_type or "excitatory"
        if self.receptor_type not in ("excitatory", "inhibitory"):
            raise UnsupportedExportError(
                f"receptor_type must be 'excitatory' or 'inhibitory', got {receptor_type!r}"
            )
        self.label = label or f"{self.pre.label}->{self.post.label}#{len(st.projections)}"
        # (spikeforge projection, pre offset, post offset, pre neurons, post neurons in their populations)
        self._parts: list[tuple[str, int, int, np.ndarray, np.ndarray]] = []
        self._set: dict[str, Any] = {}  # Projection.set before the first run
        st.projections.append(self)

    def set(self, **attributes: Any) -> None:
        """Set ``weight`` and/or ``delay`` (ms) of all synapses before the first ``run``: a number,
        or an ``[n_pre, n_post]`` array read at each synapse's (pre, post) (PyNN's ``set``).

        Example:
            >>> import numpy as np, spikeforge.pynn as sim
            >>> _ = sim.setup(timestep=0.1)
            >>> src = sim.Population(2, sim.SpikeSourceArray(spike_times=[1.0]))
            >>> cell = sim.Population(1, sim.IF_curr_exp())
            >>> prj = sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(0.5, 1.0))
            >>> prj.set(weight=np.array([[0.25], [0.75]]), delay=2.0)
            >>> _ = sim.run(0.0)
            >>> prj.get(["weight", "delay"], format="list")
            [(0, 0, 0.25, 2.0), (1, 0, 0.75, 2.0)]
            >>> sim.end()
        """
        if current().net is not None:
            raise UnsupportedExportError(
                f"projection {self.label!r}: spikeforge.pynn sets weights and delays before the first run "
                "(the network is built then)"
            )
        for key, value in attributes.items():
            if key not in ("weight", "delay"):
                raise UnsupportedExportError(
                    f"Projection.set: attribute {key!r} is not supported by spikeforge.pynn ('weight' and "
                    "'delay' are)"
                )
            v = np.asarray(value, dtype=np.float64) if not isinstance(value, (int, float)) else float(value)
            if isinstance(v, np.ndarray) and v.shape != (self.pre.size, self.post.size):
                raise ParameterError(
                    f"Projection.set: {key} must be a number or an [n_pre, n_post] = "
                    f"[{self.pre.size}, {self.post.size}] array, got shape {list(v.shape)}"
                )
            if not bool(np.isfinite(v).all()):
                raise ParameterError(f"Projection.set: {key} must be finite")
            self._set[key] = v

    def describe(self, template: Any = None, engine: Any = None) -> str:
        """A short text: label, source and target, connector, synapse type and receptor (PyNN's
        ``describe``, no templates).

        Example:
            >>> import spikeforge.pynn as sim
            >>> _ = sim.setup(timestep=0.1)
            >>> a = sim.Population(2, sim.SpikeSourcePoisson(rate=5.0), label="a")
            >>> b = sim.Population(3, sim.IF_curr_exp(), label="b")
            >>> print(sim.Projection(a, b, sim.AllToAllConnector(), label="f").describe())
            Projection 'f' from 'a' (2 cells) to 'b' (3 cells), AllToAllConnector, StaticSynapse, excitatory
            >>> sim.end()
        """
        return (
            f"Projection {self.label!r} from {self.pre.label!r} ({self.pre.size} cells) to "
            f"{self.post.label!r} ({self.post.size} cells), {type(self.connector).__name__}, "
            f"{type(self.synapse).__name__}, {self.receptor_type}"
        )

    def __len__(self) -> int:
        net = current().net
        if net is None:
            return 0
        subs: list[Any] = [net.projections[part[0]] for part in self._parts]
        return sum(int(sub.weights().numel()) for sub in subs)

    def get(
        self,
        attribute_names: str | list[str],
        format: str = "list",  # noqa: A002 - PyNN's name
        gather: bool = True,
        with_address: bool = True,
        multiple_synapses: str = "sum",
    ) -> Any:
        """The synapses' ``"weight"`` (learned ones after ``run``) or ``"delay"`` (ms), as PyNN returns.

        ``format="list"``: ``(i, j, value)`` tuples (``(value,)`` without the address) in the
        connector's order (for an assembly: pair of populations after pair); ``"array"``: an
        ``[n_pre, n_post]`` array, ``nan`` where no synapse, several synapses of one pair combined by
        ``multiple_synapses`` (``"sum"``, ``"min"``, ``"max"``, ``"first"``, ``"last"``). A list of
        names gives one value (list) or a list of arrays (array) per name. Before the first ``run``
        it builds the network (as ``run(0)`` would, drawing the synapses): populations,
        projections and currents must be created before, recording can still be asked for.

        Example:
            >>> import spikeforge.pynn as sim
            >>> _ = sim.setup(timestep=0.1)
            >>> src = sim.Population(2, sim.SpikeSourceArray(spike_times=[1.0]))
            >>> cell = sim.Population(1, sim.IF_curr_exp())
            >>> prj = sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(0.5, 1.0))
            >>> prj.get("weight", format="list")
            [(0, 0, 0.5), (1, 0, 0.5)]
            >>> prj.get("delay", format="array").shape
            (2, 1)
            >>> sim.end()
        """
        names = [attribute_names] if isinstance(attribute_names, str) else list(attribute_names)
        for a in names:
            if a not in ("weight", "delay"):
                raise UnsupportedExportError(
                    f"Projection.get: attribute {a!r} is not supported by spikeforge.pynn ('weight' and "
                    "'delay' are)"
                )
        if format not in ("list", "array"):
            raise ParameterError(f"Projection.get: format must be 'list' or 'array', got {format!r}")
        combine = {"sum": np.add, "min": np.fmin, "max": np.fmax}
        if multiple_synapses not in (*combine, "first", "last"):
            raise ParameterError(
                "Projection.get: multiple_synapses must be 'sum', 'min', 'max', 'first' or 'last', got "
                f"{multiple_synapses!r}"
            )
        st = current()
        if st.net is None:  # the synapses are drawn when the network is built: build it now
            from .build import build_network  # build imports this module

            st.net = build_network(st)
        net = st.net
        pre, post = [], []
        values: dict[str, list[np.ndarray]] = {a: [] for a in names}
        for name, oa, ob, map_a, map_b in self._parts:
            sub: Any = net.projections[name]
            inv_a = np.full(int(map_a.max(initial=-1)) + 1, -1)
            inv_a[map_a] = np.arange(len(map_a))
            inv_b = np.full(int(map_b.max(initial=-1)) + 1, -1)
            inv_b[map_b] = np.arange(len(map_b))
            pre.append(inv_a[sub.pre_indices.cpu().numpy()] + oa)
            post.append(inv_b[sub.post_indices.cpu().numpy()] + ob)
            for a in names:
                v = sub.weights() if a == "weight" else sub.delays()
                values[a].append(v.detach().cpu().numpy().astype(np.float64))
        i = np.concatenate(pre or [np.empty(0, np.int64)]).astype(np.int64)
        j = np.concatenate(post or [np.empty(0, np.int64)]).astype(np.int64)
        cols = [np.concatenate(values[a] or [np.empty(0)]) for a in names]
        if format == "list":
            head = [i.tolist(), j.tolist()] if with_address else []
            rows = list(zip(*head, *(c.tolist() for c in cols)))
            if not with_address and isinstance(attribute_names, str):
                return [row[0] for row in rows]  # PyNN: plain values for one name without address
            return rows
        arrays = []
        for c in cols:
            out = np.full((self.pre.size, self.post.size), np.nan)
            for k in range(len(i)) if multiple_synapses != "last" else reversed(range(len(i))):
                old = out[i[k], j[k]]
                if np.isnan(old):
                    out[i[k], j[k]] = c[k]
                elif multiple_synapses in combine:
                    out[i[k], j[k]] = combine[multiple_synapses](old, c[k])
            arrays.append(out)
        return arrays[0] if isinstance(attribute_names, str) else arrays
