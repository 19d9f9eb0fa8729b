"""The PDF check's reading of overfull boxes in the LaTeX log (tests/pdf/check_pdf.py), on small synthetic logs:
an overfull \\vbox of more than 3 pt (content past the bottom margin) fails the check, with its page; a smaller one
passes; overfull \\hbox'es wider than 10 pt are counted, not failed on."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_pdf", ROOT / "tests" / "pdf" / "check_pdf.py")
check_pdf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_pdf)


def synthetic_log(vbox_pt: float) -> str:
    """Three pages; an overfull \\vbox of ``vbox_pt`` while the third page (printed 2, after a roman page i) is
    built, and an overfull \\hbox on the second page whose shown contents hold a bracketed number."""
    return "\n".join([
        "This is XeTeX, Version 3.141592653-2.6-0.999995 (TeX Live 2023/Debian) (preloaded format=xelatex)",
        "(./book.tex",
        "LaTeX2e <2023-11-01> patch level 1",
        " [1] [1",
        "",
        "]",
        "Overfull \\hbox (25.0pt too wide) in paragraph at lines 120--122",
        "[]\\TU/FreeMono(0)/m/n/9 values [12, 13] and [7",
        "",
        "Overfull \\hbox (4.0pt too wide) in paragraph at lines 130--131",
        "[]\\TU/FreeSerif(0)/m/n/10 a slightly wide line",
        "",
        "Underfull \\vbox (badness 10000) detected at line 3152",
        " []",
        "",
        f"Overfull \\vbox ({vbox_pt}pt too high) detected at line 3152",
        " []",
        "",
        "[2] (./book.aux) )",
        "Output written on book.pdf (3 pages).",
    ])


def test_a_5pt_overfull_vbox_fails_with_its_page():
    problems = check_pdf.overfull_problems(synthetic_log(5.0))
    assert problems == ["overfull \\vbox, 5.0 pt too high, on page 3 of the PDF (printed 2) (detected at line 3152)"]


def test_a_1pt_overfull_vbox_passes():
    assert check_pdf.overfull_problems(synthetic_log(1.0)) == []
    # the limit is "more than 3 pt"
    assert check_pdf.overfull_problems(synthetic_log(3.0)) == []
    assert len(check_pdf.overfull_problems(synthetic_log(3.01))) == 1


def test_overfull_boxes_are_read_with_their_pages():
    boxes = check_pdf.overfull_boxes(synthetic_log(5.0))
    assert [(b["kind"], b["pt"], b["pdf_page"], b["page"]) for b in boxes] == [
        ("hbox", 25.0, 3, 2), ("hbox", 4.0, 3, 2), ("vbox", 5.0, 3, 2)]
    # the contents TeX shows of an overfull box ("[12, 13] and [7") are not taken for pages shipped out
    assert boxes[0]["where"] == "in paragraph at lines 120--122"


def test_only_hboxes_wider_than_10pt_are_counted():
    wide = check_pdf.wide_hboxes(synthetic_log(1.0))
    assert [b["pt"] for b in wide] == [25.0]
    assert check_pdf.wide_hboxes("This is XeTeX\nOutput written on book.pdf (1 page).\n") == []


def test_a_box_after_the_last_page_is_still_reported():
    log = "[1] [2]\nOverfull \\vbox (12.5pt too high) has occurred while \\output is active\n[]\n\n"
    assert check_pdf.overfull_problems(log) == [
        "overfull \\vbox, 12.5 pt too high, after the last page (has occurred while \\output is active)"]
    log += "[3]\n"
    assert check_pdf.overfull_problems(log) == [
        "overfull \\vbox, 12.5 pt too high, on page 3 of the PDF (printed 3) (has occurred while \\output is active)"]


# The overfull \hbox of 394 pt that the check reported: the syllabus's table of sessions has no tabularcolumns
# line, so as a longtable (_ext/pdf_edition.py) it had one unbreakable column per column and ran off the page.
# Such a table now gets ragged-right columns sized from its cells.
spec_ext = importlib.util.spec_from_file_location("pdf_edition", ROOT / "_ext" / "pdf_edition.py")
pdf_edition = importlib.util.module_from_spec(spec_ext)
spec_ext.loader.exec_module(pdf_edition)


def test_columns_of_a_wide_table_share_the_line():
    assert pdf_edition.column_shares([10, 20, 30]) is None   # fits side by side: unchanged
    shares = pdf_edition.column_shares([7, 48, 55, 100], [9, 10, 9, 13])
    assert sum(shares) <= 1 and shares == sorted(shares)      # the longer the cells, the wider the column
    assert shares[0] >= 0.1                                   # "session" (a bold header word) is kept whole
    assert pdf_edition.column_shares([300, 300]) == [0.5, 0.5]


def test_cell_lengths_read_the_longest_cell_and_word_of_each_column():
    from docutils.core import publish_doctree
    from docutils import nodes
    doctree = publish_doctree("""
+---------+--------------------+
| session | what students do   |
+=========+====================+
| 1       | compute the sizes  |
+---------+--------------------+
| both columns                 |
+------------------------------+
""")
    table = next(iter(doctree.findall(nodes.table)))
    longest, words = pdf_edition.cell_lengths(table)
    assert longest == [7, 17]                                 # the row spanning both columns is left out
    assert words == [round(7 * 1.25), round(8 * 1.25)]       # header words count a quarter longer
