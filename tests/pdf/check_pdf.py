"""Checks of the PDF edition (``make pdf``), run by ``make pdf-test`` (part of ``make test``)::

    python tests/pdf/check_pdf.py --pdf _build/pdf/book.pdf --log _build/pdf/_build/latex/book.log

Fails (exit status 1, with the reasons) when the LaTeX log has errors, missing characters or undefined
references or citations, when the text of the PDF shows an unresolved reference (``??``), or when it holds fewer
images than the book's pages have glued figures (``{glue:figure}`` in the pages of ``_toc.yml``; counted with
poppler's ``pdfimages``).
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


def toc_pages(root: Path = ROOT) -> list[Path]:
    """The files of the book's table of contents, in order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
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
    problems += log_problems(args.log.read_text(errors="replace"))
    text = subprocess.run(["pdftotext", str(args.pdf), "-"], capture_output=True, text=True, check=True).stdout
    unresolved = [line.strip() for line in text.splitlines() if "??" in line]
    problems += [f"unresolved reference in the text: {line[:100]}" for line in unresolved[:10]]
    expected, found = expected_figures(toc_pages()), pdf_images(args.pdf)
    if found < len(expected):
        problems.append(f"{found} images in the PDF, but the book shows {len(expected)} glued figures")
    pages = re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(args.pdf)], capture_output=True, text=True,
                                                        check=True).stdout)
    print(f"{args.pdf}: {pages.group(1) if pages else '?'} pages, {found} images for {len(expected)} glued figures, "
          f"{len(unresolved)} unresolved references")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
