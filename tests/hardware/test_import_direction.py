"""Imports run one way: no circle among the ``spikeforge.hardware`` modules, and no circle in the
whole package beyond the ones listed in ``KNOWN_CIRCLES`` (to be shrunk, never grown).

The import graph is read from the source with ``ast``: every ``import`` and ``from ... import``
anywhere in a module, including those inside functions (lazy imports close circles too, they
only hide them from the interpreter at import time). ``from .x import y`` counts as an edge to the
submodule ``x.y`` when that is a module, else to ``x`` (its ``__init__`` for a package).
"""

from __future__ import annotations

import ast
from pathlib import Path

import spikeforge

ROOT = Path(spikeforge.__file__).parent

#: circles the package has today (strongly connected modules): none since the circuits engines were
#: split from the network's description; a new circle fails
KNOWN_CIRCLES: tuple[frozenset[str], ...] = ()


def modules(root: Path, package: str) -> dict[str, tuple[Path, bool]]:
    """``{dotted name: (file, is a package __init__)}`` for every ``.py`` file under ``root``."""
    out = {}
    for f in sorted(root.rglob("*.py")):
        parts = [package, *f.relative_to(root).with_suffix("").parts]
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (f, is_pkg)
    return out


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """``{module: modules of the package it imports}``, from every import statement in it."""
    mods = modules(root, package)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, (path, is_pkg) in mods.items():
        here = name.split(".") if is_pkg else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - (node.level - 1)]
                    target = ".".join(base + (node.module.split(".") if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    targets.append(sub if sub in mods else target)
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for t in targets:
                while t and t not in mods:  # `import spikeforge.x.y` -> the deepest module known
                    t = t.rpartition(".")[0]
                if t and t != name:
                    graph[name].add(t)
    return graph


def circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected sets of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(frozenset(comp))
    return found


def test_hardware_modules_import_one_way():
    graph = import_graph(ROOT, "spikeforge")
    hw = {m: {t for t in ts if t.startswith("spikeforge.hardware")} for m, ts in graph.items()}
    hw = {m: ts for m, ts in hw.items() if m.startswith("spikeforge.hardware")}
    assert circles(hw) == []
    # the NIR modules in one direction: nir -> _nir_import -> _nir_graph -> _nir_export -> _nir_common
    for m in ("_nir_common", "_nir_export", "_nir_graph", "_nir_import", "_nir_if"):
        assert "spikeforge.hardware.nir" not in graph[f"spikeforge.hardware.{m}"], m
    assert "spikeforge.hardware._nir_export" in graph["spikeforge.hardware._nir_graph"]


def test_no_import_circle_in_the_package_beyond_the_known_ones():
    found = circles(import_graph(ROOT, "spikeforge"))
    new = [sorted(c) for c in found if not any(c <= k for k in KNOWN_CIRCLES)]
    assert new == [], f"new import circles (move the shared part to its own module): {new}"


def test_circuits_engines_import_the_description_never_the_network():
    """The description never imports an engine module (only ``Network.run`` asks the chooser,
    ``engines.choose``, and names the interface, ``engines.base``, for its ``engine=`` argument),
    and no engine imports the network or the chooser."""
    graph = import_graph(ROOT, "spikeforge")
    pkg = "spikeforge.circuits."
    engines = {m for m in graph if m.startswith(pkg + "engines.")}
    assert {pkg + "engines.base", pkg + "engines.torch", pkg + "engines.compiled"} <= engines
    description = [
        pkg + m for m in ("network", "_populations", "state", "_plastic", "schedule", "pynn_export")
    ]
    chooser = pkg + "engines.choose"
    for m in description:
        allowed = {chooser, pkg + "engines.base"} if m == pkg + "network" else set()
        assert not (graph[m] & engines) - allowed, (m, graph[m] & engines)
    for m in (engines - {chooser}) | {pkg + "_kernel", pkg + "_kernel_plastic"}:
        assert not graph[m] & {pkg + "network", pkg + "engines", chooser, pkg[:-1]}, (m, graph[m])


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")


def test_the_check_finds_a_circle_closed_by_an_import_inside_a_function(tmp_path):
    _write(
        tmp_path,
        {
            "__init__.py": "",
            "sub/__init__.py": "",
            "sub/a.py": "def f():\n    from .b import y\n    return y\n",
            "sub/b.py": "from ..c import z\ny = 1\n",
            "c.py": "import pkg.sub.a\nz = 0\n",
            "d.py": "from .sub import a\nfrom . import c\n",
        },
    )
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.sub.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.c"}
    assert graph["pkg.c"] == {"pkg.sub.a"}
    assert graph["pkg.d"] == {"pkg.sub.a", "pkg.c"}
    assert circles(graph) == [frozenset({"pkg.sub.a", "pkg.sub.b", "pkg.c"})]
    _write(tmp_path, {"sub/a.py": "y = 1\n"})  # the lazy import removed: one way
    assert circles(import_graph(tmp_path, "pkg")) == []
