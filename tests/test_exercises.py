"""Static checks of the exercises (book chapters; no execution, nbval runs their solutions).

Every exercise has a label and a folded solution; a solution with code ends in a check that can fail (so a broken
solution fails the tests); the student edition (``make student``, ``_ext/student_edition.py``) removes every
solution and keeps every exercise.
"""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
#: every chapter has exercises except the reproducibility chapter, by design
WITH_EXERCISES = ("01", "02", "03", "04", "05", "06", "08", "09", "10", "11", "12", "13", "14", "15")

spec = importlib.util.spec_from_file_location("student_edition", ROOT / "_ext" / "student_edition.py")
student_edition = importlib.util.module_from_spec(spec)
spec.loader.exec_module(student_edition)


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def solutions(path: Path) -> dict[str, list[dict]]:
    """Exercise label → the cells between its ``{solution-start}`` and ``{solution-end}``."""
    found, current = {}, None
    for cell in _cells(path):
        text = _source(cell)
        if current is not None and cell["cell_type"] == "markdown" and "```{solution-end}" in text:
            current = None
            continue
        if current is not None:
            found[current].append(cell)
        m = re.search(r"```\{solution-start\} (\S+)", text)
        if m:
            current = m.group(1)
            found[current] = []
            if "```{solution-end}" in text[m.end():]:      # a solution in words only, within one cell
                current = None
    assert current is None, f"{path.name}: solution of {current} is not closed"
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_exercise_has_a_folded_solution_whose_code_ends_in_a_check(path):
    text = "\n".join(_source(c) for c in _cells(path) if c["cell_type"] == "markdown")
    labels = re.findall(r"```\{exercise\}[^\n]*\n:label: (\S+)", text)
    sols = solutions(path)
    assert sorted(labels) == sorted(sols), f"{path.name}: exercises {labels}, solutions {sorted(sols)}"
    assert text.count(":class: dropdown") >= len(sols), f"{path.name}: every solution is folded"
    for label, cells in sols.items():
        code = [c for c in cells if c["cell_type"] == "code"]
        if code:
            assert "check(" in _source(code[-1]), f"{path.name}: the solution of {label} does not end in a check"
    if path.name[:2] in WITH_EXERCISES:
        assert 2 <= len(labels) <= 4, f"{path.name}: {len(labels)} exercises, 2 to 4 expected"


#: the first line of every exercise: its difficulty (one to three stars of three) and its kind
KINDS = ("pen and paper", "derivation", "pen and paper, then code", "discussion")
MARK = re.compile(r"```\{exercise\}[^\n]*\n:label: (\S+)\n\n([^\n]*)\n")


def marks(text: str) -> dict[str, tuple[int, str] | None]:
    """Exercise label → ``(stars, kind)`` of its first line (``**Difficulty** ★★☆ · derivation``), None if it has
    none or another form."""
    out = {}
    for m in MARK.finditer(text):
        first = re.fullmatch(r"\*\*Difficulty\*\* (★{1,3})(☆{0,2}) · (.+)", m.group(2).strip())
        ok = first is not None and len(first.group(1)) + len(first.group(2)) == 3 and first.group(3) in KINDS
        out[m.group(1)] = (len(first.group(1)), first.group(3)) if ok else None
    return out


def test_marks_reads_each_form():
    ex = "```{exercise} T\n:label: a\n\n%s\nBody\n```"
    assert marks(ex % "**Difficulty** ★★☆ · derivation") == {"a": (2, "derivation")}
    for bad in ("Body first", "**Difficulty** ★★ · derivation", "**Difficulty** ★★☆ · homework", "*Difficulty* ★☆☆ · discussion"):
        assert marks(ex % bad) == {"a": None}, bad


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[:2] in WITH_EXERCISES], ids=lambda p: p.name)
def test_every_exercise_states_its_difficulty_and_kind(path):
    text = "\n".join(_source(c) for c in _cells(path) if c["cell_type"] == "markdown")
    found = marks(text)
    assert found and all(found.values()), (f"{path.name}: exercises without a first line "
                                           f"'**Difficulty** ★☆☆ · <kind>' (kinds: {KINDS}): "
                                           f"{sorted(k for k, v in found.items() if v is None)}")


def test_the_book_has_exercises_of_every_kind():
    """Derivations (at least five), pen-and-paper computations, predictions checked by a run, and discussions."""
    kinds = [v[1] for p in NOTEBOOKS for v in marks("\n".join(_source(c) for c in _cells(p)
                                                            if c["cell_type"] == "markdown")).values() if v]
    assert kinds.count("derivation") >= 5 and {"pen and paper", "pen and paper, then code", "discussion"} <= set(kinds)


def test_student_edition_removes_solutions_and_keeps_exercises():
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        stripped, removed = student_edition.strip_notebook(nb)
        text = "\n".join(_source(c) for c in stripped["cells"])
        assert removed == len(solutions(path))
        assert "solution-start" not in text and "solution-end" not in text
        assert text.count("```{exercise}") == sum(_source(c).count("```{exercise}") for c in nb["cells"])
    md = "Before\n\n```{solution-start} x\n:class: dropdown\n```\nhidden\n```{solution-end}\n```\nAfter\n"
    assert student_edition.strip_text(md) == "Before\n\n\nAfter\n"
