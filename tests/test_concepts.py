"""The schematic figures of sslvit.plots.concepts (chapter 3's two forces, chapter 5's symmetry argument): they fit
the PDF's text width, every text on them stays readable there, and the committed images are the figures'
size at the module's resolution (their pixels are not compared: matplotlib versions draw them differently)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from sslvit.plots import concepts  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "book" / "images"
#: the PDF's text width in inches: a figure is shown at its natural size up to this width
TEXT_WIDTH = 6.27
#: the smallest font size a reader should meet in the PDF
MIN_FONT = 8


@pytest.fixture(params=sorted(concepts.FIGURES.items()), ids=lambda item: item[0])
def drawn(request):
    name, function = request.param
    fig = getattr(concepts, function)()
    yield name, fig
    plt.close(fig)


def _visible_texts(fig: Figure):
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]


def test_returns_a_figure_that_fits_the_text_width(drawn):
    _, fig = drawn
    assert isinstance(fig, Figure)
    width, height = fig.get_size_inches()
    assert width <= TEXT_WIDTH and 0 < height <= 9


def test_every_text_is_readable(drawn):
    _, fig = drawn
    texts = _visible_texts(fig)
    assert len(texts) >= 8                                    # the figure does say something
    small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < MIN_FONT]
    assert not small, f"texts below {MIN_FONT} pt: {small}"


def test_no_text_leaves_the_figure(drawn):
    _, fig = drawn
    fig.canvas.draw()
    box = fig.bbox
    for t in _visible_texts(fig):
        b = t.get_window_extent()
        assert box.x0 - 1 <= b.x0 and b.x1 <= box.x1 + 1 and box.y0 - 1 <= b.y0 and b.y1 <= box.y1 + 1, (
            f"{t.get_text()!r} is clipped by the figure's edge")


def test_no_two_texts_overlap(drawn):
    _, fig = drawn
    fig.canvas.draw()
    texts = _visible_texts(fig)
    boxes = [t.get_window_extent() for t in texts]
    overlapping = [(texts[i].get_text(), texts[j].get_text()) for i in range(len(texts))
                   for j in range(i + 1, len(texts)) if boxes[i].overlaps(boxes[j])]
    assert not overlapping, overlapping


def test_math_is_set_as_mathtext(drawn):
    """No ``C_s``, ``r_dec`` or ``rho`` written as code: every underscore and every Greek letter is inside $...$."""
    import re

    _, fig = drawn
    for t in _visible_texts(fig):
        outside = re.sub(r"\$[^$]*\$", "", t.get_text())
        assert "_" not in outside and "^" not in outside and not re.search(r"\b(rho|gamma|Delta|kappa)\b", outside), (
            t.get_text())


def test_committed_image_has_the_figure_size(drawn):
    name, fig = drawn
    path = IMAGES / name
    assert path.exists(), f"{path} is missing: run python -m sslvit.plots.concepts book/images"
    width, height = fig.get_size_inches() * concepts.DPI
    with Image.open(path) as image:
        w, h = image.size
    assert abs(w - width) <= 3 and abs(h - height) <= 3, (
        f"{name} is {w} x {h} px, the figure {width:.0f} x {height:.0f}")


def test_forces_examples_sit_on_either_side_of_one():
    """Panel (c) of the chapter 3 figure shows one example of each outcome (rho > 1 and rho < 1)."""
    from sslvit.analysis.theory import init_rates

    ratios = [init_rates(concepts.EXAMPLE_PATCHES, c_s, c_c, concepts.EXAMPLE_MASK_PROB).ratio
              for c_s, c_c in concepts.EXAMPLE_SIZES]
    assert ratios[0] > 1 > ratios[1]
