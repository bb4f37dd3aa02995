"""MkDocs hooks of the documentation site (``hooks:`` in mkdocs.yml).

- The API reference: one generated page per public module of ``spikeforge`` (every module whose
  dotted path has no part starting with ``_``), listed in the navigation where ``mkdocs.yml`` says
  ``API_REFERENCE``. A new module gets its page without touching the docs.
- MathJax 3 is served from the site itself (``assets/mathjax/``, copied from the
  ``django-static-mathjax`` package of the ``docs`` extra), so pages render math offline.
- The notebooks' own MathJax 2 loader (nbconvert's, from a CDN) is removed from their pages: the
  site's MathJax typesets them.
- After the build, every name in the ``__all__`` of every public module must have its entry (an
  anchor) in the reference: a module's names on its page, a package's re-exports on the page of
  one of its modules. A missing one fails the build.
- ``<!-- include FILE -->`` and ``<!-- include FILE "Heading" -->`` in a page are replaced by a
  file of the repository (its headings one level down), or by one ``## Heading`` section of it, so
  the benchmark tables are those of README.md and benchmarks/README.md, never a copy.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "spikeforge"
API_PLACEHOLDER = "API_REFERENCE"

SUBPACKAGE_TITLES = {
    "neurons": "neurons",
    "surrogate": "surrogate",
    "circuits": "circuits",
    "plasticity": "plasticity",
    "encoders": "encoders",
    "data": "data",
    "training": "training",
    "hardware": "hardware",
    "analysis": "analysis",
}


def public_modules() -> list[str]:
    """Dotted names of the public modules of the package, sorted (packages before their modules)."""
    names = []
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(p.startswith("_") for p in parts[1:]) or parts[-1] == "__main__":
            continue
        names.append(".".join(parts))
    return sorted(names, key=lambda n: (n.split(".")[:-1] if n.count(".") > 1 else [n], n))


def _is_package(name: str) -> bool:
    return (ROOT / Path(*name.split(".")) / "__init__.py").exists()


def _page_uri(name: str) -> str:
    parts = name.split(".")[1:]
    if not parts:
        return "api/index.md"
    if _is_package(name):
        return "api/" + "/".join(parts) + "/index.md"
    return "api/" + "/".join(parts) + ".md"


def _page_content(name: str) -> str:
    if _is_package(name):
        # the package page: its docstring (the overview table); members are on the module pages
        options = "      members: false\n" if name != PACKAGE else "      members: [Sequential]\n"
    else:
        options = ""
    return f"::: {name}\n    options:\n      show_root_heading: true\n{options}"


def _api_nav(names: list[str]) -> list[Any]:
    nav: list[Any] = [{f"{PACKAGE}": _page_uri(PACKAGE)}]
    top = [n for n in names if n.count(".") == 1]
    for name in top:
        if _is_package(name):
            children = [n for n in names if n.startswith(name + ".")]
            section: list[Any] = [{name: _page_uri(name)}]
            section += [{c: _page_uri(c)} for c in children]
            nav.append({name.split(".")[1]: section})
        else:
            nav.append({name: _page_uri(name)})
    return nav


def on_config(config: MkDocsConfig, **kwargs: Any) -> MkDocsConfig:
    names = public_modules()
    nav = config.nav or []
    for i, entry in enumerate(nav):
        if isinstance(entry, dict) and API_PLACEHOLDER in entry.values():
            (title,) = entry.keys()
            nav[i] = {title: _api_nav(names)}
            break
    else:
        raise PluginError(f"mkdocs.yml: no nav entry {API_PLACEHOLDER!r} for the API reference")
    return config


def _mathjax_dir() -> Path:
    try:
        import mathjax  # django-static-mathjax: MathJax 3 as package data
    except ImportError as e:
        raise PluginError("the docs need MathJax: pip install -e '.[docs]' (django-static-mathjax)") from e
    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


# what tex-chtml.js loads at run time: its fonts, and the TeX extensions it may autoload
MATHJAX_PARTS = ("tex-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions")


def on_files(files: Files, config: MkDocsConfig, **kwargs: Any) -> Files:
    for name in public_modules():
        files.append(File.generated(config, _page_uri(name), content=_page_content(name)))
    es5 = _mathjax_dir()
    for part in MATHJAX_PARTS:
        src = es5 / part
        paths = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        for p in paths:
            uri = "assets/mathjax/" + p.relative_to(es5).as_posix()
            files.append(File.generated(config, uri, abs_src_path=str(p)))
    return files


INCLUDE = re.compile(r'^<!-- include (?P<path>[^ ]+)(?: "(?P<section>[^"]+)")? -->$', re.M)


def _include(m: re.Match[str]) -> str:
    path = ROOT / m.group("path")
    if not path.is_file():
        raise PluginError(f"include: no file {m.group('path')}")
    text = path.read_text(encoding="utf-8")
    section = m.group("section")
    if section is not None:
        parts = re.split(r"^## ", text, flags=re.M)
        found = [p for p in parts[1:] if p.split("\n", 1)[0].strip() == section]
        if not found:
            raise PluginError(f"include: no section '## {section}' in {m.group('path')}")
        return found[0].split("\n", 1)[1]
    lines = text.split("\n")
    in_code = False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            lines[i] = "#" + line
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, config: MkDocsConfig, files: Files, **kwargs: Any) -> str:
    return INCLUDE.sub(_include, markdown)


NB_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)


def on_post_page(output: str, page: Any, config: MkDocsConfig, **kwargs: Any) -> str:
    if page.file.src_uri.endswith(".ipynb"):
        output = NB_MATHJAX.sub("", output)
    return output


def _all_names(name: str) -> list[str]:
    path = ROOT / Path(*name.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return [elt.value for elt in node.value.elts if isinstance(elt, ast.Constant)]  # type: ignore[attr-defined]
    return []


ANCHOR = re.compile(r'id="(spikeforge(?:\.[A-Za-z_][A-Za-z0-9_]*)+)"')


def on_post_build(config: MkDocsConfig, **kwargs: Any) -> None:
    site = Path(config.site_dir)
    anchors: set[str] = set()
    for page in (site / "api").rglob("*.html"):
        anchors.update(ANCHOR.findall(page.read_text(encoding="utf-8")))
    missing = []
    for name in public_modules():
        for member in _all_names(name):
            if member.startswith("__"):
                continue
            if _is_package(name):
                found = any(a.startswith(name + ".") and a.endswith("." + member) for a in anchors)
            else:
                found = f"{name}.{member}" in anchors
            if not found:
                missing.append(f"{name}.{member}")
    if missing:
        raise PluginError(f"{len(missing)} public names have no entry in the API reference: {missing}")
