"""Figure text legible at the size the book shows it (sslvit.plots.style.fit_text, sslvit.book.glue_figure): at
least 8 points at the PDF's text width, no overlapping tick labels or cell values, and every glued figure of the
book made through glue_figure."""
from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from sslvit.book import glue_figure  # noqa: E402
from sslvit.plots.style import MIN_TEXT_PT, fit_text, overlapping_texts, shown_scale, small_texts  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def wide_figure():
    fig, axes = plt.subplots(1, 4, figsize=(12, 3))
    for ax in axes:
        ax.plot([0, 1], [0, 1], label="a line")
        ax.set_xlabel("step")
        ax.text(0.5, 0.5, "0.25", fontsize=7)
    axes[0].legend(fontsize=7)
    title = fig.suptitle("a title", fontsize=30)
    return fig, title


def test_fit_text_raises_small_text_to_the_floor_and_leaves_large_text():
    fig, title = wide_figure()
    assert shown_scale(fig) < 0.7 and small_texts(fig)           # 7-pt text in a 12-inch figure: about 4.5 pt shown
    fit_text(fig)
    assert small_texts(fig) == []
    assert title.get_fontsize() == 30                     # larger than the floor: unchanged
    scale = shown_scale(fig)
    sizes = [t.get_fontsize() * scale for t in fig.axes[0].get_xticklabels()]
    assert min(sizes) >= MIN_TEXT_PT - 1e-6
    plt.close(fig)


def test_small_figure_is_shown_at_its_size():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1])
    assert shown_scale(fig) == 1.0
    ax.set_xlabel("x", fontsize=7)
    assert [s for _, s in small_texts(fig)] == [7.0]
    plt.close(fig)


def test_overlapping_texts_finds_clashes():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.text(0.5, 0.5, "0.123", fontsize=12)
    ax.text(0.52, 0.5, "0.456", fontsize=12)
    assert overlapping_texts(fig) == [("0.123", "0.456")]
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.set_xticks(range(20), [f"label {i}" for i in range(20)])
    assert overlapping_texts(fig)                                 # crowded tick labels
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1])
    assert overlapping_texts(fig) == []
    plt.close(fig)


def test_glue_figure_refuses_what_it_cannot_make_legible():
    with pytest.raises(ValueError, match="a matplotlib Figure"):
        glue_figure("fig_x", "not a figure")
    fig, ax = plt.subplots(figsize=(12, 3))
    for i in range(30):
        ax.text(i / 30, 0.5, f"{i / 7:.3f}", fontsize=7)          # cell values that cannot all be legible
    with pytest.raises(ValueError, match="text overlaps at a legible size"):
        glue_figure("fig_x", fig)
    plt.close(fig)
    with pytest.raises(ValueError, match="min_pt"):
        fit_text(plt.figure(), min_pt=0)


GLUED_IMAGE_KEY = re.compile(r"```\{glue:figure\}[ \t]+(fig_\S+)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_glued_figure_goes_through_glue_figure(path: Path):
    cells = json.loads(path.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert not re.search(r"\bglue\(\s*f?\"fig_", code), f"{path.name}: a figure glued with plain glue()"
    for key in GLUED_IMAGE_KEY.findall(markdown):
        assert re.search(r"glue_figure\(\s*\"%s\"" % re.escape(key), code), f"{path.name}: {key} not glued by glue_figure"


def test_figures_not_yet_legible_are_glued_figures_of_the_book():
    """The list of figures glued as drawn names only figures the book glues (it shrinks as they are redesigned)."""
    from sslvit.book import NOT_YET_LEGIBLE

    code = "\n".join("".join(c["source"]) for p in NOTEBOOKS for c in json.loads(p.read_text())["cells"]
                     if c["cell_type"] == "code")
    glued = set(re.findall(r"glue_figure\(\s*\"(fig_\w+)\"", code))
    assert NOT_YET_LEGIBLE <= glued, sorted(NOT_YET_LEGIBLE - glued)
    assert len(NOT_YET_LEGIBLE) < len(glued) / 2, "most figures must meet the rule"
