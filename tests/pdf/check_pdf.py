"""Checks of the PDF edition (``make pdf``), run by ``make pdf-test`` (part of ``make test``)::

    python tests/pdf/check_pdf.py --pdf _build/pdf/book.pdf --log _build/pdf/_build/latex/book.log

Fails (exit status 1, with the reasons) when the LaTeX log has errors, missing characters or undefined
references or citations, when the text of the PDF shows an unresolved reference (``??``), when it holds fewer
images than the book's pages have glued figures (``{glue:figure}`` in the pages of ``_toc.yml``; counted with
poppler's ``pdfimages``), or when its numbers differ from the HTML's: chapters (LaTeX's ``book.toc`` against the
numbered parts of ``_toc.yml``) or statements and figures numbered by section ("Definition 1.3.1"), or when the
PDF has no title or author in its metadata, or when the LaTeX log has an overfull ``\\vbox`` of more than 3 pt
(content past the bottom margin of a page). It reports, without failing, how many overfull ``\\hbox``es are
wider than 10 pt (text or a table past the right margin).
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FIGURE = re.compile(r"```\{glue:figure\}\s+(\S+)")


def read_toc(root: Path = ROOT) -> dict:
    """The book's table of contents, ``_toc.yml``."""
    return yaml.safe_load((root / "_toc.yml").read_text())


def toc_pages(root: Path = ROOT) -> list[Path]:
    """The files of the book's table of contents, in order."""
    toc = read_toc(root)
    names = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    pages = []
    for name in names:
        found = [root / f"{name}{ext}" for ext in (".ipynb", ".md") if (root / f"{name}{ext}").exists()]
        if not found:
            raise SystemExit(f"_toc.yml names {name}, which has no .ipynb or .md file")
        pages.append(found[0])
    return pages


def expected_figures(pages: list[Path]) -> list[str]:
    """``page:key`` of every glued figure the pages show whose glued output is an image (a glued table is
    typeset as text, not counted)."""
    keys = []
    for page in pages:
        if page.suffix != ".ipynb":
            continue
        cells = json.loads(page.read_text())["cells"]
        images = {o["metadata"]["scrapbook"]["name"] for c in cells for o in c.get("outputs", [])
                  if "scrapbook" in o.get("metadata", {}) and any(m.endswith("image/png") for m in o.get("data", {}))}
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        keys += [f"{page.stem}:{k}" for k in FIGURE.findall(text) if k in images]
    return keys


def expected_chapter_numbers(root: Path = ROOT) -> list[int | None]:
    """The number of every chapter of ``_toc.yml`` as the HTML shows it, in order: the chapters of the parts
    marked ``numbered`` count on from 1 across those parts, the others are unnumbered (``None``)."""
    toc = read_toc(root)
    numbers, count = [], 0
    for part in toc.get("parts", []):
        for _ in part.get("chapters", []):
            if part.get("numbered"):
                count += 1
                numbers.append(count)
            else:
                numbers.append(None)
    return numbers


TOC_CHAPTER = re.compile(r"\\contentsline \{chapter\}\{(\\numberline \{(\d+)\})?(.*?)\}\{\d+\}")


def pdf_chapter_numbers(toc_file: str) -> list[tuple[int | None, str]]:
    """``(number or None, title)`` of every chapter in LaTeX's table of contents (``book.toc``), the preface and
    the index left out."""
    found = [(int(m.group(2)) if m.group(2) else None, m.group(3)) for m in TOC_CHAPTER.finditer(toc_file)]
    return [(n, t) for n, t in found if t not in ("Preface", "Index")]


def chapter_problems(toc_file: str, root: Path = ROOT) -> list[str]:
    """Where the PDF's chapter numbers differ from the HTML's."""
    found, expected = pdf_chapter_numbers(toc_file), expected_chapter_numbers(root)
    if [n for n, _ in found] == expected:
        return []
    return [f"chapter numbers in the PDF {[n for n, _ in found]}, in the HTML {expected}"]


DEEP_NUMBER = re.compile(r"\b(?:Definition|Theorem|Proposition|Lemma|Corollary|Exercise|Fig\.|Table)\s+\d+\.\d+\.\d+")


def numbering_problems(text: str) -> list[str]:
    """Statements or figures numbered by section ("Definition 1.3.1") where the HTML numbers them by chapter."""
    return [f"numbered by section, not by chapter: {m}" for m in sorted(set(DEEP_NUMBER.findall(text)))[:10]]


def metadata_problems(pdfinfo: str) -> list[str]:
    """A PDF without its own title or author (``pdfinfo``), which viewers and reference managers show."""
    return [f"the PDF has no {field} in its metadata" for field in ("Title", "Author")
            if not re.search(rf"^{field}:\s+\S", pdfinfo, flags=re.MULTILINE)]


def pdf_images(pdf: Path) -> int:
    """Images in the PDF (``pdfimages -list``), soft masks not counted."""
    out = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines()[2:] if line.strip()]
    return sum(1 for r in rows if len(r) > 2 and r[2] == "image")


def log_problems(log: str) -> list[str]:
    problems = [f"LaTeX error: {line.strip()}" for line in log.splitlines() if line.startswith("! ")]
    problems += [f"missing character: {m}" for m in sorted(set(re.findall(r"Missing character: There is no (.+?) in font", log)))]
    if re.search(r"There were undefined (references|citations)", log):
        problems.append("LaTeX reports undefined references or citations")
    return problems


OVERFULL = re.compile(r"^Overfull \\([hv])box \((\d+(?:\.\d+)?)pt too (?:wide|high)\)(.*)$")
# a page shipped out: "[12" in the log (TeX's \count0, the printed page number), after a space or at the start of
# a line, followed by "]", a space, "{" or "<" or the end of the line
SHIPOUT = re.compile(r"(?:^|(?<=\s))\[(\d+)(?=[\]\s{<]|$)")
VBOX_LIMIT_PT = 3.0
HBOX_LIMIT_PT = 10.0


def overfull_boxes(log: str) -> list[dict]:
    """Every overfull box of a LaTeX log: ``kind`` ("hbox" or "vbox"), ``pt`` (how much too wide or too high),
    ``where`` (the rest of the log's line) and the page it is on: ``pdf_page`` (counted from the PDF's first page)
    and ``page`` (the printed number, LaTeX's page counter; roman numbers of the front matter count from 1 too).
    A box is on the page shipped after it is reported; the text TeX shows of an overfull box (up to the next
    empty line) is not read for page numbers."""
    boxes, shipped, printed = [], 0, None
    lines = log.splitlines()
    i = 0
    while i < len(lines):
        m = OVERFULL.match(lines[i])
        if m:
            boxes.append({"kind": f"{m.group(1)}box", "pt": float(m.group(2)), "where": m.group(3).strip(),
                          "shipped_before": shipped})
            i += 1
            while i < len(lines) and lines[i].strip():   # the box's contents as TeX shows them
                i += 1
            continue
        if not lines[i].startswith(("Underfull", "Overfull")):
            for page in SHIPOUT.findall(lines[i]):
                shipped += 1
                printed = int(page)
                for box in boxes:
                    if box.get("pdf_page") is None and box["shipped_before"] < shipped:
                        box["pdf_page"], box["page"] = shipped, printed
        i += 1
    for box in boxes:
        box.setdefault("pdf_page", None)
        box.setdefault("page", None)
        del box["shipped_before"]
    return boxes


def _on_page(box: dict) -> str:
    if box["pdf_page"] is None:
        return "after the last page"
    return f"on page {box['pdf_page']} of the PDF (printed {box['page']})"


def overfull_problems(log: str, limit: float = VBOX_LIMIT_PT) -> list[str]:
    """Overfull ``\\vbox``es of more than ``limit`` pt: content that runs past the bottom margin."""
    return [f"overfull \\vbox, {box['pt']:.1f} pt too high, {_on_page(box)} ({box['where']})"
            for box in overfull_boxes(log) if box["kind"] == "vbox" and box["pt"] > limit]


def wide_hboxes(log: str, limit: float = HBOX_LIMIT_PT) -> list[dict]:
    """Overfull ``\\hbox``es of more than ``limit`` pt (reported, not failed on)."""
    return [box for box in overfull_boxes(log) if box["kind"] == "hbox" and box["pt"] > limit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdf", type=Path, default=ROOT / "_build/pdf/book.pdf")
    parser.add_argument("--log", type=Path, default=ROOT / "_build/pdf/_build/latex/book.log")
    args = parser.parse_args(argv)
    problems = []
    for path in (args.pdf, args.log):
        if not path.exists():
            problems.append(f"{path} does not exist (run make pdf)")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    log = args.log.read_text(errors="replace")
    problems += log_problems(log)
    problems += overfull_problems(log)
    wide = wide_hboxes(log)
    text = subprocess.run(["pdftotext", str(args.pdf), "-"], capture_output=True, text=True, check=True).stdout
    unresolved = [line.strip() for line in text.splitlines() if "??" in line]
    problems += [f"unresolved reference in the text: {line[:100]}" for line in unresolved[:10]]
    problems += numbering_problems(text)
    toc_file = args.log.with_suffix(".toc")
    problems += chapter_problems(toc_file.read_text(errors="replace")) if toc_file.exists() else [f"{toc_file} does not exist"]
    expected, found = expected_figures(toc_pages()), pdf_images(args.pdf)
    if found < len(expected):
        problems.append(f"{found} images in the PDF, but the book shows {len(expected)} glued figures")
    info = subprocess.run(["pdfinfo", str(args.pdf)], capture_output=True, text=True, check=True).stdout
    problems += metadata_problems(info)
    pages = re.search(r"Pages:\s+(\d+)", info)
    print(f"{args.pdf}: {pages.group(1) if pages else '?'} pages, {found} images for {len(expected)} glued figures, "
          f"{len(unresolved)} unresolved references")
    print(f"{len(wide)} overfull \\hbox(es) wider than {HBOX_LIMIT_PT:g} pt (reported, not failed on)"
          + "".join(f"\n  {box['pt']:.1f} pt {_on_page(box)} ({box['where']})" for box in wide[:10]))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
