"""Browser check of the built book: open pages in headless Chromium and check what a reader sees.

Run by ``make test`` after the HTML is rendered from the committed notebooks (``make html-check``):
``pytest tests/browser --html-dir _build/check/_build/html``. For every page: the page loads, its math was
typeset by MathJax (no raw ``\\(`` left, no "Math Processing Error"), every image loaded (non-zero natural
width) and is shown once, inside a figure with a caption, and there is no error output (tracebacks, error or
stderr cells), every figure has an alt text that describes it (not a path or a file name). One screenshot per page is kept under ``_build/screenshots/``.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from pages import toc_pages

#: minimum number of figures a reader must see on a page (pages not named here: none required)
MIN_FIGURES = {
    "book/01_data": 2,
    "book/02_model": 1,
    "book/03_information_gap": 2,
    "book/04_mae": 2,
    "book/05_cl": 2,
    "book/06_mae_vs_cl": 2,
    "book/07_optimiser": 2,
    "book/08_no_dominant_area": 2,
    "book/09_feature_assumptions": 2,
    "book/10_negatives_temperature": 1,
    "book/11_mixed_objective": 1,
    "book/12_richer_model": 1,
    "book/13_real_images": 3,
    "book/14_sensitivity": 2,
    "book/playground": 2,
    "book/intro": 1,
    "book/syllabus": 1,
}


PAGES = {page: MIN_FIGURES.get(page, 0) for page in toc_pages()}

#: what an image's alt text must not be: a path or a file name (what Sphinx writes when no alt is given)
PATH_LIKE = re.compile(r"(^|/)[\w.-]+\.(png|jpe?g|gif|svg|webp)$|^\.?\.?/|_images/", re.IGNORECASE)


def describes(alt: str) -> bool:
    """Whether ``alt`` describes a figure: at least five words, and no path or file name."""
    return len(alt.split()) >= 5 and not PATH_LIKE.search(alt.strip())


def test_describes():
    assert describes("Two line plots of own-area attention against training step for both step sizes.")
    for bad in ("", "   ", "../_images/3f2a9c.png", "fig_ch4_phases.png", "_images/a.png", "A figure"):
        assert not describes(bad), bad


WAIT_MATH_JS = """
const math = document.querySelectorAll('span.math, div.math').length;
const done = document.querySelectorAll('mjx-container, .MathJax, .MathJax_CHTML, .MathJax_SVG, .MathJax_Display').length;
const pending = document.querySelectorAll('.MathJax_Processing, .MathJax_Preview:not(:empty)').length;
return [math, done, pending];
"""


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page(page: str, driver, html_dir: Path) -> None:
    """A reader opening ``page`` sees typeset math, loaded figures and no error output."""
    file = html_dir / f"{page}.html"
    assert file.exists(), f"{file} was not built (is {page} in _toc.yml?)"
    driver.get(file.as_uri())
    deadline = time.time() + 30
    math = done = pending = 0
    while time.time() < deadline:
        math, done, pending = driver.execute_script(WAIT_MATH_JS)
        if math == 0 or (done > 0 and pending == 0):
            break
        time.sleep(0.25)
    text = driver.execute_script("return document.body.innerText")
    height = driver.execute_script("return Math.min(document.body.scrollHeight, 12000)")
    driver.set_window_size(1280, max(800, int(height)))
    shots = html_dir.parents[2] / "screenshots" if html_dir.parent.name == "_build" else html_dir.parent / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(shots / f"{page.replace('/', '_')}.png"))
    driver.set_window_size(1280, 1600)

    assert "Math Processing Error" not in text, f"{page}: MathJax failed on some math"
    if math:
        assert done > 0 and pending == 0, f"{page}: {math} math elements but {done} typeset ({pending} pending)"
        assert "\\(" not in text and "$$" not in text, f"{page}: raw TeX left in the page text"
    images = driver.execute_script(
        "return Array.from(document.querySelectorAll('main img, article img, .bd-article img'))"
        ".map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0]);")
    broken = [src for src, ok in images if not ok]
    assert not broken, f"{page}: images that did not load: {broken}"
    assert len(images) >= PAGES[page], f"{page}: {len(images)} figures, expected at least {PAGES[page]}"
    # each figure once, with its caption: a figure displayed at its cell and pasted by {glue:figure} would show twice
    # (the article's own images: the launch buttons' logos in the page header are not figures)
    srcs = driver.execute_script("return Array.from(document.querySelectorAll('.bd-article img'))"
                                 ".map(i => i.getAttribute('src'));")
    assert len(set(srcs)) == len(srcs), f"{page}: a figure is shown more than once: {sorted(srcs)}"
    # every figure described: an alt text that is a sentence, not empty, not a path or a file name (Sphinx's default)
    alts = driver.execute_script("return Array.from(document.querySelectorAll('.bd-article figure img'))"
                                 ".map(i => [i.getAttribute('src'), i.getAttribute('alt') || '']);")
    undescribed = [f"{src}: alt={alt!r}" for src, alt in alts if not describes(alt)]
    assert not undescribed, f"{page}: figures without a description (alt text):\n" + "\n".join(undescribed)
    uncaptioned = driver.execute_script(
        "return Array.from(document.querySelectorAll('.bd-article img'))"
        ".filter(i => { const f = i.closest('figure'); return !f || !f.querySelector('figcaption'); })"
        ".map(i => i.getAttribute('src'));")
    assert not uncaptioned, f"{page}: figures without a caption (shown at a cell, not by a glue:figure): {uncaptioned}"
    errors = driver.execute_script(
        "return document.querySelectorAll('.output.error, .output.traceback, .output.stderr, "
        ".cell_output .stderr, div.nboutput .stderr, .system-message, .problematic').length")
    assert errors == 0, f"{page}: {errors} error/stderr outputs or Sphinx problems on the page"
    assert "Traceback (most recent call last)" not in text, f"{page}: a traceback is shown"
    assert "ClaimFailed" not in text and "FAIL:" not in text, f"{page}: a failed check is shown"
