"""The reader's launch path, checked statically: the repository's address lives in one place that the install
cell of every chapter, the launch buttons and CITATION.cff agree on; ``pip install "sslvit[book]"`` brings
everything a chapter imports; Binder installs the CPU build of torch.

(The full proof, a wheel installed with its ``book`` extra into a fresh virtual environment that executes a
chapter, is ``make reader-test``, part of ``make test``.)
"""
from __future__ import annotations

import ast
import importlib.metadata as md
import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
URL = PYPROJECT["project"]["urls"]["Repository"]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
INSTALL_CELL = re.compile(r'"(sslvit[^"]* @ git\+[^"]+)"')


def _code_cells(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_repository_url_is_one_address():
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", URL), URL
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["url"] == URL, "_config.yml repository.url (the launch buttons) differs from pyproject"
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["repository-code"] == URL, "CITATION.cff repository-code differs from pyproject"


def test_every_github_address_in_the_book_is_the_repository():
    """No page, notebook or metadata file names another address for this repository."""
    files = [ROOT / n for n in ("README.md", "CITATION.cff", "_config.yml", "CONTRIBUTING.md")]
    files += sorted((ROOT / "book").glob("*.md")) + NOTEBOOKS
    own = re.compile(r"github\.com/sslvit[\w.-]*/[\w.-]+")
    for path in files:
        for found in own.findall(path.read_text()):
            assert "https://" + found.rstrip(".") == URL, f"{path.name}: {found} is not {URL}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_install_cell_installs_the_book_extra_from_the_repository(path: Path):
    """The first code cell installs ``sslvit[book]`` from the repository when the library or the book's
    packages are missing (Colab, Binder), and is tagged ``remove-cell``."""
    cells = json.loads(path.read_text())["cells"]
    first = next(c for c in cells if c["cell_type"] == "code")
    source = "".join(first["source"])
    found = INSTALL_CELL.findall(source)
    assert len(found) == 1, f"{path.name}: the first code cell is not the install cell"
    req = Requirement(found[0])
    assert req.name == "sslvit" and req.extras == {"book"}, f"{path.name}: installs {found[0]!r}, not sslvit[book]"
    assert req.url == "git+" + URL, f"{path.name}: installs from {req.url}, not git+{URL}"
    assert 'find_spec("myst_nb")' in source, f"{path.name}: the install cell does not check for the book's packages"
    assert "remove-cell" in first.get("metadata", {}).get("tags", []), f"{path.name}: install cell shown in the HTML"


def _imported_modules(source: str) -> set[str]:
    """Top-level names of the modules a code cell imports."""
    mods = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            mods |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            mods.add(node.module.split(".")[0])
    return mods


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _not_required(requirements: list[str]) -> dict[str, list[str]]:
    """Modules the chapters import that come neither from the standard library, nor from sslvit, nor from a
    distribution named directly in ``requirements`` (a package that arrives only as another's dependency can
    disappear with that dependency's next release)."""
    direct = {_norm(Requirement(r).name) for r in requirements}
    owners = md.packages_distributions()
    missing: dict[str, list[str]] = {}
    for path in NOTEBOOKS:
        for source in _code_cells(path):
            for mod in _imported_modules(source):
                if mod in sys.stdlib_module_names or mod == "sslvit":
                    continue
                if not {_norm(d) for d in owners.get(mod, [])} & direct:
                    missing.setdefault(mod, []).append(path.name)
    return missing


def test_book_extra_names_everything_a_chapter_imports():
    """``pip install "sslvit[book]"`` installs, as direct requirements, every package a chapter imports."""
    project = PYPROJECT["project"]
    missing = _not_required(project["dependencies"] + project["optional-dependencies"]["book"])
    assert not missing, f"imported by chapters but not required by sslvit[book]: {missing}"


def test_the_import_check_can_fail():
    """Without the book extra, the check names what the chapters would miss (myst_nb, pandas, ...)."""
    missing = _not_required(PYPROJECT["project"]["dependencies"])
    assert {"myst_nb", "pandas"} <= set(missing), missing


def test_binder_installs_the_cpu_build_of_torch_and_the_book_extra():
    lines = [ln.split("#")[0].strip() for ln in (ROOT / "binder" / "requirements.txt").read_text().splitlines()]
    lines = [ln for ln in lines if ln]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    pinned = next(Requirement(ln) for ln in lines if ln.startswith("torch"))
    assert str(pinned.specifier).endswith("+cpu"), f"Binder would install PyPI's CUDA build: {pinned}"
    assert ".[book]" in lines, "Binder does not install the library with its book extra"
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"
