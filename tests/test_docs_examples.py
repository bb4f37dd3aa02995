"""Every example of the documentation site (``docs/**/*.md``) runs and prints what it shows.

Per page, in one namespace and in page order (a page builds on its earlier blocks), in a temporary
working folder: fenced ``pycon`` blocks (``>>>`` lines and their output) run as doctests, fenced
``python`` blocks run as scripts. Other fences are not run: ``bash``, ``text``, and ``py`` for a
sketch with elided parts (shown with Python highlighting). So an example that
drifts from the code fails here, in ``make test``, before the site is built.
"""

from __future__ import annotations

import doctest
import os
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if not p.name.startswith("_"))
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S
)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _blocks(page: Path) -> list[tuple[str, str, int]]:
    text = page.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        if m.group("lang") in ("python", "pycon"):
            indent = m.group("indent")
            body = "\n".join(line[len(indent) :] for line in m.group("body").splitlines())
            out.append((m.group("lang"), body + "\n", text[: m.start()].count("\n") + 2))
    return out


PAGES_WITH_CODE = [p for p in PAGES if _blocks(p)]


def test_the_docs_have_examples() -> None:
    assert len(PAGES_WITH_CODE) >= 10, PAGES_WITH_CODE


def run_page(page: Path, workdir: Path) -> None:
    """Run the examples of ``page`` in order, in one namespace, with ``workdir`` as the working
    folder (figures an example saves land there)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cwd = os.getcwd()
    os.chdir(workdir)
    globs: dict[str, object] = {"__name__": "__docs__"}
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    try:
        for lang, body, line in _blocks(page):
            where = f"{page.relative_to(DOCS)}:{line}"
            if lang == "python":
                exec(compile(body, where, "exec"), globs)  # noqa: S102
            else:
                test = parser.get_doctest(body, globs, where, str(page), line)
                test.globs = globs  # get_doctest copies the namespace; the page shares one
                result = runner.run(test, clear_globs=False)
                assert result.failed == 0, f"{where}: {result.failed} of {result.attempted} examples failed"
    finally:
        os.chdir(cwd)
        plt.close("all")


# pages whose examples train or simulate for longer than a few seconds
SLOW_PAGES = {"getting-started/first-network.md", "getting-started/first-circuit.md", "guide/analyses.md"}


def _param(page: Path) -> object:
    rel = page.relative_to(DOCS).as_posix()
    return pytest.param(page, id=rel, marks=[pytest.mark.slow] if rel in SLOW_PAGES else [])


@pytest.mark.parametrize("page", [_param(p) for p in PAGES_WITH_CODE])
def test_page_examples_run(page: Path, tmp_path: Path) -> None:
    run_page(page, tmp_path)
    # the figures the page shows are committed next to it; its examples make the same files
    for made in tmp_path.glob("*.png"):
        assert (page.parent / made.name).exists(), f"{page.name} makes {made.name}, which is not in docs/"


if __name__ == "__main__":
    # regenerate the committed figures of the pages given:
    #   .venv/bin/python tests/test_docs_examples.py docs/getting-started/first-circuit.md
    import sys

    for arg in sys.argv[1:]:
        page = Path(arg).resolve()
        run_page(page, page.parent)
        print(f"ran {page.relative_to(DOCS)}")
