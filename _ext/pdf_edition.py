"""Sphinx extension: the PDF edition (``make pdf``, Sphinx's LaTeX builder) laid out as the HTML reads.

Six adjustments; nothing happens for other builders.

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
  ``longtable``: LaTeX's ``tabulary`` cannot break, and the results page's tables are longer than a page. A
  longtable without a ``tabularcolumns`` line would get one unbreakable column (``l``) per column and run off the
  page when its text is long; such a table gets ragged-right columns (``W`` of the preamble) sized from the
  length of its longest cells.
* **Box titles kept with their text.** Every box (a ``prf:`` statement, an exercise, a solution, an admonition)
  not inside another one is preceded by ``\\sslvitbeforebox`` (the preamble in ``_config.yml``: a new page when
  less than the title and three lines fit), put before the box's label so that a link lands on the page of the
  box.
"""
from __future__ import annotations

from docutils import nodes
from sphinx import addnodes
from sphinx.builders.latex import LaTeXBuilder

_SAVED = "_pdf_edition_secnum_depth"
PREFACE = r"\chapter*{Preface}\addcontentsline{toc}{chapter}{Preface}\markboth{Preface}{Preface}"
BEFORE_BOX = r"\sslvitbeforebox"
# the characters of body text that fit on a line beside the cells' padding (10 pt serif on the 6.5 in line of
# Sphinx's letter-paper geometry holds about 105), and the least share of the line a column gets
LINE_CHARS = 100
PADDING_CHARS = 2.5
MIN_CHARS = 4


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


def cell_lengths(table: nodes.table) -> tuple[list[int], list[int]]:
    """For each column of ``table``: the length (characters of text) of its longest cell, and of its longest word
    (a word of the header counted a quarter longer: it is set in bold). A cell spanning several columns is left
    out, and a cell spanning rows keeps its columns taken in the rows below."""
    tgroup = next(iter(table.findall(nodes.tgroup)))
    ncols = int(tgroup["cols"])
    longest, word = [0] * ncols, [0] * ncols
    below: dict[int, int] = {}   # column -> rows still taken by a cell from a row above
    for row in tgroup.findall(nodes.row):
        col = 0
        taken = {c for c, n in below.items() if n > 0}
        below = {c: n - 1 for c, n in below.items() if n > 1}
        head = isinstance(row.parent, nodes.thead)
        for entry in row.children:
            while col in taken:
                col += 1
            span = entry.get("morecols", 0) + 1
            if entry.get("morerows", 0):
                for c in range(col, col + span):
                    below[c] = entry["morerows"]
            if span == 1 and col < ncols:
                words = entry.astext().split()
                longest[col] = max(longest[col], len(" ".join(words)))
                word[col] = max([word[col]] + [round(len(w) * (1.25 if head else 1)) for w in words])
            col += span
    return longest, word


def column_shares(lengths: list[int], words: list[int] | None = None, line: float = LINE_CHARS,
                  padding: float = PADDING_CHARS) -> list[float] | None:
    """Shares of the line for columns whose longest cells have these lengths (and longest words, which a column
    keeps whole, up to a fifth of the line), or ``None`` when the cells fit side by side unbroken. A column gets
    its longest cell's length while that is less than an even share of what the wider columns leave; the wider
    columns split the rest in proportion to their lengths, none narrower than its longest word."""
    room = line - padding * len(lengths)
    words = words or [0] * len(lengths)
    lengths = [max(n, w, MIN_CHARS) for n, w in zip(lengths, words)]
    least = [min(max(w, MIN_CHARS), room / 5) for w in words]
    if sum(lengths) <= room:
        return None
    width: dict[int, float] = {}
    wide = set(range(len(lengths)))
    while wide:
        left = room - sum(width.values())
        narrow = {i for i in wide if lengths[i] * len(wide) <= left}
        if narrow:
            width.update({i: lengths[i] for i in narrow})
            wide -= narrow
            continue
        total = sum(lengths[i] for i in wide)
        short = {i for i in wide if left * lengths[i] / total < least[i]}
        if not short:
            width.update({i: left * lengths[i] / total for i in wide})
            break
        width.update({i: least[i] for i in short})
        wide -= short
    # a W{f} column is the share f of the line, its padding included; floored to hundredths, so that the shares
    # never add up to more than the line
    return [int(100 * (width[i] + padding) / line) / 100 for i in range(len(lengths))]


def _has_colspec(table: nodes.table) -> bool:
    parent = table.parent
    index = parent.index(table)
    return index > 0 and isinstance(parent[index - 1], addnodes.tabular_col_spec) or "colwidths-given" in table["classes"]


def _keep_with_title(doctree: nodes.document) -> None:
    boxes = [box for box in doctree.findall(nodes.Admonition)
             if not any(isinstance(a, (nodes.Admonition, nodes.table, nodes.figure)) for a in _ancestors(box))]
    for box in boxes:
        parent = box.parent
        index = parent.index(box)
        while index > 0 and isinstance(parent[index - 1], nodes.target):   # the box's label
            index -= 1
        parent.insert(index, nodes.raw("", BEFORE_BOX, format="latex"))


def _ancestors(node: nodes.Node):
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


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
    for table in list(doctree.findall(nodes.table)):
        if _in_running_text(table) and "longtable" not in table["classes"]:
            table["classes"].append("longtable")
            shares = None if _has_colspec(table) else column_shares(*cell_lengths(table))
            if shares:
                spec = "".join(f"W{{{share:g}}}" for share in shares)
                table.parent.insert(table.parent.index(table), addnodes.tabular_col_spec(spec=spec))
    _keep_with_title(doctree)


def setup(app) -> dict:
    # after sphinx-jupyterbook-latex's own builder-inited handler (priority 500), which sets the value to 2
    app.connect("builder-inited", _builder_inited, priority=900)
    # after Sphinx's TocTreeCollector has assigned the figure numbers (env-get-updated, priority 500)
    app.connect("env-get-updated", _numbers_assigned, priority=900)
    app.connect("doctree-resolved", _doctree_resolved)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
