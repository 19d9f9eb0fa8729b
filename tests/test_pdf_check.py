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
