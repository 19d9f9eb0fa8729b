"""The library's architecture rules (CONTRIBUTING, "The library's rooms"), checked on the source: the core imports
no outer room (and needs none to be imported: its objective registry is complete alone), no objective imports the
engine (an objective is a function of the area masses), no function is longer than 60 lines, and no module imports
another's private names."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib" / "sslvit"
OUTER = ("sslvit.analysis", "sslvit.beyond", "sslvit.vit", "sslvit.plots", "sslvit.cli", "sslvit.checks", "sslvit.book")
SOURCES = sorted(LIB.rglob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
    return out


@pytest.mark.parametrize("path", sorted((LIB / "core").rglob("*.py")), ids=lambda p: p.name)
def test_the_core_imports_no_outer_room(path: Path):
    bad = [m for m, _ in _imports(path) if m.startswith(OUTER)]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: outer rooms import the core, never the reverse"


def _imports_engine(path: Path) -> bool:
    return any(m == "sslvit.core.engine" or (m == "sslvit.core" and "engine" in names) for m, names in _imports(path))


def _objective_modules() -> list[Path]:
    """The objectives' modules: the core's objectives package and every module that defines a bound objective."""
    found = set((LIB / "core" / "objectives").glob("*.py"))
    for p in LIB.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ClassDef) and any(getattr(b, "id", getattr(b, "attr", "")).startswith("Bound")
                                                      for b in node.bases):
                found.add(p)
    return sorted(found)


def test_the_objectives_are_found():
    names = {p.name for p in _objective_modules()}
    assert {"mae.py", "cl.py", "base.py", "memory.py", "mix.py"} <= names, names


@pytest.mark.parametrize("path", _objective_modules(), ids=lambda p: p.name)
def test_no_objective_imports_the_engine(path: Path):
    assert not _imports_engine(path), (f"{path.relative_to(ROOT)} imports the engine: an objective is a function of "
                                       "the area masses; the trainer owns forward, objective, backward")


CORE_ALONE = """
import importlib, pkgutil, sys
import sslvit.core
for m in pkgutil.walk_packages(sslvit.core.__path__, "sslvit.core."):
    importlib.import_module(m.name)
from sslvit.core.objectives import objective_named
outer = lambda: sorted(m for m in sys.modules if m.startswith("sslvit.") and not m.startswith("sslvit.core"))
print("OUTER", outer())
print("CORE", [type(objective_named(n)).__name__ for n in ("mae", "cl")], outer())
print("MIX", type(objective_named("mix")).__name__, outer())
"""


def test_the_core_needs_no_outer_room():
    """Importing every core module (in a fresh interpreter) imports no outer room, and the core's objectives are
    registered without anything else being imported."""
    out = subprocess.run([sys.executable, "-c", CORE_ALONE], capture_output=True, text=True, check=True).stdout
    assert "OUTER []" in out, out
    assert "CORE ['MAE', 'CL'] []" in out, out
    # an outer room's objective is found by name through its entry point, which imports its module then
    assert "MIX Mixed ['sslvit.beyond', 'sslvit.beyond.mix']" in out, out


def test_no_function_is_longer_than_60_lines():
    long = [f"{p.relative_to(ROOT)}:{n.lineno} {n.name} ({n.end_lineno - n.lineno + 1} lines)"
            for p in SOURCES for n in ast.walk(ast.parse(p.read_text()))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 60]
    assert not long, "split these functions:\n" + "\n".join(long)


def test_no_private_name_is_imported_from_another_module():
    files = SOURCES + sorted((ROOT / "tests").rglob("*.py"))
    bad = [f"{p.relative_to(ROOT)}: from {m} import {n}" for p in files for m, names in _imports(p)
           for n in names if n.startswith("_") and not n.startswith("__")]
    assert not bad, "\n".join(bad)


def test_the_rules_can_fail(tmp_path: Path):
    """The checks see what they look for: an outer import, a long function and a private import."""
    bad = tmp_path / "bad.py"
    bad.write_text("from sslvit.beyond.mix import Mixed\nfrom sslvit.core.runs import _x\n"
                   "from sslvit.core import engine\n"
                   "def f():\n" + "    x = 1\n" * 61)
    assert _imports_engine(bad)
    assert [m for m, _ in _imports(bad) if m.startswith(OUTER)] == ["sslvit.beyond.mix"]
    assert any(n.startswith("_") for _, names in _imports(bad) for n in names)
    fn = next(n for n in ast.walk(ast.parse(bad.read_text())) if isinstance(n, ast.FunctionDef))
    assert fn.end_lineno - fn.lineno + 1 > 60
