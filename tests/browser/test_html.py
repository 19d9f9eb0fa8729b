"""Browser check of the built book: open pages in headless Chromium and check what a reader sees.

Run by ``make test`` after the HTML is rendered from the committed notebooks (``make html-check``):
``pytest tests/browser --html-dir _build/check/_build/html``. For every page: the page loads, its math was
typeset by MathJax (no raw ``\\(`` left, no "Math Processing Error"), every image loaded (non-zero natural
width) and is shown once, inside a figure with a caption, and there is no error output (tracebacks, error or
stderr cells). One screenshot per page is kept under ``_build/screenshots/``.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

#: minimum number of figures a reader must see on a page (pages not named here: none required)
MIN_FIGURES = {
    "book/01_data": 2,
    "book/02_model": 1,
    "book/03_information_gap": 2,
    "book/04_mae": 2,
    "book/05_cl": 2,
    "book/06_mae_vs_cl": 2,
    "book/08_optimiser": 2,
    "book/09_no_dominant_area": 2,
    "book/10_feature_assumptions": 2,
    "book/11_negatives_temperature": 1,
    "book/12_mixed_objective": 1,
    "book/13_richer_model": 1,
    "book/14_real_images": 3,
    "book/15_sensitivity": 2,
    "book/playground": 2,
    "book/intro": 1,
}


def _toc_pages() -> list[str]:
    """Every page of ``_toc.yml`` (root and chapters), as paths without extension."""
    import yaml

    toc = yaml.safe_load((Path(__file__).resolve().parents[2] / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        pages += [c["file"] for c in part.get("chapters", [])]
    return pages


PAGES = {page: MIN_FIGURES.get(page, 0) for page in _toc_pages()}

WAIT_MATH_JS = """
const math = document.querySelectorAll('span.math, div.math').length;
const done = document.querySelectorAll('mjx-container, .MathJax, .MathJax_CHTML, .MathJax_SVG, .MathJax_Display').length;
const pending = document.querySelectorAll('.MathJax_Processing, .MathJax_Preview:not(:empty)').length;
return [math, done, pending];
"""


@pytest.fixture(scope="module")
def driver(request: pytest.FixtureRequest):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = Path("/usr/bin/chromium")
    chromedriver = Path("/usr/bin/chromedriver")
    if not chromium.exists() or not chromedriver.exists():
        pytest.fail("Chromium is missing: install the Debian packages chromium and chromium-driver "
                    "(make test does it: `make browser-deps`)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--allow-file-access-from-files", "--window-size=1280,1600"):
        options.add_argument(flag)
    drv = webdriver.Chrome(service=Service(executable_path=str(chromedriver)), options=options)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


@pytest.fixture(scope="module")
def html_dir(request: pytest.FixtureRequest) -> Path:
    path = Path(request.config.getoption("--html-dir")).resolve()
    if not (path / "index.html").exists():
        pytest.fail(f"no built book at {path}: run `make html-check` first")
    return path


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
