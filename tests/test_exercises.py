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

from sslvit.selfcheck import ANSWER_KEY, self_check, solution_agrees, student_cell

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
#: every chapter has exercises except the reproducibility chapter, by design
WITH_EXERCISES = tuple(f"{n:02d}" for n in range(1, 15))
#: the paper's chapters, each with at least one derivation exercise
PAPER = ("01", "02", "03", "04", "05", "06")

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


def test_every_paper_chapter_has_a_derivation():
    for path in NOTEBOOKS:
        if path.name[:2] in PAPER:
            found = marks("\n".join(_source(c) for c in _cells(path) if c["cell_type"] == "markdown"))
            assert any(v and v[1] == "derivation" for v in found.values()), f"{path.name}: no derivation exercise"


def exercise_kinds() -> dict[str, tuple[str, str]]:
    """Exercise label → (notebook name, kind) over the book."""
    return {label: (p.name, v[1]) for p in NOTEBOOKS
            for label, v in marks("\n".join(_source(c) for c in _cells(p) if c["cell_type"] == "markdown")).items() if v}


def test_every_computational_exercise_has_a_self_check():
    """Every exercise with a run ('then code') is in the answer key, and every key is an exercise of the book."""
    kinds = exercise_kinds()
    computational = {label for label, (_, kind) in kinds.items() if kind.endswith("code")}
    assert computational and computational <= set(ANSWER_KEY), sorted(computational - set(ANSWER_KEY))
    assert set(ANSWER_KEY) <= set(kinds), sorted(set(ANSWER_KEY) - set(kinds))


@pytest.mark.parametrize("label", sorted(ANSWER_KEY))
def test_the_solution_confirms_its_answer_key(label):
    """The solution of every exercise in the key calls solution_agrees on its own numbers inside a check (so
    nbval fails when the key and the solution part), with the key's label."""
    path = ROOT / "book" / exercise_kinds()[label][0]
    code = "\n".join(_source(c) for c in solutions(path)[label] if c["cell_type"] == "code")
    assert re.search(r"check\([^;]*solution_agrees\(\s*\"%s\"" % re.escape(label), code, re.S), (
        f"{path.name}: the solution of {label} does not check solution_agrees({label!r}, ...)")


def test_student_edition_replaces_each_keyed_solution_by_a_self_check():
    inserted = []
    for path in NOTEBOOKS:
        stripped, _ = student_edition.strip_notebook(json.loads(path.read_text()))
        cells = stripped["cells"]
        for i, cell in enumerate(cells):
            if "self-check" in cell.get("metadata", {}).get("tags", []):
                label = re.search(r"self_check\('([^']+)'", _source(cell)).group(1)
                inserted.append(label)
                before = "\n".join(_source(c) for c in cells[:i] if c["cell_type"] == "markdown")
                assert re.findall(r"```\{exercise\}[^\n]*\n:label: (\S+)", before)[-1] == label   # after its exercise
                assert cell["outputs"] == [] and cell["cell_type"] == "code"
    assert sorted(inserted) == sorted(ANSWER_KEY)


def test_self_check_cell_runs_and_says_what_to_do(capsys):
    namespace = {}
    exec(student_cell("ch4-ex-predict"), namespace)
    assert "replace None by your answers" in capsys.readouterr().out


def test_self_check_judges_without_revealing(capsys):
    key = ANSWER_KEY["ch13-ex-distance"]
    (a, tol_a), (b, tol_b) = key.values()
    names = list(key)
    assert self_check("ch13-ex-distance", {names[0]: a + tol_a / 2, names[1]: b - tol_b / 2})
    out = capsys.readouterr().out
    assert out.count("right") == 3 and "not yet" not in out
    assert not self_check("ch13-ex-distance", {names[0]: a * 1.5, names[1]: None})
    out = capsys.readouterr().out
    assert "too high, by about 50%" in out and "not answered" in out and "not yet" in out
    for value in (a, b, round(a, 2), round(a, 3)):
        assert f"{value}" not in out.replace(f"{a * 1.5}", "")
    assert not self_check("ch7-ex-batch", 2.0)                  # one number: no dict needed
    assert "too low, by about 50%" in capsys.readouterr().out
    assert self_check("ch4-ex-predict", {n: v for n, (v, _) in ANSWER_KEY["ch4-ex-predict"].items()})
    assert not self_check("ch4-ex-predict", {"Phase I at C_s = 8": True})
    assert "not right" in capsys.readouterr().out


def test_self_check_refuses_bad_input():
    with pytest.raises(ValueError, match="label='ch99'.*one of"):
        self_check("ch99", 1.0)
    with pytest.raises(ValueError, match="answer names \\['x'\\] are not allowed"):
        self_check("ch13-ex-distance", {"x": 1.0})
    with pytest.raises(ValueError, match="a dict with the names"):
        self_check("ch13-ex-distance", 1.0)
    with pytest.raises(ValueError, match="a finite number"):
        self_check("ch7-ex-batch", float("nan"))
    with pytest.raises(ValueError, match="a number, not True or False"):
        self_check("ch7-ex-batch", True)
    with pytest.raises(ValueError, match="True or False"):
        self_check("ch4-ex-predict", {"Phase I at C_s = 8": 0})


def test_solution_agrees_can_fail():
    values = {n: v for n, (v, _) in ANSWER_KEY["ch8-ex-push"].items()}
    assert solution_agrees("ch8-ex-push", values)
    first = next(iter(values))
    assert not solution_agrees("ch8-ex-push", dict(values, **{first: values[first] + 0.2}))
    with pytest.raises(ValueError, match="exactly the names"):
        solution_agrees("ch8-ex-push", {first: 2.0})


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
