"""``run``: advance a PyNN script's simulation, building its network at the first call."""

from __future__ import annotations

from typing import Any

from .build import build_network
from .state import current

__all__ = ["run"]


def run(simtime: float, callbacks: Any = None) -> float:
    """Advance by ``simtime`` ms (building the network at the first call); returns the time.

    ``callbacks``: functions of the time ``t`` (ms) that return the next time they want to be
    called (PyNN's): each is called at the start and then at the times it asks for (the run
    stops there, calls it, and goes on), e.g. to read weights during a run.
    """
    st = current()
    if st.net is None:
        st.net = build_network(st)
    end_t = st.t + float(simtime)
    events = [(float(cb(st.t)), k) for k, cb in enumerate(callbacks or [])]
    while events and st.t + 1e-9 < end_t:
        events.sort()
        nxt = min(events[0][0], end_t)
        due = [k for when, k in events if when < nxt + 0.5 * st.dt]
        if nxt > st.t + 1e-9:
            st.net.run(nxt - st.t, progress=False)
            st.t = float(st.net.t)
        events = [e for e in events if e[1] not in due] + [(float(callbacks[k](st.t)), k) for k in due]
    if end_t > st.t + 1e-9:
        st.net.run(end_t - st.t, progress=False)
    st.t = float(st.net.t)
    return st.t
