"""The chaos audit's report (tests/audit/chaos_audit.py, the book's reproducibility appendix): parsing nbval's JUnit report and merging
a partial re-audit into an earlier report."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("chaos_audit", Path(__file__).parent / "audit" / "chaos_audit.py")
audit = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(audit)

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="book.a.ipynb" name="Cell 0" time="1.5" />
<testcase classname="book.a.ipynb" name="Cell 1" time="2.0">
  <failure message="Notebook cell execution failed">mismatch 'stdout'
- 0.064
+ 0.051</failure></testcase>
<testcase classname="book.b.ipynb" name="Cell 0" time="600.2">
  <failure message="Notebook cell execution failed">Cell 0: Timeout of 600 seconds exceeded executing cell</failure>
</testcase>
<testcase classname="book.b.ipynb" name="Cell 1" time="0.1">
  <skipped type="pytest.xfail" message="Previous cell timed out, expected cell to fail" /></testcase>
</testsuite></testsuites>
"""


def notebook(path: Path, sources: list[str]) -> None:
    cells = [{"cell_type": "code", "source": s, "metadata": {}, "outputs": []} for s in sources]
    path.write_text(json.dumps({"cells": cells}))


@pytest.fixture
def book(tmp_path: Path) -> Path:
    notebook(tmp_path / "a.ipynb", ["x = 1", "print(0.051)"])
    notebook(tmp_path / "b.ipynb", ["train()", "print(1)"])
    (tmp_path / "nbval.xml").write_text(JUNIT)
    return tmp_path


def test_findings_classify_changed_timed_out_and_unverified_cells(book: Path):
    per_nb, found = audit.findings(book / "nbval.xml", book)
    assert per_nb["a.ipynb"] == {"cells": 2, "seconds": 4, "not_verified": 0}
    assert per_nb["b.ipynb"] == {"cells": 2, "seconds": 600, "not_verified": 1}
    assert [(f["notebook"], f["cell"], f["kind"]) for f in found] == [("a.ipynb", 1, "output differs"),
                                                                       ("b.ipynb", 0, "timeout")]
    assert found[0]["first_line"] == "print(0.051)"
    assert found[0]["diff"] == ["mismatch 'stdout'", "- 0.064", "+ 0.051"]


def test_merge_replaces_the_notebooks_audited_again(book: Path):
    per_nb, found = audit.findings(book / "nbval.xml", book)
    old = audit.summarise({"mode": "native", "notebooks": per_nb, "changed": found})
    assert (old["cells"], old["not_verified"], len(old["changed"])) == (4, 1, 2)
    again = audit.summarise({"mode": "native", "notebooks": {"b.ipynb": {"cells": 2, "seconds": 90, "not_verified": 0}},
                             "changed": []})
    merged = audit.merge(old, again)
    assert (merged["cells"], merged["seconds"], merged["not_verified"]) == (4, 94, 0)
    assert [(c["notebook"], c["kind"]) for c in merged["changed"]] == [("a.ipynb", "output differs")]


def test_uncompared_cells_carry_their_reason(tmp_path: Path):
    cells = [{"cell_type": "code", "metadata": {"tags": ["nbval-ignore-output"]},
              "source": "# chaotic: differs between CPUs\nprint(1)", "outputs": []},
             {"cell_type": "code", "metadata": {}, "source": "print(2)", "outputs": []}]
    (tmp_path / "c.ipynb").write_text(json.dumps({"cells": cells}))
    out = audit.uncompared_cells(tmp_path)
    assert [(u["notebook"], u["cell"], u["why"]) for u in out] == [("c.ipynb", 0, "chaotic: differs between CPUs")]
