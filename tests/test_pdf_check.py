"""The checks of the PDF edition (tests/pdf/check_pdf.py) find what they should, on synthetic input."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_pdf", ROOT / "tests" / "pdf" / "check_pdf.py")
check_pdf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_pdf)


def test_log_problems_finds_errors_missing_characters_and_undefined_references():
    assert check_pdf.log_problems("This is XeTeX\nOutput written on book.pdf\n") == []
    log = ("! Undefined control sequence.\nMissing character: There is no ≫ in font FreeSerif:mode=node;!\n"
           "LaTeX Warning: There were undefined references.\n")
    problems = check_pdf.log_problems(log)
    assert any("Undefined control sequence" in p for p in problems)
    assert any("≫" in p for p in problems)
    assert any("undefined references" in p for p in problems)


def test_expected_figures_are_the_glued_images_of_the_toc_pages():
    pages = check_pdf.toc_pages()
    assert pages[0].name == "intro.ipynb" and all(p.exists() for p in pages)
    keys = check_pdf.expected_figures(pages)
    assert "intro:fig_story" in keys and "01_data:tab_ch1_regimes" not in keys   # a glued table is text
    assert len(keys) == len(set(keys)) >= 40


def test_chapter_numbers_are_compared_with_the_html():
    expected = check_pdf.expected_chapter_numbers()
    # unnumbered: the syllabus, the results, the playground (Overview) and the four pages of the back matter (reproducibility first)
    assert expected[:4] == [None, None, None, 1] and expected.count(None) == 7 and max(n or 0 for n in expected) == 14
    rows = []
    for n in expected:
        rows.append(r"\contentsline {chapter}{%sA title}{3}{chapter.1}%%" % ("" if n is None else r"\numberline {%d}" % n))
    toc = "\n".join([r"\contentsline {chapter}{Preface}{1}{chapter*.3}%"] + rows
                    + [r"\contentsline {chapter}{Index}{9}{section*.1}%"])
    assert check_pdf.chapter_problems(toc) == []
    # the PDF's default: every chapter numbered, the Overview's too
    numbered_all = "\n".join(r"\contentsline {chapter}{\numberline {%d}A title}{3}{chapter.1}%%" % (i + 1)
                             for i in range(len(expected)))
    assert check_pdf.chapter_problems(numbered_all)


def test_statements_numbered_by_section_are_found():
    assert check_pdf.numbering_problems("Definition 1.7, Fig. 2.1, Theorem 4.2 and equation (1.3); version 0.1.0") == []
    found = check_pdf.numbering_problems("as Definition 1.3.1 says, and Exercise 15.9.2")
    assert found == ["numbered by section, not by chapter: Definition 1.3.1",
                     "numbered by section, not by chapter: Exercise 15.9.2"]


def test_metadata_needs_a_title_and_an_author():
    assert check_pdf.metadata_problems("Title:           A book\nAuthor:          Us\nPages:  3\n") == []
    assert check_pdf.metadata_problems("Creator:         LaTeX with hyperref\nPages:  3\n") == [
        "the PDF has no Title in its metadata", "the PDF has no Author in its metadata"]
