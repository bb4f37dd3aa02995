"""A griffe extension that turns the reST constructs of spikeforge's Google-style docstrings into
the Markdown that mkdocstrings renders (the package's own files are not changed):

- ``.. math::`` blocks -> ``$$ ... $$`` (lines with ``&`` or ``\\\\`` in an ``aligned``
  environment, as Sphinx does) and ``:math:`x``` -> ``$x$`` (MathJax, via arithmatex);
- ``:func:``, ``:class:``, ``:meth:``, ``:mod:``, ``:attr:``, ``:data:``, ``:exc:`` roles -> an
  autorefs cross-reference when the target is a public object of the package (resolved like
  Sphinx: absolute, then relative to the object's class and module, then the package), else a code
  span (private helpers, torch, numpy);
- reST simple tables (``====  ====``) -> Markdown tables;
- doctest blocks (``>>>`` lines and their output) -> fenced ``pycon`` code blocks (griffe parses
  only an ``Examples:`` section as code; the package writes ``Example:``);
- grouped entries of an ``Args:`` section (``w_min, w_max: bounds``, which Google style does not
  define) -> one entry per name, each with the shared description.

Loaded by ``mkdocs.yml`` (``handlers.python.options.extensions``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(func|class|meth|mod|attr|data|exc|obj):`(~?)([^`<]+?)(?:\s*<([^>]+)>)?`")
MATH_ROLE = re.compile(r":math:`([^`]+)`")
MATH_DIRECTIVE = re.compile(r"^(\s*)\.\. math::\s*(.*)$")
ARGS_HEADER = re.compile(
    r"^\s*(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Other Parameters):\s*$"
)
GROUPED = re.compile(r"^([A-Za-z_*]\w*(?:\s*,\s*\**[A-Za-z_]\w*)+)\s*:(.*)$")
TABLE_RULE = re.compile(r"^(\s*)(=+)((\s+=+)+)\s*$")


def _public(path: str) -> bool:
    return not any(part.startswith("_") for part in path.split(".")[1:])


def _cells(line: str, starts: list[int]) -> list[str]:
    """The cells of a simple-table row, cut at the columns of the rule; where text runs across a
    column boundary (which docutils would reject), the cut moves to the next run of two spaces."""
    padded = line.ljust(starts[-1] + 1)
    cuts = [0]
    for b in starts[1:]:
        b = max(b, cuts[-1])
        if padded[b - 1] != " ":
            m = re.compile(r" {2,}").search(padded, b)
            b = m.end() if m else len(padded)
        cuts.append(b)
    return [padded[a:b].strip() for a, b in zip(cuts, [*cuts[1:], None])]


def _pipes(cell: str) -> str:
    """Escape the pipes of a table cell: ``\\vert`` inside math (``\\|`` is a norm in TeX)."""
    parts = re.split(r"(:math:`[^`]*`)", cell)
    return "".join(
        p.replace("|", "\\vert ") if p.startswith(":math:") else p.replace("|", "\\|") for p in parts
    )


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring of the package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self.pkg = pkg
        self._walk(pkg)

    # -- traversal --------------------------------------------------------------------------
    def _walk(self, obj: griffe.Object) -> None:
        if obj.docstring is not None:
            obj.docstring.value = self.convert(obj.docstring.value, obj)
        for member in obj.members.values():
            if member.is_alias:
                continue
            self._walk(member)  # type: ignore[arg-type]

    # -- resolution -------------------------------------------------------------------------
    def _lookup(self, path: str) -> griffe.Object | griffe.Alias | None:
        root = self.pkg.name
        if path != root and not path.startswith(root + "."):
            return None
        try:
            found = self.pkg if path == root else self.pkg[path[len(root) + 1 :]]
        except Exception:
            return None
        return found

    def _resolve(self, target: str, obj: griffe.Object) -> str | None:
        target = target.lstrip(".")
        candidates = [target]
        scope: griffe.Object | None = obj
        while scope is not None:
            candidates.append(f"{scope.path}.{target}")
            scope = scope.parent
        for path in candidates:
            found = self._lookup(path)
            if found is None:
                continue
            if _public(path):
                return path
            try:
                canonical = found.final_target.path if found.is_alias else found.path  # type: ignore[union-attr]
            except Exception:
                continue
            if _public(canonical):
                return canonical
        return None

    # -- conversion -------------------------------------------------------------------------
    def convert(self, text: str, obj: griffe.Object) -> str:
        text = self._grouped_args(text)
        text = self._doctests(text)
        text = self._math_blocks(text)
        text = self._tables(text)
        text = MATH_ROLE.sub(lambda m: f"${m.group(1)}$", text)

        def role(m: re.Match[str]) -> str:
            kind, tilde, title, explicit = m.groups()
            target = (explicit or title).strip()
            if explicit is None:
                shown = target.split(".")[-1] if tilde else target
            else:
                shown = title.strip()
            if kind in ("func", "meth") and not shown.endswith(")"):
                shown += "()"
            path = self._resolve(target.rstrip("()"), obj)
            return f"[`{shown}`][{path}]" if path else f"`{shown}`"

        return ROLE.sub(role, text)

    @staticmethod
    def _math_blocks(text: str) -> str:
        lines = text.split("\n")
        out: list[str] = []
        i = 0
        while i < len(lines):
            m = MATH_DIRECTIVE.match(lines[i])
            if not m:
                out.append(lines[i])
                i += 1
                continue
            indent, inline = m.group(1), m.group(2).strip()
            body: list[str] = [inline] if inline else []
            i += 1
            while i < len(lines) and (
                not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)
            ):
                body.append(lines[i].strip())
                i += 1
            while body and not body[-1]:
                body.pop()
            # blank lines inside the block separate equations: keep them as one display
            eqs = [b for b in body if b]
            joined = "\n".join(eqs)
            if ("&" in joined or "\\\\" in joined) and "\\begin{" not in joined:
                # Sphinx aligns a block of several lines (split); MathJax needs the environment
                eqs = ["\\begin{aligned}", *eqs, "\\end{aligned}"]
            out.append(f"{indent}$$")
            out.extend(f"{indent}{e}" for e in eqs)
            out.append(f"{indent}$$")
            out.append("")
        return "\n".join(out)

    @staticmethod
    def _tables(text: str) -> str:
        lines = text.split("\n")
        out: list[str] = []
        i = 0
        while i < len(lines):
            m = TABLE_RULE.match(lines[i])
            if not m:
                out.append(lines[i])
                i += 1
                continue
            indent = m.group(1)
            rule = lines[i]
            starts = [s.start() for s in re.finditer(r"=+", rule)]
            j = i + 1
            rows: list[list[str]] = []
            closing = 0
            n_header = 0
            while j < len(lines):
                line = lines[j]
                if TABLE_RULE.match(line):
                    closing += 1
                    j += 1
                    if closing == 1 and j < len(lines) and lines[j].strip():
                        n_header = len(rows)
                        continue  # rule under a header row
                    break
                if not line.strip():
                    j += 1
                    continue
                cells = _cells(line, starts)
                if rows and not cells[0]:  # continuation line
                    rows[-1] = [f"{p} {c}".strip() for p, c in zip(rows[-1], cells)]
                else:
                    rows.append(cells)
                j += 1
            if not rows:
                out.append(rule)
                i += 1
                continue
            ncol = len(starts)
            out.append("")
            header = rows[0] if n_header else [""] * ncol  # a table without header: an empty one
            out.append(indent + "| " + " | ".join(_pipes(c) for c in header) + " |")
            out.append(indent + "|" + "---|" * ncol)
            out.extend(
                indent + "| " + " | ".join(_pipes(c) for c in r) + " |" for r in rows[bool(n_header) :]
            )
            out.append("")
            i = j
        return "\n".join(out)

    @staticmethod
    def _doctests(text: str) -> str:
        lines = text.split("\n")
        out: list[str] = []
        i = 0
        while i < len(lines):
            stripped = lines[i].lstrip()
            if not stripped.startswith(">>>"):
                out.append(lines[i])
                i += 1
                continue
            indent = lines[i][: len(lines[i]) - len(stripped)]
            out.append(f"{indent}```pycon")
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            out.append(f"{indent}```")
        return "\n".join(out)

    @staticmethod
    def _grouped_args(text: str) -> str:
        lines = text.split("\n")
        out: list[str] = []
        section_indent: int | None = None
        entry_indent: int | None = None
        i = 0
        while i < len(lines):
            line = lines[i]
            indent = len(line) - len(line.lstrip())
            if ARGS_HEADER.match(line):
                section_indent, entry_indent = indent, None
                out.append(line)
                i += 1
                continue
            if section_indent is not None and line.strip() and indent <= section_indent:
                section_indent = None
            if section_indent is None or not line.strip():
                out.append(line)
                i += 1
                continue
            if entry_indent is None:
                entry_indent = indent
            if indent != entry_indent:
                out.append(line)
                i += 1
                continue
            header = line.strip()
            # a list of names continued on the next line: "a, b, c,\n    d: description"
            while ":" not in header and header.endswith(",") and i + 1 < len(lines):
                i += 1
                header += " " + lines[i].strip()
            m = GROUPED.match(header)
            if not m:
                out.append(line if header == line.strip() else " " * indent + header)
                i += 1
                continue
            names = [n.strip() for n in m.group(1).split(",") if n.strip()]
            desc = m.group(2)
            i += 1
            cont: list[str] = []
            while i < len(lines) and (
                not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
            ):
                if not lines[i].strip() and (
                    i + 1 >= len(lines) or len(lines[i + 1]) - len(lines[i + 1].lstrip()) <= indent
                ):
                    break
                cont.append(lines[i])
                i += 1
            for name in names:
                out.append(" " * indent + f"{name}:{desc}")
                out.extend(cont)
        return "\n".join(out)
