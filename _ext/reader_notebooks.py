"""The reader notebooks (``make notebooks``): the chapters as plain Jupyter notebooks for Colab, Binder and any
Jupyter, where MyST is not rendered.

Sphinx's ``jupyter`` builder (sphinx-tojupyter, QuantEcon's converter) writes every page of the book from the
notebooks' stored outputs as a notebook of plain Markdown: roles resolved (cross-references, citations, glossary
terms), glued values substituted, definitions and theorems numbered as in the book. This module is both

* a Sphinx extension for that build (``sphinx.local_extensions``, see :func:`setup`), which numbers the
  figures' captions as the HTML does and leaves out the glued images (a reader notebook draws its figures when
  it runs), and
* the pass after it (``python _ext/reader_notebooks.py convert``), which fixes what the converter leaves: the
  code cells the book hides (the install and import cells) are put back in their place from the source notebook,
  only the cells that glue numbers for the text are left out; admonitions become quoted blocks with a bold
  title; exercises get their number and title, their solutions fold into ``<details>``; links to other pages
  point to the book online. It writes the book's set and a student set without the solutions, the images, and a
  README and Binder environment for the branch the launch buttons open (:data:`BRANCH`).

``python _ext/reader_notebooks.py config < stored_config.yml`` writes the build's ``_config.yml``.
"""
from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from launch_notebooks import BRANCH, repository_parts  # noqa: E402  (the branch the launch buttons open)

#: the functions whose calls only glue numbers for the book's text: a hidden cell made of them alone is left out
GLUE_CALLS = frozenset({"glue", "glue_number", "glue_bound", "glue_table", "glue_running_time", "gl"})


# ---- the Sphinx extension (loaded only by the reader notebooks' build) ---------------------------------------

def _number_figures(app, doctree, docname) -> None:
    """Prefix each figure's caption with its number ("Figure 4.1."), as the HTML shows it, and drop the glued
    images (their code cells draw them when the notebook runs); other images stay."""
    from docutils import nodes

    if app.builder.name != "jupyter":
        return
    numbers = app.env.toc_fignumbers.get(docname, {}).get("figure", {})
    for figure in list(doctree.findall(nodes.figure)):
        number = next((numbers[i] for i in figure["ids"] if i in numbers), None)
        for caption in figure.findall(nodes.caption):
            if number:
                caption.insert(0, nodes.Text(" "))
                caption.insert(0, nodes.strong(text=f"Figure {'.'.join(map(str, number))}."))
            break
        for image in list(figure.findall(nodes.image)):
            if "jupyter_execute" in image["uri"]:
                image.parent.remove(image)
    # the converter writes the title of a definition or theorem as plain text: its maths as $...$
    for title in list(doctree.findall(nodes.title)):
        if type(title.parent).__module__.startswith("sphinx_proof"):
            for math in list(title.findall(nodes.math)):
                math.parent.replace(math, nodes.Text(f"${math.astext()}$"))


def setup(app):
    app.connect("doctree-resolved", _number_figures)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


# ---- the build's configuration -----------------------------------------------------------------------------

def book_config(stored: str, ext_dir: str) -> str:
    """``_config.yml`` for the notebooks' build, from the book's (execution off): the converter and this
    module as extensions, code blocks of ``ipython3`` written as code cells, solutions kept (the pass folds
    them)."""
    out = stored.replace("    - sphinxcontrib.bibtex\n", "    - sphinxcontrib.bibtex\n    - sphinx_tojupyter\n", 1)
    out = out.replace("  local_extensions:\n", f"  local_extensions:\n    reader_notebooks: {ext_dir}\n", 1)
    out = out.replace("  config:\n", "  config:\n    tojupyter_lang_synonyms: [ipython3, python]\n"
                      "    tojupyter_drop_solutions: false\n", 1)
    for needed in ("sphinx_tojupyter", "reader_notebooks:", "tojupyter_lang_synonyms"):
        if needed not in out:
            raise ValueError(f"the book's _config.yml has changed shape: could not add {needed!r}")
    return out


# ---- the pass after the converter ----------------------------------------------------------------------------

def site_url(repository: str) -> str:
    """The book's web address from its repository's (``https://github.com/OWNER/NAME`` -> GitHub Pages)."""
    org, repo = repository_parts(repository)
    return f"https://{org.lower()}.github.io/{repo}/"


def _source_text(cell: dict) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def only_glue(code: str) -> bool:
    """Whether ``code`` does nothing but glue numbers for the text (calls of :data:`GLUE_CALLS`)."""
    try:
        body = ast.parse(code).body
    except SyntaxError:
        return False
    calls = [s for s in body if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
             and isinstance(s.value.func, ast.Name) and s.value.func.id in GLUE_CALLS]
    imports = [s for s in body if isinstance(s, ast.ImportFrom) and s.module == "sslvit.book"]
    return bool(calls) and len(calls) + len(imports) == len(body)


def _md(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def _code(text: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": text}


def normal_code(code: str) -> str:
    return "\n".join(line.rstrip() for line in code.strip().splitlines())


def solution_cells(source: list[dict]) -> set[int]:
    """Indices of the source's code cells inside a solution (between ``solution-start`` and ``solution-end``)."""
    inside, found = False, set()
    for i, c in enumerate(source):
        text = _source_text(c)
        if c["cell_type"] == "markdown":
            if "{solution-start}" in text:
                inside = True
            if "{solution-end}" in text:
                inside = False
        elif inside:
            found.add(i)
    return found


def merge_code(converted: list[dict], source: list[dict]) -> list[dict]:
    """The converted cells with the source's hidden code cells put back: those before the first shown code
    cell right after the title cell, the others just before the next shown code cell. Cells that only glue
    numbers are left out; the code cells of a solution are tagged ``solution``. Raises ``ValueError`` when the
    shown code cells differ from the source's."""
    solution = solution_cells(source)
    shown = [i for i, c in enumerate(source)
             if c["cell_type"] == "code" and not {"remove-cell", "remove-input"} & set(_tags(c))]
    got = [c for c in converted if c["cell_type"] == "code"]
    if [normal_code(_source_text(source[i])) for i in shown] != [normal_code(_source_text(c)) for c in got]:
        raise ValueError(f"the converter wrote {len(got)} code cells where the source shows {len(shown)}, or "
                         "their code differs")
    # the hidden cells that precede each shown code cell (and those after the last one)
    pending: list[list[dict]] = [[]]
    for i, c in enumerate(source):
        if c["cell_type"] != "code":
            continue
        if i in shown:
            pending.append([])
        elif not only_glue(_source_text(c)):
            pending[-1].append(_code(_source_text(c)))
            if i in solution:
                pending[-1][-1]["metadata"]["tags"] = ["solution"]
    out: list[dict] = []
    k = 0
    for n, c in enumerate(converted):
        if c["cell_type"] == "code":
            if k > 0:
                out += pending[k]
            cell = _code(_source_text(c))
            if only_glue(cell["source"]):                 # the running time for the page's top line
                k += 1
                continue
            if shown[k] in solution:
                cell["metadata"]["tags"] = ["solution"]
            out.append(cell)
            k += 1
        else:
            out.append(_md(_source_text(c)))
            if n == 0:
                out += pending[0]                 # the install and import cells, under the title
    out += pending[-1] if k > 0 else ([] if converted else pending[0])
    return out


_EXERCISE = re.compile(r"^##\s+\((?P<title>.*)\)(?P<name>Exercise \d+(?:\.\d+)*)\s*$", re.M)
_SOLUTION = re.compile(r"^## Solution to\[\s*(?P<name>Exercise \d+(?:\.\d+)*)(?: \((?P<title>.*)\))?\]\([^)]*\)\s*$", re.M)
_LINK = re.compile(r"\]\((?P<target>(?:[A-Za-z0-9_./-]+\.ipynb)?#[^)\s]*|[A-Za-z0-9_./-]+\.ipynb)\)")


def _quote(text: str) -> str:
    """An admonition's cell ``# Title\\n\\nbody`` as a quoted block with a bold title."""
    title, _, body = text.partition("\n")
    lines = [f"**{title.lstrip('#').strip()}**", ""] + body.strip("\n").split("\n")
    return "\n".join("> " + line if line.strip() else ">" for line in lines)


def fix_markdown(cells: list[dict], page: str, site: str, solutions: bool) -> list[dict]:
    """Admonitions as quoted blocks, exercises titled, solutions folded into ``<details>`` with their code
    cells' input hidden (or, ``solutions=False``, left out), links to the book online. ``page``: the page's
    name (``04_mae``); ``site``: the book's address."""
    out: list[dict] = []
    solution: str | None = None            # the solution being copied ("Exercise 4.1"), if any
    folded: list[str] = []                 # its Markdown since its last code cell
    parts = 0

    def fold() -> None:
        nonlocal folded, parts
        if folded and solutions:
            more = " (continued)" if parts else ""
            out.append(_md(f"<details>\n<summary><b>Solution to {solution}{more}</b></summary>\n\n"
                           + "\n\n".join(folded) + "\n\n</details>"))
            parts += 1
        folded = []

    for i, c in enumerate(cells):
        if c["cell_type"] == "code":
            fold()
            if "solution" in _tags(c):
                if not solutions:
                    continue
                c["metadata"]["jupyter"] = {"source_hidden": True}
            else:
                solution = None
            out.append(c)
            continue
        text = _LINK.sub(lambda m: "](" + _online(m.group("target"), page, site) + ")",
                         _source_text(c).strip("\n"))
        if m := _SOLUTION.search(text):
            fold()
            solution, parts = m.group("name"), 0
            folded = [text[m.end():].strip("\n")]
            continue
        if solution and not (_EXERCISE.search(text) or text.startswith("#")):
            folded.append(text)
            continue
        fold()
        solution = None
        if m := _EXERCISE.search(text):
            text = f"**{m.group('name')}** ({m.group('title').strip()})\n\n" + text[m.end():].lstrip("\n")
        elif i > 0 and text.startswith("# "):
            text = _quote(text)
        out.append(_md(text))
    fold()
    return out


def _online(target: str, page: str, site: str) -> str:
    name, _, anchor = target.partition("#")
    name = name.removesuffix(".ipynb") or page
    return f"{site}book/{name}.html" + (f"#{anchor}" if anchor else "")


_FIGURE_ALT = re.compile(r"^`{3,}\{figure\}\s*(?P<path>\S+)\s*\n(?:[^`\n]*\n)*?:alt:\s*(?P<alt>.*)$", re.M)
_IMAGE = re.compile(r"!\[[^\]]*\]\((?:book/)?(?P<path>images/[^)\s]+)\)")


def _images(text: str, alts: dict[str, str]) -> str:
    """The book's images (``images/...``, copied beside the notebooks) with their alt texts."""
    return _IMAGE.sub(lambda m: f"![{alts.get(m.group('path'), 'figure')}]({m.group('path')})", text)


def reader_notebook(converted: dict, source: dict, page: str, site: str, solutions: bool = True) -> dict:
    """The reader notebook of one page from the converter's notebook and the book's source notebook."""
    cells = fix_markdown(merge_code(converted["cells"], source["cells"]), page, site, solutions)
    alts = {m.group("path"): m.group("alt").strip() for c in source["cells"] if c["cell_type"] == "markdown"
            for m in _FIGURE_ALT.finditer(_source_text(c))}
    for c in cells:
        c["source"] = c["source"].strip("\n")
        if c["cell_type"] == "markdown":
            c["source"] = _images(c["source"], alts)
    meta = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"}}
    return {"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5}


README = """# Reader notebooks

The chapters of *{title}* as plain Jupyter notebooks, made by `make notebooks` from the book's sources and
published with the book: open them in Colab, Binder or any Jupyter (MyST is not needed). The numbers in the text
are those of the book's stored outputs; run the notebook to recompute them on your machine.

- the book online: {site}
- its sources: {repository}
- `student/`: the same notebooks without the exercises' solutions.

Generated files, rewritten on the branch `{branch}` each time the book is published: edit the book's sources.
"""

BINDER = """# Binder: the library with everything a chapter imports, from the book's repository
--extra-index-url https://download.pytorch.org/whl/cpu
torch==2.13.0+cpu
sslvit[book] @ git+{repository}
"""


def convert(raw: Path, sources: Path, out: Path, repository: str, title: str) -> list[Path]:
    """Write the reader notebooks of every source notebook to ``out`` (and ``out/student``), with the
    book's images, a README and Binder's environment. Returns the notebooks written."""
    site = site_url(repository)
    if out.exists():
        shutil.rmtree(out)
    (out / "student").mkdir(parents=True)
    written = []
    for src in sorted(sources.glob("*.ipynb")):
        conv = raw / src.name
        if not conv.is_file():
            raise FileNotFoundError(f"{conv}: the converter wrote no notebook for {src} (is it in _toc.yml?)")
        source, converted = json.loads(src.read_text()), json.loads(conv.read_text())
        for folder, solutions in ((out, True), (out / "student", False)):
            nb = reader_notebook(converted, source, src.stem, site, solutions)
            path = folder / src.name
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
            written.append(path)
    if (sources / "images").is_dir():
        shutil.copytree(sources / "images", out / "images")
        shutil.copytree(sources / "images", out / "student" / "images")
    (out / "README.md").write_text(README.format(title=title, site=site, repository=repository, branch=BRANCH))
    (out / "binder").mkdir()
    (out / "binder" / "requirements.txt").write_text(BINDER.format(repository=repository))
    (out / "binder" / "runtime.txt").write_text("python-3.11\n")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cfg = sub.add_parser("config", help="the build's _config.yml from the stored one (stdin to stdout)")
    cfg.add_argument("--ext-dir", required=True, help="the folder of this module (absolute)")
    conv = sub.add_parser("convert", help="the reader notebooks from the converter's output")
    conv.add_argument("--raw", type=Path, required=True, help="the converter's notebooks of book/")
    conv.add_argument("--sources", type=Path, default=Path("book"), help="the book's source notebooks")
    conv.add_argument("--out", type=Path, required=True, help="where the reader notebooks go (emptied first)")
    conv.add_argument("--config", type=Path, default=Path("_config.yml"), help="the book's _config.yml")
    args = parser.parse_args(argv)
    if args.command == "config":
        sys.stdout.write(book_config(sys.stdin.read(), args.ext_dir))
        return 0
    text = args.config.read_text()
    repository = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", text, re.M)
    title = re.search(r'^title:\s*"?(.*?)"?\s*$', text, re.M)
    if not repository or not title:
        parser.error(f"{args.config}: no repository url or title")
    written = convert(args.raw, args.sources, args.out, repository.group(1), title.group(1))
    print(f"{len(written)} reader notebooks in {args.out} (the book's set and the student set)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
