"""The student edition of the book: a copy of the sources with every exercise's solution removed (``make student``).

Copies ``_toc.yml``, ``_config.yml`` (execution off: the notebooks' stored outputs are rendered), the bibliography,
the local extensions ``_ext/`` and ``book/`` into ``DEST``, and in every notebook and Markdown page removes everything from a
``{solution-start}`` directive to the matching ``{solution-end}`` (the solution's text and code cells), and every
``{solution}`` directive. The exercises themselves stay. Where a removed solution computed numbers (an exercise
in ``sslvit.selfcheck.ANSWER_KEY``), a self-check cell takes its place: the student enters their numbers and
learns, without seeing the solution's, whether each is right or how far off. Run from the repository root::

    python _ext/student_edition.py _build/student/src
"""
from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

from sslvit.selfcheck import ANSWER_KEY, student_cell

START, END = "```{solution-start}", "```{solution-end}"
LABEL = re.compile(r"```\{solution-start\}\s+(\S+)")
SOLUTION = re.compile(r"```\{solution\}.*?\n```\n?", re.S)


def strip_text(text: str) -> str:
    """A Markdown text without its solutions (gated blocks that open and close in the same text, and ``{solution}``)."""
    while START in text and END in text[text.index(START):]:
        a = text.index(START)
        b = text.index(END, a)
        b = text.index("```", b + len(END)) + 3
        text = text[:a] + text[b:]
    return SOLUTION.sub("", text)


def self_check_cell(label: str) -> dict:
    """The code cell that replaces the solution of exercise ``label`` in the student edition (no outputs)."""
    return {"cell_type": "code", "execution_count": None, "metadata": {"tags": ["self-check"]}, "outputs": [],
            "source": student_cell(label).splitlines(keepends=True)}


def strip_notebook(nb: dict) -> tuple[dict, int]:
    """``nb`` without the cells of its solutions, each solution of an exercise in the answer key replaced by a
    self-check cell; returns the notebook and the number of solutions removed."""
    cells, inside, removed, label = [], False, 0, None
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and START in source:
            head = source[:source.index(START)].rstrip("\n")
            removed += 1
            found = LABEL.search(source)
            label = found.group(1) if found else None
            inside = END not in source[source.index(START):]
            if head:
                cells.append(dict(cell, source=head + "\n"))
            if not inside and label in ANSWER_KEY:
                cells.append(self_check_cell(label))
            continue
        if inside:
            if cell["cell_type"] == "markdown" and END in source:
                inside = False
                if label in ANSWER_KEY:
                    cells.append(self_check_cell(label))
                tail = source[source.index("```", source.index(END) + len(END)) + 3:].strip("\n")
                if tail:
                    cells.append(dict(cell, source=tail + "\n"))
            continue
        cells.append(cell)
    if inside:
        raise ValueError("a {solution-start} without its {solution-end}")
    return dict(nb, cells=cells), removed


def main(dest: Path) -> None:
    root = Path.cwd()
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(root / "book", dest / "book")
    shutil.copytree(root / "_ext", dest / "_ext")                   # the book's local Sphinx extensions
    for name in ("_toc.yml", "references.bib"):
        shutil.copy(root / name, dest / name)
    config = (root / "_config.yml").read_text()
    config = re.sub(r"(?m)^(\s*execute_notebooks:).*$", r'\1 "off"', config)
    config = config.replace('title: "', 'title: "Student edition. ', 1)
    (dest / "_config.yml").write_text(config)
    total = 0
    for path in sorted((dest / "book").rglob("*")):
        if path.suffix == ".ipynb":
            nb, n = strip_notebook(json.loads(path.read_text()))
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
            total += n
        elif path.suffix == ".md":
            path.write_text(strip_text(path.read_text()))
    print(f"student edition sources in {dest}: {total} solutions removed")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python _ext/student_edition.py DEST")
    main(Path(sys.argv[1]))
