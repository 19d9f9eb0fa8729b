"""The reader notebooks (``make notebooks``, _ext/reader_notebooks.py) as a reader opens them in plain Jupyter or
Colab: no MyST left, the book's code in its order, solutions folded (or, in the student set, gone).

Run by ``make notebooks`` (part of ``make test``)::

    python tests/reader/check_reader_notebooks.py _build/notebooks [--sources book]

Fails (exit status 1, naming each notebook, cell and line) on a MyST directive fence, a role, a glue placeholder,
a label target, a script, a link to a local ``.ipynb``, a second level-1 heading, an image that is not beside the notebook; on a reader notebook missing
for a source notebook; on code cells that differ from the source's (apart from the cells that only glue numbers
for the text); on a solution that is not folded in the book's set, or present in the student set.
"""
from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: what plain Jupyter would show raw: name -> pattern of a Markdown line
MYST = {
    "directive fence": re.compile(r"^\s*(`{3,}|~{3,})\s*\{"),
    "colon fence": re.compile(r"^\s*:::"),
    "directive option": re.compile(r"^:[a-z][a-z-]*:(\s|$)"),
    "role": re.compile(r"\{[a-z][a-z0-9:_-]*\}`"),
    "glue placeholder": re.compile(r"\{glue"),
    "label target": re.compile(r"^\([A-Za-z0-9_.:-]+\)=\s*$"),
    "script": re.compile(r"<script"),
    "local notebook link": re.compile(r"\]\([^)\s]*\.ipynb"),
    "escaped dollar": re.compile(r"\\\$"),
}


@functools.cache
def _converter():
    spec = importlib.util.spec_from_file_location("reader_notebooks", ROOT / "_ext" / "reader_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def markup_left(nb: dict) -> list[str]:
    """Each line of ``nb``'s Markdown that plain Jupyter would show as MyST markup, as ``cell N: what: line``."""
    found = []
    for n, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for line in text.splitlines():
            for what, pattern in MYST.items():
                if pattern.search(line):
                    found.append(f"cell {n}: {what}: {line.strip()[:100]}")
            if n > 0 and line.startswith("# "):
                found.append(f"cell {n}: a second title: {line.strip()[:100]}")
    return found


def check_set(folder: Path, sources: Path, solutions: bool) -> list[str]:
    """What is wrong with the reader notebooks in ``folder`` (one per source notebook)."""
    conv = _converter()
    problems = []
    for src in sorted(sources.glob("*.ipynb")):
        path = folder / src.name
        if not path.is_file():
            problems.append(f"{path}: missing (the source {src} has no reader notebook)")
            continue
        nb, source = json.loads(path.read_text()), json.loads(src.read_text())
        problems += [f"{path}: {p}" for p in markup_left(nb)]
        problems += [f"{path}: image {m} is not beside the notebook" for c in nb["cells"]
                     if c["cell_type"] == "markdown" for m in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", c["source"])
                     if not m.startswith(("http", "data:")) and not (folder / m).is_file()]
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        in_solution = conv.solution_cells(source["cells"])
        expected = [conv.normal_code(c["source"] if isinstance(c["source"], str) else "".join(c["source"]))
                    for i, c in enumerate(source["cells"]) if c["cell_type"] == "code"
                    and not conv.only_glue("".join(c["source"])) and (solutions or i not in in_solution)]
        if [conv.normal_code(c["source"]) for c in code] != expected:
            problems.append(f"{path}: its {len(code)} code cells are not the source's {len(expected)} in order")
        if code and "pip" not in code[0]["source"] and "sslvit" in json.dumps(source["cells"][:1]):
            problems.append(f"{path}: the first code cell does not install the library")
        folded = sum(c["source"].startswith("<details>") for c in nb["cells"] if c["cell_type"] == "markdown")
        labels = sum(len(re.findall(r"^`{3,}\{solution(?:-start)?\}", "".join(c["source"]), re.M))
                     for c in source["cells"] if c["cell_type"] == "markdown")
        if solutions and folded < labels:
            problems.append(f"{path}: {labels} solutions in the source, {folded} folded here")
        if not solutions and (folded or any("solution" in c["metadata"].get("tags", []) for c in code)):
            problems.append(f"{path}: the student set shows solutions")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the reader notebooks (make notebooks: _build/notebooks)")
    parser.add_argument("--sources", type=Path, default=ROOT / "book", help="the book's source notebooks")
    args = parser.parse_args()
    problems = check_set(args.folder, args.sources, True) + check_set(args.folder / "student", args.sources, False)
    for p in problems:
        print(p)
    count = len(list(args.folder.glob("*.ipynb"))) + len(list((args.folder / "student").glob("*.ipynb")))
    if problems:
        print(f"reader notebooks: {len(problems)} problems in {args.folder}")
        return 1
    print(f"reader notebooks: {count} notebooks in {args.folder} and student/, no MyST markup left, code as in "
          "the book, solutions folded (removed in the student set)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
