"""Every definition, proposition and theorem of the book says where it comes from (issue: provenance appendix).

Each ``prf:definition``, ``prf:proposition`` and ``prf:theorem`` in the chapters carries a visible line
``*Provenance: ... ({ref}`appendix <prov-...>`).*`` whose target is an entry of ``book/provenance.md``; every
entry of the appendix is the target of at least one such line.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))
DIRECTIVE = re.compile(r"```\{prf:(definition|proposition|theorem)\}[^\n]*\n(.*?)\n```", re.S)
MARK = re.compile(r"\*Provenance: (read in a source|read in part in the sources, the exact form is ours|our "
                  r"reconstruction) \(\{ref\}`appendix <(prov-[\w-]+)>`\)\.\*")
APPENDIX_LABELS = set(re.findall(r"^\((prov-[\w-]+)\)=$", (BOOK / "provenance.md").read_text(), re.M))


def _directives(path: Path):
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            yield from DIRECTIVE.finditer("".join(cell["source"]))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_statement_carries_a_provenance_mark_that_resolves(path):
    problems = []
    for m in _directives(path):
        label = re.search(r":label: ([\w-]+)", m.group(2))
        name = label.group(1) if label else m.group(0)[:60]
        mark = MARK.search(m.group(2))
        if not mark:
            problems.append(f"{name}: no provenance line")
        elif mark.group(2) not in APPENDIX_LABELS:
            problems.append(f"{name}: links to {mark.group(2)}, which the appendix does not define")
    assert not problems, f"{path.name}: " + "; ".join(problems)


def test_every_appendix_entry_is_linked_from_the_chapters():
    linked = {m.group(2) for path in NOTEBOOKS for d in _directives(path) for m in MARK.finditer(d.group(2))}
    assert APPENDIX_LABELS, "book/provenance.md defines no (prov-...)= entries"
    assert not APPENDIX_LABELS - linked, f"appendix entries no statement links to: {sorted(APPENDIX_LABELS - linked)}"
