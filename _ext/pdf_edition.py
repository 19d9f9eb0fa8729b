"""Sphinx extension: the PDF edition (``make pdf``, Sphinx's LaTeX builder) laid out as the HTML reads.

Four adjustments; nothing happens for other builders.

* **Numbers as in the HTML.** sphinx-jupyterbook-latex turns the table of contents' parts into LaTeX parts and
  sets ``numfig_secnum_depth`` to 2 so that LaTeX resets the figure and equation counters at each chapter.
  Sphinx, however, also numbers the ``prf:`` statements and the exercises with that setting, which gives them
  section-level numbers in the PDF ("Definition 1.3.1") where the HTML has chapter-level ones ("Definition
  1.7"). Sphinx numbers them here with ``numfig_secnum_depth = 1``, and the LaTeX writer gets the value 2 back
  before it writes. (The chapter numbers themselves, with the Overview and the back matter unnumbered, are set
  in LaTeX: the preamble in ``_config.yml``.)
* **A heading for the preface.** The root page's title becomes the book's title, so the preface would start
  without a heading, outside the contents, under the running head "Contents"; it gets an unnumbered chapter
  "Preface".
* **Proofs with a title.** sphinx-proof writes a proof as an untitled box that starts with "Proof. "; LaTeX
  then draws an empty title bar. The box gets the title "Proof" and the text loses its prefix.
* **Tables that break across pages.** A table in the running text (not in a figure or a box) is typeset as a
  ``longtable``: LaTeX's ``tabulary`` cannot break, and the results page's tables are longer than a page.
"""
from __future__ import annotations

from docutils import nodes
from sphinx.builders.latex import LaTeXBuilder

_SAVED = "_pdf_edition_secnum_depth"
PREFACE = r"\chapter*{Preface}\addcontentsline{toc}{chapter}{Preface}\markboth{Preface}{Preface}"


def _builder_inited(app) -> None:
    if isinstance(app.builder, LaTeXBuilder):
        setattr(app, _SAVED, app.config.numfig_secnum_depth)
        app.config.numfig_secnum_depth = 1


def _numbers_assigned(app, env) -> list[str]:
    if hasattr(app, _SAVED):
        app.config.numfig_secnum_depth = getattr(app, _SAVED)
    return []


def _in_running_text(node: nodes.Node) -> bool:
    """Whether ``node`` stands in the text itself, not in a figure, an admonition or another box (where LaTeX
    cannot break a table across pages)."""
    parent = node.parent
    while parent is not None:
        if not isinstance(parent, (nodes.section, nodes.document)):
            return False
        parent = parent.parent
    return True


def _doctree_resolved(app, doctree: nodes.document, docname: str) -> None:
    if not isinstance(app.builder, LaTeXBuilder) or docname != app.config.root_doc:
        return
    doctree.insert(0, nodes.raw("", PREFACE, format="latex"))
    for box in doctree.findall(nodes.admonition):
        if "proof" in box["classes"] and not (box.children and isinstance(box[0], nodes.title)):
            first = next(iter(box.findall(nodes.Text)), None)
            if first is not None and first.astext().startswith("Proof. "):
                first.parent.replace(first, nodes.Text(first.astext()[len("Proof. "):]))
            box.insert(0, nodes.title("", "Proof"))
    for table in doctree.findall(nodes.table):
        if _in_running_text(table) and "longtable" not in table["classes"]:
            table["classes"].append("longtable")


def setup(app) -> dict:
    # after sphinx-jupyterbook-latex's own builder-inited handler (priority 500), which sets the value to 2
    app.connect("builder-inited", _builder_inited, priority=900)
    # after Sphinx's TocTreeCollector has assigned the figure numbers (env-get-updated, priority 500)
    app.connect("env-get-updated", _numbers_assigned, priority=900)
    app.connect("doctree-resolved", _doctree_resolved)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
